"""The event patterns are defined in one place (modules/_shared/event-patterns): a spoke and the
hub filtering on different patterns would lose events silently."""

from __future__ import annotations

import pytest

from tests.terraform.conftest import REPO_ROOT

PATTERN_HOME = REPO_ROOT / "modules" / "_shared" / "event-patterns" / "main.tf"


@pytest.mark.parametrize(
    "detail_type",
    [
        "EC2 Instance State-change Notification",
        "EC2 Command Invocation Status-change Notification",
    ],
)
def test_each_event_pattern_is_defined_once(detail_type: str) -> None:
    defining = sorted(
        path.relative_to(REPO_ROOT)
        for folder in ("modules", "envs")
        for path in (REPO_ROOT / folder).rglob("*.tf")
        if ".terraform" not in path.parts and detail_type in path.read_text()
    )
    assert defining == [PATTERN_HOME.relative_to(REPO_ROOT)]


@pytest.mark.parametrize("module", ["hub", "spoke-region", "spoke-account"])
def test_public_modules_take_their_patterns_from_the_shared_module(module: str) -> None:
    source = "\n".join(p.read_text() for p in (REPO_ROOT / "modules" / module).glob("*.tf"))
    assert 'source = "../_shared/event-patterns"' in source
    assert "module.event_patterns.ec2_state_pattern" in source
    assert "module.event_patterns.ssm_command_pattern" in source

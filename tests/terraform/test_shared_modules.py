"""The event patterns are defined in one place (modules/_shared/event-patterns): a spoke and the
hub filtering on different patterns would lose events silently."""

from __future__ import annotations

import re

import pytest

from tests.terraform.conftest import REPO_ROOT

PATTERN_HOME = REPO_ROOT / "modules" / "_shared" / "event-patterns" / "main.tf"


@pytest.mark.parametrize(
    "detail_type",
    [
        "EC2 Instance State-change Notification",
        "EC2 Command Invocation Status-change Notification",
        "EC2 Instance-launch Lifecycle Action",
        "EC2 Instance-terminate Lifecycle Action",
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


def test_every_rule_takes_its_pattern_from_the_shared_module() -> None:
    values = {
        f"{path.relative_to(REPO_ROOT)}: {value}"
        for path in (REPO_ROOT / "modules").rglob("*.tf")
        for value in re.findall(r"^\s*event_pattern\s*=\s*(.+)$", path.read_text(), re.MULTILINE)
    }
    assert values == {
        "modules/_shared/org-event-bus/rules.tf: module.event_patterns.ec2_state_pattern",
        "modules/_shared/org-event-bus/rules.tf: module.event_patterns.lifecycle_pattern",
        "modules/_shared/org-event-bus/rules.tf: module.event_patterns.ssm_command_pattern",
        "modules/spoke-account/events.tf: module.event_patterns.ec2_state_pattern",
        "modules/spoke-account/events.tf: module.event_patterns.lifecycle_pattern",
        "modules/spoke-account/events.tf: module.event_patterns.ssm_command_pattern",
    }

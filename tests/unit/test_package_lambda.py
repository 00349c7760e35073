"""scripts/package_lambda.py builds the same bytes twice, with what the runtime needs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def build(output: Path, *options: str) -> str:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "package_lambda.py"),
            "--output",
            str(output),
            *options,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result.stdout


@pytest.mark.slow
def test_package_is_reproducible_and_complete(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "adjoin-lambda.zip", tmp_path / "b" / "adjoin-lambda.zip"
    out = build(first)
    build(second)
    assert first.read_bytes() == second.read_bytes()
    assert f"path: {first}" in out
    assert f"size: {first.stat().st_size}" in out
    assert "sha256 (base64): " in out
    with zipfile.ZipFile(first) as archive:
        infos = archive.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names)
        assert "adjoin/handler.py" in names
        assert "adjoin/directory/ds.py" in names
        # Powertools comes from the Lambda layer modules/hub attaches, not from the zip
        assert not any(n.startswith("aws_lambda_powertools") for n in names)
        assert any(n.startswith("ldap3/") for n in names)
        assert not any(n.split("/")[0] in ("boto3", "botocore") for n in names)
        assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.external_attr >> 16 for i in infos} == {0o100644}
        # Nothing may depend on where the checkout or its virtualenv is (a RECORD file once
        # carried the hash of a script whose shebang named this interpreter's path).
        assert not any(n.endswith(".dist-info/RECORD") or n.startswith("bin/") for n in names)
        here = str(ROOT).encode()
        assert not [n for n in names if here in archive.read(n)]
        source = (ROOT / "lambda" / "adjoin" / "engine.py").read_bytes()
        assert archive.read("adjoin/engine.py") == source


@pytest.mark.slow
def test_powertools_goes_to_the_layer_zip_or_into_the_bundle(tmp_path: Path) -> None:
    out = build(
        tmp_path / "fn.zip", "--layer-output", str(tmp_path / "layer.zip"), "--powertools", "layer"
    )
    assert f"layer path: {tmp_path / 'layer.zip'}" in out
    with zipfile.ZipFile(tmp_path / "layer.zip") as layer:
        names = layer.namelist()
    # the layout of a Python layer: Lambda puts /opt/python on the import path
    assert "python/aws_lambda_powertools/metrics/__init__.py" in names
    assert all(n.startswith("python/") for n in names)
    assert not any(n.startswith(("python/adjoin/", "python/ldap3/", "python/boto")) for n in names)
    build(tmp_path / "bundle.zip", "--powertools", "bundle")
    with zipfile.ZipFile(tmp_path / "bundle.zip") as bundle:
        bundled = bundle.namelist()
    assert "aws_lambda_powertools/metrics/__init__.py" in bundled
    assert "adjoin/handler.py" in bundled

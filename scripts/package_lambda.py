#!/usr/bin/env python3
"""Build the Lambda zip reproducibly: the same sources and pins give the same bytes.

The runtime dependencies of requirements/lambda.txt are installed with pip into a temporary
directory (wheels for the python3.12 x86_64 runtime, no byte-code), the `adjoin` package from
lambda/ is added, and the zip is written with sorted entries, fixed timestamps (1980-01-01),
fixed permissions and no __pycache__/*.pyc. boto3 and botocore come with the Lambda runtime and
are never packaged. Prints the path, the size in bytes and the base64 SHA-256 (the value
Terraform's `source_code_hash` expects).

    python scripts/package_lambda.py [--output build/adjoin-lambda.zip]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements" / "lambda.txt"
PACKAGE = ROOT / "lambda" / "adjoin"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
EXCLUDED_TOP_LEVEL = ("boto3", "botocore", "s3transfer", "bin")
PIP_TARGET = [
    "--platform",
    "manylinux2014_x86_64",
    "--python-version",
    "3.12",
    "--implementation",
    "cp",
    "--only-binary=:all:",
]


def install_dependencies(target: Path) -> None:
    base = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--no-warn-script-location",
        "--target",
        str(target),
        "-r",
        str(REQUIREMENTS),
    ]
    subprocess.run([*base, *PIP_TARGET], check=True)


def wanted(relative: Path) -> bool:
    parts = relative.parts
    if parts[0] in EXCLUDED_TOP_LEVEL or parts[0].split("-")[0] in EXCLUDED_TOP_LEVEL:
        return False
    if parts[0].endswith(".dist-info") and relative.name == "RECORD":
        # RECORD holds the hashes of installed scripts whose shebang names the interpreter that
        # ran pip: it would make the bytes depend on where the checkout is. Not used at run time.
        return False
    return "__pycache__" not in parts and relative.suffix not in (".pyc", ".pyo")


def collect(dependencies: Path) -> dict[str, Path]:
    """Archive name -> file on disk, dependencies first, then the adjoin package."""
    files: dict[str, Path] = {}
    for path in dependencies.rglob("*"):
        relative = path.relative_to(dependencies)
        if path.is_file() and wanted(relative):
            files[relative.as_posix()] = path
    for path in PACKAGE.rglob("*"):
        relative = path.relative_to(PACKAGE.parent)
        if path.is_file() and wanted(relative):
            files[relative.as_posix()] = path
    return files


def write_zip(files: dict[str, Path], output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so the permissions below are honoured
            info.external_attr = (0o100000 | FILE_MODE) << 16
            archive.writestr(info, files[name].read_bytes(), compresslevel=9)
    os.replace(partial, output)


def build(output: Path) -> tuple[int, str]:
    with tempfile.TemporaryDirectory(prefix="adjoin-package-") as temp:
        dependencies = Path(temp) / "deps"
        install_dependencies(dependencies)
        write_zip(collect(dependencies), output)
    data = output.read_bytes()
    return len(data), base64.b64encode(hashlib.sha256(data).digest()).decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the reproducible Lambda zip")
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "adjoin-lambda.zip")
    args = parser.parse_args(argv)
    size, digest = build(args.output)
    print(f"path: {args.output}")
    print(f"size: {size}")
    print(f"sha256 (base64): {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

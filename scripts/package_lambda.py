#!/usr/bin/env python3
"""Build the Lambda zip reproducibly: the same sources and pins give the same bytes.

The runtime dependencies of requirements/lambda.txt are installed with pip into a temporary
directory (wheels for the python3.12 x86_64 runtime, no byte-code), the `adjoin` package from
lambda/ is added, and the zip is written with sorted entries, fixed timestamps (1980-01-01),
fixed permissions and no __pycache__/*.pyc. boto3 and botocore come with the Lambda runtime and
are never packaged.

Powertools for AWS Lambda is left out by default (`--powertools layer`): modules/hub attaches
the published Powertools layer, whose `python/` folder Lambda puts on the import path
(https://docs.aws.amazon.com/lambda/latest/dg/packaging-layers.html#packaging-layers-paths).
`--powertools bundle` puts it in the zip instead (for `powertools_layer = { enabled = false }`).
`--layer-output` also writes a layer zip of the pinned Powertools (`python/...`, the same
layout), which the local system publishes and the end-to-end runtime loads as Lambda would.

Prints, per zip, the path, the size in bytes and the base64 SHA-256 (the value Terraform's
`source_code_hash` expects).

    python scripts/package_lambda.py [--output build/adjoin-lambda.zip]
        [--powertools layer|bundle] [--layer-output build/powertools-layer.zip]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
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
POWERTOOLS = "aws-lambda-powertools"
PIP_TARGET = [
    "--platform",
    "manylinux2014_x86_64",
    "--python-version",
    "3.12",
    "--implementation",
    "cp",
    "--only-binary=:all:",
]


def requirements(powertools: str) -> list[str]:
    """Pinned requirement lines: all of requirements/lambda.txt, without Powertools (`layer`),
    or Powertools alone (`only`, for the layer zip)."""
    lines = []
    for raw in REQUIREMENTS.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name = re.split(r"[<>=!~\[ ;]", line, maxsplit=1)[0].lower().replace("_", "-")
        is_powertools = name == POWERTOOLS
        skip = is_powertools if powertools == "layer" else not is_powertools
        if powertools != "bundle" and skip:
            continue
        lines.append(line)
    if powertools == "only" and not lines:
        raise SystemExit(f"{REQUIREMENTS} pins no {POWERTOOLS}")
    return lines


def install_dependencies(target: Path, pins: list[str]) -> None:
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
        *pins,
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


def collect(dependencies: Path, prefix: str = "", package: bool = True) -> dict[str, Path]:
    """Archive name -> file on disk, dependencies first, then the adjoin package."""
    files: dict[str, Path] = {}
    for path in dependencies.rglob("*"):
        relative = path.relative_to(dependencies)
        if path.is_file() and wanted(relative):
            files[prefix + relative.as_posix()] = path
    if not package:
        return files
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


def _digest(output: Path) -> tuple[int, str]:
    data = output.read_bytes()
    return len(data), base64.b64encode(hashlib.sha256(data).digest()).decode()


def build(output: Path, powertools: str = "layer") -> tuple[int, str]:
    """The function zip; POWERTOOLS `layer` leaves Powertools out, `bundle` puts it in."""
    with tempfile.TemporaryDirectory(prefix="adjoin-package-") as temp:
        dependencies = Path(temp) / "deps"
        install_dependencies(dependencies, requirements(powertools))
        write_zip(collect(dependencies), output)
    return _digest(output)


def build_layer(output: Path) -> tuple[int, str]:
    """A layer zip of the pinned Powertools, under python/ as Lambda layers for Python expect."""
    with tempfile.TemporaryDirectory(prefix="adjoin-layer-") as temp:
        dependencies = Path(temp) / "python"
        install_dependencies(dependencies, requirements("only"))
        write_zip(collect(dependencies, prefix="python/", package=False), output)
    return _digest(output)


def _report(label: str, output: Path, size: int, digest: str) -> None:
    print(f"{label}path: {output}")
    print(f"{label}size: {size}")
    print(f"{label}sha256 (base64): {digest}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the reproducible Lambda zip")
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "adjoin-lambda.zip")
    parser.add_argument(
        "--powertools",
        choices=("layer", "bundle"),
        default="layer",
        help="layer (default): leave Powertools to the Lambda layer; bundle: put it in the zip",
    )
    parser.add_argument(
        "--layer-output", type=Path, help="also write a Powertools layer zip (python/...)"
    )
    args = parser.parse_args(argv)
    size, digest = build(args.output, args.powertools)
    _report("", args.output, size, digest)
    print(f"powertools: {'in the zip' if args.powertools == 'bundle' else 'from the layer'}")
    if args.layer_output:
        _report("layer ", args.layer_output, *build_layer(args.layer_output))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

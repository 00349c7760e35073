"""Size of the Lambda zip and the handler's import time, from the zip and layer `make package`
built, loaded the way Lambda loads them: the zip's files first on the import path (/var/task),
then the layer's python/ folder (/opt/python), then the runtime's own boto3
(https://docs.aws.amazon.com/lambda/latest/dg/packaging-layers.html#packaging-layers-paths).
Lambda's /var/task is read-only, so no byte-code is written: every cold start compiles the
zip's modules, and so does every measured run here (PYTHONDONTWRITEBYTECODE).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tests.bench.lifecycle import ROOT

ZIP = ROOT / "build" / "adjoin-lambda.zip"
LAYER = ROOT / "build" / "powertools-layer.zip"
MAX_ZIP_BYTES = 1_000_000

_PROBE = """
import json, sys, time
sys.path[:0] = [{task!r}, {layer!r}]
import boto3  # the runtime's SDK, loaded before the handler: not counted
start = time.perf_counter()
import adjoin.handler
took = time.perf_counter() - start
import aws_lambda_powertools, ldap3
print(json.dumps({{"ms": took * 1000, "powertools": aws_lambda_powertools.__file__,
                  "ldap3": ldap3.__file__, "adjoin": adjoin.handler.__file__}}))
"""


@dataclass(frozen=True)
class Package:
    zip_bytes: int
    layer_bytes: int | None
    import_ms: float  # median of the runs
    import_runs: list[float]
    powertools_from: str  # "layer" or "zip"
    compiled_import_ms: float  # median with the byte-code compiled beforehand


def measure(runs: int = 5, zip_path: Path = ZIP, layer_path: Path = LAYER) -> Package:
    if not zip_path.exists():
        raise SystemExit(f"{zip_path} is missing: run `make package` first")
    with tempfile.TemporaryDirectory(prefix="adjoin-imports-") as temp:
        task, opt = Path(temp) / "task", Path(temp) / "opt"
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(task)
        layer_bytes = None
        if layer_path.exists():
            layer_bytes = layer_path.stat().st_size
            with zipfile.ZipFile(layer_path) as archive:
                archive.extractall(opt)
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("PYTHONPATH", None)
        probe = _PROBE.format(task=str(task), layer=str(opt / "python"))

        def probe_runs() -> tuple[list[float], str]:
            times: list[float] = []
            origin = ""
            for _ in range(runs):
                out = subprocess.run(
                    [sys.executable, "-c", probe],
                    check=True,
                    capture_output=True,
                    text=True,
                    env=env,
                    cwd=task,
                    timeout=120,
                ).stdout
                answer = json.loads(out.strip().splitlines()[-1])
                if not str(answer["adjoin"]).startswith(str(task)):
                    raise SystemExit(f"the handler did not load from the zip: {answer}")
                times.append(float(answer["ms"]))
                origin = "layer" if str(answer["powertools"]).startswith(str(opt)) else "zip"
                if origin == "zip" and not str(answer["powertools"]).startswith(str(task)):
                    raise SystemExit(f"Powertools from neither the zip nor the layer: {answer}")
            return times, origin

        times, origin = probe_runs()
        # the same with byte-code compiled beforehand: what shipping .pyc files would save
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(task), str(opt)], check=True, timeout=300
        )
        compiled, _ = probe_runs()
    return Package(
        zip_bytes=zip_path.stat().st_size,
        layer_bytes=layer_bytes,
        import_ms=statistics.median(times),
        import_runs=times,
        powertools_from=origin,
        compiled_import_ms=statistics.median(compiled),
    )

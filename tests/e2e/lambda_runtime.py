"""A one-function "Lambda container" for the e2e consumer: run as a child process.

    python tests/e2e/lambda_runtime.py --code-dir DIR --handler adjoin.handler.lambda_handler \
        --reply-fd N [--layer-dir OPT]

It imports the handler from DIR (the extracted deployment package, first on sys.path, like
/var/task; then OPT/python, where Lambda puts a Python layer's python/ folder, like /opt/python:
https://docs.aws.amazon.com/lambda/latest/dg/packaging-layers.html#packaging-layers-paths) once,
then answers invocations: one JSON line on stdin
(`{"event": ..., "context": {...}}`), one JSON line on the reply file descriptor
(`{"result": ...}` or `{"error": "Type: message"}`). The function's own output (Powertools logs,
EMF metrics) goes to stdout/stderr, which the parent sends to a log file, as CloudWatch Logs would.
The container, and so the handler's per-container caches, lives as long as this process.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any


class Context:
    """The parts of the Lambda context object a handler commonly reads."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.function_name = str(info.get("function_name", ""))
        self.function_version = "$LATEST"
        self.invoked_function_arn = str(info.get("function_arn", ""))
        self.memory_limit_in_mb = int(info.get("memory_mb", 128))
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "e2e"
        self._deadline = time.monotonic() + float(info.get("timeout_s", 3))

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--code-dir", required=True)
    parser.add_argument("--handler", required=True)
    parser.add_argument("--reply-fd", type=int, required=True)
    parser.add_argument("--layer-dir", help="where the function's layers are extracted (/opt)")
    args = parser.parse_args()
    if args.layer_dir:
        sys.path.insert(0, os.path.join(args.layer_dir, "python"))
    sys.path.insert(0, args.code_dir)
    if os.environ.get("ADJOIN_IAM_RECORD"):  # the permissions proof records every AWS request
        sys.path.append(str(Path(__file__).resolve().parents[2]))
        from tests.iam.recorder import install_from_env

        install_from_env()
    os.chdir(args.code_dir)
    module_name, _, function_name = args.handler.rpartition(".")
    handler = getattr(importlib.import_module(module_name), function_name)
    origin = getattr(sys.modules[module_name.split(".")[0]], "__file__", "") or ""
    loaded = {
        name: getattr(sys.modules.get(name), "__file__", None) or ""
        for name in ("aws_lambda_powertools",)
    }
    reply = os.fdopen(args.reply_fd, "w", buffering=1, encoding="utf-8")
    reply.write(json.dumps({"ready": True, "origin": origin, "modules": loaded}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        try:
            result = handler(request["event"], Context(request.get("context", {})))
            answer: dict[str, Any] = {"result": result}
        except Exception as exc:  # the invocation failed, as Lambda reports it
            traceback.print_exc()
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.flush()
        sys.stderr.flush()
        reply.write(json.dumps(answer, default=str) + "\n")


if __name__ == "__main__":
    main()

"""Which AWS calls the Lambda makes, read from its source, and which of them a proof case
exercises. A boto3 method is an attribute, called or handed on as a bound method, whose name is
an operation of a service the Lambda uses (botocore's own service models), e.g.
`self._client.send_command(...)`."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
from botocore import xform_name

LAMBDA = Path(__file__).resolve().parents[2] / "lambda" / "adjoin"
SERVICES = ("autoscaling", "dynamodb", "ds", "ec2", "kms", "secretsmanager", "sqs", "ssm", "sts")


@cache
def operations() -> dict[str, set[str]]:
    """boto3 method name -> the services that have it."""
    session = botocore.session.get_session()
    found: dict[str, set[str]] = {}
    for service in SERVICES:
        for operation in session.get_service_model(service).operation_names:
            found.setdefault(xform_name(operation), set()).add(service)
    return found


def lambda_calls(root: Path = LAMBDA) -> dict[str, list[str]]:
    """boto3 method name -> where lambda/adjoin calls it (file:line)."""
    known = operations()
    calls: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            # every reference, not only a call: a bound method handed to a helper
            # (`_call(self._client.complete_lifecycle_action, ...)`) is a call site too
            if isinstance(node, ast.Attribute) and node.attr in known:
                where = f"{path.relative_to(root.parent)}:{node.lineno}"
                calls.setdefault(node.attr, []).append(where)
    return calls


def uncovered(calls: dict[str, list[str]], records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The calls no recorded request exercises (a recorded request becomes a proof case)."""
    exercised = {xform_name(r["operation"]) for r in records}
    return {name: where for name, where in calls.items() if name not in exercised}

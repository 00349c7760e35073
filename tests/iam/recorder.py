"""Records every AWS request a process makes, for the permissions proof (botocore event hooks).

`install(path, base_principal)` adds three handlers to botocore's built-in handlers, so every
session created afterwards carries them (the Lambda's own and each assumed-role session):

- `before-parameter-build`: keeps the request's *identifying* parameters (table, queue, parameter
  and secret names, document, instance ids, tag keys and values, role, directory) in the request
  context. A fixed allow-list: passwords and command parameters are never read.
- `before-call` (registered first, so it runs even when a test hook answers the call itself):
  writes one JSON line with the credentials' principal, the client's Region, the service and the
  operation.
- `after-call.sts.AssumeRole`: maps the new credentials' access key to the assumed-role ARN, so
  the calls made with them are attributed to that role.

Credentials nobody assumed through this process are the `base_principal`'s (the Lambda role).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from botocore import handlers

#: request parameters the proof needs, by name (top level); nothing else is ever recorded
KEPT = (
    "TableName",
    "IndexName",  # a Query of an index authorizes the index
    "QueueUrl",
    "Name",
    "WithDecryption",
    "SecretId",
    "DocumentName",
    "InstanceIds",
    "Resources",
    "RoleArn",
    "DirectoryId",
    "KeyId",
    "AutoScalingGroupName",  # lifecycle actions authorize the group (not the token)
)
#: access key -> assumed-role ARN, shared by every recorder of the process: a session made while
#: one recorder was installed may assume roles while another one is
PRINCIPALS: dict[str, str] = {}
ENV_FILE = "ADJOIN_IAM_RECORD"
ENV_PRINCIPAL = "ADJOIN_IAM_PRINCIPAL"


class Recorder:
    def __init__(self, path: Path, base_principal: str) -> None:
        self.path = path
        self.base_principal = base_principal
        self.principals = PRINCIPALS
        self._lock = threading.Lock()
        self.entries: list[tuple[str, Any, Any]] = [
            ("before-parameter-build", self.keep_parameters),
            ("before-call", self.record, handlers.REGISTER_FIRST),
            ("after-call.sts.AssumeRole", self.assumed),
        ]

    def keep_parameters(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        kept: dict[str, Any] = {k: params[k] for k in KEPT if k in params}
        if "Tags" in params:  # CreateTags: keys and values (adComputerName, never a secret)
            kept["Tags"] = [{"Key": t.get("Key"), "Value": t.get("Value")} for t in params["Tags"]]
        if "TransactItems" in params:  # which write on which table, not the items
            kept["TransactItems"] = [
                {kind: {"TableName": body.get("TableName")} for kind, body in entry.items()}
                for entry in params["TransactItems"]
            ]
        if "Filters" in params:  # DescribeInstances of the AD tools host: tag filters only
            kept["Filters"] = [
                f.get("Name") for f in params["Filters"] if isinstance(f, dict) and "Name" in f
            ]
        context["iam_record"] = kept

    def assumed(self, parsed: dict[str, Any], **_: Any) -> None:
        creds, user = parsed.get("Credentials") or {}, parsed.get("AssumedRoleUser") or {}
        if creds.get("AccessKeyId") and user.get("Arn"):
            with self._lock:
                self.principals[str(creds["AccessKeyId"])] = str(user["Arn"])

    def record(
        self, model: Any, context: dict[str, Any], request_signer: Any = None, **_: Any
    ) -> None:
        principal = self.base_principal
        credentials = getattr(request_signer, "_credentials", None)
        if credentials is not None:
            key = credentials.get_frozen_credentials().access_key
            principal = self.principals.get(key, self.base_principal)
        line = {
            "principal": principal,
            "region": getattr(request_signer, "_region_name", None) or context.get("client_region"),
            "service": model.service_model.service_name,
            "signing": model.service_model.signing_name,
            "operation": model.name,
            "params": context.get("iam_record", {}),
        }
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line, default=str) + "\n")

    def install(self) -> None:
        for entry in self.entries:
            handlers.BUILTIN_HANDLERS.append(entry)

    def uninstall(self) -> None:
        for entry in self.entries:
            if entry in handlers.BUILTIN_HANDLERS:
                handlers.BUILTIN_HANDLERS.remove(entry)


@contextmanager
def recording(path: Path, base_principal: str) -> Iterator[Recorder]:
    """Record the requests of the sessions created inside the block."""
    rec = install(path, base_principal)
    try:
        yield rec
    finally:
        rec.uninstall()


def install(path: Path, base_principal: str) -> Recorder:
    recorder = Recorder(path, base_principal)
    recorder.install()
    return recorder


def install_from_env() -> Recorder | None:
    """In the e2e Lambda runtime: record when ADJOIN_IAM_RECORD names a file."""
    path = os.environ.get(ENV_FILE)
    if not path:
        return None
    return install(Path(path), os.environ.get(ENV_PRINCIPAL, "unknown"))


def read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

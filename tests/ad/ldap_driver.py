"""Runs one LdapDirectory call inside the client namespace (the DC is only reachable there).

Reads a JSON request on stdin (so no password is on a command line) and prints a JSON answer:
`{"ok": true, "result": ...}` or `{"ok": false, "error": "<class>", "reason": ..., "message": ...}`.
The harness's tests drive the exact adapter code the Lambda runs through this module.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from adjoin.directory.base import ComputerAccount
from adjoin.directory.ldap import LdapDirectory
from adjoin.errors import AdJoinError
from adjoin.ownership import OwnerStamp


def main() -> None:
    request = json.load(sys.stdin)
    try:
        directory = LdapDirectory(
            request["servers"],
            request["domain"],
            request["user"],
            request["password"],
            security=request.get("security", "ldaps"),
            ca_cert_pem=request.get("ca_cert_pem"),
            port=request.get("port"),
            timeout=request.get("timeout", 5.0),
            dns_servers=request.get("dns_servers", ()),
        )
        if request["op"] == "create":
            account = dict(request["account"])
            if account.get("owner"):
                account["owner"] = OwnerStamp(**account["owner"])
            controller = directory.create_computer(ComputerAccount(**account))
            result: object = {"controller": controller} if request.get("with_controller") else None
        elif request["op"] == "stamped":
            result = [asdict(c) for c in directory.stamped_computers(request.get("ou"))]
        else:
            deleted = directory.delete_computer(
                request["name"], request["domain"], request.get("ou")
            )
            result = {"deleted": deleted, "dns_removed": directory.last_dns_removed}
            if not request.get("with_dns"):
                result = deleted
        print(json.dumps({"ok": True, "result": result}))
    except AdJoinError as exc:
        print(
            json.dumps(
                {
                    "ok": False,
                    "error": type(exc).__name__,
                    "reason": exc.reason,
                    "message": str(exc),
                }
            )
        )


if __name__ == "__main__":
    main()

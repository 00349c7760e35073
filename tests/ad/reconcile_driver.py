"""Runs one reconcile task inside the hub namespace: the Lambda's own Reconciler and engine, AWS
from moto in this process, the directory the real Samba DC through the ldap adapter.

Reads a JSON request on stdin (LDAP servers, domain, join user and password, CA, OU, limits) and
prints the task's report as JSON. The account is moto's default one, which is the hub's own (no
role to assume); it has no instances, so every stamped object of it is an orphan.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import redirect_stdout

import boto3
from moto import mock_aws

ACCOUNT, REGION = "123456789012", "us-east-1"


def main() -> None:
    request = json.load(sys.stdin)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }
    )
    os.environ.pop("MOTO_ACCOUNT_ID", None)
    with mock_aws(), redirect_stdout(sys.stderr):  # the Lambda's log lines go to stderr
        report = run(request)
    print(json.dumps(report))


def run(request: dict[str, object]) -> dict[str, object]:
    from adjoin import handler
    from adjoin.reconciler import Task
    from adjoin.settings import Settings
    from tests.unit import fakes

    world = fakes.make_world(accounts=())
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(
        Name="/ad-join/test-join", Value=str(request["password"]), Type="SecureString"
    )
    ssm.put_parameter(Name="/ad-join/test-ca", Value=str(request["ca_cert_pem"]), Type="String")
    world.put_config(
        {
            **fakes.config_item(ACCOUNT),
            "adJoinUserName": str(request["user"]),
            "adJoinUserPwParam": "/ad-join/test-join",
            "dnsName": str(request["domain"]),
            "dnsIP1": str(request["servers"]),
            "dnsIP2": str(request["servers"]),
            "computerOU": str(request["ou"]),
            "directoryAdapter": "ldap",
            "leaveAdapter": "ldap",
            "ldapServers": str(request["servers"]),
            "ldapCaCertParam": "/ad-join/test-ca",
        }
    )
    env = world.env(
        HUB_ACCOUNT_ID=ACCOUNT,
        DIRECTORY_ADAPTER="ldap",
        LEAVE_ADAPTER="ldap",
        RECONCILE_GRACE_SECONDS="0",
        RECONCILE_MAX_DELETIONS=str(request.get("max_deletions", 10)),
        RECONCILE_MAX_DELETION_PERCENT="0",
    )
    reconciler = handler.build_reconciler(handler.build_engine(Settings.from_env(env)))
    return reconciler.run_task(
        Task(ACCOUNT, REGION, "ad-test", bool(request.get("dry_run")))
    ).as_dict()


if __name__ == "__main__":
    main()

"""The Lambda's AWS requests, recorded in-process: the unit burst and the paths the burst does not
take (ldap with the password from a SecureString or a secret, the AD tools host leave, retries,
the dead-letter queue). moto plays AWS (tests/unit/fakes.py); tests/iam/recorder.py writes down
every request with the credentials' role. The hub is 123456789012 in us-east-1, the workload
accounts 111111111111 and 222222222222, as in the unit tests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

from tests.iam import recorder

HUB = "123456789012"
LAMBDA_SESSION = f"arn:aws:sts::{HUB}:assumed-role/ad-join-lambda/ad-join"
SECRET_NAME = "ad-join/join-password"
CA_PARAM = "/ad-join/ldap-ca-cert"
#: the Auto Scaling group of the lifecycle scenario and its tags (the spoke role's condition)
GROUP_TAGS = {"web": {"adJoinLifecycle": "true"}}


@contextmanager
def _aws_env() -> Iterator[None]:
    """The benchmark's fake-credentials environment, restored afterwards."""
    from tests.bench import lifecycle

    saved = dict(os.environ)
    lifecycle.environment()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def record_burst(path: Path, instances: int = 8) -> dict[str, Any]:
    """The benchmark's bursts (tests/bench/lifecycle.py: ds joins, the Success status events
    and their tags, the terminations), recording only the handler's runs, not the set-up."""
    from tests.bench import lifecycle

    drive = lifecycle._drive

    def recorded(*args: Any, **kwargs: Any) -> Any:
        with recorder.recording(path, LAMBDA_SESSION):
            return drive(*args, **kwargs)

    lifecycle._drive = recorded
    try:
        with _aws_env():
            # with the opt-in adComputerName tag: its CreateTags is proved too
            return lifecycle.run_ours(
                "ds", "none", instances=instances, latency_ms=0, env={"TAG_COMPUTER_NAME": "true"}
            )
    finally:
        lifecycle._drive = drive


def _orphan_directory() -> Any:
    """A FakeLdapDirectory that lists one stamped object whose instance does not exist."""
    from adjoin.directory.base import StampedComputer
    from adjoin.ownership import OwnerStamp
    from tests.unit import fakes

    class OrphanDirectory(fakes.FakeLdapDirectory):
        def stamped_computers(self, ou: str | None) -> list[Any]:
            owner = OwnerStamp("i-0f0f0f0f0f0f0f0f0", fakes.SPOKE_A, fakes.HUB_REGION)
            return [StampedComputer("EC2F0F0F0F0F0F0", "CN=EC2F0F0F0F0F0F0,OU=x", owner)]

    return OrphanDirectory


def record_paths(path: Path) -> dict[str, dict[str, str]]:
    """Every other path of the engine, one batch each; returns instance id -> tags of the hub
    instances it touched (for the SendCommand tag conditions)."""
    from moto import mock_aws

    from adjoin import handler
    from adjoin.directory import ad_tools_host
    from adjoin.reconciler import Task
    from adjoin.settings import Settings
    from tests.e2e.moto_patches import fast_transactions
    from tests.unit import fakes

    with _aws_env(), fakes.fake_aws() as fake, mock_aws(), fast_transactions():
        world = fakes.make_world()
        ssm = boto3.client("ssm", region_name=fakes.HUB_REGION)
        ssm.put_parameter(Name=CA_PARAM, Value="-----BEGIN CERTIFICATE-----", Type="String")
        secret = boto3.client("secretsmanager", region_name=fakes.HUB_REGION).create_secret(
            Name=SECRET_NAME, SecretString=fakes.JOIN_PASSWORD
        )["ARN"]
        tools_host = fakes.launch(fakes.HUB, fakes.HUB_REGION, windows=True)[0]
        boto3.client("ec2", region_name=fakes.HUB_REGION).create_tags(
            Resources=[tools_host], Tags=[{"Key": "adToolsHost", "Value": "true"}]
        )
        (linux,) = fakes.launch(fakes.SPOKE_A, fakes.HUB_REGION)
        (other,) = fakes.launch(fakes.SPOKE_B, "eu-west-1")
        (windows,) = fakes.launch(fakes.SPOKE_B, fakes.HUB_REGION, windows=True)
        (late,) = fakes.launch(fakes.SPOKE_A, fakes.HUB_REGION)
        ad_tools_host._hosts.clear()

        def engine(**env: str) -> Any:
            built = handler.build_engine(Settings.from_env(world.env(**env)))
            built.emit_metric = lambda name, count: None
            built.directories._ldap_class = lambda: fakes.FakeLdapDirectory
            return built

        def run(built: Any, *bodies: Any) -> None:
            records = fakes.enqueue(world, list(bodies))  # set-up: not recorded
            with recorder.recording(path, LAMBDA_SESSION):
                built.process(records)

        def event(account: str, region: str, instance: str, state: str) -> Any:
            return fakes.state_event(account, region, instance, state)

        # ldap join and leave, the password from the SecureString, the CA from a String
        item = fakes.config_item(fakes.SPOKE_A, directoryAdapter="ldap", ldapCaCertParam=CA_PARAM)
        world.put_config(item)
        with recorder.recording(path, LAMBDA_SESSION):
            ldap = engine(DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER="ldap")
        run(ldap, event(fakes.SPOKE_A, "us-east-1", linux, "running"))
        run(ldap, event(fakes.SPOKE_A, "us-east-1", linux, "terminated"))
        # the password from Secrets Manager
        world.put_config(
            fakes.config_item(fakes.SPOKE_B, directoryAdapter="ldap", adJoinUserPwParam=secret)
        )
        run(ldap, event(fakes.SPOKE_B, "eu-west-1", other, "running"))
        # ds join, AD tools host leave (a new container: the config cache is empty)
        world.put_config(fakes.config_item(fakes.SPOKE_B))
        with recorder.recording(path, LAMBDA_SESSION):
            tools = engine(DIRECTORY_ADAPTER="ds", LEAVE_ADAPTER="ad_tools_host")
        run(tools, event(fakes.SPOKE_B, "us-east-1", windows, "running"))
        run(tools, event(fakes.SPOKE_B, "us-east-1", windows, "terminated"))
        # a redelivered join first looks for the command its first delivery may have sent
        (again,) = fakes.launch(fakes.SPOKE_A, fakes.HUB_REGION)
        redelivered = fakes.enqueue(world, [event(fakes.SPOKE_A, "us-east-1", again, "running")])
        redelivered[0]["attributes"]["ApproximateReceiveCount"] = "2"
        with recorder.recording(path, LAMBDA_SESSION):
            tools.process(redelivered)
        # a retry (agent offline: visibility change) and a malformed event (dead letter)
        fake.online = set()
        run(tools, event(fakes.SPOKE_A, "us-east-1", late, "running"), "{not json")
        # the reconciler: a run (the config table's accounts, its tasks on the queue), then a
        # task of an ldap account (every instance, the account's rows through the index, the
        # missed join queued as an event, an orphan stamped object removed and recorded left)
        world.put_config(fakes.config_item(fakes.SPOKE_A, directoryAdapter="ldap"))
        fake.online = None
        with recorder.recording(path, LAMBDA_SESSION):
            reconcile = handler.build_reconciler(
                engine(DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER="ldap")
            )
            reconcile.start_run()
        orphans = _orphan_directory()
        reconcile.directories._ldap_class = lambda: orphans
        with recorder.recording(path, LAMBDA_SESSION):
            reconcile.run_task(Task(fakes.SPOKE_A, fakes.HUB_REGION, "proof"))
        # Auto Scaling lifecycle actions of group "web" (issue 12): a launch that will not join
        # completes at once, an old launch still waiting for its agent records a heartbeat, and
        # a join command's status reads its row back and completes the launch it was for
        with recorder.recording(path, LAMBDA_SESSION):
            hooks = engine(LIFECYCLE_HOOKS="true")
        (opted_out,) = fakes.launch(fakes.SPOKE_A, fakes.HUB_REGION, tags={"autoadjoin": "false"})
        (waiting,) = fakes.launch(fakes.SPOKE_A, fakes.HUB_REGION)
        (joined,) = fakes.launch(fakes.SPOKE_A, fakes.HUB_REGION)

        def launch(instance: str) -> Any:
            return fakes.lifecycle_event(fakes.SPOKE_A, "us-east-1", instance, "launch")

        run(hooks, launch(opted_out))
        fake.online = set()
        old = fakes.enqueue(world, [launch(waiting)])
        old[0]["attributes"]["SentTimestamp"] = str(int(time.time() * 1000) - 1790 * 1000)
        with recorder.recording(path, LAMBDA_SESSION):
            hooks.process(old)
        fake.online = None
        run(hooks, launch(joined))
        row = world.state(joined) or {}
        status = fakes.command_event(
            fakes.SPOKE_A, "us-east-1", joined, str(row.get("commandId")), "Success"
        )
        run(hooks, status)
        assert fake.completed and fake.heartbeats, "the lifecycle scenario completed nothing"
        handler.reset()
        return {tools_host: {"adToolsHost": "true"}}

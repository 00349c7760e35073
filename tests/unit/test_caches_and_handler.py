"""Per-container caches (config TTL, assumed-role sessions, secrets), event parsing from the JSON
fixtures, and lambda_handler wired from the environment."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from adjoin import handler
from adjoin.config import ConfigStore, UnknownAccount
from adjoin.events import CommandStatusEvent, InstanceStateEvent, parse_event
from adjoin.sessions import SessionCache
from adjoin.settings import SettingsError
from tests.unit import fakes

EVENTS = Path(__file__).parent / "events"


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_config_is_cached_for_the_ttl_then_reread(world: fakes.World, fake: fakes.FakeAws) -> None:
    clock = Clock()
    table = boto3.resource("dynamodb", region_name=fakes.HUB_REGION).Table(fakes.CONFIG_TABLE)
    store = ConfigStore(table, ttl_seconds=60, clock=clock)
    fake.calls.clear()
    assert store.get(fakes.SPOKE_A).dns_name == "corp.example.com"
    world.put_config(fakes.config_item(fakes.SPOKE_A, dnsName="new.example.com"))
    clock.now += 59
    assert store.get(fakes.SPOKE_A).dns_name == "corp.example.com"  # cached
    clock.now += 1
    assert store.get(fakes.SPOKE_A).dns_name == "new.example.com"  # TTL passed
    assert fake.calls[("dynamodb", "GetItem")] == 2


def test_unknown_accounts_are_cached_too(world: fakes.World, fake: fakes.FakeAws) -> None:
    table = boto3.resource("dynamodb", region_name=fakes.HUB_REGION).Table(fakes.CONFIG_TABLE)
    store = ConfigStore(table, ttl_seconds=60, clock=Clock())
    fake.calls.clear()
    for _ in range(3):
        with pytest.raises(UnknownAccount):
            store.get(fakes.UNKNOWN_ACCOUNT)
    assert fake.calls[("dynamodb", "GetItem")] == 1


class FakeSts:
    def __init__(self, lifetime: timedelta) -> None:
        self.calls = 0
        self.lifetime = lifetime

    def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        return {
            "Credentials": {
                "AccessKeyId": f"AKIA{self.calls}",
                "SecretAccessKey": "s",
                "SessionToken": "t",
                "Expiration": datetime(2030, 1, 1, tzinfo=UTC) + self.lifetime,
            }
        }


def test_sessions_are_reused_until_shortly_before_expiry(aws_env: None) -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    clock = Clock(start)
    cache = SessionCache(fakes.HUB, boto3.Session(region_name="us-east-1"), clock=clock)
    sts = FakeSts(timedelta(hours=1))
    cache._sts = sts
    role = f"arn:aws:iam::{fakes.SPOKE_A}:role/ad-join-spoke"
    first = cache.client("ec2", fakes.SPOKE_A, "eu-west-1", role)
    assert cache.client("ec2", fakes.SPOKE_A, "eu-west-1", role) is first
    cache.client("ssm", fakes.SPOKE_A, "us-east-1", role)
    assert sts.calls == 1  # one AssumeRole for every Region and service of the account
    clock.now = start + 3600 - 301
    assert cache.client("ec2", fakes.SPOKE_A, "eu-west-1", role) is first
    clock.now = start + 3600 - 299  # within the 5-minute margin: refresh
    renewed = cache.client("ec2", fakes.SPOKE_A, "eu-west-1", role)
    assert sts.calls == 2 and renewed is not first
    assert renewed._request_signer._credentials.access_key == "AKIA2"


def test_hub_account_never_assumes_a_role(aws_env: None) -> None:
    cache = SessionCache(fakes.HUB, boto3.Session(region_name="us-east-1"))
    sts = FakeSts(timedelta(hours=1))
    cache._sts = sts
    client = cache.client("ec2", fakes.HUB, "eu-west-1", "")
    assert cache.client("ec2", fakes.HUB, "eu-west-1", "") is client
    assert cache.hub_client("ec2", "eu-west-1") is client
    assert cache.hub_client("ec2", "us-west-2") is not client  # one client per Region
    assert cache.hub_client("ssm", "eu-west-1") is not client  # and per service
    assert sts.calls == 0


def test_secret_is_read_once_per_ttl(world: fakes.World, fake: fakes.FakeAws) -> None:
    from adjoin.aws import SecretReader

    clock = Clock()
    reader = SecretReader(
        boto3.client("ssm", region_name=fakes.HUB_REGION), lambda: None, 60, clock=clock
    )
    fake.calls.clear()
    assert reader.get(fakes.JOIN_PW_PARAM) == fakes.JOIN_PASSWORD
    assert reader.get(fakes.JOIN_PW_PARAM) == fakes.JOIN_PASSWORD
    clock.now += 61
    reader.get(fakes.JOIN_PW_PARAM)
    assert fake.calls[("ssm", "GetParameter")] == 2


def test_concurrent_reads_of_one_secret_make_one_call(
    world: fakes.World, fake: fakes.FakeAws
) -> None:
    """The leaves of a batch run in threads and each asks for the ldap password: before the
    first answer arrives, the others wait for it instead of reading the secret again."""
    from concurrent.futures import ThreadPoolExecutor

    from adjoin.aws import SecretReader

    reader = SecretReader(boto3.client("ssm", region_name=fakes.HUB_REGION), lambda: None, 60)
    fake.calls.clear()
    fake.latency = 0.05  # every read is slow, so the threads overlap
    with ThreadPoolExecutor(max_workers=16) as pool:
        values = list(pool.map(lambda _: reader.get(fakes.JOIN_PW_PARAM), range(16)))
    fake.latency = 0.0
    assert values == [fakes.JOIN_PASSWORD] * 16
    assert fake.calls[("ssm", "GetParameter")] == 1


def test_secrets_manager_arns_are_read_from_secrets_manager(
    world: fakes.World, fake: fakes.FakeAws
) -> None:
    from adjoin.aws import SecretReader

    sm = boto3.client("secretsmanager", region_name=fakes.HUB_REGION)
    arn = sm.create_secret(Name="ad-join/pw", SecretString="from-secrets-manager")["ARN"]
    reader = SecretReader(boto3.client("ssm", region_name=fakes.HUB_REGION), lambda: sm, 60)
    assert reader.get(arn) == "from-secrets-manager"


def test_fixtures_parse() -> None:
    running = parse_event((EVENTS / "ec2_running.json").read_text())
    assert running == InstanceStateEvent(
        "111111111111", "eu-west-1", "i-0123456789abcdef0", "running", "2026-11-23T22:00:00Z"
    )
    terminated = parse_event((EVENTS / "ec2_terminated.json").read_text())
    assert isinstance(terminated, InstanceStateEvent) and terminated.state == "terminated"
    status = parse_event((EVENTS / "ssm_command_success.json").read_text())
    assert isinstance(status, CommandStatusEvent)
    assert (status.command_id, status.status, status.document_name) == (
        "e8d3c0e4-71f7-4491-898f-c9b35bee5f3b",
        "Success",
        "ad-join-linux-join",
    )
    assert parse_event((EVENTS / "sns_ec2_running.json").read_text()) == running


def test_lambda_handler_joins_through_an_sns_envelope(
    world: fakes.World,
    fake: fakes.FakeAws,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the Lambda environment and an instance in another Region (SNS-wrapped event)
    for key, value in world.env(LEAVE_ADAPTER="none").items():
        monkeypatch.setenv(key, value)
    handler.reset()
    [iid] = fakes.launch(fakes.SPOKE_B, "ap-southeast-2")
    bad = fakes.sqs_record("garbage")
    good = fakes.sqs_record(
        fakes.sns_envelope(fakes.state_event(fakes.SPOKE_B, "ap-southeast-2", iid, "running"))
    )
    # WHEN the handler runs
    response = handler.lambda_handler({"Records": [good, bad]}, None)
    handler.reset()
    # THEN partial batch response: nothing failed (the bad one is in the DLQ), one join
    assert response == {"batchItemFailures": []}
    assert [c["InstanceIds"] for c in fake.sent_commands()] == [[iid]]
    # AND the EMF metrics were printed with the contract's names and dimension
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf, "no EMF line"
    metrics = emf[-1]
    assert metrics["JoinRequested"] == [1.0] and metrics["Rejected"] == [1.0]
    assert metrics["service"] == "ad-join"
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]


def test_lambda_handler_reports_missing_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONFIG_TABLE_NAME", raising=False)
    handler.reset()
    with pytest.raises(SettingsError, match="CONFIG_TABLE_NAME is required"):
        handler.get_engine()

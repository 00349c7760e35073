"""The join user's password never appears in a command parameter, a request to any AWS API
other than the read of its own parameter, a log line, a metric, a DLQ message, a state item or
an exception message — during joins and leaves with every adapter."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from adjoin.errors import DirectoryUnavailable
from tests.unit import fakes
from tests.unit.conftest import MakeEngine, Recorder

REGION = "eu-west-1"


class ExplodingLdap(fakes.FakeLdapDirectory):
    """Fails the way a careless adapter might: it has the password at hand."""

    def delete_computer(self, name: str, domain: str, ou: str | None) -> bool:
        raise DirectoryUnavailable(f"LDAP bind failed for {self.user}")


def everything_visible(
    world: fakes.World, fake: fakes.FakeAws, recorder: Recorder, out: str
) -> list[str]:
    table = boto3.resource("dynamodb", region_name=fakes.HUB_REGION).Table(fakes.STATE_TABLE)
    states = table.scan()["Items"]
    dead = world.dlq_messages()
    requests = [body.decode(errors="replace") for _, _, body in fake.requests]
    return [
        *requests,
        *recorder.lines,
        out,
        json.dumps(dict(recorder.metrics)),
        json.dumps(states, default=str),
        json.dumps(dead),
    ]


@pytest.mark.parametrize("leave_adapter", ["ldap", "ad_tools_host"])
def test_join_password_never_leaks(  # noqa: PLR0917
    world: fakes.World,
    fake: fakes.FakeAws,
    make_engine: MakeEngine,
    recorder: Recorder,
    capsys: pytest.CaptureFixture[str],
    leave_adapter: str,
) -> None:
    # GIVEN the ldap join adapter (the engine reads the join password) and a leave adapter
    fakes.launch(fakes.HUB, fakes.HUB_REGION, tags={"adToolsHost": "true"})
    engine = make_engine(
        ldap=fakes.FakeLdapDirectory, DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER=leave_adapter
    )
    ids = fakes.launch(fakes.SPOKE_A, REGION, count=2, tags={"adGroupName": "Admins"})
    fake.requests.clear()  # the set-up wrote the parameter itself
    # WHEN two instances join and then both leave
    assert (
        engine.process(
            [fakes.sqs_record(fakes.state_event(fakes.SPOKE_A, REGION, i, "running")) for i in ids]
        )
        == []
    )
    assert (
        engine.process(
            [
                fakes.sqs_record(fakes.state_event(fakes.SPOKE_A, REGION, i, "terminated"))
                for i in ids
            ]
        )
        == []
    )
    commands = fake.sent_commands()
    # THEN (sanity) the join and leave commands did run
    assert {c["DocumentName"] for c in commands} >= {"ad-join-linux-join"}
    if leave_adapter == "ad_tools_host":
        # one leave command carries both names (one per batch, domain and OU)
        leaves = [c for c in commands if c["DocumentName"] == "ad-join-leave"]
        assert len(leaves) == 1
        assert len(leaves[0]["Parameters"]["computerName"][0].split(",")) == 2
    # AND the password is nowhere
    visible = everything_visible(world, fake, recorder, capsys.readouterr().out)
    assert recorder.lines, "the engine logged nothing: the check would be empty"
    for text in visible:
        assert fakes.JOIN_PASSWORD not in text
    # AND no command parameter carries it (the one-time password is a different value)
    for command in commands:
        for values in command["Parameters"].values():
            assert fakes.JOIN_PASSWORD not in values


def test_join_password_not_in_errors_dlq_or_state(
    world: fakes.World,
    fake: fakes.FakeAws,
    make_engine: MakeEngine,
    recorder: Recorder,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN an ldap adapter whose delete fails, and a malformed message, and retries exhausted
    engine = make_engine(ldap=ExplodingLdap, DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER="ldap")
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    fake.requests.clear()  # the set-up wrote the parameter itself
    engine.process([fakes.sqs_record(fakes.state_event(fakes.SPOKE_A, REGION, iid, "running"))])
    old = fakes.sqs_record(fakes.state_event(fakes.SPOKE_A, REGION, iid, "terminated"), sent_ms=0)
    bad = fakes.sqs_record("{" + fakes.JOIN_PW_PARAM)
    # WHEN they are processed
    assert engine.process([old, bad]) == []
    # THEN the DLQ holds both with reasons, and the password is nowhere
    reasons = sorted(m["MessageAttributes"]["reason"]["StringValue"] for m in world.dlq_messages())
    assert reasons == ["malformed_event", "retry_exhausted"]
    for text in everything_visible(world, fake, recorder, capsys.readouterr().out):
        assert fakes.JOIN_PASSWORD not in text


def test_secret_read_errors_do_not_carry_the_value(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    engine = make_engine()
    reader: Any = engine.directories._secrets
    assert reader.get(fakes.JOIN_PW_PARAM) == fakes.JOIN_PASSWORD
    with pytest.raises(Exception) as info:
        reader.get("/does/not/exist")
    assert fakes.JOIN_PASSWORD not in str(info.value)
    assert "ParameterNotFound" in str(info.value)

"""GIVEN/WHEN/THEN tests of joins through the engine (moto + FakeAws)."""

from __future__ import annotations

import re

from adjoin.passwords import ONE_TIME_PASSWORD_PATTERN

from tests.unit import fakes
from tests.unit.conftest import MakeEngine, Recorder


def test_running_linux_instance_is_joined(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN a running Linux instance with an adGroupName tag in a spoke account
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1", tags={"adGroupName": "Linux Admins"})
    engine = make_engine()
    record = fakes.sqs_record(fakes.state_event(fakes.SPOKE_A, "eu-west-1", iid, "running"))
    # WHEN the engine processes its running event
    failures = engine.process([record])
    # THEN nothing failed, the computer was pre-created and the Linux join document was sent
    assert failures == []
    [created] = fake.created
    assert created["DirectoryId"] == fakes.DIRECTORY_ID
    assert created["ComputerName"] == "EC2" + iid[-12:].upper()
    [command] = fake.sent_commands()
    assert command["DocumentName"] == "ad-join-linux-join"
    assert command["InstanceIds"] == [iid]
    params = {k: v[0] for k, v in command["Parameters"].items()}
    assert params == {
        "computerName": created["ComputerName"],
        "oneTimePassword": created["Password"],
        "domainName": "corp.example.com",
        "computerOU": "OU=Computers,OU=AWS,DC=corp,DC=example,DC=com",
        "adGroupName": "Linux Admins",
        "dnsIP1": "10.0.0.10",
        "dnsIP2": "10.0.1.10",
    }
    assert re.match(ONE_TIME_PASSWORD_PATTERN, params["oneTimePassword"])
    # AND the state item records joining with the command id and its history
    item = world.state(iid)
    assert item is not None
    assert item["status"] == "joining"
    assert item["commandId"]
    assert item["accountId"] == fakes.SPOKE_A
    assert item["region"] == "eu-west-1"
    assert item["platform"] == "linux"
    assert item["computerName"] == created["ComputerName"]
    assert item["attempts"] == 1
    assert [h["status"] for h in item["history"]] == ["joining", "joining"]
    assert recorder.metrics["JoinRequested"] == 1

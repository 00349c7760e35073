"""Exactly once when answers are lost (issue 8): GIVEN/WHEN/THEN tests of the engine's retries
after an ambiguous failure: the same claim keeps its one-time password, a redelivery adopts the
command it already sent, Directory Service's EntityAlreadyExists is reused or replaced, status
events wait for the command id, SendCommand is never resent by botocore."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from adjoin import aws
from adjoin.aws import CommandUnconfirmed, SsmAdapter
from tests.unit import fakes
from tests.unit.conftest import MakeEngine, Recorder

REGION = "eu-west-1"


def running(iid: str, *, message_id: str | None = None, receive_count: int = 1) -> dict[str, Any]:
    event = fakes.state_event(fakes.SPOKE_A, REGION, iid, "running")
    return fakes.sqs_record(event, message_id=message_id, receive_count=receive_count)


def redelivery(record: dict[str, Any], receive_count: int = 2) -> dict[str, Any]:
    again = json.loads(json.dumps(record))
    again["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    return again


def accepted() -> list[Any]:
    """The commands SSM accepted (moto recorded them), in every account and Region."""
    from moto.ssm.models import ssm_backends

    return [
        command
        for account in list(ssm_backends)
        for backend in ssm_backends[account].values()
        for command in backend._commands
    ]


def otps(fake: fakes.FakeAws) -> list[str]:
    """The one-time password of every join command SSM accepted."""
    del fake
    return [
        c.parameters["oneTimePassword"][0] for c in accepted() if "oneTimePassword" in c.parameters
    ]


def state_table() -> Any:
    return boto3.resource("dynamodb", region_name=fakes.HUB_REGION).Table(fakes.STATE_TABLE)


# ---- one claim, one one-time password ------------------------------------------------------


def test_a_retry_of_the_same_claim_uses_the_same_one_time_password(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, monkeypatch: Any
) -> None:
    # GIVEN an ldap join whose SendCommand is throttled on the first delivery
    monkeypatch.setattr(aws, "retry_sleep", lambda seconds: None)
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    created: list[str] = []

    class Recording(fakes.FakeLdapDirectory):
        def create_computer(self, account: Any) -> None:
            created.append(account.one_time_password)
            super().create_computer(account)

    engine = make_engine(ldap=Recording, DIRECTORY_ADAPTER="ldap")
    fake.errors["SendCommand"] = "ThrottlingException"
    record = running(iid)
    assert engine.process([record]) == [record["messageId"]]
    # WHEN the message is redelivered and SendCommand works
    del fake.errors["SendCommand"]
    assert engine.process([redelivery(record)]) == []
    # THEN both attempts set the same password, and the one command carries it
    assert len(created) == 2 and created[0] == created[1]
    assert otps(fake) == [created[0]]


def test_a_new_claim_gets_a_new_one_time_password(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN an ldap join whose command failed on the instance
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    engine = make_engine(ldap=fakes.FakeLdapDirectory, DIRECTORY_ADAPTER="ldap")
    engine.process([running(iid)])
    item = world.state(iid)
    assert item is not None
    failed = fakes.command_event(fakes.SPOKE_A, REGION, iid, item["commandId"], "Failed")
    engine.process([fakes.sqs_record(failed)])
    # WHEN a new running event claims the join again
    assert engine.process([running(iid)]) == []
    # THEN its command carries another password
    first, second = otps(fake)
    assert first != second


def test_without_the_otp_key_a_join_is_rejected_with_what_to_do(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    assert make_engine(OTP_KEY_ID="").process([running(iid)]) == []
    [dead] = world.dlq_messages()
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "invalid_config"
    assert "OTP_KEY_ID" in dead["MessageAttributes"]["detail"]["StringValue"]
    assert fake.created == [] and fake.sent_commands() == []
    item = world.state(iid)
    assert item is not None and item["status"] == "failed"


def test_kms_throttling_the_derivation_is_retried(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    fake.errors["GenerateMac"] = "ThrottlingException"
    record = running(iid)
    assert make_engine().process([record]) == [record["messageId"]]
    assert fake.created == [] and world.dlq_messages() == []


# ---- SendCommand: never twice for one claim -------------------------------------------------


def test_a_redelivery_adopts_the_command_its_first_delivery_sent(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, monkeypatch: Any
) -> None:
    # GIVEN a join whose SendCommand took effect but whose answer was lost
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    engine = make_engine()
    original = SsmAdapter.send
    lost = []

    def send_then_lose(self: SsmAdapter, *args: Any, **kwargs: Any) -> str:
        command_id = original(self, *args, **kwargs)
        if not lost:
            lost.append(command_id)
            raise CommandUnconfirmed("SendCommand: InternalError")
        return command_id

    monkeypatch.setattr(SsmAdapter, "send", send_then_lose)
    record = running(iid)
    assert engine.process([record]) == [record["messageId"]]
    item = world.state(iid)
    assert item is not None and "commandId" not in item
    # WHEN the message is redelivered
    fake.calls.clear()
    assert engine.process([redelivery(record)]) == []
    # THEN the first command is found and recorded, and no second command is sent
    assert len(fake.sent_commands()) == 1
    assert fake.calls[("ssm", "ListCommandInvocations")] == 1
    assert fake.calls[("directory-service", "CreateComputer")] == 0
    item = world.state(iid)
    assert item is not None and item["commandId"] == lost[0]


def test_a_redelivery_whose_lookup_fails_does_not_send(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    fake.errors["ListCommandInvocations"] = "ThrottlingException"
    record = running(iid, receive_count=2)
    assert make_engine().process([record]) == [record["messageId"]]
    assert fake.sent_commands() == [] and fake.created == []


def test_send_command_is_not_resent_by_botocore_after_a_5xx(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN SendCommand answers 500 (botocore would retry it: the command may exist)
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    fake.send_errors["SendCommand"] = [500, 500, 500]
    fake.send_errors["DescribeInstances"] = [500]  # a read: botocore retries it
    record = running(iid)
    # WHEN the join runs, THEN SendCommand was attempted once and the message is retried
    assert make_engine().process([record]) == [record["messageId"]]
    assert fake.calls[("ssm", "SendCommand")] == 1
    assert fake.calls[("ec2", "DescribeInstances")] == 2
    assert fake.send_errors["SendCommand"] == [500, 500]


def test_send_command_throttled_is_retried_at_once_up_to_three_times(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, monkeypatch: Any
) -> None:
    # GIVEN SendCommand is throttled twice (400: the command was not accepted)
    monkeypatch.setattr(aws, "retry_sleep", lambda seconds: None)
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    fake.send_errors["SendCommand"] = [400, 400]
    # WHEN the join runs, THEN the third attempt sends the one command
    assert make_engine().process([running(iid)]) == []
    assert fake.calls[("ssm", "SendCommand")] == 3
    assert len(fake.sent_commands()) == 3  # counted before moto; moto ran the third only
    item = world.state(iid)
    assert item is not None and item["commandId"]


# ---- Directory Service: EntityAlreadyExists ---------------------------------------------------


@pytest.mark.parametrize(
    ("lost", "deliveries"),
    [(1, 1), (3, 2)],
    ids=["retried-within-the-attempt", "retried-by-the-redelivery"],
)
def test_ds_create_that_took_effect_is_finished_by_the_retry(  # noqa: PLR0917
    world: fakes.World,
    fake: fakes.FakeAws,
    make_engine: MakeEngine,
    monkeypatch: Any,
    lost: int,
    deliveries: int,
) -> None:
    # GIVEN CreateComputer takes effect but answers 500 (defect 2 of issue 8), `lost` times in
    # a row (the attempt calls the directory 3 times while it is unavailable)
    monkeypatch.setattr(aws, "retry_sleep", lambda seconds: None)
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    engine = make_engine()
    fake.lose_answers["CreateComputer"] = lost
    record = running(iid)
    # WHEN it is processed (and redelivered while it is retried)
    answers = [engine.process([redelivery(record, n + 1)]) for n in range(deliveries)]
    # THEN the retry meets EntityAlreadyExists and goes on with the password the object was
    # created with: one object, one command, nothing dead-lettered
    assert answers == [[record["messageId"]]] * (deliveries - 1) + [[]]
    name = "EC2" + iid[-12:].upper()
    assert len(fake.computers) == 1
    assert otps(fake) == [fake.computers[name]]
    assert world.dlq_messages() == []
    item = world.state(iid)
    assert item is not None and item["computerClaim"] == record["messageId"]


def _failed_earlier_claim(
    world: fakes.World, fake: fakes.FakeAws, engine: Any, iid: str
) -> dict[str, Any]:
    """An earlier claim created the object, then its command failed on the instance."""
    first = running(iid)
    assert engine.process([first]) == []
    item = world.state(iid)
    assert item is not None
    failed = fakes.command_event(fakes.SPOKE_A, REGION, iid, item["commandId"], "Failed")
    assert engine.process([fakes.sqs_record(failed)]) == []
    return first


def test_ds_object_of_an_earlier_claim_is_replaced_through_the_ldap_leave_adapter(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN an object an earlier (failed) claim created, and the ldap leave adapter
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    ldap = fakes.SharedLdap(fake)
    engine = make_engine(ldap=ldap, LEAVE_ADAPTER="ldap")
    name = "EC2" + iid[-12:].upper()
    first = _failed_earlier_claim(world, fake, engine, iid)
    ldap.existing.add(name)  # the ldap adapter sees the object Directory Service created
    old_password = fake.computers[name]
    # WHEN a new running event claims the join
    second = running(iid)
    assert engine.process([second]) == []
    # THEN the old object was deleted, created again with the new claim's password, and the
    # new command carries that password
    assert ("delete", name) in ldap.log
    assert fake.computers[name] != old_password
    assert otps(fake)[-1] == fake.computers[name]
    item = world.state(iid)
    assert item is not None and item["computerClaim"] == second["messageId"] != first["messageId"]
    assert world.dlq_messages() == []


def test_ds_object_of_an_earlier_claim_without_a_leave_adapter_fails_with_what_to_do(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    engine = make_engine(LEAVE_ADAPTER="none")
    _failed_earlier_claim(world, fake, engine, iid)
    assert engine.process([running(iid)]) == []
    [dead] = world.dlq_messages()
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "computer_exists"
    detail = dead["MessageAttributes"]["detail"]["StringValue"]
    assert "delete it" in detail and "leaveAdapter" in detail
    assert len(fake.sent_commands()) == 1  # only the earlier claim's


def test_ds_object_of_an_earlier_claim_waits_for_its_removal_on_the_ad_tools_host(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN an object an earlier claim left, and the AD tools host as the leave adapter
    [host] = fakes.launch(fakes.HUB, fakes.HUB_REGION, tags={"adToolsHost": "true"})
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    engine = make_engine(LEAVE_ADAPTER="ad_tools_host")
    name = "EC2" + iid[-12:].upper()
    _failed_earlier_claim(world, fake, engine, iid)
    # WHEN a new claim meets the object: the removal is asked for, and the join waits
    record = running(iid)
    assert engine.process([record]) == [record["messageId"]]
    [leave] = [c for c in fake.sent_commands() if c["DocumentName"] == "ad-join-leave"]
    assert leave["InstanceIds"] == [host]
    assert leave["Comment"] == f"ad-join replace {name} claim {record['messageId']}"
    # WHEN redelivered while the removal still runs: it waits, and sends no second removal
    command_ids = [c.command_id for c in _moto_commands() if c.document_name == "ad-join-leave"]
    fake.statuses[command_ids[0]] = "InProgress"
    assert engine.process([redelivery(record)]) == [record["messageId"]]
    # WHEN the removal has run (the host removed the object)
    fake.statuses[command_ids[0]] = "Success"
    del fake.computers[name]
    assert engine.process([redelivery(record, 3)]) == []
    # THEN the object is created again with the new claim's password and joined with it
    leaves = [c for c in fake.sent_commands() if c["DocumentName"] == "ad-join-leave"]
    assert len(leaves) == 1
    assert otps(fake)[-1] == fake.computers[name]
    assert world.dlq_messages() == []


def _moto_commands() -> list[Any]:
    from moto.ssm.models import ssm_backends

    return list(ssm_backends[fakes.HUB][fakes.HUB_REGION]._commands)


# ---- command status events ---------------------------------------------------------------------


def _row(iid: str, **attributes: Any) -> None:
    state_table().put_item(
        Item={"instanceId": iid, "history": [], "accountId": fakes.SPOKE_A, **attributes}
    )


def test_a_status_that_comes_before_the_join_recorded_its_command_waits(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN a join that sent its command but did not record it yet (lost answer, crash)
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    _row(iid, status="joining", claimedBy="m-1")
    command_id = "0a0a0a0a-0a0a-0a0a-0a0a-0a0a0a0a0a0a"
    status = fakes.sqs_record(
        fakes.command_event(fakes.SPOKE_A, REGION, iid, command_id, "Success")
    )
    # WHEN its status event arrives, THEN it is retried, not acknowledged as stale
    assert make_engine().process([status]) == [status["messageId"]]
    item = world.state(iid)
    assert item is not None and item["status"] == "joining"
    # WHEN the join has recorded the command, THEN the retried status records joined
    state_table().update_item(
        Key={"instanceId": iid},
        UpdateExpression="SET commandId = :c",
        ExpressionAttributeValues={":c": command_id},
    )
    assert make_engine().process([redelivery(status)]) == []
    item = world.state(iid)
    assert item is not None and item["status"] == "joined"
    assert recorder.metrics["JoinSucceeded"] == 1


def test_a_status_already_recorded_is_acknowledged_and_tagged_again(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN a status an earlier delivery recorded, whose answer was lost before the tag
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    command_id = "0b0b0b0b-0b0b-0b0b-0b0b-0b0b0b0b0b0b"
    _row(iid, status="joined", claimedBy="m-1", commandId=command_id)
    status = fakes.sqs_record(
        fakes.command_event(fakes.SPOKE_A, REGION, iid, command_id, "Success")
    )
    # WHEN it is redelivered, THEN it is acknowledged, the tag is written, nothing counted twice
    assert make_engine(TAG_COMPUTER_NAME="true").process([status]) == []
    ec2 = fakes.spoke_session(fakes.SPOKE_A, REGION).client("ec2")
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [iid]}])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags}["adComputerName"] == "EC2" + iid[-12:].upper()
    assert recorder.metrics["JoinSucceeded"] == 0


# ---- the end of a claim ----------------------------------------------------------------------


def test_a_join_that_exhausts_its_retries_records_failed_and_frees_the_claim(
    world: fakes.World,
    fake: fakes.FakeAws,
    make_engine: MakeEngine,
    recorder: Recorder,
    monkeypatch: Any,
) -> None:
    # GIVEN a claimed ldap join whose SendCommand keeps failing, first sent an hour ago
    monkeypatch.setattr(aws, "retry_sleep", lambda seconds: None)
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    now = 1_800_000_000_000
    ldap = {"ldap": fakes.FakeLdapDirectory, "DIRECTORY_ADAPTER": "ldap"}
    engine = make_engine(clock_ms=lambda: now, **ldap)  # type: ignore[arg-type]
    fake.errors["SendCommand"] = "ServiceUnavailable"
    first = running(iid)
    first["attributes"]["SentTimestamp"] = str(now - 3590 * 1000)
    # WHEN the next retry would come after RETRY_MAX_SECONDS
    assert engine.process([first]) == []
    # THEN the message is dead-lettered and the state says failed, with the claim's object
    [dead] = world.dlq_messages()
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "retry_exhausted"
    item = world.state(iid)
    assert item is not None and item["status"] == "failed"
    assert item["computerClaim"] == first["messageId"]
    assert recorder.metrics["JoinFailed"] == 1 and recorder.metrics["Rejected"] == 1
    # AND a later running event can claim the join again
    del fake.errors["SendCommand"]
    assert make_engine(**ldap).process([running(iid)]) == []  # type: ignore[arg-type]
    item = world.state(iid)
    assert item is not None and item["status"] == "joining" and item["commandId"]


@pytest.mark.parametrize(
    ("before", "deleted"),
    [("joined", True), ("pending", False), (None, False)],
    ids=["joined-before", "pending-before", "unknown-before"],
)
def test_a_termination_recorded_before_a_lost_answer_deletes_only_what_a_join_made(
    world: fakes.World,
    fake: fakes.FakeAws,
    make_engine: MakeEngine,
    before: str | None,
    deleted: bool,
) -> None:
    # GIVEN the first attempt of a termination recorded `leaving` and its answer was lost
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    history = [{"status": before, "at": "t0", "reason": "x"}] if before else []
    history.append({"status": "leaving", "at": "t1", "reason": "terminated"})
    _row(iid, status="leaving", history=history, computerName="EC2" + iid[-12:].upper())
    ldap = fakes.SharedLdap()
    ldap.existing.add("EC2" + iid[-12:].upper())
    engine = make_engine(ldap=ldap, LEAVE_ADAPTER="ldap")
    # WHEN the termination is handled again
    end = fakes.sqs_record(fakes.state_event(fakes.SPOKE_A, REGION, iid, "terminated"))
    assert engine.process([end]) == []
    # THEN the object is deleted only if a join may have created it, and the state is left
    assert (("delete", "EC2" + iid[-12:].upper()) in ldap.log) is deleted
    item = world.state(iid)
    assert item is not None and item["status"] == "left"


def test_terminated_while_the_join_retries_removes_the_object_it_created(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN a join that created its object, is terminated meanwhile, and then fails transiently
    ldap = fakes.SharedLdap()
    engine = make_engine(ldap=ldap, DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER="ldap")
    other = make_engine(ldap=ldap, DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER="ldap")
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    name = "EC2" + iid[-12:].upper()
    original = SsmAdapter.send

    def terminate_then_fail(self: SsmAdapter, *args: Any, **kwargs: Any) -> str:
        end = fakes.sqs_record(fakes.state_event(fakes.SPOKE_A, REGION, iid, "terminated"))
        assert other.process([end]) == []
        ldap.existing.add(name)  # the join's create lands after the leave's delete
        raise CommandUnconfirmed("SendCommand: timeout")

    SsmAdapter.send = terminate_then_fail  # type: ignore[method-assign]
    try:
        assert engine.process([running(iid)]) == []
    finally:
        SsmAdapter.send = original  # type: ignore[method-assign]
    # THEN the join's final write finds the instance left and removes the object again
    assert name not in ldap.existing
    assert ldap.log.count(("delete", name)) == 2
    item = world.state(iid)
    assert item is not None and item["status"] == "left"


def test_a_redelivered_claim_owner_in_a_batch_with_a_fresh_copy_is_not_acknowledged_away(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, monkeypatch: Any
) -> None:
    # GIVEN a join whose first delivery sent its command and lost the answer
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    engine = make_engine()
    original = SsmAdapter.send

    def send_then_lose(self: SsmAdapter, *args: Any, **kwargs: Any) -> str:
        original(self, *args, **kwargs)
        raise CommandUnconfirmed("SendCommand: InternalError")

    monkeypatch.setattr(SsmAdapter, "send", send_then_lose)
    owner = running(iid)
    assert engine.process([owner]) == [owner["messageId"]]
    monkeypatch.setattr(SsmAdapter, "send", original)
    # WHEN its redelivery comes in one batch after a fresh copy of the same event (EventBridge
    # delivered it twice)
    copy = running(iid)
    failures = engine.process([copy, redelivery(owner)])
    # THEN the copy is acknowledged (the claim is not its own), the owner is not: it comes back
    assert failures == [owner["messageId"]]
    # AND on its own delivery it adopts its command: the claim is finished, one command
    assert engine.process([redelivery(owner, 3)]) == []
    item = world.state(iid)
    assert item is not None and item["commandId"] == accepted()[0].command_id
    assert len(accepted()) == 1

"""GIVEN/WHEN/THEN tests of terminations: leave adapters, terminated before or during a join."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from adjoin.directory.base import ComputerAccount
from tests.unit import fakes
from tests.unit.conftest import MakeEngine, Recorder

REGION = "eu-west-1"


def event(iid: str, state: str) -> dict[str, Any]:
    return fakes.sqs_record(fakes.state_event(fakes.SPOKE_A, REGION, iid, state))


def test_terminated_after_join_deletes_the_object_with_ldap(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN an instance joined through ldap
    ldap = fakes.SharedLdap()
    engine = make_engine(ldap=ldap, DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER="ldap")
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    assert engine.process([event(iid, "running")]) == []
    name = "EC2" + iid[-12:].upper()
    # WHEN it is terminated
    assert engine.process([event(iid, "terminated")]) == []
    # THEN its computer object is deleted and the state is left
    assert ldap.directory is not None
    assert ldap.directory.log == [("create", name), ("delete", name)]
    assert ldap.directory.existing == set()
    item = world.state(iid)
    assert item is not None and item["status"] == "left"
    assert [h["status"] for h in item["history"]][-2:] == ["leaving", "left"]
    assert recorder.metrics["LeaveRequested"] == 1
    assert recorder.metrics["LeaveSucceeded"] == 1


def test_terminated_twice_deletes_once(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    ldap = fakes.SharedLdap()
    engine = make_engine(ldap=ldap, DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER="ldap")
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    engine.process([event(iid, "running")])
    assert engine.process([event(iid, "terminated")]) == []
    assert engine.process([event(iid, "terminated")]) == []
    assert ldap.directory is not None
    assert [op for op, _ in ldap.directory.log] == ["create", "delete"]
    assert recorder.metrics["Skipped"] == 1


def test_terminated_before_join_means_no_join_and_no_object(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN an instance terminated before its (delayed) running event is processed
    ldap = fakes.SharedLdap()
    engine = make_engine(ldap=ldap, DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER="ldap")
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    # WHEN the terminated event comes first and the running event after it
    assert engine.process([event(iid, "terminated")]) == []
    assert engine.process([event(iid, "running")]) == []
    # THEN no computer object was created or deleted and no command was sent
    assert ldap.directory is None or ldap.directory.log == []
    assert fake.created == [] and fake.sent_commands() == []
    item = world.state(iid)
    assert item is not None and item["status"] == "left"
    assert item["history"][-1]["reason"] == "terminated_before_join"


def test_terminated_while_retrying_for_the_agent_stops_the_join(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    engine = make_engine()
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    fake.online = set()
    run = event(iid, "running")
    assert engine.process([run]) == [run["messageId"]]  # pending
    assert engine.process([event(iid, "terminated")]) == []
    fake.online = None
    assert engine.process([run]) == []  # the retry finds the instance gone / left
    assert fake.created == [] and fake.sent_commands() == []
    item = world.state(iid)
    assert item is not None and item["status"] == "left"


def test_terminated_during_the_join_removes_the_new_object(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN the terminated event is handled while the join is between claim and record
    ldap = fakes.SharedLdap()
    engine = make_engine(ldap=ldap, DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER="ldap")
    other = make_engine(ldap=ldap, DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER="ldap")
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    original_join = engine._join

    def join_then_terminate(item: Any, directory: Any, ssm: Any) -> None:
        original_join(item, directory, ssm)
        assert other.process([event(iid, "terminated")]) == []

    engine._join = join_then_terminate  # type: ignore[method-assign]
    # WHEN the running event is processed
    assert engine.process([event(iid, "running")]) == []
    # THEN the object created by the join was deleted again: nothing is left behind
    assert ldap.directory is not None
    assert ldap.directory.existing == set()
    item = world.state(iid)
    assert item is not None and item["status"] == "left"


def test_ad_tools_host_leave_sends_the_leave_document_without_the_password(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN an AD tools host in the hub and a joined spoke instance
    [host] = fakes.launch(fakes.HUB, fakes.HUB_REGION, tags={"adToolsHost": "true"})
    engine = make_engine(LEAVE_ADAPTER="ad_tools_host")
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    engine.process([event(iid, "running")])
    # WHEN it is terminated
    assert engine.process([event(iid, "terminated")]) == []
    # THEN the leave document ran on the host with the parameter NAME, not the password
    leave = [c for c in fake.sent_commands() if c["DocumentName"] == "ad-join-leave"]
    assert len(leave) == 1
    assert leave[0]["InstanceIds"] == [host]
    assert {k: v[0] for k, v in leave[0]["Parameters"].items()} == {
        "computerName": "EC2" + iid[-12:].upper(),
        "domainName": "corp.example.com",
        "adJoinUserName": "svc-adjoin@corp.example.com",
        "adJoinUserPwParam": fakes.JOIN_PW_PARAM,
        "computerOU": "OU=Computers,OU=AWS,DC=corp,DC=example,DC=com",
    }
    item = world.state(iid)
    assert item is not None and item["status"] == "left" and item["leaveCommandId"]
    assert recorder.metrics["LeaveSucceeded"] == 1


def test_ad_tools_host_missing_is_retried(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    engine = make_engine(LEAVE_ADAPTER="ad_tools_host")
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    engine.process([event(iid, "running")])
    record = event(iid, "terminated")
    assert engine.process([record]) == [record["messageId"]]
    item = world.state(iid)
    assert item is not None and item["status"] == "leaving"
    assert "no running instance tagged adToolsHost=true" in item["lastError"]


def test_leave_adapter_none_records_only(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    engine = make_engine(LEAVE_ADAPTER="none")
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    engine.process([event(iid, "running")])
    sent_before = len(fake.sent_commands())
    assert engine.process([event(iid, "terminated")]) == []
    assert len(fake.sent_commands()) == sent_before
    item = world.state(iid)
    assert item is not None and item["status"] == "left"
    assert item["history"][-1]["reason"] == "record_only"


def test_terminated_without_state_uses_the_deterministic_name(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN a joined instance whose state row was lost
    ldap = fakes.SharedLdap()
    engine = make_engine(ldap=ldap, DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER="ldap")
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    engine.process([event(iid, "running")])
    boto3_table = __import__("boto3").resource("dynamodb", region_name=fakes.HUB_REGION)
    item = world.state(iid)
    assert item is not None
    boto3_table.Table(fakes.STATE_TABLE).put_item(
        Item={"instanceId": iid, "status": "joined", "history": []}
    )
    # WHEN terminated, THEN the object named from the instance id is deleted
    assert engine.process([event(iid, "terminated")]) == []
    assert ldap.directory is not None
    assert ("delete", "EC2" + iid[-12:].upper()) in ldap.directory.log


def test_fake_ldap_matches_the_port() -> None:
    directory = fakes.FakeLdapDirectory(["dc"], "corp.example.com", "u", "p")
    directory.create_computer(ComputerAccount("EC2ABC", "corp.example.com", None, "x" * 16))
    assert directory.delete_computer("EC2ABC", "corp.example.com", None) is True
    assert directory.delete_computer("EC2ABC", "corp.example.com", None) is False


def test_running_and_terminated_in_one_batch_keep_their_order(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN a batch holding an instance's running event and then its terminated event
    ldap = fakes.SharedLdap()
    engine = make_engine(ldap=ldap, DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER="ldap")
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    run, end = event(iid, "running"), event(iid, "terminated")
    # WHEN processed: the running event is handled, the terminated one waits for the next call
    assert engine.process([run, end]) == [end["messageId"]]
    assert engine.process([end]) == []
    # THEN the join ran and its object was removed afterwards
    assert ldap.directory is not None
    assert [op for op, _ in ldap.directory.log] == ["create", "delete"]
    item = world.state(iid)
    assert item is not None and item["status"] == "left"


def test_ad_tools_host_is_looked_up_once_for_a_burst_of_leaves(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    from adjoin.directory import ad_tools_host

    ad_tools_host._hosts.clear()
    [host] = fakes.launch(fakes.HUB, fakes.HUB_REGION, tags={"adToolsHost": "true"})
    engine = make_engine(LEAVE_ADAPTER="ad_tools_host")
    ids = fakes.launch(fakes.SPOKE_A, REGION, count=3)
    engine.process([event(i, "running") for i in ids])
    fake.calls.clear()
    assert engine.process([event(i, "terminated") for i in ids]) == []
    # one DescribeInstances in the hub finds the host; one leave command carries the 3 names
    assert fake.calls[("ec2", "DescribeInstances")] == 1
    leaves = [c for c in fake.sent_commands() if c["DocumentName"] == "ad-join-leave"]
    assert [c["InstanceIds"] for c in leaves] == [[host]]
    names = leaves[0]["Parameters"]["computerName"][0].split(",")
    assert sorted(names) == sorted("EC2" + i[-12:].upper() for i in ids)
    recorded = set()
    for iid in ids:  # each records the shared command as its leave command
        item = world.state(iid)
        assert item is not None and item["status"] == "left"
        recorded.add(item["leaveCommandId"])
    assert len(recorded) == 1 and "" not in recorded
    ad_tools_host._hosts.clear()


def test_ad_tools_host_leaves_go_in_commands_of_at_most_max_names_per_ou(
    world: fakes.World,
    fake: fakes.FakeAws,
    make_engine: MakeEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from adjoin.directory import ad_tools_host

    ad_tools_host._hosts.clear()
    # a command takes 3 names here (100 in the Lambda: a full batch), to keep the test small
    monkeypatch.setattr(ad_tools_host.AdToolsHostDirectory, "max_names", 3)
    [host] = fakes.launch(fakes.HUB, fakes.HUB_REGION, tags={"adToolsHost": "true"})
    engine = make_engine(LEAVE_ADAPTER="ad_tools_host")
    ous = {"OU=A,OU=Computers,OU=AWS,DC=corp,DC=example,DC=com": 4, None: 2}
    ids: dict[str | None, list[str]] = {}
    for ou, count in ous.items():
        tags = {"adComputerOU": ou} if ou else {}
        ids[ou] = fakes.launch(fakes.SPOKE_A, REGION, count=count, tags=tags)
    every = [i for group in ids.values() for i in group]
    assert engine.process([event(i, "running") for i in every]) == []
    # WHEN the 6 terminate in one batch
    assert engine.process([event(i, "terminated") for i in every]) == []
    # THEN 4 names in one OU take two commands (3 + 1), the other OU's 2 names one
    leaves = [c for c in fake.sent_commands() if c["DocumentName"] == "ad-join-leave"]
    sizes = sorted(len(c["Parameters"]["computerName"][0].split(",")) for c in leaves)
    assert sizes == [1, 2, 3]
    assert all(c["InstanceIds"] == [host] for c in leaves)
    by_ou = {c["Parameters"]["computerOU"][0] for c in leaves}
    assert len(by_ou) == 2  # each command holds one OU's names
    for iid in every:
        item = world.state(iid)
        assert item is not None and item["status"] == "left"
    ad_tools_host._hosts.clear()


def test_a_burst_of_leaves_reads_and_writes_once_per_batch(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN three joined instances
    ldap = fakes.SharedLdap()
    engine = make_engine(ldap=ldap, DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER="ldap")
    ids = fakes.launch(fakes.SPOKE_A, REGION, count=3)
    assert engine.process([event(i, "running") for i in ids]) == []
    fake.calls.clear()
    # WHEN all three terminate in one batch
    assert engine.process([event(i, "terminated") for i in ids]) == []
    # THEN one read and two transactions (leaving, left) record the whole batch: no UpdateItem
    state_calls = {op: n for (svc, op), n in fake.calls.items() if svc == "dynamodb"}
    assert state_calls == {"TransactGetItems": 1, "TransactWriteItems": 2}
    assert ldap.directory is not None
    assert sorted(n for op, n in ldap.directory.log if op == "delete") == sorted(
        "EC2" + i[-12:].upper() for i in ids
    )
    for iid in ids:
        item = world.state(iid)
        assert item is not None and item["status"] == "left"
        assert [h["status"] for h in item["history"]][-3:] == ["joining", "leaving", "left"]
    assert recorder.metrics["LeaveSucceeded"] == 3


def test_a_leave_whose_item_changed_after_the_read_writes_on_its_own(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN a joined instance whose state another invocation records `left` between this
    # batch's read and its transaction (a concurrent delivery of the same termination)
    ldap = fakes.SharedLdap()
    engine = make_engine(ldap=ldap, DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER="ldap")
    [iid, other] = fakes.launch(fakes.SPOKE_A, REGION, count=2)
    assert engine.process([event(iid, "running"), event(other, "running")]) == []
    read = engine.state.get_many

    def read_then_finish_elsewhere(ids: list[str]) -> Any:
        found = read(ids)
        table = boto3.resource("dynamodb", region_name=fakes.HUB_REGION).Table(fakes.STATE_TABLE)
        table.update_item(
            Key={"instanceId": iid},
            UpdateExpression="SET #s = :left, updatedAt = :at",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":left": "left", ":at": "2030-01-01T00:00:00.000000Z"},
        )
        return found

    engine.state.get_many = read_then_finish_elsewhere  # type: ignore[method-assign]
    fake.calls.clear()
    # WHEN the batch runs
    assert engine.process([event(iid, "terminated"), event(other, "terminated")]) == []
    # THEN the changed item is not overwritten (its own write is refused: already left),
    # nothing is deleted for it, and the other leave goes through as usual
    changed = world.state(iid)
    assert changed is not None and changed["status"] == "left"
    assert "leaving" not in [h["status"] for h in changed["history"]]
    assert ldap.directory is not None
    assert [n for op, n in ldap.directory.log if op == "delete"] == ["EC2" + other[-12:].upper()]
    assert recorder.metrics["Skipped"] == 1 and recorder.metrics["LeaveSucceeded"] == 1


def test_a_failed_read_of_the_leaves_falls_back_to_one_write_each(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN two joined instances, and a TransactGetItems that fails
    ldap = fakes.SharedLdap()
    engine = make_engine(ldap=ldap, DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER="ldap")
    ids = fakes.launch(fakes.SPOKE_A, REGION, count=2)
    assert engine.process([event(i, "running") for i in ids]) == []
    fake.errors["TransactGetItems"] = "ValidationException"
    fake.calls.clear()
    # WHEN they terminate, THEN each records `leaving` with its own UpdateItem and is deleted
    assert engine.process([event(i, "terminated") for i in ids]) == []
    assert fake.calls[("dynamodb", "UpdateItem")] == 2
    assert ldap.directory is not None
    assert len([op for op, _ in ldap.directory.log if op == "delete"]) == 2
    for iid in ids:
        item = world.state(iid)
        assert item is not None and item["status"] == "left"


def test_a_leave_read_before_a_concurrent_join_claim_still_deletes_its_object(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN a termination whose read finds no state, and a join elsewhere that claims the
    # instance (and names its object) between that read and this batch's transaction
    ldap = fakes.SharedLdap()
    engine = make_engine(ldap=ldap, DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER="ldap")
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    read = engine.state.get_many

    def read_then_claimed_elsewhere(ids: list[str]) -> Any:
        found = read(ids)
        assert found == {iid: None}
        table = boto3.resource("dynamodb", region_name=fakes.HUB_REGION).Table(fakes.STATE_TABLE)
        at = "2030-01-01T00:00:00.000000Z"
        table.put_item(
            Item={
                "instanceId": iid,
                "status": "joining",
                "claimedBy": "m-elsewhere",
                "computerName": "EC2CLAIMED",
                "updatedAt": at,
                "history": [{"status": "joining", "at": at, "reason": "join"}],
            }
        )
        return found

    engine.state.get_many = read_then_claimed_elsewhere  # type: ignore[method-assign]
    # WHEN it runs, THEN the batched write is refused (the item is no longer absent) and the
    # leave's own write returns the claimed item: the object the join names is deleted
    assert engine.process([event(iid, "terminated")]) == []
    assert ldap.directory is not None
    assert ("delete", "EC2CLAIMED") in ldap.directory.log
    item = world.state(iid)
    assert item is not None and item["status"] == "left"

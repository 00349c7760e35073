"""The reconciler (adjoin.reconciler) with the engine on moto: a task's observe/act/record, the
fan-out of a run, the handler's dispatch, and that the engine's own paths do the work."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from adjoin import handler
from adjoin.directory.base import StampedComputer
from adjoin.engine import Engine
from adjoin.ownership import OwnerStamp
from adjoin.reconciler import Reconciler, Task, parse_task
from tests.unit import fakes
from tests.unit.conftest import MakeEngine, Recorder

REGION = fakes.HUB_REGION
LATER = datetime.now(UTC) + timedelta(hours=2)  # past the default grace period of an hour


def _drain(world: fakes.World) -> list[dict[str, Any]]:
    """The domain-join queue's messages as Lambda SQS records (deleted from the queue)."""
    sqs = boto3.client("sqs", region_name=REGION)
    records: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=world.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        if not got:
            return records
        for m in got:
            sqs.delete_message(QueueUrl=world.queue_url, ReceiptHandle=m["ReceiptHandle"])
            records.append(
                {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"],
                 "body": m["Body"], "attributes": m["Attributes"], "messageAttributes": {}}
            )  # fmt: skip


def build(engine: Engine, when: datetime = LATER) -> Reconciler:
    reconciler = handler.build_reconciler(engine)
    reconciler.now = lambda: when
    return reconciler


def report_line(recorder: Recorder) -> dict[str, Any]:
    lines = [json.loads(line) for line in recorder.lines if '"reconcile report"' in line]
    assert lines, recorder.lines
    report: dict[str, Any] = lines[-1]["reconcile"]
    return report


def test_missed_running_and_terminated_events_are_found_and_handled_by_the_engine(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN one instance joined and then terminated without its event, and one never announced
    ldap = fakes.SharedLdap()
    engine = make_engine(ldap=ldap, DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER="ldap")
    gone, missed = fakes.launch(fakes.SPOKE_A, REGION, count=2)
    assert (
        engine.process(
            [fakes.sqs_record(fakes.state_event(fakes.SPOKE_A, REGION, gone, "running"))]
        )
        == []
    )
    fakes.spoke_session(fakes.SPOKE_A, REGION).client("ec2").terminate_instances(InstanceIds=[gone])
    # WHEN a reconcile task runs for the account and Region
    report = build(engine).run_task(Task(fakes.SPOKE_A, REGION, "run-1"))
    # THEN it planned a join and a leave, queued them as EC2 events, and the engine did them
    kinds = sorted((s["kind"], s["instanceId"]) for s in report.plan["steps"])
    assert kinds == [("join", missed), ("leave", gone)]
    assert report.joins_started == 1 and report.objects_removed == 1
    records = _drain(world)
    bodies = sorted(json.loads(r["body"])["detail"]["state"] for r in records)
    assert bodies == ["running", "terminated"]
    assert engine.process(records) == []
    assert world.state(missed)["status"] == "joining"  # type: ignore[index]
    assert world.state(gone)["status"] == "left"  # type: ignore[index]
    assert ldap.directory is not None
    assert ("delete", "EC2" + gone[-12:].upper()) in ldap.directory.log
    assert recorder.metrics["ReconcileJoinsStarted"] == 1
    assert recorder.metrics["ReconcileObjectsRemoved"] == 1
    assert recorder.metrics["ReconcileInstancesSeen"] == 2
    assert report_line(recorder)["runId"] == "run-1"


def test_a_failed_describe_skips_the_task_and_acts_on_nothing(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    engine = make_engine()
    fakes.launch(fakes.SPOKE_A, REGION)
    fake.errors["DescribeInstances"] = "RequestLimitExceeded"
    report = build(engine).run_task(Task(fakes.SPOKE_A, REGION, "run-1"))
    assert report.skipped.startswith("throttled")
    assert report.plan == {}
    assert _drain(world) == []
    assert recorder.metrics["ReconcileSkipped"] == 1
    assert report_line(recorder)["skipped"]


def test_dry_run_reports_the_plan_and_acts_on_nothing(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    engine = make_engine()
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    report = build(engine).run_task(Task(fakes.SPOKE_A, REGION, "run-1", dry_run=True))
    assert [s["instanceId"] for s in report.plan["steps"]] == [iid]
    assert report.joins_started == 0
    assert _drain(world) == []
    assert world.state(iid) is None


def test_an_orphan_stamped_object_is_removed_and_an_unstamped_one_is_not(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN a stamped object whose instance never existed here, and no state row
    ldap = fakes.SharedLdap()
    engine = make_engine(ldap=ldap, DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER="ldap")
    engine.directories.ldap(engine.config_store.get(fakes.SPOKE_A))  # creates the fake directory
    assert ldap.directory is not None
    orphan = StampedComputer(
        "EC2ABCDEF012345", "CN=EC2ABCDEF012345,OU=x",
        OwnerStamp("i-0abcdef0123456789", fakes.SPOKE_A, REGION), "2020-01-01T00:00:00+00:00",
    )  # fmt: skip
    ldap.stamped[:] = [orphan]
    ldap.directory.existing |= {orphan.name, "EC2UNSTAMPED01"}
    # WHEN the task runs
    report = build(engine).run_task(Task(fakes.SPOKE_A, REGION, "run-1"))
    # THEN the orphan is deleted through the leave adapter and recorded left; nothing else
    assert report.directory_read
    assert ldap.directory.existing == {"EC2UNSTAMPED01"}
    assert ("delete", orphan.name) in ldap.directory.log
    row = world.state("i-0abcdef0123456789")
    assert row is not None and row["status"] == "left"
    assert row["history"][-1]["reason"] == "reconcile_orphan_removed"
    assert report.objects_removed == 1


def test_the_deletion_cap_stops_the_run_and_raises_the_metric(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    engine = make_engine(RECONCILE_MAX_DELETIONS="1")
    table = boto3.resource("dynamodb", region_name=REGION).Table(fakes.STATE_TABLE)
    for n in range(3):
        table.put_item(
            Item={"instanceId": f"i-0{n}00000000000000a", "accountId": fakes.SPOKE_A,
                  "region": REGION, "status": "joined", "updatedAt": "2020-01-01T00:00:00Z"}
        )  # fmt: skip
    report = build(engine).run_task(Task(fakes.SPOKE_A, REGION, "run-1"))
    assert report.plan["steps"] == []
    assert len(report.plan["capped"]) == 3
    assert _drain(world) == []
    assert recorder.metrics["ReconcileCapped"] == 3
    assert report_line(recorder)["capped"] == 3


def test_a_run_fans_out_one_task_per_account_and_region(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    engine = make_engine(SERVED_REGIONS=f"{REGION},eu-west-1,eu-central-1")
    started = build(engine).start_run(dry_run=True)
    assert started["tasks"] == 9  # 3 accounts x 3 Regions
    tasks = [parse_task(r["body"]) for r in _drain(world)]
    assert {(t.account, t.region) for t in tasks if t} == {
        (a, r) for a in (fakes.HUB, fakes.SPOKE_A, fakes.SPOKE_B)
        for r in (REGION, "eu-west-1", "eu-central-1")
    }  # fmt: skip
    assert all(t is not None and t.dry_run and t.run_id == started["runId"] for t in tasks)


def test_the_handler_runs_tasks_from_the_queue_and_events_through_the_engine(
    world: fakes.World,
    fake: fakes.FakeAws,
    make_engine: MakeEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = make_engine()
    reconciler = build(engine)
    monkeypatch.setattr(handler, "_engine", engine)
    monkeypatch.setattr(handler, "_reconciler", reconciler)
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    task = fakes.sqs_record(Task(fakes.SPOKE_A, REGION, "run-1").body())
    event = fakes.sqs_record(fakes.state_event(fakes.SPOKE_A, REGION, iid, "running"))
    assert handler.lambda_handler({"Records": [task, event]}, None) == {"batchItemFailures": []}
    assert world.state(iid)["status"] == "joining"  # type: ignore[index]
    # the task saw the instance already claimed by the event: nothing more to do
    assert [json.loads(r["body"])["source"] for r in _drain(world)] == []
    answer = handler.lambda_handler(
        {"action": "reconcile", "account": fakes.SPOKE_A, "region": REGION, "dryRun": True}, None
    )
    assert answer["dryRun"] is True and answer["account"] == fakes.SPOKE_A


def test_task_bodies_round_trip_and_other_bodies_are_not_tasks() -> None:
    task = Task("111111111111", "eu-west-1", "r", dry_run=True)
    assert parse_task(task.body()) == task
    for body in ("", "[]", "{}", '{"source": "aws.ec2"}', '{"source": "ad-join", "detail": 1}'):
        assert parse_task(body) is None

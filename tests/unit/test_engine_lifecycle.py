"""GIVEN/WHEN/THEN tests of Auto Scaling lifecycle actions through the engine's join and leave
paths: the action is completed with the right result exactly when its outcome is known, a
waiting action is heartbeated only when it could time out, duplicates change nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from adjoin import decisions as d
from adjoin.events import LifecycleActionEvent, MalformedEvent, parse_event
from tests.unit import fakes
from tests.unit.conftest import MakeEngine, Recorder

REGION = "eu-west-1"
HOOKS = {"LIFECYCLE_HOOKS": "true"}


def action(iid: str, transition: str, token: str, **kwargs: Any) -> dict[str, Any]:
    return fakes.lifecycle_event(fakes.SPOKE_A, REGION, iid, transition, token=token, **kwargs)


def record(body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return fakes.sqs_record(body, **kwargs)


def status(iid: str, command_id: str, value: str) -> dict[str, Any]:
    return record(fakes.command_event(fakes.SPOKE_A, REGION, iid, command_id, value))


def new_token() -> str:
    return str(uuid.uuid4())


# ------------------------------------------------------------------ parsing


def test_a_launch_action_parses_as_a_running_event_with_its_action() -> None:
    body = action("i-0123456789abcdef0", "launch", "87654321-4321-4321-4321-210987654321")
    event = parse_event(json.dumps(body))
    assert isinstance(event, LifecycleActionEvent)
    assert (event.state, event.launch, event.to_warm_pool) == ("running", True, False)
    assert (event.hook_name, event.group_name) == ("ad-join-launch", "web")
    assert event.token == "87654321-4321-4321-4321-210987654321"
    terminate = parse_event(json.dumps(action("i-0123456789abcdef0", "terminate", new_token())))
    assert isinstance(terminate, LifecycleActionEvent) and terminate.state == "terminated"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("LifecycleTransition", "autoscaling:EC2_INSTANCE_TERMINATING", "does not match"),
        ("LifecycleActionToken", "not-a-token", "lifecycle action token"),
        ("LifecycleHookName", "bad name!", "lifecycle hook name"),
        ("EC2InstanceId", "x-1", "EC2 instance id"),
        ("Destination", "Moon", "WarmPool"),
        ("AutoScalingGroupName", "a\nb", "control characters"),
    ],
)
def test_a_malformed_lifecycle_action_is_rejected_with_its_field(
    key: str, value: str, message: str
) -> None:
    body = action("i-0123456789abcdef0", "launch", new_token())
    body["detail"][key] = value
    with pytest.raises(MalformedEvent, match=message):
        parse_event(json.dumps(body))


# ------------------------------------------------------------------ launch


def test_launch_joins_and_the_command_success_completes_with_continue(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN an instance of a group waiting in Pending:Wait
    engine = make_engine(**HOOKS)
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    token = new_token()
    # WHEN its launch action is processed
    assert engine.process([record(action(iid, "launch", token))]) == []
    # THEN it joins like a running instance, the action waits for the command, and the row
    # names the action
    assert len(fake.sent_commands()) == 1 and fake.completed == {}
    row = world.state(iid)
    assert row is not None and row["status"] == "joining"
    assert (row[d.ROW_TOKEN], row[d.ROW_HOOK], row[d.ROW_GROUP]) == (
        token,
        "ad-join-launch",
        "web",
    )
    # WHEN the join command reports success
    assert engine.process([status(iid, row["commandId"], "Success")]) == []
    # THEN the action is completed with CONTINUE
    assert fake.completed == {token: "CONTINUE"}
    assert recorder.metrics["JoinSucceeded"] == 1
    assert recorder.metrics["LifecycleActionCompleted"] == 1


@pytest.mark.parametrize(("configured", "expected"), [("", "CONTINUE"), ("ABANDON", "ABANDON")])
def test_launch_whose_join_command_fails_completes_with_the_configured_result(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, configured: str, expected: str
) -> None:
    engine = make_engine(**HOOKS, LIFECYCLE_FAILURE_RESULT=configured)
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    token = new_token()
    engine.process([record(action(iid, "launch", token))])
    row = world.state(iid)
    assert row is not None
    assert engine.process([status(iid, row["commandId"], "Failed")]) == []
    assert fake.completed == {token: expected}


def test_launch_that_cannot_join_completes_with_the_failure_result_at_once(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN an instance whose adGroupName tag is invalid (the join is rejected)
    engine = make_engine(LIFECYCLE_FAILURE_RESULT="ABANDON")
    [iid] = fakes.launch(fakes.SPOKE_A, REGION, tags={"adGroupName": "bad,name"})
    token = new_token()
    body = record(action(iid, "launch", token))
    # WHEN its launch action is processed THEN the message is dead-lettered and the action
    # ends with the configured result
    assert engine.process([body]) == []
    assert fake.completed == {token: "ABANDON"}
    assert fake.sent_commands() == []
    reasons = [m["MessageAttributes"]["reason"]["StringValue"] for m in world.dlq_messages()]
    assert reasons == ["invalid_tag"]


def test_launch_of_an_opted_out_instance_continues_without_joining(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    engine = make_engine()
    [iid] = fakes.launch(fakes.SPOKE_A, REGION, tags={"autoadjoin": "false"})
    token = new_token()
    assert engine.process([record(action(iid, "launch", token))]) == []
    assert fake.completed == {token: "CONTINUE"} and fake.sent_commands() == []


def test_launch_after_the_running_event_waits_for_that_join_then_continues(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN the instance's `running` event claimed and sent the join first
    engine = make_engine(**HOOKS)
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    running = record(fakes.state_event(fakes.SPOKE_A, REGION, iid, "running"))
    assert engine.process([running]) == []
    token = new_token()
    launch = record(action(iid, "launch", token))
    # WHEN the launch action comes while that join is in progress
    # THEN it is retried (no second join, nothing completed yet)
    assert engine.process([launch]) == [launch["messageId"]]
    assert len(fake.sent_commands()) == 1 and fake.completed == {}
    # WHEN the join succeeds and the action's message comes back
    row = world.state(iid)
    assert row is not None
    assert engine.process([status(iid, row["commandId"], "Success")]) == []
    assert fake.completed == {}  # the row names no action: the running event claimed it
    launch["attributes"]["ApproximateReceiveCount"] = "2"
    assert engine.process([launch]) == []
    # THEN it finds the instance joined and continues, still with one join command
    assert fake.completed == {token: "CONTINUE"}
    assert len(fake.sent_commands()) == 1


def test_launch_and_running_in_one_batch_join_once_and_complete(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN the running event and the launch action of one instance in the same batch
    engine = make_engine(**HOOKS)
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    token = new_token()
    running = record(fakes.state_event(fakes.SPOKE_A, REGION, iid, "running"))
    launch = record(action(iid, "launch", token))
    # WHEN the batch is processed THEN the action is not taken for a duplicate of the state
    # change: it waits for its own turn
    assert engine.process([running, launch]) == [launch["messageId"]]
    row = world.state(iid)
    assert row is not None
    engine.process([status(iid, row["commandId"], "Success")])
    launch["attributes"]["ApproximateReceiveCount"] = "2"
    assert engine.process([launch]) == []
    assert fake.completed == {token: "CONTINUE"} and len(fake.sent_commands()) == 1


def test_redelivered_status_and_launch_after_completion_are_no_ops(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    engine = make_engine(**HOOKS)
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    token = new_token()
    launch = record(action(iid, "launch", token))
    engine.process([launch])
    row = world.state(iid)
    assert row is not None
    success = status(iid, row["commandId"], "Success")
    engine.process([success])
    # WHEN the status and the launch action are delivered again
    success["attributes"]["ApproximateReceiveCount"] = "2"
    launch["attributes"]["ApproximateReceiveCount"] = "2"
    assert engine.process([success]) == []
    assert engine.process([launch]) == []
    # THEN nothing is joined again and the action, completed once, stays completed
    assert len(fake.sent_commands()) == 1
    assert fake.completed == {token: "CONTINUE"}
    assert recorder.metrics["LifecycleActionCompleted"] == 1
    assert recorder.metrics["LifecycleActionFailed"] == 0


def test_without_lifecycle_hooks_the_status_path_reads_no_row(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    engine = make_engine()
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    engine.process([record(fakes.state_event(fakes.SPOKE_A, REGION, iid, "running"))])
    row = world.state(iid)
    assert row is not None
    fake.calls.clear()
    assert engine.process([status(iid, row["commandId"], "Success")]) == []
    assert fake.calls[("dynamodb", "GetItem")] == 0
    assert fake.calls[("auto-scaling", "CompleteLifecycleAction")] == 0


def test_a_failed_completion_brings_the_acknowledged_message_back(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    engine = make_engine()
    [iid] = fakes.launch(fakes.SPOKE_A, REGION, tags={"autoadjoin": "false"})
    token = new_token()
    launch = record(action(iid, "launch", token))
    fake.errors["CompleteLifecycleAction"] = "Throttling"
    assert engine.process([launch]) == [launch["messageId"]]
    assert recorder.metrics["LifecycleActionFailed"] == 1
    del fake.errors["CompleteLifecycleAction"]
    launch["attributes"]["ApproximateReceiveCount"] = "2"
    assert engine.process([launch]) == []
    assert fake.completed == {token: "CONTINUE"}


# ------------------------------------------------------------------ heartbeats


def test_a_completion_denied_for_good_sends_the_message_to_the_dlq_with_its_reason(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN a launch action that completes at once, but the spoke role may not complete it
    engine = make_engine()
    [iid] = fakes.launch(fakes.SPOKE_A, REGION, tags={"autoadjoin": "false"})
    launch = record(action(iid, "launch", new_token()))
    fake.errors["CompleteLifecycleAction"] = "AccessDenied"
    # WHEN it is processed
    assert engine.process([launch]) == []
    # THEN the message is not retried: it goes to the DLQ saying the action was not completed
    [dead] = world.dlq_messages()
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "lifecycle_not_completed"
    assert fake.completed == {}
    assert recorder.metrics["LifecycleActionFailed"] == 1
    assert recorder.metrics["Rejected"] == 1


def test_a_young_waiting_action_records_no_heartbeat_an_old_one_does(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN an instance whose SSM agent is not online yet (the launch action waits)
    now = [1_800_000_000_000]
    engine = make_engine(clock_ms=lambda: now[0], LIFECYCLE_HEARTBEAT_TIMEOUT="600")
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    fake.online = set()
    token = new_token()
    launch = record(action(iid, "launch", token), sent_ms=now[0])
    # WHEN it is retried early THEN no heartbeat: the next delivery comes well in time
    assert engine.process([launch]) == [launch["messageId"]]
    assert fake.heartbeats == []
    # WHEN a retry comes so late that the next one could fall after half the timeout
    now[0] += 280_000
    launch["attributes"]["ApproximateReceiveCount"] = "5"
    assert engine.process([launch]) == [launch["messageId"]]
    # THEN it records one heartbeat, and nothing is completed
    assert fake.heartbeats == [token] and fake.completed == {}
    assert recorder.metrics["LifecycleHeartbeat"] == 1


def test_a_waiting_action_comes_back_within_half_its_heartbeat_timeout(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN a short heartbeat timeout and a retry whose backoff would be long
    engine = make_engine(LIFECYCLE_HEARTBEAT_TIMEOUT="120")
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    fake.online = set()
    launch = record(action(iid, "launch", new_token()), receive_count=8)
    item_delays: list[int] = []
    original = engine.queue.delay

    def spy(receipts: list[tuple[str, str, int]]) -> set[str]:
        item_delays.extend(delay for _, _, delay in receipts)
        return original(receipts)

    engine.queue.delay = spy  # type: ignore[method-assign]
    assert engine.process([launch]) == [launch["messageId"]]
    # THEN the delay is capped below half the timeout (a running event would wait 900 s)
    assert item_delays == [d.max_wait(120)] and d.max_wait(120) < 60


@pytest.mark.parametrize("timeout", [30, 120, 600, 3600, 7200])
def test_heartbeats_keep_a_long_wait_alive_and_are_few(timeout: int) -> None:
    # GIVEN deliveries of a waiting action with the engine's backoff, capped at max_wait
    elapsed, heartbeat_at, receive = 0.0, 0.0, 1
    beats: list[float] = []
    while elapsed < 4 * timeout:
        delay = min(d.retry_delay(receive, 10), d.max_wait(timeout))
        if d.needs_heartbeat(elapsed, timeout, delay):
            heartbeat_at = elapsed
            beats.append(elapsed)
        # THEN the next delivery (delay plus the worst lateness) is before the action times out
        arrival = elapsed + delay + d.heartbeat_margin(timeout)
        assert arrival < heartbeat_at + timeout
        elapsed, receive = elapsed + delay, receive + 1
    # AND none is recorded in the first half-timeout less one wait, and at most three per
    # timeout: once the backoff reaches its cap, about one per half-timeout
    assert beats and beats[0] >= timeout / 2 - d.max_wait(timeout) - d.heartbeat_margin(timeout)
    assert len(beats) <= 3 * 4


# ------------------------------------------------------------------ terminate


def test_terminate_leaves_then_continues_and_the_terminated_event_is_a_no_op(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN a joined instance of a group, its object in the directory
    ldap = fakes.SharedLdap()
    engine = make_engine(ldap=ldap, DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER="ldap")
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    engine.process([record(fakes.state_event(fakes.SPOKE_A, REGION, iid, "running"))])
    name = "EC2" + iid[-12:].upper()
    token = new_token()
    # WHEN its terminate action is processed (the instance still exists)
    assert engine.process([record(action(iid, "terminate", token, hook="ad-join-term"))]) == []
    # THEN the object is deleted, the state is left, and the action continues
    assert ldap.directory is not None
    assert ldap.directory.log == [("create", name), ("delete", name)]
    row = world.state(iid)
    assert row is not None and row["status"] == "left"
    assert fake.completed == {token: "CONTINUE"}
    # WHEN the instance's terminated event arrives later THEN nothing more is deleted
    assert (
        engine.process([record(fakes.state_event(fakes.SPOKE_A, REGION, iid, "terminated"))]) == []
    )
    assert [op for op, _ in ldap.directory.log] == ["create", "delete"]
    assert recorder.metrics["LeaveSucceeded"] == 1


def test_terminate_whose_leave_fails_for_now_waits_then_continues(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN a joined instance and an AD tools host that is not there yet
    engine = make_engine(LEAVE_ADAPTER="ad_tools_host")
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    engine.process([record(fakes.state_event(fakes.SPOKE_A, REGION, iid, "running"))])
    token = new_token()
    terminate = record(action(iid, "terminate", token))
    # WHEN the leave cannot run THEN the action is not completed: the message is retried
    assert engine.process([terminate]) == [terminate["messageId"]]
    assert fake.completed == {}
    # WHEN the host is there on the next delivery THEN the leave runs and the action continues
    fakes.launch(fakes.HUB, fakes.HUB_REGION, tags={"adToolsHost": "true"})
    terminate["attributes"]["ApproximateReceiveCount"] = "2"
    assert engine.process([terminate]) == []
    assert fake.completed == {token: "CONTINUE"}
    row = world.state(iid)
    assert row is not None and row["status"] == "left"


def test_scale_in_to_the_warm_pool_keeps_the_object_and_continues(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    ldap = fakes.SharedLdap()
    engine = make_engine(ldap=ldap, DIRECTORY_ADAPTER="ldap", LEAVE_ADAPTER="ldap")
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    engine.process([record(fakes.state_event(fakes.SPOKE_A, REGION, iid, "running"))])
    token = new_token()
    assert engine.process([record(action(iid, "terminate", token, destination="WarmPool"))]) == []
    assert ldap.directory is not None
    assert [op for op, _ in ldap.directory.log] == ["create"]
    row = world.state(iid)
    assert row is not None and row["status"] == "joining"
    assert fake.completed == {token: "CONTINUE"}


def test_a_duplicate_terminate_action_in_one_batch_completes_once(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    engine = make_engine()
    [iid] = fakes.launch(fakes.SPOKE_A, REGION)
    engine.process([record(fakes.state_event(fakes.SPOKE_A, REGION, iid, "running"))])
    token = new_token()
    body = action(iid, "terminate", token)
    assert engine.process([record(body), record(body)]) == []
    assert fake.completed == {token: "CONTINUE"}
    assert fake.calls[("auto-scaling", "CompleteLifecycleAction")] == 1


# ------------------------------------------------------------------ pure decisions


@pytest.mark.parametrize(
    ("launch", "kind", "reason", "expected"),
    [
        (True, "ack", "join", None),  # the command's status completes it
        (True, "ack", "already_joining", None),  # its own claim, redelivered
        (True, "ack", "already_joined", "CONTINUE"),
        (True, "ack", "opted_out", "CONTINUE"),
        (True, "ack", "instance_not_found", None),
        (True, "ack", "terminated_during_join", None),
        (True, "ack", "duplicate_in_batch", None),
        (True, "retry", "agent_offline", None),
        (True, "reject", "retry_exhausted", "FAILURE"),
        (True, "reject", "invalid_tag", "FAILURE"),
        (False, "ack", "deleted", "CONTINUE"),
        (False, "ack", "already_left", "CONTINUE"),
        (False, "reject", "leave_denied", "CONTINUE"),
        (False, "retry", "ad_unavailable", None),
        (False, "ack", "duplicate_in_batch", None),
    ],
)
def test_lifecycle_result(launch: bool, kind: str, reason: str, expected: str | None) -> None:
    assert d.lifecycle_result(launch, kind, reason, "FAILURE") == expected


def test_status_result_needs_the_action_and_this_command_on_the_row() -> None:
    row: dict[str, object] = {"status": "joined", "commandId": "c1", d.ROW_TOKEN: "t"}
    assert d.status_result(row, "c1", "joined", "ABANDON") == "CONTINUE"
    assert d.status_result({**row, "status": "failed"}, "c1", "failed", "ABANDON") == "ABANDON"
    assert d.status_result(row, "c2", "joined", "ABANDON") is None  # another command's row
    assert d.status_result({**row, "status": "left"}, "c1", "joined", "ABANDON") is None
    assert d.status_result({"status": "joined", "commandId": "c1"}, "c1", "joined", "X") is None
    assert d.status_result(None, "c1", "joined", "ABANDON") is None


# ------------------------------------------------------------------ settings


def test_lifecycle_settings_default_and_read() -> None:
    from adjoin.settings import Settings
    from tests.unit.test_naming_passwords_settings import REQUIRED

    s = Settings.from_env(REQUIRED)
    assert (s.lifecycle_hooks, s.lifecycle_failure_result, s.lifecycle_heartbeat_timeout) == (
        False,
        "CONTINUE",
        3600,
    )
    env = {
        **REQUIRED,
        "LIFECYCLE_HOOKS": "true",
        "LIFECYCLE_FAILURE_RESULT": "abandon",
        "LIFECYCLE_HEARTBEAT_TIMEOUT": "300",
    }
    s = Settings.from_env(env)
    assert (s.lifecycle_hooks, s.lifecycle_failure_result, s.lifecycle_heartbeat_timeout) == (
        True,
        "ABANDON",
        300,
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LIFECYCLE_HOOKS", "yes", "LIFECYCLE_HOOKS must be true or false"),
        ("LIFECYCLE_FAILURE_RESULT", "RETRY", "LIFECYCLE_FAILURE_RESULT must be one of"),
        ("LIFECYCLE_HEARTBEAT_TIMEOUT", "10", "LIFECYCLE_HEARTBEAT_TIMEOUT must be between 30"),
    ],
)
def test_invalid_lifecycle_settings_are_named(name: str, value: str, message: str) -> None:
    from adjoin.settings import Settings, SettingsError
    from tests.unit.test_naming_passwords_settings import REQUIRED

    with pytest.raises(SettingsError, match=message):
        Settings.from_env({**REQUIRED, name: value})

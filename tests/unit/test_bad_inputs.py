"""Bad inputs: each one is rejected to the DLQ with its reason (body unchanged), acknowledged,
and nothing is created or sent. JSON fixtures in tests/unit/events/."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit import fakes
from tests.unit.conftest import MakeEngine, Recorder

EVENTS = Path(__file__).parent / "events"
RUNNING = json.loads((EVENTS / "ec2_running.json").read_text())
COMMAND = json.loads((EVENTS / "ssm_command_success.json").read_text())


def mutated(base: dict[str, Any], path: tuple[str, ...], value: Any) -> str:
    event = copy.deepcopy(base)
    target = event
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(event)


def sns(message: Any) -> str:
    envelope = json.loads((EVENTS / "sns_ec2_running.json").read_text())
    envelope["Message"] = message
    return json.dumps(envelope)


MALFORMED_BODIES = {
    "not-json": "this is not json",
    "empty-body": "",
    "json-array": "[1, 2, 3]",
    "json-string": '"running"',
    "json-null": "null",
    "truncated-json": json.dumps(RUNNING)[:-5],
    "wrong-detail-type": mutated(
        RUNNING, ("detail-type",), "EC2 Spot Instance Interruption Warning"
    ),
    "wrong-source": mutated(RUNNING, ("source",), "aws.s3"),
    "no-detail": mutated(RUNNING, ("detail",), KeyError),
    "detail-not-object": mutated(RUNNING, ("detail",), "running"),
    "no-instance-id": mutated(RUNNING, ("detail", "instance-id"), KeyError),
    "instance-id-number": mutated(RUNNING, ("detail", "instance-id"), 123),
    "instance-id-semicolon": mutated(RUNNING, ("detail", "instance-id"), "i-123; rm -rf /"),
    "instance-id-subshell": mutated(RUNNING, ("detail", "instance-id"), "$(reboot)"),
    "instance-id-backticks": mutated(RUNNING, ("detail", "instance-id"), "`id`"),
    "instance-id-newline": mutated(RUNNING, ("detail", "instance-id"), "i-0123456789abcdef0\nrm"),
    "instance-id-trailing-newline": mutated(
        RUNNING, ("detail", "instance-id"), "i-0123456789abcdef0\n"
    ),
    "account-trailing-newline": mutated(RUNNING, ("account",), "111111111111\n"),
    "instance-id-300": mutated(RUNNING, ("detail", "instance-id"), "i-" + "a" * 298),
    "state-stopped": mutated(RUNNING, ("detail", "state"), "stopped"),
    "state-missing": mutated(RUNNING, ("detail", "state"), KeyError),
    "account-short": mutated(RUNNING, ("account",), "12345"),
    "account-missing": mutated(RUNNING, ("account",), KeyError),
    "account-300": mutated(RUNNING, ("account",), "1" * 300),
    "region-hostile": mutated(RUNNING, ("region",), "eu-west-1;reboot"),
    "sns-wrapping-garbage": sns("garbage, not json"),
    "sns-message-object": sns({"detail": {}}),
    "sns-wrapping-array": sns("[]"),
    "sns-wrapping-empty-object": sns("{}"),
    "command-id-bad": mutated(COMMAND, ("detail", "command-id"), "abc'; drop"),
    "command-status-missing": mutated(COMMAND, ("detail", "status"), KeyError),
    "command-document-missing": mutated(COMMAND, ("detail", "document-name"), KeyError),
    # the JSON parser itself gives up (RecursionError): defect 1 of issue 8 let it escape
    "nested-arrays": "[" * 100_000 + "]" * 100_000,
    "sns-wrapping-nested-objects": sns('{"a":' * 100_000 + "1" + "}" * 100_000),
}


@pytest.mark.parametrize("body", MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
def test_malformed_bodies_go_to_the_dlq(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder, body: str
) -> None:
    record = fakes.sqs_record(body)
    assert make_engine().process([record]) == []
    [dead] = world.dlq_messages()
    assert dead["Body"] == (body or "(empty body)")
    attributes = dead["MessageAttributes"]
    assert attributes["reason"]["StringValue"] == "malformed_event"
    assert attributes["sourceMessageId"]["StringValue"] == record["messageId"]
    assert attributes["detail"]["StringValue"]
    assert fake.sent_commands() == [] and fake.created == []
    assert recorder.metrics["Rejected"] == 1


CONFIG_PROBLEMS = {
    "unknown-account": (None, "unknown_account"),
    "missing-pw-param": ({"adJoinUserPwParam": KeyError}, "invalid_config"),
    "missing-dns-name": ({"dnsName": KeyError}, "invalid_config"),
    "missing-assume-role-arn": ({"assumeRoleARN": KeyError}, "invalid_config"),
    "empty-join-user": ({"adJoinUserName": ""}, "invalid_config"),
    "dns-ip-not-ip": ({"dnsIP1": "dc1.corp; reboot"}, "invalid_config"),
    "dns-name-hostile": ({"dnsName": "corp.example.com$(id)"}, "invalid_config"),
    "ou-with-quote": ({"computerOU": 'OU=x",DC=corp'}, "invalid_config"),
    "bad-directory-adapter": ({"directoryAdapter": "kerberos"}, "invalid_config"),
    "bad-leave-adapter": ({"leaveAdapter": "rm"}, "invalid_config"),
    "bad-default-group": ({"defaultAdGroupName": "a`b`"}, "invalid_config"),
    "pw-param-not-string": ({"adJoinUserPwParam": 7}, "invalid_config"),
    "dns-ip2-not-ip": ({"dnsIP2": "10.0.0.256"}, "invalid_config"),
    "allowed-ou-not-dn": ({"allowedComputerOUs": ["OU=ok,DC=corp", "not a dn"]}, "invalid_config"),
    "allowed-ous-not-strings": ({"allowedComputerOUs": [7]}, "invalid_config"),
}


@pytest.mark.parametrize(("change", "reason"), CONFIG_PROBLEMS.values(), ids=CONFIG_PROBLEMS.keys())
def test_account_config_problems_go_to_the_dlq(
    world: fakes.World,
    fake: fakes.FakeAws,
    make_engine: MakeEngine,
    change: dict[str, Any] | None,
    reason: str,
) -> None:
    account = fakes.UNKNOWN_ACCOUNT if change is None else fakes.SPOKE_A
    if change is not None:
        item: dict[str, Any] = fakes.config_item(fakes.SPOKE_A)
        for key, value in change.items():
            if value is KeyError:
                del item[key]
            else:
                item[key] = value
        world.put_config(item)
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    body = fakes.state_event(account, "eu-west-1", iid, "running")
    record = fakes.sqs_record(body)
    assert make_engine().process([record]) == []
    [dead] = world.dlq_messages()
    assert dead["MessageAttributes"]["reason"]["StringValue"] == reason
    assert json.loads(dead["Body"]) == body
    assert fake.sent_commands() == [] and fake.created == []


HOSTILE_GROUPS = {
    "double-quote": 'Admins" || reboot "',
    "single-quote": "Admins' ; reboot '",
    "newline": "Admins\nrm -rf /",
    "carriage-return": "Admins\r",  # EC2's XML turns it into a trailing newline
    "trailing-newline": "Admins\n",
    "subshell": "$(reboot)",
    "backticks": "`id`",
    "semicolon": "a;b",
    "ampersand": "a&&b",
    "pipe": "a|b",
    "redirect": "a>/etc/passwd",
    "300-characters": "G" * 300,
    "65-characters": "G" * 65,
    "leading-space": " Admins",
    "non-ascii": "Admïns",
    "powershell-var": "$env:SSM_oneTimePassword",
    "braces": "{{ssm:secret}}",
    "empty": "",
}


@pytest.mark.parametrize("tag", ["adGroupName", "adSudoGroupName"])
@pytest.mark.parametrize("group", HOSTILE_GROUPS.values(), ids=HOSTILE_GROUPS.keys())
def test_hostile_group_tags_are_never_sent(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, group: str, tag: str
) -> None:
    # the other group tag is valid: the hostile one alone must reject the event
    tags = {"adGroupName": "Linux Users", "adSudoGroupName": "Linux Admins", tag: group}
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1", tags=tags)
    record = fakes.sqs_record(fakes.state_event(fakes.SPOKE_A, "eu-west-1", iid, "running"))
    assert make_engine().process([record]) == []
    [dead] = world.dlq_messages()
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "invalid_tag"
    assert fake.sent_commands() == [] and fake.created == []
    item = world.state(iid)
    assert item is not None and item["status"] == "failed"
    assert item["lastError"].startswith(f"{tag} tag must be")
    if group.strip():
        assert group not in json.dumps(dead["MessageAttributes"])


def test_instance_ids_that_do_not_exist_are_acknowledged_and_record_nothing(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN running events for ids EC2 does not know (a misbehaving source could send many)
    ghosts = ["i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2", "i-1234abcd"]
    records = [
        fakes.sqs_record(fakes.state_event(fakes.SPOKE_A, "eu-west-1", g, "running"))
        for g in ghosts
    ]
    # WHEN processed, THEN they are acknowledged with nothing sent and nothing dead-lettered
    assert make_engine().process(records) == []
    assert fake.sent_commands() == [] and world.dlq_messages() == []
    # AND no state row is written for them (defect 7 of issue 8), only a metric and a log line
    assert [world.state(g) for g in ghosts] == [None, None, None]
    assert recorder.metrics["InstanceNotFound"] == 3
    assert recorder.metrics["Skipped"] == 0
    assert (
        sum('"running event for an instance EC2 does not know"' in x for x in recorder.lines) == 3
    )


def test_a_body_too_deep_for_the_parser_does_not_stop_its_batch(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN a batch with a good record and a body of 100,000 nested arrays (RecursionError)
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    deep = fakes.sqs_record("[" * 100_000 + "]" * 100_000)
    good = fakes.sqs_record(fakes.state_event(fakes.SPOKE_A, "eu-west-1", iid, "running"))
    # WHEN the batch goes through the Lambda entry point
    from adjoin import handler

    handler._engine = make_engine()
    try:
        answer = handler.lambda_handler({"Records": [deep, good]}, None)
    finally:
        handler.reset()
    # THEN the handler answers, nothing is retried, the good record joined and the deep one is
    # dead-lettered with its reason
    assert answer == {"batchItemFailures": []}
    assert [c["InstanceIds"] for c in fake.sent_commands()] == [[iid]]
    [dead] = world.dlq_messages()
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "malformed_event"
    assert dead["MessageAttributes"]["sourceMessageId"]["StringValue"] == deep["messageId"]


def test_an_unexpected_error_in_a_step_retries_the_records_it_had_not_settled(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN a step that fails with a bug, and a batch with a malformed and a good record
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    engine = make_engine()

    def broken(items: object) -> None:
        raise RuntimeError("a bug")

    engine._describe_and_decide = broken  # type: ignore[method-assign]
    bad = fakes.sqs_record("not json")
    good = fakes.sqs_record(fakes.state_event(fakes.SPOKE_A, "eu-west-1", iid, "running"))
    # WHEN processed, THEN the good record is retried (not lost) and the bad one still rejected
    assert engine.process([bad, good]) == [good["messageId"]]
    [dead] = world.dlq_messages()
    assert dead["MessageAttributes"]["sourceMessageId"]["StringValue"] == bad["messageId"]
    assert fake.sent_commands() == []


def test_an_unexpected_error_while_settling_retries_the_whole_batch(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    engine = make_engine()

    def broken(receipts: object) -> set[str]:
        raise RuntimeError("a bug")

    engine.queue.dead_letter = broken  # type: ignore[method-assign]
    records = [fakes.sqs_record("not json"), fakes.sqs_record("[]")]
    assert engine.process(records) == [r["messageId"] for r in records]


def test_one_bad_record_does_not_fail_the_good_ones(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    good = fakes.sqs_record(fakes.state_event(fakes.SPOKE_A, "eu-west-1", iid, "running"))
    bad = fakes.sqs_record("{not json")
    unknown = fakes.sqs_record(
        fakes.state_event(fakes.UNKNOWN_ACCOUNT, "eu-west-1", "i-0123456789abcdef0", "running")
    )
    assert make_engine().process([bad, good, unknown]) == []
    assert [c["InstanceIds"] for c in fake.sent_commands()] == [[iid]]
    reasons = sorted(m["MessageAttributes"]["reason"]["StringValue"] for m in world.dlq_messages())
    assert reasons == ["malformed_event", "unknown_account"]


def test_dlq_send_failure_reports_the_message_as_failed(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN the DLQ cannot be written
    fake.errors["SendMessageBatch"] = "QueueDoesNotExist"
    record = fakes.sqs_record("not json")
    # WHEN a permanent failure happens, THEN the message is reported failed (not lost)
    assert make_engine().process([record]) == [record["messageId"]]


def test_state_table_throttled_is_transient_for_the_whole_batch(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    ids = fakes.launch(fakes.SPOKE_A, "eu-west-1", count=2)
    fake.errors["TransactWriteItems"] = "ProvisionedThroughputExceededException"
    records = [
        fakes.sqs_record(fakes.state_event(fakes.SPOKE_A, "eu-west-1", i, "running")) for i in ids
    ]
    failures = make_engine().process(records)
    assert sorted(failures) == sorted(r["messageId"] for r in records)
    assert fake.sent_commands() == [] and world.dlq_messages() == []


def test_assume_role_denied_is_permanent(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    fake.errors["AssumeRole"] = "AccessDenied"
    record = fakes.sqs_record(
        fakes.state_event(fakes.SPOKE_A, "eu-west-1", "i-0123456789abcdef0", "running")
    )
    assert make_engine().process([record]) == []
    [dead] = world.dlq_messages()
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "aws_error"
    assert "AccessDenied" in dead["MessageAttributes"]["detail"]["StringValue"]

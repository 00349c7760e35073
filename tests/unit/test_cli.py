"""The operator CLI `ad-join` (lambda/adjoin_cli) against moto: status, dlq list/redrive,
config put, and the console script itself."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from adjoin_cli import main as cli
from adjoin_cli.main import main
from tests.scripts.test_put_config_item import REQUIRED, SEED_ITEM

REGION = "eu-west-1"
ACCOUNT = "111122223333"
ROOT = Path(__file__).resolve().parents[2]
EVENTS = Path(__file__).parent / "events"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        tables = {}
        for kind, key in (("state", "instanceId"), ("config", "accountId")):
            tables[kind] = dynamodb.create_table(
                TableName=f"ad-join-{kind}",
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        sqs = boto3.client("sqs", region_name=REGION)
        queues = {
            k: sqs.create_queue(QueueName=f"ad-join-{k}")["QueueUrl"] for k in ("queue", "dlq")
        }
        yield {"tables": tables, "sqs": sqs, "queues": queues}


def state_item(instance_id: str, account: str = ACCOUNT, status: str = "joined") -> dict[str, Any]:
    return {
        "instanceId": instance_id,
        "accountId": account,
        "region": REGION,
        "platform": "linux",
        "computerName": "EC2" + instance_id[-12:].upper(),
        "status": status,
        "commandId": "cmd-1",
        "attempts": 1,
        "lastError": "",
        "history": [{"status": status, "at": "2026-12-01T00:00:00Z", "reason": "r"}],
    }


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def dead_letter(hub: dict[str, Any], body: str, reason: str) -> str:
    sent = hub["sqs"].send_message(
        QueueUrl=hub["queues"]["dlq"],
        MessageBody=body,
        MessageAttributes={
            "reason": {"DataType": "String", "StringValue": reason},
            "detail": {"DataType": "String", "StringValue": f"because {reason}"},
            "sourceMessageId": {"DataType": "String", "StringValue": "src-1"},
        },
    )
    return str(sent["MessageId"])


def queued(hub: dict[str, Any], kind: str) -> list[str]:
    response = hub["sqs"].receive_message(
        QueueUrl=hub["queues"][kind], MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [m["Body"] for m in response.get("Messages", [])]


# ---- status ---------------------------------------------------------------------------------


def test_status_of_an_instance_shows_state_command_error_name_and_history(
    hub: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    item = {**state_item("i-0123456789abcdef0", status="failed"), "lastError": "command Failed"}
    hub["tables"]["state"].put_item(Item=item)
    assert main(["status", "--instance", "i-0123456789abcdef0"]) == 0
    [shown] = lines(capsys.readouterr().out)
    assert shown["status"] == "failed"
    assert shown["commandId"] == "cmd-1"
    assert shown["lastError"] == "command Failed"
    assert shown["computerName"] == "EC256789ABCDEF0"
    assert shown["attempts"] == 1
    assert shown["history"][0]["status"] == "failed"


def test_status_of_an_unknown_instance_exits_1(
    hub: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--instance", "i-0123456789abcdef0"]) == 1
    assert "no state for i-0123456789abcdef0" in capsys.readouterr().err


def test_status_of_an_account_lists_its_instances_only(
    hub: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(3):
        hub["tables"]["state"].put_item(Item=state_item(f"i-0{n}23456789abcdef0"))
    hub["tables"]["state"].put_item(Item=state_item("i-0f23456789abcdef0", "444455556666"))
    assert main(["status", "--account", ACCOUNT]) == 0
    captured = capsys.readouterr()
    shown = lines(captured.out)
    assert [s["instanceId"] for s in shown] == [f"i-0{n}23456789abcdef0" for n in range(3)]
    assert "3 instance(s) of account 111122223333" in captured.err


@pytest.mark.parametrize(
    "args", [["status"], ["status", "--instance", "web-1"], ["status", "--account", "12"]]
)
def test_status_needs_a_valid_instance_or_account(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2


# ---- dlq ------------------------------------------------------------------------------------


def test_dlq_list_shows_reasons_and_instances_and_keeps_the_messages(
    hub: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    running = (EVENTS / "ec2_running.json").read_text()
    first = dead_letter(hub, running, "invalid_tag")
    second = dead_letter(hub, "not json", "malformed_event")
    assert main(["dlq", "list"]) == 0
    shown = {s["messageId"]: s for s in lines(capsys.readouterr().out)}
    assert set(shown) == {first, second}
    event = json.loads(running)
    assert shown[first]["reason"] == "invalid_tag"
    assert shown[first]["detail"] == "because invalid_tag"
    assert shown[first]["instanceId"] == event["detail"]["instance-id"]
    assert shown[first]["account"] == event["account"]
    assert shown[second]["reason"] == "malformed_event"
    assert "instanceId" not in shown[second]
    assert len(queued(hub, "dlq")) == 2  # listing moved nothing


def test_dlq_redrive_moves_the_chosen_messages_only(
    hub: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    dead_letter(hub, '{"keep": 1}', "malformed_event")
    move = dead_letter(hub, '{"move": 1}', "retry_exhausted")
    assert main(["dlq", "redrive", move]) == 0
    assert [s["redriven"] for s in lines(capsys.readouterr().out)] == [move]
    assert queued(hub, "queue") == ['{"move": 1}']
    assert queued(hub, "dlq") == ['{"keep": 1}']


def test_dlq_redrive_all_and_unknown_ids(
    hub: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(3):
        dead_letter(hub, f'{{"n": {n}}}', "retry_exhausted")
    assert main(["dlq", "redrive", "--all"]) == 0
    assert sorted(queued(hub, "queue")) == ['{"n": 0}', '{"n": 1}', '{"n": 2}']
    assert queued(hub, "dlq") == []
    assert main(["dlq", "redrive", "no-such-id"]) == 1
    assert "message no-such-id is not in ad-join-dlq" in capsys.readouterr().err


def test_dlq_redrive_needs_ids_or_all(hub: dict[str, Any]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["dlq", "redrive"])
    assert exited.value.code == 2


def test_a_missing_queue_is_an_aws_error_with_exit_1(
    hub: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dlq", "list", "--name-prefix", "other"]) == 1
    assert "ad-join dlq:" in capsys.readouterr().err


# ---- config put -----------------------------------------------------------------------------


def test_config_put_writes_the_item_like_put_config_item(hub: dict[str, Any]) -> None:
    assert main(["config", "put", *REQUIRED]) == 0
    stored = hub["tables"]["config"].get_item(Key={"accountId": ACCOUNT})["Item"]
    assert stored == SEED_ITEM


def test_config_put_refuses_a_bad_value_with_exit_2(
    hub: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    args = [*REQUIRED]
    args[args.index("10.0.0.10")] = "10.0.0.300"
    with pytest.raises(SystemExit) as exited:
        main(["config", "put", *args])
    assert exited.value.code == 2
    assert "ad-join config put" in capsys.readouterr().err


# ---- the console script ---------------------------------------------------------------------


def test_the_console_script_is_the_projects_entry_point() -> None:
    [entry] = [e for e in metadata.entry_points(group="console_scripts") if e.name == "ad-join"]
    assert entry.value == "adjoin_cli.main:main"
    assert entry.load() is main
    script = Path(sys.executable).parent / "ad-join"
    # the installed script with this checkout's code first (the venv may be shared by checkouts)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lambda")}
    proc = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, check=False, env=env
    )
    assert proc.returncode == 0, proc.stderr
    for command in ("status", "dlq", "reconcile", "config"):
        assert command in proc.stdout


def test_the_cli_is_not_in_the_lambda_package() -> None:
    assert not (ROOT / "lambda" / "adjoin" / "cli.py").exists()
    assert (ROOT / "lambda" / "adjoin_cli" / "main.py").exists()


# ---- reconcile ------------------------------------------------------------------------------


class FakeLambda:
    """A Lambda client that answers Invoke as the hub Lambda would (moto's needs Docker)."""

    def __init__(self, answer: dict[str, Any], error: bool = False) -> None:
        self.answer, self.error = answer, error
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        reply: dict[str, Any] = {"Payload": io.BytesIO(json.dumps(self.answer).encode())}
        if self.error:
            reply["FunctionError"] = "Unhandled"
        return reply


def test_reconcile_dry_run_of_one_task_prints_its_plan(
    hub: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeLambda({"account": ACCOUNT, "plan": {"steps": [{"kind": "join"}]}, "skipped": ""})
    monkeypatch.setattr(cli, "_lambda_client", lambda session, endpoint: fake)
    args = ["reconcile", "--account", ACCOUNT, "--task-region", REGION, "--dry-run"]
    assert main(args) == 0
    [call] = fake.calls
    assert call["FunctionName"] == "ad-join"
    assert json.loads(call["Payload"]) == {
        "action": "reconcile", "dryRun": True, "account": ACCOUNT, "region": REGION,
    }  # fmt: skip
    assert lines(capsys.readouterr().out)[0]["plan"]["steps"] == [{"kind": "join"}]


def test_reconcile_reports_a_skipped_task_and_a_failed_lambda(
    hub: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    skipped = FakeLambda({"skipped": "throttled: DescribeInstances"})
    monkeypatch.setattr(cli, "_lambda_client", lambda session, endpoint: skipped)
    assert main(["reconcile", "--account", ACCOUNT, "--task-region", REGION]) == 1
    failed = FakeLambda({"errorMessage": "boom"}, error=True)
    monkeypatch.setattr(cli, "_lambda_client", lambda session, endpoint: failed)
    assert main(["reconcile"]) == 1
    assert json.loads(failed.calls[0]["Payload"]) == {"action": "reconcile", "dryRun": False}
    assert "the Lambda failed" in capsys.readouterr().err


def test_reconcile_needs_account_and_region_together(hub: dict[str, Any]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["reconcile", "--account", ACCOUNT])
    assert exited.value.code == 2

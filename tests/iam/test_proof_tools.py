"""The proof's own tools: the evaluator is a real one (it decides conditions as AWS documents),
the recorder keeps no secret, and the coverage check notices a call without a proof case."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tests.iam import coverage, recorder, simulator

KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _events_to_topic(test: str) -> simulator.Case:
    """The spoke-region key policy's EventBridge statement with the given operator."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EventBridgeToTopic",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "*",
                "Condition": {test: {"aws:SourceAccount": "123456789012"}},
            }
        ],
    }
    return simulator.Case(
        "events", "delivery", "events.amazonaws.com", "kms:GenerateDataKey", KEY, "123456789012",
        resource_policy=policy,
    )  # fmt: skip


def _with(case: simulator.Case, case_id: str, **context: str) -> simulator.Case:
    return simulator.Case(**{**case.__dict__, "id": case_id, "context": context})


def test_the_old_key_statement_refuses_events_without_a_source_account() -> None:
    # issue 9, defect 1: SNS's page names no aws:SourceAccount on this KMS call
    old = _events_to_topic("StringEquals")
    verdicts = simulator.evaluate(
        [_with(old, "absent"), _with(old, "present", **{"aws:SourceAccount": "123456789012"})]
    )
    assert [v.result for v in verdicts] == ["ImplicitlyDenied", "Allowed"]


def test_the_if_exists_statement_admits_events_and_refuses_another_account() -> None:
    new = _events_to_topic("StringEqualsIfExists")
    verdicts = simulator.evaluate(
        [
            _with(new, "absent"),
            _with(new, "ours", **{"aws:SourceAccount": "123456789012"}),
            _with(new, "theirs", **{"aws:SourceAccount": "999999999999"}),
        ]
    )
    assert [v.result for v in verdicts] == ["Allowed", "Allowed", "ImplicitlyDenied"]


def test_an_encryption_context_condition_is_evaluated_not_dropped() -> None:
    log_group = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/ad-join"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "logs.us-east-1.amazonaws.com"},
                "Action": "kms:GenerateDataKey",
                "Resource": "*",
                "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": log_group}},
            }
        ],
    }
    base = simulator.Case(
        "x", "delivery", "logs.us-east-1.amazonaws.com", "kms:GenerateDataKey", KEY,
        "123456789012", resource_policy=policy,
    )  # fmt: skip
    key = "kms:EncryptionContext:aws:logs:arn"
    verdicts = simulator.evaluate(
        [_with(base, "ours", **{key: log_group}), _with(base, "other", **{key: log_group + "x"})]
    )
    assert [v.result for v in verdicts] == ["Allowed", "ImplicitlyDenied"]
    assert verdicts[0].raw["unvalidated"] == [key]


def test_an_unknown_action_is_an_error_never_a_pass() -> None:
    case = simulator.Case(
        "x", "request", "arn:aws:iam::123456789012:role/r", "nope:Nothing", "*", "1"
    )
    (verdict,) = simulator.evaluate([case])
    assert verdict.result == "Error" and not verdict.ok


def test_the_recorder_keeps_identifiers_and_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    path = tmp_path / "requests.jsonl"
    with mock_aws(), recorder.recording(path, "arn:aws:sts::123456789012:assumed-role/l/s"):
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name="/p", Value="Secret-Value-9", Type="SecureString")
        role = boto3.client("sts", region_name="us-east-1").assume_role(
            RoleArn="arn:aws:iam::111111111111:role/spoke", RoleSessionName="s1"
        )["Credentials"]
        spoke = boto3.Session(
            aws_access_key_id=role["AccessKeyId"],
            aws_secret_access_key=role["SecretAccessKey"],
            aws_session_token=role["SessionToken"],
        ).client("ssm", region_name="eu-west-1")
        spoke.send_command(
            InstanceIds=["i-0123456789abcdef0"],
            DocumentName="AWS-RunShellScript",
            Parameters={"commands": ["echo Secret-Value-9"]},
        )
    text = path.read_text()
    assert "Secret-Value-9" not in text
    records = recorder.read(path)
    assert [(r["operation"], r["region"]) for r in records] == [
        ("PutParameter", "us-east-1"),
        ("AssumeRole", "us-east-1"),
        ("SendCommand", "eu-west-1"),
    ]
    assert records[0]["principal"] == "arn:aws:sts::123456789012:assumed-role/l/s"
    assert records[2]["principal"].startswith("arn:aws:sts::111111111111:assumed-role/spoke/")
    assert records[2]["params"] == {
        "DocumentName": "AWS-RunShellScript",
        "InstanceIds": ["i-0123456789abcdef0"],
    }


def test_the_coverage_check_names_a_call_without_a_proof_case(tmp_path: Path) -> None:
    package = tmp_path / "adjoin"
    package.mkdir()
    (package / "new.py").write_text(
        textwrap.dedent(
            """
            def f(kms, ddb):
                kms.generate_mac(KeyId="k", Message=b"m", MacAlgorithm="HMAC_SHA_256")
                ddb.get_item(TableName="t", Key={})
                retry(asg.complete_lifecycle_action, LifecycleHookName="h")
                print("not.an_aws_call")
            """
        )
    )
    calls = coverage.lambda_calls(package)
    # a bound method handed to a helper is a call site too
    assert sorted(calls) == ["complete_lifecycle_action", "generate_mac", "get_item"]
    del calls["complete_lifecycle_action"]
    recorded = [{"operation": "GetItem"}]
    assert coverage.uncovered(calls, recorded) == {"generate_mac": ["adjoin/new.py:3"]}


def test_the_driver_reads_one_batch_and_answers_in_order() -> None:
    cases = [_with(_events_to_topic("StringEquals"), f"c{n}") for n in range(3)]
    verdicts = simulator.evaluate(cases)
    assert [v.case.id for v in verdicts] == ["c0", "c1", "c2"]
    assert json.loads(json.dumps(verdicts[0].raw))["id"] == "c0"

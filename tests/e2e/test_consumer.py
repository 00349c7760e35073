"""The event source mapping stand-in (harness.EventSourceMappingConsumer) against a moto server.

Lambda's SQS poller: a record the function reports in `batchItemFailures` stays in the queue and
comes back; the others are deleted; a function error returns the whole batch; without
`ReportBatchItemFailures` a successful invocation deletes the whole batch; after
`maxReceiveCount` receives SQS moves the message to the dead-letter queue.
"""

from __future__ import annotations

import io
import json
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from tests.e2e import moto_patches
from tests.e2e.harness import HUB_REGION, Aws, EventSourceMappingConsumer, free_port

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class FakeRuntime:
    """The parts of LambdaRuntime the consumer uses; `answer` decides each invocation."""

    def __init__(self, config: dict[str, Any], answer: Handler) -> None:
        self.function_name = config["FunctionName"]
        self.config = config
        self.answer = answer
        self.invocations: list[list[str]] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.invocations.append([r["body"] for r in event["Records"]])
        return self.answer(event)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "MOTO_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    port = free_port()
    with moto_patches.patched():
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
        server.start()
        endpoint = f"http://127.0.0.1:{port}"
        try:
            yield Aws(endpoint)
        finally:
            # backends are process-wide: leave none of this test's resources to the next one
            reset = f"{endpoint}/moto-api/reset"
            request = urllib.request.Request(reset, method="POST")  # noqa: S310 - loopback
            urllib.request.urlopen(request, timeout=10).close()  # noqa: S310
            server.stop()


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


def world(aws: Aws, answer: Handler, *, report_failures: bool = True) -> tuple[Any, Any, Any]:
    iam, lam, sqs = aws.client("iam"), aws.client("lambda"), aws.client("sqs")
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    config = lam.create_function(
        FunctionName="fn",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": _zip()},
    )
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    redrive = {"deadLetterTargetArn": f"arn:aws:sqs:{HUB_REGION}:123456789012:dlq"}
    queue = sqs.create_queue(
        QueueName="q",
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({**redrive, "maxReceiveCount": 2}),
        },
    )["QueueUrl"]
    lam.create_event_source_mapping(
        EventSourceArn=f"arn:aws:sqs:{HUB_REGION}:123456789012:q",
        FunctionName=config["FunctionArn"],
        BatchSize=10,
        MaximumBatchingWindowInSeconds=0,
        FunctionResponseTypes=["ReportBatchItemFailures"] if report_failures else [],
    )
    runtime = FakeRuntime(config, answer)
    consumer = EventSourceMappingConsumer(aws, runtime)  # type: ignore[arg-type]
    for body in ("a", "b", "bad"):
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    return consumer, runtime, (sqs, queue, dlq)


def fail_bad(event: dict[str, Any]) -> dict[str, Any]:
    failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "bad"]
    return {"result": {"batchItemFailures": failures}}


def bodies(sqs: Any, url: str) -> list[str]:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return sorted(m["Body"] for m in got.get("Messages", []))


def test_reported_failures_come_back_and_reach_the_dlq_after_max_receive_count(aws: Aws) -> None:
    consumer, runtime, (sqs, queue, dlq) = world(aws, fail_bad)
    assert (consumer.batch_size, consumer.max_receive_count) == (10, 2)

    for _ in range(4):
        consumer.poll_once(wait=0)

    assert sorted(runtime.invocations[0]) == ["a", "b", "bad"]
    assert runtime.invocations[1] == ["bad"]  # the reported failure came back alone
    assert len(runtime.invocations) == 2  # the third receive moved it to the DLQ instead
    assert bodies(sqs, queue) == []
    assert bodies(sqs, dlq) == ["bad"]
    assert [b.failures != [] for b in consumer.batches] == [True, True]


def test_a_function_error_returns_the_whole_batch(aws: Aws) -> None:
    consumer, _, (sqs, queue, _) = world(aws, lambda _: {"error": "Boom: crashed"})

    batch = consumer.poll_once(wait=0)

    assert batch is not None and batch.error == "Boom: crashed"
    assert sorted(batch.failures) == sorted(batch.message_ids)
    assert bodies(sqs, queue) == ["a", "b", "bad"]


def test_without_report_batch_item_failures_a_success_deletes_the_whole_batch(aws: Aws) -> None:
    consumer, _, (sqs, queue, dlq) = world(aws, fail_bad, report_failures=False)

    consumer.poll_once(wait=0)

    assert bodies(sqs, queue) == []
    assert bodies(sqs, dlq) == []
    assert consumer.batches[0].failures == []

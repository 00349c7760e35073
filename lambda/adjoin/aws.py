"""Small adapters over boto3 clients (each takes its client in the constructor) and the
classification of AWS errors into transient and permanent ones."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from adjoin.decisions import InstanceInfo, platform_of
from adjoin.errors import AdJoinError, PermanentError, TransientError

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "RequestThrottledException",
        "TransactionConflictException",
        "InternalServerError",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServiceException",
        "LimitExceededException",
    }
)


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


#: the longest wait a service may ask for that the engine honours (SQS's visibility limit, 12 h)
MAX_RETRY_AFTER_SECONDS = 43200


def http_status(exc: BaseException) -> int:
    if isinstance(exc, ClientError):
        return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return 0


def retry_after(exc: BaseException) -> int | None:
    """The wait a service asked for with its error, in seconds, or None.

    Some AWS error shapes carry a `RetryAfterSeconds` member (botocore adds modeled error members
    to the top of the parsed response), and any HTTP answer may carry `Retry-After` in
    delay-seconds form (RFC 9110, section 10.2.3:
    https://www.rfc-editor.org/rfc/rfc9110#field.retry-after). The HTTP-date form is ignored
    (the backoff applies then).
    """
    if not isinstance(exc, ClientError):
        return None
    fields = [*exc.response.items(), *(exc.response.get("Error") or {}).items()]
    values = [v for k, v in fields if k.lower() == "retryafterseconds"]
    headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or {}
    values += [v for k, v in headers.items() if k.lower() == "retry-after"]
    seconds = [int(v) for v in values if str(v).strip().isdigit()]
    return min(max(seconds), MAX_RETRY_AFTER_SECONDS) if seconds else None


def classify(exc: BaseException, what: str) -> AdJoinError:
    """Map an exception from boto3 to a TransientError or PermanentError (message names the
    operation and error code only: request parameters never end up in it)."""
    if isinstance(exc, AdJoinError):
        return exc
    code = error_code(exc)
    if isinstance(exc, ClientError):
        status = http_status(exc)
        if code in THROTTLING_CODES or status >= 500:
            return TransientError(
                f"{what}: {code or status}", reason="throttled", retry_after=retry_after(exc)
            )
        return PermanentError(f"{what}: {code}", reason="aws_error")
    if isinstance(exc, ConnectionError | ReadTimeoutError | BotoCoreError):
        return TransientError(f"{what}: {type(exc).__name__}", reason="aws_unreachable")
    if isinstance(exc, ResponseParserError):  # e.g. a 5xx page of a proxy: try again later
        return TransientError(f"{what}: {type(exc).__name__}", reason="aws_unreadable_answer")
    return PermanentError(f"{what}: {type(exc).__name__}", reason="internal_error")


def chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Ec2Adapter:
    """DescribeInstances and CreateTags in one account and Region."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @staticmethod
    def _info(raw: dict[str, Any]) -> InstanceInfo:
        tags = {t["Key"]: t.get("Value", "") for t in raw.get("Tags", []) if "Key" in t}
        return InstanceInfo(
            instance_id=raw["InstanceId"],
            state=raw.get("State", {}).get("Name", "unknown"),
            platform=platform_of(raw.get("Platform"), raw.get("PlatformDetails")),
            tags=tags,
        )

    def _collect(self, **kwargs: Any) -> dict[str, InstanceInfo]:
        found: dict[str, InstanceInfo] = {}
        while True:
            response = self._client.describe_instances(**kwargs)
            for reservation in response.get("Reservations", []):
                for raw in reservation.get("Instances", []):
                    info = self._info(raw)
                    found[info.instance_id] = info
            token = response.get("NextToken")
            if not token:
                return found
            kwargs["NextToken"] = token

    def describe(self, instance_ids: list[str]) -> dict[str, InstanceInfo]:
        """One call for all ids; if one id is unknown (InvalidInstanceID.NotFound), one
        filter query instead, which simply omits unknown ids."""
        found: dict[str, InstanceInfo] = {}
        for part in chunks(sorted(set(instance_ids)), 200):
            try:
                found.update(self._collect(InstanceIds=part))
            except ClientError as exc:
                if not error_code(exc).startswith("InvalidInstanceID"):
                    raise
                found.update(self._collect(Filters=[{"Name": "instance-id", "Values": part}]))
        return found

    def all_instances(self) -> dict[str, InstanceInfo]:
        """Every instance of the account and Region, page by page (the reconciler's view)."""
        return self._collect(MaxResults=1000)

    def tag(self, instance_ids: list[str], key: str, value: str) -> None:
        self._client.create_tags(Resources=instance_ids, Tags=[{"Key": key, "Value": value}])

    def find_by_tag(self, key: str, value: str) -> list[str]:
        """Running instances carrying the tag key=value, sorted by id."""
        found = self._collect(
            Filters=[
                {"Name": f"tag:{key}", "Values": [value]},
                {"Name": "instance-state-name", "Values": ["running"]},
            ]
        )
        return sorted(found)


#: botocore errors raised before a request was sent: retrying them cannot run a command twice
_NOT_SENT = (EndpointConnectionError, ConnectTimeoutError)
#: SendCommand attempts for answers that prove the command was not accepted (throttling)
SEND_ATTEMPTS = 3
#: how the adapters wait between such attempts (the chaos harness replaces it)
retry_sleep: Callable[[float], None] = time.sleep


def _not_accepted(exc: BaseException) -> bool:
    """True when the answer proves the service did not run the request: a 4xx throttling
    answer, or a connection that was never made. A 5xx or a lost answer proves nothing."""
    if isinstance(exc, _NOT_SENT):
        return True
    return (
        isinstance(exc, ClientError)
        and 400 <= http_status(exc) < 500
        and error_code(exc) in THROTTLING_CODES
    )


def iso_ms(epoch_ms: int) -> str:
    """ISO 8601 UTC with seconds, as SSM's InvokedAfter filter takes it."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SsmAdapter:
    """DescribeInstanceInformation, SendCommand and ListCommandInvocations in one account and
    Region.

    SendCommand is not idempotent (it has no client token), so it goes through `send_client`, a
    client without botocore's retries: botocore would resend after a 5xx or a read timeout, and
    the first command may have been accepted. `send` retries only answers that prove the
    command was not accepted and raises `CommandUnconfirmed` for the others; the caller then
    looks for the command (`find_commands`, by the marker in its comment) before it sends again.
    """

    def __init__(self, client: Any, send_client: Any | None = None) -> None:
        self._client = client
        self._send_client = send_client or client

    def online(self, instance_ids: list[str]) -> set[str]:
        """The ids whose SSM agent reports Online (one call per 50 ids in the usual case)."""
        online: set[str] = set()
        for part in chunks(sorted(set(instance_ids)), 50):
            kwargs: dict[str, Any] = {
                "Filters": [{"Key": "InstanceIds", "Values": part}],
                "MaxResults": 50,
            }
            while True:
                response = self._client.describe_instance_information(**kwargs)
                for info in response.get("InstanceInformationList", []):
                    if info.get("PingStatus") == "Online":
                        online.add(info["InstanceId"])
                token = response.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token
        return online

    def send(
        self, instance_id: str, document: str, parameters: dict[str, str], comment: str
    ) -> str:
        """Run the document on the instance; returns the command id."""
        for attempt in range(SEND_ATTEMPTS):
            try:
                response = self._send_client.send_command(
                    InstanceIds=[instance_id],
                    DocumentName=document,
                    Parameters={key: [value] for key, value in parameters.items()},
                    Comment=comment[:100],
                    TimeoutSeconds=600,
                )
            except Exception as exc:
                if not _not_accepted(exc):
                    if isinstance(exc, ClientError) and http_status(exc) < 500:
                        raise  # a definite refusal (access denied, invalid instance, ...)
                    raise CommandUnconfirmed(
                        f"SendCommand {document}: {error_code(exc) or type(exc).__name__} "
                        "(the command may have been accepted)",
                        retry_after=retry_after(exc),
                    ) from None
                if attempt + 1 == SEND_ATTEMPTS:
                    raise
                retry_sleep(random.uniform(0, 0.2 * 2**attempt))  # noqa: S311 - jitter
                continue
            return str(response["Command"]["CommandId"])
        raise AssertionError("unreachable")  # pragma: no cover

    def find_commands(
        self, instance_id: str, document: str, marker: str, after_ms: int
    ) -> list[tuple[str, str]]:
        """(command id, status) of the invocations of `document` on the instance since
        `after_ms` whose comment holds `marker`, oldest first."""
        kwargs: dict[str, Any] = {
            "InstanceId": instance_id,
            "Filters": [
                {"key": "DocumentName", "value": document},
                {"key": "InvokedAfter", "value": iso_ms(after_ms - 60_000)},
            ],
            "MaxResults": 50,
        }
        found: list[tuple[Any, str, str]] = []
        while True:
            response = self._client.list_command_invocations(**kwargs)
            for inv in response.get("CommandInvocations", []):
                if marker in str(inv.get("Comment", "")):
                    found.append(
                        (inv.get("RequestedDateTime"), str(inv["CommandId"]), str(inv["Status"]))
                    )
            token = response.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
        found.sort(key=lambda f: str(f[0]))
        return [(command_id, status) for _, command_id, status in found]


class CommandUnconfirmed(TransientError):
    """SendCommand's answer was lost (5xx, timeout): the command may have been accepted."""

    reason = "command_unconfirmed"


class SecretReader:
    """Reads the join user's password (SSM SecureString or Secrets Manager ARN), cached.

    The value is returned to the caller only; it is never logged nor put in an exception.
    """

    def __init__(
        self,
        ssm_client: Any,
        secrets_client_factory: Callable[[], Any],
        ttl_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ssm = ssm_client
        self._secrets_factory = secrets_client_factory
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()
        self._reading: dict[str, threading.Lock] = {}

    def get(self, name: str) -> str:
        # One read per name at a time: concurrent leaves of a batch (threads) wait for the
        # first read instead of each reading the same secret again.
        with self._lock:
            name_lock = self._reading.setdefault(name, threading.Lock())
        with name_lock:
            return self._get(name)

    def _get(self, name: str) -> str:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(name)
            if cached and now - cached[0] < self._ttl:
                return cached[1]
        try:
            if name.startswith("arn:") and ":secretsmanager:" in name:
                value = str(self._secrets_factory().get_secret_value(SecretId=name)["SecretString"])
            else:
                response = self._ssm.get_parameter(Name=name, WithDecryption=True)
                value = str(response["Parameter"]["Value"])
        except Exception as exc:  # classify without the response body
            raise classify(exc, f"read secret {name}") from None
        with self._lock:
            self._cache[name] = (now, value)
        return value


#: items per TransactGetItems call (see StateStore.get_many)
TRANSACT_GET_MAX = 25


@dataclass(frozen=True)
class Transition:
    """One conditional state write. `condition` names one of StateStore.CONDITIONS."""

    instance_id: str
    status: str
    reason: str
    condition: str
    at: str
    message_id: str = ""
    command_id: str | None = None
    attributes: tuple[tuple[str, Any], ...] = ()
    claim: bool = False  # a new join attempt: count it, clear commandId and lastError
    set_status: bool = True  # False when the condition already pins the status
    #: for the `unchanged` condition: (status, updatedAt, history length) of the item as read
    seen: tuple[str, str, int] | None = None


class StateStore:
    """Conditional writes of the state table, batched with TransactWriteItems."""

    CONDITIONS: ClassVar[dict[str, str]] = {
        # a new join may start; a redelivery of the claiming message may resume its claim
        "claim": "attribute_not_exists(instanceId) OR #status IN (:pending, :skipped, :failed)"
        " OR (#status = :joining AND claimedBy = :mid AND attribute_not_exists(commandId))",
        "joinable": "attribute_not_exists(instanceId) OR #status IN (:pending, :skipped, :failed)",
        "owned": "#status = :joining AND claimedBy = :mid",
        "command": "#status = :joining AND commandId = :cid",
        "leaving": "#status = :leaving",
        "not_left": "attribute_not_exists(instanceId) OR #status <> :left",
        # the item is still the one a read returned (every write sets updatedAt; a transition
        # also appends to history), or there still is none
        "unchanged": "#status = :seen_status AND updatedAt = :seen_at AND size(history) = :seen_n",
        "absent": "attribute_not_exists(instanceId)",
    }
    #: conditions that only pass for an existing item
    EXISTING = frozenset({"owned", "command", "leaving", "unchanged"})
    _STATUS_VALUES = ("pending", "skipped", "failed", "joining", "leaving", "left")

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _update(self, t: Transition) -> dict[str, Any]:
        ser = TypeSerializer()
        condition = self.CONDITIONS[t.condition]
        names = {"#status": "status"}
        values: dict[str, Any] = {
            ":status": t.status,
            ":at": t.at,
            ":h": [{"status": t.status, "at": t.at, "reason": t.reason}],
            ":empty": [],
        }
        for status in self._STATUS_VALUES:
            if f":{status}" in condition:
                values[f":{status}"] = status
        if ":mid" in condition or t.claim:
            values[":mid"] = t.message_id
        if ":cid" in condition:
            values[":cid"] = t.command_id or ""
        if t.condition == "unchanged":
            if t.seen is None:
                raise ValueError("the unchanged condition needs the item as read")
            values[":seen_status"], values[":seen_at"], values[":seen_n"] = t.seen
        sets = ["updatedAt = :at"]
        if t.set_status:  # a transition: recorded in the history
            sets += [
                "#status = :status",
                "history = list_append(if_not_exists(history, :empty), :h)",
            ]
        else:  # the same status with more detail (e.g. the command id): no new history entry
            for key in (":status", ":h", ":empty"):
                del values[key]
        if t.condition not in self.EXISTING:  # the item may be new
            sets.append("createdAt = if_not_exists(createdAt, :at)")
        for index, (key, value) in enumerate(t.attributes):
            names[f"#a{index}"] = key
            values[f":a{index}"] = value
            sets.append(f"#a{index} = :a{index}")
        expression = "SET " + ", ".join(sets)
        if t.claim:
            expression += ", claimedBy = :mid REMOVE commandId, lastError ADD attempts :one"
            values[":one"] = 1
        return {
            "TableName": self._table,
            "Key": {"instanceId": {"S": t.instance_id}},
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {k: ser.serialize(v) for k, v in values.items()},
        }

    @staticmethod
    def _plain(item: dict[str, Any] | None) -> dict[str, Any] | None:
        if not item:
            return None
        des = TypeDeserializer()
        return {k: des.deserialize(v) for k, v in item.items()}

    def apply(self, transitions: list[Transition]) -> dict[str, tuple[bool, dict[str, Any] | None]]:
        """Apply the transitions (instance ids must be unique). Returns, per instance id,
        (applied, the old item when the condition refused it, None if there was none). A
        refused item does not stop the others: the transaction is re-run without it."""
        results: dict[str, tuple[bool, dict[str, Any] | None]] = {}
        for part in chunks(transitions, 100):
            pending = list(part)
            while pending:
                if len(pending) == 1:
                    results.update(self._apply_one(pending[0]))
                    break
                items = [{"Update": self._update(t)} for t in pending]
                for item in items:
                    item["Update"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
                try:
                    self._client.transact_write_items(TransactItems=items)
                except ClientError as exc:
                    if error_code(exc) != "TransactionCanceledException":
                        raise
                    reasons = exc.response.get("CancellationReasons", [])
                    if len(reasons) != len(pending):
                        raise
                    retry: list[Transition] = []
                    for t, reason in zip(pending, reasons, strict=True):
                        code = reason.get("Code")
                        if code == "ConditionalCheckFailed":
                            results[t.instance_id] = (False, self._plain(reason.get("Item")))
                        elif code in (None, "None"):
                            retry.append(t)
                        else:
                            raise
                    pending = retry
                    continue
                for t in pending:
                    results[t.instance_id] = (True, None)
                pending = []
        return results

    def _apply_one(self, t: Transition) -> dict[str, tuple[bool, dict[str, Any] | None]]:
        applied, old = self.update_returning_old(t, return_old=False)
        return {t.instance_id: (applied, old)}

    def update_returning_old(
        self, t: Transition, *, return_old: bool = True
    ) -> tuple[bool, dict[str, Any] | None]:
        """One conditional write: (applied, the old item). A refused write always returns the
        old item (None if there was none); an applied one only with `return_old`."""
        request = self._update(t)
        request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        if return_old:
            request["ReturnValues"] = "ALL_OLD"
        try:
            response = self._client.update_item(**request)
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False, self._plain(exc.response.get("Item"))
        return True, self._plain(response.get("Attributes"))

    #: the state table's index by account and Region (modules/hub tables.tf)
    ACCOUNT_INDEX: ClassVar[str] = "by-account"

    def rows_of(self, account: str, region: str) -> dict[str, dict[str, Any]]:
        """Every state item of one account and Region, by instance id (index query, paged)."""
        des = TypeDeserializer()
        rows: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": self.ACCOUNT_INDEX,
            "KeyConditionExpression": "accountId = :a AND #region = :r",
            "ExpressionAttributeNames": {"#region": "region"},
            "ExpressionAttributeValues": {":a": {"S": account}, ":r": {"S": region}},
        }
        while True:
            response = self._client.query(**kwargs)
            for raw in response.get("Items", []):
                item = {k: des.deserialize(v) for k, v in raw.items()}
                rows[str(item["instanceId"])] = item
            if "LastEvaluatedKey" not in response:
                return rows
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    @staticmethod
    def seen_of(item: dict[str, Any] | None) -> tuple[str, str, int] | None:
        """What the `unchanged` condition compares, or None when the item lacks it."""
        if not item:
            return None
        status, at, history = item.get("status"), item.get("updatedAt"), item.get("history")
        if not isinstance(status, str) or not isinstance(at, str) or not isinstance(history, list):
            return None
        return status, at, len(history)

    def get_many(self, instance_ids: list[str]) -> dict[str, dict[str, Any] | None]:
        """The items of the ids (None: no item), read together: TransactGetItems, 25 per call
        (AWS takes 100; moto 5.2.5, which every test runs on, still refuses more than 25).
        Its reads are serializable, so as current as a consistent read (authorized as the
        GetItem of each item:
        https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html,
        https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactGetItems.html)."""
        found: dict[str, dict[str, Any] | None] = {}
        for part in chunks(sorted(set(instance_ids)), TRANSACT_GET_MAX):
            response = self._client.transact_get_items(
                TransactItems=[
                    {"Get": {"TableName": self._table, "Key": {"instanceId": {"S": i}}}}
                    for i in part
                ]
            )
            answers = response.get("Responses", [])
            if len(answers) != len(part):
                raise TransientError("state TransactGetItems: short answer", reason="throttled")
            for instance_id, answer in zip(part, answers, strict=True):
                found[instance_id] = self._plain((answer or {}).get("Item"))
        return found

    def get(self, instance_id: str) -> dict[str, Any] | None:
        des = TypeDeserializer()
        response = self._client.get_item(
            TableName=self._table, Key={"instanceId": {"S": instance_id}}, ConsistentRead=True
        )
        raw = response.get("Item")
        return {k: des.deserialize(v) for k, v in raw.items()} if raw else None


class QueueAdapter:
    """Visibility changes on the domain-join queue and sends to the dead-letter queue."""

    def __init__(self, client: Any, queue_url: str, dlq_url: str) -> None:
        self._client = client
        self._queue_url = queue_url
        self._dlq_url = dlq_url

    def delay(self, receipts: list[tuple[str, str, int]]) -> set[str]:
        """(id, receipt handle, seconds) -> ids whose visibility change failed."""
        failed: set[str] = set()
        for part in chunks(receipts, 10):
            try:
                response = self._client.change_message_visibility_batch(
                    QueueUrl=self._queue_url,
                    Entries=[
                        {"Id": f"m{i}", "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                        for i, (_, handle, seconds) in enumerate(part)
                    ],
                )
            except (ClientError, BotoCoreError):
                failed.update(mid for mid, _, _ in part)
                continue
            for entry in response.get("Failed", []):
                failed.add(part[int(entry["Id"][1:])][0])
        return failed

    def dead_letter(self, messages: list[tuple[str, str, str, str]]) -> set[str]:
        """(source message id, body, reason, detail) -> source ids that could not be sent."""
        failed: set[str] = set()
        for part in chunks(messages, 10):
            entries = [
                {
                    "Id": f"m{i}",
                    "MessageBody": body or "(empty body)",
                    "MessageAttributes": {
                        "reason": {"DataType": "String", "StringValue": reason},
                        "detail": {"DataType": "String", "StringValue": detail[:1000] or reason},
                        "sourceMessageId": {"DataType": "String", "StringValue": mid},
                    },
                }
                for i, (mid, body, reason, detail) in enumerate(part)
            ]
            try:
                response = self._client.send_message_batch(QueueUrl=self._dlq_url, Entries=entries)
            except (ClientError, BotoCoreError):
                failed.update(m[0] for m in part)
                continue
            for entry in response.get("Failed", []):
                failed.add(part[int(entry["Id"][1:])][0])
        return failed

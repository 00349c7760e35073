"""A moto world for the engine's tests and the benchmark, plus what moto lacks.

moto implements neither SSM DescribeInstanceInformation and ListCommandInvocations nor Directory
Service CreateComputer. `FakeAws` adds two botocore hooks, inserted FIRST in botocore's built-in
handlers while it is active. Its `before-call` hook answers those operations itself,
short-circuiting the client before anything is sent (DescribeInstanceInformation: the requested
ids in `online` are Online; ListCommandInvocations: the commands moto recorded, with `statuses`
overriding moto's status by command id; CreateComputer: the request recorded in `created`, and
like Directory Service an existing name answers EntityAlreadyExistsException), and answers any
operation named in `errors` with that error code. An operation counted in `lose_answers` takes
effect and answers 500 instead (an ambiguous failure). Its `before-send` hook sees every other
call just before moto's own stubber answers it, and answers an operation with the next HTTP
status queued in `send_errors` (inside botocore's retry loop). Both count every call by
(service, operation) and add a fixed latency, so every AWS call is counted once and delayed
once. Sessions created while it is active carry it: create the engine inside it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import boto3
from botocore.awsrequest import AWSResponse
from botocore.handlers import BUILTIN_HANDLERS
from moto.core.botocore_stubber import MockRawResponse

HUB = "123456789012"
SPOKE_A = "111111111111"
SPOKE_B = "222222222222"
UNKNOWN_ACCOUNT = "999999999999"
HUB_REGION = "us-east-1"
LINUX_AMI = "ami-760aaa0f"
WINDOWS_AMI = "ami-03cf127a"
DIRECTORY_ID = "d-1234567890"
JOIN_PASSWORD = "Jn-Secret!pw_7Q2-never-logged"  # the join user's password (must never leak)
JOIN_PW_PARAM = "/ad-join/join-password"
CONFIG_TABLE = "ad-join-config"
STATE_TABLE = "ad-join-state"
OTP_KEY_ALIAS = "alias/ad-join-otp"


@dataclass
class FakeAws:
    latency: float = 0.0
    online: set[str] | None = None  # None: every requested instance is Online
    errors: dict[str, str] = field(default_factory=dict)  # operation -> error code
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    created: list[dict[str, Any]] = field(default_factory=list)
    computers: dict[str, str] = field(default_factory=dict)  # name -> password (the directory)
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    lose_answers: Counter[str] = field(default_factory=Counter)  # operation -> times
    send_errors: dict[str, list[int]] = field(default_factory=dict)  # operation -> statuses
    statuses: dict[str, str] = field(default_factory=dict)  # command id -> invocation status
    #: Auto Scaling lifecycle actions (moto has no CompleteLifecycleAction nor heartbeat):
    #: token -> result of the completed ones, and every heartbeat's token
    completed: dict[str, str] = field(default_factory=dict)
    heartbeats: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _count(self, service: str, operation: str, body: bytes) -> None:
        with self._lock:
            self.calls[(service, operation)] += 1
            self.requests.append((service, operation, body))
        if self.latency:
            time.sleep(self.latency)

    def before_send(self, request: Any, event_name: str, **_: Any) -> Any:
        """Every call that reaches moto: count it and add the latency (or answer it with a
        queued HTTP error status)."""
        _, service, operation = event_name.split(".", 2)
        body = request.body or b""
        self._count(service, operation, body.encode() if isinstance(body, str) else bytes(body))
        queued = self.send_errors.get(operation)
        if queued:
            status = queued.pop(0)
            code = "ThrottlingException" if status == 400 else "InternalError"
            if service == "ec2":  # the EC2 protocol answers errors in XML
                payload = (
                    f"<Response><Errors><Error><Code>{code}</Code><Message>injected</Message>"
                    "</Error></Errors><RequestID>fake</RequestID></Response>"
                ).encode()
            else:
                payload = json.dumps({"__type": code, "message": "injected"}).encode()
            return AWSResponse(request.url, status, {}, MockRawResponse(payload))
        return None

    def before_call(self, params: dict[str, Any], event_name: str, **_: Any) -> Any:
        """Answer what moto lacks (and injected errors) before the request is even sent."""
        _, service, operation = event_name.split(".", 2)
        answered = operation in self.errors or (service, operation) in (
            ("ssm", "DescribeInstanceInformation"),
            ("ssm", "ListCommandInvocations"),
            ("directory-service", "CreateComputer"),
            ("auto-scaling", "CompleteLifecycleAction"),
            ("auto-scaling", "RecordLifecycleActionHeartbeat"),
        )
        if not answered:
            return None
        raw = params.get("body") or b""
        if isinstance(raw, dict):  # query protocol (sts, ec2): form fields
            raw = urlencode(raw)
        body = raw.encode() if isinstance(raw, str) else bytes(raw)
        self._count(service, operation, body)
        if operation in self.errors:
            code = self.errors[operation]
            status = 500 if code in ("ServiceException", "InternalServerError") else 400
            return self._reply({"Error": {"Code": code, "Message": f"injected {code}"}}, status)
        if service == "auto-scaling":
            return self._lifecycle(operation, {k: v[0] for k, v in parse_qs(body.decode()).items()})
        request = json.loads(body or b"{}")
        if operation == "DescribeInstanceInformation":
            wanted = [
                v
                for f in request.get("Filters", [])
                if f.get("Key") == "InstanceIds"
                for v in f.get("Values", [])
            ]
            infos = [
                {"InstanceId": iid, "PingStatus": "Online", "PlatformType": "Linux"}
                for iid in wanted
                if self.online is None or iid in self.online
            ]
            return self._reply({"InstanceInformationList": infos})
        if operation == "ListCommandInvocations":
            return self._reply({"CommandInvocations": self._invocations(request)})
        with self._lock:
            self.created.append(request)
            number = len(self.created)
            exists = request["ComputerName"] in self.computers
            if not exists:
                self.computers[request["ComputerName"]] = request["Password"]
            lost = self.lose_answers[operation] > 0
            self.lose_answers[operation] -= lost
        if lost:
            return self._reply({"Error": {"Code": "ServiceException", "Message": "lost"}}, 500)
        if exists:
            error = {"Code": "EntityAlreadyExistsException", "Message": "exists"}
            return self._reply({"Error": error}, 400)
        return self._reply({"ComputerId": f"S-1-5-21-{number}"})

    def _lifecycle(self, operation: str, form: dict[str, str]) -> Any:
        """An action is active until completed: then both calls answer ValidationError, as
        Auto Scaling does (adjoin.lifecycle)."""
        token = form["LifecycleActionToken"]
        with self._lock:
            if token in self.completed:
                error = {"Code": "ValidationError", "Message": "No active Lifecycle Action found"}
                return self._reply({"Error": error}, 400)
            if operation == "CompleteLifecycleAction":
                self.completed[token] = form["LifecycleActionResult"]
            else:
                self.heartbeats.append(token)
        return self._reply({})

    def _invocations(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        """The commands moto recorded in any account and Region, filtered like SSM does."""
        from moto.ssm.models import ssm_backends

        documents = {f["value"] for f in request.get("Filters", []) if f["key"] == "DocumentName"}
        found = []
        for account in list(ssm_backends):
            for backend in ssm_backends[account].values():
                for command in backend._commands:
                    for iid in command.instance_ids:
                        if request.get("InstanceId") not in (None, iid):
                            continue
                        if request.get("CommandId") not in (None, command.command_id):
                            continue
                        if documents and command.document_name not in documents:
                            continue
                        found.append(
                            {
                                "CommandId": command.command_id,
                                "InstanceId": iid,
                                "Comment": command.comment,
                                "DocumentName": command.document_name,
                                "RequestedDateTime": command.requested_date_time,
                                "Status": self.statuses.get(command.command_id, "Success"),
                            }
                        )
        return found

    @staticmethod
    def _reply(parsed: dict[str, Any], status: int = 200) -> tuple[AWSResponse, dict[str, Any]]:
        http = AWSResponse("https://fake", status, {}, MockRawResponse(b""))
        parsed["ResponseMetadata"] = {"HTTPStatusCode": status, "RequestId": "fake"}
        return http, parsed

    def total(self, *, exclude_services: tuple[str, ...] = ()) -> int:
        return sum(n for (svc, _), n in self.calls.items() if svc not in exclude_services)

    def sent_commands(self) -> list[dict[str, Any]]:
        return [
            json.loads(body)
            for svc, op, body in self.requests
            if svc == "ssm" and op == "SendCommand"
        ]


@contextmanager
def fake_aws(**kwargs: Any) -> Iterator[FakeAws]:
    fake = FakeAws(**kwargs)
    entries = [("before-call", fake.before_call), ("before-send", fake.before_send)]
    for entry in entries:
        BUILTIN_HANDLERS.insert(0, entry)
    try:
        yield fake
    finally:
        for entry in entries:
            BUILTIN_HANDLERS.remove(entry)


def spoke_session(account: str, region: str) -> boto3.Session:
    if account == HUB:
        return boto3.Session(region_name=region)
    creds = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/ad-join-spoke", RoleSessionName="test"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )


def launch(
    account: str,
    region: str,
    *,
    count: int = 1,
    windows: bool = False,
    tags: dict[str, str] | None = None,
) -> list[str]:
    """Run instances in the account and Region (moto); returns their ids."""
    ec2 = spoke_session(account, region).client("ec2")
    kwargs: dict[str, Any] = {
        "ImageId": WINDOWS_AMI if windows else LINUX_AMI,
        "MinCount": count,
        "MaxCount": count,
        "InstanceType": "t3.micro",
    }
    if tags:
        kwargs["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    reservation = ec2.run_instances(**kwargs)
    return [i["InstanceId"] for i in reservation["Instances"]]


def config_item(account: str, **extra: str) -> dict[str, str]:
    item = {
        "accountId": account,
        "adJoinUserName": "svc-adjoin@corp.example.com",
        "adJoinUserPwParam": JOIN_PW_PARAM,
        "dnsName": "corp.example.com",
        "dnsIP1": "10.0.0.10",
        "dnsIP2": "10.0.1.10",
        "assumeRoleARN": "" if account == HUB else f"arn:aws:iam::{account}:role/ad-join-spoke",
        "directoryId": DIRECTORY_ID,
        "computerOU": "OU=Computers,OU=AWS,DC=corp,DC=example,DC=com",
    }
    item.update(extra)
    return item


@dataclass
class World:
    queue_url: str
    dlq_url: str
    otp_key_id: str = ""

    def env(self, **overrides: str) -> dict[str, str]:
        env = {
            "CONFIG_TABLE_NAME": CONFIG_TABLE,
            "STATE_TABLE_NAME": STATE_TABLE,
            "HUB_ACCOUNT_ID": HUB,
            "QUEUE_URL": self.queue_url,
            "DLQ_URL": self.dlq_url,
            "DIRECTORY_REGION": HUB_REGION,
            "AWS_REGION": HUB_REGION,
            "DIRECTORY_ADAPTER": "ds",
            "LEAVE_ADAPTER": "none",
            "RETRY_BASE_SECONDS": "30",
            "RETRY_MAX_SECONDS": "3600",
            "OTP_KEY_ID": self.otp_key_id,
        }
        env.update(overrides)
        return env

    def put_config(self, item: dict[str, Any]) -> None:
        boto3.resource("dynamodb", region_name=HUB_REGION).Table(CONFIG_TABLE).put_item(Item=item)

    def state(self, instance_id: str) -> dict[str, Any] | None:
        table = boto3.resource("dynamodb", region_name=HUB_REGION).Table(STATE_TABLE)
        return table.get_item(Key={"instanceId": instance_id}).get("Item")

    def dlq_messages(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs", region_name=HUB_REGION)
        out: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not got:
                return out
            out.extend(got)


def make_world(accounts: tuple[str, ...] = (HUB, SPOKE_A, SPOKE_B)) -> World:
    """Tables, queues, the join password parameter, the one-time password key and config items
    (inside mock_aws)."""
    ddb = boto3.client("dynamodb", region_name=HUB_REGION)
    ddb.create_table(
        TableName=CONFIG_TABLE,
        KeySchema=[{"AttributeName": "accountId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "accountId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.create_table(  # as modules/hub tables.tf: the reconciler's index by account and Region
        TableName=STATE_TABLE,
        KeySchema=[{"AttributeName": "instanceId", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("instanceId", "accountId", "region")
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-account",
                "KeySchema": [
                    {"AttributeName": "accountId", "KeyType": "HASH"},
                    {"AttributeName": "region", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    sqs = boto3.client("sqs", region_name=HUB_REGION)
    dlq = sqs.create_queue(QueueName="ad-join-dlq")["QueueUrl"]
    queue = sqs.create_queue(QueueName="ad-join-queue")["QueueUrl"]  # the hub module's name
    boto3.client("ssm", region_name=HUB_REGION).put_parameter(
        Name=JOIN_PW_PARAM, Value=JOIN_PASSWORD, Type="SecureString"
    )
    # the HMAC key the one-time passwords are derived from, named by its alias as modules/hub's
    # otp.tf names it in OTP_KEY_ID
    kms = boto3.client("kms", region_name=HUB_REGION)
    otp_key = kms.create_key(
        KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC", Description="ad-join one-time passwords"
    )["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=OTP_KEY_ALIAS, TargetKeyId=otp_key)
    world = World(queue, dlq, OTP_KEY_ALIAS)
    for account in accounts:
        world.put_config(config_item(account))
    return world


def eb_event(
    account: str, region: str, detail_type: str, source: str, detail: dict[str, Any]
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": "2026-11-23T22:00:00Z",
        "region": region,
        "resources": [],
        "detail": detail,
    }


def state_event(account: str, region: str, instance_id: str, state: str) -> dict[str, Any]:
    return eb_event(
        account,
        region,
        "EC2 Instance State-change Notification",
        "aws.ec2",
        {"instance-id": instance_id, "state": state},
    )


def command_event(
    account: str,
    region: str,
    instance_id: str,
    command_id: str,
    status: str,
    *,
    document: str = "ad-join-linux-join",
) -> dict[str, Any]:
    return eb_event(
        account,
        region,
        "EC2 Command Invocation Status-change Notification",
        "aws.ssm",
        {
            "command-id": command_id,
            "document-name": document,
            "instance-id": instance_id,
            "requested-date-time": "2026-11-23T22:00:00Z",
            "status": status,
        },
    )


def lifecycle_event(
    account: str,
    region: str,
    instance_id: str,
    transition: str,
    *,
    token: str | None = None,
    hook: str = "ad-join-launch",
    group: str = "web",
    destination: str | None = None,
) -> dict[str, Any]:
    """An Auto Scaling lifecycle action as EventBridge delivers it (`launch` or `terminate`),
    shaped as the event reference shows it
    (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-event-reference.html)."""
    launch = transition == "launch"
    detail = {
        "LifecycleActionToken": token or str(uuid.uuid4()),
        "AutoScalingGroupName": group,
        "LifecycleHookName": hook,
        "EC2InstanceId": instance_id,
        "LifecycleTransition": "autoscaling:EC2_INSTANCE_"
        + ("LAUNCHING" if launch else "TERMINATING"),
        "Origin": "EC2" if launch else "AutoScalingGroup",
        "Destination": destination or ("AutoScalingGroup" if launch else "EC2"),
    }
    detail_type = f"EC2 Instance-{'launch' if launch else 'terminate'} Lifecycle Action"
    return eb_event(account, region, detail_type, "aws.autoscaling", detail)


def sns_envelope(inner: dict[str, Any] | str) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": f"arn:aws:sns:{HUB_REGION}:{HUB}:ad-join-eu-west-1",
        "Message": inner if isinstance(inner, str) else json.dumps(inner),
        "Timestamp": "2026-11-23T22:00:00.000Z",
    }


def sqs_record(
    body: dict[str, Any] | str,
    *,
    message_id: str | None = None,
    receive_count: int = 1,
    sent_ms: int | None = None,
) -> dict[str, Any]:
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": f"rh-{uuid.uuid4()}",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(sent_ms if sent_ms is not None else int(time.time() * 1000)),
        },
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "awsRegion": HUB_REGION,
    }


def enqueue(world: World, bodies: list[dict[str, Any] | str]) -> list[dict[str, Any]]:
    """Send the bodies to the domain-join queue and receive them as Lambda SQS records (real
    receipt handles, so visibility changes can be checked)."""
    sqs = boto3.client("sqs", region_name=HUB_REGION)
    for body in bodies:
        sqs.send_message(
            QueueUrl=world.queue_url,
            MessageBody=body if isinstance(body, str) else json.dumps(body),
        )
    records: list[dict[str, Any]] = []
    while len(records) < len(bodies):
        got = sqs.receive_message(
            QueueUrl=world.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        if not got:
            break
        for m in got:
            records.append(
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m["Attributes"],
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                }
            )
    return records


@dataclass
class FakeLdapDirectory:
    """Stands in for adjoin.directory.ldap.LdapDirectory (same constructor, per the contract)."""

    servers: list[str]
    domain: str
    user: str
    password: str = field(repr=False)
    security: str = "ldaps"
    ca_cert_pem: str | None = None
    port: int | None = None
    timeout: float = 10.0
    dns_servers: tuple[str, ...] = ()
    log: list[tuple[str, str]] = field(default_factory=list)
    existing: set[str] = field(default_factory=set)
    controller: str | None = "dc1.corp.example.com"  # what create_computer reports
    #: what stamped_computers lists (the reconciler's tests set it)
    stamped: list[Any] = field(default_factory=list)

    def stamped_computers(self, ou: str | None) -> list[Any]:
        self.log.append(("stamped", ou or ""))
        return [c for c in self.stamped if c.name in self.existing]

    def create_computer(self, account: Any) -> str | None:
        self.log.append(("create", account.name))
        self.existing.add(account.name)
        return self.controller

    def delete_computer(self, name: str, domain: str, ou: str | None) -> bool:
        self.log.append(("delete", name))
        if name in self.existing:
            self.existing.discard(name)
            return True
        return False


class SharedLdap:
    """A constructor of FakeLdapDirectory (the engine builds one per use) whose directories all
    share one set of objects, one log and one list of stamped objects: `existing`, `log`,
    `stamped`, and the last one built in `directory`. With `fake`, a delete also removes the
    object from `fake`'s Directory Service (the same AD behind both adapters)."""

    def __init__(self, fake: FakeAws | None = None) -> None:
        self.existing: set[str] = set()
        self.log: list[tuple[str, str]] = []
        self.stamped: list[Any] = []
        self.fake = fake
        self.directory: FakeLdapDirectory | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> FakeLdapDirectory:
        directory = FakeLdapDirectory(*args, **kwargs)
        directory.existing, directory.log, directory.stamped = self.existing, self.log, self.stamped
        if self.fake is not None:
            computers = self.fake.computers
            delete = directory.delete_computer

            def delete_both(name: str, domain: str, ou: str | None) -> bool:
                computers.pop(name, None)
                return delete(name, domain, ou)

            directory.delete_computer = delete_both  # type: ignore[method-assign]
        self.directory = directory
        return directory

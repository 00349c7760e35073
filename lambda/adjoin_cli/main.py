"""`ad-join`: the operator's command line (console script of the project, `make install`).

    ad-join status --instance i-0123456789abcdef0     state of one instance
    ad-join status --account 111122223333             every instance of an account
    ad-join dlq list                                  dead-lettered messages with their reasons
    ad-join dlq redrive MESSAGE_ID... | --all         back to the domain-join queue
    ad-join reconcile --account A --task-region R --dry-run   the plan one task would execute
    ad-join reconcile                                 start a run over every account and Region
    ad-join config put --table ... --account-id ...   write a config item (scripts/put_config_item)

Names follow the hub's `name_prefix` (`--name-prefix`, default `ad-join`): tables
`<prefix>-config` / `<prefix>-state`, queues `<prefix>-queue` / `<prefix>-dlq`, the Lambda
`<prefix>` (which `reconcile` invokes); `--region` and `--endpoint-url` as for the AWS CLI.
Output is JSON (one object per line for lists). It uses the caller's credentials in the hub; no
command prints a secret (the state, the DLQ and the reconcile report hold none).
Exit codes: 0 done, 1 an AWS call failed or nothing matched, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr
from botocore.exceptions import BotoCoreError, ClientError

from adjoin.errors import PermanentError
from adjoin.events import parse_event
from adjoin.naming import is_account_id, is_instance_id
from adjoin_cli import config_item

#: the state item's attributes `status` shows (docs/contracts.md, "State item")
STATUS_FIELDS = (
    "instanceId", "accountId", "region", "platform", "computerName", "status", "commandId",
    "attempts", "lastError", "updatedAt", "createdAt", "adGroupName", "leaveCommandId",
)  # fmt: skip
RECEIVE_WAIT_SECONDS = 1
#: how long `dlq redrive` keeps the messages it received hidden while it moves them
REDRIVE_VISIBILITY_SECONDS = 60


def _lambda_client(session: boto3.Session, endpoint_url: str | None) -> Any:
    return session.client("lambda", endpoint_url=endpoint_url)


class Aws:
    """The hub's tables and queues, by name."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.prefix = args.name_prefix
        session = boto3.Session(region_name=args.region)
        self._dynamodb = session.resource("dynamodb", endpoint_url=args.endpoint_url)
        self.sqs = session.client("sqs", endpoint_url=args.endpoint_url)
        self.lambda_ = _lambda_client(session, args.endpoint_url)

    def table(self, kind: str) -> Any:
        return self._dynamodb.Table(f"{self.prefix}-{kind}")

    def queue_url(self, kind: str) -> str:
        return str(self.sqs.get_queue_url(QueueName=f"{self.prefix}-{kind}")["QueueUrl"])


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals as ints, for JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "to_integral_value"):
        return int(value)
    return value


def _summary(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _plain(item[key]) for key in STATUS_FIELDS if key in item}


def _emit(obj: Any) -> None:
    print(json.dumps(obj, sort_keys=True, default=str))


# ---- status ---------------------------------------------------------------------------------
def status(aws: Aws, args: argparse.Namespace) -> int:
    table = aws.table("state")
    if args.instance:
        item = table.get_item(Key={"instanceId": args.instance}, ConsistentRead=True).get("Item")
        if not item:
            print(f"ad-join: no state for {args.instance}", file=sys.stderr)
            return 1
        _emit({**_summary(item), "history": _plain(item.get("history", []))})
        return 0
    found = 0
    kwargs: dict[str, Any] = {"FilterExpression": Attr("accountId").eq(args.account)}
    while True:  # the state table is keyed by instance id: an account's items are a scan
        page = table.scan(**kwargs)
        for item in sorted(page.get("Items", []), key=lambda i: str(i["instanceId"])):
            _emit(_summary(item))
            found += 1
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    print(f"ad-join: {found} instance(s) of account {args.account}", file=sys.stderr)
    return 0 if found else 1


# ---- dlq ------------------------------------------------------------------------------------
def _attribute(message: dict[str, Any], name: str) -> str:
    return str((message.get("MessageAttributes") or {}).get(name, {}).get("StringValue", ""))


def _describe(message: dict[str, Any]) -> dict[str, Any]:
    """What an operator needs to decide on a dead-lettered message."""
    body = str(message.get("Body", ""))
    try:
        event = parse_event(body)
        about = {"instanceId": event.instance_id, "account": event.account, "region": event.region}
    except PermanentError:
        about = {}
    attributes = message.get("Attributes") or {}
    return {
        "messageId": message["MessageId"],
        "reason": _attribute(message, "reason") or "(none: dead-lettered by the redrive policy)",
        "detail": _attribute(message, "detail"),
        "sourceMessageId": _attribute(message, "sourceMessageId"),
        "receiveCount": int(attributes.get("ApproximateReceiveCount", 0)),
        "sentTimestamp": int(attributes.get("SentTimestamp", 0)),
        **about,
    }


def _receive_all(aws: Aws, queue_url: str, visibility: int) -> dict[str, dict[str, Any]]:
    """Every message the queue hands out, by id, until a receive brings nothing new. A message
    received twice keeps its latest receipt handle (the only one that still works)."""
    messages: dict[str, dict[str, Any]] = {}
    while True:
        response = aws.sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=RECEIVE_WAIT_SECONDS,
            VisibilityTimeout=visibility,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        )
        received = response.get("Messages", [])
        fresh = [m for m in received if m["MessageId"] not in messages]
        messages.update({m["MessageId"]: m for m in received})
        if not fresh:
            return messages


def dlq_list(aws: Aws, args: argparse.Namespace) -> int:
    # Visibility 0: listing leaves every message where it was, visible to the next reader.
    messages = _receive_all(aws, aws.queue_url("dlq"), 0)
    for message in messages.values():
        _emit(_describe(message))
    print(f"ad-join: {len(messages)} message(s) in {aws.prefix}-dlq", file=sys.stderr)
    return 0


def dlq_redrive(aws: Aws, args: argparse.Namespace) -> int:
    """Send the chosen messages' bodies to the domain-join queue, then delete them from the DLQ
    (a message is deleted only after its copy was accepted: nothing is lost)."""
    dlq, queue = aws.queue_url("dlq"), aws.queue_url("queue")
    wanted = set(args.message_ids)
    moved: list[str] = []
    for message in _receive_all(aws, dlq, REDRIVE_VISIBILITY_SECONDS).values():
        if not args.all and message["MessageId"] not in wanted:  # visible again at once
            aws.sqs.change_message_visibility(
                QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
            continue
        aws.sqs.send_message(QueueUrl=queue, MessageBody=message["Body"])
        aws.sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
        moved.append(message["MessageId"])
        _emit({"redriven": message["MessageId"], **_describe(message)})
    missing = sorted(wanted - set(moved))
    for message_id in missing:
        print(f"ad-join: message {message_id} is not in {aws.prefix}-dlq", file=sys.stderr)
    print(f"ad-join: {len(moved)} message(s) sent back to {aws.prefix}-queue", file=sys.stderr)
    return 1 if missing or not moved else 0


# ---- reconcile ------------------------------------------------------------------------------
def reconcile(aws: Aws, args: argparse.Namespace) -> int:
    """Invoke the hub Lambda: one task now (with --account and --region; its report, which with
    --dry-run is the plan it would execute) or the start of a run over every account and Region."""
    payload: dict[str, Any] = {"action": "reconcile", "dryRun": args.dry_run}
    if args.account:
        payload |= {"account": args.account, "region": args.task_region}
    response = aws.lambda_.invoke(
        FunctionName=aws.prefix, InvocationType="RequestResponse", Payload=json.dumps(payload)
    )
    answer = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        print(f"ad-join reconcile: the Lambda failed: {answer}", file=sys.stderr)
        return 1
    _emit(answer)
    return 1 if isinstance(answer, dict) and answer.get("skipped") else 0


# ---- the parser -----------------------------------------------------------------------------
def _checked(check: Any, what: str) -> Any:
    def convert(value: str) -> str:
        if not check(value):
            raise argparse.ArgumentTypeError(f"{value!r} is not {what}")
        return value

    return convert


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--name-prefix", default="ad-join", help="the hub's name_prefix")
    common.add_argument("--region", help="the hub's Region (default: the SDK's)")
    common.add_argument("--endpoint-url", help="AWS endpoint (a local emulator)")
    p = argparse.ArgumentParser(prog="ad-join", description=__doc__.split("\n\n")[0])
    commands = p.add_subparsers(dest="command", required=True)

    s = commands.add_parser("status", parents=[common], help="state of an instance or account")
    which = s.add_mutually_exclusive_group(required=True)
    which.add_argument("--instance", type=_checked(is_instance_id, "an EC2 instance id"))
    which.add_argument("--account", type=_checked(is_account_id, "a 12-digit account id"))
    s.set_defaults(handler=status)

    dlq = commands.add_parser("dlq", help="the dead-letter queue").add_subparsers(
        dest="dlq_command", required=True
    )
    dlq.add_parser("list", parents=[common], help="messages and reasons").set_defaults(
        handler=dlq_list
    )
    r = dlq.add_parser("redrive", parents=[common], help="send messages back to the queue")
    r.add_argument("message_ids", nargs="*", metavar="MESSAGE_ID")
    r.add_argument("--all", action="store_true", help="every message in the DLQ")
    r.set_defaults(handler=dlq_redrive)

    rec = commands.add_parser("reconcile", parents=[common], help="run the reconciler")
    rec.add_argument("--account", type=_checked(is_account_id, "a 12-digit account id"))
    rec.add_argument(
        "--task-region", metavar="REGION", help="with --account: the Region of the task"
    )
    rec.add_argument("--dry-run", action="store_true", help="plan only: act on nothing")
    rec.set_defaults(handler=reconcile)

    config = commands.add_parser("config", help="config items").add_subparsers(
        dest="config_command", required=True
    )
    put = config.add_parser("put", allow_abbrev=False, help="write one account's config item")
    config_item.add_arguments(put)
    put.set_defaults(handler=None, put_parser=put)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.command == "config":
        return config_item.run(args.put_parser, args)
    if args.command == "reconcile" and bool(args.account) != bool(args.task_region):
        p.error("reconcile: give --account and --task-region together (or neither)")
    if (
        args.command == "dlq"
        and args.dlq_command == "redrive"
        and not (args.all or args.message_ids)
    ):
        p.error("dlq redrive: name MESSAGE_IDs or give --all")
    try:
        return int(args.handler(Aws(args), args))
    except (BotoCoreError, ClientError) as error:
        print(f"ad-join {args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

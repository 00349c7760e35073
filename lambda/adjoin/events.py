"""Parsing of queue message bodies into typed events (pure: no AWS calls).

A body is an EventBridge event, either raw or inside an SNS envelope
(`{"Type": "Notification", "Message": "<json string>", ...}`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from adjoin.errors import PermanentError
from adjoin.naming import is_account_id, is_instance_id

EC2_SOURCE = "aws.ec2"
EC2_DETAIL_TYPE = "EC2 Instance State-change Notification"
SSM_SOURCE = "aws.ssm"
SSM_DETAIL_TYPE = "EC2 Command Invocation Status-change Notification"
HANDLED_STATES = ("running", "terminated")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_COMMAND_ID_RE = re.compile(r"^[0-9a-fA-F-]{36}$")
_MAX_FIELD = 256


class MalformedEvent(PermanentError):
    """The body is not an event this engine understands."""

    reason = "malformed_event"


@dataclass(frozen=True)
class InstanceStateEvent:
    """An EC2 instance reached `running` or `terminated`."""

    account: str
    region: str
    instance_id: str
    state: str
    time: str


@dataclass(frozen=True)
class CommandStatusEvent:
    """A Run Command invocation changed status."""

    account: str
    region: str
    instance_id: str
    command_id: str
    document_name: str
    status: str
    time: str


Event = InstanceStateEvent | CommandStatusEvent


def _text(obj: dict[str, Any], key: str, what: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value or len(value) > _MAX_FIELD:
        raise MalformedEvent(f"{what} is missing or not a short string")
    return value


def _load(body: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise MalformedEvent("body is not JSON") from exc
    except RecursionError:  # e.g. thousands of nested arrays: the parser's stack gives up
        raise MalformedEvent("body is nested too deeply to parse") from None
    if not isinstance(data, dict):
        raise MalformedEvent("body is not a JSON object")
    return data


def unwrap(body: str) -> dict[str, Any]:
    """The EventBridge event inside the body (an SNS envelope is opened once)."""
    data = _load(body)
    if data.get("Type") == "Notification" and "Message" in data:
        message = data["Message"]
        if not isinstance(message, str):
            raise MalformedEvent("SNS envelope Message is not a string")
        data = _load(message)
    return data


def parse_event(body: str) -> Event:
    """Parse a queue message body; raise MalformedEvent for anything unexpected."""
    event = unwrap(body)
    source = event.get("source")
    detail_type = event.get("detail-type")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise MalformedEvent("event has no detail object")
    account = _text(event, "account", "account")
    if not is_account_id(account):
        raise MalformedEvent("account is not a 12-digit account id")
    region = _text(event, "region", "region")
    if not _REGION_RE.fullmatch(region):
        raise MalformedEvent("region is not a Region name")
    time = event.get("time") if isinstance(event.get("time"), str) else ""
    instance_id = _text(detail, "instance-id", "detail.instance-id")
    if not is_instance_id(instance_id):
        raise MalformedEvent("detail.instance-id is not an EC2 instance id")
    if source == EC2_SOURCE and detail_type == EC2_DETAIL_TYPE:
        state = _text(detail, "state", "detail.state")
        if state not in HANDLED_STATES:
            raise MalformedEvent("detail.state is neither running nor terminated")
        return InstanceStateEvent(account, region, instance_id, state, str(time))
    if source == SSM_SOURCE and detail_type == SSM_DETAIL_TYPE:
        command_id = _text(detail, "command-id", "detail.command-id")
        if not _COMMAND_ID_RE.fullmatch(command_id):
            raise MalformedEvent("detail.command-id is not a command id")
        return CommandStatusEvent(
            account=account,
            region=region,
            instance_id=instance_id,
            command_id=command_id,
            document_name=_text(detail, "document-name", "detail.document-name"),
            status=_text(detail, "status", "detail.status"),
            time=str(time),
        )
    raise MalformedEvent("unexpected source or detail-type")

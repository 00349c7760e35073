"""Parsing of queue message bodies into typed events (pure: no AWS calls).

A body is an EventBridge event, either raw or inside an SNS envelope
(`{"Type": "Notification", "Message": "<json string>", ...}`): an EC2 state change, a Run Command
status change, or an Auto Scaling lifecycle action.
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
# Auto Scaling lifecycle actions, as the EventBridge event reference for Amazon EC2 Auto Scaling
# shows them (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-event-reference.html):
# detail `LifecycleActionToken`, `AutoScalingGroupName`, `LifecycleHookName`, `EC2InstanceId`,
# `LifecycleTransition`, `NotificationMetadata`, `Origin`, `Destination`.
AUTOSCALING_SOURCE = "aws.autoscaling"
LAUNCH_DETAIL_TYPE = "EC2 Instance-launch Lifecycle Action"
TERMINATE_DETAIL_TYPE = "EC2 Instance-terminate Lifecycle Action"
LIFECYCLE_TRANSITIONS = {
    LAUNCH_DETAIL_TYPE: "autoscaling:EC2_INSTANCE_LAUNCHING",
    TERMINATE_DETAIL_TYPE: "autoscaling:EC2_INSTANCE_TERMINATING",
}
#: LifecycleHookName: 1-255 of [A-Za-z0-9-_/] (API_PutLifecycleHook)
_HOOK_NAME_RE = re.compile(r"^[A-Za-z0-9_/-]{1,255}$")
_PLACES = frozenset({"EC2", "AutoScalingGroup", "WarmPool"})
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


@dataclass(frozen=True)
class LifecycleActionEvent(InstanceStateEvent):
    """An Auto Scaling lifecycle action: the instance waits (Pending:Wait or Terminating:Wait)
    until the action is completed. The engine handles a launch action as a `running` event and
    a terminate action as a `terminated` one (`state`: the same join and leave paths), then
    completes the action (adjoin.lifecycle)."""

    hook_name: str
    group_name: str
    token: str
    destination: str  # AutoScalingGroup, EC2 or WarmPool

    @property
    def launch(self) -> bool:
        return self.state == "running"

    @property
    def to_warm_pool(self) -> bool:
        """A scale-in that returns the instance to the warm pool (it is stopped, not
        terminated: it keeps its computer object)."""
        return self.destination == "WarmPool"


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
    if source == AUTOSCALING_SOURCE and detail_type in LIFECYCLE_TRANSITIONS:
        return _lifecycle_action(account, region, str(time), str(detail_type), detail)
    instance_id = _instance_id(detail, "instance-id")
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


def _instance_id(detail: dict[str, Any], key: str) -> str:
    instance_id = _text(detail, key, f"detail.{key}")
    if not is_instance_id(instance_id):
        raise MalformedEvent(f"detail.{key} is not an EC2 instance id")
    return instance_id


def _action_fields(detail: dict[str, Any]) -> tuple[str, str, str]:
    """The hook name, group name and token of a lifecycle action."""
    hook = _text(detail, "LifecycleHookName", "detail.LifecycleHookName")
    if not _HOOK_NAME_RE.fullmatch(hook):
        raise MalformedEvent("detail.LifecycleHookName is not a lifecycle hook name")
    group = _text(detail, "AutoScalingGroupName", "detail.AutoScalingGroupName")
    if any(ord(c) < 32 for c in group):
        raise MalformedEvent("detail.AutoScalingGroupName holds control characters")
    token = _text(detail, "LifecycleActionToken", "detail.LifecycleActionToken")
    if not _COMMAND_ID_RE.fullmatch(token):
        raise MalformedEvent("detail.LifecycleActionToken is not a lifecycle action token")
    return hook, group, token


def _lifecycle_action(
    account: str, region: str, time: str, detail_type: str, detail: dict[str, Any]
) -> LifecycleActionEvent:
    instance_id = _instance_id(detail, "EC2InstanceId")
    hook, group, token = _action_fields(detail)
    if detail.get("LifecycleTransition") != LIFECYCLE_TRANSITIONS[detail_type]:
        raise MalformedEvent(f"detail.LifecycleTransition does not match {detail_type}")
    launch = detail_type == LAUNCH_DETAIL_TYPE
    # without Destination (older events) a launch goes to the group, a termination to EC2
    destination = detail.get("Destination", "AutoScalingGroup" if launch else "EC2")
    if destination not in _PLACES:
        raise MalformedEvent("detail.Destination is not EC2, AutoScalingGroup or WarmPool")
    return LifecycleActionEvent(
        account=account,
        region=region,
        instance_id=instance_id,
        state="running" if launch else "terminated",
        time=time,
        hook_name=hook,
        group_name=group,
        token=token,
        destination=str(destination),
    )

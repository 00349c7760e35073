"""What to do with an event, an instance and a config: pure functions, no AWS calls."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import Enum

from adjoin.config import OU_RE, AccountConfig
from adjoin.events import CommandStatusEvent

GROUP_NAME_RE = re.compile(r"^[A-Za-z0-9._-](?:[A-Za-z0-9 ._-]{0,62}[A-Za-z0-9._-])?$")
TAG_GROUP = "adGroupName"
TAG_SUDO_GROUP = "adSudoGroupName"
TAG_AUTOADJOIN = "autoadjoin"
TAG_COMPUTER_NAME = "adComputerName"
TAG_COMPUTER_OU = "adComputerOU"

# SSM command statuses (EventBridge "EC2 Command Invocation Status-change Notification")
SUCCESS_STATUSES = frozenset({"Success"})
FAILURE_STATUSES = frozenset(
    {
        "Failed",
        "TimedOut",
        "Cancelled",
        "Cancelling",
        "DeliveryTimedOut",
        "ExecutionTimedOut",
        "Undeliverable",
        "Terminated",
        "InvalidPlatform",
        "AccessDenied",
    }
)

# State table statuses and the statuses each transition may start from.
PENDING, JOINING, JOINED, FAILED = "pending", "joining", "joined", "failed"
LEAVING, LEFT, SKIPPED = "leaving", "left", "skipped"
STATUSES = (PENDING, JOINING, JOINED, FAILED, LEAVING, LEFT, SKIPPED)
#: a join may start (or a retry may be recorded) only from these; None = no item yet
JOINABLE_FROM = (PENDING, SKIPPED, FAILED)
#: a terminated instance whose join never ran: record `left`, nothing to delete
NOTHING_TO_DELETE = (PENDING, SKIPPED)


class Action(Enum):
    JOIN = "join"
    LEAVE = "leave"
    SKIP = "skip"
    RETRY = "retry"
    REJECT = "reject"
    RECORD = "record"  # command status: record joined/failed


@dataclass(frozen=True)
class InstanceInfo:
    """What DescribeInstances tells about an instance."""

    instance_id: str
    state: str
    platform: str | None  # "linux", "windows", or None when unknown
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    detail: str = ""
    platform: str | None = None
    ad_group_name: str = ""
    ad_sudo_group_name: str = ""
    status: str | None = None  # for RECORD: joined / failed
    computer_ou: str | None = None  # for JOIN: the adComputerOU tag's OU (None: computerOU)


def platform_of(platform: str | None, platform_details: str | None) -> str | None:
    """linux / windows from DescribeInstances' Platform and PlatformDetails; None if unknown."""
    if platform:
        return "windows" if platform.lower() == "windows" else None
    if not platform_details:
        return "linux"  # EC2 omits Platform for every Linux instance
    details = platform_details.lower()
    if "windows" in details:
        return "windows"
    if any(word in details for word in ("linux", "unix", "red hat", "suse", "ubuntu")):
        return "linux"
    return None


def valid_group_name(value: str) -> bool:
    return bool(GROUP_NAME_RE.fullmatch(value))


def decide_running(instance: InstanceInfo | None, config: AccountConfig) -> Decision:
    """Decide for a `running` event, from what the instance looks like now."""
    if instance is None or instance.state in ("terminated", "shutting-down"):
        return Decision(Action.SKIP, "instance_gone", "instance no longer exists")
    if instance.state in ("stopping", "stopped"):
        return Decision(Action.SKIP, "instance_not_running", f"instance is {instance.state}")
    if instance.state == "pending":
        return Decision(Action.RETRY, "instance_pending", "instance is still pending")
    if instance.tags.get(TAG_AUTOADJOIN, "").strip().lower() == "false":
        return Decision(Action.SKIP, "opted_out", "instance is tagged autoadjoin=false")
    if instance.platform not in ("linux", "windows"):
        return Decision(Action.REJECT, "unknown_platform", "platform is neither Linux nor Windows")
    if TAG_GROUP in instance.tags:
        group = instance.tags[TAG_GROUP]
        if not valid_group_name(group):
            return Decision(
                Action.REJECT,
                "invalid_tag",
                "adGroupName tag must be 1-64 characters [A-Za-z0-9 ._-] "
                "without leading or trailing space",
            )
    else:
        group = config.default_ad_group_name or ""
        if group and not valid_group_name(group):
            return Decision(Action.REJECT, "invalid_config", "defaultAdGroupName is invalid")
    sudo_group = instance.tags.get(TAG_SUDO_GROUP)
    if sudo_group is not None and not valid_group_name(sudo_group):
        return Decision(
            Action.REJECT,
            "invalid_tag",
            "adSudoGroupName tag must be 1-64 characters [A-Za-z0-9 ._-] "
            "without leading or trailing space",
        )
    ou: str | None = None
    if TAG_COMPUTER_OU in instance.tags:
        ou = instance.tags[TAG_COMPUTER_OU].strip()
        problem = ou_problem(ou, config)
        if problem:
            return Decision(Action.REJECT, "invalid_tag", problem)
    return Decision(
        Action.JOIN,
        "join",
        platform=instance.platform,
        ad_group_name=group,
        ad_sudo_group_name=sudo_group or "",
        computer_ou=ou,
    )


def _rdns(dn: str) -> list[tuple[str, str]] | None:
    """The RDNs of a DN, types and values folded to lower case (AD compares DNs without
    regard to case); None when it is not a DN (RFC 4514, parsed by ldap3)."""
    from ldap3.core.exceptions import LDAPInvalidDnError  # noqa: PLC0415 - only with the tag
    from ldap3.utils.dn import parse_dn  # noqa: PLC0415

    try:
        parsed = parse_dn(dn, strip=True)
    except LDAPInvalidDnError:
        return None
    return [(str(kind).lower(), str(value).lower()) for kind, value, _ in parsed]


def is_at_or_below(dn: str, ancestor: str) -> bool:
    """True when DN is ANCESTOR itself or lies in its subtree (whole RDNs, not a text suffix:
    `OU=EvilEC2,DC=x` is not below `OU=EC2,DC=x`)."""
    mine, theirs = _rdns(dn), _rdns(ancestor)
    if not mine or not theirs or len(mine) < len(theirs):
        return False
    return mine[len(mine) - len(theirs) :] == theirs


def ou_problem(ou: str, config: AccountConfig) -> str:
    """Why an adComputerOU tag cannot be used ("" when it can): it must be a DN at or below
    the account's computerOU or one of its allowedComputerOUs, so an instance's tags can never
    place an object where the operator did not allow it."""
    # no backslash or backtick either: the Linux join script refuses them (exit 2)
    if not OU_RE.fullmatch(ou) or "\\" in ou or "`" in ou or len(ou) > 1024 or not _rdns(ou):
        return f"adComputerOU tag {ou!r} is not a distinguished name"
    allowed = tuple(
        dict.fromkeys(a for a in (config.computer_ou, *config.allowed_computer_ous) if a)
    )
    if not allowed:
        return (
            "adComputerOU tag is set, but the account's config item has neither computerOU nor "
            "allowedComputerOUs: no OU is allowed"
        )
    if any(is_at_or_below(ou, a) for a in allowed):
        return ""
    return (
        f"adComputerOU tag {ou!r} is outside the allowed OUs: it must be at or below "
        + " or ".join(repr(a) for a in allowed)
        + " (computerOU / allowedComputerOUs of the config item)"
    )


def decide_agent(decision: Decision, agent_online: bool) -> Decision:
    """A join waits until the SSM agent reports Online."""
    if decision.action is Action.JOIN and not agent_online:
        return Decision(Action.RETRY, "agent_offline", "SSM agent is not online yet")
    return decision


def decide_claim_refused(old_status: str | None) -> Decision:
    """The conditional claim of a join failed: why, from the item's old status."""
    if old_status in (LEAVING, LEFT):
        return Decision(Action.SKIP, "terminated_before_join", "instance was terminated")
    if old_status in (JOINING, JOINED):
        return Decision(Action.SKIP, f"already_{old_status}", f"instance is already {old_status}")
    return Decision(Action.RETRY, "state_conflict", f"unexpected state {old_status}")


def decide_terminated(old_status: str | None) -> Decision:
    """A `terminated` event: delete the computer object only if a join may have created it."""
    if old_status is None or old_status in NOTHING_TO_DELETE:
        return Decision(Action.SKIP, "terminated_before_join", "no join ran: nothing to delete")
    if old_status == LEFT:
        return Decision(Action.SKIP, "already_left", "instance already left")
    return Decision(Action.LEAVE, "leave")


def join_document(platform: str | None, linux_document: str, windows_document: str) -> str:
    """The join document for a platform (the inverse of join_document_platform)."""
    return windows_document if platform == "windows" else linux_document


def join_document_platform(
    document_name: str, linux_document: str, windows_document: str
) -> str | None:
    """linux / windows for a join document name (or ARN); None for any other document."""
    name = document_name.rsplit("/", 1)[-1]
    if name == linux_document:
        return "linux"
    if name == windows_document:
        return "windows"
    return None


def decide_command_status(
    event: CommandStatusEvent, linux_document: str, windows_document: str
) -> Decision:
    """A command status change of a join document moves the instance to joined or failed."""
    if join_document_platform(event.document_name, linux_document, windows_document) is None:
        return Decision(Action.SKIP, "not_a_join_document", "command is not a join document")
    if event.status in SUCCESS_STATUSES:
        return Decision(Action.RECORD, "join_succeeded", status=JOINED)
    if event.status in FAILURE_STATUSES:
        return Decision(Action.RECORD, "join_failed", f"command {event.status}", status=FAILED)
    return Decision(Action.SKIP, "command_in_progress", f"command is {event.status}")


def retry_delay(receive_count: int, base_seconds: int, cap_seconds: int = 900) -> int:
    """Exponential backoff: base, 2*base, 4*base, ... capped (SQS allows at most 12 hours).

    With the default RETRY_BASE_SECONDS (10) an instance whose SSM agent is not online yet
    (`agent_offline`) is tried again after 10 s, 20 s, 40 s, ...: with the short default queue
    delay this replaces the seed's blind five-minute wait by readiness."""
    exponent = max(0, min(receive_count - 1, 20))
    return int(min(cap_seconds, base_seconds * (2**exponent)))


def retry_exhausted(
    sent_epoch_ms: int, now_epoch_ms: int, delay_seconds: int, max_seconds: int
) -> bool:
    """True when the next attempt would fall after RETRY_MAX_SECONDS since the first send."""
    return (now_epoch_ms - sent_epoch_ms) / 1000.0 + delay_seconds > max_seconds


# ---------------------------------------------------------------- Auto Scaling lifecycle hooks
#
# The engine handles a launch action as a `running` event and a terminate action as a
# `terminated` one; these decide what becomes of the action itself (adjoin.lifecycle acts).

CONTINUE, ABANDON = "CONTINUE", "ABANDON"
#: the state row attributes that name the launch action a join completes when its command
#: reports (the command-status event does not carry them)
ROW_HOOK, ROW_GROUP, ROW_TOKEN = "lifecycleHookName", "autoScalingGroupName", "lifecycleActionToken"
#: launch outcomes after which nothing is completed: the instance is gone, or another message
#: (a copy of this one, or the join command's status) completes the action
_LAUNCH_LEFT_TO_OTHERS = frozenset(
    {
        "join",  # this message's claim sent the join command: its status completes the action
        "already_joining",  # this message's own claim, redelivered after its command was sent
        "duplicate_in_batch",
        "instance_gone",
        "instance_not_found",
        "terminated_before_join",
        "terminated_during_join",
    }
)


def lifecycle_result(launch: bool, kind: str, reason: str, failure_result: str) -> str | None:
    """The result to complete a lifecycle action with once the engine handled its event as
    `running` (launch) or `terminated`: `kind` is the message's outcome (ack, retry, reject)
    and `reason` its reason. None: not now (a retry comes back; another message completes it).

    A launch that will not join and did not fail (opted out, stopped, already joined) goes in
    service with CONTINUE; a failed join with the configured result. A terminate action is
    completed with CONTINUE once the leave is done, and also when it failed for good: the
    instance terminates either way, and its later `terminated` event tries the leave again."""
    if kind == "retry" or reason == "duplicate_in_batch":
        return None
    if not launch:
        return CONTINUE
    if kind == "reject":
        return failure_result
    return None if reason in _LAUNCH_LEFT_TO_OTHERS else CONTINUE


def claimed_elsewhere(row: dict[str, object] | None, message_id: str) -> bool:
    """A launch action whose claim was refused because another message's join is in progress
    (the instance's `running` event came first): it waits for that join, retried like an
    agent that is not online yet, and completes when it finds the instance joined or failed."""
    return row is not None and row.get("status") == JOINING and row.get("claimedBy") != message_id


def status_result(
    row: dict[str, object] | None, command_id: str, status: str, failure_result: str
) -> str | None:
    """The result to complete a launch action with when its join command reported `status`
    (joined or failed) and the state row is `row`: None when the row names no lifecycle
    action, or is no longer the outcome of this command."""
    if not row or not row.get(ROW_TOKEN):
        return None
    if row.get("commandId") != command_id or row.get("status") != status:
        return None
    return CONTINUE if status == JOINED else failure_result


def heartbeat_margin(timeout_seconds: int) -> int:
    """How late a message may come back after its delay (queue pickup, batching window)."""
    return max(1, min(30, timeout_seconds // 6))


def max_wait(timeout_seconds: int) -> int:
    """The longest delay of a waiting lifecycle message: half the hook's heartbeat timeout less
    the margin, so it always comes back before the action times out."""
    return max(1, timeout_seconds // 2 - heartbeat_margin(timeout_seconds))


def needs_heartbeat(elapsed_seconds: float, timeout_seconds: int, next_delay: int) -> bool:
    """Record a heartbeat now when the message's next delivery (after `next_delay`, at most
    `max_wait`) may fall in a later half of the heartbeat timeout than this one (counted from
    the start of the action). Deliveries are never more than half a timeout apart, so the last
    delivery before each half-timeout boundary heartbeats and the action never times out,
    while a young action needs no call: with the default 3600 s timeout a join that waits a
    few minutes for its agent records none.

    RecordLifecycleActionHeartbeat extends the timeout by the hook's HeartbeatTimeout
    (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RecordLifecycleActionHeartbeat.html)."""
    half = timeout_seconds / 2
    ahead = elapsed_seconds + next_delay + heartbeat_margin(timeout_seconds)
    # a delivery exactly on a boundary still belongs to the half before it
    return math.ceil(ahead / half) - 1 > int(max(0.0, elapsed_seconds) // half)

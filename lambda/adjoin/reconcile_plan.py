"""What a reconcile run of one account and Region should do: a pure function of what it observed.

Inputs: the account's instances (DescribeInstances, every page), its state rows, and where the
directory can be read (`ldap`), the stamped computer objects of its OU. Output: a plan of
- `join`: an eligible running instance that never joined (no row, or a row that may join again:
  pending, skipped, or failed for a transient cause) and whose row is older than the grace period;
- `leave`: a row whose instance is terminated or gone, older than the grace period, that may
  still have a computer object (joining, joined, failed, leaving);
- `remove_object`: a stamped object of this account and Region whose instance is terminated or
  gone, with no row that a `leave` covers, created before the grace period.
Deletions (`leave` + `remove_object`) beyond the cap stop every deletion of the run (the plan
says `capped`): a wrong "gone" (a describe that silently returned too little) must not wipe an
OU. Joins are never capped. No boto3, no LDAP here (adjoin.reconciler observes and acts).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from adjoin import decisions as d
from adjoin.config import AccountConfig
from adjoin.decisions import Action, InstanceInfo
from adjoin.directory.base import StampedComputer

JOIN, LEAVE, REMOVE_OBJECT = "join", "leave", "remove_object"
#: states in which an instance no longer needs its computer object
GONE_STATES = frozenset({"terminated"})
#: rows that may hold a computer object (what a leave must remove)
MAY_HAVE_OBJECT = frozenset({d.JOINING, d.JOINED, d.FAILED, d.LEAVING})
#: a failed row with one of these last reasons may join again (the cause was transient)
TRANSIENT_FAILURES = frozenset(
    {
        "retry_exhausted",
        "agent_offline",
        "throttled",
        "aws_unreachable",
        "directory_unavailable",
        "transient",
        "instance_pending",
    }
)


@dataclass(frozen=True)
class Limits:
    grace_seconds: int = 3600
    max_deletions: int = 10
    #: at most this share of the run's known objects (rows and stamped objects); None: no share
    max_deletion_share: float | None = 0.5


@dataclass(frozen=True)
class Step:
    kind: str  # JOIN, LEAVE, REMOVE_OBJECT
    instance_id: str
    reason: str
    computer_name: str = ""


@dataclass
class Plan:
    account: str
    region: str
    steps: list[Step] = field(default_factory=list)
    #: deletions planned but not allowed (the cap): none of them runs
    capped: list[Step] = field(default_factory=list)
    allowed_deletions: int = 0

    @property
    def joins(self) -> list[Step]:
        return [s for s in self.steps if s.kind == JOIN]

    @property
    def deletions(self) -> list[Step]:
        return [s for s in self.steps if s.kind != JOIN]

    def as_dict(self) -> dict[str, Any]:
        def rows(steps: list[Step]) -> list[dict[str, str]]:
            return [
                {"kind": s.kind, "instanceId": s.instance_id, "reason": s.reason}
                | ({"computerName": s.computer_name} if s.computer_name else {})
                for s in steps
            ]

        return {
            "account": self.account,
            "region": self.region,
            "steps": rows(self.steps),
            "capped": rows(self.capped),
            "allowedDeletions": self.allowed_deletions,
        }


def _age_seconds(at: str, now: datetime) -> float:
    """Seconds since an ISO 8601 time; infinite when unreadable (old enough)."""
    try:
        then = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return math.inf
    return (now - then).total_seconds()


def _last_reason(row: Mapping[str, Any]) -> str:
    history = row.get("history") or []
    return str(history[-1].get("reason", "")) if history else ""


def _may_join_again(row: Mapping[str, Any] | None) -> bool:
    if row is None:
        return True
    status = row.get("status")
    if status in (d.PENDING, d.SKIPPED):
        return True
    return status == d.FAILED and _last_reason(row) in TRANSIENT_FAILURES


def plan(
    account: str,
    region: str,
    *,
    config: AccountConfig,
    instances: Mapping[str, InstanceInfo],
    rows: Mapping[str, Mapping[str, Any]],
    stamped: Sequence[StampedComputer] | None,
    now: datetime,
    limits: Limits,
) -> Plan:
    """The plan for one account and Region (see the module docstring)."""
    result = Plan(account, region)
    steps: list[Step] = []
    for instance_id, running in sorted(instances.items()):
        if running.state != "running":
            continue
        row = rows.get(instance_id)
        if not _may_join_again(row):
            continue
        if (
            row is not None
            and _age_seconds(str(row.get("updatedAt", "")), now) < limits.grace_seconds
        ):
            continue  # the event path is still at work on it
        if d.decide_running(running, config).action is Action.JOIN:
            steps.append(
                Step(
                    JOIN, instance_id, "never_joined" if row is None else f"was_{row.get('status')}"
                )
            )
    covered: set[str] = set()
    for instance_id, row in sorted(rows.items()):
        info: InstanceInfo | None = instances.get(instance_id)
        if info is not None and info.state not in GONE_STATES:
            continue
        if row.get("status") not in MAY_HAVE_OBJECT:
            continue
        covered.add(instance_id)
        if _age_seconds(str(row.get("updatedAt", "")), now) < limits.grace_seconds:
            continue
        reason = "instance_gone" if info is None else "instance_terminated"
        steps.append(Step(LEAVE, instance_id, reason, str(row.get("computerName", ""))))
    for obj in stamped or ():
        owner = obj.owner
        if owner.account_id != account or owner.region != region:
            continue  # another account's or Region's run owns it
        if owner.instance_id in covered:
            continue
        owned = instances.get(owner.instance_id)
        if owned is not None and owned.state not in GONE_STATES:
            continue
        row = rows.get(owner.instance_id)
        if row is not None and row.get("status") not in (d.LEFT, d.PENDING, d.SKIPPED, None):
            continue
        if _age_seconds(obj.created, now) < limits.grace_seconds:
            continue
        reason = "orphan_object" if row is None else f"orphan_object_state_{row.get('status')}"
        steps.append(Step(REMOVE_OBJECT, owner.instance_id, reason, obj.name))
    known = len(set(rows) | {o.owner.instance_id for o in stamped or ()})
    allowed = limits.max_deletions
    if limits.max_deletion_share is not None:
        allowed = min(allowed, max(1, math.floor(limits.max_deletion_share * known)))
    result.allowed_deletions = allowed
    deletions = [s for s in steps if s.kind != JOIN]
    if len(deletions) > allowed:
        result.capped = deletions
        steps = [s for s in steps if s.kind == JOIN]
    result.steps = steps
    return result

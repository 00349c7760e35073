"""adjoin.reconcile_plan.plan: what a reconcile task decides, from what it observed (no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adjoin.config import parse_account_item
from adjoin.decisions import InstanceInfo
from adjoin.directory.base import StampedComputer
from adjoin.ownership import OwnerStamp
from adjoin.reconcile_plan import JOIN, LEAVE, REMOVE_OBJECT, Limits, plan
from tests.unit.fakes import config_item

ACCOUNT, REGION = "111111111111", "eu-west-1"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OLD = (NOW - timedelta(hours=3)).isoformat()
RECENT = (NOW - timedelta(minutes=5)).isoformat()
CONFIG = parse_account_item(ACCOUNT, config_item(ACCOUNT))
NO_CAP = Limits(grace_seconds=3600, max_deletions=1000, max_deletion_share=None)


def iid(n: int) -> str:
    return f"i-{n:017x}"


def running(n: int, **tags: str) -> InstanceInfo:
    return InstanceInfo(iid(n), "running", "linux", tags)


def row(n: int, status: str, at: str = OLD, reason: str = "r") -> dict[str, Any]:
    return {
        "instanceId": iid(n),
        "status": status,
        "updatedAt": at,
        "computerName": f"EC2{n:012X}",
        "history": [{"status": status, "at": at, "reason": reason}],
    }


def stamped(n: int, account: str = ACCOUNT, region: str = REGION, at: str = OLD) -> StampedComputer:
    return StampedComputer(
        f"EC2{n:012X}", f"CN=EC2{n:012X},OU=x", OwnerStamp(iid(n), account, region), at
    )


def run(
    instances: list[InstanceInfo],
    rows: list[dict[str, Any]] = (),  # type: ignore[assignment]
    objects: list[StampedComputer] | None = None,
    limits: Limits = NO_CAP,
) -> list[tuple[str, str, str]]:
    result = plan(
        ACCOUNT,
        REGION,
        config=CONFIG,
        instances={i.instance_id: i for i in instances},
        rows={r["instanceId"]: r for r in rows},
        stamped=objects,
        now=NOW,
        limits=limits,
    )
    return [(s.kind, s.instance_id, s.reason) for s in result.steps]


def test_a_running_instance_never_seen_is_joined() -> None:
    assert run([running(1)]) == [(JOIN, iid(1), "never_joined")]


@pytest.mark.parametrize(
    ("status", "reason", "joins"),
    [
        ("pending", "agent_offline", True),
        ("skipped", "opted_out", True),
        ("failed", "retry_exhausted", True),
        ("failed", "agent_offline", True),
        ("failed", "join_failed", False),  # the join command failed: not retried hourly
        ("failed", "invalid_tag", False),
        ("joining", "claim", False),
        ("joined", "join_succeeded", False),
        ("left", "deleted", False),
    ],
)
def test_rows_that_may_join_again(status: str, reason: str, joins: bool) -> None:
    steps = run([running(1)], [row(1, status, reason=reason)])
    assert (steps == [(JOIN, iid(1), f"was_{status}")]) is joins


def test_recent_rows_are_left_to_the_event_path() -> None:
    assert run([running(1)], [row(1, "pending", RECENT)]) == []
    assert run([], [row(1, "joined", RECENT)]) == []


def test_ineligible_instances_are_not_joined() -> None:
    opted_out = running(1, autoadjoin="false")
    stopped = InstanceInfo(iid(2), "stopped", "linux", {})
    pending = InstanceInfo(iid(3), "pending", "linux", {})
    bad_tag = running(4, adGroupName="bad|group")
    assert run([opted_out, stopped, pending, bad_tag]) == []


def test_rows_of_gone_or_terminated_instances_leave() -> None:
    terminated = InstanceInfo(iid(2), "terminated", "linux", {})
    steps = run([terminated], [row(1, "joined"), row(2, "joining"), row(3, "left")])
    assert steps == [(LEAVE, iid(1), "instance_gone"), (LEAVE, iid(2), "instance_terminated")]


def test_rows_of_running_instances_do_not_leave() -> None:
    assert run([running(1)], [row(1, "joined")]) == []


def test_shutting_down_is_not_yet_gone() -> None:
    shutting = InstanceInfo(iid(1), "shutting-down", "linux", {})
    assert run([shutting], [row(1, "joined")]) == []


def test_a_stamped_object_without_a_row_is_removed() -> None:
    assert run([], [], [stamped(1)]) == [(REMOVE_OBJECT, iid(1), "orphan_object")]


def test_a_stamped_object_covered_by_a_leave_is_not_removed_twice() -> None:
    assert run([], [row(1, "joined")], [stamped(1)]) == [(LEAVE, iid(1), "instance_gone")]


def test_a_stamped_object_of_a_left_row_is_removed() -> None:
    assert run([], [row(1, "left")], [stamped(1)]) == [
        (REMOVE_OBJECT, iid(1), "orphan_object_state_left")
    ]


def test_stamped_objects_that_are_not_orphans_stay() -> None:
    other_account = stamped(2, account="222222222222")
    other_region = stamped(3, region="us-east-1")
    young = stamped(4, at=RECENT)
    unreadable_time = stamped(5, at="")  # no whenCreated: old enough
    steps = run(
        [running(1)],
        [row(1, "joined")],
        [stamped(1), other_account, other_region, young, unreadable_time],
    )
    assert steps == [(REMOVE_OBJECT, iid(5), "orphan_object")]


def test_the_cap_stops_every_deletion_but_not_the_joins() -> None:
    limits = Limits(grace_seconds=3600, max_deletions=2, max_deletion_share=None)
    rows = [row(n, "joined") for n in range(1, 4)]
    result = plan(
        ACCOUNT, REGION, config=CONFIG, instances={iid(9): running(9)},
        rows={r["instanceId"]: r for r in rows}, stamped=None, now=NOW, limits=limits,
    )  # fmt: skip
    assert [(s.kind, s.instance_id) for s in result.steps] == [(JOIN, iid(9))]
    assert [s.instance_id for s in result.capped] == [iid(1), iid(2), iid(3)]
    assert result.allowed_deletions == 2
    assert result.as_dict()["capped"][0] == {
        "kind": LEAVE, "instanceId": iid(1), "reason": "instance_gone",
        "computerName": "EC2000000000001",
    }  # fmt: skip


def test_deletions_within_the_cap_run() -> None:
    limits = Limits(grace_seconds=3600, max_deletions=3, max_deletion_share=None)
    assert len(run([], [row(n, "joined") for n in range(1, 4)], limits=limits)) == 3


def test_the_share_limits_deletions_to_part_of_what_the_run_knows() -> None:
    limits = Limits(grace_seconds=3600, max_deletions=100, max_deletion_share=0.5)
    rows = [row(n, "joined") for n in range(1, 5)] + [row(n, "left") for n in range(5, 9)]
    # 8 known objects, 4 would go: exactly half, allowed
    assert len(run([], rows, limits=limits)) == 4
    rows[4]["status"] = "joined"  # 5 of 8 would go: more than half, capped
    assert run([], rows, limits=limits) == []

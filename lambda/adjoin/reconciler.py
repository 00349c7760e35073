"""The reconciler: finds what the events missed, per account and Region, and feeds the engine.

A run (the schedule, or `ad-join reconcile`) fans out one task per configured account and Region
the hub serves (SERVED_REGIONS: the hub's own Region and its spoke_regions), one message each on
the domain-join queue, so tasks run in parallel, within Lambda's time limit, with the queue's
retries and DLQ. A task:

- observes: every instance (DescribeInstances, all pages), the state rows of the account and
  Region (the state table's `by-account` index) and, where the leave adapter is `ldap`, the
  stamped objects of the account's OU. A failed describe or state read skips the task (it is
  never read as "no instances"); a failed directory read plans without stamped objects;
- decides with adjoin.reconcile_plan.plan (pure; the grace period and the deletion cap);
- acts: a `join` or `leave` is an EC2 state-change event (`running` / `terminated`) sent to the
  domain-join queue, so the engine's own join and leave paths run it, exactly as for a delivered
  event (one code path whatever triggered it); a `remove_object` (a stamped object with no row
  to leave from) goes through the account's leave adapter, and its row is recorded `left`.
  `dry_run` acts on nothing;
- records: metrics (ReconcileInstancesSeen, ReconcileJoinsStarted, ReconcileObjectsRemoved,
  ReconcileSkipped, ReconcileCapped) and one JSON report line (`reconcile report`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adjoin import decisions as d
from adjoin import reconcile_plan
from adjoin.aws import Ec2Adapter, StateStore, Transition, chunks, classify
from adjoin.config import AccountConfig, ConfigStore
from adjoin.directory.base import StampedComputer
from adjoin.directory.factory import DirectoryFactory
from adjoin.errors import AdJoinError
from adjoin.log import logger
from adjoin.reconcile_plan import JOIN, LEAVE, REMOVE_OBJECT, Limits, Plan
from adjoin.settings import Settings

#: the task message a run puts on the domain-join queue for each account and Region
TASK_SOURCE = "ad-join"
TASK_DETAIL_TYPE = "Reconcile Task"
EC2_DETAIL_TYPE = "EC2 Instance State-change Notification"


@dataclass(frozen=True)
class Task:
    account: str
    region: str
    run_id: str
    dry_run: bool = False

    def body(self) -> str:
        return json.dumps(
            {
                "source": TASK_SOURCE,
                "detail-type": TASK_DETAIL_TYPE,
                "detail": {
                    "account": self.account,
                    "region": self.region,
                    "runId": self.run_id,
                    "dryRun": self.dry_run,
                },
            }
        )


def parse_task(body: str) -> Task | None:
    """The task in a queue message body, or None when the body is anything else."""
    try:
        data = json.loads(body)
    except (TypeError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("source") != TASK_SOURCE:
        return None
    if data.get("detail-type") != TASK_DETAIL_TYPE or not isinstance(data.get("detail"), dict):
        return None
    detail = data["detail"]
    account, region = detail.get("account"), detail.get("region")
    if not isinstance(account, str) or not isinstance(region, str):
        return None
    return Task(account, region, str(detail.get("runId", "")), bool(detail.get("dryRun")))


@dataclass
class Report:
    account: str
    region: str
    run_id: str
    dry_run: bool
    instances_seen: int = 0
    skipped: str = ""  # why the task was skipped ("" = it ran)
    directory_read: bool = False
    plan: dict[str, Any] = field(default_factory=dict)
    joins_started: int = 0
    objects_removed: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "region": self.region,
            "runId": self.run_id,
            "dryRun": self.dry_run,
            "instancesSeen": self.instances_seen,
            "skipped": self.skipped,
            "directoryRead": self.directory_read,
            "plan": self.plan,
            "joinsStarted": self.joins_started,
            "objectsRemoved": self.objects_removed,
            "capped": len(self.plan.get("capped", [])),
            "errors": self.errors,
        }


def _now() -> datetime:
    return datetime.now(UTC)


def state_event(account: str, region: str, instance_id: str, state: str) -> str:
    """An EC2 state-change event as EventBridge delivers it, for the engine to process."""
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": EC2_DETAIL_TYPE,
            "source": "aws.ec2",
            "account": account,
            "time": _now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region,
            "resources": [f"arn:aws:ec2:{region}:{account}:instance/{instance_id}"],
            "detail": {"instance-id": instance_id, "state": state},
        }
    )


class Reconciler:
    """Runs reconcile tasks. Built once per container by adjoin.handler."""

    def __init__(
        self,
        *,
        settings: Settings,
        client: Callable[[str, AccountConfig, str], Any],
        config_store: ConfigStore,
        state: StateStore,
        sqs: Any,
        directories: DirectoryFactory,
        emit_metric: Callable[[str, int], None],
        now: Callable[[], datetime] = _now,
    ) -> None:
        self.settings = settings
        self._client = client  # (service, config, Region) -> a client in that account
        self.config_store = config_store
        self.state = state
        self.sqs = sqs
        self.directories = directories
        self.emit_metric = emit_metric
        self.now = now

    @property
    def limits(self) -> Limits:
        share = self.settings.reconcile_max_deletion_percent
        return Limits(
            grace_seconds=self.settings.reconcile_grace_seconds,
            max_deletions=self.settings.reconcile_max_deletions,
            max_deletion_share=share / 100 if share else None,
        )

    # ---- fan-out ------------------------------------------------------------------------
    def start_run(self, *, dry_run: bool = False) -> dict[str, Any]:
        """One task per configured account and served Region, on the domain-join queue."""
        run_id = str(uuid.uuid4())
        tasks = [
            Task(account, region, run_id, dry_run)
            for account in self.config_store.account_ids()
            for region in self.settings.regions
        ]
        for part in chunks(tasks, 10):
            response = self.sqs.send_message_batch(
                QueueUrl=self.settings.queue_url,
                Entries=[
                    {"Id": str(i), "MessageBody": t.body(), "DelaySeconds": 0}
                    for i, t in enumerate(part)
                ],
            )
            if response.get("Failed"):
                raise RuntimeError(f"could not queue {len(response['Failed'])} reconcile tasks")
        logger.info(
            "reconcile run started",
            extra={"run_id": run_id, "tasks": len(tasks), "dry_run": dry_run},
        )
        return {"runId": run_id, "tasks": len(tasks), "dryRun": dry_run}

    # ---- one task -----------------------------------------------------------------------
    def run_task(self, task: Task) -> Report:
        report = Report(task.account, task.region, task.run_id, task.dry_run)
        try:
            config = self.config_store.get(task.account)
            ec2 = Ec2Adapter(self._client("ec2", config, task.region))
            instances = ec2.all_instances()
            rows = self.state.rows_of(task.account, task.region)
        except Exception as exc:
            error = exc if isinstance(exc, AdJoinError) else classify(exc, "observe")
            report.skipped = f"{error.reason}: {error}"
            self._record(report)
            return report
        report.instances_seen = len(instances)
        stamped = self._stamped(config, report)
        plan = reconcile_plan.plan(
            task.account,
            task.region,
            config=config,
            instances=instances,
            rows=rows,
            stamped=stamped,
            now=self.now(),
            limits=self.limits,
        )
        report.plan = plan.as_dict()
        if not task.dry_run:
            self._act(task, config, plan, report)
        self._record(report)
        return report

    def _stamped(self, config: AccountConfig, report: Report) -> list[StampedComputer] | None:
        if self.directories.leave_adapter_name(config) != "ldap":
            return None  # ds and ad_tools_host cannot list objects: rows only
        try:
            reader: Any = self.directories.ldap(config)
            # the whole domain: an instance tag may have chosen another OU than the config item's
            found: list[StampedComputer] = reader.stamped_computers(None)
        except Exception as exc:
            error = exc if isinstance(exc, AdJoinError) else classify(exc, "list stamped")
            report.errors.append(f"directory not read ({error.reason}): {error}")
            return None
        report.directory_read = True
        return found

    def _act(self, task: Task, config: AccountConfig, plan: Plan, report: Report) -> None:
        events = []
        for step in plan.steps:
            if step.kind in (JOIN, LEAVE):
                state = "running" if step.kind == JOIN else "terminated"
                events.append(
                    (step, state_event(task.account, task.region, step.instance_id, state))
                )
        for part in chunks(events, 10):
            try:
                response = self.sqs.send_message_batch(
                    QueueUrl=self.settings.queue_url,
                    Entries=[
                        {"Id": str(i), "MessageBody": body, "DelaySeconds": 0}
                        for i, (_, body) in enumerate(part)
                    ],
                )
            except Exception as exc:
                report.errors.append(str(classify(exc, "SendMessageBatch")))
                continue
            failed = {int(f["Id"]) for f in response.get("Failed", [])}
            for i, (step, _) in enumerate(part):
                if i in failed:
                    report.errors.append(f"{step.instance_id}: event not queued")
                elif step.kind == JOIN:
                    report.joins_started += 1
                else:
                    report.objects_removed += 1
        for step in plan.steps:
            if step.kind == REMOVE_OBJECT:
                self._remove(task, config, step, report)

    def _remove(self, task: Task, config: AccountConfig, step: Any, report: Report) -> None:
        try:
            leaver = self.directories.leaver(config)
            if leaver is None:
                return
            leaver.delete_computer(step.computer_name, config.dns_name, config.computer_ou)
            at = self.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            self.state.apply(
                [
                    Transition(
                        step.instance_id,
                        d.LEFT,
                        "reconcile_orphan_removed",
                        "not_left",
                        at,
                        attributes=(
                            ("accountId", task.account),
                            ("region", task.region),
                            ("computerName", step.computer_name),
                        ),
                    )
                ]
            )
        except Exception as exc:
            error = exc if isinstance(exc, AdJoinError) else classify(exc, "remove object")
            report.errors.append(f"{step.instance_id}: {error}")
            return
        report.objects_removed += 1

    def _record(self, report: Report) -> None:
        capped = len(report.plan.get("capped", []))
        for name, value in (
            ("ReconcileInstancesSeen", report.instances_seen),
            ("ReconcileJoinsStarted", report.joins_started),
            ("ReconcileObjectsRemoved", report.objects_removed),
            ("ReconcileSkipped", 1 if report.skipped else 0),
            ("ReconcileCapped", capped),
        ):
            self.emit_metric(name, value)
        level = logger.warning if report.skipped or capped or report.errors else logger.info
        level("reconcile report", extra={"reconcile": report.as_dict()})

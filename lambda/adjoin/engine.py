"""The batch engine: parse, decide, act, record, and answer with the failed message ids.

One batch costs, per account and Region, one DescribeInstances and one
DescribeInstanceInformation; the state writes of the whole batch are grouped into one
TransactWriteItems before the work and one after it; the per-instance directory and Run Command
work runs concurrently in a thread pool (boto3 clients are thread-safe; they are created up front).
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adjoin import decisions as d
from adjoin.aws import (
    Ec2Adapter,
    QueueAdapter,
    SsmAdapter,
    StateStore,
    Transition,
    classify,
)
from adjoin.config import AccountConfig, ConfigStore
from adjoin.decisions import Action, Decision, InstanceInfo
from adjoin.directory.factory import DirectoryFactory
from adjoin.errors import AdJoinError, PermanentError, TransientError
from adjoin.events import (
    CommandStatusEvent,
    Event,
    InstanceStateEvent,
    LifecycleActionEvent,
    parse_event,
)
from adjoin.join import JoinAttempt, JoinResult, JoinStep, retry_unavailable
from adjoin.lifecycle import LifecycleStep
from adjoin.log import logger
from adjoin.naming import computer_name
from adjoin.ownership import OwnerStamp
from adjoin.passwords import OtpDeriver
from adjoin.sessions import SessionCache
from adjoin.settings import Settings

#: threads of the per-instance work: a full batch of 100 in one wave (its calls mostly wait)
MAX_WORKERS = 100

# outcome kinds
ACK, RETRY, REJECT = "ack", "retry", "reject"
#: the state a `running` event that does not join records, by decision
_RECORDED_STATUS = {Action.SKIP: d.SKIPPED, Action.RETRY: d.PENDING, Action.REJECT: d.FAILED}
#: a `running` event for an id DescribeInstances does not return: acknowledged, nothing recorded
NOT_FOUND = Decision(Action.SKIP, "instance_not_found", "EC2 does not know this instance")


@dataclass
class Outcome:
    kind: str
    reason: str
    detail: str = ""
    retry_after: int | None = None  # for RETRY: the wait the service asked for, in seconds


@dataclass
class Item:
    """One SQS record and what became of it."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    sent_ms: int
    event: Event | None = None
    config: AccountConfig | None = None
    decision: Decision | None = None
    outcome: Outcome | None = None
    name: str = ""
    old_item: dict[str, Any] | None = None
    command_id: str | None = None
    leave_started: bool = False
    join: JoinResult | None = None  # what the join attempt did
    metrics: list[str] = field(default_factory=list)

    def ctx(self) -> dict[str, str]:
        ev = self.event
        return {
            "message_id": self.message_id,
            "instance_id": ev.instance_id if ev else "",
            "account": ev.account if ev else "",
            "region": ev.region if ev else "",
        }

    def finish(
        self,
        kind: str,
        reason: str,
        detail: str = "",
        metric: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        self.outcome = Outcome(kind, reason, detail, retry_after)
        if metric:
            self.metrics.append(metric)


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _delete(leaver: Any, name: str, config: AccountConfig, ou: str | None) -> bool:
    """Delete through the leave adapter; a synchronous one again while it is unavailable (the
    `ad_tools_host` leave is a command: a lost answer is retried with the message)."""
    if getattr(leaver, "asynchronous", False):
        return bool(leaver.delete_computer(name, config.dns_name, ou))
    return retry_unavailable(lambda _: bool(leaver.delete_computer(name, config.dns_name, ou)))


def _status_before_leaving(old: dict[str, Any] | None) -> str | None:
    """The status the instance had before its termination was first recorded: the old item's
    status, or, if that is already `leaving` (an earlier attempt of the termination, or a
    retried write whose first answer was lost), the status before the first `leaving` entry of
    its history."""
    if not old or old.get("status") != d.LEAVING:
        return str(old["status"]) if old and "status" in old else None
    statuses = [str(h.get("status")) for h in old.get("history") or [] if isinstance(h, dict)]
    if d.LEAVING not in statuses:
        return d.LEAVING
    first = statuses.index(d.LEAVING)
    return statuses[first - 1] if first > 0 else None


def _action_attributes(event: InstanceStateEvent) -> tuple[tuple[str, str], ...]:
    """The launch action a claim's join completes when its command reports (adjoin.lifecycle)."""
    if not isinstance(event, LifecycleActionEvent):
        return ()
    return (
        (d.ROW_HOOK, event.hook_name),
        (d.ROW_GROUP, event.group_name),
        (d.ROW_TOKEN, event.token),
    )


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


class Engine:
    """Processes SQS batches. Built once per container by adjoin.handler."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessions: SessionCache,
        config_store: ConfigStore,
        state: StateStore,
        queue: QueueAdapter,
        directories: DirectoryFactory,
        emit_metric: Callable[[str, int], None],
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        otp: OtpDeriver | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.config_store = config_store
        self.state = state
        self.queue = queue
        self.directories = directories
        self.emit_metric = emit_metric
        self.clock_ms = clock_ms
        self.joins = JoinStep(settings, state, directories, otp)
        self._pool = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="adjoin")
        self._lock = threading.Lock()
        self.lifecycle = LifecycleStep(self)

    # ------------------------------------------------------------------ entry point
    def process(self, records: list[dict[str, Any]]) -> list[str]:
        """Process one SQS batch; returns the message ids to report as batch item failures.

        Nothing raised while handling a record escapes: a step that fails unexpectedly leaves
        every record it had not settled to be retried (`internal_error`), and the batch still
        gets its answer.
        """
        items = [self._parse(record) for record in records]
        steps = (
            self._dedupe,
            self._load_configs,
            self._describe_and_decide,
            self._first_transitions,
            self._run_work,
            self._final_transitions,
            self._lifecycle_actions,
        )
        for step in steps:
            try:
                step(items)
            except Exception as exc:
                logger.exception("unexpected error in a batch step", extra={"step": step.__name__})
                for item in items:
                    if item.outcome is None:
                        item.finish(
                            RETRY, "internal_error", f"{step.__name__}: {type(exc).__name__}"
                        )
        try:
            return self._settle(items)
        except Exception:
            # the last resort: every message comes back (nothing acknowledged, nothing lost)
            logger.exception("unexpected error while settling the batch: retrying all of it")
            return [item.message_id for item in items]

    # ------------------------------------------------------------------ steps
    def _parse(self, record: dict[str, Any]) -> Item:
        if not isinstance(record, dict):
            record = {}
        attributes = record.get("attributes") or {}
        if not isinstance(attributes, dict):
            attributes = {}
        item = Item(
            message_id=str(record.get("messageId", "")),
            receipt_handle=str(record.get("receiptHandle", "")),
            body=str(record.get("body") or ""),
            receive_count=_int(attributes.get("ApproximateReceiveCount"), 1),
            sent_ms=_int(attributes.get("SentTimestamp"), self.clock_ms()),
        )
        try:
            item.event = parse_event(item.body)
        except PermanentError as exc:
            item.finish(REJECT, exc.reason, str(exc), "Rejected")
        except Exception as exc:  # e.g. RecursionError: the parser itself gave up on the body
            item.finish(REJECT, "malformed_event", f"body cannot be parsed: {type(exc).__name__}")
            item.metrics.append("Rejected")
        return item

    @staticmethod
    def _kind(event: Event) -> str:
        if isinstance(event, LifecycleActionEvent):  # never a duplicate of the state change
            return f"lifecycle:{event.token}"
        if isinstance(event, InstanceStateEvent):
            return event.state
        return f"status:{event.command_id}:{event.status}"

    def _dedupe(self, items: list[Item]) -> None:
        """One record per instance per batch: a different event for the same instance waits for
        the next invocation (keeps the order), and so does a redelivered copy of the same event
        (it may own a claim its first delivery made: acknowledging it would leave the claim
        unfinished); a copy delivered for the first time is acknowledged."""
        seen: dict[str, str] = {}
        for item in items:
            if item.outcome or item.event is None:
                continue
            instance_id, kind = item.event.instance_id, self._kind(item.event)
            if instance_id not in seen:
                seen[instance_id] = kind
            elif seen[instance_id] == kind and item.receive_count <= 1:
                item.finish(ACK, "duplicate_in_batch", "same event twice in a batch", "Skipped")
            else:
                item.finish(RETRY, "ordering", "another event for this instance in the batch")

    def _load_configs(self, items: list[Item]) -> None:
        for item in items:
            if item.outcome or item.event is None:
                continue
            try:
                item.config = self.config_store.get(item.event.account)
            except AdJoinError as exc:
                self._fail(item, exc)
            except Exception as exc:
                self._fail(item, classify(exc, "read config"))

    def _role_arn(self, config: AccountConfig) -> str:
        return (
            config.assume_role_arn
            or f"arn:{self.settings.partition}:iam::{config.account_id}:role/"
            f"{self.settings.spoke_role_name}"
        )

    def _client(
        self, service: str, config: AccountConfig, region: str, *, retries: bool = True
    ) -> Any:
        return self.sessions.client(
            service, config.account_id, region, self._role_arn(config), retries
        )

    def _describe_and_decide(self, items: list[Item]) -> None:
        groups: dict[tuple[str, str], list[Item]] = {}
        for item in items:
            ev = item.event
            if (
                item.outcome is None
                and isinstance(ev, InstanceStateEvent)
                and ev.state == "running"
            ):
                groups.setdefault((ev.account, ev.region), []).append(item)
            elif item.outcome is None and isinstance(ev, CommandStatusEvent):
                item.decision = d.decide_command_status(
                    ev, self.settings.linux_join_document, self.settings.windows_join_document
                )
            elif item.outcome is None and isinstance(ev, LifecycleActionEvent) and ev.to_warm_pool:
                # scaled in to the warm pool: stopped, not terminated, it keeps its object
                item.decision = Decision(
                    Action.SKIP, "to_warm_pool", "instance goes to the warm pool"
                )
            elif item.outcome is None and isinstance(ev, InstanceStateEvent):
                item.decision = Decision(Action.LEAVE, "terminated")
        # clients are created here, in this thread (sessions are not thread-safe)
        prepared = []
        for group in groups.values():
            first = group[0]
            assert first.event is not None and first.config is not None  # noqa: S101
            try:
                ec2 = self._client("ec2", first.config, first.event.region)
                ssm = self._client("ssm", first.config, first.event.region)
            except Exception as exc:
                error = exc if isinstance(exc, AdJoinError) else classify(exc, "create clients")
                for item in group:
                    self._fail(item, error)
                continue
            prepared.append((group, Ec2Adapter(ec2), SsmAdapter(ssm)))
        list(self._pool.map(lambda args: self._decide_group(*args), prepared))

    def _decide_group(self, group: list[Item], ec2: Ec2Adapter, ssm: SsmAdapter) -> None:
        try:
            found = ec2.describe([i.event.instance_id for i in group if i.event])
        except Exception as exc:
            for item in group:
                self._fail(item, classify(exc, "DescribeInstances"))
            return
        candidates: list[Item] = []
        for item in group:
            assert item.event is not None and item.config is not None  # noqa: S101
            info: InstanceInfo | None = found.get(item.event.instance_id)
            if info is None:  # EC2 does not know it: record nothing (a source could invent ids)
                item.decision = NOT_FOUND
                continue
            item.decision = d.decide_running(info, item.config)
            if item.decision.action is Action.JOIN:
                candidates.append(item)
        if not candidates:
            return
        try:
            online = ssm.online([i.event.instance_id for i in candidates if i.event])
        except Exception as exc:
            for item in candidates:
                self._fail(item, classify(exc, "DescribeInstanceInformation"))
            return
        for item in candidates:
            assert item.event is not None and item.decision is not None  # noqa: S101
            item.decision = d.decide_agent(item.decision, item.event.instance_id in online)

    def _leaves_read(self, items: list[Item]) -> dict[str, dict[str, Any] | None]:
        """The state items of the batch's terminations, read together (TransactGetItems, 25 items
        per call): their `leaving` writes join the batch's first transaction. An item the read
        misses (the read failed) takes the per-instance write in `_leave` instead."""
        ids = [
            item.event.instance_id
            for item in items
            if item.outcome is None
            and isinstance(item.event, InstanceStateEvent)
            and item.event.state == "terminated"
            and item.decision is not None
            and item.decision.action is Action.LEAVE
            and item.config is not None
        ]
        if not ids:
            return {}
        try:
            return self.state.get_many(ids)
        except Exception as exc:  # each leave writes on its own, as before the batching
            logger.warning(
                "could not read the terminations' state: one write each",
                extra={"error": str(classify(exc, "state TransactGetItems"))},
            )
            return {}

    def _leave_transition(
        self, item: Item, old: dict[str, Any] | None, now: str
    ) -> Transition | None:
        """The `leaving` write of a termination whose state was read, conditional on the item
        being still what was read (or still absent): the read old item is then exactly what an
        UpdateItem with ALL_OLD would have returned. None: nothing to write (already left)."""
        ev = item.event
        assert ev is not None  # noqa: S101
        if old is not None and old.get("status") == d.LEFT:
            item.leave_started = True
            item.decision = d.decide_terminated(d.LEFT)
            item.finish(ACK, item.decision.reason, item.decision.detail, "Skipped")
            return None
        seen = StateStore.seen_of(old)
        if old is not None and seen is None:  # an item the engine did not write: no batching
            return None
        return Transition(
            ev.instance_id,
            d.LEAVING,
            "terminated",
            "unchanged" if old is not None else "absent",
            now,
            attributes=(("accountId", ev.account), ("region", ev.region)),
            seen=seen,
        )

    def _first_transitions(self, items: list[Item]) -> None:
        """Claims, pending/skipped/failed records, command results and the terminations'
        `leaving`: one transaction (after one read of the terminations' items)."""
        now = _iso(self.clock_ms())
        transitions: dict[str, tuple[Transition, Item]] = {}
        read = self._leaves_read(items)
        for item in items:
            ev, dec = item.event, item.decision
            if item.outcome or ev is None or dec is None or item.config is None:
                continue
            if (
                isinstance(ev, InstanceStateEvent)
                and ev.state == "terminated"
                and dec.action is Action.LEAVE
                and ev.instance_id in read
            ):
                old = read[ev.instance_id]
                leaving = self._leave_transition(item, old, now)
                if leaving is not None:
                    item.old_item = old
                    transitions[ev.instance_id] = (leaving, item)
                continue
            if dec is NOT_FOUND:
                logger.warning("running event for an instance EC2 does not know", extra=item.ctx())
                item.finish(ACK, dec.reason, dec.detail, "InstanceNotFound")
                continue
            if isinstance(ev, InstanceStateEvent) and ev.state == "running":
                item.name = computer_name(ev.instance_id, self.settings.computer_name_prefix)
                common = (("accountId", ev.account), ("region", ev.region))
                if dec.action is Action.JOIN:
                    attrs = (
                        *common,
                        ("platform", dec.platform),
                        ("computerName", item.name),
                        ("adGroupName", dec.ad_group_name),
                        # where the object goes: the leave looks for it there
                        ("computerOU", dec.computer_ou or item.config.computer_ou or ""),
                        *_action_attributes(ev),
                    )
                    t = Transition(
                        ev.instance_id,
                        d.JOINING,
                        "join",
                        "claim",
                        now,
                        item.message_id,
                        attributes=attrs,
                        claim=True,
                    )
                else:  # skipped, pending (a retry) or failed (a reject): record why
                    status = _RECORDED_STATUS[dec.action]
                    why = () if dec.action is Action.SKIP else (("lastError", dec.detail),)
                    t = Transition(
                        ev.instance_id,
                        status,
                        dec.reason,
                        "joinable",
                        now,
                        attributes=(*common, *why),
                    )
                transitions[ev.instance_id] = (t, item)
            elif isinstance(ev, CommandStatusEvent):
                if dec.action is Action.RECORD and dec.status:
                    t = Transition(
                        ev.instance_id,
                        dec.status,
                        dec.reason,
                        "command",
                        now,
                        command_id=ev.command_id,
                        attributes=(("lastError", dec.detail),) if dec.detail else (),
                    )
                    transitions[ev.instance_id] = (t, item)
                else:
                    item.finish(ACK, dec.reason, dec.detail)
        if not transitions:
            return
        try:
            results = self.state.apply([t for t, _ in transitions.values()])
        except Exception as exc:
            error = classify(exc, "state TransactWriteItems")
            for _, item in transitions.values():
                self._fail(item, error)
            return
        for instance_id, (t, item) in transitions.items():
            applied, old = results[instance_id]
            old_status = str(old["status"]) if old and "status" in old else None
            dec = item.decision
            assert dec is not None  # noqa: S101
            if t.status == d.LEAVING:
                # refused: the item changed since the read; `_leave` writes it on its own
                item.leave_started = applied
                if not applied:
                    item.old_item = None
                continue
            if isinstance(item.event, CommandStatusEvent):
                if applied:
                    item.metrics.append("JoinSucceeded" if t.status == d.JOINED else "JoinFailed")
                elif old_status == t.status and (old or {}).get("commandId") == t.command_id:
                    pass  # recorded by an earlier delivery (its answer was lost): tag again
                elif old_status == d.JOINING and "commandId" not in (old or {}):
                    # the join's own write of its command id has not happened yet (its answer
                    # was lost, or it crashed): the status waits for it
                    item.finish(RETRY, "command_not_recorded", "the join has not recorded it")
                else:
                    item.finish(ACK, "stale_command_status", f"state is {old_status}")
                continue  # tagging happens in _run_work
            if not applied:
                refused = d.decide_claim_refused(old_status)
                if isinstance(item.event, LifecycleActionEvent) and d.claimed_elsewhere(
                    old, item.message_id
                ):  # the action waits for that join (adjoin.lifecycle)
                    item.finish(RETRY, "join_in_progress", "another message's join is running")
                    continue
                if refused.action is Action.SKIP:
                    item.decision = refused
                    item.finish(ACK, refused.reason, refused.detail, "Skipped")
                    continue
                item.finish(RETRY, refused.reason, refused.detail)
                continue
            if dec.action is Action.SKIP:
                item.finish(ACK, dec.reason, dec.detail, "Skipped")
            elif dec.action is Action.RETRY:
                item.finish(RETRY, dec.reason, dec.detail)
            elif dec.action is Action.REJECT:
                item.finish(REJECT, dec.reason, dec.detail, "Rejected")

    def _run_work(self, items: list[Item]) -> None:
        """Joins, leaves and tags: per-instance work, concurrently. Clients are made first.
        Leaves through an adapter that takes many names (`batch_key`) go out together: one
        command per adapter, domain and OU, in parts of its MAX_NAMES_PER_COMMAND."""
        jobs: list[Callable[[], None]] = []
        together: dict[tuple[Any, str, str | None], tuple[Any, list[Item]]] = {}
        for item in items:
            ev, dec, config = item.event, item.decision, item.config
            if item.outcome or ev is None or dec is None or config is None:
                continue
            try:
                if dec.action is Action.JOIN and isinstance(ev, InstanceStateEvent):
                    directory = self.directories.joiner(config)
                    ssm = SsmAdapter(
                        self._client("ssm", config, ev.region),
                        self._client("ssm", config, ev.region, retries=False),
                    )
                    jobs.append(functools.partial(self._join, item, directory, ssm))
                elif dec.action is Action.LEAVE and item.leave_started:
                    target = self._leave_target(item)
                    if target is None:
                        continue
                    leaver, ou = target
                    key = getattr(leaver, "batch_key", None)
                    if key is None:  # one delete per object (ldap: its own session)
                        jobs.append(functools.partial(self._delete_one, item, leaver, ou))
                    else:
                        together.setdefault((key, config.dns_name, ou), (leaver, []))[1].append(
                            item
                        )
                elif dec.action is Action.LEAVE:  # `leaving` not written yet: one at a time
                    jobs.append(functools.partial(self._leave, item))
                elif dec.action is Action.RECORD and isinstance(ev, CommandStatusEvent):
                    if not self.settings.tag_computer_name:  # opt-in: one CreateTags each
                        item.finish(ACK, dec.reason)
                        continue
                    ec2 = Ec2Adapter(self._client("ec2", config, ev.region))
                    jobs.append(functools.partial(self._tag, item, ec2))
            except AdJoinError as exc:
                self._fail(item, exc)
            except Exception as exc:
                self._fail(item, classify(exc, "prepare"))
        for (_, domain, ou), (leaver, group) in together.items():
            size = int(getattr(leaver, "max_names", 1))
            for first in range(0, len(group), size):
                part = group[first : first + size]
                jobs.append(functools.partial(self._leave_together, leaver, part, domain, ou))
        list(self._pool.map(self._guard, jobs))

    @staticmethod
    def _guard(job: Callable[[], None]) -> None:
        """A bug in one job must not fail the others: its item keeps no outcome (retried)."""
        try:
            job()
        except Exception:
            logger.exception("unexpected error in instance work")

    def _join(self, item: Item, directory: Any, ssm: SsmAdapter) -> None:
        ev, dec, config = item.event, item.decision, item.config
        assert ev is not None and dec is not None and config is not None  # noqa: S101
        attempt = JoinAttempt(
            instance_id=ev.instance_id,
            name=item.name,
            claim=item.message_id,
            claimed_at_ms=item.sent_ms,
            redelivered=item.receive_count > 1,
            platform=dec.platform,
            ad_group_name=dec.ad_group_name,
            ad_sudo_group_name=dec.ad_sudo_group_name,
            computer_ou=dec.computer_ou or config.computer_ou,
            config=config,
            owner=OwnerStamp(ev.instance_id, ev.account, ev.region),
        )
        item.join = JoinResult()
        try:
            self.joins.run(attempt, directory, ssm, item.join)
        except AdJoinError as exc:
            self._fail(item, exc)
            return
        except Exception as exc:
            self._fail(item, classify(exc, "join"))
            return
        item.command_id = item.join.command_id
        item.metrics.append("JoinRequested")
        logger.info(
            "join command found again" if item.join.resumed else "join command sent",
            extra={**item.ctx(), "computer_name": item.name, "command_id": item.command_id},
        )

    def _leave(self, item: Item) -> None:
        """Delete the computer object of a termination whose `leaving` is written: by the
        batch's first transaction, or here, one UpdateItem returning the old item, when the
        batched write could not be used (the read failed, or the item changed since)."""
        ev, config = item.event, item.config
        assert ev is not None and config is not None  # noqa: S101
        if not item.leave_started:
            t = Transition(
                ev.instance_id,
                d.LEAVING,
                "terminated",
                "not_left",
                _iso(self.clock_ms()),
                attributes=(("accountId", ev.account), ("region", ev.region)),
            )
            try:
                applied, old = self.state.update_returning_old(t)
            except Exception as exc:
                self._fail(item, classify(exc, "state UpdateItem"))
                return
            item.old_item = old
            item.leave_started = True
            if not applied:
                item.decision = d.decide_terminated(d.LEFT)
                item.finish(ACK, item.decision.reason, item.decision.detail, "Skipped")
                return
        try:
            target = self._leave_target(item)
        except AdJoinError as exc:
            self._fail(item, exc)
            return
        except Exception as exc:
            self._fail(item, classify(exc, "leave"))
            return
        if target is not None:
            self._delete_one(item, *target)

    def _delete_one(self, item: Item, leaver: Any, ou: str | None) -> None:
        config = item.config
        assert config is not None  # noqa: S101
        try:
            deleted = _delete(leaver, item.name, config, ou)
        except AdJoinError as exc:
            self._fail(item, exc)
            return
        except Exception as exc:
            self._fail(item, classify(exc, "leave"))
            return
        item.command_id = getattr(leaver, "last_command_id", None)
        item.decision = Decision(Action.LEAVE, "deleted" if deleted else "already_absent")

    def _leave_target(self, item: Item) -> tuple[Any, str | None] | None:
        """For a termination whose `leaving` is written: its decision, its computer name and,
        when there is something to delete, (the leave adapter, the OU to look in)."""
        ev, config, old = item.event, item.config, item.old_item
        assert ev is not None and config is not None  # noqa: S101
        item.decision = d.decide_terminated(_status_before_leaving(old))
        item.name = str((old or {}).get("computerName") or "") or computer_name(
            ev.instance_id, self.settings.computer_name_prefix
        )
        if item.decision.action is not Action.LEAVE:
            return None  # recorded as left in _final_transitions, nothing to delete
        item.metrics.append("LeaveRequested")
        leaver = self.directories.leaver(config)
        if leaver is None:
            item.decision = Decision(Action.LEAVE, "record_only")
            return None
        return leaver, str((old or {}).get("computerOU") or "") or config.computer_ou

    def _leave_together(self, leaver: Any, items: list[Item], domain: str, ou: str | None) -> None:
        """One leave command for the names of ITEMS (the `ad_tools_host` adapter: a command per
        batch and host, not per instance)."""
        try:
            command_id = leaver.delete_computers([i.name for i in items], domain, ou)
        except AdJoinError as exc:
            for item in items:
                self._fail(item, exc)
            return
        except Exception as exc:
            error = classify(exc, "leave")
            for item in items:
                self._fail(item, error)
            return
        for item in items:
            item.command_id = command_id
            item.decision = Decision(Action.LEAVE, "deleted")

    def _tag(self, item: Item, ec2: Ec2Adapter) -> None:
        ev = item.event
        assert ev is not None  # noqa: S101
        name = computer_name(ev.instance_id, self.settings.computer_name_prefix)
        try:
            ec2.tag([ev.instance_id], d.TAG_COMPUTER_NAME, name)
        except Exception as exc:  # the state is recorded; the tag is informational
            logger.warning(
                "could not tag instance", extra={**item.ctx(), "error": str(classify(exc, "tag"))}
            )
        item.finish(ACK, item.decision.reason if item.decision else "recorded")

    def _join_transition(self, item: Item, now: str) -> Transition | None:
        """The final write of a claimed join: its command id, its failure, or (a retry) that it
        still owns the claim. `computerClaim` names the claim whose password the computer
        object holds (adjoin.join)."""
        ev = item.event
        assert ev is not None  # noqa: S101
        claimed = item.join is not None and item.join.computer_claimed
        owner: tuple[tuple[str, Any], ...] = (
            (("computerClaim", item.message_id),) if claimed else ()
        )
        if item.outcome is None and item.command_id:
            attrs = (("commandId", item.command_id), *owner)
            return Transition(
                ev.instance_id,
                d.JOINING,
                "command_sent",
                "owned",
                now,
                item.message_id,
                attributes=attrs,
                set_status=False,
            )
        if item.outcome and item.outcome.kind == REJECT:
            # the claim ends; if its attempt sent a create, an object with its password may exist
            if item.join is not None and item.join.create_attempted:
                owner = (("computerClaim", item.message_id),)
            item.metrics.append("JoinFailed")
            return Transition(
                ev.instance_id,
                d.FAILED,
                item.outcome.reason,
                "owned",
                now,
                item.message_id,
                attributes=(("lastError", item.outcome.detail), *owner),
            )
        if item.join is not None:  # transient: the claim stays with this message for its retry
            return Transition(
                ev.instance_id,
                d.JOINING,
                "attempted",
                "owned",
                now,
                item.message_id,
                attributes=owner,
                set_status=False,
            )
        return None

    def _final_transitions(self, items: list[Item]) -> None:
        now = _iso(self.clock_ms())
        for item in items:
            self._give_up_if_exhausted(item)
        transitions: dict[str, tuple[Transition, Item]] = {}
        for item in items:
            ev, dec = item.event, item.decision
            if ev is None or dec is None:
                continue
            if dec.action is Action.JOIN and isinstance(ev, InstanceStateEvent):
                join = self._join_transition(item, now)
                if join is not None:
                    transitions[ev.instance_id] = (join, item)
            elif isinstance(ev, InstanceStateEvent) and ev.state == "terminated":
                if not item.leave_started or (item.outcome and item.outcome.kind == ACK):
                    continue
                if item.outcome is None:
                    attrs: tuple[tuple[str, Any], ...] = (("computerName", item.name),)
                    if item.command_id:
                        attrs = (*attrs, ("leaveCommandId", item.command_id))
                    t = Transition(
                        ev.instance_id, d.LEFT, dec.reason, "leaving", now, attributes=attrs
                    )
                else:
                    assert item.outcome is not None  # noqa: S101
                    t = Transition(
                        ev.instance_id,
                        d.LEAVING,
                        item.outcome.reason,
                        "leaving",
                        now,
                        attributes=(("lastError", item.outcome.detail),),
                    )
                transitions[ev.instance_id] = (t, item)
        if not transitions:
            self._ack_rest(items)
            return
        try:
            results = self.state.apply([t for t, _ in transitions.values()])
        except Exception as exc:
            error = classify(exc, "state TransactWriteItems")
            for _, item in transitions.values():
                if item.outcome is None:
                    self._fail(item, error)
            self._ack_rest(items)
            return
        for instance_id, (t, item) in transitions.items():
            applied, old = results[instance_id]
            old_status = (old or {}).get("status")
            if not applied and t.condition == "owned" and old_status in (d.LEAVING, d.LEFT):
                # terminated while we joined: remove what we created (no orphan object)
                self._compensate(item, str(old_status))
        self._ack_rest(items)

    def _give_up_if_exhausted(self, item: Item) -> None:
        """A retry that would come after RETRY_MAX_SECONDS becomes a rejection
        (`retry_exhausted`): a claimed join then records `failed` in the final write."""
        outcome = item.outcome
        if outcome is None or outcome.kind != RETRY:
            return
        delay = self._retry_delay(item)
        if not d.retry_exhausted(
            item.sent_ms, self.clock_ms(), delay, self.settings.retry_max_seconds
        ):
            return
        detail = f"retries exhausted after {outcome.reason}: {outcome.detail}"
        item.finish(REJECT, "retry_exhausted", detail, "Rejected")
        running = isinstance(item.event, InstanceStateEvent) and item.event.state == "running"
        claimed = item.decision is not None and item.decision.action is Action.JOIN
        if running and not claimed:
            item.metrics.append("JoinFailed")  # a claimed join counts it with its final write

    def _retry_delay(self, item: Item) -> int:
        """The backoff of the next attempt, or longer if the service asked for a longer wait."""
        asked = item.outcome.retry_after if item.outcome else None
        delay = max(d.retry_delay(item.receive_count, self.settings.retry_base_seconds), asked or 0)
        if isinstance(item.event, LifecycleActionEvent):  # back before the action times out
            delay = min(delay, d.max_wait(self.settings.lifecycle_heartbeat_timeout))
        return delay

    def _compensate(self, item: Item, old_status: str) -> None:
        ev, config = item.event, item.config
        assert ev is not None and config is not None  # noqa: S101
        if item.join is None:
            return  # the attempt never ran: it created nothing
        logger.warning(
            "instance left during the join: removing the new computer object",
            extra={**item.ctx(), "state": old_status},
        )
        try:
            leaver = self.directories.leaver(config)
            if leaver is not None:
                ou = (item.decision.computer_ou if item.decision else None) or config.computer_ou
                _delete(leaver, item.name, config, ou)
        except AdJoinError as exc:
            self._fail(item, exc)
            return
        except Exception as exc:
            self._fail(item, classify(exc, "compensating leave"))
            return
        item.finish(ACK, "terminated_during_join", "computer object removed again", "Skipped")

    def _lifecycle_actions(self, items: list[Item]) -> None:
        self.lifecycle.run(items)

    def _ack_rest(self, items: list[Item]) -> None:
        for item in items:
            if item.outcome is not None or item.decision is None:
                continue
            action = item.decision.action
            if action is Action.LEAVE and item.decision.reason != "terminated":
                item.finish(ACK, item.decision.reason, metric="LeaveSucceeded")
            elif action is Action.SKIP:
                item.finish(ACK, item.decision.reason, item.decision.detail, "Skipped")
            else:
                item.finish(ACK, item.decision.reason, item.decision.detail)

    def _fail(self, item: Item, exc: AdJoinError, reason: str | None = None) -> None:
        """Retry a transient error, reject a permanent one (with `reason`, or the error's)."""
        why = reason or exc.reason
        if isinstance(exc, TransientError):
            item.finish(RETRY, why, str(exc), retry_after=exc.retry_after)
        else:
            item.finish(REJECT, why, str(exc), "Rejected")

    # ------------------------------------------------------------------ settle
    def _settle(self, items: list[Item]) -> list[str]:
        failures: list[str] = []
        dead: list[tuple[str, str, str, str]] = []
        delays: list[tuple[str, str, int]] = []
        counts: Counter[str] = Counter()
        for item in items:
            if item.outcome is None:
                item.finish(RETRY, "internal_error", "no outcome")
            self._give_up_if_exhausted(item)
            outcome = item.outcome
            assert outcome is not None  # noqa: S101
            if outcome.kind == RETRY:
                delays.append((item.message_id, item.receipt_handle, self._retry_delay(item)))
                failures.append(item.message_id)
                counts["Retried"] += 1
            elif outcome.kind == REJECT:
                dead.append((item.message_id, item.body, outcome.reason, outcome.detail))
            counts.update(item.metrics)
            level = logger.info if outcome.kind == ACK else logger.warning
            level(
                f"message {outcome.kind}: {outcome.reason}",
                extra={
                    **item.ctx(),
                    "outcome": outcome.kind,
                    "reason": outcome.reason,
                    "detail": outcome.detail,
                    "receive_count": item.receive_count,
                },
            )
        if delays:
            self.queue.delay(delays)  # a failed change keeps the queue's own visibility timeout
        if dead:
            not_sent = self.queue.dead_letter(dead)
            for message_id in sorted(not_sent):
                logger.error(
                    "could not send to the dead-letter queue: reporting failure",
                    extra={"message_id": message_id},
                )
            failures.extend(sorted(not_sent))
        for name, count in sorted(counts.items()):
            if count:
                self.emit_metric(name, count)
        return failures

"""Auto Scaling lifecycle actions: complete them, and keep them alive while a join waits.

The engine handles a launch action as a `running` event and a terminate action as a
`terminated` one, through its own join and leave paths. This step runs after the batch's final
state writes and acts on what they settled (decisions.lifecycle_result):
- a launch that will not join, or whose join failed for good, and a terminate action whose
  leave is done, are completed now;
- a launch whose claim sent the join command is completed by that command's status event: the
  claim wrote the action's hook, group and token on the state row (the status event does not
  carry them), and this step reads the row back when LIFECYCLE_HOOKS is on;
- a waiting action (its message is retried: the agent is not online yet, another message's join
  is in progress) records a heartbeat only when its next delivery could come after the action
  times out (decisions.needs_heartbeat): no call per instance per batch.

CompleteLifecycleAction and RecordLifecycleActionHeartbeat answer ValidationError when the
action is no longer active (completed by an earlier delivery, or timed out); that is done, not
an error (https://github.com/spacelift-io/terraform-aws-spacelift-workerpool-on-ec2/pull/197
shows the message "No active Lifecycle Action found with token"; the API reference lists
ValidationError among the common errors:
https://docs.aws.amazon.com/autoscaling/ec2/APIReference/CommonErrors.html).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adjoin import decisions as d
from adjoin.aws import classify, error_code
from adjoin.decisions import Action
from adjoin.errors import AdJoinError
from adjoin.events import CommandStatusEvent, LifecycleActionEvent
from adjoin.log import logger

if TYPE_CHECKING:
    from adjoin.engine import Engine, Item


@dataclass(frozen=True)
class ActionRef:
    """What CompleteLifecycleAction and RecordLifecycleActionHeartbeat need."""

    group_name: str
    hook_name: str
    token: str
    instance_id: str

    def params(self) -> dict[str, str]:
        return {
            "AutoScalingGroupName": self.group_name,
            "LifecycleHookName": self.hook_name,
            "LifecycleActionToken": self.token,
            "InstanceId": self.instance_id,
        }


class LifecycleAdapter:
    """The spoke account's Auto Scaling lifecycle actions (one client per account and Region)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def complete(self, ref: ActionRef, result: str) -> bool:
        """Complete the action; False when it is no longer active."""
        return self._call(
            self._client.complete_lifecycle_action, **ref.params(), LifecycleActionResult=result
        )

    def heartbeat(self, ref: ActionRef) -> bool:
        """Extend the action's timeout; False when it is no longer active."""
        return self._call(self._client.record_lifecycle_action_heartbeat, **ref.params())

    @staticmethod
    def _call(method: Callable[..., Any], **params: str) -> bool:
        """Call an action's API; False when it answers ValidationError (no longer active)."""
        try:
            method(**params)
        except Exception as exc:
            if error_code(exc) == "ValidationError":
                return False
            raise
        return True


def _ref(event: LifecycleActionEvent) -> ActionRef:
    return ActionRef(event.group_name, event.hook_name, event.token, event.instance_id)


def _row_ref(row: dict[str, Any], instance_id: str) -> ActionRef:
    return ActionRef(
        str(row[d.ROW_GROUP]), str(row[d.ROW_HOOK]), str(row[d.ROW_TOKEN]), instance_id
    )


class LifecycleStep:
    """The engine's lifecycle step (adjoin.engine runs it after its final state writes)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.settings = engine.settings

    def run(self, items: list[Item]) -> None:
        jobs: list[Callable[[], None]] = []
        adapters: dict[tuple[str, str], LifecycleAdapter] = {}
        for item in items:
            ev, config = item.event, item.config
            if item.outcome is None or ev is None or config is None:
                continue
            job = self._job(item)
            if job is None:
                continue
            key = (ev.account, ev.region)
            try:  # clients are made here, in this thread (sessions are not thread-safe)
                if key not in adapters:
                    client = self.engine._client("autoscaling", config, ev.region)
                    adapters[key] = LifecycleAdapter(client)
            except Exception as exc:
                self._not_completed(item, classify(exc, "create clients"))
                continue
            jobs.append(functools.partial(job, adapters[key]))
        list(self.engine._pool.map(self.engine._guard, jobs))

    def _job(self, item: Item) -> Callable[[LifecycleAdapter], None] | None:
        """What to do for this item, or None."""
        ev, outcome = item.event, item.outcome
        assert outcome is not None  # noqa: S101
        if isinstance(ev, LifecycleActionEvent):
            result = d.lifecycle_result(
                ev.launch, outcome.kind, outcome.reason, self.settings.lifecycle_failure_result
            )
            if result is not None:
                return lambda adapter: self._complete(item, adapter, _ref(ev), result)
            elapsed = (self.engine.clock_ms() - item.sent_ms) / 1000.0
            timeout = self.settings.lifecycle_heartbeat_timeout
            if outcome.kind == "retry":
                wait = self.engine._retry_delay(item)
            elif ev.launch and outcome.reason == "join":
                wait = d.max_wait(timeout)  # the join command reports within half a timeout
            else:
                return None
            if d.needs_heartbeat(elapsed, timeout, wait):
                return lambda adapter: self._heartbeat(item, adapter, _ref(ev))
            return None
        if (
            self.settings.lifecycle_hooks
            and isinstance(ev, CommandStatusEvent)
            and item.decision is not None
            and item.decision.action is Action.RECORD
            and outcome.kind == "ack"
            and outcome.reason in ("join_succeeded", "join_failed")
        ):
            return lambda adapter: self._complete_for_status(item, adapter)
        return None

    def _complete_for_status(self, item: Item, adapter: LifecycleAdapter) -> None:
        ev, dec = item.event, item.decision
        assert isinstance(ev, CommandStatusEvent) and dec is not None  # noqa: S101
        try:
            row = self.engine.state.get(ev.instance_id)
        except Exception as exc:
            self._not_completed(item, classify(exc, "state GetItem"))
            return
        result = d.status_result(
            row, ev.command_id, str(dec.status), self.settings.lifecycle_failure_result
        )
        if result is not None and row is not None:
            self._complete(item, adapter, _row_ref(row, ev.instance_id), result)

    def _complete(self, item: Item, adapter: LifecycleAdapter, ref: ActionRef, result: str) -> None:
        try:
            active = adapter.complete(ref, result)
        except Exception as exc:
            self._not_completed(item, classify(exc, "CompleteLifecycleAction"))
            return
        logger.info(
            "lifecycle action completed" if active else "lifecycle action no longer active",
            extra={**item.ctx(), "lifecycle_hook": ref.hook_name, "result": result},
        )
        if active:
            item.metrics.append("LifecycleActionCompleted")

    def _heartbeat(self, item: Item, adapter: LifecycleAdapter, ref: ActionRef) -> None:
        try:
            adapter.heartbeat(ref)
        except Exception as exc:  # the message is retried anyway; the next delivery tries again
            logger.warning(
                "could not record a lifecycle heartbeat",
                extra={**item.ctx(), "error": str(classify(exc, "heartbeat"))},
            )
            item.metrics.append("LifecycleActionFailed")
            return
        item.metrics.append("LifecycleHeartbeat")

    def _not_completed(self, item: Item, exc: AdJoinError) -> None:
        """The action could not be completed: an acknowledged message comes back (its next
        delivery finds the same outcome and completes again); a rejected one goes to the
        dead-letter queue as it would anyway, and the action ends with the hook's
        DefaultResult when it times out."""
        logger.warning(
            "could not complete the lifecycle action", extra={**item.ctx(), "error": str(exc)}
        )
        item.metrics.append("LifecycleActionFailed")
        outcome = item.outcome
        if outcome is None or outcome.kind != "ack":
            return
        self.engine._fail(item, exc, "lifecycle_not_completed")

"""Time to join: a simulated timeline that drives the real handler on a simulated clock.

Each instance reaches `running` at its launch time; its SSM agent comes online AGENT_ONLINE_S
later, its user data (cloud-init) finishes USER_DATA_S after `running`, and the join itself takes
JOIN_S. The join script waits for the instance's own boot work first (`cloud-init status
--wait`, the instance-side scripts' job), so a join command sent early starts joining when user
data is done. Time to join is from `running` until the join has succeeded (an AD user can log
in); the state table then says `joined` once the command's status event has been handled.

What the simulation models, and from which documentation:
- the queue's delay holds each new message (`DelaySeconds`,
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-delay-queues.html);
  a message the handler reports as failed comes back when the visibility timeout the engine set
  with ChangeMessageVisibility runs out, else after the queue's own visibility timeout
  (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html);
- the event source mapping gathers visible messages for up to its batching window or until the
  batch is full, and runs at most `maximum_concurrency` invocations at once
  (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html,
  https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html);
- an invocation lasts as long as the handler really took (moto, with the injected latency);
- event delivery (EventBridge, SNS) is taken as DELIVERY_S, an assumption, not a documented
  figure.

Ours runs with modules/hub's defaults, read from its variables.tf (queue delay, batch size,
batching window, maximum concurrency, retry base); the seed's algorithm runs with its 300 s
delay and the same event source mapping. The engine's clock and its queue adapter are replaced
on the built engine (attributes), not in its code.
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.bench.lifecycle import (
    ROOT,
    Instance,
    environment,
    launch_fleet,
    quiet,
    success_event,
)

HUB_VARIABLES = ROOT / "modules" / "hub" / "variables.tf"
SEED_DELAY_S = 300
QUEUE_VISIBILITY_S = 900  # modules/hub/queue.tf
EPOCH = 1_800_000_000.0  # simulated seconds since the Unix epoch at t = 0


@dataclass(frozen=True)
class Boot:
    """When, after `running`, an instance is ready for each step."""

    agent_online_s: float = 20.0
    user_data_s: float = 60.0
    join_s: float = 10.0


@dataclass(frozen=True)
class Mapping:
    """The queue and its event source mapping."""

    delay_s: int
    batch_size: int
    window_s: float
    concurrency: int
    retry_base_s: int | None = None  # None: the Lambda's default
    retry_max_s: int | None = None  # how long a join is retried (the simulation runs below it)


def module_defaults(path: Path = HUB_VARIABLES) -> Mapping:
    """modules/hub's defaults, read from the module itself (no copy of them here)."""
    text = path.read_text()

    def optional(name: str) -> int:
        found = re.search(rf"^\s*{name}\s*=\s*optional\(number,\s*([0-9]+)\)", text, re.M)
        if not found:
            raise SystemExit(f"{path}: no default for {name}")
        return int(found.group(1))

    delay = re.search(r'variable "queue_delay_seconds" \{.*?default\s*=\s*([0-9]+)', text, re.S)
    if not delay:
        raise SystemExit(f"{path}: no default for queue_delay_seconds")
    return Mapping(
        delay_s=int(delay.group(1)),
        batch_size=optional("batch_size"),
        window_s=optional("batching_window_seconds"),
        concurrency=optional("maximum_concurrency"),
        retry_base_s=optional("retry_base_seconds"),
        retry_max_s=optional("retry_max_seconds"),
    )


@dataclass
class Message:
    message_id: str
    body: dict[str, Any]
    sent_at: float
    visible_at: float
    receives: int = 0
    receipt: str = ""


@dataclass
class SimQueue:
    """The domain-join queue on the simulated clock; also the engine's QueueAdapter."""

    delay_s: int
    messages: dict[str, Message] = field(default_factory=dict)
    dead: list[tuple[str, str]] = field(default_factory=list)
    _delays: dict[str, int] = field(default_factory=dict)

    def send(self, body: dict[str, Any], now: float) -> None:
        mid = str(uuid.uuid4())
        self.messages[mid] = Message(mid, body, now, now + self.delay_s)

    def next_visible(self) -> float | None:
        return min((m.visible_at for m in self.messages.values()), default=None)

    def receive(self, now: float, limit: int) -> list[Message]:
        ready = sorted(
            (m for m in self.messages.values() if m.visible_at <= now), key=lambda m: m.visible_at
        )[:limit]
        for m in ready:
            m.receives += 1
            m.receipt = f"rh-{uuid.uuid4()}"
            m.visible_at = float("inf")  # in flight
        return ready

    # -- the engine's QueueAdapter interface
    def delay(self, receipts: list[tuple[str, str, int]]) -> set[str]:
        for mid, _, seconds in receipts:
            self._delays[mid] = seconds
        return set()

    def dead_letter(self, messages: list[tuple[str, str, str, str]]) -> set[str]:
        self.dead.extend((mid, reason) for mid, _, reason, _ in messages)
        return set()

    def settle(self, batch: list[Message], failed: set[str], now: float) -> None:
        """After an invocation: delete what succeeded; failed ones come back after the
        visibility the engine set (or the queue's)."""
        for m in batch:
            if m.message_id in failed:
                m.visible_at = now + self._delays.pop(m.message_id, QUEUE_VISIBILITY_S)
            else:
                self._delays.pop(m.message_id, None)
                del self.messages[m.message_id]


@dataclass
class Result:
    label: str
    mapping: Mapping
    joined_after: list[float]  # per instance: running -> join succeeded (s)
    recorded_after: list[float]  # per instance: running -> state table says joined (s)
    invocations: int
    aws_calls: int
    retries: int  # receives of a message after its first (agent offline, ...)
    dead: int
    instances: int

    @staticmethod
    def percentile(values: list[float], q: float) -> float:
        """Nearest-rank percentile."""
        if not values:
            return float("nan")
        ordered = sorted(values)
        rank = max(1, int(-(-q * len(ordered) // 100)))  # ceil(q/100 * n)
        return ordered[rank - 1]

    def p(self, q: float) -> float:
        return self.percentile(self.joined_after, q)


class Timeline:
    """Discrete events on a simulated clock; the handler runs for real at each invocation."""

    def __init__(  # noqa: PLR0917 - the simulation's parts
        self,
        handle: Callable[[dict[str, Any]], set[str]],
        queue: SimQueue,
        mapping: Mapping,
        fake: Any,
        boot: Boot,
        fleet: list[Instance],
        launched: dict[str, float],
        delivery_s: float,
        invocation_s: float | None = None,
    ) -> None:
        self.handle, self.queue, self.mapping, self.fake = handle, queue, mapping, fake
        self.boot, self.fleet, self.launched, self.delivery_s = boot, fleet, launched, delivery_s
        self.invocation_s = invocation_s  # None: as long as the handler really took
        self.now = 0.0
        self.events: list[tuple[float, int, str, Any]] = []
        self._order = itertools.count()
        self.slots = [0.0] * mapping.concurrency  # when each concurrent invocation is free
        self.joined: dict[str, float] = {}
        self.recorded: dict[str, float] = {}
        self.invocations = 0
        self.calls = 0
        self.retries = 0
        self.sent: set[str] = set()

    def at(self, when: float, kind: str, payload: Any = None) -> None:
        heapq.heappush(self.events, (when, next(self._order), kind, payload))

    def clock_ms(self) -> int:
        return int((EPOCH + self.now) * 1000)

    def online(self) -> set[str]:
        return {iid for iid, t in self.launched.items() if self.now >= t + self.boot.agent_online_s}

    def run(self, on_sent: Callable[[Timeline, list[str]], None], horizon_s: float) -> None:
        while self.events or self.queue.messages:
            next_event = self.events[0][0] if self.events else float("inf")
            visible = self.queue.next_visible()
            batch_at = float("inf")
            if visible is not None and visible != float("inf"):
                # the mapping gathers for its window (or until the batch is full), and waits
                # for a free invocation slot
                start = max(visible, min(self.slots))
                ready = sorted(
                    m.visible_at for m in self.queue.messages.values() if m.visible_at <= start
                )
                full_at = (
                    ready[self.mapping.batch_size - 1]
                    if len(ready) >= self.mapping.batch_size
                    else float("inf")
                )
                batch_at = max(min(start + self.mapping.window_s, full_at), min(self.slots))
            if min(next_event, batch_at) > horizon_s:
                return
            if next_event <= batch_at:
                when, _, kind, payload = heapq.heappop(self.events)
                self.now = when
                if kind == "send":
                    self.queue.send(payload, when)
                elif kind == "joined":
                    self.joined.setdefault(payload, when)
                continue
            self.now = batch_at
            self._invoke(on_sent)

    def _invoke(self, on_sent: Callable[[Timeline, list[str]], None]) -> None:
        slot = self.slots.index(min(self.slots))
        batch = self.queue.receive(self.now, self.mapping.batch_size)
        if not batch:
            self.slots[slot] = self.now
            return
        records = [
            {
                "messageId": m.message_id,
                "receiptHandle": m.receipt,
                "body": json.dumps(m.body),
                "attributes": {
                    "ApproximateReceiveCount": str(m.receives),
                    "SentTimestamp": str(int((EPOCH + m.sent_at) * 1000)),
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
            }
            for m in batch
        ]
        self.fake.online = self.online()
        before = sum(self.fake.calls.values())
        requests = len(self.fake.requests)
        started = time.perf_counter()
        failed = self.handle({"Records": records})
        took = time.perf_counter() - started if self.invocation_s is None else self.invocation_s
        self.calls += sum(self.fake.calls.values()) - before
        self.invocations += 1
        new = self.fake.requests[requests:]
        instance_ids = [
            iid
            for service, operation, body in new
            if (service, operation) == ("ssm", "SendCommand")
            for iid in _instance_ids(body)
            if iid in self.launched
        ]
        end = self.now + took
        self.retries += sum(m.receives > 1 for m in batch)
        for m in batch:
            if m.message_id not in failed and m.body.get("source") == "aws.ssm":
                self.recorded.setdefault(m.body["detail"]["instance-id"], end)
        self.queue.settle(batch, failed, end)
        self.slots[slot] = end
        on_sent(self, instance_ids)


def _instance_ids(body: bytes) -> list[str]:
    try:
        return [str(i) for i in json.loads(body).get("InstanceIds", [])]
    except ValueError:
        return []


def simulate(
    label: str,
    mapping: Mapping,
    *,
    ours: bool,
    instances: int,
    spread_s: float,
    boot: Boot,
    latency_ms: float,
    delivery_s: float,
    waits_for_boot: bool = True,
    invocation_s: float | None = None,
) -> Result:
    """One timeline: INSTANCES reach `running` evenly over SPREAD_S seconds. INVOCATION_S fixes
    how long each invocation lasts on the simulated clock (default: as long as it really took)."""
    environment()
    from moto import mock_aws

    from adjoin import handler
    from tests.bench.seed import SeedPeer
    from tests.e2e.moto_patches import fast_transactions
    from tests.unit import fakes

    with fakes.fake_aws() as fake, mock_aws(), fast_transactions():
        world = fakes.make_world()
        env = world.env(DIRECTORY_ADAPTER="ds", LEAVE_ADAPTER="none")
        fake.latency = latency_ms / 1000.0
        if mapping.retry_base_s is not None:
            env["RETRY_BASE_SECONDS"] = str(mapping.retry_base_s)
        else:
            env.pop("RETRY_BASE_SECONDS", None)
            os.environ.pop("RETRY_BASE_SECONDS", None)
        os.environ.update(env)
        fleet = launch_fleet(instances)
        queue = SimQueue(mapping.delay_s)
        step = spread_s / max(len(fleet) - 1, 1)
        launched = {i.instance_id: index * step for index, i in enumerate(fleet)}
        by_id = {i.instance_id: i for i in fleet}
        if ours:
            handler.reset()
            engine = handler.get_engine()
            engine.queue = queue  # type: ignore[assignment]

            def handle(event: dict[str, Any]) -> set[str]:
                with quiet():
                    answer = handler.lambda_handler(event, None)
                return {f["itemIdentifier"] for f in answer["batchItemFailures"]}

        else:
            peer = SeedPeer(fakes.CONFIG_TABLE, fakes.HUB_REGION)

            def handle(event: dict[str, Any]) -> set[str]:
                peer.handle(event)
                return set()

        sim = Timeline(
            handle, queue, mapping, fake, boot, fleet, launched, delivery_s, invocation_s
        )
        if ours:
            engine.clock_ms = sim.clock_ms

        for i in fleet:
            event = fakes.state_event(i.account, i.region, i.instance_id, "running")
            sim.at(launched[i.instance_id] + delivery_s, "send", event)

        def on_sent(tl: Timeline, instance_ids: list[str]) -> None:
            for iid in instance_ids:
                if iid in tl.sent:
                    continue
                tl.sent.add(iid)
                ready = launched[iid] + (boot.user_data_s if waits_for_boot else 0.0)
                done = max(tl.now, ready) + boot.join_s
                tl.at(done, "joined", iid)
                if ours:  # the command's status event travels back through the queue
                    tl.at(done + delivery_s, "send", success_event(world, by_id[iid]))

        sim.run(on_sent, horizon_s=4 * 3600)
        fake.latency = 0.0
        recorded: list[float] = []
        if ours:
            for iid, t in launched.items():
                if (world.state(iid) or {}).get("status") == "joined" and iid in sim.recorded:
                    recorded.append(sim.recorded[iid] - t)
            handler.reset()
    return Result(
        label=label,
        mapping=mapping,
        joined_after=[sim.joined[iid] - t for iid, t in launched.items() if iid in sim.joined],
        recorded_after=recorded,
        invocations=sim.invocations,
        aws_calls=sim.calls,
        retries=sim.retries,
        dead=len(queue.dead),
        instances=len(fleet),
    )

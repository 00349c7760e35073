"""Chaos runs: 200 instances over 2 accounts x 2 Regions joined under faults, then a wave of 50
terminations, through the real `lambda_handler` on a simulated clock (tests/chaos/world.py), with
faults injected inside botocore's retry loop and on the LDAP connection (tests/chaos/faults.py).

    .venv/bin/python -m tests.chaos.run [--adapter ds ldap] [--seeds 1-20] [--jobs 2]

Prints one table per adapter and fault mix (one row per seed, then the totals) for the joins and
for the terminations, and exits non-zero when a target of issue 8 is missed: every instance joined
exactly once (no second join command with another one-time password), none lost, no orphan
computer object, nothing dead-lettered for a transient cause; every termination removed, none
lost. The engine's thread pool runs its jobs in the calling thread here, so that a seed replays
exactly.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "eu-west-1")
HUB_REGION = "us-east-1"
INVOCATION_SECONDS = 2.0
HUB_QUEUE = os.path.join(os.path.dirname(__file__), "..", "..", "modules", "hub", "queue.tf")


@dataclass(frozen=True)
class Defaults:
    """modules/hub's defaults for the queue, its event source mapping and the Lambda's retries,
    read from the module (so a run uses what a deployment gets)."""

    delay: int
    visibility: int
    max_receive: int
    batch_size: int
    window: float
    retry_base: int
    retry_max: int

    @classmethod
    def read(cls) -> Defaults:
        import re

        from tests.bench.timeline import module_defaults

        mapping = module_defaults()
        with open(HUB_QUEUE, encoding="utf-8") as handle:
            queue = handle.read()
        visibility = re.search(r"visibility_timeout_seconds\s*=\s*([0-9]+)", queue)
        receives = re.search(r"maxReceiveCount\s*=\s*([0-9]+)", queue)
        retry_base, retry_max = mapping.retry_base_s, mapping.retry_max_s
        if not visibility or not receives or retry_base is None or retry_max is None:
            raise SystemExit(f"{HUB_QUEUE}: no visibility timeout, maxReceiveCount or retry bound")
        return cls(
            delay=mapping.delay_s,
            visibility=int(visibility.group(1)),
            max_receive=int(receives.group(1)),
            batch_size=mapping.batch_size,
            window=float(mapping.window_s),
            retry_base=retry_base,
            retry_max=retry_max,
        )


PHASE_LIMIT_SECONDS = 6 * 3600.0  # a phase that has not drained by then is reported as stuck


@dataclass
class Scenario:
    adapter: str  # ds (leave: ad_tools_host) or ldap (leave: ldap)
    seed: int
    rate: float = 0.30
    ambiguous: float = 0.5
    crash: float = 0.05
    instances: int = 200
    terminations: int = 50
    duplicates: float = 0.05  # share of running events EventBridge delivers twice
    late_agents: float = 0.10  # share of instances whose SSM agent comes online 20-300 s late
    poison: int = 3  # malformed bodies in the running burst


@dataclass
class Phase:
    """The outcome of one phase (joins or terminations) of one run."""

    instances: int = 0
    exactly_once: int = 0  # joins: joined once, one one-time password; leaves: removed
    multiple: int = 0  # more than one effective join, or commands with different passwords
    duplicate_commands: int = 0  # extra commands with the same one-time password (harmless)
    dead_lettered: Counter[str] = field(default_factory=Counter)  # instances, by reason
    dlq_duplicates: int = 0  # DLQ messages beyond one per source message and reason
    lost: int = 0  # neither done nor dead-lettered
    state_wrong: int = 0  # done, but the state row says otherwise
    orphans: int = 0  # computer objects left without a joined instance
    poison_rejected: int = 0  # malformed bodies dead-lettered with their reason
    invocations: int = 0
    crashes: int = 0
    escaped: int = 0  # invocations where an exception other than a crash left the handler
    faults: int = 0
    stuck: bool = False
    seconds: float = 0.0  # simulated seconds until the phase drained


@dataclass
class RunResult:
    scenario: Scenario
    joins: Phase
    leaves: Phase
    wall_seconds: float = 0.0


def _prepare_environment() -> None:
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "MOTO_ACCOUNT_ID"):
        os.environ.pop(key, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION=HUB_REGION,
        AWS_REGION=HUB_REGION,
        POWERTOOLS_METRICS_NAMESPACE="ADJoinChaos",
    )
    lambda_dir = os.path.join(os.path.dirname(__file__), "..", "..", "lambda")
    if lambda_dir not in sys.path:
        sys.path.insert(0, lambda_dir)


class Run:
    """One seeded run: the world, the faults, the Lambda containers and the accounting."""

    def __init__(self, scenario: Scenario) -> None:
        self._saved_environment = dict(os.environ)
        _prepare_environment()
        from tests.chaos import faults as f
        from tests.chaos import world as w

        self.s = scenario
        self.rng = random.Random(f"world-{scenario.seed}")
        self.stats = f.Stats()
        self.mix = f.FaultMix(scenario.rate, scenario.ambiguous, scenario.crash)
        self.faults = f.HttpFaults(scenario.seed, self.mix, self.stats)
        self.clock = w.Clock()
        self.scheduler = w.Scheduler()
        self.sent: dict[str, Any] = {}  # message id -> sim message (every message ever sent)
        self.defaults = Defaults.read()
        self.invocations = 0
        self.escaped = 0

    # ---- set-up --------------------------------------------------------------------------------
    def _setup(self) -> None:
        import boto3
        from moto.moto_api._internal import mock_random

        from tests.chaos import world as w
        from tests.unit import fakes

        mock_random.seed(self.s.seed)
        self.world = fakes.make_world()
        ldap = self.s.adapter == "ldap"
        extra = {"computerOU": w.COMPUTER_OU}
        if ldap:
            extra.update(
                directoryAdapter="ldap",
                leaveAdapter="ldap",
                ldapServers="dc1.corp.example.com,dc2.corp.example.com",
            )
        else:
            extra.update(directoryAdapter="ds", leaveAdapter="ad_tools_host")
        for account in (fakes.HUB, *ACCOUNTS):
            self.world.put_config(fakes.config_item(account, **extra))
        self.directory: w.Directory = (
            w.LdapDit(fakes.JOIN_PASSWORD) if ldap else w.DsDirectory(fakes.DIRECTORY_ID)
        )
        self.queue = w.SimQueue(
            self.clock,
            self.rng,
            self.world.queue_url,
            delay=self.defaults.delay,
            visibility=self.defaults.visibility,
            max_receive=self.defaults.max_receive,
        )
        self.agents = w.Agents(
            self.clock, self.rng, self.directory, self.scheduler.at, self._emit_status
        )
        if not ldap:
            [host] = fakes.launch(fakes.HUB, HUB_REGION, tags={"adToolsHost": "true"})
            self.agents.add(w.SimInstance(host, fakes.HUB, HUB_REGION, "tools", "", w.T0))
        groups = [(a, r) for a in ACCOUNTS for r in REGIONS]
        per_group, extra_count = divmod(self.s.instances, len(groups))
        from adjoin.naming import computer_name

        for index, (account, region) in enumerate(groups):
            count = per_group + (1 if index < extra_count else 0)
            windows = index % 2 == 1
            for iid in fakes.launch(account, region, count=count, windows=windows):
                late = self.rng.random() < self.s.late_agents
                online = w.T0 + (self.rng.uniform(20, 300) if late else 0.0)
                self.agents.add(
                    w.SimInstance(
                        iid,
                        account,
                        region,
                        "windows" if windows else "linux",
                        computer_name(iid),
                        online,
                    )
                )
        self.dlq_url = self.world.dlq_url
        self.table = boto3.resource("dynamodb", region_name=HUB_REGION).Table(fakes.STATE_TABLE)
        self.env = self.world.env(
            DIRECTORY_ADAPTER="ldap" if ldap else "ds",
            LEAVE_ADAPTER="ldap" if ldap else "ad_tools_host",
            RETRY_BASE_SECONDS=str(self.defaults.retry_base),
            RETRY_MAX_SECONDS=str(self.defaults.retry_max),
        )

    def _body(self, account: str, region: str, event: dict[str, Any]) -> str:
        from tests.unit import fakes

        wrapped = fakes.sns_envelope(event) if region != HUB_REGION else event
        return json.dumps(wrapped)

    def _send(self, body: str, kind: str, instance_id: str | None) -> None:
        message = self.queue.send(body, kind, instance_id)
        self.sent[message.message_id] = message

    def _emit_status(self, instance: Any, record: Any) -> None:
        """EventBridge's `EC2 Command Invocation Status-change Notification` of a join."""
        from tests.unit import fakes

        event = fakes.command_event(
            instance.account,
            instance.region,
            instance.instance_id,
            record.command_id,
            record.status,
            document=record.document,
        )
        body = self._body(instance.account, instance.region, event)
        self._send(body, "status", instance.instance_id)

    # ---- the Lambda ---------------------------------------------------------------------------
    def _engine(self) -> Any:
        from adjoin import handler
        from adjoin.settings import Settings

        if handler._engine is None:
            engine = handler.build_engine(Settings.from_env(self.env))
            # every cache the container keeps runs on the simulated clock (a seed replays
            # whatever the machine's speed)
            engine.clock_ms = self.clock.ms
            engine.config_store._clock = self._now
            engine.directories._secrets._clock = self._now
            engine._pool = _InlineExecutor()
            handler._engine = engine
        return handler._engine

    def _now(self) -> float:
        return self.clock.now

    def _invoke(self, batch: list[Any]) -> None:
        from adjoin import handler
        from tests.chaos.faults import LambdaCrash

        engine = self._engine()
        records = [
            {
                "messageId": m.message_id,
                "receiptHandle": m.receipt,
                "body": m.body,
                "attributes": {
                    "ApproximateReceiveCount": str(m.receive_count),
                    "SentTimestamp": str(int(m.sent_at * 1000)),
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "awsRegion": HUB_REGION,
            }
            for m in batch
        ]
        self.invocations += 1
        crash_at = None
        if self.rng.random() < self.s.crash:
            crash_at = self.rng.randint(1, 6 * len(batch) + 10)
        self.faults.calls, self.faults.crashed, self.faults.crash_at = 0, False, crash_at
        self.faults.armed = True
        answer = None
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # EMF metrics
                answer = handler.lambda_handler({"Records": records}, None)
        except LambdaCrash:
            pass
        except Exception:
            self.escaped += 1
        finally:
            self.faults.armed = False
        if crash_at is not None and not self.faults.crashed:
            self.stats.crashes += 1  # it died after its work, before answering
            self.faults.crashed = True
        if self.faults.crashed or answer is None:
            # the container is gone (or the invocation failed): every message of the batch
            # comes back when its visibility ends; visibility changes already made stay made
            engine._pool.shutdown(wait=True)
            handler.reset()
            return
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        for message in batch:
            if message.message_id not in failed:
                self.queue.delete(message.receipt)

    def _drain(self) -> tuple[bool, float]:
        """Run the event source mapping until nothing is left; (drained, simulated seconds)."""
        start = self.clock.now
        while self.clock.now - start < PHASE_LIMIT_SECONDS:
            self.scheduler.run_due(self.clock.now)
            batch = self.queue.receive(self.defaults.batch_size)
            if batch:
                self._invoke(batch)
                self.clock.now += INVOCATION_SECONDS
                continue
            upcoming = [t for t in (self.queue.next_visible(), self.scheduler.next_time()) if t]
            if not upcoming:
                return True, self.clock.now - start
            nxt = min(upcoming)
            # the mapping waits up to its batching window once a message is visible
            self.clock.now = max(self.clock.now + 0.001, nxt + self.defaults.window)
        return False, self.clock.now - start

    # ---- accounting ---------------------------------------------------------------------------
    def _rows(self) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for page in _scan(self.table):
            rows.update({r["instanceId"]: r for r in page})
        return rows

    def _dead_letters(self) -> list[tuple[str, str, str | None, str]]:
        """(source message id, reason, instance id, kind of the source message) of every
        message in the DLQ (the Lambda's, and the queue's redrives)."""
        from moto.sqs.models import sqs_backends

        from tests.unit import fakes

        queue = sqs_backends[fakes.HUB][HUB_REGION].queues["ad-join-dlq"]
        out = []
        for message in queue._messages:
            attributes = message.message_attributes
            reason = attributes.get("reason", {}).get("StringValue", "?")
            source = attributes.get("sourceMessageId", {}).get("StringValue", "?")
            sent = self.sent.get(source)
            kind = sent.kind if sent else "?"
            out.append((source, reason, sent.instance_id if sent else None, kind))
        for message in self.queue.redriven:
            reason = f"redrive({message.kind})"
            out.append((message.message_id, reason, message.instance_id, message.kind))
        return out

    def _dead_of(self, phase: Phase, kinds: tuple[str, ...]) -> dict[str, set[str]]:
        """The DLQ reasons of each instance, for the messages of these kinds; counts the
        phase's DLQ duplicates (copies with the same source message and reason)."""
        dead = [d for d in self._dead_letters() if d[3] in kinds]
        by_instance: dict[str, set[str]] = {}
        for _, reason, iid, _ in dead:
            if iid:
                by_instance.setdefault(iid, set()).add(reason)
        pairs = Counter((source, reason) for source, reason, _, _ in dead)
        phase.dlq_duplicates = sum(n - 1 for n in pairs.values())
        phase.poison_rejected = (
            sum(
                1
                for (source, reason) in pairs
                if self.sent[source].kind == "poison" and reason == "malformed_event"
            )
            if "poison" in kinds
            else 0
        )
        return by_instance

    def _phase(self, drained: tuple[bool, float], before: tuple[int, int, int, int]) -> Phase:
        phase = Phase(stuck=not drained[0], seconds=drained[1])
        phase.invocations = self.invocations - before[0]
        phase.crashes = self.stats.crashes - before[1]
        phase.escaped = self.escaped - before[2]
        phase.faults = sum(self.stats.faults.values()) - before[3]
        return phase

    def _counters(self) -> tuple[int, int, int, int]:
        return (self.invocations, self.stats.crashes, self.escaped, sum(self.stats.faults.values()))

    def _join_report(self, phase: Phase) -> None:
        rows = self._rows()
        by_instance = self._dead_of(phase, ("running", "status", "poison"))
        trusted: set[str] = set()
        for inst in self.agents.instances.values():
            if inst.platform == "tools":
                continue
            phase.instances += 1
            current = self.directory.get(inst.name)
            joined = inst.machine_secret is not None and current == inst.machine_secret
            if joined:
                trusted.add(inst.name)
            distinct = len(set(inst.otps))
            phase.duplicate_commands += len(inst.otps) - distinct
            status = rows.get(inst.instance_id, {}).get("status")
            if inst.effective_joins > 1 or distinct > 1:
                phase.multiple += 1
            elif inst.instance_id in by_instance:
                for reason in by_instance[inst.instance_id]:
                    phase.dead_lettered[reason] += 1
            elif not joined:
                phase.lost += 1
            elif status != "joined":
                phase.state_wrong += 1
            else:
                phase.exactly_once += 1
        phase.orphans = len(self.directory.names() - trusted)

    def _terminate(self) -> list[Any]:
        from tests.unit import fakes

        joined = sorted(
            (i for i in self.agents.instances.values() if i.platform != "tools"),
            key=lambda i: i.instance_id,
        )
        chosen = self.rng.sample(joined, min(self.s.terminations, len(joined)))
        for inst in chosen:
            ec2 = fakes.spoke_session(inst.account, inst.region).client("ec2")
            ec2.terminate_instances(InstanceIds=[inst.instance_id])
            inst.terminated = True
            event = fakes.state_event(inst.account, inst.region, inst.instance_id, "terminated")
            self._send(self._body(inst.account, inst.region, event), "terminated", inst.instance_id)
        return chosen

    def _leave_report(self, phase: Phase, chosen: list[Any]) -> None:
        rows = self._rows()
        by_instance = self._dead_of(phase, ("terminated",))
        names = self.directory.names()
        leaves = Counter(self.agents.leaves)
        for inst in chosen:
            phase.instances += 1
            phase.duplicate_commands += max(0, leaves[inst.name] - 1)
            status = rows.get(inst.instance_id, {}).get("status")
            if inst.instance_id in by_instance:
                for reason in by_instance[inst.instance_id]:
                    phase.dead_lettered[reason] += 1
            elif inst.name in names:
                phase.lost += 1
            elif status != "left":
                phase.state_wrong += 1
            else:
                phase.exactly_once += 1
        running = {
            i.name
            for i in self.agents.instances.values()
            if not i.terminated and i.platform != "tools"
        }
        phase.orphans = len(names - running)

    # ---- the run ------------------------------------------------------------------------------
    def run(self) -> RunResult:
        from moto import mock_aws

        from adjoin import handler
        from adjoin.directory import ad_tools_host
        from adjoin.log import logger
        from tests.e2e.moto_patches import fast_transactions

        started = time.perf_counter()
        level = logger.log_level
        with (
            mock_aws(),
            fast_transactions(),
            self._one_model_loader(),
            self._ldap_connections(),
            self._instant_retry_sleeps(),
            self._simulated_host_cache(),
        ):
            ad_tools_host._hosts.clear()
            handler.reset()
            logger.setLevel("CRITICAL")
            self._setup()
            self.faults.routes = [self.queue.route, self.agents.route]
            if isinstance(self.directory, _ds_directory_class()):
                self.faults.routes.append(self.directory.route)
            self.faults.observers = [self.agents.observe]
            try:
                with self.faults.installed():
                    joins, leaves = self._phases()
            finally:
                self._close()
                logger.setLevel(level)
                os.environ.clear()
                os.environ.update(self._saved_environment)
        return RunResult(self.s, joins, leaves, time.perf_counter() - started)

    def _phases(self) -> tuple[Phase, Phase]:
        from tests.unit import fakes

        bodies: list[tuple[str, str, str | None]] = []
        for inst in self.agents.instances.values():
            if inst.platform == "tools":
                continue
            event = fakes.state_event(inst.account, inst.region, inst.instance_id, "running")
            body = self._body(inst.account, inst.region, event)
            bodies.append((body, "running", inst.instance_id))
            if self.rng.random() < self.s.duplicates:
                bodies.append((body, "running", inst.instance_id))
        poison = ["[" * 100_000 + "]" * 100_000, "not json", json.dumps({"detail-type": "x"})]
        bodies += [(body, "poison", None) for body in poison[: self.s.poison]]
        self.rng.shuffle(bodies)
        before = self._counters()
        for body, kind, iid in bodies:  # EventBridge delivers them over the first minute
            self.clock.now += 60.0 / len(bodies)
            self._send(body, kind, iid)
        joins = self._phase(self._drain(), before)
        self._join_report(joins)
        before = self._counters()
        chosen = self._terminate()
        leaves = self._phase(self._drain(), before)
        self._leave_report(leaves, chosen)
        return joins, leaves

    @contextlib.contextmanager
    def _simulated_host_cache(self) -> Iterator[None]:
        """The AD tools host lookup cache (a minute) runs on the simulated clock."""
        from adjoin.directory import ad_tools_host

        real = ad_tools_host.time
        ad_tools_host.time = _SimTime(self)  # type: ignore[assignment]
        try:
            yield
        finally:
            ad_tools_host.time = real

    @contextlib.contextmanager
    def _instant_retry_sleeps(self) -> Iterator[None]:
        """The Lambda's own short retry pauses (adjoin.aws.retry_sleep) take no time on the
        simulated clock; they are added up in the stats."""
        from adjoin import aws

        def sleep(seconds: float) -> None:
            self.stats.backoff_seconds += seconds

        original = aws.retry_sleep
        aws.retry_sleep = sleep
        try:
            yield
        finally:
            aws.retry_sleep = original

    @staticmethod
    @contextlib.contextmanager
    def _one_model_loader() -> Iterator[None]:
        """Every botocore session of the run shares one loader of the service models (botocore
        parses a model once per loader: the EC2 model alone takes a quarter of a second). The
        harness builds many sessions (a container after each crash, a session per spoke for
        set-up); what the sessions do is unchanged."""
        import botocore.session
        from botocore.loaders import create_loader

        loader = create_loader()
        original = botocore.session.Session._register_data_loader

        def register(self: botocore.session.Session) -> None:
            self._components.register_component("data_loader", loader)

        botocore.session.Session._register_data_loader = register  # type: ignore[method-assign]
        try:
            yield
        finally:
            botocore.session.Session._register_data_loader = original  # type: ignore[method-assign]

    @contextlib.contextmanager
    def _ldap_connections(self) -> Iterator[None]:
        """`adjoin.directory.ldap.Connection(...)` builds a FaultyLdapConnection on the run's
        shared in-memory directory (it checks the join user's password at bind)."""
        from ldap3 import MOCK_SYNC

        import adjoin.directory.ldap as ldap_module
        from tests.chaos.faults import FaultyLdapConnection
        from tests.chaos.world import SERVICE_DN

        def connection(server: Any, **kwargs: Any) -> FaultyLdapConnection:
            conn = FaultyLdapConnection(
                self.directory.server,  # type: ignore[union-attr]
                user=SERVICE_DN,
                password=kwargs.get("password"),
                client_strategy=MOCK_SYNC,
                raise_exceptions=True,
            )
            conn.faults = self.faults
            return conn

        original = ldap_module.Connection
        ldap_module.Connection = connection  # type: ignore[assignment,misc]
        try:
            yield
        finally:
            ldap_module.Connection = original  # type: ignore[misc]

    def _close(self) -> None:
        from adjoin import handler

        if handler._engine is not None:
            handler._engine._pool.shutdown(wait=True)
        handler.reset()


class _SimTime:
    """Stands in for the `time` module of a cache: `monotonic` is the simulated clock."""

    def __init__(self, chaos: Run) -> None:
        self._chaos = chaos

    def monotonic(self) -> float:
        return self._chaos.clock.now

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class _InlineExecutor:
    """The engine's thread pool, run in the calling thread: the calls of a batch happen in one
    order, so a seed replays exactly (a crash stops the work at once, as in a dead container)."""

    @staticmethod
    def map(fn: Any, *iterables: Any) -> Iterator[Any]:
        return map(fn, *iterables)

    def shutdown(self, wait: bool = True) -> None:
        return None


def _ds_directory_class() -> type:
    from tests.chaos.world import DsDirectory

    return DsDirectory


def _scan(table: Any) -> Iterator[list[dict[str, Any]]]:
    kwargs: dict[str, Any] = {}
    while True:
        page = table.scan(**kwargs)
        yield page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def run_scenario(scenario: Scenario) -> RunResult:
    return Run(scenario).run()


# ---------------------------------------------------------------------------------------------
# targets and the table
# ---------------------------------------------------------------------------------------------


def misses(result: RunResult) -> list[str]:
    """What of issue 8's targets this run missed (empty: all held)."""
    j, t, s = result.joins, result.leaves, result.scenario
    out = []
    if j.stuck or t.stuck:
        out.append("a phase did not drain")
    if j.exactly_once != s.instances:
        out.append(f"{j.exactly_once}/{s.instances} joined exactly once")
    if j.multiple:
        out.append(f"{j.multiple} instances with more than one effective join")
    if j.lost or t.lost:
        out.append(f"lost: {j.lost} joins, {t.lost} terminations")
    if j.state_wrong or t.state_wrong:
        out.append(f"state rows wrong: {j.state_wrong} joins, {t.state_wrong} terminations")
    if j.orphans or t.orphans:
        out.append(f"orphan objects: {j.orphans} after joins, {t.orphans} after terminations")
    if j.dead_lettered or t.dead_lettered:
        out.append(f"dead-lettered: {dict(j.dead_lettered + t.dead_lettered)}")
    if t.exactly_once != min(s.terminations, s.instances):
        out.append(f"{t.exactly_once}/{s.terminations} terminations removed")
    if j.escaped or t.escaped:
        out.append(f"{j.escaped + t.escaped} invocations raised")
    if j.poison_rejected != s.poison:
        out.append(f"{j.poison_rejected}/{s.poison} malformed bodies dead-lettered with a reason")
    return out


def _reasons(counter: Counter[str]) -> str:
    return ", ".join(f"{r} {n}" for r, n in sorted(counter.items())) or "0"


#: (heading, width, value) of the columns of a phase's table, after the seed and the count
Column = tuple[str, int, Callable[[Phase], object]]
JOIN_COLUMNS: list[Column] = [
    (">1 join", 8, lambda p: p.multiple),
    ("dup cmd", 8, lambda p: p.duplicate_commands),
    ("lost", 5, lambda p: p.lost),
    ("state", 6, lambda p: p.state_wrong),
    ("orphans", 8, lambda p: p.orphans),
    ("poison", 7, lambda p: p.poison_rejected),
    ("dlq dup", 8, lambda p: p.dlq_duplicates),
    ("invoc", 6, lambda p: p.invocations),
    ("crash", 6, lambda p: p.crashes),
    ("faults", 7, lambda p: p.faults),
]
LEAVE_COLUMNS: list[Column] = [
    ("dup leave", 9, lambda p: p.duplicate_commands),
    *(c for c in JOIN_COLUMNS if c[0] in ("lost", "state", "orphans", "dlq dup")),
    *(c for c in JOIN_COLUMNS if c[0] in ("invoc", "crash", "faults")),
]


def _section(results: list[RunResult], which: str, columns: list[Column]) -> list[str]:
    """The heading, one row per seed and the totals of one phase."""
    title = "exactly once" if which == "joins" else "removed"
    heading = f"{'seed':>5} {title:>13} " + " ".join(f"{h:>{w}}" for h, w, _ in columns)
    lines = [heading + "  dead-lettered (by reason)"]
    phases = [getattr(r, which) for r in results]
    rows = [(str(r.scenario.seed), getattr(r, which)) for r in results]
    for label, p in [*rows, ("all", _total(phases))]:
        cells = " ".join(f"{value(p)!s:>{w}}" for _, w, value in columns)
        count = f"{p.exactly_once}/{p.instances}"
        lines.append(f"{label:>5} {count:>13} {cells}  {_reasons(p.dead_lettered)}")
    return lines


def table(results: list[RunResult]) -> str:
    """The report of one adapter and fault mix: joins, then terminations, one row per seed."""
    from tests.chaos.faults import FaultMix

    first = results[0].scenario
    mix = FaultMix(first.rate, first.ambiguous, first.crash)
    leave = "ldap" if first.adapter == "ldap" else "ad_tools_host"
    d = Defaults.read()
    lines = [
        f"adapter {first.adapter} (leave adapter {leave}); {mix.label()}",
        f"{first.instances} instances over {len(ACCOUNTS)} accounts x {len(REGIONS)} Regions, "
        f"{first.duplicates:.0%} running events delivered twice, {first.late_agents:.0%} agents "
        f"online 20-300 s late, {first.poison} malformed bodies; then {first.terminations} "
        "terminations",
        f"modules/hub's defaults: queue delay {d.delay} s, visibility {d.visibility} s, redrive "
        f"after {d.max_receive} receives, batches of {d.batch_size} within {d.window:g} s, "
        f"retries from {d.retry_base} s doubling (at most 900 s) within {d.retry_max} s",
        "",
        "joins",
        *_section(results, "joins", JOIN_COLUMNS),
        "",
        "terminations",
        *_section(results, "leaves", LEAVE_COLUMNS),
    ]
    lines += [
        "",
        "exactly once: joined with one one-time password and recorded joined (terminations: "
        "object removed, recorded left); >1 join: a second effective join or a command with "
        "another one-time password; dup cmd / dup leave: repeated commands with the same "
        "parameters (harmless: the scripts' re-run is a no-op); state: done but the state row "
        "disagrees; poison: malformed bodies dead-lettered as malformed_event; dlq dup: DLQ "
        "messages beyond one per source message and reason (same sourceMessageId)",
    ]
    return "\n".join(lines)


def _total(phases: list[Phase]) -> Phase:
    total = Phase()
    for p in phases:
        for name in (
            "instances",
            "exactly_once",
            "multiple",
            "duplicate_commands",
            "dlq_duplicates",
            "lost",
            "state_wrong",
            "orphans",
            "poison_rejected",
            "invocations",
            "crashes",
            "escaped",
            "faults",
        ):
            setattr(total, name, getattr(total, name) + getattr(p, name))
        total.dead_lettered += p.dead_lettered
        total.stuck = total.stuck or p.stuck
    return total


def _seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds += list(range(int(low), int(high or low) + 1))
    return seeds


def _few_amis() -> None:
    """Point moto at the two AMIs the runs launch (tests/unit/fakes.py), read from moto's own
    list: moto loads its whole list of about 1300 AMIs into every EC2 backend (account and
    Region) it creates, a quarter of a second each, a dozen times per run. Only for the runs of
    this process and its workers, and only before moto's EC2 models are imported."""
    import gzip
    import tempfile

    import moto

    from tests.unit import fakes

    if "MOTO_AMIS_PATH" in os.environ or "moto.ec2.models.amis" in sys.modules:
        return
    source = os.path.join(os.path.dirname(moto.__file__), "ec2", "resources", "amis.json.gz")
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        amis = [a for a in json.load(handle) if a["ami_id"] in (fakes.LINUX_AMI, fakes.WINDOWS_AMI)]
    if len(amis) != 2:
        return  # another moto: keep its full list
    path = os.path.join(tempfile.mkdtemp(prefix="chaos-amis-"), "amis.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(amis, handle)
    os.environ["MOTO_AMIS_PATH"] = path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", nargs="+", default=["ds", "ldap"], choices=["ds", "ldap"])
    parser.add_argument("--seeds", default="1-20", help="e.g. 1-20 or 3,7,11")
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--terminations", type=int, default=50)
    parser.add_argument("--rate", type=float, default=0.30)
    parser.add_argument("--ambiguous", type=float, default=0.5)
    parser.add_argument("--crash", type=float, default=0.05)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    _few_amis()
    failed = False
    for adapter in args.adapter:
        scenarios = [
            Scenario(
                adapter,
                seed,
                rate=args.rate,
                ambiguous=args.ambiguous,
                crash=args.crash,
                instances=args.instances,
                terminations=args.terminations,
            )
            for seed in _seeds(args.seeds)
        ]
        started = time.perf_counter()
        if args.jobs > 1:
            with ProcessPoolExecutor(max_workers=args.jobs) as pool:
                results = list(pool.map(run_scenario, scenarios))
        else:
            results = [run_scenario(s) for s in scenarios]
        print(table(results))
        print(f"({len(results)} runs in {time.perf_counter() - started:.0f} s)")
        for r in results:
            missed = misses(r)
            if missed:
                failed = True
                print(f"seed {r.scenario.seed}: MISSED {'; '.join(missed)}")
        print()
    print("FAIL" if failed else "PASS: every target held")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

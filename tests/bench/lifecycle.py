"""The whole life of a burst of instances, through our handler and through the seed's algorithm.

A fleet of instances over 2 workload accounts x 2 Regions (moto `mock_aws` in-process,
multi-account through AssumeRole; every other account-Region runs Windows) goes through three
phases, each a burst of events in batches like the event source mapping's:

- join: one `running` event per instance;
- status: one `Success` command status event per join command (the seed does not handle them);
- leave: one `terminated` event per instance.

tests/unit/fakes.py counts every AWS call by (service, operation) and adds a fixed latency to
each (botocore hooks; it also answers DescribeInstanceInformation and Directory Service
CreateComputer, which moto lacks). The `ldap` adapter talks to a counted in-memory directory
(tests/bench/ldap_mock.py), whose operations are counted apart from the AWS calls and get the
same latency. Set-up calls (tables, instances) are not counted. Each run gets a fresh moto world
and a cold container; the three phases then run in that warm container, with a config cache
TTL longer than the run (CONFIG_TTL_S).
"""

from __future__ import annotations

import cProfile
import itertools
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "eu-west-1")
PHASES = ("join", "status", "leave")
#: adapter combinations: (join adapter, leave adapter)
COMBINATIONS: dict[str, tuple[str, str]] = {
    "ds+ldap": ("ds", "ldap"),
    "ds+ad_tools_host": ("ds", "ad_tools_host"),
    "ldap+ldap": ("ldap", "ldap"),
}
#: the state each phase should leave every instance in
EXPECTED_STATUS = {"join": "joining", "status": "joined", "leave": "left"}
OU = "OU=Computers,OU=AWS,DC=corp,DC=example,DC=com"  # tests/unit/fakes.py config_item
#: the config cache outlives the run, so the counts do not depend on how fast the machine is
#: (with the default 60 s each phase would read each account's item once more: +2 GetItem)
CONFIG_TTL_S = 86400


@dataclass
class Phase:
    """One burst: what it cost and what it achieved."""

    name: str
    events: int
    done: int  # instances in the phase's expected state afterwards
    failures: int  # batch item failures reported
    wall_s: float
    calls: dict[tuple[str, str], int]
    ldap: dict[str, int] = field(default_factory=dict)
    computers: int | None = None  # computer objects in the ldap directory afterwards
    handled: bool = True  # False: the algorithm ignores these events

    @property
    def aws_calls(self) -> int:
        return sum(self.calls.values())

    def per_instance(self, value: float) -> float:
        return value / max(self.events, 1)

    @property
    def ms_per_instance(self) -> float:
        return self.per_instance(self.wall_s * 1000)


def environment() -> None:
    """Fake credentials, quiet logs; never a real endpoint."""
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "MOTO_ACCOUNT_ID"):
        os.environ.pop(key, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        POWERTOOLS_METRICS_NAMESPACE="ADJoinBench",
        LOG_LEVEL="WARNING",
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    lambda_dir = str(ROOT / "lambda")
    if lambda_dir not in sys.path:
        sys.path.insert(0, lambda_dir)


@dataclass(frozen=True)
class Instance:
    account: str
    region: str
    instance_id: str


def launch_fleet(count: int) -> list[Instance]:
    """COUNT instances spread over the account-Regions, interleaved round-robin (as a queue fed
    by all of them would hold them), so every batch of 4 or more spans all four."""
    from tests.unit import fakes

    groups = [(a, r) for a in ACCOUNTS for r in REGIONS]
    launched: list[list[Instance]] = []
    for index, (account, region) in enumerate(groups):
        share = count // len(groups) + (1 if index < count % len(groups) else 0)
        ids = fakes.launch(account, region, count=share, windows=index % 2 == 1) if share else []
        launched.append([Instance(account, region, iid) for iid in ids])
    return [i for row in itertools.zip_longest(*launched) for i in row if i is not None]


def launch_ad_tools_host() -> str:
    from tests.unit import fakes

    (host,) = fakes.launch(fakes.HUB, fakes.HUB_REGION, windows=True, tags={"adToolsHost": "true"})
    return host


@contextmanager
def thread_profile(merged: dict[Any, Any]) -> Iterator[None]:
    """cProfile of this thread and of every thread started while active (the engine's pool),
    merged into MERGED (pstats' raw form, for marshal and pstats.Stats) when the block ends."""
    main = cProfile.Profile()
    others: list[cProfile.Profile] = []
    lock = threading.Lock()

    def start(*_: Any) -> None:
        profile = cProfile.Profile()
        with lock:
            others.append(profile)
        profile.enable()  # replaces this hook in the new thread

    threading.setprofile(start)
    main.enable()
    try:
        yield
    finally:
        main.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
        main.create_stats()
        for profile in others:
            profile.create_stats()
            for key, value in profile.stats.items():  # type: ignore[attr-defined]
                if key in main.stats:  # type: ignore[attr-defined]
                    cc, nc, tt, ct, callers = main.stats[key]  # type: ignore[attr-defined]
                    main.stats[key] = (  # type: ignore[attr-defined]
                        cc + value[0],
                        nc + value[1],
                        tt + value[2],
                        ct + value[3],
                        {**callers, **value[4]},
                    )
                else:
                    main.stats[key] = value  # type: ignore[attr-defined]
        merged.update(main.stats)  # type: ignore[attr-defined]


def success_event(world: Any, instance: Instance) -> dict[str, Any]:
    """The `Success` status event of the join command the state table holds for INSTANCE."""
    from tests.unit import fakes

    item = world.state(instance.instance_id) or {}
    windows = item.get("platform") == "windows"
    return fakes.command_event(
        instance.account,
        instance.region,
        instance.instance_id,
        str(item.get("commandId", "")),
        "Success",
        document="ad-join-windows-join" if windows else "ad-join-linux-join",
    )


def _drive(
    handle: Callable[[dict[str, Any], Any], dict[str, Any]],
    records: list[dict[str, Any]],
    batch_size: int,
) -> tuple[int, float]:
    """Batch item failures and wall seconds of handling the records in batches."""
    failures = 0
    start = time.perf_counter()
    for first in range(0, len(records), batch_size):
        with quiet():
            answer = handle({"Records": records[first : first + batch_size]}, None)
        failures += len(answer.get("batchItemFailures", []))
    return failures, time.perf_counter() - start


@contextmanager
def quiet() -> Iterator[None]:
    """The function's own output (Powertools' EMF metric lines) is not the report's."""
    with open(os.devnull, "w") as sink, redirect_stdout(sink):
        yield


class _Meter:
    """Counts and latency for one phase: AWS calls through FakeAws, LDAP through the counter."""

    def __init__(self, fake: Any, ldap: Any, latency_s: float) -> None:
        self.fake, self.ldap, self.latency_s = fake, ldap, latency_s

    def run(
        self,
        name: str,
        handle: Callable[[dict[str, Any], Any], dict[str, Any]],
        records: list[dict[str, Any]],
        batch_size: int,
        done: Callable[[], int],
    ) -> Phase:
        self.fake.calls.clear()
        self.fake.latency = self.latency_s
        if self.ldap is not None:
            self.ldap.clear()
            self.ldap.latency = self.latency_s
        try:
            failures, wall = _drive(handle, records, batch_size)
        finally:
            self.fake.latency = 0.0
            if self.ldap is not None:
                self.ldap.latency = 0.0
        calls = dict(sorted(self.fake.calls.items()))  # before done() reads the state table
        return Phase(
            name=name,
            events=len(records),
            done=done(),
            failures=failures,
            wall_s=wall,
            calls=calls,
            ldap=self.ldap.snapshot() if self.ldap is not None else {},
            computers=self.ldap.computers() if self.ldap is not None else None,
        )


def run_ours(
    join_adapter: str,
    leave_adapter: str,
    *,
    instances: int = 200,
    latency_ms: float = 50.0,
    batch_size: int = 100,
    env: dict[str, str] | None = None,
    profile_join: dict[Any, Any] | None = None,
) -> dict[str, Phase]:
    """Our handler through the three phases with the given adapters. ENV overrides the Lambda's
    environment (the switches part B adds). With PROFILE_JOIN, the join burst is profiled."""
    saved = dict(os.environ)  # ENV applies to this run only
    try:
        return _run_ours(
            join_adapter, leave_adapter, instances, latency_ms, batch_size, env, profile_join
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _run_ours(  # noqa: PLR0917 - run_ours' own arguments
    join_adapter: str,
    leave_adapter: str,
    instances: int,
    latency_ms: float,
    batch_size: int,
    env: dict[str, str] | None,
    profile_join: dict[Any, Any] | None,
) -> dict[str, Phase]:
    environment()
    from moto import mock_aws

    from adjoin import handler
    from tests.bench.ldap_mock import counted_directory
    from tests.e2e.moto_patches import fast_transactions
    from tests.unit import fakes

    latency = latency_ms / 1000.0
    with (
        fakes.fake_aws() as fake,
        mock_aws(),
        fast_transactions(),
        counted_directory(
            "corp.example.com",
            "svc-adjoin@corp.example.com",
            fakes.JOIN_PASSWORD,
            ous=("OU=AWS,DC=corp,DC=example,DC=com", OU),
        ) as ldap,
    ):
        world = fakes.make_world()
        for account in (fakes.HUB, *ACCOUNTS):  # name the DC: no discovery through DNS SRV
            world.put_config(fakes.config_item(account, ldapServers="dc1.corp.example.com"))
        os.environ.update(
            world.env(
                DIRECTORY_ADAPTER=join_adapter,
                LEAVE_ADAPTER=leave_adapter,
                CONFIG_CACHE_TTL_SECONDS=str(CONFIG_TTL_S),
                **(env or {}),
            )
        )
        fleet = launch_fleet(instances)
        if leave_adapter == "ad_tools_host":
            launch_ad_tools_host()
        meter = _Meter(fake, ldap if "ldap" in (join_adapter, leave_adapter) else None, latency)

        def in_status(status: str) -> Callable[[], int]:
            return lambda: sum(
                (world.state(i.instance_id) or {}).get("status") == status for i in fleet
            )

        handler.reset()
        phases: dict[str, Phase] = {}
        running = [
            fakes.sqs_record(fakes.state_event(i.account, i.region, i.instance_id, "running"))
            for i in fleet
        ]
        if profile_join is not None:
            with thread_profile(profile_join):
                phases["join"] = meter.run(
                    "join", handler.lambda_handler, running, batch_size, in_status("joining")
                )
        else:
            phases["join"] = meter.run(
                "join", handler.lambda_handler, running, batch_size, in_status("joining")
            )
        if join_adapter == "ds":  # Directory Service created them in the same domain
            for request in fake.created:
                ou = request["OrganizationalUnitDistinguishedName"]
                ldap.add_computer(request["ComputerName"], ou)
            phases["join"].computers = ldap.computers()
        status = [fakes.sqs_record(success_event(world, i)) for i in fleet]
        phases["status"] = meter.run(
            "status", handler.lambda_handler, status, batch_size, in_status("joined")
        )
        terminated = [
            fakes.sqs_record(fakes.state_event(i.account, i.region, i.instance_id, "terminated"))
            for i in fleet
        ]
        phases["leave"] = meter.run(
            "leave", handler.lambda_handler, terminated, batch_size, in_status("left")
        )
        handler.reset()
    return phases


def run_seed(
    *, instances: int = 200, latency_ms: float = 50.0, batch_size: int = 100
) -> dict[str, Phase]:
    """The seed's algorithm (tests/bench/seed.py) through the same phases and world."""
    environment()
    from moto import mock_aws

    from tests.bench.seed import SeedPeer
    from tests.unit import fakes

    with fakes.fake_aws() as fake, mock_aws():
        fakes.make_world()
        fleet = launch_fleet(instances)
        launch_ad_tools_host()
        meter = _Meter(fake, None, latency_ms / 1000.0)
        peer = SeedPeer(fakes.CONFIG_TABLE, fakes.HUB_REGION)

        def commands_since(start: int) -> Callable[[], int]:
            return lambda: peer.commands - start

        running = [
            fakes.sqs_record(fakes.state_event(i.account, i.region, i.instance_id, "running"))
            for i in fleet
        ]
        phases = {"join": meter.run("join", peer.handle, running, batch_size, commands_since(0))}
        phases["status"] = Phase("status", len(fleet), 0, 0, 0.0, {}, handled=False)
        terminated = [
            fakes.sqs_record(fakes.state_event(i.account, i.region, i.instance_id, "terminated"))
            for i in fleet
        ]
        phases["leave"] = meter.run(
            "leave", peer.handle, terminated, batch_size, commands_since(peer.commands)
        )
    return phases


def summary(phases: dict[str, Phase]) -> dict[str, Any]:
    """JSON-friendly counts of a run (for the pin test's messages and --json)."""
    return {
        name: {
            "events": p.events,
            "done": p.done,
            "failures": p.failures,
            "calls": {f"{s}:{o}": n for (s, o), n in p.calls.items()},
            "ldap": p.ldap,
        }
        for name, p in phases.items()
    }


if __name__ == "__main__":  # pragma: no cover - a quick look at one combination
    print(json.dumps(summary(run_ours("ds", "ldap", latency_ms=0)), indent=1))

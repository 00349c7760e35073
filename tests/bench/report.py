"""`make bench`: ours against the seed's algorithm, side by side, with the issue's targets.

    .venv/bin/python -m tests.bench [--instances 200] [--latency-ms 50] [--batch-size 100]
        [--combinations ds+ldap,ds+ad_tools_host,ldap+ldap] [--env KEY=VALUE ...]
        [--timeline-instances 200] [--spread-s 60] [--delivery-s 1]
        [--no-lifecycle] [--no-timeline] [--no-package]
        [--profile [--profile-out build/bench-join.prof]]

`make bench PROFILE=1` adds a cProfile of the `ds`+`ldap` join burst (every thread of the
engine's pool merged), printed by own time and written for `python -m pstats`.
`--env KEY=VALUE` sets a Lambda environment variable for our runs (the switches of later work),
e.g. `make bench BENCH_ARGS="--env TAG_COMPUTER_NAME=true"`.

Targets are reported, met or not met, and never fail the run: it exits 1 only when the run
itself failed (an instance not in the state its phase should leave it in, a batch item failure,
a missing package). The exact call counts are pinned by tests/bench/test_budget.py.
"""

from __future__ import annotations

import argparse
import marshal
import os
import pstats
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench import imports, lifecycle, timeline
from tests.bench.lifecycle import COMBINATIONS, PHASES, Phase

SEED_NOTE = (
    "peer: the seed's algorithm, written from the AWS Security Blog post that describes it (its "
    "code is not public): per message, one at a time, GetItem of the config, GetParameter of the "
    "password, AssumeRole, DescribeInstances, SendCommand with the password; terminated: the AD "
    "tools host (DescribeInstances by tag, SendCommand with the password); no status handling"
)


@dataclass(frozen=True)
class Target:
    what: str
    figure: str
    target: str
    met: bool | None  # None: not measured in this run


def ratio(ours: float, seed: float) -> str:
    return f"{ours / seed:.2f}x" if seed else "-"


def batches(events: int, batch_size: int) -> int:
    return max(1, -(-events // batch_size))


def lifecycle_table(
    ours: dict[str, dict[str, Phase]], seed: dict[str, Phase], batch_size: int
) -> list[str]:
    lines = [
        "per instance: AWS calls and wall ms, ours | seed | ours/seed; LDAP, counted apart from "
        "the AWS calls (ldap3's MOCK_SYNC in-memory directory, same latency per operation): "
        "searches, adds, modifies and deletes per instance, binds per batch",
        f"{'combination':<17} {'phase':<7} {'AWS calls':>24}   {'wall ms':>24}   "
        f"{'LDAP ops':>8} {'binds/batch':>11}",
    ]
    for combo, phases in ours.items():
        totals = {"ours_calls": 0.0, "seed_calls": 0.0, "ours_ms": 0.0, "seed_ms": 0.0}
        for name in PHASES:
            mine, theirs = phases[name], seed[name]
            oc, sc = mine.per_instance(mine.aws_calls), theirs.per_instance(theirs.aws_calls)
            om, sm = mine.ms_per_instance, theirs.ms_per_instance
            totals["ours_calls"] += oc
            totals["seed_calls"] += sc
            totals["ours_ms"] += om
            totals["seed_ms"] += sm
            seed_calls = f"{sc:7.3f}" if theirs.handled else "   n/a "
            seed_ms = f"{sm:7.1f}" if theirs.handled else "   n/a "
            ops = sum(v for k, v in mine.ldap.items() if k not in ("open", "bind"))
            ldap = (
                f"{mine.per_instance(ops):8.2f} "
                f"{mine.ldap['bind'] / batches(mine.events, batch_size):11.1f}"
                if mine.ldap and (ops or mine.ldap.get("bind"))
                else f"{'-':>8} {'-':>11}"
            )
            lines.append(
                f"{combo if name == 'join' else '':<17} {name:<7} "
                f"{oc:7.3f} | {seed_calls} | {ratio(oc, sc) if theirs.handled else '-':>6}   "
                f"{om:7.1f} | {seed_ms} | {ratio(om, sm) if theirs.handled else '-':>6}   {ldap}"
            )
        lines.append(
            f"{'':<17} {'total':<7} {totals['ours_calls']:7.3f} | {totals['seed_calls']:7.3f} | "
            f"{ratio(totals['ours_calls'], totals['seed_calls']):>6}   "
            f"{totals['ours_ms']:7.1f} | {totals['seed_ms']:7.1f} | "
            f"{ratio(totals['ours_ms'], totals['seed_ms']):>6}"
        )
    return lines


def operations(label: str, phases: dict[str, Phase]) -> list[str]:
    lines = [f"calls per operation, {label}:"]
    for name, phase in phases.items():
        if not phase.handled:
            lines.append(f"  {name:<7} (not handled)")
            continue
        parts = [f"{op} {n}" for (_, op), n in phase.calls.items()]
        ldap = {k: v for k, v in phase.ldap.items() if v}
        extra = f"; LDAP {', '.join(f'{k} {v}' for k, v in ldap.items())}" if ldap else ""
        lines.append(f"  {name:<7} {', '.join(parts) or 'none'}{extra}")
    return lines


def run_failed(results: Iterable[dict[str, Phase]]) -> list[str]:
    problems = []
    for phases in results:
        for phase in phases.values():
            if phase.handled and (phase.done != phase.events or phase.failures):
                problems.append(
                    f"{phase.name}: {phase.done}/{phase.events} instances done, "
                    f"{phase.failures} batch item failures"
                )
    return problems


def tag_cost(status: Phase, batch_size: int, instances: int = 40) -> str:
    """What the opt-in adComputerName tag adds to the status phase: a run with
    TAG_COMPUTER_NAME=true (a small fleet, no latency: the call counts do not depend on them)."""
    tagged = lifecycle.run_ours(
        "ds",
        "none",
        instances=instances,
        latency_ms=0,
        batch_size=batch_size,
        env={"TAG_COMPUTER_NAME": "true"},
    )["status"]
    with_tag = tagged.per_instance(tagged.aws_calls)
    without = status.per_instance(status.aws_calls)
    return (
        "adComputerName tag, opt-in (TAG_COMPUTER_NAME=true, modules/hub "
        f"directory.tag_computer_name): status {with_tag:.3f} AWS calls per instance with it "
        f"({instances} instances, no latency) vs {without:.3f} without: "
        f"+{tagged.calls.get(('ec2', 'CreateTags'), 0) / max(tagged.events, 1):.3f} "
        "(one CreateTags per instance)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--combinations", default=",".join(COMBINATIONS))
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--timeline-instances", type=int, default=200)
    parser.add_argument("--spread-s", type=float, default=60.0)
    parser.add_argument("--delivery-s", type=float, default=1.0)
    parser.add_argument("--no-lifecycle", action="store_true")
    parser.add_argument("--no-timeline", action="store_true")
    parser.add_argument("--no-package", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--profile-out", type=Path, default=lifecycle.ROOT / "build" / "bench-join.prof"
    )
    args = parser.parse_args(argv)
    env = dict(pair.split("=", 1) for pair in args.env)
    combos = [c for c in args.combinations.split(",") if c]
    unknown = [c for c in combos if c not in COMBINATIONS]
    if unknown:
        parser.error(f"unknown combinations {unknown}: use {', '.join(COMBINATIONS)}")

    print(
        f"ad-join benchmark: {args.instances} instances over {len(lifecycle.ACCOUNTS)} accounts x "
        f"{len(lifecycle.REGIONS)} Regions, batches of {args.batch_size}, "
        f"{args.latency_ms:g} ms added to every AWS call and LDAP operation (moto in-process)"
    )
    print(SEED_NOTE)
    print(f"load average at the start: {os.getloadavg()[0]:.1f} (2 cores: wall times depend on it)")
    if env:
        print(f"our Lambda environment overrides: {env}")
    ours: dict[str, dict[str, Phase]] = {}
    profile: dict[Any, Any] = {}
    if args.no_lifecycle:
        combos = []
    for combo in combos:
        join, leave = COMBINATIONS[combo]
        ours[combo] = lifecycle.run_ours(
            join,
            leave,
            instances=args.instances,
            latency_ms=args.latency_ms,
            batch_size=args.batch_size,
            env=env,
            profile_join=profile if args.profile and combo == "ds+ldap" else None,
        )
    seed: dict[str, Phase] = {}
    if not args.no_lifecycle:
        seed = lifecycle.run_seed(
            instances=args.instances, latency_ms=args.latency_ms, batch_size=args.batch_size
        )
        print()
        for line in lifecycle_table(ours, seed, args.batch_size):
            print(line)
        print()
        for combo, phases in ours.items():
            for line in operations(f"ours {combo}", phases):
                print(line)
        for line in operations("seed", seed):
            print(line)

    targets: list[Target] = []
    n = args.instances
    if "ds+ldap" in ours:
        phases = ours["ds+ldap"]
        total = sum(p.aws_calls for p in phases.values()) / n
        targets.append(
            Target(
                "whole lifecycle, ds + ldap leave: AWS calls per instance",
                f"{total:.3f}",
                "<= 2.3",
                total <= 2.3,
            )
        )
        join_ms = phases["join"].ms_per_instance
        targets.append(
            Target(
                "join burst, ds + ldap leave: wall ms per instance at 50 ms",
                f"{join_ms:.1f}",
                "<= 10",
                join_ms <= 10 if args.latency_ms == 50 else None,
            )
        )
        tags = phases["status"].calls.get(("ec2", "CreateTags"), 0) / n
        targets.append(
            Target(
                "adComputerName tag: CreateTags per instance (opt-in; cost below)",
                f"{tags:.2f}",
                "0 unless opted in",
                tags == 0,
            )
        )
        print()
        print(tag_cost(phases["status"], args.batch_size))
    if "ds+ad_tools_host" in ours:
        leave = ours["ds+ad_tools_host"]["leave"]
        per_batch = leave.calls.get(("ssm", "SendCommand"), 0) / batches(n, args.batch_size)
        targets.append(
            Target(
                "ad_tools_host leave: leave commands per batch and host",
                f"{per_batch:.1f}",
                "1",
                per_batch <= 1,
            )
        )
    if "ldap+ldap" in ours:
        phases = ours["ldap+ldap"]
        binds = phases["join"].ldap["bind"] + phases["leave"].ldap["bind"]
        per_batch = binds / (2 * batches(n, args.batch_size))
        targets.append(
            Target(
                "ldap: binds per directory per batch (in-memory directory; real DC: tests/ad)",
                f"{per_batch:.1f}",
                "1",
                per_batch <= 1,
            )
        )

    problems = run_failed([*ours.values(), seed])
    print(f"load average after the bursts: {os.getloadavg()[0]:.1f}")
    if not args.no_timeline:
        defaults = timeline.module_defaults()
        seed_mapping = timeline.Mapping(
            timeline.SEED_DELAY_S, defaults.batch_size, defaults.window_s, defaults.concurrency
        )
        boot = timeline.Boot()
        common: dict[str, Any] = {
            "instances": args.timeline_instances,
            "spread_s": args.spread_s,
            "boot": boot,
            "latency_ms": args.latency_ms,
            "delivery_s": args.delivery_s,
        }
        mine = timeline.simulate("ours", defaults, ours=True, **common)
        theirs = timeline.simulate("seed", seed_mapping, ours=False, waits_for_boot=False, **common)
        print()
        print(
            f"time to join (simulated): {args.timeline_instances} instances reach running over "
            f"{args.spread_s:g} s; SSM agent online {boot.agent_online_s:g} s after running, "
            f"user data done at {boot.user_data_s:g} s, the join takes {boot.join_s:g} s; the "
            f"join script waits for cloud-init; event delivery {args.delivery_s:g} s (assumed)"
        )
        for result in (mine, theirs):
            m = result.mapping
            state_p50 = timeline.Result.percentile(result.recorded_after, 50)
            recorded = f"; state 'joined' p50 {state_p50:.1f} s" if result.recorded_after else ""
            print(
                f"  {result.label}: queue delay {m.delay_s} s, batch {m.batch_size}, window "
                f"{m.window_s:g} s, concurrency {m.concurrency}"
                + (f", retry base {m.retry_base_s} s" if m.retry_base_s else "")
                + f": running -> joined p50 {result.p(50):.1f} s, p95 {result.p(95):.1f} s, "
                f"max {max(result.joined_after, default=float('nan')):.1f} s{recorded}; "
                f"{result.retries} retried receives, {result.aws_calls / result.instances:.2f} "
                f"AWS calls per instance, {result.invocations} invocations"
            )
            if len(result.joined_after) != result.instances or result.dead:
                problems.append(
                    f"timeline {result.label}: {len(result.joined_after)}/{result.instances} "
                    f"joined, {result.dead} dead-lettered"
                )
        print(
            f"  ours/seed: p50 {ratio(mine.p(50), theirs.p(50))}, p95 "
            f"{ratio(mine.p(95), theirs.p(95))}"
        )
        targets.append(
            Target(
                "time to join with the module's defaults: p50 / p95 (s)",
                f"{mine.p(50):.1f} / {mine.p(95):.1f}",
                "<= 75 / <= 100",
                mine.p(50) <= 75 and mine.p(95) <= 100,
            )
        )
    if not args.no_package:
        package = imports.measure()
        print()
        print(
            f"package (make package): zip {package.zip_bytes:,} bytes, Powertools from the "
            f"{package.powertools_from}"
            + (f" ({package.layer_bytes:,}-byte layer zip)" if package.layer_bytes else "")
            + f"; handler import after boto3 {package.import_ms:.0f} ms (median of "
            f"{len(package.import_runs)} cold processes: "
            f"{', '.join(f'{t:.0f}' for t in package.import_runs)} ms; Python "
            f"{sys.version.split()[0]}, no byte-code, as from Lambda's read-only /var/task); "
            f"{package.compiled_import_ms:.0f} ms with the byte-code compiled beforehand"
        )
        targets.append(
            Target(
                "Lambda zip bytes, keeping Powertools",
                f"{package.zip_bytes:,}",
                "<= 1,000,000",
                package.zip_bytes <= imports.MAX_ZIP_BYTES,
            )
        )
        targets.append(
            Target("handler import after boto3 (ms)", f"{package.import_ms:.0f}", "printed", None)
        )

    print()
    print("targets (issue 13)")
    width = max(len(t.what) for t in targets)
    for t in targets:
        verdict = {True: "met", False: "not met", None: "-"}[t.met]
        print(f"  {t.what:<{width}}  {t.figure:>15}  {t.target:>17}  {verdict}")

    if profile:
        args.profile_out.parent.mkdir(parents=True, exist_ok=True)
        args.profile_out.write_bytes(marshal.dumps(profile))  # what Profile.dump_stats writes
        print()
        print(f"profile of the ds + ldap join burst (all threads), written to {args.profile_out}:")
        stats = pstats.Stats(str(args.profile_out))
        stats.sort_stats("tottime").print_stats(25)

    if problems:
        print("RUN FAILED:", "; ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

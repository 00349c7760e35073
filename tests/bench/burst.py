"""Benchmark: a burst of 200 `running` events through `lambda_handler`.

2 workload accounts x 2 Regions (moto `mock_aws` in-process, multi-account through AssumeRole),
batches of 100 like the event source mapping, a fixed 50 ms latency added to every AWS call and
every call counted (botocore hooks, see tests/unit/fakes.py: DescribeInstanceInformation and
Directory Service CreateComputer, which moto lacks, are answered by a `before-call` hook; every
other call gets its latency in a `before-send` hook before moto answers it). The `ds` adapter is
used, so the directory call is counted. Set-up calls (tables, instances) are not counted.

Prints AWS API calls per joined instance, wall milliseconds per instance, and the calls per
operation. Exits non-zero when a target is missed (<= 2.2 calls and <= 25 ms per instance) or
when not every instance was joined.

    .venv/bin/python -m tests.bench.burst [--instances 200] [--latency-ms 50] [--batch-size 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

MAX_CALLS_PER_INSTANCE = 2.2
MAX_MS_PER_INSTANCE = 25.0
ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "eu-west-1")


def _env() -> None:
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


def run(
    instances: int,
    latency_ms: float,
    batch_size: int,
    around: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> dict[str, Any]:
    """`around` wraps the handler's runs only, not the set-up (the permissions proof records
    the requests there: tests/iam/scenarios.py)."""
    _env()
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lambda"))
    from moto import mock_aws

    from adjoin import handler
    from tests.e2e.moto_patches import fast_transactions
    from tests.unit import fakes

    with fakes.fake_aws() as fake, mock_aws(), fast_transactions():
        world = fakes.make_world()
        os.environ.update(world.env(DIRECTORY_ADAPTER="ds", LEAVE_ADAPTER="none"))
        groups = [(a, r) for a in ACCOUNTS for r in REGIONS]
        per_group = instances // len(groups)
        bodies = []
        for index, (account, region) in enumerate(groups):
            count = per_group + (1 if index < instances % len(groups) else 0)
            for iid in fakes.launch(account, region, count=count, windows=index % 2 == 1):
                bodies.append(fakes.state_event(account, region, iid, "running"))
        # interleave the account-Regions as a real queue would
        bodies.sort(key=lambda b: b["detail"]["instance-id"])
        records = [fakes.sqs_record(b) for b in bodies]

        def drive(records: list[dict[str, Any]]) -> tuple[int, float, dict[Any, int]]:
            """Batch failures, wall seconds and calls of handling the records in batches."""
            fake.calls.clear()
            fake.latency = latency_ms / 1000.0
            failures = 0
            start = time.perf_counter()
            for first in range(0, len(records), batch_size):
                batch = {"Records": records[first : first + batch_size]}
                failures += len(handler.lambda_handler(batch, None)["batchItemFailures"])
            wall = time.perf_counter() - start
            fake.latency = 0.0
            return failures, wall, dict(sorted(fake.calls.items()))

        def in_status(status: str) -> int:
            return sum(
                1
                for b in bodies
                if (world.state(b["detail"]["instance-id"]) or {}).get("status") == status
            )

        handler.reset()
        fake.requests.clear()
        with around():
            failures, wall, calls = drive(records)
        joined = in_status("joining")
        # informational, same warm container: the status events that follow (state joined,
        # adComputerName tag)
        status_records = []
        for b in bodies:
            iid = b["detail"]["instance-id"]
            item = world.state(iid) or {}
            document = (
                "ad-join-windows-join"
                if item.get("platform") == "windows"
                else "ad-join-linux-join"
            )
            event = fakes.command_event(
                b["account"],
                b["region"],
                iid,
                str(item.get("commandId", "")),
                "Success",
                document=document,
            )
            status_records.append(fakes.sqs_record(event))
        with around():
            status_failures, status_wall, status_calls = drive(status_records)
        failures += status_failures
        recorded = in_status("joined")
        handler.reset()
    total = sum(calls.values())
    return {
        "instances": len(bodies),
        "joined": joined,
        "failures": failures,
        "calls": calls,
        "total_calls": total,
        "calls_per_instance": total / max(joined, 1),
        "ms_per_instance": wall * 1000 / max(joined, 1),
        "wall_s": wall,
        "status_calls": status_calls,
        "status_recorded": recorded,
        "status_ms_per_instance": status_wall * 1000 / max(recorded, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args(argv)
    result = run(args.instances, args.latency_ms, args.batch_size)
    print(
        f"burst: {result['instances']} running events, {result['joined']} joined, "
        f"{result['failures']} batch item failures, latency {args.latency_ms:g} ms per call"
    )
    print(f"AWS API calls: {result['total_calls']}")
    for (service, operation), count in result["calls"].items():
        print(f"  {service:>18} {operation:<30} {count:5d}")
    print(
        f"calls per joined instance: {result['calls_per_instance']:.3f} "
        f"(target <= {MAX_CALLS_PER_INSTANCE})"
    )
    print(
        f"wall ms per instance:      {result['ms_per_instance']:.1f} "
        f"(target <= {MAX_MS_PER_INSTANCE}; total {result['wall_s']:.2f} s)"
    )
    status_total = sum(result["status_calls"].values())
    print(
        f"then (informational, no target) {result['status_recorded']} Success status events "
        f"-> joined + adComputerName tag: {status_total} calls "
        f"({status_total / max(result['status_recorded'], 1):.3f} per instance, "
        f"{result['status_ms_per_instance']:.1f} ms per instance)"
    )
    for (service, operation), count in result["status_calls"].items():
        print(f"  {service:>18} {operation:<30} {count:5d}")
    ok = (
        result["joined"] == result["instances"]
        and result["status_recorded"] == result["instances"]
        and result["failures"] == 0
        and result["calls_per_instance"] <= MAX_CALLS_PER_INSTANCE
        and result["ms_per_instance"] <= MAX_MS_PER_INSTANCE
    )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

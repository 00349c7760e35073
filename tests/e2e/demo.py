"""`make demo`: the whole system on a local AWS emulator, in one command.

Starts moto (patched, tests/e2e/moto_patches.py) on loopback, applies envs/local with Terraform
(progress streamed), checks that a second plan is empty, runs the scenario (tests/e2e/scenario.py),
prints a timeline and a summary, then destroys and stops everything. `KEEP=1` leaves the emulator
and the applied environment up and prints how to look at them.

    .venv/bin/python -m tests.e2e.demo
"""

from __future__ import annotations

import os
import re
import sys
import time
from typing import Any

from tests.bench.timeline import Result
from tests.e2e.harness import REPO, WORKLOAD_ACCOUNTS
from tests.e2e.scenario import Environment, Scenario, ensure_package

PROGRESS = re.compile(
    r"^(\S+: (Creation complete|Still creating|Destruction complete|Still destroying)"
    r"|Apply complete|Destroy complete|Plan:|No changes|Error:|Warning:)"
)


def progress(line: str) -> None:
    """Terraform: one line per resource created or destroyed, and the summaries."""
    if not line.startswith("  [") or PROGRESS.search(line.split("] ", 1)[-1]):
        print(line, flush=True)


def _fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"+{seconds:5.1f}s"


def print_timeline(scenario: Scenario) -> None:
    items = scenario.state_items()
    steps = (
        ("consumed", "consumed"),
        ("pre-created", "pre-created"),
        ("command", "command sent"),
        ("status", "status consumed"),
        ("joined", "joined"),
        ("terminated put", "terminated"),
        ("leave consumed", "consumed"),
        ("removed", "removed"),
    )
    print("\nTimeline (seconds after each instance's 'running' event was put on its spoke bus;")
    print("routing through rules, buses, SNS and the cross-Region subscription is synchronous in")
    print(f"the emulator, then the queue holds each message {scenario.delay}s)\n")
    header = f"{'instance':18} {'account':12} {'region':9} {'platform':8} " + " ".join(
        f"{label:>15}" for _, label in steps
    )
    print(header + f" {'final state':>12}")
    print("-" * len(header) + "-" * 13)
    for row in scenario.timeline():
        inst = row["instance"]
        cells = [f"{_fmt(row[k] - row['t0']) if row.get(k) else '-':>15}" for k, _ in steps]
        status = items.get(inst.instance_id, {}).get("status", "(none)")
        print(
            f"{inst.spec.label:18} {inst.spec.account:12} {inst.spec.region:9} "
            f"{inst.spec.platform:8} " + " ".join(cells) + f" {status:>12}"
        )
    if any(d.adapter == "ldap" for d in scenario.directories.values()):
        print(
            "\n(ldap accounts: the handler adds the computer object over LDAP right before it"
            " sends the command, so 'pre-created' has no separate time there; the 'real DC:'"
            " lines above show the objects present after the joins and absent after the"
            " terminations; 'removed' is the state table's 'left' time.)"
        )


def time_to_join(rows: list[dict[str, Any]]) -> tuple[int, float, float, float] | None:
    """(instances, p50, p95, max) of the seconds from `running` to `joined`, nearest rank."""
    seconds = [row["joined"] - row["t0"] for row in rows if row.get("joined")]
    if not seconds:
        return None
    percentile = Result.percentile
    return len(seconds), percentile(seconds, 50), percentile(seconds, 95), max(seconds)


def print_time_to_join(scenario: Scenario) -> None:
    found = time_to_join(scenario.timeline())
    if found is None:
        print("\ntime to join: no instance recorded joined")
        return
    count, p50, p95, worst = found
    print(
        f"\ntime to join, running -> joined (the join command's Success recorded), {count} "
        f"instances: p50 {p50:.1f}s, p95 {p95:.1f}s, max {worst:.1f}s; settings: queue delay "
        f"{scenario.delay}s; the emulator's SSM agents are online at once and its Windows join "
        "commands succeed at once (`make bench` models boot, agent and join times)"
    )


def print_reconcile(scenario: Scenario) -> bool:
    """The reconcile run of the scenario: what it found and did, and how long it took."""
    if not scenario.reconciled:
        return False
    terminated, launched = scenario.reconciled
    items = scenario.state_items()
    seconds = scenario.marks["reconcile:end"] - scenario.marks["reconcile:start"]
    answer = scenario.reconcile_answer
    print(
        f"\nReconcile run (events lost: the spoke rule of {terminated.spec.account}/"
        f"{terminated.spec.region} was disabled while {terminated.instance_id} terminated and "
        f"{launched.instance_id} launched)"
    )
    print(f"  invoked with the schedule's payload: {answer.get('tasks')} tasks queued")
    for report in sorted(scenario.reconcile_reports(), key=lambda r: (r["account"], r["region"])):
        steps = ", ".join(f"{s['kind']} {s['instanceId']}" for s in report["plan"]["steps"])
        print(
            f"  task {report['account']}/{report['region']:9}: {report['instancesSeen']:2} "
            f"instances seen; {steps or 'nothing to do'}"
            + (f"; skipped: {report['skipped']}" if report["skipped"] else "")
        )
    final = {
        i.instance_id: items.get(i.instance_id, {}).get("status") for i in (launched, terminated)
    }
    outcome = ", ".join(f"{iid} {status}" for iid, status in final.items())
    print(f"  converged in {seconds:.1f}s from the invocation ({outcome})")
    return final == {launched.instance_id: "joined", terminated.instance_id: "left"}


def print_summary(scenario: Scenario, exposures: dict[str, bool]) -> dict[str, Any]:
    counts = scenario.counts()
    print("\nSummary")
    width = max(len(k) for k in counts) + 2
    for key, value in counts.items():
        print(f"  {key:{width}} {value}")
    leaks = [where for where, found in exposures.items() if found]
    print(
        f"  {'join password found in':{width}} "
        + (", ".join(leaks) if leaks else f"none of {len(exposures)} places searched")
    )
    return counts


def directory_statement(scenario: Scenario) -> str:
    """Plainly: which steps ran against a real directory and which did not."""
    lines = ["Directories:"]
    for account, d in scenario.directories.items():
        if d.real:
            lines.append(
                f"  {account}: REAL Samba AD DC ({d.domain}, {d.dns_ips[0]}): the handler creates"
                " and tree-deletes computer objects over LDAPS as the delegated join user; the"
                " Linux instance tagged e2eHost=samba-client is the Samba client namespace, where"
                " the join document Terraform created really runs (adcli join with the one-time"
                " password, sssd group restriction); its exit code is the command's status. The"
                " account's other instances' commands are emulated (Success)."
            )
        else:
            lines.append(
                f"  {account}: EMULATED AWS Managed Microsoft AD ({d.domain}): CreateComputer is"
                " the moto patch (recorded, no directory); removal is the AD tools host's leave"
                " command (Run Command, recorded, not executed); join commands are not executed."
            )
    if not any(d.real for d in scenario.directories.values()):
        lines.append(
            "  No real directory in this run (needs root and Samba): `make test-ad` joins one."
        )
    return "\n".join(lines) + "\n"


def print_keep(env: Environment) -> None:
    endpoint = env.server.endpoint
    bus = str(env.outputs["hub_event_bus_arns"]["us-east-1"]).rsplit("/", 1)[-1]
    print(
        f"""
KEEP=1: the emulator stays up at {endpoint} (pid {env.server.pid_file.read_text().strip()}).
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
  aws --endpoint-url {endpoint} dynamodb scan --table-name {env.outputs["state_table_name"]}
  aws --endpoint-url {endpoint} sqs receive-message --queue-url {env.outputs["dlq_url"]} \\
      --message-attribute-names All
  aws --endpoint-url {endpoint} ssm list-commands --region us-east-1
  aws --endpoint-url {endpoint} events list-rules --event-bus-name {bus}
Terraform state: {env.terraform.state_file if env.terraform else "-"}
Stop it: kill $(cat {env.server.pid_file})"""
    )


def main() -> int:
    keep = os.environ.get("KEEP") == "1"
    started = time.monotonic()
    workdir = REPO / ".demo"
    workdir.mkdir(exist_ok=True)
    print("ad-join demo: the whole system on a local AWS emulator (moto)\n")
    zip_path = ensure_package(print)
    env = Environment(workdir, zip_path, progress)
    scenario: Scenario | None = None
    ok = False
    try:
        env.start()
        print(f"apply: {env.timings['apply']:.1f}s")
        code = env.replan()
        verdict = "no changes" if code == 0 else "CHANGES PENDING"
        print(f"re-plan: {verdict} (detailed exit code {code}), {env.timings['replan']:.1f}s\n")
        scenario = Scenario(env, print)
        print(directory_statement(scenario))
        try:
            scenario.run()
        finally:
            scenario.close()
        print_timeline(scenario)
        print_time_to_join(scenario)
        reconciled = print_reconcile(scenario)
        exposures = scenario.secret_exposures(env.terraform.show_json() if env.terraform else "")
        counts = print_summary(scenario, exposures)
        ok = (
            code == 0
            and not any(exposures.values())
            and counts["instances joined"] == counts["eligible instances"]
            and all(scenario.dc_after_join.values())
            and not any(scenario.dc_after_leave.values())
            and reconciled
        )
    finally:
        if keep and env.applied:
            print_keep(env)
            if env.samba is not None:  # the relay to it ends with this process: stop it too
                env.samba.stop()
                env.samba = None
                print("The Samba DC was stopped (the emulator and the applied environment stay).")
        else:
            env.close(destroy=True)
    total = time.monotonic() - started
    print("\nTimings")
    for name in ("apply", "replan", "destroy"):
        if name in env.timings:
            print(f"  terraform {name:8} {env.timings[name]:6.1f}s")
    if scenario is not None and "end" in scenario.marks:
        print(f"  scenario          {scenario.marks['end'] - scenario.t0:6.1f}s")
    print(f"  total demo        {total:6.1f}s")
    print(f"  accounts          hub 123456789012 + {', '.join(WORKLOAD_ACCOUNTS)}")
    print("\n" + ("demo OK" if ok else "demo FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

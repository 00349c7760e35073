"""Python side of tools/iam-sim/simulate.mjs: one node process evaluates a whole batch.

A `Case` is one authorization AWS would make: who (principal), what (action on a resource ARN,
with the context keys AWS would add), under which policies (the principal's identity policies,
the resource's policy, the organization's SCPs). `evaluate` returns each case's `Verdict`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SIM_DIR = REPO / "tools" / "iam-sim"
DRIVER = SIM_DIR / "simulate.mjs"
PACKAGE = SIM_DIR / "node_modules" / "@cloud-copilot" / "iam-simulate" / "package.json"

Policy = dict[str, Any]


class SimulatorMissing(RuntimeError):
    pass


@dataclass
class Case:
    """One request to authorize. `expect` is "Allowed" or "Denied"."""

    id: str
    kind: str  # request | delivery | denial
    principal: str
    action: str
    resource: str
    resource_account: str
    context: dict[str, str | list[str]] = field(default_factory=dict)
    identity: list[tuple[str, Policy]] = field(default_factory=list)
    resource_policy: Policy | None = None
    expect: str = "Allowed"
    why: str = ""  # the documentation page or the recorded call this case stands for
    operation: str = ""  # the Lambda's boto3 operation (service, Operation) for requests

    def simulation(self) -> dict[str, Any]:
        sim: dict[str, Any] = {
            "request": {
                "principal": self.principal,
                "action": self.action,
                "resource": {"resource": self.resource, "accountId": self.resource_account},
                "contextVariables": self.context,
            },
            "identityPolicies": [{"name": n, "policy": p} for n, p in self.identity],
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
        }
        if self.resource_policy is not None:
            sim["resourcePolicy"] = self.resource_policy
        return sim


@dataclass
class Verdict:
    case: Case
    result: str  # Allowed | ImplicitlyDenied | ExplicitlyDenied | Error
    raw: dict[str, Any]

    @property
    def ok(self) -> bool:
        if self.result == "Error" or self.raw.get("ignoredContextKeys"):
            return False  # a key the policy engine ignored would make the proof hollow
        if self.case.expect == "Allowed":
            return self.result == "Allowed"
        return self.result in ("ImplicitlyDenied", "ExplicitlyDenied")

    def reason(self) -> str:
        if self.result == "Error":
            return f"simulator error: {json.dumps(self.raw.get('errors'))[:600]}"
        parts = [self.result]
        if self.raw.get("ignoredContextKeys"):
            parts.append(f"ignored context keys {self.raw['ignoredContextKeys']}")
        if self.raw.get("unvalidated"):
            parts.append(f"evaluated without key validation for {self.raw['unvalidated']}")
        for denial in self.raw.get("denials") or []:
            what = denial.get("policyType", "?")
            sid = denial.get("statementId") or denial.get("statementIndex")
            kind = denial.get("denialType", "?")
            parts.append(f"{kind} by {what}" + (f" ({sid})" if sid else ""))
        return "; ".join(parts)

    def describe(self) -> str:
        c = self.case
        return (
            f"[{c.kind}] {c.id}: {c.principal} {c.action} {c.resource} "
            f"context={json.dumps(c.context, sort_keys=True)} -> {self.reason()} "
            f"(expected {c.expect}; {c.why})"
        )


def ensure_installed() -> None:
    if shutil.which("node") is None:
        raise SimulatorMissing("node is not on PATH: install Node.js (Debian package nodejs)")
    if not PACKAGE.exists():
        raise SimulatorMissing(
            f"{PACKAGE.relative_to(REPO)} is missing: run `make install-iam-sim` "
            "(npm ci in tools/iam-sim, from its package-lock.json)"
        )


def evaluate(cases: list[Case]) -> list[Verdict]:
    """Evaluate every case in one node process."""
    ensure_installed()
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        raise ValueError("case ids must be unique")
    batch = [{"id": c.id, "simulation": c.simulation()} for c in cases]
    done = subprocess.run(
        ["node", str(DRIVER)],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"iam-simulate driver failed ({done.returncode}): {done.stderr[-2000:]}")
    answers = {a["id"]: a for a in json.loads(done.stdout)}
    return [Verdict(c, str(answers[c.id]["result"]), answers[c.id]) for c in cases]


def failures(verdicts: list[Verdict]) -> list[str]:
    return [v.describe() for v in verdicts if not v.ok]

"""The proof's figures, printed at the end of the pytest run (tests/conftest.py)."""

from __future__ import annotations

from collections import defaultdict

from tests.iam.simulator import Verdict

_counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
_coverage: list[tuple[int, int]] = []


def add(where: str, **kinds: list[Verdict]) -> None:
    for kind, verdicts in kinds.items():
        _counts[where][kind] += sum(1 for v in verdicts if v.ok)
        _counts[where][f"{kind} failed"] += sum(1 for v in verdicts if not v.ok)


def add_coverage(covered: int, total: int) -> None:
    _coverage.append((covered, total))


def lines() -> list[str]:
    out = []
    for where, counts in sorted(_counts.items()):
        out.append(
            f"permissions proof ({where}): {counts['requests']} requests evaluated, "
            f"{counts['deliveries']} deliveries evaluated, {counts['denials']} denials asserted"
            + (
                f"; FAILED: {counts['requests failed']} requests, "
                f"{counts['deliveries failed']} deliveries, {counts['denials failed']} denials"
                if counts["requests failed"]
                + counts["deliveries failed"]
                + counts["denials failed"]
                else ""
            )
        )
    for covered, total in _coverage:
        out.append(f"permissions proof: {covered} of {total} AWS calls of lambda/adjoin covered")
    return out

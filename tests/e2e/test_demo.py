"""The demo's time-to-join figure (tests/e2e/demo.py), from timeline rows."""

from __future__ import annotations

from tests.e2e.demo import time_to_join


def test_time_to_join_is_running_to_joined_with_nearest_rank_percentiles() -> None:
    rows = [{"t0": 100.0, "joined": 100.0 + s} for s in (40, 10, 30, 20)]
    rows += [{"t0": 5.0}]  # never joined (opted out): not counted
    assert time_to_join(rows) == (4, 20.0, 40.0, 40.0)


def test_time_to_join_without_any_join_is_none() -> None:
    assert time_to_join([{"t0": 1.0}]) is None

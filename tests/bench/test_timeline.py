"""The time-to-join simulation (tests/bench/timeline.py) on a fixed clock: each invocation lasts
1 simulated second, so the figures do not depend on how fast this machine is."""

from __future__ import annotations

import pytest

from tests.bench import timeline

pytestmark = pytest.mark.slow

BOOT = timeline.Boot()  # agent online at 20 s, user data done at 60 s, join 10 s


def run(mapping: timeline.Mapping, *, ours: bool = True) -> timeline.Result:
    return timeline.simulate(
        "test",
        mapping,
        ours=ours,
        instances=8,
        spread_s=8,
        boot=BOOT,
        latency_ms=0,
        delivery_s=1,
        waits_for_boot=ours,
        invocation_s=1.0,
    )


def test_module_defaults_are_read_from_the_module() -> None:
    defaults = timeline.module_defaults()
    assert (defaults.delay_s, defaults.retry_base_s, defaults.retry_max_s) == (30, 10, 3600)
    assert (defaults.batch_size, defaults.window_s, defaults.concurrency) == (100, 5, 5)


def test_with_the_module_defaults_every_instance_joins_when_its_user_data_is_done() -> None:
    """First attempt at 30 s + delivery + window: the agent is online, the command is sent, the
    script waits for cloud-init (60 s) and joins in 10 s: 70 s after running, no retry."""
    result = run(timeline.module_defaults())
    assert result.joined_after == pytest.approx([70.0] * 8)
    assert result.retries == 0 and result.dead == 0
    # the status event comes back through the same delayed queue: the state says joined later
    assert len(result.recorded_after) == 8
    assert all(100 <= t <= 110 for t in result.recorded_after)


def test_without_a_delay_the_agent_offline_retries_wait_for_the_agent() -> None:
    result = run(timeline.Mapping(0, 100, 5, 5, 10))
    assert result.retries > 0  # tried before the agent was online, and again after
    assert result.joined_after == pytest.approx([70.0] * 8)


def test_the_seed_waits_its_blind_five_minutes() -> None:
    defaults = timeline.module_defaults()
    seed = timeline.Mapping(timeline.SEED_DELAY_S, defaults.batch_size, 5, 5)
    result = run(seed, ours=False)
    assert len(result.joined_after) == 8
    # 300 s delay, then the batching window and the one-second invocation, then the join
    assert all(310 <= t <= 318 for t in result.joined_after)

"""The benchmark's call budget, without latency (deterministic): the exact calls per operation
of 200 running events in two batches of 100 over 2 accounts x 2 Regions."""

from __future__ import annotations

import pytest

from tests.bench import burst


@pytest.mark.slow
def test_burst_call_budget() -> None:
    result = burst.run(instances=200, latency_ms=0, batch_size=100)
    assert result["joined"] == 200 and result["failures"] == 0
    assert result["calls"] == {
        ("directory-service", "CreateComputer"): 200,
        ("dynamodb", "GetItem"): 2,  # one per account: cached for the second batch
        ("dynamodb", "TransactWriteItems"): 4,  # two per batch
        ("ec2", "DescribeInstances"): 8,  # one per account-Region per batch
        # the one-time passwords' derivation key: once per container and day (adjoin.passwords)
        ("kms", "GenerateMac"): 1,
        ("ssm", "DescribeInstanceInformation"): 8,
        ("ssm", "SendCommand"): 200,
        ("sts", "AssumeRole"): 2,  # one per account: cached
    }
    assert result["calls_per_instance"] <= burst.MAX_CALLS_PER_INSTANCE
    assert result["status_recorded"] == 200

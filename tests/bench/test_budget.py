"""The benchmark's call budget, without latency (deterministic): the exact AWS calls and LDAP
operations of every adapter combination's join, status and leave bursts, and of the seed's peer.

The fleet is smaller than `make bench`'s (16 instances in 2 batches of 8, over the same 2
accounts x 2 Regions, interleaved so every batch spans the 4 account-Regions) to keep this well
under a minute; the counts scale as written: per batch, per account-Region, per account, per
instance.
"""

from __future__ import annotations

from typing import Any

import pytest

from adjoin.directory.dns_records import PARTITIONS
from tests.bench import lifecycle

pytestmark = pytest.mark.slow

N = 16  # instances
B = 2  # batches
BATCH = N // B
G = len(lifecycle.ACCOUNTS) * len(lifecycle.REGIONS)  # account-Regions
A = len(lifecycle.ACCOUNTS)

JOIN_COMMON = {
    ("dynamodb", "GetItem"): A,  # config: one per account, cached for the later batches
    ("dynamodb", "TransactWriteItems"): 2 * B,  # claims, then command ids
    ("ec2", "DescribeInstances"): G * B,
    ("ssm", "DescribeInstanceInformation"): G * B,
    ("ssm", "SendCommand"): N,
    ("sts", "AssumeRole"): A,  # sessions cached
    # the one-time passwords' derivation key: once per container and day (adjoin.passwords)
    ("kms", "GenerateMac"): 1,
}
#: the adComputerName tag is opt-in (TAG_COMPUTER_NAME): without it the status is one write
STATUS = {("dynamodb", "TransactWriteItems"): B}
#: with it: one CreateTags per instance
STATUS_TAGGED = {**STATUS, ("ec2", "CreateTags"): N}
LEAVE_COMMON = {
    # the old items, one read per batch (of up to 25: moto's TransactGetItems limit)
    ("dynamodb", "TransactGetItems"): B,
    ("dynamodb", "TransactWriteItems"): 2 * B,  # leaving (conditional on the read), then left
}
NO_LDAP = {"open": 0, "bind": 0, "search": 0, "add": 0, "modify": 0, "delete": 0}
#: one connection and bind per object: search, then add (join) or delete (leave)
LDAP_PER_OBJECT = {"open": N, "bind": N, "search": N, "modify": 0}
#: a leave also removes the host's DNS records: per DNS partition (DomainDnsZones,
#: ForestDnsZones, System) one search for its A-record node and one for the reverse zones
DNS_SEARCHES = 2 * len(PARTITIONS)
LDAP_LEAVE = {**LDAP_PER_OBJECT, "search": N * (1 + DNS_SEARCHES), "add": 0, "delete": N}

EXPECTED: dict[str, dict[str, dict[str, Any]]] = {
    "ds+ldap": {
        "join": {"calls": {**JOIN_COMMON, ("directory-service", "CreateComputer"): N}},
        "status": {"calls": STATUS, "ldap": NO_LDAP},
        "leave": {
            "calls": {**LEAVE_COMMON, ("ssm", "GetParameter"): 1},  # the ldap password, once
            "ldap": LDAP_LEAVE,
        },
    },
    "ds+ad_tools_host": {
        "join": {"calls": {**JOIN_COMMON, ("directory-service", "CreateComputer"): N}},
        "status": {"calls": STATUS},
        "leave": {
            "calls": {
                **LEAVE_COMMON,
                ("ec2", "DescribeInstances"): 1,  # the AD tools host, looked up once a minute
                ("ssm", "SendCommand"): B,  # one leave command per batch for all its names
            }
        },
    },
    "ldap+ldap": {
        "join": {
            "calls": {**JOIN_COMMON, ("ssm", "GetParameter"): 1},
            "ldap": {**LDAP_PER_OBJECT, "add": N, "delete": 0},
        },
        "status": {"calls": STATUS, "ldap": NO_LDAP},
        "leave": {
            "calls": LEAVE_COMMON,  # the password is still cached
            "ldap": LDAP_LEAVE,
        },
    },
}


def test_the_computer_name_tag_costs_one_call_per_instance() -> None:
    phases = lifecycle.run_ours(
        "ds", "none", instances=N, latency_ms=0, batch_size=BATCH, env={"TAG_COMPUTER_NAME": "true"}
    )
    status = phases["status"]
    assert (status.events, status.done, status.failures) == (N, N, 0)
    assert status.calls == dict(sorted(STATUS_TAGGED.items()))


@pytest.mark.parametrize("combination", list(lifecycle.COMBINATIONS))
def test_lifecycle_call_budget(combination: str) -> None:
    join, leave = lifecycle.COMBINATIONS[combination]
    phases = lifecycle.run_ours(join, leave, instances=N, latency_ms=0, batch_size=BATCH)
    for name, expected in EXPECTED[combination].items():
        phase = phases[name]
        assert (phase.events, phase.done, phase.failures) == (N, N, 0), name
        assert phase.calls == dict(sorted(expected["calls"].items())), name
        if "ldap" in expected:
            assert phase.ldap == expected["ldap"], name
    if "ldap" in (join, leave):
        assert phases["join"].computers == N  # created (by ds or ldap) in the directory
        assert phases["leave"].computers == 0  # and all removed again


def test_seed_peer_call_budget() -> None:
    """The seed's algorithm as the issue describes it: five calls per join, four per leave,
    nothing cached, no status handling."""
    phases = lifecycle.run_seed(instances=8, latency_ms=0, batch_size=4)
    assert phases["join"].calls == {
        ("dynamodb", "GetItem"): 8,
        ("ec2", "DescribeInstances"): 8,
        ("ssm", "GetParameter"): 8,
        ("ssm", "SendCommand"): 8,
        ("sts", "AssumeRole"): 8,
    }
    assert phases["leave"].calls == {
        ("dynamodb", "GetItem"): 8,
        ("ec2", "DescribeInstances"): 8,
        ("ssm", "GetParameter"): 8,
        ("ssm", "SendCommand"): 8,
    }
    assert phases["join"].done == phases["leave"].done == 8
    assert not phases["status"].handled and phases["status"].calls == {}

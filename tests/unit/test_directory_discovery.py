"""Domain controllers from DNS SRV records (adjoin.directory.discovery), against a real DNS
server on 127.0.0.1 that answers what the test sets."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator

import pytest

from adjoin.directory import discovery
from adjoin.directory.discovery import DomainController, discover, srv_order
from adjoin.errors import DirectoryError, DirectoryUnavailable
from tests.unit.netfakes import FakeDns, fake_dns

DOMAIN = "ad.example.com"
SRV = f"_ldap._tcp.dc._msdcs.{DOMAIN}."


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    discovery.clear_cache()  # every test is a new container
    yield
    discovery.clear_cache()


def test_two_controllers_are_found_by_name_with_their_addresses() -> None:
    # GIVEN the domain's DNS names two DCs, priority 0 before 10; one A record comes in the
    # answer's additional section, the other must be asked for
    server = FakeDns(
        records={
            (SRV, "SRV"): [
                "10 100 389 dc2.ad.example.com.",
                "0 100 389 dc1.ad.example.com.",
            ],
            ("dc2.ad.example.com.", "A"): ["10.0.1.10"],
        },
        additional={SRV: [("dc1.ad.example.com.", "10.0.0.10")]},
    )
    with fake_dns(server):
        found = discover(DOMAIN, ["127.0.0.1"], port=server.port, timeout=2)
    # THEN both come back in priority order, each with its name and address
    assert found == [
        DomainController("dc1.ad.example.com", "10.0.0.10", 0, 100),
        DomainController("dc2.ad.example.com", "10.0.1.10", 10, 100),
    ]
    # AND only dc2's address had to be asked for
    assert server.queries == [(SRV, "SRV"), ("dc2.ad.example.com.", "A")]


def test_answers_are_cached_for_a_burst() -> None:
    server = FakeDns(records={(SRV, "SRV"): ["0 100 389 dc1.ad.example.com."]})
    with fake_dns(server):
        first = discover(DOMAIN, ["127.0.0.1"], port=server.port, timeout=2)
        again = discover(DOMAIN, ["127.0.0.1"], port=server.port, timeout=2)
    assert first == again == [DomainController("dc1.ad.example.com", "dc1.ad.example.com", 0, 100)]
    assert server.queries.count((SRV, "SRV")) == 1  # the second join asked nothing


def test_a_domain_without_the_record_is_a_configuration_error() -> None:
    with fake_dns(FakeDns()) as server, pytest.raises(DirectoryError) as caught:
        discover(DOMAIN, ["127.0.0.1"], port=server.port, timeout=2)
    assert caught.value.reason == "directory_discovery"
    message = str(caught.value)
    assert SRV in message and "dnsIP1/dnsIP2" in message and "ldapServers" in message


def test_dns_servers_that_do_not_answer_are_transient() -> None:
    with fake_dns(FakeDns(silent=True)) as server, pytest.raises(DirectoryUnavailable) as caught:
        discover(DOMAIN, ["127.0.0.1"], port=server.port, timeout=1)
    assert "did not answer" in str(caught.value) and "port 53" in str(caught.value)


def test_no_dns_server_is_a_configuration_error() -> None:
    with pytest.raises(DirectoryError, match="no DNS server"):
        discover(DOMAIN, ["", ""])


def test_srv_order_sorts_by_priority_first() -> None:
    records = [(20, 100, "c"), (0, 5, "a"), (10, 100, "b")]
    assert [r[2] for r in srv_order(records, random.Random(1))] == ["a", "b", "c"]


def test_srv_order_picks_by_weight_within_a_priority() -> None:
    # RFC 2782: the chance to come first is proportional to the weight (90 : 10)
    rng = random.Random(7)
    firsts = Counter(
        srv_order([(0, 90, "heavy"), (0, 10, "light")], rng)[0][2] for _ in range(2000)
    )
    assert 0.85 < firsts["heavy"] / 2000 < 0.95
    # every record is returned exactly once
    assert sorted(r[2] for r in srv_order([(0, 0, "x"), (0, 0, "y"), (1, 0, "z")], rng)) == [
        "x",
        "y",
        "z",
    ]

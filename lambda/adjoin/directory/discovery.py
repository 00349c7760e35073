"""Domain controllers by name, from the domain's own DNS (dnspython).

Active Directory registers every domain controller's LDAP service as an SRV record
`_ldap._tcp.dc._msdcs.<domain>` ("DNS-Based Discovery", MS-ADTS 6.3.6.1:
https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-adts/7fcdce70-5205-44d6-9c3a-260e616a2f04).
The ldap adapter asks the config item's `dnsIP1`/`dnsIP2` for it (the Lambda's own VPC resolver
usually does not know the AD zone), orders the answers as RFC 2782 says (lowest priority first,
then a weighted random pick among equal priorities: https://www.rfc-editor.org/rfc/rfc2782),
and resolves each target's address at the same servers. It connects to that address and
verifies the certificate against the target's *name*, which is what a DC certificate carries.

Answers are cached per container for their TTL (at most MAX_CACHE_SECONDS), so a burst of
joins costs one query. A missing record is a configuration error (permanent); DNS servers that
do not answer are transient.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import dns.exception
import dns.message
import dns.name
import dns.rdatatype
import dns.resolver

from adjoin.errors import DirectoryError, DirectoryUnavailable

SRV_PREFIX: Final = "_ldap._tcp.dc._msdcs."
MAX_CACHE_SECONDS: Final = 300
MIN_CACHE_SECONDS: Final = 30

_cache: dict[tuple[str, tuple[str, ...], int], tuple[float, tuple[DomainController, ...]]] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class DomainController:
    """A domain controller found in DNS: its name (what its certificate names) and address."""

    name: str  # DNS name, lower case, no trailing dot
    address: str  # IPv4 address to connect to; the name itself when it has no A record
    priority: int = 0
    weight: int = 0


def srv_order(
    records: Sequence[tuple[int, int, str]], rng: random.Random | None = None
) -> list[tuple[int, int, str]]:
    """(priority, weight, target) in RFC 2782 order: priorities ascending; within one
    priority, repeatedly pick a record with probability proportional to its weight (weight-0
    records get a small chance too, as the RFC's running-sum method gives them)."""
    rng = rng or random.SystemRandom()
    ordered: list[tuple[int, int, str]] = []
    for priority in sorted({r[0] for r in records}):
        group = sorted((r for r in records if r[0] == priority), key=lambda r: (r[1] == 0, r[2]))
        while group:
            total = sum(r[1] for r in group)
            pick = rng.uniform(0, total) if total else 0.0
            running = 0
            for index, record in enumerate(group):
                running += record[1]
                if running >= pick:
                    ordered.append(group.pop(index))
                    break
    return ordered


def _resolver(nameservers: Sequence[str], timeout: float, port: int) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=False)  # never the Lambda's own resolv.conf
    resolver.nameservers = list(nameservers)
    resolver.port = port
    resolver.timeout = max(0.5, timeout / 2)  # per server
    resolver.lifetime = timeout  # the whole query, every server
    resolver.retry_servfail = False
    return resolver


def _addresses(
    resolver: dns.resolver.Resolver, response: dns.message.Message, target: dns.name.Name
) -> list[str]:
    """A records of the target: from the SRV answer's additional section, else asked."""
    found = [
        rdata.address
        for rrset in response.additional
        if rrset.name == target and rrset.rdtype == dns.rdatatype.A
        for rdata in rrset
    ]
    if found:
        return found
    try:
        return [rdata.address for rdata in resolver.resolve(target, "A", search=False)]
    except dns.exception.DNSException:
        return []


def discover(
    domain: str,
    nameservers: Sequence[str],
    *,
    timeout: float = 5.0,
    rng: random.Random | None = None,
    port: int = 53,
) -> list[DomainController]:
    """The domain's controllers in the order to try them; raises DirectoryError when DNS says
    there are none, DirectoryUnavailable when no DNS server answers."""
    servers = tuple(s for s in nameservers if s)
    if not servers:
        raise DirectoryError(
            f"cannot discover the domain controllers of {domain}: no DNS server (set dnsIP1, "
            "or name the controllers in ldapServers)",
            reason="directory_discovery",
        )
    key = (domain.lower(), servers, port)
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(key)
    if cached and cached[0] > now:
        found = cached[1]
    else:
        found, ttl = _query(domain, servers, timeout, port)
        with _cache_lock:
            _cache[key] = (now + max(MIN_CACHE_SECONDS, min(ttl, MAX_CACHE_SECONDS)), found)
    order = srv_order([(dc.priority, dc.weight, dc.name) for dc in found], rng)
    by_name = {dc.name: dc for dc in found}
    return [by_name[name] for _, _, name in order]


def _query(
    domain: str, servers: tuple[str, ...], timeout: float, port: int
) -> tuple[tuple[DomainController, ...], int]:
    record = f"{SRV_PREFIX}{domain.lower().rstrip('.')}."
    where = ", ".join(servers)
    resolver = _resolver(servers, timeout, port)
    try:
        answer = resolver.resolve(record, "SRV", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        raise DirectoryError(
            f"DNS servers {where} have no SRV record {record}: check dnsName and dnsIP1/dnsIP2 "
            "(they must be the domain's DNS servers), or name the domain controllers in "
            "ldapServers",
            reason="directory_discovery",
        ) from None
    except dns.exception.Timeout:
        raise DirectoryUnavailable(
            f"DNS servers {where} did not answer for {record} within {timeout:g} s: check that "
            "the Lambda's subnets and security group reach them on UDP and TCP port 53",
            reason="directory_unavailable",
        ) from None
    except dns.exception.DNSException as exc:  # SERVFAIL, REFUSED, ... from every server
        raise DirectoryUnavailable(
            f"DNS servers {where} failed to answer {record} ({type(exc).__name__})",
            reason="directory_unavailable",
        ) from None
    controllers = []
    for rdata in sorted(answer, key=lambda r: (r.priority, -r.weight, str(r.target))):
        if rdata.target == dns.name.root:  # "service not available here" (RFC 2782)
            continue
        name = rdata.target.to_text(omit_final_dot=True).lower()
        addresses = _addresses(resolver, answer.response, rdata.target)
        controllers.append(
            DomainController(
                name, addresses[0] if addresses else name, rdata.priority, rdata.weight
            )
        )
    if not controllers:
        raise DirectoryError(
            f"the SRV record {record} at {where} names no domain controller",
            reason="directory_discovery",
        )
    return tuple(controllers), int(answer.rrset.ttl if answer.rrset is not None else 0)


def clear_cache() -> None:
    """Forget every answer (tests: each test is a new container)."""
    with _cache_lock:
        _cache.clear()


__all__ = ["DomainController", "clear_cache", "discover", "srv_order"]

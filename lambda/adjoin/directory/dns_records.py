"""AD-integrated DNS as stored in the directory: where a host's records live and how to read them.

Each zone is a `dnsZone` object under `CN=MicrosoftDNS` in the DomainDnsZones or ForestDnsZones
application partition (or, for zones of Windows 2000 style, `CN=MicrosoftDNS,CN=System`); each
name in a zone is a `dnsNode` child whose `dc` is the name relative to the zone and whose
multi-valued `dnsRecord` holds one binary record per value
(https://learn.microsoft.com/en-us/windows/win32/adschema/c-dnsnode,
https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-dnsp/6912b338-5472-4f59-b912-0edb536b6ed8).

A `dnsRecord` value is a 24-byte header (DataLength 2 bytes and Type 2 bytes little-endian,
Version 0x05, Rank, Flags, Serial, TtlSeconds big-endian, Reserved, TimeStamp) followed by
DataLength bytes of data (MS-DNSP 2.3.2.2). An A record's data is the IPv4 address (4 bytes); a
PTR record's data is a DNS_COUNT_NAME: total length, label count, then length-prefixed labels and
a final 0 (MS-DNSP section 2.2.2.2.2, same specification). tests/ad reads records that Samba's
DNS server wrote after a client's signed dynamic update. Pure functions, no LDAP.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Final

HEADER: Final = struct.Struct("<HHBBHI")  # DataLength, Type, Version, Rank, Flags, Serial
HEADER_LENGTH: Final = 24
TYPE_A: Final = 1
TYPE_PTR: Final = 12
VERSION: Final = 0x05
#: the application partitions that hold AD-integrated zones, then the legacy domain container
PARTITIONS: Final = ("DC=DomainDnsZones", "DC=ForestDnsZones", "CN=System")


@dataclass(frozen=True)
class DnsRecord:
    type: int
    data: bytes


def parse_record(blob: bytes) -> DnsRecord | None:
    """One `dnsRecord` value, or None when it is not a well-formed version-5 record."""
    if len(blob) < HEADER_LENGTH:
        return None
    length, rtype, version, _rank, _flags, _serial = HEADER.unpack_from(blob)
    if version != VERSION or len(blob) < HEADER_LENGTH + length:
        return None
    return DnsRecord(rtype, bytes(blob[HEADER_LENGTH : HEADER_LENGTH + length]))


def ipv4_of(record: DnsRecord) -> str | None:
    """The address of an A record."""
    if record.type != TYPE_A or len(record.data) != 4:
        return None
    return str(ipaddress.IPv4Address(record.data))


def name_of(record: DnsRecord) -> str | None:
    """The target of a PTR record, lower case, without the final dot."""
    if record.type != TYPE_PTR or len(record.data) < 2:
        return None
    data, labels, at = record.data, [], 2
    for _ in range(data[1]):
        if at >= len(data):
            return None
        size = data[at]
        if size == 0 or at + 1 + size > len(data):
            break
        labels.append(data[at + 1 : at + 1 + size].decode("utf-8", "replace"))
        at += 1 + size
    return ".".join(labels).lower().rstrip(".") or None


def record_blob(rtype: int, data: bytes, ttl: int = 900) -> bytes:
    """A `dnsRecord` value (the tests write records as the DNS server would)."""
    return (
        HEADER.pack(len(data), rtype, VERSION, 0xF0, 0, 1)
        + struct.pack(">I", ttl)
        + bytes(8)
        + data
    )


def a_blob(address: str) -> bytes:
    return record_blob(TYPE_A, ipaddress.IPv4Address(address).packed)


def ptr_blob(name: str) -> bytes:
    labels = [label.encode() for label in name.rstrip(".").split(".")]
    raw = b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"
    return record_blob(TYPE_PTR, bytes([len(raw), len(labels)]) + raw)


def reverse_node(address: str, zone: str) -> str | None:
    """The node name of ADDRESS's PTR record in the reverse zone ZONE, or None when the zone does
    not hold it: 10.213.3.2 in `213.10.in-addr.arpa` is `2.3`."""
    suffix = ".in-addr.arpa"
    zone = zone.lower().rstrip(".")
    if not zone.endswith(suffix):
        return None
    zone_octets = list(reversed(zone[: -len(suffix)].split(".")))
    octets = address.split(".")
    if len(zone_octets) >= len(octets) or octets[: len(zone_octets)] != zone_octets:
        return None
    return ".".join(reversed(octets[len(zone_octets) :]))


def zone_bases(base_dn: str) -> list[str]:
    """The containers of the zones: `CN=MicrosoftDNS,<partition>,<domain DN>`."""
    return [f"CN=MicrosoftDNS,{partition},{base_dn}" for partition in PARTITIONS]

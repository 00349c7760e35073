"""The owner stamp (adjoin.ownership), how the ds and ldap adapters write it, how the ldap adapter
lists stamped objects, and its removal of a host's DNS records (adjoin.directory.dns_records).

The same against a real Samba AD DC: tests/ad/test_converge_directory.py.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from ldap3.core import exceptions as ldap_exc

from adjoin import ownership
from adjoin.directory import dns_records
from adjoin.directory.base import ComputerAccount
from adjoin.directory.ds import DirectoryServiceDirectory
from adjoin.ownership import InvalidStamp, OwnerStamp
from tests.unit.test_directory_ldap import BASE, DOMAIN, OTP, OU, MockDirectory

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pyasn1.*")

OWNER = OwnerStamp("i-0123456789abcdef0", "111122223333", "eu-west-1")
STAMP = "ad-join:v1 instance=i-0123456789abcdef0 account=111122223333 region=eu-west-1"
ZONES = f"CN=MicrosoftDNS,DC=DomainDnsZones,{BASE}"
FORWARD = f"DC={DOMAIN},{ZONES}"
REVERSE = f"DC=0.10.in-addr.arpa,{ZONES}"


# ---- the stamp ------------------------------------------------------------------------------


def test_stamp_format_is_the_contract() -> None:
    assert OWNER.format() == STAMP
    assert ownership.parse(STAMP) == OWNER
    assert ownership.parse(f"  {STAMP} ") == OWNER


@pytest.mark.parametrize(
    "description",
    [
        None,
        "",
        "web server of team A",
        STAMP.replace("v1", "v2"),
        STAMP + " extra=1",
        "note: " + STAMP,
        STAMP.replace("i-0123456789abcdef0", "i-XYZ"),
        STAMP.replace("111122223333", "1111"),
        STAMP.replace("eu-west-1", "Europe"),
    ],
)
def test_anything_but_an_exact_stamp_is_no_owner(description: str | None) -> None:
    assert ownership.parse(description) is None


@pytest.mark.parametrize(
    "args",
    [
        ("i-123", "111122223333", "eu-west-1"),
        ("i-0123456789abcdef0", "11112222333a", "eu-west-1"),
        ("i-0123456789abcdef0", "111122223333", "eu west 1"),
    ],
)
def test_an_invalid_owner_cannot_be_made(args: tuple[str, str, str]) -> None:
    with pytest.raises(InvalidStamp):
        OwnerStamp(*args)


# ---- ds: ComputerAttributes -----------------------------------------------------------------


def test_ds_writes_the_stamp_as_a_computer_attribute() -> None:
    ds = boto3.client(
        "ds", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    account = ComputerAccount("EC256789ABCDEF0", DOMAIN, None, OTP, owner=OWNER)
    with Stubber(ds) as stub:
        stub.add_response(
            "create_computer",
            {"Computer": {"ComputerName": account.name}},
            {
                "DirectoryId": "d-1234567890",
                "ComputerName": account.name,
                "Password": OTP,
                "ComputerAttributes": [{"Name": "description", "Value": STAMP}],
            },
        )
        DirectoryServiceDirectory(ds, "d-1234567890").create_computer(account)
        stub.assert_no_pending_responses()


# ---- ldap: the add, the reset, the listing --------------------------------------------------


def stamped(name: str = "EC2ABC123", owner: OwnerStamp | None = OWNER) -> ComputerAccount:
    return ComputerAccount(name, DOMAIN, OU, OTP, owner=owner)


def test_ldap_add_writes_the_stamp() -> None:
    directory = MockDirectory()
    directory.create_computer(stamped())
    entry = directory.entry(f"CN=EC2ABC123,{OU}")
    assert entry is not None
    assert entry["description"] == [STAMP.encode()]


def test_ldap_add_without_owner_writes_no_description() -> None:
    directory = MockDirectory()
    directory.create_computer(stamped(owner=None))
    entry = directory.entry(f"CN=EC2ABC123,{OU}")
    assert entry is not None
    assert "description" not in entry


def test_ldap_reset_of_an_existing_object_stamps_it() -> None:
    directory = MockDirectory()
    directory.create_computer(stamped(owner=None))  # e.g. pre-created by hand
    directory.create_computer(stamped())
    entry = directory.entry(f"CN=EC2ABC123,{OU}")
    assert entry is not None
    assert entry["description"] == [STAMP.encode()]


def test_stamped_computers_lists_only_valid_stamps_under_the_ou() -> None:
    directory = MockDirectory()
    other = OwnerStamp("i-0fedcba9876543210", "444455556666", "us-east-1")
    directory.create_computer(stamped("EC2ABC123"))
    directory.create_computer(stamped("EC2DEF456", owner=other))
    directory.create_computer(stamped("EC2NOSTAMP", owner=None))
    directory.create_computer(ComputerAccount("EC2ELSEWHERE", DOMAIN, None, OTP, owner=OWNER))
    directory.conn.strategy.add_entry(
        f"CN=EC2EDITED,{OU}",
        {
            "objectClass": ["top", "computer"],
            "sAMAccountName": "EC2EDITED$",
            "description": STAMP + " (kept by ops)",
        },
    )
    listed = directory.stamped_computers(OU)
    assert [(c.name, c.owner, c.dn) for c in listed] == [
        ("EC2ABC123", OWNER, f"CN=EC2ABC123,{OU}"),
        ("EC2DEF456", other, f"CN=EC2DEF456,{OU}"),
    ]
    everywhere = {c.name for c in directory.stamped_computers(None)}
    assert everywhere == {"EC2ABC123", "EC2DEF456", "EC2ELSEWHERE"}


# ---- DNS records ----------------------------------------------------------------------------


def test_record_blobs_round_trip() -> None:
    a = dns_records.parse_record(dns_records.a_blob("10.0.3.2"))
    ptr = dns_records.parse_record(dns_records.ptr_blob("ec2abc123.ad.example.com."))
    assert a is not None and ptr is not None
    assert dns_records.ipv4_of(a) == "10.0.3.2"
    assert dns_records.name_of(ptr) == "ec2abc123.ad.example.com"
    assert dns_records.ipv4_of(ptr) is None and dns_records.name_of(a) is None
    assert dns_records.parse_record(b"\x04\x00\x01\x00") is None  # too short
    assert dns_records.parse_record(dns_records.a_blob("10.0.3.2")[:26]) is None  # cut data


@pytest.mark.parametrize(
    ("address", "zone", "node"),
    [
        ("10.0.3.2", "0.10.in-addr.arpa", "2.3"),
        ("10.0.3.2", "3.0.10.in-addr.arpa", "2"),
        ("10.0.3.2", "10.in-addr.arpa", "2.3.0"),
        ("10.0.3.2", "1.10.in-addr.arpa", None),
        ("10.0.3.2", "ad.example.com", None),
        ("10.0.3.2", "2.3.0.10.in-addr.arpa", None),
    ],
)
def test_reverse_node(address: str, zone: str, node: str | None) -> None:
    assert dns_records.reverse_node(address, zone) == node


def dns_directory() -> MockDirectory:
    """A domain with its zone and a reverse zone in DomainDnsZones, and the records a dynamic
    update of EC2ABC123 (10.0.3.2) leaves there, next to another host's."""
    directory = MockDirectory()
    add = directory.conn.strategy.add_entry
    for dn in (f"DC=DomainDnsZones,{BASE}", ZONES):
        add(dn, {"objectClass": ["top", "container"]})
    add(FORWARD, {"objectClass": ["top", "dnsZone"], "dc": DOMAIN})
    add(REVERSE, {"objectClass": ["top", "dnsZone"], "dc": "0.10.in-addr.arpa"})
    for zone, node, blob in (
        (FORWARD, "ec2abc123", dns_records.a_blob("10.0.3.2")),
        (FORWARD, "other", dns_records.a_blob("10.0.3.9")),
        (REVERSE, "2.3", dns_records.ptr_blob("ec2abc123.ad.example.com")),
        (REVERSE, "9.3", dns_records.ptr_blob("other.ad.example.com")),
    ):
        add(
            f"DC={node},{zone}",
            {"objectClass": ["top", "dnsNode"], "dc": node, "dnsRecord": [blob]},
        )
    directory.create_computer(stamped())
    return directory


def test_delete_removes_the_hosts_a_and_ptr_records_only() -> None:
    directory = dns_directory()
    assert directory.delete_computer("EC2ABC123", DOMAIN, OU) is True
    assert directory.entry(f"CN=EC2ABC123,{OU}") is None
    assert directory.entry(f"DC=ec2abc123,{FORWARD}") is None
    assert directory.entry(f"DC=2.3,{REVERSE}") is None
    assert directory.entry(f"DC=other,{FORWARD}") is not None
    assert directory.entry(f"DC=9.3,{REVERSE}") is not None
    assert directory.last_dns_removed == 2


def test_a_shared_reverse_node_keeps_the_other_names_ptr() -> None:
    directory = dns_directory()
    node = directory.entry(f"DC=2.3,{REVERSE}")
    assert node is not None
    node["dnsRecord"].append(dns_records.ptr_blob("alias.ad.example.com"))
    directory.delete_computer("EC2ABC123", DOMAIN, OU)
    left = directory.entry(f"DC=2.3,{REVERSE}")
    assert left is not None
    assert [dns_records.name_of(dns_records.parse_record(v)) for v in left["dnsRecord"]] == [  # type: ignore[arg-type]
        "alias.ad.example.com"
    ]


def test_records_go_even_when_the_object_was_already_gone() -> None:
    directory = dns_directory()
    directory.conn.bind()
    directory.conn.delete(f"CN=EC2ABC123,{OU}")
    assert directory.delete_computer("EC2ABC123", DOMAIN, OU) is False
    assert directory.entry(f"DC=ec2abc123,{FORWARD}") is None
    assert directory.entry(f"DC=2.3,{REVERSE}") is None


def test_a_domain_without_integrated_zones_deletes_the_object_alone() -> None:
    directory = MockDirectory()
    directory.create_computer(stamped())
    assert directory.delete_computer("EC2ABC123", DOMAIN, OU) is True
    assert directory.last_dns_removed == 0


def test_a_refused_dns_delete_does_not_fail_the_leave(caplog: Any) -> None:
    directory = dns_directory()
    original = directory.conn.delete

    def refuse_dns(dn: str, controls: Any = None) -> Any:
        if "MicrosoftDNS" in dn:
            raise ldap_exc.LDAPInsufficientAccessRightsResult("insufficientAccessRights")
        return original(dn, controls=controls)

    directory.conn.delete = refuse_dns
    assert directory.delete_computer("EC2ABC123", DOMAIN, OU) is True
    assert directory.entry(f"CN=EC2ABC123,{OU}") is None
    assert "could not remove the DNS records" in caplog.text

"""Ownership stamps and DNS clean-up of the ldap adapter against a real Samba AD DC.

A Linux client joins with the one-time password (scripts/linux/join.sh), then registers its A and
PTR records with a GSS-TSIG signed dynamic update under its machine account, as an instance's
sssd or `nsupdate -g` does (sssd's dyndns does not run in the namespace: it only updates once its
domain is online with a network-manager event). The leave removes the object and both records.
Tests in this module run in file order and share one joined client.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pytest

from adjoin.naming import computer_name
from adjoin.passwords import one_time_password
from tests.ad.conftest import DirectoryCall, run_driver, run_join_script, ssm_env
from tests.ad.harness import Namespace, SambaDomain

pytestmark = [pytest.mark.slow, pytest.mark.ad]

INSTANCE_ID = "i-0c0ffee0123456789"
OWNER = {"instance_id": INSTANCE_ID, "account_id": "111122223333", "region": "eu-west-1"}
STAMP = f"ad-join:v1 instance={INSTANCE_ID} account=111122223333 region=eu-west-1"
REVERSE_ZONE = "213.10.in-addr.arpa"
DNS_NODE_CLASS = "e0fa1e8c-9b45-11d0-afdd-00c04fd930c9"  # schemaIDGUID of dnsNode
# Delegation of "delete dnsNode children" on a zone to the join user (docs/real-ad.md), with
# Samba's own SDUtils over LDAP as Administrator (on the local sam.ldb, both it and `samba-tool
# dsacl set` crash on objects of the DNS partitions).
GRANT_SCRIPT = r"""
import json, sys
from samba.credentials import Credentials
from samba.param import LoadParm
from samba.samdb import SamDB
from samba.sd_utils import SDUtils

req = json.load(sys.stdin)
lp = LoadParm()
lp.load(req["smb_conf"])
creds = Credentials()
creds.guess(lp)
creds.set_username("Administrator")
creds.set_password(req["admin_password"])
db = SamDB(url="ldap://" + req["dc_ip"], credentials=creds, lp=lp)
sid = db.search(db.domain_dn(), expression="(sAMAccountName=%s)" % req["user"],
                attrs=["objectSid"])[0]["objectSid"][0]
from samba.ndr import ndr_unpack
from samba.dcerpc import security
sid = str(ndr_unpack(security.dom_sid, sid))
for zone in req["zones"]:
    SDUtils(db).dacl_add_ace(zone, "(OA;;DC;%s;;%s)" % (req["node_class"], sid))
"""


@dataclass
class DnsClient:
    name: str
    fqdn: str
    ip: str
    ns: Namespace


def dns_query(ad: SambaDomain, zone: str, node: str) -> str:
    """The node's records as the DC's DNS server reports them ("" when none)."""
    proc = ad.samba_tool(
        "dns", "query", ad.dc_ip, zone, node, "ALL", "-U",
        f"Administrator%{ad.admin_password}", check=False,
    )  # fmt: skip
    return proc.stdout if proc.returncode == 0 else ""


def wait_for(check: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.3)
    return False


@pytest.fixture(scope="module")
def dns_client(samba_domain: SambaDomain, directory: DirectoryCall) -> DnsClient:
    ad = samba_domain
    # a reverse zone for the clients' 10.213.<n>.0/24 networks (the provisioned domain has none)
    ad.samba_tool(
        "dns", "zonecreate", ad.dc_ip, REVERSE_ZONE, "-U", f"Administrator%{ad.admin_password}"
    )
    zones = [
        f"DC={zone},CN=MicrosoftDNS,DC=DomainDnsZones,{ad.base_dn}"
        for zone in (ad.domain, REVERSE_ZONE)
    ]
    request = {
        "smb_conf": str(ad.samba_dir / "etc" / "smb.conf"),
        "dc_ip": ad.dc_ip,
        "admin_password": ad.admin_password,
        "user": ad.join_user,
        "zones": zones,
        "node_class": DNS_NODE_CLASS,
    }
    ad.dc.run(["/usr/bin/python3", "-c", GRANT_SCRIPT], input=json.dumps(request))
    name = computer_name(INSTANCE_ID)
    otp = one_time_password()
    account = {
        "name": name, "domain": ad.domain, "ou": ad.computers_ou, "one_time_password": otp,
        "owner": OWNER,
    }  # fmt: skip
    assert directory("create", account=account) == {"ok": True, "result": None}
    ns = ad.add_client(name.lower())
    joined = run_join_script(ns, ssm_env(ad, name, otp))
    assert joined.returncode == 0, joined.stderr
    ip = ns.run(["sh", "-c", "ip -4 -o addr show scope global"]).stdout.split()[3].split("/")[0]
    fqdn = f"{name.lower()}.{ad.domain}"
    octets = ip.split(".")
    ptr_name = f"{octets[3]}.{octets[2]}.{REVERSE_ZONE}"
    ns.run(["kinit", "-k", f"{name}$"])  # the machine account's key, from the join's keytab
    for update in (
        f"server {ad.dc_ip}\nupdate add {fqdn} 900 A {ip}\nsend\n",
        f"server {ad.dc_ip}\nzone {REVERSE_ZONE}\nupdate add {ptr_name} 900 PTR {fqdn}\nsend\n",
    ):
        # Samba's internal DNS applies the signed update; nsupdate then fails to verify the
        # TSIG of the answer (exit 2, "tsig verify failure"): the records are checked below.
        ns.run(["nsupdate", "-g"], input=update, check=False, timeout=30)
    return DnsClient(name, fqdn, ip, ns)


def reverse_node(client: DnsClient) -> str:
    octets = client.ip.split(".")
    return f"{octets[3]}.{octets[2]}"


def test_precreated_object_carries_the_owner_stamp(
    samba_domain: SambaDomain, dns_client: DnsClient
) -> None:
    out = samba_domain.ldb("ldbsearch", f"(sAMAccountName={dns_client.name}$)", "description")
    assert f"description: {STAMP}" in out.stdout.replace("\n ", "")  # LDIF folds long lines


def test_stamped_computers_lists_the_stamped_object_only(
    samba_domain: SambaDomain, directory: DirectoryCall, dns_client: DnsClient
) -> None:
    ad = samba_domain
    unstamped = {
        "name": "EC2NOSTAMP1", "domain": ad.domain, "ou": ad.computers_ou,
        "one_time_password": one_time_password(),
    }  # fmt: skip
    assert directory("create", account=unstamped)["ok"]
    listed = directory("stamped", ou=ad.computers_ou)
    assert listed["ok"], listed
    mine = [c for c in listed["result"] if c["name"] == dns_client.name]
    assert mine and mine[0]["owner"] == OWNER
    assert mine[0]["dn"] == f"CN={dns_client.name},{ad.computers_ou}"
    assert mine[0]["created"][:2] == "20"  # whenCreated, ISO 8601
    assert "EC2NOSTAMP1" not in {c["name"] for c in listed["result"]}
    assert directory("stamped", ou=ad.other_ou) == {"ok": True, "result": []}


def test_the_join_registered_a_and_ptr_records(
    samba_domain: SambaDomain, dns_client: DnsClient
) -> None:
    ad = samba_domain
    assert wait_for(lambda: f"A: {dns_client.ip}" in dns_query(ad, ad.domain, dns_client.name))
    ptr = dns_query(ad, REVERSE_ZONE, reverse_node(dns_client))
    assert f"PTR: {dns_client.fqdn}" in ptr


def test_leave_removes_the_object_and_its_records(
    samba_domain: SambaDomain, directory: DirectoryCall, dns_client: DnsClient
) -> None:
    ad = samba_domain
    answer = directory("delete", name=dns_client.name, ou=ad.computers_ou, with_dns=True)
    assert answer == {"ok": True, "result": {"deleted": True, "dns_removed": 2}}
    assert not ad.computer_exists(dns_client.name)
    assert dns_query(ad, ad.domain, dns_client.name) == ""
    assert dns_query(ad, REVERSE_ZONE, reverse_node(dns_client)) == ""
    # the DC's own records are untouched
    assert f"A: {ad.dc_ip}" in dns_query(ad, ad.domain, ad.dc_hostname)


# ---- the reconciler against the real directory ----------------------------------------------
ORPHAN_ACCOUNT = "123456789012"  # the account of tests/ad/reconcile_driver.py (moto's default)


def reconcile(ad: SambaDomain, hub: Namespace, **request: object) -> dict[str, Any]:
    """One reconcile task of the Lambda's Reconciler in the hub namespace (reconcile_driver)."""
    body = {
        "servers": ad.dc_ip, "domain": ad.domain, "user": ad.join_principal,
        "password": ad.join_password, "ca_cert_pem": ad.ca_cert_pem, "ou": ad.computers_ou,
        **request,
    }  # fmt: skip
    report: dict[str, Any] = run_driver(hub, "tests.ad.reconcile_driver", body)
    return report


def orphan(directory: DirectoryCall, ad: SambaDomain, instance_id: str, stamp: bool = True) -> str:
    name = computer_name(instance_id)
    account = {
        "name": name, "domain": ad.domain, "ou": ad.computers_ou,
        "one_time_password": one_time_password(),
    }  # fmt: skip
    if stamp:
        account["owner"] = {
            "instance_id": instance_id, "account_id": ORPHAN_ACCOUNT, "region": "us-east-1",
        }  # fmt: skip
    assert directory("create", account=account) == {"ok": True, "result": None}
    return name


def test_reconciler_removes_an_orphan_and_its_records_and_leaves_an_unstamped_twin(
    samba_domain: SambaDomain, directory: DirectoryCall, dns_client: DnsClient
) -> None:
    ad = samba_domain
    admin = ["-U", f"Administrator%{ad.admin_password}"]
    # GIVEN an object stamped for an instance that terminated while no event was delivered, with
    # the A and PTR records it had registered, and an unstamped object with a name of our form
    gone = orphan(directory, ad, "i-0aaaaaaaaaaaaaaa1")
    twin = orphan(directory, ad, "i-0bbbbbbbbbbbbbbb2", stamp=False)
    ad.samba_tool("dns", "add", ad.dc_ip, ad.domain, gone.lower(), "A", "10.213.9.9", *admin)
    ad.samba_tool("dns", "add", ad.dc_ip, REVERSE_ZONE, "9.9", "PTR",
                  f"{gone.lower()}.{ad.domain}", *admin)  # fmt: skip
    assert "A: 10.213.9.9" in dns_query(ad, ad.domain, gone)
    # WHEN a reconcile task runs for the account (no instance exists there)
    report = reconcile(ad, directory.hub)
    # THEN the orphan and both records are gone, the unstamped object stays
    assert report["skipped"] == "" and report["directoryRead"] is True
    removed = [s for s in report["plan"]["steps"] if s["kind"] == "remove_object"]
    assert [s["computerName"] for s in removed] == [gone]
    assert report["objectsRemoved"] == 1
    assert not ad.computer_exists(gone)
    assert dns_query(ad, ad.domain, gone) == ""
    assert dns_query(ad, REVERSE_ZONE, "9.9") == ""
    assert ad.computer_exists(twin)


def test_reconciler_dry_run_and_the_deletion_cap_delete_nothing(
    samba_domain: SambaDomain, directory: DirectoryCall, dns_client: DnsClient
) -> None:
    ad = samba_domain
    names = [orphan(directory, ad, f"i-0ccccccccccccccc{n}") for n in range(3)]
    dry = reconcile(ad, directory.hub, dry_run=True)
    assert len([s for s in dry["plan"]["steps"] if s["kind"] == "remove_object"]) == 3
    assert all(ad.computer_exists(n) for n in names)
    capped = reconcile(ad, directory.hub, max_deletions=2)
    assert capped["capped"] == 3 and capped["objectsRemoved"] == 0
    assert all(ad.computer_exists(n) for n in names)
    done = reconcile(ad, directory.hub, max_deletions=3)
    assert done["objectsRemoved"] == 3
    assert not any(ad.computer_exists(n) for n in names)

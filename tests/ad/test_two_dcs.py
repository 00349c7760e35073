"""Two domain controllers: a second Samba DC joined to the domain in its own namespaces, its
replication, and the join pinned to the controller that holds the pre-created account.

With outbound replication paused on both DCs (`samba-tool drs options
--dsa-option=+DISABLE_OUTBOUND_REPL`; Samba honours it in DsGetNCChanges, its DRS tests use it:
source4/torture/drs/python/drs_base.py), the account exists on one DC only. The ldap adapter
reports which one, the join document takes it (`domainController`), and the join succeeds
there; pinned to the other DC, where an unpinned join may as well land, it fails (exit 5).
Once replication resumes, the other DC has the joined computer. Tests run in file order.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from adjoin.passwords import one_time_password
from tests.ad.conftest import DirectoryCall, run_join_script, ssm_env
from tests.ad.harness import ExtraDc, Namespace, SambaDomain

pytestmark = [pytest.mark.slow, pytest.mark.ad]

NAME = "EC2TWODC1"


@dataclass
class TwoDcs:
    ad: SambaDomain
    dc2: ExtraDc
    client: Namespace
    seconds: float

    def holds(self, fqdn: str, name: str) -> bool:
        """Does the DC named FQDN hold the computer NAME (its own database)?"""
        query = (f"(sAMAccountName={name}$)", "dn", "-b", self.ad.base_dn)
        if fqdn == self.dc2.fqdn:
            return "dn: " in self.dc2.ldb("ldbsearch", *query).stdout
        return self.ad.computer_exists(name)

    def replicate(self, to: str, source: str, *, check: bool = True) -> bool:
        done = self.ad.drs("replicate", to, source, self.ad.base_dn, check=check)
        return done.returncode == 0

    def outbound(self, enabled: bool) -> None:
        for fqdn in (self.ad.dc_fqdn, self.dc2.fqdn):
            sign = "-" if enabled else "+"
            self.ad.drs("options", fqdn, f"--dsa-option={sign}DISABLE_OUTBOUND_REPL")


@pytest.fixture(scope="module")
def two(samba_domain: SambaDomain) -> Iterator[TwoDcs]:
    started = time.monotonic()
    dc2 = samba_domain.add_dc("dc2")
    client = samba_domain.add_client("twodc0")
    two = TwoDcs(samba_domain, dc2, client, time.monotonic() - started)
    yield two
    two.outbound(True)


def test_the_second_dc_replicates_from_the_first(two: TwoDcs, directory: DirectoryCall) -> None:
    ad = two.ad
    created = directory(
        "create",
        servers=ad.dc_fqdn,
        account={
            "name": "EC2REPL1",
            "domain": ad.domain,
            "ou": ad.computers_ou,
            "one_time_password": one_time_password(),
        },
    )
    assert created["ok"], created
    assert two.replicate(two.dc2.fqdn, ad.dc_fqdn)
    assert two.holds(two.dc2.fqdn, "EC2REPL1")


@pytest.fixture(scope="module")
def precreated(two: TwoDcs, directory: DirectoryCall) -> tuple[str, str, str]:
    """Outbound replication paused everywhere, the account pre-created by the adapter on the
    controller it finds in DNS: (that controller, the other one, the one-time password)."""
    ad = two.ad
    two.outbound(False)
    otp = one_time_password()
    answer = directory(
        "create",
        servers="",
        dns_servers=[ad.dc_ip],
        with_controller=True,
        account={
            "name": NAME,
            "domain": ad.domain,
            "ou": ad.computers_ou,
            "one_time_password": otp,
        },
    )
    assert answer["ok"], answer
    controller = answer["result"]["controller"]
    other = two.dc2.fqdn if controller == ad.dc_fqdn else ad.dc_fqdn
    return controller, other, otp


def test_the_account_is_on_the_reported_dc_only(
    two: TwoDcs, precreated: tuple[str, str, str]
) -> None:
    controller, other, _ = precreated
    assert controller in (two.ad.dc_fqdn, two.dc2.fqdn)
    assert two.holds(controller, NAME)
    assert not two.replicate(other, controller, check=False)  # paused: the sync is refused
    assert not two.holds(other, NAME)


def test_a_join_on_the_other_dc_fails_and_the_pinned_join_succeeds(
    two: TwoDcs, precreated: tuple[str, str, str]
) -> None:
    controller, other, otp = precreated
    ad = two.ad
    env = ssm_env(ad, NAME, otp, SSM_dnsIP1=ad.dc_ip)
    # WHEN the join goes to the controller that does not have the account yet (where an
    # unpinned join lands when the client's locator picks it)
    elsewhere = run_join_script(two.client, {**env, "SSM_domainController": other})
    # THEN it fails as a join without an account does, and changes nothing in the domain
    assert elsewhere.returncode == 5, elsewhere.stderr
    assert f"no pre-created account on {other}" in elsewhere.stderr
    # WHEN the join document names the controller the adapter reported
    pinned = run_join_script(two.client, {**env, "SSM_domainController": controller})
    # THEN the join succeeds there, before any replication
    assert pinned.returncode == 0, pinned.stderr
    assert f"joined {ad.domain} as {NAME}" in pinned.stderr
    check = two.client.run(
        ["adcli", "testjoin", f"--domain={ad.domain}", f"--domain-controller={controller}"],
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert not two.holds(other, NAME)


def test_once_replication_resumes_the_other_dc_has_the_joined_computer(
    two: TwoDcs, precreated: tuple[str, str, str]
) -> None:
    controller, other, _ = precreated
    two.outbound(True)
    assert two.replicate(other, controller)
    assert two.holds(other, NAME)
    # the machine password the join set replicated too: the keytab authenticates there
    check = two.client.run(
        ["adcli", "testjoin", f"--domain={two.ad.domain}", f"--domain-controller={other}"],
        check=False,
    )
    assert check.returncode == 0, check.stderr

"""The seed's config item, exactly as its blog wrote it (seven attributes, a bare join user
name, the DNS servers' IP addresses), written with a plain PutItem, joins a real DC through the
whole Lambda engine: the ldap adapter binds the bare name as name@dnsName, finds the DC by name
in the DNS at dnsIP1/dnsIP2, verifies its certificate against that name, pre-creates the
account there and sends the join document pinned to it; the join script then joins with it.

The DC's CA is in the hub's system trust store here (as an enterprise CA would be), so the item
needs no ldapCaCertParam. And an adComputerOU tag: below computerOU it places the computer
there; outside, it is rejected before anything reaches the directory.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.ad.conftest import run_driver, run_join_script
from tests.ad.harness import Namespace, SambaDomain

pytestmark = [pytest.mark.slow, pytest.mark.ad]

ACCOUNT = "111111111111"


SEED_USER = "ADJoinUser"  # the seed's bare join user name
SEED_PASSWORD = "Seed-Join-Pw-93x"


@pytest.fixture(scope="module")
def seed_hub(samba_domain: SambaDomain) -> Namespace:
    """The seed's join user, delegated on CN=Computers (its item has no computerOU) and on the
    computers OU; a hub namespace whose system store trusts the DC's CA and whose resolver
    knows nothing of the domain (as a Lambda's VPC resolver)."""
    ad = samba_domain
    ad.add_join_user(SEED_USER, SEED_PASSWORD, f"CN=Computers,{ad.base_dn}", ad.computers_ou)
    ns = samba_domain.add_client("seedhub")
    ns.run(["sh", "-c", 'cat "$1" >> /etc/ssl/certs/ca-certificates.crt', "sh",
            str(samba_domain.samba_dir / "tls" / "ca.pem")])  # fmt: skip
    return ns


def seed_item(ad: SambaDomain, **extra: str) -> dict[str, Any]:
    item = {
        "accountId": ACCOUNT,
        "adJoinUserName": SEED_USER,  # bare, as the seed's blog has it
        "adJoinUserPwParam": "ADJoinUserPW",
        "dnsName": ad.domain,
        "dnsIP1": ad.dc_ip,
        "dnsIP2": ad.dc_ip,  # the seed's one-DC domains repeated it
        "assumeRoleARN": f"arn:aws:iam::{ACCOUNT}:role/ad-join-spoke",
        **extra,
    }
    return {key: {"S": value} for key, value in item.items()}


def run_engine(
    hub: Namespace, item: dict[str, Any], tags: list[dict[str, str]] | None = None
) -> list[dict[str, Any]]:
    """Per instance (one per tag set): its join commands, DLQ message and state item."""
    request = {
        "item": item,
        "join_password": SEED_PASSWORD,
        "tags": tags,
        "env": {"DIRECTORY_ADAPTER": "ldap", "LEAVE_ADAPTER": "ldap"},
    }
    answer = run_driver(hub, "tests.ad.engine_driver", request)
    assert answer["failures"] == [], answer
    instances: list[dict[str, Any]] = answer["instances"]
    return instances


def parameters(command: dict[str, Any]) -> dict[str, str]:
    return {key: values[0] for key, values in command["Parameters"].items()}


def test_the_seeds_item_joins_the_real_dc(samba_domain: SambaDomain, seed_hub: Namespace) -> None:
    ad = samba_domain
    # WHEN the engine processes a running event of an account with the seed's item
    [answer] = run_engine(seed_hub, seed_item(ad))
    # THEN it sent one join document, pinned to the DC it found by name, with no OU
    assert answer["dlq"] is None, answer
    [command] = answer["commands"]
    params = parameters(command)
    assert params["domainController"] == ad.dc_fqdn
    assert (params["dnsIP1"], params["dnsIP2"], params["computerOU"]) == (ad.dc_ip, ad.dc_ip, "")
    name = params["computerName"]
    assert ad.computer_dn(name) == f"CN={name},CN=Computers,{ad.base_dn}"
    # AND the join script joins with exactly those parameters
    client = ad.add_client("seed0")
    joined = run_join_script(client, {f"SSM_{k}": v for k, v in params.items()})
    assert joined.returncode == 0, joined.stderr
    assert f"joined {ad.domain} as {name}" in joined.stderr


def test_an_ou_tag_places_the_computer_inside_the_allowed_subtree_only(
    samba_domain: SambaDomain, seed_hub: Namespace
) -> None:
    ad = samba_domain
    item = seed_item(ad, computerOU=ad.computers_ou)
    # WHEN two instances are tagged: one below computerOU, one outside it
    inside, outside = run_engine(
        seed_hub, item, tags=[{"adComputerOU": ad.web_ou}, {"adComputerOU": ad.other_ou}]
    )
    # THEN the first one's computer is in the tagged OU, as its join document and state say
    [command] = inside["commands"]
    params = parameters(command)
    assert params["computerOU"] == ad.web_ou
    assert ad.computer_dn(params["computerName"]) == f"CN={params['computerName']},{ad.web_ou}"
    assert inside["state"]["computerOU"] == ad.web_ou
    # AND the second one is rejected with the reason, before anything reaches the DC
    assert outside["commands"] == []
    assert outside["dlq"]["reason"] == "invalid_tag"
    assert "outside the allowed OUs" in outside["dlq"]["detail"]
    assert ad.computers_ou in outside["dlq"]["detail"]
    assert outside["state"]["status"] == "failed"
    out = ad.ldb("ldbsearch", "-b", ad.other_ou, "(objectClass=computer)", "dn").stdout
    assert "dn: CN=EC2" not in out  # not even refused by the DC: never asked

"""Each directory failure an operator meets, on the real Samba DC, with its own reason and a
message that says what to fix (docs/real-ad.md, "The ldap adapter"); and the controllers found
by name in the domain's DNS.

The refused accounts (disabled, expired, must change password, locked by their own password
settings object) are made by the harness's population step.
"""

from __future__ import annotations

import pytest

from adjoin.passwords import one_time_password
from tests.ad.conftest import DirectoryCall
from tests.ad.harness import SambaDomain

pytestmark = [pytest.mark.slow, pytest.mark.ad]


def account(ad: SambaDomain, name: str, ou: str | None) -> dict[str, object]:
    return {"name": name, "domain": ad.domain, "ou": ou, "one_time_password": one_time_password()}


def refused(directory: DirectoryCall, **request: object) -> dict[str, object]:
    ad = directory.ad
    answer = directory("create", account=account(ad, "EC2ERR1", ad.computers_ou), **request)
    assert answer["ok"] is False, answer
    assert not ad.computer_exists("EC2ERR1")
    return answer


def test_a_bare_user_name_binds_as_a_user_principal_name(
    samba_domain: SambaDomain, directory: DirectoryCall
) -> None:
    # the seed's form: a bare name; AD's simple bind refuses it as given (data 52e)
    ad = samba_domain
    answer = directory(
        "create", user=ad.join_user, account=account(ad, "EC2BARE1", ad.computers_ou)
    )
    assert answer == {"ok": True, "result": None}
    assert ad.computer_exists("EC2BARE1")


def test_an_unknown_user_is_named_as_such(directory: DirectoryCall) -> None:
    answer = refused(directory, user="nobody-here")
    assert answer["reason"] == "directory_auth_user"
    assert "has no user 'nobody-here@ad.example.test'" in str(answer["message"])
    assert "check adJoinUserName" in str(answer["message"])


def test_a_wrong_password_is_named_as_such(directory: DirectoryCall) -> None:
    answer = refused(directory, password="Not-The-Password-1")
    assert answer["reason"] == "directory_auth_password"
    assert "wrong password (AD bind data 52e)" in str(answer["message"])
    assert "adJoinUserPwParam" in str(answer["message"])
    assert "Not-The-Password-1" not in str(answer["message"])


@pytest.mark.parametrize(
    ("kind", "code", "says"),
    [
        ("disabled", "533", "the account is disabled"),
        ("expired", "701", "the account has expired"),
        ("must_change", "773", "the password must be changed before first use"),
    ],
)
def test_an_account_that_cannot_log_on_says_why(
    samba_domain: SambaDomain, directory: DirectoryCall, kind: str, code: str, says: str
) -> None:
    ad = samba_domain
    answer = refused(directory, user=ad.bad_users[kind], password=ad.user_password)
    assert answer["reason"] == "directory_auth_account"
    assert f"{says} (AD bind data {code})" in str(answer["message"])


def test_a_locked_account_says_it_is_locked(
    samba_domain: SambaDomain, directory: DirectoryCall
) -> None:
    ad = samba_domain
    user = ad.bad_users["locked"]
    for _ in range(2):  # its password settings object locks it after two bad passwords
        assert refused(directory, user=user, password="Bad-Password-1")["reason"] == (
            "directory_auth_password"
        )
    answer = refused(directory, user=user, password=ad.user_password)  # the right one
    assert answer["reason"] == "directory_auth_account"
    assert "the account is locked out (AD bind data 775)" in str(answer["message"])
    assert "unlock the join user" in str(answer["message"])


def test_missing_rights_in_the_ou_are_named(
    samba_domain: SambaDomain, directory: DirectoryCall
) -> None:
    ad = samba_domain
    answer = directory("create", account=account(ad, "EC2ACL1", ad.other_ou))
    assert answer["ok"] is False and answer["reason"] == "directory_access"
    assert f"lacks the right to create, change or delete computer objects in {ad.other_ou}" in str(
        answer["message"]
    )
    assert not ad.computer_exists("EC2ACL1")


def test_a_missing_ou_is_named(samba_domain: SambaDomain, directory: DirectoryCall) -> None:
    ad = samba_domain
    missing = f"OU=Missing,{ad.computers_ou}"
    answer = directory("create", account=account(ad, "EC2NOOU1", missing))
    assert answer["ok"] is False and answer["reason"] == "directory_ou_missing"
    assert f"the OU {missing} does not exist" in str(answer["message"])


def test_an_unreachable_dc_is_transient_and_says_what_to_check(directory: DirectoryCall) -> None:
    answer = directory("delete", name="EC2X1", servers="10.213.0.1", port=6360, timeout=2.0)
    assert answer["error"] == "DirectoryUnavailable"
    assert "security group" in str(answer["message"])


# ---- controllers by name, from DNS ------------------------------------------------------------


def test_the_dc_is_found_in_dns_and_verified_by_name(
    samba_domain: SambaDomain, directory: DirectoryCall
) -> None:
    # GIVEN no ldapServers: only the DNS server (dnsIP1), as the seed's item has it
    ad = samba_domain
    answer = directory(
        "create",
        servers="",
        dns_servers=[ad.dc_ip],
        with_controller=True,
        account=account(ad, "EC2DNS1", ad.computers_ou),
    )
    # THEN the SRV record named the DC, its certificate matched that name, and the adapter
    # reports it for the join
    assert answer == {"ok": True, "result": {"controller": ad.dc_fqdn}}
    assert ad.computer_dn("EC2DNS1") == f"CN=EC2DNS1,{ad.computers_ou}"


def test_a_domain_the_dns_servers_do_not_know_says_so(
    samba_domain: SambaDomain, directory: DirectoryCall
) -> None:
    answer = directory(
        "delete",
        name="EC2X1",
        servers="",
        dns_servers=[samba_domain.dc_ip],
        domain="other.example.test",
        timeout=3.0,
    )
    assert answer["ok"] is False
    assert "_ldap._tcp.dc._msdcs.other.example.test" in str(answer["message"])


def test_dns_servers_that_do_not_answer_are_transient(directory: DirectoryCall) -> None:
    answer = directory("delete", name="EC2X1", servers="", dns_servers=["127.0.0.1"], timeout=2.0)
    assert answer["error"] == "DirectoryUnavailable"
    assert "did not answer" in str(answer["message"])

"""The ldap adapter (the code the Lambda runs) against a real Samba AD DC, as the delegated
join user: least privilege, idempotent pre-creation, tree delete, TLS and error mapping."""

from __future__ import annotations

import pytest

from adjoin.passwords import one_time_password
from tests.ad.conftest import DirectoryCall
from tests.ad.harness import Namespace, SambaDomain

pytestmark = [pytest.mark.slow, pytest.mark.ad]


def account(ad: SambaDomain, name: str, ou: str | None, otp: str) -> dict[str, object]:
    return {"name": name, "domain": ad.domain, "ou": ou, "one_time_password": otp}


def kinit_ok(hub: Namespace, ad: SambaDomain, name: str, password: str) -> bool:
    proc = hub.run(
        ["kinit", "-c", "MEMORY:t", f"{name}$@{ad.realm}"], input=password + "\n", check=False
    )
    return proc.returncode == 0


def test_precreate_sets_the_one_time_password(
    samba_domain: SambaDomain, directory: DirectoryCall
) -> None:
    ad, otp = samba_domain, one_time_password()
    assert directory("create", account=account(ad, "EC2PRE1", ad.computers_ou, otp))["ok"]
    assert ad.computer_dn("EC2PRE1") == f"CN=EC2PRE1,{ad.computers_ou}"
    assert kinit_ok(directory.hub, ad, "EC2PRE1", otp)
    assert not kinit_ok(directory.hub, ad, "EC2PRE1", otp + "x")


def test_precreate_again_resets_the_password(
    samba_domain: SambaDomain, directory: DirectoryCall
) -> None:
    ad, first, second = samba_domain, one_time_password(), one_time_password()
    assert directory("create", account=account(ad, "EC2PRE2", ad.computers_ou, first))["ok"]
    again = directory("create", account=account(ad, "EC2PRE2", ad.computers_ou, second))
    assert again == {"ok": True, "result": None}
    assert kinit_ok(directory.hub, ad, "EC2PRE2", second)
    assert not kinit_ok(directory.hub, ad, "EC2PRE2", first)


def test_starttls_works_too(samba_domain: SambaDomain, directory: DirectoryCall) -> None:
    ad, otp = samba_domain, one_time_password()
    answer = directory(
        "create", security="starttls", account=account(ad, "EC2TLS1", ad.computers_ou, otp)
    )
    assert answer == {"ok": True, "result": None}
    assert ad.computer_exists("EC2TLS1")


def test_netbios_style_user_name_binds(samba_domain: SambaDomain, directory: DirectoryCall) -> None:
    ad = samba_domain
    answer = directory(
        "create",
        user=f"{ad.netbios_domain}\\{ad.join_user}",
        account=account(ad, "EC2NB1", ad.computers_ou, one_time_password()),
    )
    assert answer == {"ok": True, "result": None}


@pytest.mark.parametrize("where", ["other", "default"])
def test_join_user_cannot_create_outside_its_ou(
    samba_domain: SambaDomain, directory: DirectoryCall, where: str
) -> None:
    ad = samba_domain
    ou = ad.other_ou if where == "other" else None  # None: CN=Computers
    answer = directory("create", account=account(ad, f"EC2OUT{where[0].upper()}", ou, "Pw-1" * 5))
    assert answer["ok"] is False
    assert answer["error"] == "DirectoryError"
    assert "insufficientAccessRights" in answer["message"]
    assert not ad.computer_exists(f"EC2OUT{where[0].upper()}")


def test_tree_delete_removes_children(samba_domain: SambaDomain, directory: DirectoryCall) -> None:
    ad = samba_domain
    assert directory("create", account=account(ad, "EC2TREE1", ad.computers_ou, "Pw-1" * 5))["ok"]
    parent = ad.computer_dn("EC2TREE1")
    child = f"CN=child-scp,{parent}"
    ldif = f"dn: {child}\nobjectClass: serviceConnectionPoint\n"
    ad.dc.run(["ldbadd", "-H", str(ad.samba_dir / "private" / "sam.ldb")], input=ldif)
    assert "dn: " in ad.ldb("ldbsearch", "-b", child, "-s", "base", "dn").stdout
    assert directory("delete", name="EC2TREE1", ou=ad.computers_ou) == {"ok": True, "result": True}
    assert not ad.computer_exists("EC2TREE1")
    gone = ad.ldb("ldbsearch", "-b", child, "-s", "base", "dn", check=False)
    assert "dn: " not in gone.stdout


def test_delete_of_missing_computer_returns_false(directory: DirectoryCall) -> None:
    assert directory("delete", name="EC2NEVER1") == {"ok": True, "result": False}


def test_join_user_cannot_delete_outside_its_ou(
    samba_domain: SambaDomain, directory: DirectoryCall
) -> None:
    ad = samba_domain
    ad.samba_tool("computer", "create", "SRVKEEP1", f"--computerou={ad.other_ou}")
    answer = directory("delete", name="SRVKEEP1")
    assert answer["ok"] is False and answer["error"] == "DirectoryError"
    assert ad.computer_exists("SRVKEEP1")


def test_sixteen_character_name_is_refused_not_truncated(
    samba_domain: SambaDomain, directory: DirectoryCall
) -> None:
    ad = samba_domain
    answer = directory(
        "create", account=account(ad, "EC2456789ABCDEF0", ad.computers_ou, "Pw-1" * 5)
    )
    assert answer["ok"] is False
    assert answer["reason"] == "invalid_computer_name"
    assert not ad.computer_exists("EC2456789ABCDEF")  # no truncated account either
    assert not ad.computer_exists("EC2456789ABCDEF0")


def test_wrong_join_password_is_a_directory_error_without_the_password(
    directory: DirectoryCall,
) -> None:
    answer = directory("delete", name="EC2X1", password="Wrong-Secret-42")
    assert answer["ok"] is False
    assert answer["reason"] == "directory_auth_password"
    assert "Wrong-Secret-42" not in answer["message"]


def test_untrusted_certificate_is_refused(directory: DirectoryCall) -> None:
    other_ca = directory.ad.run_in_dc(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "/dev/null",
            "-days",
            "1",
            "-subj",
            "/CN=other",
            "-out",
            "-",
        ]
    ).stdout
    answer = directory("delete", name="EC2X1", ca_cert_pem=other_ca)
    assert answer["ok"] is False
    assert answer["reason"] == "directory_tls_untrusted"
    assert "ldapCaCertParam" in answer["message"]


def test_certificate_name_mismatch_is_refused(directory: DirectoryCall) -> None:
    # The hub resolves this name to the DC, but the DC's certificate does not carry it.
    answer = directory("delete", name="EC2X1", servers="not-the-dc.example.test")
    assert answer["ok"] is False
    assert answer["reason"] == "directory_tls_name"
    assert "does not carry the name not-the-dc.example.test" in answer["message"]


def test_dc_name_from_dns_verifies(samba_domain: SambaDomain, directory: DirectoryCall) -> None:
    answer = directory("delete", name="EC2X1", servers=samba_domain.dc_fqdn)
    assert answer == {"ok": True, "result": False}


def test_next_server_is_used_when_the_first_is_down(
    samba_domain: SambaDomain, directory: DirectoryCall
) -> None:
    servers = f"127.0.0.1,{samba_domain.dc_ip}"  # nothing listens on the first
    assert directory("delete", name="EC2X1", servers=servers) == {"ok": True, "result": False}


def test_unreachable_directory_is_transient(directory: DirectoryCall) -> None:
    answer = directory("delete", name="EC2X1", servers="127.0.0.1", timeout=2.0)
    assert answer["ok"] is False
    assert answer["error"] == "DirectoryUnavailable"
    assert answer["reason"] == "directory_unavailable"

"""The whole Linux path against a real Samba AD DC.

The hub's ldap adapter pre-creates the computer account with a one-time password; the join script
runs in the client namespace as SSM Run Command runs it (root, `bash scripts/linux/join.sh`, the
SSM_* variables of docs/contracts.md) and joins with that password; sssd then lets the member of
adGroupName log in and refuses the non-member; the adapter removes the object on termination.
Tests in this module share one joined client and run in file order (removal last).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from adjoin.naming import computer_name
from adjoin.passwords import one_time_password
from tests.ad.conftest import DirectoryCall, run_join_script, ssm_env
from tests.ad.harness import SambaDomain

pytestmark = [pytest.mark.slow, pytest.mark.ad]

INSTANCE_ID = "i-0123456789abcdef0"


@dataclass
class Joined:
    name: str
    otp: str
    env: dict[str, str]
    first: Any


def file_digest(ad: SambaDomain, path: str) -> str:
    return ad.run_in_client(["sh", "-c", f'stat -c "%Y %a" {path} && sha256sum {path}']).stdout


@pytest.fixture(scope="module")
def joined(samba_domain: SambaDomain, directory: DirectoryCall) -> Joined:
    ad = samba_domain
    name = computer_name(INSTANCE_ID)
    otp = one_time_password()
    created = directory(
        "create",
        account={
            "name": name,
            "domain": ad.domain,
            "ou": ad.computers_ou,
            "one_time_password": otp,
        },
    )
    assert created == {"ok": True, "result": None}
    env = ssm_env(ad, name, otp)
    return Joined(name, otp, env, run_join_script(ad.client, env))


def test_precreated_account_is_in_the_ou_with_workstation_flags(
    samba_domain: SambaDomain, joined: Joined
) -> None:
    ad = samba_domain
    out = ad.ldb(
        "ldbsearch", f"(sAMAccountName={joined.name}$)", "userAccountControl", "dNSHostName"
    ).stdout
    assert f"dn: CN={joined.name},{ad.computers_ou}" in out
    # 4096 = WORKSTATION_TRUST_ACCOUNT, enabled: adcli keeps it after the join
    assert "userAccountControl: 4096" in out
    assert f"dNSHostName: {joined.name.lower()}.{ad.domain}" in out


def test_join_script_joins_with_the_one_time_password(
    samba_domain: SambaDomain, joined: Joined
) -> None:
    assert joined.first.returncode == 0, joined.first.stderr
    assert f"joined {samba_domain.domain} as {joined.name}" in joined.first.stderr
    assert samba_domain.run_in_client(["hostname"]).stdout.strip() == joined.name.lower()


def test_the_one_time_password_is_never_printed(joined: Joined) -> None:
    assert joined.otp not in joined.first.stdout + joined.first.stderr
    # adcli here takes it on stdin: it never was on a command line (visible in ps)
    assert "as an argument" not in joined.first.stderr


def test_daemons_started_by_the_script_do_not_inherit_the_password(
    samba_domain: SambaDomain, joined: Joined
) -> None:
    ad = samba_domain
    pid = ad.run_in_client(["cat", "/run/sssd.pid"]).stdout.strip()
    environ = ad.run_in_client(["cat", f"/proc/{pid}/environ"]).stdout
    assert "SSM_computerName" in environ  # it is the environment the script passed on ...
    assert "SSM_oneTimePassword" not in environ  # ... minus the password
    assert joined.otp not in environ


def test_the_one_time_password_no_longer_works_after_the_join(
    samba_domain: SambaDomain, joined: Joined
) -> None:
    ad = samba_domain
    proc = ad.run_in_client(
        ["kinit", "-c", "MEMORY:otp", f"{joined.name}$@{ad.realm}"],
        input=joined.otp + "\n",
        check=False,
    )
    assert proc.returncode != 0  # adcli rotated the machine password


def test_machine_keytab_authenticates(samba_domain: SambaDomain, joined: Joined) -> None:
    ad = samba_domain
    proc = ad.run_in_client(["kinit", "-k", "-c", "MEMORY:k", f"{joined.name}$@{ad.realm}"])
    assert proc.returncode == 0
    assert ad.run_in_client(["adcli", "testjoin", f"--domain={ad.domain}"]).returncode == 0


def test_sssd_resolves_domain_users_and_the_login_group(
    samba_domain: SambaDomain, joined: Joined
) -> None:
    ad = samba_domain
    member = ad.run_in_client(["id", f"{ad.member_user}@{ad.domain}"], check=False)
    assert member.returncode == 0, member.stderr
    assert f"{ad.group_name.lower()}@{ad.domain}" in member.stdout.lower()
    non_member = ad.run_in_client(["id", f"{ad.non_member_user}@{ad.domain}"], check=False)
    assert non_member.returncode == 0
    assert ad.group_name.lower() not in non_member.stdout.lower()


def _pam_login(ad: SambaDomain, user: str, password: str) -> Any:
    return ad.run_in_client(
        ["pamtester", "login", f"{user}@{ad.domain}", "authenticate", "acct_mgmt"],
        input=password + "\n",
        check=False,
    )


def test_member_of_ad_group_can_log_in(samba_domain: SambaDomain, joined: Joined) -> None:
    proc = _pam_login(samba_domain, samba_domain.member_user, samba_domain.user_password)
    assert proc.returncode == 0, proc.stderr
    assert "account management done" in proc.stdout


def test_non_member_is_refused(samba_domain: SambaDomain, joined: Joined) -> None:
    proc = _pam_login(samba_domain, samba_domain.non_member_user, samba_domain.user_password)
    assert proc.returncode != 0
    assert "Permission denied" in proc.stderr + proc.stdout


def test_wrong_user_password_is_refused(samba_domain: SambaDomain, joined: Joined) -> None:
    proc = _pam_login(samba_domain, samba_domain.member_user, "not-the-password-1A")
    assert proc.returncode != 0


def test_sssd_conf_is_private_and_restricts_to_the_group(
    samba_domain: SambaDomain, joined: Joined
) -> None:
    ad = samba_domain
    mode = ad.run_in_client(["stat", "-c", "%a %U", "/etc/sssd/sssd.conf"]).stdout.split()
    assert mode == ["600", "root"]
    conf = ad.run_in_client(["cat", "/etc/sssd/sssd.conf"]).stdout
    assert "access_provider = simple" in conf
    assert f"simple_allow_groups = {ad.group_name}" in conf


def test_second_run_is_a_no_op(samba_domain: SambaDomain, joined: Joined) -> None:
    ad = samba_domain
    watched = ["/etc/krb5.keytab", "/etc/sssd/sssd.conf", "/etc/krb5.conf", "/etc/hosts"]
    before = {p: file_digest(ad, p) for p in watched}
    sssd_before = ad.run_in_client(["cat", "/run/sssd.pid"]).stdout
    again = run_join_script(ad.client, joined.env)
    assert again.returncode == 0, again.stderr
    assert "already joined" in again.stderr
    assert {p: file_digest(ad, p) for p in watched} == before
    assert ad.run_in_client(["cat", "/run/sssd.pid"]).stdout == sssd_before  # not restarted
    assert _pam_login(ad, ad.member_user, ad.user_password).returncode == 0


def test_removal_deletes_the_joined_computer(
    samba_domain: SambaDomain, directory: DirectoryCall, joined: Joined
) -> None:
    ad = samba_domain
    assert ad.computer_exists(joined.name)
    first = directory("delete", name=joined.name, ou=ad.computers_ou)
    assert first == {"ok": True, "result": True}
    assert not ad.computer_exists(joined.name)
    second = directory("delete", name=joined.name, ou=ad.computers_ou)
    assert second == {"ok": True, "result": False}  # already gone is not an error
    gone = ad.run_in_client(["adcli", "testjoin", f"--domain={ad.domain}"], check=False)
    assert gone.returncode != 0  # the machine account no longer exists

"""The whole Linux path against a real Samba AD DC, on Debian 12 and on Debian 13.

The hub's ldap adapter pre-creates the computer account with a one-time password; the join script
runs in a client namespace as SSM Run Command runs it (root, `bash scripts/linux/join.sh`, the
SSM_* variables of docs/contracts.md) and joins with that password; sssd then lets the member of
adGroupName log in and refuses the non-member; the member of adSudoGroupName gets sudo, the
member of only adGroupName does not; the adapter removes the object on termination.

Every test runs once per release: Debian 12 is the host's own tree (client0), Debian 13 a client
namespace rooted in a debootstrap tree (tests/ad/debian_tree.py). Tests of one release share one
joined client and run in file order (removal last).
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from typing import Any

import pytest

from adjoin.naming import computer_name
from adjoin.passwords import one_time_password
from tests.ad.conftest import DirectoryCall, run_join_script, ssm_env, start_join_script
from tests.ad.harness import Namespace, SambaDomain

pytestmark = [pytest.mark.slow, pytest.mark.ad]

INSTANCE_IDS = {"debian-12": "i-0123456789abcdef0", "debian-13": "i-0fedcba9876543210"}
RELEASES = {"debian-12": "12", "debian-13": "13"}

# cloud-init status --wait, as a stub: "running" while /run/cloud-init-running exists, then done
CLOUD_INIT_STUB = """#!/bin/sh
echo "$*" >> /run/cloud-init-calls
while [ -e /run/cloud-init-running ]; do sleep 0.1; done
exit 0
"""


@dataclass
class Joined:
    release: str
    client: Namespace
    name: str
    otp: str
    env: dict[str, str]
    first: Any
    waited: bool  # the script was still waiting when cloud-init still ran


@pytest.fixture(scope="module", params=sorted(INSTANCE_IDS))
def client(request: pytest.FixtureRequest, samba_domain: SambaDomain) -> Namespace:
    if request.param == "debian-12":
        return samba_domain.client
    ns: Namespace = request.getfixturevalue("debian13_client")
    return ns


def file_digest(client: Namespace, path: str) -> str:
    return client.run(["sh", "-c", f'stat -c "%Y %a" {path} && sha256sum {path}']).stdout


def install_cloud_init_stub(client: Namespace) -> None:
    # a private /usr/local/bin: client0 shares the host's /usr, the tree's is an overlay anyway
    client.run(["sh", "-c", "mountpoint -q /usr/local/bin || mount -t tmpfs tmpfs /usr/local/bin"])
    client.run(
        ["sh", "-c", "cat > /usr/local/bin/cloud-init && chmod 755 /usr/local/bin/cloud-init"],
        input=CLOUD_INIT_STUB,
    )
    client.run(["touch", "/run/cloud-init-running"])


def join_while_cloud_init_runs(
    client: Namespace, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], bool]:
    """Start the join while (stub) cloud-init still runs; end cloud-init after a second."""
    proc = start_join_script(client, env)
    try:
        deadline = time.monotonic() + 60
        while client.run(["test", "-s", "/run/cloud-init-calls"], check=False).returncode:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the join script never asked cloud-init"
            time.sleep(0.1)
        time.sleep(1.0)
        no_keytab = client.run(["test", "-e", "/etc/krb5.keytab"], check=False).returncode != 0
        waited = proc.poll() is None and no_keytab
        client.run(["rm", "-f", "/run/cloud-init-running"])  # cloud-init: done
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), waited


@pytest.fixture(scope="module")
def joined(
    samba_domain: SambaDomain,
    directory: DirectoryCall,
    client: Namespace,
) -> Joined:
    ad = samba_domain
    release = "debian-12" if client is ad.client else "debian-13"
    name = computer_name(INSTANCE_IDS[release])
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
    env = ssm_env(ad, name, otp, SSM_adSudoGroupName=ad.sudo_group_name)
    install_cloud_init_stub(client)
    first, waited = join_while_cloud_init_runs(client, env)
    client.run(["rm", "-f", "/usr/local/bin/cloud-init"])  # from now on: no cloud-init
    return Joined(release, client, name, otp, env, first, waited)


def test_client_runs_the_release_under_test(joined: Joined) -> None:
    os_release = joined.client.run(["cat", "/etc/os-release"]).stdout
    assert f'VERSION_ID="{RELEASES[joined.release]}"' in os_release


def test_join_waits_for_cloud_init_to_finish(joined: Joined) -> None:
    assert joined.waited  # still running, nothing joined, while cloud-init ran
    assert "waiting up to 600 s for cloud-init to finish" in joined.first.stderr
    assert "cloud-init is done" in joined.first.stderr
    assert joined.client.run(["cat", "/run/cloud-init-calls"]).stdout == "status --wait\n"


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
    assert "packages present" in joined.first.stderr  # the release's own package names
    assert joined.client.run(["hostname"]).stdout.strip() == joined.name.lower()


def test_the_one_time_password_is_never_printed(joined: Joined) -> None:
    assert joined.otp not in joined.first.stdout + joined.first.stderr


def test_daemons_started_by_the_script_do_not_inherit_the_password(joined: Joined) -> None:
    pid = joined.client.run(["cat", "/run/sssd.pid"]).stdout.strip()
    environ = joined.client.run(["cat", f"/proc/{pid}/environ"]).stdout
    assert "SSM_computerName" in environ  # it is the environment the script passed on ...
    assert "SSM_oneTimePassword" not in environ  # ... minus the password
    assert joined.otp not in environ


def test_the_one_time_password_no_longer_works_after_the_join(
    samba_domain: SambaDomain, joined: Joined
) -> None:
    proc = joined.client.run(
        ["kinit", "-c", "MEMORY:otp", f"{joined.name}$@{samba_domain.realm}"],
        input=joined.otp + "\n",
        check=False,
    )
    assert proc.returncode != 0  # adcli rotated the machine password


def test_machine_keytab_authenticates(samba_domain: SambaDomain, joined: Joined) -> None:
    ad = samba_domain
    proc = joined.client.run(["kinit", "-k", "-c", "MEMORY:k", f"{joined.name}$@{ad.realm}"])
    assert proc.returncode == 0
    assert joined.client.run(["adcli", "testjoin", f"--domain={ad.domain}"]).returncode == 0


def test_krb5_conf_names_the_realm(samba_domain: SambaDomain, joined: Joined) -> None:
    conf = joined.client.run(["cat", "/etc/krb5.conf"]).stdout
    assert f"[domain_realm]\n    .{samba_domain.domain} = {samba_domain.realm}" in conf


def test_sssd_resolves_domain_users_and_the_login_group(
    samba_domain: SambaDomain, joined: Joined
) -> None:
    ad = samba_domain
    member = joined.client.run(["id", f"{ad.member_user}@{ad.domain}"], check=False)
    assert member.returncode == 0, member.stderr
    assert f"{ad.group_name.lower()}@{ad.domain}" in member.stdout.lower()
    non_member = joined.client.run(["id", f"{ad.non_member_user}@{ad.domain}"], check=False)
    assert non_member.returncode == 0
    assert ad.group_name.lower() not in non_member.stdout.lower()


def _pam_login(ad: SambaDomain, client: Namespace, user: str, password: str) -> Any:
    return client.run(
        ["pamtester", "login", f"{user}@{ad.domain}", "authenticate", "acct_mgmt"],
        input=password + "\n",
        check=False,
    )


def _sudo_as(ad: SambaDomain, client: Namespace, user: str) -> Any:
    """`sudo true` run by USER, authenticating with the user's AD password (PAM, sssd)."""
    return client.run(
        ["runuser", "-u", f"{user}@{ad.domain}", "--", "sudo", "-S", "-k", "-p", "", "true"],
        input=ad.user_password + "\n",
        check=False,
    )


def _sudo_list(ad: SambaDomain, client: Namespace, user: str) -> str:
    proc = client.run(["sudo", "-l", "-U", f"{user}@{ad.domain}"], check=False)
    return proc.stdout + proc.stderr


def test_member_of_ad_group_can_log_in(samba_domain: SambaDomain, joined: Joined) -> None:
    ad = samba_domain
    proc = _pam_login(ad, joined.client, ad.member_user, ad.user_password)
    assert proc.returncode == 0, proc.stderr
    assert "account management done" in proc.stdout


def test_non_member_is_refused(samba_domain: SambaDomain, joined: Joined) -> None:
    ad = samba_domain
    proc = _pam_login(ad, joined.client, ad.non_member_user, ad.user_password)
    assert proc.returncode != 0
    assert "Permission denied" in proc.stderr + proc.stdout


def test_wrong_user_password_is_refused(samba_domain: SambaDomain, joined: Joined) -> None:
    ad = samba_domain
    proc = _pam_login(ad, joined.client, ad.member_user, "not-the-password-1A")
    assert proc.returncode != 0


def test_member_of_the_sudo_group_logs_in_and_gets_sudo(
    samba_domain: SambaDomain, joined: Joined
) -> None:
    ad = samba_domain
    login = _pam_login(ad, joined.client, ad.sudo_user, ad.user_password)
    assert login.returncode == 0, login.stderr  # the sudo group may log in too
    assert "(ALL : ALL) ALL" in _sudo_list(ad, joined.client, ad.sudo_user)
    proc = _sudo_as(ad, joined.client, ad.sudo_user)
    assert proc.returncode == 0, proc.stderr


def test_member_of_only_the_login_group_gets_no_sudo(
    samba_domain: SambaDomain, joined: Joined
) -> None:
    ad = samba_domain
    assert "is not allowed to run sudo" in _sudo_list(ad, joined.client, ad.member_user)
    proc = _sudo_as(ad, joined.client, ad.member_user)
    assert proc.returncode != 0
    assert "is not in the sudoers file" in proc.stderr


def test_sudo_rule_is_a_checked_private_drop_in(joined: Joined) -> None:
    client = joined.client
    assert client.run(["stat", "-c", "%a %U", "/etc/sudoers.d/ad-join"]).stdout.split() == [
        "440",
        "root",
    ]
    assert client.run(["visudo", "-c"], check=False).returncode == 0  # the whole policy parses


def test_sssd_conf_is_private_and_restricts_to_the_groups(
    samba_domain: SambaDomain, joined: Joined
) -> None:
    ad = samba_domain
    mode = joined.client.run(["stat", "-c", "%a %U", "/etc/sssd/sssd.conf"]).stdout.split()
    assert mode == ["600", "root"]
    conf = joined.client.run(["cat", "/etc/sssd/sssd.conf"]).stdout
    assert "access_provider = simple" in conf
    assert f"simple_allow_groups = {ad.group_name}, {ad.sudo_group_name}" in conf


def test_second_run_is_a_no_op(samba_domain: SambaDomain, joined: Joined) -> None:
    ad, client = samba_domain, joined.client
    watched = [
        "/etc/krb5.keytab",
        "/etc/sssd/sssd.conf",
        "/etc/krb5.conf",
        "/etc/hosts",
        "/etc/sudoers.d/ad-join",
    ]
    before = {p: file_digest(client, p) for p in watched}
    sssd_before = client.run(["cat", "/run/sssd.pid"]).stdout
    again = run_join_script(client, joined.env)
    assert again.returncode == 0, again.stderr
    assert "already joined" in again.stderr
    assert "no cloud-init: not waiting for boot work" in again.stderr  # none on this "image"
    assert {p: file_digest(client, p) for p in watched} == before
    assert client.run(["cat", "/run/sssd.pid"]).stdout == sssd_before  # not restarted
    assert _pam_login(ad, client, ad.member_user, ad.user_password).returncode == 0


def test_run_without_the_sudo_tag_takes_sudo_back(
    samba_domain: SambaDomain, joined: Joined
) -> None:
    ad, client = samba_domain, joined.client
    proc = run_join_script(client, {**joined.env, "SSM_adSudoGroupName": ""})
    assert proc.returncode == 0, proc.stderr
    assert "removed the sudo rule /etc/sudoers.d/ad-join" in proc.stderr
    assert client.run(["test", "-e", "/etc/sudoers.d/ad-join"], check=False).returncode == 1
    assert "is not allowed to run sudo" in _sudo_list(ad, client, ad.sudo_user)
    # and, with the login group alone in sssd's list again, the sudo group may not log in
    assert _pam_login(ad, client, ad.sudo_user, ad.user_password).returncode != 0
    assert _pam_login(ad, client, ad.member_user, ad.user_password).returncode == 0


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
    gone = joined.client.run(["adcli", "testjoin", f"--domain={ad.domain}"], check=False)
    assert gone.returncode != 0  # the machine account no longer exists

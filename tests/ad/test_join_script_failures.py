"""The join script's refusals and failure exit codes (docs/contracts.md), each on a fresh client
namespace so nothing leaks into the joined client of test_linux_join."""

from __future__ import annotations

import pytest

from adjoin.passwords import one_time_password
from tests.ad.conftest import DirectoryCall, run_join_script, ssm_env
from tests.ad.harness import Namespace, SambaDomain

pytestmark = [pytest.mark.slow, pytest.mark.ad]


@pytest.fixture(scope="module")
def fresh(samba_domain: SambaDomain) -> Namespace:
    return samba_domain.add_client("fresh0")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"SSM_computerName": "EC2456789ABCDEF0"}, "limit is 15 (never truncated)"),
        ({"SSM_computerName": "EC2_BAD.NAME"}, "letters, digits and inner hyphens"),
        ({"SSM_computerName": ""}, "letters, digits and inner hyphens"),
        ({"SSM_domainName": "not a domain"}, "is not a DNS name"),
        ({"SSM_adGroupName": "bad;group"}, "must be 1-64 characters"),
        ({"SSM_dnsIP1": "10.0.0.300"}, "is not an IPv4 address"),
        ({"SSM_dnsIP2": "10.0.0.01"}, "is not an IPv4 address"),
        ({"SSM_computerOU": 'OU=x"; rm -rf /'}, "is not a distinguished name"),
        ({"SSM_oneTimePassword": ""}, "one-time password is empty"),
    ],
)
def test_bad_parameters_exit_2_without_changing_the_host(
    samba_domain: SambaDomain, fresh: Namespace, override: dict[str, str], message: str
) -> None:
    env = ssm_env(samba_domain, "EC2BADPARAM1", "Unused-OTP-123456", **override)
    proc = run_join_script(fresh, env)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert fresh.run(["hostname"]).stdout.strip() == "fresh0"
    assert fresh.run(["test", "-e", "/etc/krb5.keytab"], check=False).returncode == 1
    assert "EC2456789ABCDEF" not in fresh.run(["cat", "/etc/hosts"]).stdout


def test_unreachable_dns_exits_4(samba_domain: SambaDomain, fresh: Namespace) -> None:
    env = ssm_env(samba_domain, "EC2NODNS1", "Unused-OTP-123456", SSM_dnsIP1="127.0.0.1")
    proc = run_join_script(fresh, env)
    assert proc.returncode == 4, proc.stderr
    assert "cannot find a domain controller" in proc.stderr


def test_wrong_one_time_password_exits_5(
    samba_domain: SambaDomain, directory: DirectoryCall, fresh: Namespace
) -> None:
    ad, otp = samba_domain, one_time_password()
    created = directory(
        "create",
        account={
            "name": "EC2WRONG1",
            "domain": ad.domain,
            "ou": ad.computers_ou,
            "one_time_password": otp,
        },
    )
    assert created["ok"]
    wrong = one_time_password()
    proc = run_join_script(fresh, ssm_env(ad, "EC2WRONG1", wrong))
    assert proc.returncode == 5, proc.stderr
    assert "adcli join as EC2WRONG1 failed" in proc.stderr
    assert wrong not in proc.stderr + proc.stdout
    assert fresh.run(["test", "-s", "/etc/krb5.keytab"], check=False).returncode == 1


def test_missing_account_exits_5(samba_domain: SambaDomain, fresh: Namespace) -> None:
    proc = run_join_script(fresh, ssm_env(samba_domain, "EC2MISSING1", one_time_password()))
    assert proc.returncode == 5, proc.stderr
    assert not samba_domain.computer_exists("EC2MISSING1")


def test_join_without_group_leaves_login_rules_alone(
    samba_domain: SambaDomain, directory: DirectoryCall, fresh: Namespace
) -> None:
    ad, otp = samba_domain, one_time_password()
    account = {
        "name": "EC2NOGRP1",
        "domain": ad.domain,
        "ou": ad.computers_ou,
        "one_time_password": otp,
    }
    assert directory("create", account=account)["ok"]
    proc = run_join_script(fresh, ssm_env(ad, "EC2NOGRP1", otp, SSM_adGroupName=""))
    assert proc.returncode == 0, proc.stderr
    conf = fresh.run(["cat", "/etc/sssd/sssd.conf"]).stdout
    assert "access_provider" not in conf and "simple_allow" not in conf
    assert "login rules of the domain apply unchanged" in proc.stderr


def test_keytab_of_another_computer_is_set_aside_and_the_join_proceeds(
    samba_domain: SambaDomain, directory: DirectoryCall, fresh: Namespace
) -> None:
    # fresh0 is joined as EC2NOGRP1 by the previous test: like an AMI baked from a joined host
    ad, otp = samba_domain, one_time_password()
    assert "EC2NOGRP1$" in fresh.run(["klist", "-k", "/etc/krb5.keytab"]).stdout
    account = {
        "name": "EC2SECOND1",
        "domain": ad.domain,
        "ou": ad.computers_ou,
        "one_time_password": otp,
    }
    assert directory("create", account=account)["ok"]
    proc = run_join_script(fresh, ssm_env(ad, "EC2SECOND1", otp))
    assert proc.returncode == 0, proc.stderr
    assert "moved a keytab of another computer" in proc.stderr
    keytab = fresh.run(["klist", "-k", "/etc/krb5.keytab"]).stdout
    assert "EC2SECOND1$" in keytab and "EC2NOGRP1$" not in keytab
    assert fresh.run(["hostname"]).stdout.strip() == "ec2second1"
    assert fresh.run(["adcli", "testjoin", f"--domain={ad.domain}"]).returncode == 0


@pytest.fixture(scope="module")
def other_distro(samba_domain: SambaDomain) -> Namespace:
    """A client whose (private) /etc/os-release the tests rewrite."""
    return samba_domain.add_client("distro0")


def _set_os_release(ns: Namespace, content: str) -> None:
    ns.run(
        ["sh", "-c", 'rm -f /etc/os-release && printf "%s" "$1" > /etc/os-release', "sh", content]
    )


def test_unsupported_distribution_exits_3(
    samba_domain: SambaDomain, other_distro: Namespace
) -> None:
    _set_os_release(other_distro, 'ID=plan9\nNAME="Plan 9"\n')
    proc = run_join_script(other_distro, ssm_env(samba_domain, "EC2DISTRO1", one_time_password()))
    assert proc.returncode == 3, proc.stderr
    assert "unsupported distribution 'plan9'" in proc.stderr


def test_failed_package_install_exits_3(samba_domain: SambaDomain, other_distro: Namespace) -> None:
    # An RHEL-family release on a machine without rpm/yum: every package is missing and the
    # installer cannot run.
    _set_os_release(other_distro, 'ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\n')
    proc = run_join_script(other_distro, ssm_env(samba_domain, "EC2DISTRO1", one_time_password()))
    assert proc.returncode == 3, proc.stderr
    assert "installing: adcli sssd" in proc.stderr
    assert "could not install" in proc.stderr
    assert other_distro.run(["hostname"]).stdout.strip() == "distro0"  # stopped before

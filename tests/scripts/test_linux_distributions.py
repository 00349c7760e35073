"""join.sh on the distributions that cannot run here: Amazon Linux 2 and 2023, RHEL 8 and 9 (with
and without FIPS mode), Ubuntu. Debian 12 and 13 are proven against a real DC in tests/ad.

Each case runs the real script, as SSM runs it (root, bash, SSM_* variables), in its own set of
namespaces (tests/ad/harness.Namespace: private /etc, /var, /run, hostname, network) in which
/etc/os-release and the other files that tell the script which distribution it is on are that
distribution's, and a private /usr/local/sbin, first on the script's PATH, holds stubs
(tests/scripts/stubs/stub.sh) of what the distribution has: dnf or yum, rpm, authselect or
authconfig, update-crypto-policies, adcli, klist, systemctl, cloud-init... Each stub records its
arguments; the files the script wrote are read from the overlay's upper layer of /etc. The tests
assert what each branch does: which installer and PAM tool it calls, the crypto policy, where
the one-time password goes, what it writes. What the stubs cannot show (that the real tools
accept these calls) is stated in README.md's table of what is proven where.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.ad.harness import STATE_ROOT, Namespace, cleanup_stale_runs, process_identity

pytestmark = [pytest.mark.root]

REPO_ROOT = Path(__file__).resolve().parents[2]
JOIN = REPO_ROOT / "scripts" / "linux" / "join.sh"
STUB = REPO_ROOT / "tests" / "scripts" / "stubs" / "stub.sh"
OTP = "Otp-0123456789abcdefghijKLMNOP._"
REALM = "AD.EXAMPLE.TEST"

#: every command the stub can stand in for
STUBBED = (
    "rpm",
    "dpkg-query",
    "dnf",
    "yum",
    "apt-get",
    "authselect",
    "authconfig",
    "pam-auth-update",
    "update-crypto-policies",
    "hostnamectl",
    "adcli",
    "klist",
    "visudo",
    "cloud-init",
    "systemctl",
    "resolvectl",
    "sssd",
    "sss_cache",
)
COMMON = ("hostnamectl", "adcli", "klist", "visudo", "cloud-init", "systemctl", "sssd", "sss_cache")
RPM_BASED = (*COMMON, "rpm")

RHEL_KRB5 = "includedir /etc/krb5.conf.d/\n[libdefaults]\n    dns_lookup_realm = false\n"
RHEL_NSSWITCH = "passwd: sss files systemd\ngroup: sss files systemd\nshadow: files sss\n"
RHEL_SUDOERS = "root ALL=(ALL) ALL\n#includedir /etc/sudoers.d\n"


@dataclass(frozen=True)
class Distro:
    name: str
    os_release: str
    commands: tuple[str, ...]
    files: dict[str, str] = field(default_factory=dict)
    dirs: tuple[str, ...] = ("/etc/krb5.conf.d", "/etc/cloud/cloud.cfg.d")
    installed: tuple[str, ...] = ("sudo",)


AL2 = Distro(
    "amazon-linux-2",
    'NAME="Amazon Linux"\nVERSION="2"\nID="amzn"\nID_LIKE="centos rhel fedora"\nVERSION_ID="2"\n',
    (*RPM_BASED, "yum", "authconfig"),
    {
        "/etc/krb5.conf": RHEL_KRB5,
        "/etc/nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\n",
        "/etc/sudoers": RHEL_SUDOERS,
    },
)
AL2023 = Distro(
    "amazon-linux-2023",
    'NAME="Amazon Linux"\nVERSION="2023"\nID="amzn"\nID_LIKE="fedora"\nVERSION_ID="2023"\n',
    (*RPM_BASED, "dnf", "yum", "authselect", "update-crypto-policies"),
    {
        "/etc/krb5.conf": RHEL_KRB5,
        "/etc/nsswitch.conf": RHEL_NSSWITCH,
        "/etc/sudoers": RHEL_SUDOERS,
    },
)
RHEL9 = Distro(
    "rhel-9",
    'NAME="Red Hat Enterprise Linux"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\n',
    AL2023.commands,
    AL2023.files,
)
RHEL8 = Distro(
    "rhel-8",
    'NAME="Red Hat Enterprise Linux"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="8.10"\n',
    AL2023.commands,
    AL2023.files,
)
UBUNTU = Distro(
    "ubuntu-24.04",
    'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n',
    (*COMMON, "dpkg-query", "apt-get", "pam-auth-update", "resolvectl"),
    {"/etc/sudoers": "root ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n"},
    dirs=("/etc/cloud/cloud.cfg.d",),
)
DEBIAN_PACKAGES = ("adcli", "sssd-ad", "sssd-tools", "libnss-sss", "libpam-sss", "krb5-user")
#: join.sh's RPM packages, without the PAM tool (authconfig on AL2, authselect elsewhere)
RPM_PACKAGES = {
    *("adcli", "sssd", "sssd-ad", "sssd-tools", "krb5-workstation", "oddjob", "oddjob-mkhomedir")
}


def env(name: str = "EC2ABCDEF012345", **overrides: str) -> dict[str, str]:
    values = {
        "SSM_computerName": name,
        "SSM_oneTimePassword": OTP,
        "SSM_domainName": "ad.example.test",
        "SSM_computerOU": "OU=EC2 Computers,DC=ad,DC=example,DC=test",
        "SSM_adGroupName": "EC2 Linux Users",
        "SSM_adSudoGroupName": "EC2 Linux Admins",
        "SSM_dnsIP1": "10.213.0.1",
        "SSM_dnsIP2": "",
        "SSM_bootWaitSeconds": "600",
    }
    values.update(overrides)
    return values


@dataclass
class StubHost:
    """One stub "instance" of a distribution."""

    distro: Distro
    ns: Namespace
    before: dict[str, str] = field(default_factory=dict)

    def run_join(self, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
        self.before = self.etc_state()
        (self.ns.state_dir / "calls-before").write_text(str(len(self.calls())))
        return self.ns.run(["bash", str(JOIN)], env=environment, check=False, timeout=60)

    def start_join(self, environment: dict[str, str]) -> subprocess.Popen[str]:
        full = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", **environment}
        return subprocess.Popen(
            self.ns.nsenter(["bash", str(JOIN)]),
            env=full,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def sh(self, script: str, *args: str) -> str:
        return self.ns.run(["sh", "-c", script, "sh", *args]).stdout

    def write(self, path: str, content: str) -> None:
        self.sh('mkdir -p "$(dirname "$1")" && printf "%s" "$2" > "$1"', path, content)

    def read(self, path: str) -> str:
        return self.ns.run(["cat", path]).stdout

    def exists(self, path: str) -> bool:
        return self.ns.run(["test", "-e", path], check=False).returncode == 0

    def calls(self) -> list[list[str]]:
        raw = self.ns.run(["cat", "/run/stub/calls"], check=False).stdout
        return [record.split("\x1f") for record in raw.split("\x1e") if record]

    def new_calls(self) -> list[list[str]]:
        """The calls of the last run_join."""
        skip = int((self.ns.state_dir / "calls-before").read_text())
        return self.calls()[skip:]

    def called(self, name: str) -> list[list[str]]:
        return [call[1:] for call in self.new_calls() if call[0] == name]

    def etc_state(self) -> dict[str, str]:
        """Every file of the overlay's upper layer of /etc: what was written since the start."""
        upper = self.ns.state_dir / "etc-up"
        state = {}
        for path in upper.rglob("*"):
            relative = "/etc/" + str(path.relative_to(upper))
            if path.is_char_device():
                state[relative] = "deleted"  # an overlayfs whiteout
            elif path.is_file() and not path.is_symlink():
                state[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
        return state

    def written(self) -> set[str]:
        """Files under /etc that the last run_join created, changed or deleted."""
        after = self.etc_state()
        return {p for p in after.keys() | self.before.keys() if after.get(p) != self.before.get(p)}


@pytest.fixture(scope="module")
def run_dir() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.fail("the distribution stubs need root (mount and network namespaces)")
    cleanup_stale_runs()
    STATE_ROOT.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="run-", dir=STATE_ROOT))
    (path / "owner.pid").write_text(process_identity(os.getpid()))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def make_host(run_dir: Path) -> Iterator[object]:
    started: list[Namespace] = []

    def make(distro: Distro, *, fips: bool = False, policy: str = "") -> StubHost:
        state_dir = Path(tempfile.mkdtemp(prefix=f"ns-{distro.name}-", dir=run_dir))
        ns = Namespace(distro.name, "ip-10-0-0-5", state_dir)
        started.append(ns)
        ns.start()
        host = StubHost(distro, ns)
        host.sh("mount -t tmpfs -o mode=0755 tmpfs /usr/local/sbin && mkdir -p /run/stub")
        absent = []
        for name in STUBBED:
            if name in distro.commands or shutil.which(name):
                host.sh('ln -s "$1" "/usr/local/sbin/$2"', str(STUB), name)
                if name not in distro.commands:
                    absent.append(name)  # on this host, not on that distribution
        host.write("/run/stub/absent", "".join(f"{n}\n" for n in absent))
        host.write("/run/stub/installed", "".join(f"{p}\n" for p in distro.installed))
        host.write("/run/stub/calls", "")
        host.sh("mkdir -p /run/systemd/system")  # systemd is PID 1 on these images
        host.sh('rm -f /etc/os-release && printf "%s" "$1" > /etc/os-release', distro.os_release)
        host.write("/etc/hosts", "127.0.0.1 localhost\n")
        host.write("/etc/resolv.conf", "nameserver 10.0.0.2\n")
        if "/etc/krb5.conf.d" not in distro.dirs:
            host.sh("rm -rf /etc/krb5.conf.d")  # this host's sssd-krb5 made it
        for directory in distro.dirs:
            host.sh('mkdir -p "$1"', directory)
        for path, content in distro.files.items():
            host.write(path, content)
        if policy:
            host.write("/run/stub/crypto-policy", policy + "\n")
        if fips:  # the kernel's flag, /proc/sys/crypto/fips_enabled, seen only in here
            host.write("/run/stub/procsys/crypto/fips_enabled", "1\n")
            host.sh("mount --bind /run/stub/procsys /proc/sys")
        return host

    yield make
    for ns in reversed(started):
        ns.stop()


def names(host: StubHost) -> list[str]:
    return [call[0] for call in host.new_calls()]


def all_arguments(host: StubHost) -> str:
    return "\n".join("\x1f".join(call) for call in host.calls())


def join_call(host: StubHost) -> list[str]:
    [join] = [args for args in host.called("adcli") if args[0] == "join" and "--help" not in args]
    return join


def assert_password_only_on_adcli_stdin(host: StubHost, proc: subprocess.CompletedProcess[str]):
    assert OTP not in all_arguments(host)  # on no command line of any command
    assert host.read("/run/stub/adcli-stdin") == OTP  # adcli read it on stdin, exactly
    assert OTP not in proc.stdout + proc.stderr
    assert {"--login-type=computer", "--stdin-password"} <= set(join_call(host))


def assert_sudo_rule(host: StubHost) -> None:
    rule = host.read("/etc/sudoers.d/ad-join")
    assert rule.splitlines()[1] == r"%ec2\ linux\ admins@ad.example.test ALL=(ALL:ALL) ALL"
    mode = host.ns.run(["stat", "-c", "%a %U", "/etc/sudoers.d/ad-join"]).stdout.split()
    assert mode == ["440", "root"]
    check = host.ns.run(["/usr/sbin/visudo", "-c", "-f", "/etc/sudoers.d/ad-join"], check=False)
    assert check.returncode == 0, check.stdout + check.stderr  # the real visudo accepts it


def krb5_realm_sections(conf: str) -> None:
    # amazonlinux/amazon-linux-2023#685: realmd leaves [realms] and [domain_realm] out there
    assert f"[realms]\n    {REALM} = {{\n        default_domain = ad.example.test\n    }}" in conf
    assert f"[domain_realm]\n    .ad.example.test = {REALM}\n    ad.example.test = {REALM}" in conf
    assert f"default_realm = {REALM}" in conf


# ---- Amazon Linux 2 --------------------------------------------------------------------------


def test_amazon_linux_2_uses_yum_authconfig_and_keeps_the_password_off_argv(make_host) -> None:
    host = make_host(AL2)
    proc = host.run_join(env())
    assert proc.returncode == 0, proc.stderr
    # yum (no dnf there), the packages of the AL2 branch, authconfig (no authselect there)
    [install] = host.called("yum")
    assert install[:3] == ["install", "-y", "-q"]
    assert set(install[3:]) == {*RPM_PACKAGES, "authconfig"}  # sudo is present already
    assert host.called("authconfig") == [
        ["--enablesssd", "--enablesssdauth", "--enablemkhomedir", "--update"]
    ]
    assert not {"dnf", "authselect", "apt-get", "pam-auth-update", "update-crypto-policies"} & set(
        names(host)
    )
    # adcli 0.8.1 (AL2, RHEL 7) has --login-type: the password goes on stdin as on Debian
    assert_password_only_on_adcli_stdin(host, proc)
    assert ["enable", "--now", "oddjobd"] in host.called("systemctl")
    assert ["restart", "sssd"] in host.called("systemctl")
    assert host.read("/etc/nsswitch.conf") == (
        "passwd: files sss\ngroup: files sss\nshadow: files sss\n"
    )
    assert_sudo_rule(host)


def test_an_adcli_without_login_type_is_refused_before_the_password_is_used(make_host) -> None:
    host = make_host(AL2)
    host.write("/run/stub/adcli-without-login-type", "")
    proc = host.run_join(env())
    assert proc.returncode == 3, proc.stderr
    assert "has no --login-type (older than 0.6)" in proc.stderr
    assert [args for args in host.called("adcli") if args[0] == "join"] == [["join", "--help"]]
    assert OTP not in all_arguments(host)
    assert not host.exists("/run/stub/adcli-stdin")


# ---- Amazon Linux 2023 / RHEL -----------------------------------------------------------------


def test_amazon_linux_2023_uses_dnf_authselect_and_writes_the_realm(make_host) -> None:
    host = make_host(AL2023)
    proc = host.run_join(env())
    assert proc.returncode == 0, proc.stderr
    [install] = host.called("dnf")
    assert set(install[3:]) == {*RPM_PACKAGES, "authselect"}
    assert host.called("yum") == []
    assert host.called("authselect") == [
        ["current", "--raw"],
        ["select", "sssd", "with-mkhomedir", "--force"],
    ]
    assert not {"authconfig", "pam-auth-update", "apt-get"} & set(names(host))
    conf = host.read("/etc/krb5.conf")
    krb5_realm_sections(conf)
    # the crypto policy and sssd's snippets live in /etc/krb5.conf.d: still included
    assert conf.splitlines()[1] == "includedir /etc/krb5.conf.d/"
    assert host.called("update-crypto-policies") == []  # not in FIPS mode: policy untouched
    assert_password_only_on_adcli_stdin(host, proc)
    assert host.written() == {
        "/etc/hostname",
        "/etc/hosts",
        "/etc/resolv.conf",
        "/etc/cloud/cloud.cfg.d/99-ad-join-hostname.cfg",
        "/etc/krb5.conf",
        "/etc/krb5.conf.ad-join.bak",
        "/etc/resolv.conf.ad-join.bak",
        "/etc/hosts.ad-join.bak",
        "/etc/hostname.ad-join.bak",
        "/etc/krb5.keytab",
        "/etc/sssd/sssd.conf",
        "/etc/sudoers.d/ad-join",
    }
    sssd = host.read("/etc/sssd/sssd.conf")
    assert "simple_allow_groups = EC2 Linux Users, EC2 Linux Admins" in sssd
    assert_sudo_rule(host)


@pytest.mark.parametrize("distro", [AL2023, RHEL9], ids=lambda d: d.name)
def test_fips_mode_gets_the_ad_support_sub_policy_before_the_join(make_host, distro) -> None:
    # plus3it/join-domain-formula#218: RHEL 9 in FIPS mode refuses AD's Kerberos types
    host = make_host(distro, fips=True, policy="FIPS")
    proc = host.run_join(env())
    assert proc.returncode == 0, proc.stderr
    assert host.called("update-crypto-policies") == [["--show"], ["--set", "FIPS:AD-SUPPORT"]]
    assert host.read("/run/stub/crypto-policy") == "FIPS:AD-SUPPORT\n"
    order = names(host)
    last_policy_call = len(order) - 1 - order[::-1].index("update-crypto-policies")
    join_index = next(
        i
        for i, c in enumerate(host.new_calls())
        if c[:2] == ["adcli", "join"] and "--help" not in c
    )
    assert last_policy_call < join_index
    assert "FIPS mode: crypto policy FIPS -> FIPS:AD-SUPPORT" in proc.stderr


def test_fips_sub_policies_already_there_are_kept_and_not_set_twice(make_host) -> None:
    host = make_host(RHEL9, fips=True, policy="FIPS:OSPP")
    first = host.run_join(env())
    assert first.returncode == 0, first.stderr
    assert host.called("update-crypto-policies") == [["--show"], ["--set", "FIPS:OSPP:AD-SUPPORT"]]
    again = host.run_join(env())
    assert again.returncode == 0, again.stderr
    assert host.called("update-crypto-policies") == [["--show"]]


def test_fips_with_the_legacy_ad_sub_policy_is_left_alone(make_host) -> None:
    # join.sh counts AD-SUPPORT-LEGACY as already allowing AD's types: nothing is added
    host = make_host(RHEL9, fips=True, policy="FIPS:AD-SUPPORT-LEGACY")
    proc = host.run_join(env())
    assert proc.returncode == 0, proc.stderr
    assert host.called("update-crypto-policies") == [["--show"]]
    assert host.read("/run/stub/crypto-policy") == "FIPS:AD-SUPPORT-LEGACY\n"


@pytest.mark.parametrize("distro", [RHEL8, AL2], ids=lambda d: d.name)
def test_rhel_8_and_amazon_linux_2_in_fips_mode_keep_their_policy(make_host, distro) -> None:
    host = make_host(distro, fips=True, policy="FIPS")
    proc = host.run_join(env())
    assert proc.returncode == 0, proc.stderr
    assert host.called("update-crypto-policies") == []
    assert host.read("/run/stub/crypto-policy") == "FIPS\n"


def test_second_run_on_rhel_9_is_a_no_op(make_host) -> None:
    host = make_host(RHEL9)
    assert host.run_join(env()).returncode == 0
    again = host.run_join(env())
    assert again.returncode == 0, again.stderr
    assert "already joined" in again.stderr
    assert host.written() == set()  # no file under /etc changed
    called = names(host)
    assert "dnf" not in called  # packages present now
    assert not [c for c in host.called("adcli") if c[0] == "join"]
    assert ["restart", "sssd"] not in host.called("systemctl")
    assert host.called("authselect") == [["current", "--raw"]]


def test_sudo_rule_is_removed_on_a_run_without_the_tag(make_host) -> None:
    host = make_host(RHEL9)
    assert host.run_join(env()).returncode == 0
    assert host.exists("/etc/sudoers.d/ad-join")
    proc = host.run_join(env(SSM_adSudoGroupName=""))
    assert proc.returncode == 0, proc.stderr
    assert not host.exists("/etc/sudoers.d/ad-join")
    assert "removed the sudo rule /etc/sudoers.d/ad-join" in proc.stderr
    assert host.written() == {"/etc/sudoers.d/ad-join", "/etc/sssd/sssd.conf"}
    assert "simple_allow_groups = EC2 Linux Users\n" in host.read("/etc/sssd/sssd.conf")
    assert ["restart", "sssd"] in host.called("systemctl")


def test_a_sudoers_file_of_someone_else_is_left_alone(make_host) -> None:
    host = make_host(RHEL9)
    host.write("/etc/sudoers.d/ad-join", "%wheel ALL=(ALL) ALL\n")
    proc = host.run_join(env(SSM_adSudoGroupName=""))
    assert proc.returncode == 0, proc.stderr
    assert host.read("/etc/sudoers.d/ad-join") == "%wheel ALL=(ALL) ALL\n"
    assert "was not written by ad-join, left as it is" in proc.stderr


def test_a_rule_visudo_refuses_is_never_installed(make_host) -> None:
    host = make_host(RHEL9)
    host.write("/run/stub/visudo-refuses", "")
    proc = host.run_join(env())
    assert proc.returncode == 6, proc.stderr
    assert "visudo refused the sudo rule for 'EC2 Linux Admins'" in proc.stderr
    assert not host.exists("/etc/sudoers.d/ad-join")
    assert "ad-join" not in host.sh("ls -A /etc/sudoers.d")  # no temporary file left behind


def test_sudoers_without_the_drop_in_directory_is_an_access_error(make_host) -> None:
    host = make_host(RHEL9)
    host.write("/etc/sudoers", "root ALL=(ALL) ALL\n")
    proc = host.run_join(env())
    assert proc.returncode == 6
    assert "/etc/sudoers does not include /etc/sudoers.d" in proc.stderr


# ---- Ubuntu -----------------------------------------------------------------------------------


def test_ubuntu_uses_apt_pam_auth_update_and_systemd_resolved(make_host) -> None:
    host = make_host(UBUNTU)
    host.sh(
        "rm -f /etc/resolv.conf && ln -s ../run/systemd/resolve/stub-resolv.conf /etc/resolv.conf"
    )
    proc = host.run_join(env())
    assert proc.returncode == 0, proc.stderr
    assert host.called("apt-get")[0] == ["update", "-q"]
    assert set(host.called("apt-get")[1][3:]) == set(DEBIAN_PACKAGES)
    assert host.called("pam-auth-update") in ([], [["--enable", "sss", "mkhomedir"]])
    assert not {"dnf", "yum", "rpm", "authselect", "authconfig"} & set(names(host))
    # resolved manages resolv.conf: a drop-in, not a rewrite of the symlink
    assert host.read("/etc/systemd/resolved.conf.d/ad-join.conf").splitlines()[1:] == [
        "[Resolve]",
        "DNS=10.213.0.1",
        "Domains=~ad.example.test",
    ]
    assert ["restart", "systemd-resolved"] in host.called("systemctl")
    assert (
        host.ns.run(["readlink", "/etc/resolv.conf"])
        .stdout.strip()
        .endswith("systemd/resolve/stub-resolv.conf")
    )
    conf = host.read("/etc/krb5.conf")
    krb5_realm_sections(conf)
    assert "includedir" not in conf  # included only where /etc/krb5.conf.d exists
    assert_password_only_on_adcli_stdin(host, proc)
    assert_sudo_rule(host)


# ---- waiting for cloud-init -------------------------------------------------------------------


def test_join_waits_for_cloud_init_before_installing_anything(make_host) -> None:
    host = make_host(RHEL9)
    host.write("/run/stub/cloud-init-running", "")
    host.write("/run/stub/calls", "")
    proc = host.start_join(env())
    try:
        deadline = time.monotonic() + 10
        while ["cloud-init", "status", "--wait"] not in host.calls():
            assert time.monotonic() < deadline, "cloud-init status --wait was never called"
            time.sleep(0.1)
        time.sleep(1.0)
        assert proc.poll() is None  # still waiting
        assert "dnf" not in [c[0] for c in host.calls()]  # nothing installed meanwhile
        assert not host.exists("/etc/krb5.keytab")
        host.sh("rm /run/stub/cloud-init-running")  # cloud-init: done
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "cloud-init is done" in stderr
    order = [c[0] for c in host.calls()]
    assert order.index("cloud-init") < order.index("dnf") < order.index("adcli")


@pytest.mark.parametrize(
    ("rc", "message"),
    [
        ("2", "cloud-init finished with recoverable errors; joining anyway"),
        ("1", "cloud-init status exited 1 (an error in the boot work); joining anyway"),
    ],
)
def test_cloud_init_errors_do_not_block_the_join(make_host, rc: str, message: str) -> None:
    # https://docs.cloud-init.io/en/latest/explanation/return_codes.html
    host = make_host(RHEL9)
    host.write("/run/stub/cloud-init-rc", rc)
    proc = host.run_join(env())
    assert proc.returncode == 0, proc.stderr
    assert message in proc.stderr
    assert join_call(host)


def test_cloud_init_that_never_finishes_is_waited_for_only_the_bound(make_host) -> None:
    host = make_host(RHEL9)
    host.write("/run/stub/cloud-init-running", "")
    started = time.monotonic()
    proc = host.run_join(env(SSM_bootWaitSeconds="2"))
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert "cloud-init still running after 2 s; joining anyway" in proc.stderr
    assert elapsed >= 2
    assert join_call(host)


def test_boot_wait_with_a_leading_zero_is_decimal(make_host) -> None:
    host = make_host(RHEL9)
    proc = host.run_join(env(SSM_bootWaitSeconds="0900"))  # the document's pattern allows it
    assert proc.returncode == 0, proc.stderr
    assert "waiting up to 900 s for cloud-init to finish" in proc.stderr


def test_no_wait_without_cloud_init_or_with_a_zero_bound(make_host) -> None:
    host = make_host(RHEL9)
    host.sh("rm /usr/local/sbin/cloud-init")
    proc = host.run_join(env())
    assert proc.returncode == 0, proc.stderr
    assert "no cloud-init: not waiting for boot work" in proc.stderr
    other = make_host(RHEL9)
    other.write("/run/stub/cloud-init-running", "")
    proc = other.run_join(env(SSM_bootWaitSeconds="0"))
    assert proc.returncode == 0, proc.stderr
    assert other.called("cloud-init") == []


# ---- messages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "printed"),
    [
        (
            {"SSM_adGroupName": "Admins\nad-join: joined ad.example.test as EC2X"},
            r"group name 'Admins\x0aad-join: joined ad.example.test as EC2X' must be",
        ),
        ({"SSM_adSudoGroupName": " lead"}, "sudo group name ' lead' must be"),
        ({"SSM_computerName": "EC2'$(id)"}, r"computer name 'EC2\x27$(id)' must be"),
        ({"SSM_dnsIP1": "10.0.0.1\r\n"}, r"DNS server '10.0.0.1\x0d\x0a' is not"),
        ({"SSM_bootWaitSeconds": "1m"}, "boot wait '1m' is not 0-9999 seconds"),
    ],
)
def test_rejected_values_are_quoted_on_one_line(make_host, override, printed) -> None:
    host = make_host(RHEL9)
    proc = host.run_join(env(**override))
    assert proc.returncode == 2
    assert printed in proc.stderr
    assert len(proc.stderr.splitlines()) == 1  # no forged second line
    assert host.written() == set()


def test_group_messages_say_that_edge_spaces_are_refused(make_host) -> None:
    host = make_host(RHEL9)
    proc = host.run_join(env(SSM_adGroupName="trailing "))
    assert proc.returncode == 2
    assert (
        "group name 'trailing ' must be 1-64 characters [A-Za-z0-9 ._-] with no space at either end"
        in proc.stderr
    )

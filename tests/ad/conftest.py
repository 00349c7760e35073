"""Session-wide Samba AD domain for the real-AD tests (root; started and stopped here)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.ad.debian_tree import Tree, debian_tree
from tests.ad.harness import Namespace, SambaDomain

REPO_ROOT = Path(__file__).resolve().parents[2]
JOIN_SCRIPT = REPO_ROOT / "scripts" / "linux" / "join.sh"


@dataclass
class DirectoryCall:
    """Runs the Lambda's LdapDirectory inside a client namespace through tests/ad/ldap_driver."""

    ad: SambaDomain
    hub: Namespace

    def __call__(
        self, op: str, *, where: Namespace | None = None, **request: Any
    ) -> dict[str, Any]:
        body = {
            "op": op,
            "servers": self.ad.dc_ip,
            "domain": self.ad.domain,
            "user": self.ad.join_principal,
            "password": self.ad.join_password,
            "security": "ldaps",
            "ca_cert_pem": self.ad.ca_cert_pem,
            "timeout": 5.0,
            **request,
        }
        return run_driver(where or self.hub, "tests.ad.ldap_driver", body)


def run_driver(where: Namespace, module: str, body: dict[str, Any]) -> dict[str, Any]:
    """Run a driver module of tests/ad inside WHERE with a JSON request on stdin (no secret on
    a command line); its answer is the last line it prints (log lines may come before)."""
    proc = where.run(
        [sys.executable, "-m", module],
        input=json.dumps(body),
        env={"PYTHONPATH": f"{REPO_ROOT / 'lambda'}:{REPO_ROOT}"},
        cwd=REPO_ROOT,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    answer: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return answer


def ssm_env(ad: SambaDomain, name: str, otp: str, **overrides: str) -> dict[str, str]:
    env = {
        "SSM_computerName": name,
        "SSM_oneTimePassword": otp,
        "SSM_domainName": ad.domain,
        "SSM_computerOU": ad.computers_ou,
        "SSM_adGroupName": ad.group_name,
        "SSM_dnsIP1": ad.dc_ip,
        "SSM_dnsIP2": "",
    }
    env.update(overrides)
    return env


def run_join_script(where: Namespace, env: dict[str, str]) -> Any:
    """The join script exactly as SSM Run Command runs it: root, bash, SSM_* variables."""
    return where.run(["bash", str(JOIN_SCRIPT)], env=env, check=False, timeout=300)


def start_join_script(where: Namespace, env: dict[str, str]) -> subprocess.Popen[str]:
    """The same, in the background (to look at the instance while the script waits)."""
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return subprocess.Popen(
        where.nsenter(["bash", str(JOIN_SCRIPT)]),
        env={"PATH": path, "LANG": "C.UTF-8", **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# Host files the harness must never change (the namespaces get private copies of /etc and /var).
HOST_FILES = (
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/krb5.conf",
    "/etc/krb5.keytab",
    "/etc/nsswitch.conf",
    "/etc/sssd/sssd.conf",
    "/etc/pam.d/common-auth",
    "/etc/pam.d/common-account",
    "/etc/pam.d/common-session",
    "/etc/samba/smb.conf",
    "/etc/sudoers",
    "/etc/sudoers.d/ad-join",
)


def host_state() -> dict[str, str]:
    """Digest (or absence) of each host file, plus the host's hostname."""
    state = {"hostname": socket.gethostname()}
    for name in HOST_FILES:
        path = Path(name)
        state[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "-"
    return state


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run test_isolation.py last: it checks the host after everything else ran."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/ad/test_isolation.py"))


@pytest.fixture(scope="session")
def host_snapshot() -> dict[str, str]:
    return host_state()


@pytest.fixture(scope="session")
def samba_domain(
    host_snapshot: dict[str, str], pytestconfig: pytest.Config
) -> Iterator[SambaDomain]:
    started = time.monotonic()
    with SambaDomain() as ad:
        yield ad
        line = (
            f"[ad harness] domain up in {sum(ad.timings.values()):.1f} s "
            f"({', '.join(f'{k} {v:.1f} s' for k, v in ad.timings.items())}); "
            f"session {time.monotonic() - started:.1f} s; peak memory of all namespace processes: "
            f"PSS {ad.peak_pss_bytes / 2**20:.0f} MiB (RSS sum {ad.peak_rss_bytes / 2**20:.0f} MiB)"
        )
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        sys.stderr.write(f"\n{line}\n")


@pytest.fixture(scope="session")
def hub(samba_domain: SambaDomain) -> Namespace:
    """The Lambda's side: its own namespace (like the hub VPC), with the domain's DNS and
    Kerberos configured, and one extra name for the DC that its certificate does not carry."""
    ad = samba_domain
    ns = ad.add_client("hub")
    ns.run(["sh", "-c", f"echo 'nameserver {ad.dc_ip}' > /etc/resolv.conf"])
    ns.run(["sh", "-c", f"echo '{ad.dc_ip} not-the-dc.example.test' >> /etc/hosts"])
    ns.run(["cp", str(ad.samba_dir / "private" / "krb5.conf"), "/etc/krb5.conf"])
    return ns


@pytest.fixture(scope="session")
def directory(samba_domain: SambaDomain, hub: Namespace) -> DirectoryCall:
    return DirectoryCall(samba_domain, hub)


@pytest.fixture(scope="session")
def trixie_tree(pytestconfig: pytest.Config) -> Tree:
    """The Debian 13 tree (tests/ad/debian_tree.py): built on the first run, then cached."""
    tree = debian_tree("trixie")
    line = (
        f"[debian tree] {tree.release} {'built' if tree.built else 'found in the cache'} in "
        f"{tree.seconds:.1f} s: {tree.path}; "
        + ", ".join(f"{p} {tree.versions[p]}" for p in ("sssd-ad", "adcli", "krb5-user", "sudo"))
    )
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        sys.stderr.write(f"\n{line}\n")
    return tree


@pytest.fixture(scope="session")
def debian13_client(samba_domain: SambaDomain, trixie_tree: Tree) -> Namespace:
    """A fresh Debian 13 "instance": a client namespace rooted in the trixie tree, with the
    repository visible read-only at its own path (where the tests run the join script from)."""
    return samba_domain.add_client("client13", root=trixie_tree.path, binds=(REPO_ROOT,))

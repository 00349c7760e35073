"""The harness changes nothing on the host and leaves nothing running.

conftest.py runs this module last, after every other real-AD test has joined, configured and
restarted things in the namespaces; `host_snapshot` was taken before the domain started.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.ad.conftest import HOST_FILES, host_state
from tests.ad.harness import (
    NS_MARKER,
    Namespace,
    SambaDomain,
    cleanup_stale_runs,
    process_identity,
)

pytestmark = [pytest.mark.slow, pytest.mark.ad]


def test_host_etc_and_hostname_unchanged(
    samba_domain: SambaDomain, host_snapshot: dict[str, str]
) -> None:
    # Inside a client namespace, rewrite the very files the join script rewrites ...
    probe = samba_domain.add_client("isoprobe")
    for name in ("/etc/hosts", "/etc/krb5.conf", "/etc/resolv.conf", "/etc/nsswitch.conf"):
        probe.run(["sh", "-c", f"echo '# probe' >> {name}"])
    probe.run(["hostname", "changed-inside"])
    assert "# probe" in probe.run(["cat", "/etc/krb5.conf"]).stdout
    # ... the host's own copies, and its hostname, are what they were before the session
    # (which, in a full run, also covers every join-script run in the other modules).
    assert host_state() == host_snapshot
    assert not Path("/etc/netns").exists()
    assert set(HOST_FILES) <= set(host_snapshot)


def test_namespace_stop_ends_daemons_started_inside(tmp_path: Path) -> None:
    ns = Namespace("probe", "probe0", tmp_path / "ns")
    ns.start()
    try:
        # a daemon that double-forks away from its parent, as sssd -D and samba -D do
        ns.run(["sh", "-c", "setsid sleep 300 >/dev/null 2>&1 < /dev/null &"])
        inside = ns.pids()
        assert len(inside) >= 2  # init + the daemon
    finally:
        ns.stop()
    time.sleep(0.2)
    assert [pid for pid in inside if Path(f"/proc/{pid}").exists()] == []


def test_stale_run_of_a_dead_owner_is_cleaned_up(tmp_path: Path) -> None:
    root = tmp_path / "state"
    run_dir = root / "run-crashed"
    ns = Namespace("probe", "probe1", run_dir / "ns-dc")
    ns.start()
    with subprocess.Popen(["sleep", "30"]) as gone:  # an owner that has exited since
        identity = process_identity(gone.pid)
        gone.kill()
    (run_dir / "owner.pid").write_text(identity)
    assert NS_MARKER.encode() in Path(f"/proc/{ns.init_pid}/cmdline").read_bytes()
    removed = cleanup_stale_runs(root)
    assert removed == ["run-crashed"]
    assert ns.unshare is not None
    ns.unshare.wait(timeout=10)
    assert not Path(f"/proc/{ns.init_pid}").exists()
    assert not run_dir.exists()


def test_this_processs_own_live_run_is_left_alone(samba_domain: SambaDomain) -> None:
    # e.g. the e2e demo starting a second domain in the same pytest process
    assert cleanup_stale_runs() == []
    assert samba_domain.run_dir.exists()
    assert Path(f"/proc/{samba_domain.dc.init_pid}").exists()


def test_a_pid_reused_by_another_process_is_not_the_owner(tmp_path: Path) -> None:
    run_dir = tmp_path / "state" / "run-reused"
    run_dir.mkdir(parents=True)
    pid, start = process_identity(os.getpid()).split()
    (run_dir / "owner.pid").write_text(f"{pid} {int(start) - 1}")  # same pid, older process
    assert cleanup_stale_runs(tmp_path / "state") == ["run-reused"]


def test_a_live_owners_run_is_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "state"
    run_dir = root / "run-live"
    ns = Namespace("probe", "probe2", run_dir / "ns-dc")
    ns.start()
    try:
        with subprocess.Popen(["sleep", "30"]) as owner:
            (run_dir / "owner.pid").write_text(process_identity(owner.pid))
            assert cleanup_stale_runs(root) == []
            assert Path(f"/proc/{ns.init_pid}").exists()
            owner.kill()
    finally:
        ns.stop()


def test_domain_network_lives_only_in_the_namespaces(samba_domain: SambaDomain) -> None:
    host_net = os.readlink("/proc/self/ns/net")
    pids = samba_domain.process_pids()
    assert pids

    def net_namespace(pid: int) -> str | None:
        try:
            return os.readlink(f"/proc/{pid}/ns/net")
        except FileNotFoundError:  # exited since it was listed (DCs fork per connection)
            return None

    namespaces = [net_namespace(pid) for pid in pids]
    assert any(namespaces)
    assert host_net not in namespaces
    host_addrs = subprocess.run(
        ["ip", "-o", "addr"], capture_output=True, text=True, check=True
    ).stdout
    assert "10.213." not in host_addrs
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    assert "adjd" not in links.stdout and "adjc" not in links.stdout

"""A throw-away Samba AD domain controller and a domain client, each in its own namespaces.

Two sets of Linux namespaces (mount, UTS, network, PID), made with `unshare`, joined by a veth
pair: the DC gets 10.213.0.1/24 and the client 10.213.0.2/24, and no other network. Each has its
own hostname and private copies of /etc and /var (overlayfs whose upper layers live in a temporary
folder) and a private tmpfs on /run, so nothing the DC, the join script, sssd or realmd writes ever
reaches the host's own /etc or /var. Killing the PID-namespace init of each side ends every process
started inside it, which is how `stop()` and the stale-run cleanup tear down.

Usage (root only)::

    from tests.ad.harness import SambaDomain

    with SambaDomain() as ad:
        ad.run_in_client(["bash", "scripts/linux/join.sh"], env={...})
        ad.run_in_dc(["samba-tool", "computer", "list"])

`python -m tests.ad.harness` starts a domain, prints its facts as JSON and waits for Ctrl-C.
See docs/real-ad.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

STATE_ROOT = Path(tempfile.gettempdir()) / "adjoin-ad-harness"
NS_MARKER = "adjoin-ad-harness-holder"
# Executed as PID 1 of each namespace set: private /etc, /var, /run, own hostname, lo up.
HOLDER_SCRIPT = r"""
set -euo pipefail
state=$1 host=$2
for d in etc var; do
  mkdir -p "$state/$d-up" "$state/$d-work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$state/$d-up,workdir=$state/$d-work" "/$d"
done
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/dbus /run/samba /run/lock /run/sshd
hostname "$host"
echo "$host" > /etc/hostname
ip link set lo up
touch "$state/ready"
# PID 1 of the namespace: reap orphans until killed from outside.
trap '' TERM INT
while :; do sleep 3600 & wait $! || true; done
"""
# The same for a namespace rooted in another tree (a debootstrap tree of another release): an
# overlay of the whole tree (the tree itself stays clean for the next run), its own /proc, the
# host's /dev, a tmpfs on /run, the given host folders bound read-only at the same paths (the
# repository, so the join script is at the path the tests know), then PID 1 chroots into it.
ROOTED_HOLDER_SCRIPT = r"""
set -euo pipefail
state=$1 host=$2 lower=$3
shift 3
root=$state/root
up=$state/root-up work=$state/root-work
mkdir -p "$up" "$work" "$root"
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$up,workdir=$work" "$root"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mkdir -p "$root/run/lock"
for dir in "$@"; do
  mkdir -p "$root$dir"
  mount --bind "$dir" "$root$dir"
  mount -o remount,bind,ro "$root$dir"
done
hostname "$host"
echo "$host" > "$root/etc/hostname"
ip link set lo up
touch "$state/ready"
# PID 1 of the namespace, in the tree: reap orphans until killed from outside.
exec chroot "$root" /bin/bash -c \
  'trap "" TERM INT; while :; do sleep 3600 & wait $! || true; done' adjoin-ad-harness-holder
"""


# Run by the system python3 (Samba's bindings) in the DC namespace; JSON request on stdin.
POPULATE_SCRIPT = r"""
import json, sys
from samba.auth import system_session
from samba.dcerpc import security
from samba.ndr import ndr_unpack
from samba.param import LoadParm
from samba.samdb import SamDB

req = json.load(sys.stdin)
lp = LoadParm()
lp.load(req["smb_conf"])
db = SamDB(url=req["sam"], session_info=system_session(), lp=lp)
for ou in req["ous"]:
    db.create_ou(ou)
for user, password in req["users"].items():
    db.newuser(user, password)
for group, members in req["groups"].items():
    db.newgroup(group)
    db.add_remove_group_members(group, members, add_members_operation=True)
# Accounts the join user must not be, for the error proofs (tests/ad/test_directory_errors.py):
# disabled, expired, "must change password at next logon", and one with a lockout policy of its
# own (a password settings object) so two bad passwords lock it.
bad = req["bad_users"]
password = req["bad_password"]
db.newuser(bad["disabled"], password)
db.disable_account("(sAMAccountName=%s)" % bad["disabled"])
db.newuser(bad["expired"], password)
db.setexpiry("(sAMAccountName=%s)" % bad["expired"], 0)
db.newuser(bad["must_change"], password, force_password_change_at_next_login_req=True)
db.newuser(bad["locked"], password)
minutes30 = str(-30 * 60 * 10**7)
db.add({
    "dn": "CN=adjoin-lockout,CN=Password Settings Container,CN=System," + str(db.domain_dn()),
    "objectClass": "msDS-PasswordSettings",
    "msDS-PasswordSettingsPrecedence": "1",
    "msDS-PasswordReversibleEncryptionEnabled": "FALSE",
    "msDS-PasswordHistoryLength": "0",
    "msDS-PasswordComplexityEnabled": "FALSE",
    "msDS-MinimumPasswordLength": "1",
    "msDS-MinimumPasswordAge": "0",
    "msDS-MaximumPasswordAge": str(-42 * 86400 * 10**7),
    "msDS-LockoutThreshold": "2",
    "msDS-LockoutObservationWindow": minutes30,
    "msDS-LockoutDuration": minutes30,
    "msDS-PSOAppliesTo": "CN=%s,CN=Users,%s" % (bad["locked"], db.domain_dn()),
})
res = db.search(db.domain_dn(), expression="(sAMAccountName=%s)" % req["sid_of"],
                attrs=["objectSid"])
print(ndr_unpack(security.dom_sid, res[0]["objectSid"][0]))
"""


class HarnessError(RuntimeError):
    """The harness could not start or drive the namespaces."""


def _strong_password(prefix: str) -> str:
    # Samba's default policy: 7+ characters from 3 of 4 classes.
    return f"{prefix}-{secrets.token_urlsafe(12)}-9aZ"


@dataclass
class Namespace:
    """One set of namespaces: the `unshare` process on the host and its PID-1 child."""

    name: str
    hostname: str
    state_dir: Path
    #: a tree to root the namespace in (an overlay of it), instead of the host's own /
    root: Path | None = None
    #: host folders visible read-only at the same paths inside a rooted namespace
    binds: tuple[Path, ...] = ()
    unshare: subprocess.Popen[bytes] | None = None
    init_pid: int = 0

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        holder = [HOLDER_SCRIPT, NS_MARKER, str(self.state_dir), self.hostname]
        if self.root is not None:
            holder = [ROOTED_HOLDER_SCRIPT, NS_MARKER, str(self.state_dir), self.hostname]
            holder += [str(self.root), *(str(b) for b in self.binds)]
        self.unshare = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--uts",
                "--net",
                "--pid",
                "--fork",
                "--mount-proc",
                "--propagation",
                "private",
                "bash",
                "-c",
                *holder,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(self.state_dir / "unshare.log").open("ab"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while not (self.state_dir / "ready").exists():
            if self.unshare.poll() is not None or time.monotonic() > deadline:
                raise HarnessError(f"namespace {self.name} did not start")
            time.sleep(0.05)
        children = Path(f"/proc/{self.unshare.pid}/task/{self.unshare.pid}/children")
        self.init_pid = int(children.read_text().split()[0])
        (self.state_dir / "init.pid").write_text(str(self.init_pid))

    def nsenter(self, cmd: Sequence[str]) -> list[str]:
        rooted = ["-r", "-w"] if self.root is not None else []  # PID 1's root and directory
        return ["nsenter", "-t", str(self.init_pid), "-m", "-u", "-n", "-p", *rooted, "--", *cmd]

    def run(
        self,
        cmd: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        check: bool = True,
        timeout: float = 120,
        cwd: str | Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        full_env["LANG"] = "C.UTF-8"
        full_env.update(env or {})
        proc = subprocess.run(
            self.nsenter(cmd),
            env=full_env,
            input=input,
            capture_output=True,
            text=True,
            errors="backslashreplace",
            timeout=timeout,
            check=False,
            cwd=cwd,
        )
        if check and proc.returncode != 0:
            raise HarnessError(
                f"[{self.name}] {' '.join(cmd)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def popen(self, cmd: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                self.nsenter(cmd), stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )

    def pids(self) -> list[int]:
        """Host PIDs of every process inside this namespace set (for measurements)."""
        if not self.init_pid:
            return []
        try:
            target = os.readlink(f"/proc/{self.init_pid}/ns/pid")
        except OSError:
            return []
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry}/ns/pid") == target:
                        found.append(int(entry))
        return found

    def stop(self) -> None:
        if self.init_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.init_pid, signal.SIGKILL)
        if self.unshare is not None:
            try:
                self.unshare.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.unshare.kill()
                self.unshare.wait(timeout=5)


def process_identity(pid: int) -> str:
    """`<pid> <start time>`: tells a live owner from a later process that reused its PID."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    start_time = stat.rsplit(")", 1)[1].split()[19]  # field 22 of proc(5)
    return f"{pid} {start_time}"


def _owner_alive(recorded: str) -> bool:
    try:
        pid = int(recorded.split(maxsplit=1)[0])
    except (IndexError, ValueError):
        return False
    return bool(recorded.strip()) and process_identity(pid) == recorded.strip()


def cleanup_stale_runs(root: Path = STATE_ROOT) -> list[str]:
    """Kill the namespaces of earlier runs whose owner process is gone; remove their folders."""
    removed: list[str] = []
    if not root.is_dir():
        return removed
    for run_dir in root.iterdir():
        try:
            owner = (run_dir / "owner.pid").read_text()
        except OSError:
            owner = ""
        if _owner_alive(owner):
            continue  # a live harness owns it: this process's own, or another (the demo)
        for init_file in run_dir.glob("*/init.pid"):
            with contextlib.suppress(OSError, ValueError):
                pid = int(init_file.read_text())
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if NS_MARKER.encode() in cmdline:
                    os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        shutil.rmtree(run_dir, ignore_errors=True)
        removed.append(run_dir.name)
    return removed


@dataclass
class ExtraDc:
    """Another domain controller of the domain (SambaDomain.add_dc), in its own namespaces."""

    ns: Namespace
    hostname: str
    fqdn: str
    ip: str
    samba_dir: Path
    samba: subprocess.Popen[bytes] | None = None

    def ldb(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """ldbsearch & co. on this DC's own sam.ldb: what *this* DC holds."""
        tool, *rest = args
        return self.ns.run(
            [tool, "-H", str(self.samba_dir / "private" / "sam.ldb"), *rest], check=check
        )


@dataclass
class SambaDomain:
    """A Samba AD DC in one namespace set and a client in another. Use as a context manager."""

    realm: str = "AD.EXAMPLE.TEST"
    netbios_domain: str = "ADEXAMPLE"
    dc_hostname: str = "dc1"
    client_hostname: str = "client0"
    dc_ip: str = "10.213.0.1"
    client_ip: str = "10.213.0.2"
    prefix_len: int = 24
    computers_ou_name: str = "EC2 Computers"
    other_ou_name: str = "Servers"
    group_name: str = "EC2 Linux Users"
    join_user: str = "svc-adjoin"
    member_user: str = "alice"
    non_member_user: str = "bob"
    #: users that cannot bind, by why: disabled, expired, must_change (password), locked
    bad_users: dict[str, str] = field(
        default_factory=lambda: {
            "disabled": "u-disabled",
            "expired": "u-expired",
            "must_change": "u-mustchange",
            "locked": "u-locked",
        }
    )
    #: the adSudoGroupName group, with one member who is in no other group
    sudo_group_name: str = "EC2 Linux Admins"
    sudo_user: str = "carol"
    admin_password: str = field(default_factory=lambda: _strong_password("Adm"), repr=False)
    join_password: str = field(default_factory=lambda: _strong_password("Join"), repr=False)
    user_password: str = field(default_factory=lambda: _strong_password("User"), repr=False)
    run_dir: Path = field(init=False)
    dc: Namespace = field(init=False)
    client: Namespace = field(init=False)
    timings: dict[str, float] = field(default_factory=dict)
    clients: list[Namespace] = field(default_factory=list, init=False)
    #: further domain controllers (add_dc), each in its own namespace set
    dcs: list[ExtraDc] = field(default_factory=list, init=False)
    #: highest sum of resident memory of every process in the namespaces, sampled every 0.25 s
    peak_rss_bytes: int = field(default=0, init=False)
    #: the same as proportional set size: shared pages counted once (the honest total)
    peak_pss_bytes: int = field(default=0, init=False)
    _samba: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _stop_sampling: threading.Event = field(default_factory=threading.Event, init=False)
    _sampler: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self._sampler = threading.Thread(target=self._sample, name="ad-rss", daemon=True)

    # ---- facts --------------------------------------------------------------------------
    @property
    def domain(self) -> str:
        """DNS name of the domain (lower case)."""
        return self.realm.lower()

    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={part}" for part in self.domain.split("."))

    @property
    def computers_ou(self) -> str:
        return f"OU={self.computers_ou_name},{self.base_dn}"

    @property
    def web_ou(self) -> str:
        """An OU below the computers OU (the join user's rights are inherited there)."""
        return f"OU=Web,{self.computers_ou}"

    @property
    def other_ou(self) -> str:
        return f"OU={self.other_ou_name},{self.base_dn}"

    @property
    def dc_fqdn(self) -> str:
        return f"{self.dc_hostname}.{self.domain}"

    @property
    def samba_dir(self) -> Path:
        return self.run_dir / "samba"

    @property
    def ca_cert_pem(self) -> str:
        return (self.samba_dir / "tls" / "ca.pem").read_text()

    @property
    def join_principal(self) -> str:
        return f"{self.join_user}@{self.domain}"

    def facts(self) -> dict[str, str]:
        """Everything a caller needs to use the domain (includes the test passwords)."""
        return {
            "dc_ip": self.dc_ip,
            "dc_fqdn": self.dc_fqdn,
            "client_ip": self.client_ip,
            "realm": self.realm,
            "domain": self.domain,
            "netbios_domain": self.netbios_domain,
            "base_dn": self.base_dn,
            "computers_ou": self.computers_ou,
            "group_name": self.group_name,
            "join_user": self.join_principal,
            "join_password": self.join_password,
            "admin_user": f"Administrator@{self.domain}",
            "admin_password": self.admin_password,
            "member_user": self.member_user,
            "non_member_user": self.non_member_user,
            "sudo_group_name": self.sudo_group_name,
            "sudo_user": self.sudo_user,
            "user_password": self.user_password,
            "ca_cert_path": str(self.samba_dir / "tls" / "ca.pem"),
            "run_dir": str(self.run_dir),
        }

    # ---- helpers ------------------------------------------------------------------------
    def run_in_dc(self, cmd: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return self.dc.run(cmd, **kwargs)  # type: ignore[arg-type]

    def run_in_client(
        self, cmd: Sequence[str], **kwargs: object
    ) -> subprocess.CompletedProcess[str]:
        return self.client.run(cmd, **kwargs)  # type: ignore[arg-type]

    def samba_tool(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.dc.run(
            ["samba-tool", *args, "-s", str(self.samba_dir / "etc" / "smb.conf")], check=check
        )

    def ldb(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """ldbsearch & co. directly on the DC's sam.ldb (no network, no credentials)."""
        tool, *rest = args
        return self.dc.run(
            [tool, "-H", str(self.samba_dir / "private" / "sam.ldb"), *rest], check=check
        )

    def computer_dn(self, name: str) -> str | None:
        """DN of the computer NAME$ anywhere in the domain (ldbsearch's default scope: sub)."""
        out = self.ldb("ldbsearch", f"(sAMAccountName={name}$)", "dn", "-b", self.base_dn).stdout
        for line in out.splitlines():
            if line.startswith("dn: "):
                return line[4:]
        return None

    def computer_exists(self, name: str) -> bool:
        return self.computer_dn(name) is not None

    def process_pids(self) -> list[int]:
        pids = self.dc.pids()
        for ns in [*self.clients, *(dc.ns for dc in self.dcs)]:
            pids += ns.pids()
        return pids

    # ---- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> SambaDomain:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if os.geteuid() != 0:
            raise HarnessError("the Samba AD harness needs root (network and mount namespaces)")
        for tool in ("unshare", "nsenter", "ip", "samba", "samba-tool", "openssl", "ldbsearch"):
            if shutil.which(tool) is None:
                raise HarnessError(f"{tool} is missing: run `make deps-ad`")
        cleanup_stale_runs()
        STATE_ROOT.mkdir(parents=True, exist_ok=True)
        self.run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=STATE_ROOT))
        (self.run_dir / "owner.pid").write_text(process_identity(os.getpid()))
        self.dc = Namespace("dc", self.dc_hostname, self.run_dir / "ns-dc")
        try:
            t0 = time.monotonic()
            self.dc.start()
            self._configure_dc_network()
            self.client = self.add_client(self.client_hostname)
            self._sampler.start()
            self.timings["namespaces"] = time.monotonic() - t0
            t0 = time.monotonic()
            self._provision()
            self.timings["provision"] = time.monotonic() - t0
            t0 = time.monotonic()
            self._start_samba()
            self.timings["start_samba"] = time.monotonic() - t0
            t0 = time.monotonic()
            self._populate()
            self.timings["populate"] = time.monotonic() - t0
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self._stop_sampling.set()
        extra = [dc.ns for dc in reversed(self.dcs)]
        for ns in [*reversed(self.clients), *extra, getattr(self, "dc", None)]:
            if ns is not None:
                ns.stop()
        if self._samba is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._samba.wait(timeout=10)
        if getattr(self, "run_dir", None) is not None and not os.environ.get("ADJOIN_AD_KEEP"):
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def add_dc(self, hostname: str = "dc2") -> ExtraDc:
        """Join a second Samba DC to the domain (`samba-tool domain join ... DC`) in its own
        namespace set, on its own veth to the first DC's namespace (10.213.250.0/24, the first
        DC's namespace routing between it and the clients), with a certificate from the run's
        CA, and start it. Replication from the first DC is its own (DRS); see drs()."""
        index = 250 - len(self.dcs)
        fqdn = f"{hostname}.{self.domain}"
        ip, gateway = f"10.213.{index}.2", f"10.213.{index}.1"
        t0 = time.monotonic()
        ns = Namespace(hostname, hostname, self.run_dir / f"ns-{hostname}")
        extra = ExtraDc(ns, hostname, fqdn, ip, self.run_dir / f"samba-{hostname}")
        self.dcs.append(extra)
        ns.start()
        suffix = secrets.token_hex(3)
        near, far = f"adjd{suffix}", f"adje{suffix}"
        subprocess.run(["ip", "link", "add", near, "type", "veth", "peer", "name", far], check=True)
        try:
            subprocess.run(["ip", "link", "set", near, "netns", str(self.dc.init_pid)], check=True)
            subprocess.run(["ip", "link", "set", far, "netns", str(ns.init_pid)], check=True)
        except subprocess.CalledProcessError:
            subprocess.run(["ip", "link", "del", near], check=False)
            raise
        self.dc.run(["ip", "addr", "add", f"{gateway}/24", "dev", near])
        self.dc.run(["ip", "link", "set", near, "up"])
        # the first DC's namespace routes between the clients and this DC (its own sysctl)
        self.dc.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        ns.run(["ip", "addr", "add", f"{ip}/24", "dev", far])
        ns.run(["ip", "link", "set", far, "up"])
        ns.run(["ip", "route", "add", "default", "via", gateway])
        # the first client shares the first DC's /24 and has no default route: give it one
        self.client.run(["ip", "route", "replace", f"10.213.{index}.0/24", "via", self.dc_ip])
        hosts = f"127.0.0.1 localhost\n{ip} {fqdn} {hostname}\n"
        ns.run(["sh", "-c", 'printf "%s" "$1" > /etc/hosts', "sh", hosts])
        ns.run(["sh", "-c", f"echo 'nameserver {self.dc_ip}' > /etc/resolv.conf"])
        ns.run(["cp", str(self.samba_dir / "private" / "krb5.conf"), "/etc/krb5.conf"])
        tls = extra.samba_dir / "tls"
        self._make_dc_cert(tls, fqdn, ip)
        shutil.copy(self.samba_dir / "tls" / "ca.pem", tls / "ca.pem")
        ns.run(
            [
                "samba-tool",
                "domain",
                "join",
                self.domain,
                "DC",
                f"--server={self.dc_fqdn}",
                "-U",
                "Administrator",
                "--dns-backend=SAMBA_INTERNAL",
                f"--targetdir={extra.samba_dir}",
                *self._dc_options(f"{ip}/24", tls),
            ],
            env={"PASSWD": self.admin_password},  # samba's credentials read it: not in argv
            timeout=600,
        )
        self.timings[f"join_{hostname}"] = time.monotonic() - t0
        t0 = time.monotonic()
        # A DC that replicates with another one is a Kerberos and RPC client of it: with the
        # single process model (-M single) that client call blocks the same process's own KDC
        # and DNS server, and everything waits for its timeouts. Both DCs therefore run with
        # one process per service (-M standard); the first one is restarted so.
        self._stop_samba()
        self._start_samba("standard")
        smb_conf = extra.samba_dir / "etc" / "smb.conf"
        extra.samba = ns.popen(
            ["samba", "-i", "-M", "standard", "--debug-stdout", "-s", str(smb_conf)],
            self.run_dir / f"samba-{hostname}.log",
        )
        self._wait_for_ports(extra.samba, ip, self.run_dir / f"samba-{hostname}.log", self.dc)
        self.timings[f"start_{hostname}"] = time.monotonic() - t0
        return extra

    def drs(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`samba-tool drs ARGS` as the domain administrator (the password in PASSWD, not in
        argv), from the first DC's namespace: it reaches every DC."""
        return self.dc.run(
            ["samba-tool", "drs", *args, "-U", "Administrator"],
            env={"PASSWD": self.admin_password},
            check=check,
            timeout=120,
        )

    def add_client(
        self, hostname: str, *, root: Path | None = None, binds: tuple[Path, ...] = ()
    ) -> Namespace:
        """Another domain client (a fresh "instance") on its own /24: 10.213.<n>.2, where n
        counts clients from 0, routed through the DC namespace (10.213.<n>.1). With `root`,
        the client runs in that tree (another release, tests/ad/debian_tree.py) instead of
        the host's own, with `binds` (host folders) visible read-only at the same paths."""
        index = len(self.clients)
        if index > 200:
            raise HarnessError("too many clients")
        client = Namespace(
            f"client{index}", hostname, self.run_dir / f"ns-client{index}", root=root, binds=binds
        )
        self.clients.append(client)
        client.start()
        suffix = secrets.token_hex(3)
        dc_if, client_if = f"adjd{suffix}", f"adjc{suffix}"
        subprocess.run(
            ["ip", "link", "add", dc_if, "type", "veth", "peer", "name", client_if], check=True
        )
        try:
            subprocess.run(["ip", "link", "set", dc_if, "netns", str(self.dc.init_pid)], check=True)
            subprocess.run(
                ["ip", "link", "set", client_if, "netns", str(client.init_pid)], check=True
            )
        except subprocess.CalledProcessError:
            subprocess.run(["ip", "link", "del", dc_if], check=False)
            raise
        if index == 0:
            dc_side, client_ip = f"{self.dc_ip}/{self.prefix_len}", self.client_ip
        else:
            dc_side, client_ip = f"10.213.{index}.1/24", f"10.213.{index}.2"
        self.dc.run(["ip", "addr", "add", dc_side, "dev", dc_if])
        self.dc.run(["ip", "link", "set", dc_if, "up"])
        client.run(["ip", "addr", "add", f"{client_ip}/24", "dev", client_if])
        client.run(["ip", "link", "set", client_if, "up"])
        if index:
            client.run(["ip", "route", "add", "default", "via", dc_side.split("/")[0]])
        # A fresh instance: only localhost known, no AD DNS yet (the join script sets the DNS
        # servers from SSM_dnsIP1/2); nothing listens on 127.0.0.1:53.
        client.run(["sh", "-c", "echo '127.0.0.1 localhost' > /etc/hosts"])
        client.run(["sh", "-c", "echo 'nameserver 127.0.0.1' > /etc/resolv.conf"])
        return client

    def _configure_dc_network(self) -> None:
        hosts = f"127.0.0.1 localhost\n{self.dc_ip} {self.dc_fqdn} {self.dc_hostname}\n"
        self.dc.run(["sh", "-c", 'printf "%s" "$1" > /etc/hosts', "sh", hosts])
        self.dc.run(["sh", "-c", f"echo 'nameserver {self.dc_ip}' > /etc/resolv.conf"])
        self.dc.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"])

    def _sample(self) -> None:
        while True:
            rss = pss = 0
            for pid in self.process_pids():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                        if line.startswith("Rss:"):
                            rss += int(line.split()[1]) * 1024
                        elif line.startswith("Pss:"):
                            pss += int(line.split()[1]) * 1024
            self.peak_rss_bytes = max(self.peak_rss_bytes, rss)
            self.peak_pss_bytes = max(self.peak_pss_bytes, pss)
            if self._stop_sampling.wait(0.25):
                return

    def _make_tls(self) -> None:
        """A CA and the first DC's certificate (Samba's self-generated one has no SAN)."""
        tls = self.samba_dir / "tls"
        tls.mkdir(parents=True)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        ca = ["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2"]
        subprocess.run(
            ["openssl", *ca, "-subj", "/CN=adjoin-test-CA"],
            check=True,
            capture_output=True,
            cwd=tls,
        )
        self._make_dc_cert(tls, self.dc_fqdn, self.dc_ip)

    def _make_dc_cert(self, folder: Path, fqdn: str, ip: str) -> None:
        """key.pem and cert.pem in FOLDER for a DC: DNS SANs (its name, the domain) and its IP,
        signed by the run's CA."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "san.cnf").write_text(
            "[ext]\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
            f"subjectAltName=DNS:{fqdn},DNS:{self.domain},IP:{ip}\n"
        )
        ca = self.samba_dir / "tls"
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        steps = [
            ["req", *ec, "-keyout", "key.pem", "-out", "dc.csr", "-subj", f"/CN={fqdn}"],
            [
                "x509",
                "-req",
                "-in",
                "dc.csr",
                "-CA",
                str(ca / "ca.pem"),
                "-CAkey",
                str(ca / "ca.key"),
                "-CAcreateserial",
                "-CAserial",
                str(ca / "ca.srl"),
                "-out",
                "cert.pem",
                "-days",
                "2",
                "-extfile",
                "san.cnf",
                "-extensions",
                "ext",
            ],
        ]
        for step in steps:
            subprocess.run(["openssl", *step], check=True, capture_output=True, cwd=folder)
        (folder / "key.pem").chmod(0o600)

    @staticmethod
    def _dc_options(address: str, tls: Path) -> list[str]:
        """smb.conf options of every DC: bound to its own address only, so UDP answers (DNS,
        CLDAP) to clients on the other subnets come from the address they asked; no DNS
        forwarder; the certificate from the run's CA."""
        return [
            f"--option=interfaces=lo {address}",
            "--option=bind interfaces only=yes",
            "--option=dns forwarder=",
            f"--option=tls keyfile={tls / 'key.pem'}",
            f"--option=tls certfile={tls / 'cert.pem'}",
            f"--option=tls cafile={tls / 'ca.pem'}",
            "--option=log level=1",
        ]

    def _provision(self) -> None:
        self._make_tls()
        tls = self.samba_dir / "tls"
        self.dc.run(
            [
                "samba-tool",
                "domain",
                "provision",
                f"--realm={self.realm}",
                f"--domain={self.netbios_domain}",
                "--server-role=dc",
                "--use-rfc2307",
                "--dns-backend=SAMBA_INTERNAL",
                f"--adminpass={self.admin_password}",
                f"--host-ip={self.dc_ip}",
                f"--host-name={self.dc_hostname}",
                f"--targetdir={self.samba_dir}",
                *self._dc_options(f"{self.dc_ip}/{self.prefix_len}", tls),
            ],
            timeout=300,
        )
        # The DC's own Kerberos client configuration (inside its private /etc).
        self.dc.run(["cp", str(self.samba_dir / "private" / "krb5.conf"), "/etc/krb5.conf"])

    def _start_samba(self, model: str = "single") -> None:
        smb_conf = self.samba_dir / "etc" / "smb.conf"
        self._samba = self.dc.popen(
            ["samba", "-i", "-M", model, "--debug-stdout", "-s", str(smb_conf)],
            self.run_dir / "samba.log",
        )
        self._wait_for_ports(self._samba, self.dc_ip, self.run_dir / "samba.log", self.client)

    def _stop_samba(self) -> None:
        """Stop the first DC's samba by its PID (in the DC's own PID namespace) and wait."""
        pid = self.dc.run(["cat", "/run/samba/samba.pid"]).stdout.strip()
        self.dc.run(["kill", "-TERM", pid])
        if self._samba is not None:
            self._samba.wait(timeout=60)
        for _ in range(100):  # the pid file goes when samba has finished
            if self.dc.run(["kill", "-0", pid], check=False).returncode != 0:
                return
            time.sleep(0.1)
        raise HarnessError("samba of the first DC did not stop")

    def _wait_for_ports(
        self, samba: subprocess.Popen[bytes], ip: str, log: Path, where: Namespace
    ) -> None:
        """Until the DC at IP answers LDAP, LDAPS, Kerberos and DNS (asked from WHERE)."""
        deadline = time.monotonic() + 60
        probe = (
            "import socket,sys\n"
            "for p in (389, 636, 88, 53):\n"
            "    socket.create_connection((sys.argv[1], p), 1).close()\n"
        )
        while True:
            if samba.poll() is not None:
                raise HarnessError(f"samba exited; see {log}")
            ok = where.run([sys.executable, "-c", probe, ip], check=False, timeout=10)
            if ok.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise HarnessError(f"samba at {ip} did not open LDAP/LDAPS/Kerberos/DNS in 60 s")
            time.sleep(0.3)

    def _populate(self) -> None:
        # OUs, users, group: one run of Samba's own Python API on the local sam.ldb (a process
        # per samba-tool call costs about a second each); passwords travel on stdin.
        request = {
            "smb_conf": str(self.samba_dir / "etc" / "smb.conf"),
            "sam": str(self.samba_dir / "private" / "sam.ldb"),
            "ous": [self.computers_ou, self.web_ou, self.other_ou],
            "users": {
                self.join_user: self.join_password,
                self.member_user: self.user_password,
                self.non_member_user: self.user_password,
                self.sudo_user: self.user_password,
            },
            "groups": {
                self.group_name: [self.member_user],
                self.sudo_group_name: [self.sudo_user],
            },
            "sid_of": self.join_user,
            "bad_users": self.bad_users,
            "bad_password": self.user_password,
        }
        sid = self.dc.run(
            ["/usr/bin/python3", "-c", POPULATE_SCRIPT], input=json.dumps(request)
        ).stdout.strip()
        self.delegate_computers(sid, self.computers_ou)

    def delegate_computers(self, sid: str, container: str) -> None:
        """Least privilege for a join user (SID) on one container: create and delete computer
        objects; on the computer objects below it: read/write properties, reset the password,
        delete the object and its subtree (tree delete), list children."""
        computer = "bf967a86-0de6-11d0-a285-00aa003049e2"  # schemaIDGUID of class computer
        reset_password = "00299570-246d-11d0-a768-00aa006e0529"  # User-Force-Change-Password
        aces = (
            f"(OA;CI;CCDC;{computer};;{sid})"
            f"(OA;CIIO;RPWPLCSDDT;;{computer};{sid})"
            f"(OA;CIIO;CR;{reset_password};{computer};{sid})"
        )
        self.samba_tool("dsacl", "set", f"--objectdn={container}", f"--sddl={aces}")

    def add_join_user(self, name: str, password: str, *containers: str) -> None:
        """Another delegated join user, with the rights of delegate_computers on CONTAINERS."""
        self.samba_tool("user", "create", name, "--random-password")
        self.samba_tool("user", "setpassword", name, f"--newpassword={password}")
        out = self.ldb("ldbsearch", f"(sAMAccountName={name})", "objectSid").stdout
        sid = next(line.split()[1] for line in out.splitlines() if line.startswith("objectSid:"))
        for container in containers:
            self.delegate_computers(sid, container)


def main() -> None:  # pragma: no cover - interactive helper
    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, _stop)  # also when started in the background (SIG_IGN)
    signal.signal(signal.SIGTERM, _stop)
    with SambaDomain() as ad:
        print(json.dumps({**ad.facts(), "timings": ad.timings}, indent=2), flush=True)
        print("domain up; Ctrl-C or SIGTERM to stop", file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()

__all__ = ["ExtraDc", "HarnessError", "Namespace", "SambaDomain", "cleanup_stale_runs"]

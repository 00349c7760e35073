"""A Debian root tree of another release (Debian 13 "trixie"), for a client namespace rooted in it.

Built with `debootstrap --variant=minbase --include=<packages>` from the Debian mirror, once, and
cached outside the repository under /var/cache/adjoin-ad-harness/ (ADJOIN_TREE_CACHE overrides),
keyed by release, mirror and package list: reused when present, rebuilt when any of them
changes. The packages are exactly those join.sh installs on Debian (read from the script, so the
tree proves those names install on that release) plus what the tests drive: pamtester, sudo (the
adSudoGroupName rule), iproute2 (the harness configures the client's veth inside it).
Concurrent builds are serialised with a lock; a build is written beside its final place and
renamed when complete, so a crashed build is never used.

`python -m tests.ad.debian_tree` builds (or finds) the tree and prints what it took.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
JOIN_SCRIPT = REPO_ROOT / "scripts" / "linux" / "join.sh"
CACHE_ROOT = Path(os.environ.get("ADJOIN_TREE_CACHE", "/var/cache/adjoin-ad-harness"))
MIRROR = os.environ.get("ADJOIN_DEBIAN_MIRROR", "http://deb.debian.org/debian")
#: what the tests themselves drive inside the tree
TEST_PACKAGES = ("pamtester", "sudo", "iproute2")
#: bumped when the way the tree is built changes (part of the cache key)
LAYOUT = 1


class TreeError(RuntimeError):
    """The tree could not be built."""


def script_packages(script: Path = JOIN_SCRIPT) -> tuple[str, ...]:
    """The Debian/Ubuntu package list of join.sh (its apt branch of install_packages)."""
    match = re.search(r"if \[\[ \$PKG == apt \]\]; then\n\s+wanted=\(([^)]*)\)", script.read_text())
    if match is None:
        raise TreeError(f"no apt package list found in {script}")
    return tuple(match.group(1).split())


@dataclass(frozen=True)
class Tree:
    release: str
    path: Path  # the root of the tree
    built: bool  # False: found in the cache
    seconds: float  # time to build, or to find it
    versions: dict[str, str]


def _key(release: str, packages: tuple[str, ...]) -> str:
    blob = json.dumps(
        {"release": release, "mirror": MIRROR, "packages": sorted(packages), "layout": LAYOUT},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _versions(root: Path, packages: tuple[str, ...]) -> dict[str, str]:
    out = subprocess.run(
        ["chroot", str(root), "dpkg-query", "-W", "-f", "${Package} ${Version}\n", *packages],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if line)


def debian_tree(release: str = "trixie", *, log: bool = True) -> Tree:
    """The cached tree of `release` with join.sh's and the tests' packages, built if missing."""
    packages = tuple(dict.fromkeys((*script_packages(), *TEST_PACKAGES)))
    final = CACHE_ROOT / f"debian-{release}-{_key(release, packages)}"
    started = time.monotonic()
    with _lock(CACHE_ROOT / ".lock"):
        meta = final / "tree.json"
        if meta.is_file():
            info = json.loads(meta.read_text())
            return Tree(
                release, final / "root", False, time.monotonic() - started, info["versions"]
            )
        if shutil.which("debootstrap") is None:
            raise TreeError("debootstrap is missing: run `make deps-ad`")
        work = Path(tempfile.mkdtemp(prefix=f".build-{release}-", dir=CACHE_ROOT))
        try:
            if log:
                print(
                    f"[debian tree] building {release} with {' '.join(packages)} "
                    f"from {MIRROR} into {final}",
                    file=sys.stderr,
                    flush=True,
                )
            proc = subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(packages)}",
                    release,
                    str(work / "root"),
                    MIRROR,
                ],
                capture_output=True,
                text=True,
                check=False,
                timeout=1200,
            )
            if proc.returncode != 0:
                tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
                raise TreeError(f"debootstrap {release} failed ({proc.returncode}):\n{tail}")
            # The downloaded .deb files are dropped: the tree is only read, through overlays.
            for deb in (work / "root" / "var" / "cache" / "apt" / "archives").glob("*.deb"):
                deb.unlink()
            versions = _versions(work / "root", packages)
            seconds = time.monotonic() - started
            (work / "tree.json").write_text(
                json.dumps(
                    {
                        "release": release,
                        "mirror": MIRROR,
                        "packages": list(packages),
                        "versions": versions,
                        "build_seconds": round(seconds, 1),
                    },
                    indent=2,
                )
            )
            work.rename(final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return Tree(release, final / "root", True, seconds, versions)


def main() -> None:  # pragma: no cover - interactive helper
    tree = debian_tree()
    verb = "built" if tree.built else "found"
    print(
        json.dumps(
            {
                "release": tree.release,
                "path": str(tree.path),
                verb: True,
                "seconds": round(tree.seconds, 1),
                "versions": tree.versions,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

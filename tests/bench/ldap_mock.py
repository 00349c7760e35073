"""A counted in-memory directory for the benchmark's `ldap` adapter: ldap3's MOCK_SYNC strategy.

`counted_directory()` replaces the `Server` and `Connection` names that adjoin.directory.ldap
uses with factories that build MOCK_SYNC connections on one shared in-memory tree (ldap3 keeps
the tree on the Server object, so every connection sees the same objects). The adapter's own
code (`_connect`, `_session`, `create_computer`, `delete_computer`) runs unchanged, so the
counts are what the adapter does, whatever part B changes in it. Counted, separately from AWS
calls: connections opened, binds, and each search, add, modify and delete. Every one of those
(a TCP + TLS connection set-up counted as one) waits the injected latency, as one round trip to
a domain controller would; unbind has no response and costs none.

The mock accepts simple binds by DN only: the factory maps the join user's name (a UPN, which
AD accepts) to the DN of the user entry it created. TLS is not simulated.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from ldap3 import MOCK_SYNC, OFFLINE_AD_2012_R2, Connection, Server

from adjoin.directory import ldap as ldap_module
from adjoin.directory.ldap import domain_to_dn

OPERATIONS = ("open", "bind", "search", "add", "modify", "delete")


@dataclass
class LdapCounter:
    """What the adapter asked of the directory."""

    latency: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    server: Any = None
    _seed: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, operation: str) -> None:
        with self._lock:
            self.counts[operation] += 1
        if self.latency:
            time.sleep(self.latency)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {op: self.counts.get(op, 0) for op in OPERATIONS}

    def clear(self) -> None:
        with self._lock:
            self.counts.clear()

    def add_computer(self, name: str, container: str) -> None:
        """Put a computer object in the directory without counting it (what Directory Service
        CreateComputer created in the same domain)."""
        dn = f"CN={name},{container}"
        self._seed.strategy.add_entry(
            dn,
            {
                "objectClass": ["top", "person", "organizationalPerson", "user", "computer"],
                "cn": name,
                "sAMAccountName": f"{name}$",
            },
        )

    def computers(self) -> int:
        """Computer objects in the directory now."""
        dit = self.server.dit if self.server is not None else {}
        return sum(1 for attrs in dit.values() if b"computer" in attrs.get("objectClass", []))


#: ldap3's in-memory tree is not thread-safe; the engine works in threads. Each operation runs
#: under this lock (its latency is waited outside it, so round trips still overlap).
_TREE_LOCK = threading.RLock()


class _CountedConnection(Connection):  # type: ignore[misc]  # ldap3 ships no type hints
    counter: LdapCounter

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        strategy_open = self.open  # ldap3 sets `open` per connection, from its strategy

        def counted_open(read_server_info: bool = True) -> Any:
            self.counter.hit("open")
            with _TREE_LOCK:
                return strategy_open(read_server_info=read_server_info)

        self.open = counted_open


def _counted(operation: str) -> Any:
    def method(self: _CountedConnection, *args: Any, **kwargs: Any) -> Any:
        self.counter.hit(operation)
        with _TREE_LOCK:
            return getattr(Connection, operation)(self, *args, **kwargs)

    method.__name__ = operation
    return method


for _operation in ("bind", "search", "add", "modify", "delete"):
    setattr(_CountedConnection, _operation, _counted(_operation))


@contextmanager
def counted_directory(
    domain: str, user: str, password: str, ous: tuple[str, ...] = ()
) -> Iterator[LdapCounter]:
    """While active, the ldap adapter talks to one counted in-memory directory for DOMAIN,
    where USER (any name form) binds with PASSWORD, with the organizational units OUS (DNs,
    parents first)."""
    counter = LdapCounter()
    base = domain_to_dn(domain)
    user_dn = f"CN=svc-adjoin,CN=Users,{base}"
    server = Server("mock-dc", get_info=OFFLINE_AD_2012_R2)
    counter.server = server
    seed = Connection(server, user=user_dn, password=password, client_strategy=MOCK_SYNC)
    for dn, attrs in (
        (base, {"objectClass": ["top", "domain"]}),
        (f"CN=Users,{base}", {"objectClass": ["top", "container"]}),
        (f"CN=Computers,{base}", {"objectClass": ["top", "container"]}),
        (user_dn, {"objectClass": ["top", "user"], "userPassword": password}),
        *((ou, {"objectClass": ["top", "organizationalUnit"]}) for ou in ous),
    ):
        seed.strategy.add_entry(dn, attrs)
    counter._seed = seed

    class Counted(_CountedConnection):
        pass

    Counted.counter = counter

    def make_server(*_: Any, **__: Any) -> Server:
        return server

    def make_connection(_server: Any, *, user: str = "", password: str = "", **__: Any) -> Any:
        bind_dn = user_dn if user in (user_dn, seed_user) else user
        return Counted(
            server,
            user=bind_dn,
            password=password,
            client_strategy=MOCK_SYNC,
            raise_exceptions=True,
        )

    seed_user = user
    with (
        mock.patch.object(ldap_module, "Server", make_server),
        mock.patch.object(ldap_module, "Connection", make_connection),
    ):
        yield counter

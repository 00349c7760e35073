"""Fault injection inside botocore's retry loop and on the LDAP connection, seeded.

botocore sends every attempt of a call through the `before-send` event (botocore/endpoint.py,
`_do_get_response`): the first handler that returns an `AWSResponse` answers the attempt, and an
exception a handler raises is the attempt's exception. botocore's retry logic (standard mode,
adjoin.sessions.CLIENT_CONFIG) then looks at that answer exactly as at one from the network, so
every fault below is retried, or not, as it would be on AWS.

moto's in-process stub is itself a `before-send` handler, and botocore calls *every* handler of
the event (`emit`, not `emit_until_response`). `HttpFaults` therefore takes moto's place in
botocore's built-in handlers while it is active and calls moto itself, so that it decides whether
a request reaches moto at all:

- pre-send faults: the request never reaches moto; the attempt gets `ThrottlingException` (400),
  `InternalError` (500), `ServiceUnavailable` (503, sometimes with `Retry-After`) or a connection
  error (`EndpointConnectionError`);
- ambiguous faults: moto executes the request (it takes effect) and the answer is replaced by a
  500 `InternalError` or a `ReadTimeoutError`;
- crash faults: `LambdaCrash` (a BaseException: no `except Exception` stops it) at a chosen call
  of the invocation, and at every call after it, from any thread: nothing runs after that point.

A `route` answers what moto lacks (the harness's Directory Service, SSM agents, the domain-join
queue) in place of moto; an `observer` sees every request that took effect with its answer.
Sessions created before `HttpFaults` is active (test set-up, read-back) keep moto's stub and are
never faulted; faults apply only while `armed`.

`FaultyLdapConnection` does the same for the `ldap` adapter, on an ldap3 MOCK_SYNC connection,
per connection: server unreachable (open), bind refused (a transient LDAP result), connection
reset before, or after, a search, add, modify or delete took effect.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.endpoint
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.handlers import BUILTIN_HANDLERS
from ldap3 import Connection
from ldap3.core import exceptions as ldap_exc
from moto.core.botocore_stubber import MockRawResponse
from moto.core.models import botocore_stubber

#: wire protocol per botocore service id (everything else the Lambda calls speaks JSON)
_XML_PROTOCOLS = {"ec2": "ec2", "sts": "query"}
PRE_SEND = ("throttle", "internal", "unavailable", "connection")
AMBIGUOUS = ("ambiguous_500", "ambiguous_timeout")
_THROTTLE_CODES = {"ec2": "RequestLimitExceeded", "sts": "Throttling"}


class LambdaCrash(BaseException):
    """The invocation dies here (timeout, out of memory): nothing after this point runs."""


@dataclass
class FaultMix:
    """How often faults happen: `rate` of all attempts, `ambiguous` of those after the effect."""

    rate: float = 0.30
    ambiguous: float = 0.5
    crash: float = 0.05  # share of invocations that die at a random point
    retry_after: float = 1 / 3  # share of 503 answers that carry Retry-After

    def label(self) -> str:
        return (
            f"{self.rate:.0%} faults on every AWS call and LDAP operation, "
            f"{self.ambiguous:.0%} of them ambiguous; {self.crash:.0%} of invocations crash"
        )


@dataclass
class Stats:
    """What the injectors did, for the report."""

    attempts: Counter[str] = field(default_factory=Counter)  # by service.operation
    faults: Counter[str] = field(default_factory=Counter)  # by kind
    effective: Counter[str] = field(default_factory=Counter)  # took effect, by operation
    crashes: int = 0
    backoff_seconds: float = 0.0  # botocore's retry sleeps, skipped on the simulated clock


def _request_id() -> str:
    return str(uuid.UUID(int=random.getrandbits(128)))


def error_response(
    service: str, url: str, status: int, code: str, headers: dict[str, str] | None = None
) -> AWSResponse:
    """An AWS error answer in the service's own wire format, as botocore parses it."""
    protocol = _XML_PROTOCOLS.get(service, "json")
    message = f"injected {code}"
    if protocol == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
            f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{_request_id()}</RequestID></Response>"
        ).encode()
        content_type = "text/xml"
    elif protocol == "query":
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{_request_id()}</RequestId></ErrorResponse>"
        ).encode()
        content_type = "text/xml"
    else:
        body = json.dumps({"__type": code, "message": message}).encode()
        content_type = "application/x-amz-json-1.0"
    all_headers = {"Content-Type": content_type, "x-amzn-RequestId": _request_id()}
    all_headers.update(headers or {})
    return AWSResponse(url, status, all_headers, MockRawResponse(body))


def json_response(url: str, payload: dict[str, Any], status: int = 200) -> AWSResponse:
    headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": _request_id()}
    return AWSResponse(url, status, headers, MockRawResponse(json.dumps(payload).encode()))


Route = Callable[[str, str, AWSPreparedRequest], AWSResponse | None]
Observer = Callable[[str, str, AWSPreparedRequest, AWSResponse], None]


class HttpFaults:
    """The `before-send` handler that stands in for moto's stub (see the module docstring)."""

    def __init__(self, seed: int, mix: FaultMix, stats: Stats) -> None:
        self.rng = random.Random(f"http-{seed}")
        self.mix = mix
        self.stats = stats
        self.armed = False
        self.routes: list[Route] = []
        self.observers: list[Observer] = []
        self.crash_at: int | None = None  # crash at this call of the invocation (1-based)
        self.crashed = False
        self.calls = 0  # calls (AWS attempts and LDAP operations) of the current invocation
        #: the fault of given AWS attempts (1-based, counted while armed), instead of a draw:
        #: the harness's own tests use it; a None value means no fault
        self.forced: dict[int, str | None] = {}
        self.attempt = 0
        self._lock = threading.Lock()

    # ---- crash points, shared with the LDAP connection ------------------------------------
    def tick(self) -> None:
        """One call of the invocation: raise LambdaCrash at the chosen one and after it."""
        with self._lock:
            if not self.armed:
                return
            self.calls += 1
            if self.crashed or (self.crash_at is not None and self.calls >= self.crash_at):
                if not self.crashed:
                    self.stats.crashes += 1
                self.crashed = True
                raise LambdaCrash(f"invocation died at call {self.calls}")

    def hit(self) -> bool:
        """Whether this attempt (or LDAP connection) gets a fault."""
        with self._lock:
            return self.armed and self.rng.random() < self.mix.rate

    def draw(
        self, before: tuple[str, ...] = PRE_SEND, after: tuple[str, ...] = AMBIGUOUS
    ) -> str | None:
        """None (no fault) or the kind of fault for this attempt: one of `before` (it never
        takes effect) or, for `mix.ambiguous` of the faults, one of `after` (it takes effect,
        its answer is lost)."""
        if not self.hit():
            return None
        with self._lock:
            ambiguous = self.rng.random() < self.mix.ambiguous
            pool = (after if ambiguous else before) or before or after
            kind = pool[self.rng.randrange(len(pool))]
            self.stats.faults[kind] += 1
            return kind

    # ---- the handler ------------------------------------------------------------------------
    def __call__(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> Any:
        _, service, operation = event_name.split(".", 2)
        self.tick()
        if self.armed:
            self.stats.attempts[f"{service}.{operation}"] += 1
            self.attempt += 1
        if self.armed and self.attempt in self.forced:
            kind = self.forced[self.attempt]
            if kind:
                self.stats.faults[kind] += 1
        else:
            kind = self.draw()
        if kind in PRE_SEND:
            return self._pre_send(kind, service, request)
        response = self._execute(service, operation, request, event_name)
        if response is None:
            return None
        if response.status_code < 300:
            if self.armed:
                self.stats.effective[f"{service}.{operation}"] += 1
            for observe in self.observers:
                observe(service, operation, request, response)
        if kind == "ambiguous_500":
            return error_response(service, request.url, 500, "InternalError")
        if kind == "ambiguous_timeout":
            raise ReadTimeoutError(endpoint_url=request.url)
        return response

    def _pre_send(self, kind: str, service: str, request: AWSPreparedRequest) -> AWSResponse:
        if kind == "connection":
            raise EndpointConnectionError(endpoint_url=request.url)
        if kind == "throttle":
            code = _THROTTLE_CODES.get(service, "ThrottlingException")
            return error_response(service, request.url, 400, code)
        if kind == "internal":
            return error_response(service, request.url, 500, "InternalError")
        headers = {}
        with self._lock:
            if self.rng.random() < self.mix.retry_after:
                headers["Retry-After"] = str(self.rng.choice((30, 60, 120)))
        return error_response(service, request.url, 503, "ServiceUnavailable", headers)

    def _execute(
        self, service: str, operation: str, request: AWSPreparedRequest, event_name: str
    ) -> AWSResponse | None:
        for route in self.routes:
            answer = route(service, operation, request)
            if answer is not None:
                return answer
        answer = botocore_stubber(event_name=event_name, request=request)
        if answer is not None:
            answer.content  # noqa: B018 - read the body once: observers and botocore share it
        return answer

    # ---- activation -------------------------------------------------------------------------
    @contextmanager
    def installed(self) -> Iterator[HttpFaults]:
        """Take moto's place among botocore's built-in handlers (new sessions get this one), and
        make botocore's retry backoff instant (the harness runs on a simulated clock)."""
        moto_entry = ("before-send", botocore_stubber)
        index = BUILTIN_HANDLERS.index(moto_entry)
        BUILTIN_HANDLERS[index] = ("before-send", self)
        real_time = botocore.endpoint.time
        botocore.endpoint.time = _NoSleep(real_time, self.stats)  # type: ignore[assignment]
        try:
            yield self
        finally:
            botocore.endpoint.time = real_time
            BUILTIN_HANDLERS[BUILTIN_HANDLERS.index(("before-send", self))] = moto_entry


class _NoSleep:
    """Stands in for the `time` module inside botocore.endpoint: retry backoff takes no time."""

    def __init__(self, real: Any, stats: Stats) -> None:
        self._real = real
        self._stats = stats

    def sleep(self, seconds: float) -> None:
        self._stats.backoff_seconds += seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


# ---------------------------------------------------------------------------------------------
# LDAP
# ---------------------------------------------------------------------------------------------


class FaultyLdapConnection(Connection):  # type: ignore[misc]  # ldap3 ships no type hints
    """An ldap3 MOCK_SYNC connection on the harness's shared directory, with faults.

    It is what `adjoin.directory.ldap.Connection(...)` returns while the harness runs: the
    adapter's own code (server order, error mapping, create-or-reset, tree delete) runs
    unchanged on top of it. The mock checks the bind password against the directory.

    One adapter call is one connection (open, bind, then a search and an add, modify or delete),
    so faults are drawn per connection, as they are per attempt for AWS calls: `mix.rate` of
    the connections fail at one of their steps, chosen at random: server unreachable (open),
    bind refused (busy, unavailable), connection reset before the operation or, for `ambiguous`
    of the faults on an add, modify or delete, after it took effect.
    """

    faults: HttpFaults
    _STEPS = 4  # open, bind, and the two operations of a create or a delete

    def _fault(self, writes: bool = False) -> str | None:
        self.faults.tick()
        if not hasattr(self, "_fault_at"):
            self._step = 0
            self._fault_at = -1
            if self.faults.hit():
                self._fault_at = self.faults.rng.randrange(self._STEPS)
        step, self._step = self._step, self._step + 1
        if step != self._fault_at:
            return None
        if step == 0:
            kind = "unreachable"
        elif step == 1:
            kind = self.faults.rng.choice(("bind_busy", "bind_unavailable"))
        elif writes and self.faults.rng.random() < self.faults.mix.ambiguous:
            kind = "reset_after"
        else:
            kind = "reset_before"
        self.faults.stats.faults[kind] += 1
        return kind

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # ldap3 binds `open` to its strategy per instance (Connection.__init__): wrap that one
        self._strategy_open = self.open
        self.open = self._open

    def _open(self, read_server_info: bool = True) -> Any:
        if self._fault():
            raise ldap_exc.LDAPSocketOpenError("injected: server unreachable")
        return self._strategy_open(read_server_info=False)

    def bind(self, *args: Any, **kwargs: Any) -> Any:
        kind = self._fault()
        if kind == "bind_busy":
            raise ldap_exc.LDAPBusyResult("injected: busy")
        if kind == "bind_unavailable":
            raise ldap_exc.LDAPUnavailableResult("injected: unavailable")
        return super().bind(*args, **kwargs)

    def _operation(self, writes: bool, run: Callable[[], Any]) -> Any:
        kind = self._fault(writes)
        if kind == "reset_before":
            raise ldap_exc.LDAPSocketReceiveError("injected: connection reset")
        result = run()
        if kind == "reset_after":
            raise ldap_exc.LDAPSessionTerminatedByServerError("injected: reset after the change")
        return result

    def search(self, *args: Any, **kwargs: Any) -> Any:
        return self._operation(False, lambda: Connection.search(self, *args, **kwargs))

    def add(self, *args: Any, **kwargs: Any) -> Any:
        return self._operation(True, lambda: Connection.add(self, *args, **kwargs))

    def modify(self, *args: Any, **kwargs: Any) -> Any:
        return self._operation(True, lambda: Connection.modify(self, *args, **kwargs))

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        return self._operation(True, lambda: Connection.delete(self, *args, **kwargs))

"""boto3 sessions and clients per account and Region, cached per container.

Clients are created through boto3 Sessions without `endpoint_url`, so `AWS_ENDPOINT_URL` (the
local emulator) applies to every client. Assumed-role sessions are kept until shortly before
their credentials expire. boto3 sessions are not thread-safe, so creation is serialised with a
lock; the clients themselves are shared across threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

from adjoin.aws import classify

CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    max_pool_connections=64,
    connect_timeout=5,
    read_timeout=30,
)
#: for calls that are not idempotent (SendCommand): botocore would resend after a 5xx or a read
#: timeout, when the first request may have been accepted; the caller decides what to retry.
#: (botocore's `max_attempts` counts the retries only, `total_max_attempts` every attempt:
#: https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html)
NO_RETRY_CONFIG = CLIENT_CONFIG.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))
REFRESH_MARGIN_SECONDS = 300
SESSION_DURATION_SECONDS = 3600


class SessionCache:
    """Hands out clients for (account, Region, service), assuming the account's role when the
    account is not the hub's own."""

    def __init__(
        self,
        hub_account_id: str,
        base_session: boto3.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._hub = hub_account_id
        self._base = base_session or boto3.Session()
        self._clock = clock
        self._lock = threading.RLock()
        self._sessions: dict[str, tuple[float, boto3.Session]] = {}
        self._hub_clients: dict[tuple[str, str, bool], Any] = {}
        self._spoke_clients: dict[tuple[str, str, str, bool], tuple[boto3.Session, Any]] = {}
        self._sts: Any = None

    def hub_client(self, service: str, region: str, retries: bool = True) -> Any:
        """A client of the Lambda's own account; `retries=False`: without botocore's retries."""
        with self._lock:
            key = (region, service, retries)
            if key not in self._hub_clients:
                self._hub_clients[key] = self._base.client(
                    service,
                    region_name=region,
                    config=CLIENT_CONFIG if retries else NO_RETRY_CONFIG,
                )
            return self._hub_clients[key]

    def _session(self, account_id: str, role_arn: str) -> tuple[float, boto3.Session]:
        now = self._clock()
        cached = self._sessions.get(role_arn)
        if cached and cached[0] - REFRESH_MARGIN_SECONDS > now:
            return cached
        if self._sts is None:
            self._sts = self._base.client("sts", config=CLIENT_CONFIG)
        try:
            response = self._sts.assume_role(
                RoleArn=role_arn,
                RoleSessionName=f"ad-join-{account_id}",
                DurationSeconds=SESSION_DURATION_SECONDS,
            )
        except Exception as exc:
            raise classify(exc, f"assume role {role_arn}") from None
        creds = response["Credentials"]
        expiration = creds["Expiration"]
        expires = (
            expiration.timestamp()
            if isinstance(expiration, datetime)
            else now + SESSION_DURATION_SECONDS
        )
        # share the base session's model loader: each service model is parsed once per
        # container, not once per assumed role
        core = botocore.session.Session()
        core.register_component("data_loader", self._base._session.get_component("data_loader"))
        session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            botocore_session=core,
        )
        self._sessions[role_arn] = (expires, session)
        return expires, session

    def client(
        self, service: str, account_id: str, region: str, role_arn: str, retries: bool = True
    ) -> Any:
        """A client in the account: the Lambda's own credentials for the hub account."""
        with self._lock:
            if account_id == self._hub:
                return self.hub_client(service, region, retries)
            _, session = self._session(account_id, role_arn)
            key = (role_arn, region, service, retries)
            cached = self._spoke_clients.get(key)
            if cached is None or cached[0] is not session:  # new credentials: new client
                config = CLIENT_CONFIG if retries else NO_RETRY_CONFIG
                cached = (session, session.client(service, region_name=region, config=config))
                self._spoke_clients[key] = cached
            return cached[1]

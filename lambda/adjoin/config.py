"""The per-account config item: parsing (pure) and a per-container TTL cache."""

from __future__ import annotations

import ipaddress
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adjoin.errors import PermanentError
from adjoin.settings import JOIN_ADAPTERS, LEAVE_ADAPTERS

#: the seed's attributes; all of them are required but `dnsIP2` (a one-DC domain has one)
REQUIRED_FIELDS = (
    "accountId",
    "adJoinUserName",
    "adJoinUserPwParam",
    "dnsName",
    "dnsIP1",
    "assumeRoleARN",
)
LDAP_SECURITY = ("ldaps", "starttls", "seal")
# the join documents' allowedPatterns (modules/spoke-account/ssm.tf): reject bad items early
DOMAIN_RE = re.compile(
    r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
OU_RE = re.compile(r"^[A-Za-z]+=[^\"'\r\n]+$")
ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>[0-9]{12}):role/[\w+=,.@/-]{1,512}$")


class UnknownAccount(PermanentError):
    """No config item exists for the event's account."""

    reason = "unknown_account"


class InvalidConfig(PermanentError):
    """The account's config item lacks required fields or has invalid values."""

    reason = "invalid_config"


@dataclass(frozen=True)
class AccountConfig:
    """One account's item of the config table (seed attributes plus optional extensions)."""

    account_id: str
    join_user_name: str
    join_user_pw_param: str  # the NAME of the SSM parameter or secret, never the password
    dns_name: str
    dns_ip1: str
    dns_ip2: str  # "" when the item has none
    assume_role_arn: str
    directory_id: str | None = None
    computer_ou: str | None = None
    #: OUs an instance's adComputerOU tag may name (with their subtrees), besides computer_ou
    allowed_computer_ous: tuple[str, ...] = ()
    directory_adapter: str | None = None
    leave_adapter: str | None = None
    default_ad_group_name: str | None = None
    ldap_servers: tuple[str, ...] = ()  # empty: discovered from the domain's DNS
    ldap_security: str = "ldaps"
    ldap_ca_cert_param: str | None = None


def _optional(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidConfig(f"config attribute {key} is not a string")
    return value.strip() or None


def _string_list(item: dict[str, Any], key: str) -> tuple[str, ...]:
    """A DynamoDB list or string set of strings (a single string is one value)."""
    value = item.get(key)
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list | set | tuple) or not all(isinstance(v, str) for v in values):
        raise InvalidConfig(f"config attribute {key} is not a list of strings")
    return tuple(sorted({v.strip() for v in values if v.strip()}))


def parse_account_item(account_id: str, item: dict[str, Any]) -> AccountConfig:
    """Validate a config item (plain Python values, as the DynamoDB resource returns them)."""
    missing = [
        key
        for key in REQUIRED_FIELDS
        if not isinstance(item.get(key), str)
        or (key != "assumeRoleARN" and not str(item.get(key)).strip())
    ]
    if missing:
        raise InvalidConfig(
            f"config item of account {account_id} lacks required attributes: {', '.join(missing)}"
        )
    if item["accountId"] != account_id:
        raise InvalidConfig(f"config item accountId does not match {account_id}")
    problems = []
    if not DOMAIN_RE.fullmatch(item["dnsName"].strip()):
        problems.append("dnsName is not a DNS domain name")
    dns_ip2 = _optional(item, "dnsIP2") or ""
    for key, value in (("dnsIP1", item["dnsIP1"].strip()), ("dnsIP2", dns_ip2)):
        try:
            if value or key == "dnsIP1":
                ipaddress.IPv4Address(value)
        except ValueError:
            problems.append(f"{key} is not an IPv4 address")
    role = item["assumeRoleARN"].strip()
    if role:
        match = ROLE_ARN_RE.fullmatch(role)
        if match is None:
            problems.append("assumeRoleARN is not an IAM role ARN")
        elif match["account"] != account_id:
            # the role must be the account's own: another account's role would act there
            problems.append(f"assumeRoleARN names account {match['account']}, not {account_id}")
    ou = _optional(item, "computerOU")
    if ou is not None and not OU_RE.fullmatch(ou):
        problems.append("computerOU is not a distinguished name")
    allowed_ous = _string_list(item, "allowedComputerOUs")
    if any(not OU_RE.fullmatch(allowed) for allowed in allowed_ous):
        problems.append("allowedComputerOUs holds a value that is not a distinguished name")
    if problems:
        raise InvalidConfig(f"config item of account {account_id}: {'; '.join(problems)}")
    directory_adapter = _optional(item, "directoryAdapter")
    if directory_adapter is not None and directory_adapter not in JOIN_ADAPTERS:
        raise InvalidConfig(f"directoryAdapter must be one of {JOIN_ADAPTERS}")
    leave_adapter = _optional(item, "leaveAdapter")
    if leave_adapter is not None and leave_adapter not in LEAVE_ADAPTERS:
        raise InvalidConfig(f"leaveAdapter must be one of {LEAVE_ADAPTERS}")
    security = _optional(item, "ldapSecurity") or "ldaps"
    if security not in LDAP_SECURITY:
        raise InvalidConfig(f"ldapSecurity must be one of {LDAP_SECURITY}")
    servers_raw = _optional(item, "ldapServers")
    servers = tuple(s.strip() for s in (servers_raw or "").split(",") if s.strip())
    return AccountConfig(
        account_id=account_id,
        join_user_name=item["adJoinUserName"].strip(),
        join_user_pw_param=item["adJoinUserPwParam"].strip(),
        dns_name=item["dnsName"].strip(),
        dns_ip1=item["dnsIP1"].strip(),
        dns_ip2=dns_ip2,
        assume_role_arn=item["assumeRoleARN"].strip(),
        directory_id=_optional(item, "directoryId"),
        computer_ou=ou,
        allowed_computer_ous=allowed_ous,
        directory_adapter=directory_adapter,
        leave_adapter=leave_adapter,
        default_ad_group_name=_optional(item, "defaultAdGroupName"),
        ldap_servers=servers,
        ldap_security=security,
        ldap_ca_cert_param=_optional(item, "ldapCaCertParam"),
    )


class ConfigStore:
    """Reads config items through a DynamoDB Table resource, cached per container with a TTL.

    Misses (unknown accounts) are cached too, so a burst for an unknown account costs one read.
    """

    def __init__(
        self, table: Any, ttl_seconds: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._table = table
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()

    def account_ids(self) -> list[str]:
        """Every configured account id, sorted (a paged scan of the keys; not cached)."""
        ids: list[str] = []
        kwargs: dict[str, Any] = {"ProjectionExpression": "accountId"}
        while True:
            page = self._table.scan(**kwargs)
            ids += [str(item["accountId"]) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return sorted(ids)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get(self, account_id: str) -> AccountConfig:
        """The account's config; UnknownAccount / InvalidConfig are permanent errors."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(account_id)
        if cached is None or now - cached[0] >= self._ttl:
            response = self._table.get_item(Key={"accountId": account_id})
            item = response.get("Item")
            cached = (now, item)
            with self._lock:
                self._cache[account_id] = cached
        item = cached[1]
        if item is None:
            raise UnknownAccount(f"no config item for account {account_id}")
        return parse_account_item(account_id, item)

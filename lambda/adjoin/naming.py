"""Deterministic computer names derived from the instance id (docs/contracts.md), and the
id formats the engine checks."""

from __future__ import annotations

import re

MAX_NAME_LENGTH = 15  # NetBIOS limit
_PREFIX_RE = re.compile(r"^[A-Z0-9]{1,4}$")
_INSTANCE_ID_RE = re.compile(r"^i-([0-9a-f]{8}|[0-9a-f]{17})$")
_ACCOUNT_ID_RE = re.compile(r"^\d{12}$")


def validate_prefix(prefix: str) -> str:
    """Return the prefix in upper case, or raise ValueError if it breaks the contract."""
    upper = prefix.upper()
    if not _PREFIX_RE.fullmatch(upper) or upper.isdigit():
        raise ValueError(f"prefix must be 1-4 characters [A-Z0-9], not all digits: {prefix!r}")
    return upper


def is_instance_id(value: str) -> bool:
    """True for an EC2 instance id (`i-` and 8 or 17 lower-case hex digits)."""
    return bool(_INSTANCE_ID_RE.fullmatch(value))


def is_account_id(value: str) -> bool:
    """True for an AWS account id (12 digits)."""
    return bool(_ACCOUNT_ID_RE.fullmatch(value))


def computer_name(instance_id: str, prefix: str = "EC2") -> str:
    """The prefix followed by the last `15 - len(prefix)` hex digits of the id, upper case.

    `i-0123456789abcdef0` -> `EC256789ABCDEF0`. Old 8-digit ids give shorter names.
    """
    upper = validate_prefix(prefix)
    match = _INSTANCE_ID_RE.fullmatch(instance_id)
    if not match:
        raise ValueError(f"not an EC2 instance id: {instance_id!r}")
    digits = match.group(1).upper()
    name = upper + digits[-(MAX_NAME_LENGTH - len(upper)) :]
    if len(name) > MAX_NAME_LENGTH:  # pragma: no cover - guarded by the slice above
        raise ValueError(f"computer name {name!r} exceeds {MAX_NAME_LENGTH} characters")
    return name

"""The owner stamp every computer object this system creates carries (docs/contracts.md).

The stamp is the object's `description`:

    ad-join:v1 instance=i-0123456789abcdef0 account=111122223333 region=eu-west-1

It names the instance, account and Region the object was created for. The reconciler removes
only objects whose description parses as a stamp (`parse` returns None for anything else: an
object an administrator created, or one whose description was edited), so nothing it did not
create is ever deleted. Pure functions: no AWS, no LDAP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from adjoin.naming import is_account_id

PREFIX: Final = "ad-join:v1"
#: the LDAP attribute that holds the stamp (AD's `description`, at most 1024 characters)
ATTRIBUTE: Final = "description"
_INSTANCE_RE: Final = re.compile(r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_REGION_RE: Final = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
_STAMP_RE: Final = re.compile(
    rf"^{re.escape(PREFIX)} instance=(?P<instance>\S+) account=(?P<account>\S+) "
    r"region=(?P<region>\S+)$"
)


class InvalidStamp(ValueError):
    """An owner stamp with an invalid instance id, account id or Region."""


@dataclass(frozen=True, order=True)
class OwnerStamp:
    """Who a computer object belongs to: one instance in one account and Region."""

    instance_id: str
    account_id: str
    region: str

    def __post_init__(self) -> None:
        if not _INSTANCE_RE.fullmatch(self.instance_id):
            raise InvalidStamp(f"invalid instance id {self.instance_id!r}")
        if not is_account_id(self.account_id):
            raise InvalidStamp(f"invalid account id {self.account_id!r}")
        if not _REGION_RE.fullmatch(self.region):
            raise InvalidStamp(f"invalid Region {self.region!r}")

    def format(self) -> str:
        return (
            f"{PREFIX} instance={self.instance_id} account={self.account_id} region={self.region}"
        )


def parse(description: str | None) -> OwnerStamp | None:
    """The stamp in a description, or None when it is not exactly a valid stamp."""
    if not description:
        return None
    match = _STAMP_RE.fullmatch(description.strip())
    if match is None:
        return None
    try:
        return OwnerStamp(match["instance"], match["account"], match["region"])
    except InvalidStamp:
        return None

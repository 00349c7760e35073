"""The directory port: what the engine needs from Active Directory, whatever the adapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from adjoin.ownership import OwnerStamp


@dataclass(frozen=True)
class ComputerAccount:
    """A computer account to pre-create with a one-time password."""

    name: str  # computer name, at most 15 characters, without the trailing "$"
    domain: str  # DNS name of the domain
    ou: str | None  # distinguished name of the OU; None means the default Computers container
    one_time_password: str = field(repr=False)  # never shown by repr()
    owner: OwnerStamp | None = None  # written to `description` (adjoin.ownership)


@dataclass(frozen=True)
class StampedComputer:
    """A computer object that carries an owner stamp (what the reconciler may remove)."""

    name: str  # computer name, upper case, without the trailing "$"
    dn: str
    owner: OwnerStamp
    created: str = ""  # whenCreated, ISO 8601 ("" when the directory did not say)


class DirectoryReader(Protocol):
    """Listing of stamped objects (the `ldap` adapter; `ds` and `ad_tools_host` cannot read)."""

    def stamped_computers(self, ou: str | None) -> list[StampedComputer]:
        """The stamped computer objects under OU (None: the whole domain)."""


class DirectoryPort(Protocol):
    """Pre-creation and removal of computer accounts."""

    def create_computer(self, account: ComputerAccount) -> str | None:
        """Create the computer object, or reset its password to the one-time password if it
        already exists (so a retry is idempotent).

        Returns the host name of the domain controller that holds the new account, so the join
        can use that same controller before the account has replicated to the others; None when
        the adapter cannot tell (Directory Service).
        Raises DirectoryUnavailable (transient) or DirectoryError (permanent).
        """

    def delete_computer(self, name: str, domain: str, ou: str | None) -> bool:
        """Delete the computer object and its children (tree delete).

        Returns True when it was deleted, False when it was already absent.
        """

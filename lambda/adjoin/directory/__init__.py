"""The directory port and its adapters (ds, ldap, ad_tools_host)."""

from adjoin.directory.base import ComputerAccount, DirectoryPort

__all__ = ["ComputerAccount", "DirectoryPort"]

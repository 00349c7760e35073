"""Builds the directory adapter an account uses (`ds`, `ldap`, `ad_tools_host`, `none`).

The `ldap` adapter (adjoin.directory.ldap) is imported lazily, only when an account uses it, so
the engine runs without ldap3 being imported (and before that module exists).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adjoin.aws import SecretReader
from adjoin.config import AccountConfig, InvalidConfig
from adjoin.directory.ad_tools_host import AdToolsHostDirectory
from adjoin.directory.base import DirectoryPort
from adjoin.directory.ds import DirectoryServiceDirectory
from adjoin.settings import Settings


def _load_ldap_class() -> Callable[..., DirectoryPort]:
    from adjoin.directory.ldap import LdapDirectory  # noqa: PLC0415 - lazy: ldap accounts only

    return LdapDirectory  # type: ignore[no-any-return]


class DirectoryFactory:
    """Adapters for one account's config. `hub_client(service, region)` gives hub clients."""

    def __init__(
        self,
        settings: Settings,
        hub_client: Callable[[str, str], Any],
        secrets: SecretReader,
        ldap_class: Callable[[], Callable[..., DirectoryPort]] = _load_ldap_class,
    ) -> None:
        self._settings = settings
        self._hub_client = hub_client
        self._secrets = secrets
        self._ldap_class = ldap_class

    def join_adapter_name(self, config: AccountConfig) -> str:
        return config.directory_adapter or self._settings.directory_adapter

    def leave_adapter_name(self, config: AccountConfig) -> str:
        return config.leave_adapter or self._settings.leave_adapter

    def joiner(self, config: AccountConfig) -> DirectoryPort:
        name = self.join_adapter_name(config)
        if name == "ds":
            directory_id = config.directory_id or self._settings.default_directory_id
            if not directory_id:
                raise InvalidConfig(
                    f"account {config.account_id} uses the ds adapter but its config item has "
                    "no directoryId and the hub has no default directory: set directoryId, or "
                    "the hub module's directory.default_directory_id (DEFAULT_DIRECTORY_ID)"
                )
            client = self._hub_client("ds", self._settings.directory_region)
            return DirectoryServiceDirectory(client, directory_id)
        return self.ldap(config)

    def leaver(self, config: AccountConfig) -> DirectoryPort | None:
        """The removal adapter, or None for `none` (record only)."""
        name = self.leave_adapter_name(config)
        if name == "none":
            return None
        if name == "ldap":
            return self.ldap(config)
        region = self._settings.directory_region
        return AdToolsHostDirectory(
            self._hub_client("ec2", region),
            self._hub_client("ssm", region),
            host_tag=self._settings.ad_tools_host_tag_pair,
            document=self._settings.leave_document,
            join_user_name=config.join_user_name,
            join_user_pw_param=config.join_user_pw_param,
        )

    def ldap(self, config: AccountConfig) -> DirectoryPort:
        """The ldap adapter: the item's ldapServers, else the controllers its DNS names."""
        password = self._secrets.get(config.join_user_pw_param)
        ca_pem = self._secrets.get(config.ldap_ca_cert_param) if config.ldap_ca_cert_param else None
        ldap_directory = self._ldap_class()
        return ldap_directory(
            list(config.ldap_servers),
            config.dns_name,
            config.join_user_name,
            password,
            security=config.ldap_security,
            ca_cert_pem=ca_pem,
            dns_servers=(config.dns_ip1, config.dns_ip2),
        )

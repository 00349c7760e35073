"""Settings from the Lambda environment, exactly as docs/contracts.md lists them."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from adjoin.naming import is_account_id, validate_prefix

JOIN_ADAPTERS = ("ds", "ldap")
LEAVE_ADAPTERS = ("ldap", "ad_tools_host", "none")
#: CompleteLifecycleAction's LifecycleActionResult values
LIFECYCLE_RESULTS = ("CONTINUE", "ABANDON")
_TAG_RE = re.compile(r"^[^=]{1,128}=.{0,256}$")
_PARTITION_RE = re.compile(r"^aws(-[a-z]+)*$")
_DIRECTORY_ID_RE = re.compile(r"^d-[0-9a-f]{10}$")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


class SettingsError(ValueError):
    """A required setting is missing or a setting has an invalid value."""


@dataclass(frozen=True)
class Settings:
    """The engine's configuration (one per container)."""

    config_table_name: str
    state_table_name: str
    hub_account_id: str
    queue_url: str
    dlq_url: str
    directory_region: str
    spoke_role_name: str = "ad-join-spoke"
    linux_join_document: str = "ad-join-linux-join"
    windows_join_document: str = "ad-join-windows-join"
    leave_document: str = "ad-join-leave"
    ad_tools_host_tag: str = "adToolsHost=true"
    directory_adapter: str = "ds"
    leave_adapter: str = "ad_tools_host"
    #: the Directory Service directory of config items without `directoryId` ("" = none)
    default_directory_id: str = ""
    computer_name_prefix: str = "EC2"
    #: tag each joined instance with adComputerName (one CreateTags per instance): opt-in
    tag_computer_name: bool = False
    config_cache_ttl_seconds: int = 60
    #: first retry delay of a transient failure, doubled at each receive (decisions.retry_delay):
    #: short, so an instance whose SSM agent is not online yet is tried again within seconds
    retry_base_seconds: int = 10
    retry_max_seconds: int = 3600
    #: the hub's KMS HMAC key the one-time passwords are derived from (adjoin.passwords); joins
    #: are refused (invalid_config) without it
    otp_key_id: str = ""
    partition: str = "aws"
    #: every Region the hub serves, its own first (the reconciler's fan-out); () = the directory's
    served_regions: tuple[str, ...] = ()
    reconcile_grace_seconds: int = 3600
    reconcile_max_deletions: int = 10
    reconcile_max_deletion_percent: int = 50  # of the objects a run knows; 0 = no share limit
    #: Auto Scaling lifecycle hooks (adjoin.lifecycle): a join command's status reads its state
    #: row back to complete the launch action the join was for (one GetItem per status)
    lifecycle_hooks: bool = False
    #: the result of a launch action whose join failed (ABANDON: the group replaces the instance)
    lifecycle_failure_result: str = "CONTINUE"
    #: the shortest HeartbeatTimeout of the hooks: a waiting action is heartbeated in time
    lifecycle_heartbeat_timeout: int = 3600

    @property
    def regions(self) -> tuple[str, ...]:
        """The Regions a reconcile run covers: SERVED_REGIONS, else DIRECTORY_REGION."""
        return tuple(dict.fromkeys(self.served_regions)) or (self.directory_region,)

    @property
    def ad_tools_host_tag_pair(self) -> tuple[str, str]:
        key, _, value = self.ad_tools_host_tag.partition("=")
        return key, value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the settings; raise SettingsError naming every bad variable."""
        env = os.environ if environ is None else environ
        problems: list[str] = []

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                problems.append(f"{name} is required")
            return value

        def optional(field: str) -> str:
            """The variable named like the field (upper case), else the field's default."""
            return env.get(field.upper(), "").strip() or getattr(cls, field)

        def integer(field: str, low: int, high: int) -> int:
            name, default = field.upper(), getattr(cls, field)
            raw = env.get(name, "").strip() or str(default)
            try:
                value = int(raw)
            except ValueError:
                problems.append(f"{name} must be an integer, got {raw!r}")
                return int(default)
            if not low <= value <= high:
                problems.append(f"{name} must be between {low} and {high}, got {value}")
            return value

        def boolean(field: str) -> bool:
            name, default = field.upper(), bool(getattr(cls, field))
            raw = env.get(name, "").strip().lower()
            if raw in ("true", "false"):
                return raw == "true"
            if raw:
                problems.append(f"{name} must be true or false, got {raw!r}")
            return default

        hub = required("HUB_ACCOUNT_ID")
        if hub and not is_account_id(hub):
            problems.append(f"HUB_ACCOUNT_ID must be a 12-digit account id, got {hub!r}")
        region = env.get("DIRECTORY_REGION", "").strip() or env.get("AWS_REGION", "").strip()
        if not region:
            problems.append("DIRECTORY_REGION is required when AWS_REGION is not set")
        settings = cls(
            config_table_name=required("CONFIG_TABLE_NAME"),
            state_table_name=required("STATE_TABLE_NAME"),
            hub_account_id=hub,
            queue_url=required("QUEUE_URL"),
            dlq_url=required("DLQ_URL"),
            directory_region=region,
            spoke_role_name=optional("spoke_role_name"),
            linux_join_document=optional("linux_join_document"),
            windows_join_document=optional("windows_join_document"),
            leave_document=optional("leave_document"),
            ad_tools_host_tag=optional("ad_tools_host_tag"),
            directory_adapter=optional("directory_adapter"),
            leave_adapter=optional("leave_adapter"),
            default_directory_id=optional("default_directory_id"),
            computer_name_prefix=optional("computer_name_prefix"),
            tag_computer_name=boolean("tag_computer_name"),
            otp_key_id=optional("otp_key_id"),
            partition=optional("partition"),
            config_cache_ttl_seconds=integer("config_cache_ttl_seconds", 0, 86400),
            retry_base_seconds=integer("retry_base_seconds", 1, 900),
            retry_max_seconds=integer("retry_max_seconds", 1, 14 * 86400),
            served_regions=tuple(
                r.strip() for r in env.get("SERVED_REGIONS", "").split(",") if r.strip()
            ),
            reconcile_grace_seconds=integer("reconcile_grace_seconds", 0, 7 * 86400),
            reconcile_max_deletions=integer("reconcile_max_deletions", 0, 10000),
            reconcile_max_deletion_percent=integer("reconcile_max_deletion_percent", 0, 100),
            lifecycle_hooks=boolean("lifecycle_hooks"),
            lifecycle_failure_result=optional("lifecycle_failure_result").upper(),
            # PutLifecycleHook: HeartbeatTimeout 30-7200 s
            lifecycle_heartbeat_timeout=integer("lifecycle_heartbeat_timeout", 30, 7200),
        )
        bad_regions = [r for r in settings.served_regions if not _REGION_RE.fullmatch(r)]
        if bad_regions:
            problems.append(f"SERVED_REGIONS must list Region names, got {bad_regions!r}")
        if settings.directory_adapter not in JOIN_ADAPTERS:
            problems.append(
                f"DIRECTORY_ADAPTER must be one of {JOIN_ADAPTERS}, "
                f"got {settings.directory_adapter!r}"
            )
        if settings.leave_adapter not in LEAVE_ADAPTERS:
            problems.append(
                f"LEAVE_ADAPTER must be one of {LEAVE_ADAPTERS}, got {settings.leave_adapter!r}"
            )
        if settings.lifecycle_failure_result not in LIFECYCLE_RESULTS:
            problems.append(
                f"LIFECYCLE_FAILURE_RESULT must be one of {LIFECYCLE_RESULTS}, "
                f"got {settings.lifecycle_failure_result!r}"
            )
        if not _PARTITION_RE.fullmatch(settings.partition):
            problems.append(
                f"PARTITION must be an AWS partition (aws, aws-cn, ...), got {settings.partition!r}"
            )
        if settings.default_directory_id and not _DIRECTORY_ID_RE.fullmatch(
            settings.default_directory_id
        ):
            problems.append(
                "DEFAULT_DIRECTORY_ID must be a Directory Service id (d-0123456789), "
                f"got {settings.default_directory_id!r}"
            )
        if not _TAG_RE.fullmatch(settings.ad_tools_host_tag):
            problems.append(
                f"AD_TOOLS_HOST_TAG must look like key=value, got {settings.ad_tools_host_tag!r}"
            )
        try:
            validate_prefix(settings.computer_name_prefix)
        except ValueError as exc:
            problems.append(f"COMPUTER_NAME_PREFIX: {exc}")
        if problems:
            raise SettingsError("invalid Lambda settings: " + "; ".join(problems))
        return settings

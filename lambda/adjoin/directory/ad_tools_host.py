"""`ad_tools_host` adapter (the seed's way): Run Command on the AD tools host in the hub.

The host is the running instance tagged AD_TOOLS_HOST_TAG in the hub account and
DIRECTORY_REGION. The leave document receives the NAME of the password parameter/secret and reads
the password itself, so it never travels in command parameters.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from adjoin.aws import Ec2Adapter, SsmAdapter, classify
from adjoin.directory.base import ComputerAccount
from adjoin.errors import DirectoryError, DirectoryUnavailable, TransientError

HOST_CACHE_SECONDS = 60.0
#: names one leave command carries at most: a full batch of the event source mapping (modules/hub
#: batch size 100). The document's computerName allowedPattern allows 100 comma-separated names
#: of <= 15 characters, 1,599 characters; ENV_VAR interpolation hands it to leave.ps1 as an
#: environment variable, which Windows allows up to 32,767 characters
#: (https://learn.microsoft.com/en-us/windows/win32/api/winbase/nf-winbase-setenvironmentvariable).
MAX_NAMES_PER_COMMAND = 100
_hosts: dict[tuple[str, str], tuple[float, str]] = {}  # per container: tag -> (found at, id)
_hosts_lock = threading.Lock()


class AdToolsHostDirectory:
    """Deletes computer objects by running LEAVE_DOCUMENT on the AD tools host (delete only).

    `delete_computer` returns True once the leave command was accepted: the removal itself runs
    asynchronously on the host (its outcome is in the command's history). The command goes out
    without botocore's retries (`ssm_send_client`, see adjoin.aws.SsmAdapter): a lost answer is
    a transient error, and the next attempt sends it again (leave.ps1 finds the object absent).
    """

    #: the removal finishes after delete_computer returns (see `removals`)
    asynchronous = True
    #: names per leave command (`delete_computers`)
    max_names = MAX_NAMES_PER_COMMAND

    def __init__(
        self,
        ec2_client: Any,
        ssm_client: Any,
        *,
        host_tag: tuple[str, str],
        document: str,
        join_user_name: str,
        join_user_pw_param: str,
        ssm_send_client: Any | None = None,
    ) -> None:
        self._ec2 = Ec2Adapter(ec2_client)
        self._ssm = SsmAdapter(ssm_client, ssm_send_client)
        self._tag = host_tag
        self._document = document
        self._user = join_user_name
        self._pw_param = join_user_pw_param
        self.last_command_id: str | None = None

    def create_computer(self, account: ComputerAccount) -> str | None:
        raise DirectoryError("the ad_tools_host adapter only deletes computer objects")

    @property
    def batch_key(self) -> tuple[Any, ...]:
        """Leaves with equal keys (and the same domain and OU) can share one command."""
        return (self._tag, self._document, self._user, self._pw_param)

    def delete_computer(
        self, name: str, domain: str, ou: str | None, *, comment: str | None = None
    ) -> bool:
        """Send the leave command for one name (`comment` marks it, see `removals`)."""
        self.last_command_id = self.delete_computers([name], domain, ou, comment=comment)
        return True

    def delete_computers(
        self, names: list[str], domain: str, ou: str | None, *, comment: str | None = None
    ) -> str:
        """One leave command for all NAMES (at most MAX_NAMES_PER_COMMAND, comma-separated in
        `computerName`; leave.ps1 removes each); returns its command id."""
        if not 1 <= len(names) <= MAX_NAMES_PER_COMMAND:
            raise DirectoryError(f"a leave command carries 1-{MAX_NAMES_PER_COMMAND} names")
        host = self._host()
        label = names[0] if len(names) == 1 else f"{names[0]} +{len(names) - 1}"
        parameters = {
            "computerName": ",".join(names),
            "domainName": domain,
            "adJoinUserName": self._user,
            "adJoinUserPwParam": self._pw_param,
            "computerOU": ou or "",
        }
        try:
            return self._ssm.send(
                host, self._document, parameters, comment or f"ad-join leave {label}"
            )
        except Exception as exc:
            with _hosts_lock:
                _hosts.pop(self._tag, None)  # look the host up again next time
            error = classify(exc, f"send {self._document} to AD tools host")
            if isinstance(error, TransientError):
                raise DirectoryUnavailable(str(error)) from None
            raise DirectoryError(str(error)) from None

    def removals(self, marker: str, after_ms: int) -> list[str]:
        """The statuses of the leave commands sent since `after_ms` whose comment holds
        `marker`, oldest first."""
        host = self._host()
        try:
            found = self._ssm.find_commands(host, self._document, marker, after_ms)
        except Exception as exc:
            error = classify(exc, "ListCommandInvocations on the AD tools host")
            if isinstance(error, TransientError):
                raise DirectoryUnavailable(str(error)) from None
            raise DirectoryError(str(error)) from None
        return [status for _, status in found]

    def _host(self) -> str:
        """The first running instance with the tag, remembered for HOST_CACHE_SECONDS."""
        with _hosts_lock:  # concurrent leaves wait for one lookup
            now = time.monotonic()
            cached = _hosts.get(self._tag)
            if cached and now - cached[0] < HOST_CACHE_SECONDS:
                return cached[1]
            key, value = self._tag
            try:
                hosts = self._ec2.find_by_tag(key, value)
            except Exception as exc:
                raise classify(exc, "find AD tools host") from None
            if not hosts:
                raise DirectoryUnavailable(f"no running instance tagged {key}={value}")
            _hosts[self._tag] = (now, hosts[0])
            return hosts[0]

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
_hosts: dict[tuple[str, str], tuple[float, str]] = {}  # per container: tag -> (found at, id)
_hosts_lock = threading.Lock()


class AdToolsHostDirectory:
    """Deletes computer objects by running LEAVE_DOCUMENT on the AD tools host (delete only).

    `delete_computer` returns True once the leave command was accepted: the removal itself runs
    asynchronously on the host (its outcome is in the command's history).
    """

    def __init__(
        self,
        ec2_client: Any,
        ssm_client: Any,
        *,
        host_tag: tuple[str, str],
        document: str,
        join_user_name: str,
        join_user_pw_param: str,
    ) -> None:
        self._ec2 = Ec2Adapter(ec2_client)
        self._ssm = SsmAdapter(ssm_client)
        self._tag = host_tag
        self._document = document
        self._user = join_user_name
        self._pw_param = join_user_pw_param
        self.last_command_id: str | None = None

    def create_computer(self, account: ComputerAccount) -> str | None:
        raise DirectoryError("the ad_tools_host adapter only deletes computer objects")

    def delete_computer(self, name: str, domain: str, ou: str | None) -> bool:
        host = self._host()
        parameters = {
            "computerName": name,
            "domainName": domain,
            "adJoinUserName": self._user,
            "adJoinUserPwParam": self._pw_param,
            "computerOU": ou or "",
        }
        try:
            self.last_command_id = self._ssm.send(
                host, self._document, parameters, f"ad-join leave {name}"
            )
        except Exception as exc:
            with _hosts_lock:
                _hosts.pop(self._tag, None)  # look the host up again next time
            error = classify(exc, f"send {self._document} to AD tools host")
            if isinstance(error, TransientError):
                raise DirectoryUnavailable(str(error)) from None
            raise DirectoryError(str(error)) from None
        return True

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

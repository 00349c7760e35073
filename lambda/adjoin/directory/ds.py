"""`ds` adapter: AWS Directory Service CreateComputer (AWS Managed Microsoft AD).

Directory Service has no call to delete a computer object or reset its password, so removal uses
the `ldap` or `ad_tools_host` adapter, and an existing object is reported as ComputerExists.

The owner stamp (adjoin.ownership) goes into `description` through CreateComputer's
`ComputerAttributes` ("An array of Attribute objects that contain any LDAP attributes to apply to
the computer account": https://docs.aws.amazon.com/directoryservice/latest/devguide/API_CreateComputer.html).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from adjoin import ownership
from adjoin.aws import classify, http_status, retry_after
from adjoin.directory.base import ComputerAccount
from adjoin.errors import DirectoryError, DirectoryUnavailable, TransientError

UNAVAILABLE_CODES = frozenset(
    {
        "DirectoryUnavailableException",
        "ServiceException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "TooManyRequestsException",
    }
)


class ComputerExists(DirectoryError):
    """The computer object exists already and Directory Service cannot reset its password."""

    reason = "computer_exists"


class DirectoryServiceDirectory:
    """Pre-creates computer accounts with Directory Service CreateComputer (create only)."""

    def __init__(self, client: Any, directory_id: str) -> None:
        self._client = client
        self._directory_id = directory_id

    def create_computer(self, account: ComputerAccount) -> str | None:
        """Pre-create; Directory Service does not say which domain controller took it (None)."""
        request: dict[str, Any] = {
            "DirectoryId": self._directory_id,
            "ComputerName": account.name,
            "Password": account.one_time_password,
        }
        if account.ou:
            request["OrganizationalUnitDistinguishedName"] = account.ou
        if account.owner is not None:
            request["ComputerAttributes"] = [
                {"Name": ownership.ATTRIBUTE, "Value": account.owner.format()}
            ]
        try:
            self._client.create_computer(**request)
        except ClientError as exc:
            # Only the error code goes into the new exception: never the request (password).
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            message = str(error.get("Message", "")).lower()
            what = f"Directory Service CreateComputer {account.name}: {code or http_status(exc)}"
            if code == "EntityAlreadyExistsException":
                raise ComputerExists(
                    f"computer {account.name} already exists in directory {self._directory_id}"
                ) from None
            # 5xx answers (InternalError, ServiceUnavailable, ServiceException, ...) and
            # throttling are transient, like any AWS call's (adjoin.aws.classify).
            transient = isinstance(classify(exc, what), TransientError)
            if transient or code in UNAVAILABLE_CODES or "rate exceeded" in message:
                raise DirectoryUnavailable(what, retry_after=retry_after(exc)) from None
            raise DirectoryError(what) from None
        except BotoCoreError as exc:
            raise DirectoryUnavailable(
                f"Directory Service CreateComputer {account.name}: {type(exc).__name__}"
            ) from None
        return None

    def delete_computer(self, name: str, domain: str, ou: str | None) -> bool:
        raise DirectoryError(
            "Directory Service cannot delete computer objects: use the ldap or ad_tools_host "
            "leave adapter"
        )

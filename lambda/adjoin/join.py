"""One attempt of a claimed join, safe to repeat: pre-create the computer account, send the join
command. The engine (adjoin.engine) runs one per join, concurrently, and records the result.

An attempt can meet the traces of an earlier attempt of the same claim whose answers were lost
(a 5xx after the write, a read timeout, a crash): it finishes that claim's join instead of
starting another one.

- The one-time password is derived from the claim (adjoin.passwords.OtpDeriver): every attempt
  of a claim gets the same one.
- A redelivered message first looks for its own join command (ListCommandInvocations, by the
  claim marker in the command's comment) and adopts it: a second command is never sent for a
  claim whose command was accepted.
- `SendCommand` goes out without botocore's retries (adjoin.aws.SsmAdapter.send); a lost answer
  is `CommandUnconfirmed`, a transient error, and the redelivery looks before it sends again.
- With the `ldap` adapter, creating an existing object resets its password (to the same one).
  Directory Service cannot. Its `EntityAlreadyExists` is this claim's own object when an earlier
  request of the claim may have created it (botocore had retried the call, or the message is a
  redelivery) and the state row names no other claim as the owner of the object
  (`computerClaim`): the join goes on with the same password. An object an earlier claim
  created is unusable (its password is that claim's): it is removed through the leave adapter
  and created again (the `ad_tools_host` removal is asynchronous: the attempt waits for it on
  later deliveries), or the join fails with `computer_exists` and what to do when there is no
  leave adapter. An object no join of the instance made is never removed (`computer_exists`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from adjoin import aws
from adjoin import decisions as d
from adjoin.aws import SsmAdapter, StateStore, classify, error_code
from adjoin.config import AccountConfig, InvalidConfig
from adjoin.directory.base import ComputerAccount, DirectoryPort
from adjoin.directory.ds import ComputerExists
from adjoin.directory.factory import DirectoryFactory
from adjoin.errors import AdJoinError, DirectoryUnavailable, TransientError
from adjoin.ownership import OwnerStamp
from adjoin.passwords import OtpDeriver
from adjoin.settings import Settings

#: statuses of a leave command that has not finished yet
_REMOVAL_PENDING = frozenset({"Pending", "InProgress", "Delayed"})
#: calls of a directory adapter per attempt while it answers DirectoryUnavailable
DIRECTORY_ATTEMPTS = 3
T = TypeVar("T")


def retry_unavailable(call: Callable[[int], T]) -> T:
    """`call(n)` for n = 0, 1, ... while it raises DirectoryUnavailable (a domain controller
    out of reach, a connection reset, a busy answer), after a short pause, up to
    DIRECTORY_ATTEMPTS times: what botocore does for AWS calls. For synchronous adapters only:
    their create-or-reset and delete are safe to repeat."""
    for attempt in range(DIRECTORY_ATTEMPTS):
        try:
            return call(attempt)
        except DirectoryUnavailable:
            if attempt + 1 == DIRECTORY_ATTEMPTS:
                raise
            aws.retry_sleep(random.uniform(0, 0.25 * 2**attempt))  # noqa: S311 - jitter
    raise AssertionError("unreachable")  # pragma: no cover


def _create_once(directory: DirectoryPort, account: ComputerAccount, attempt: int) -> str | None:
    try:
        return directory.create_computer(account)
    except ComputerExists as exists:
        exists.after_retry = exists.after_retry or attempt > 0  # the first call may have made it
        raise


def claim_marker(claim: str) -> str:
    """What a command's comment carries to say which claim sent it."""
    return f"claim {claim}"


@dataclass
class JoinAttempt:
    """What the engine knows of the join to attempt."""

    instance_id: str
    name: str
    claim: str  # the claiming message's id (`claimedBy`)
    claimed_at_ms: int  # that message's SentTimestamp: the same on every delivery
    redelivered: bool  # an earlier delivery of the message may have sent the command
    platform: str | None
    ad_group_name: str
    ad_sudo_group_name: str
    computer_ou: str | None  # where the object goes (the adComputerOU tag, or computerOU)
    config: AccountConfig
    owner: OwnerStamp | None = None  # the object's owner stamp (adjoin.ownership)


@dataclass
class JoinResult:
    """What the attempt did, also when it raised."""

    command_id: str | None = None
    resumed: bool = False  # the command of an earlier attempt was found and adopted
    computer_claimed: bool = False  # the computer object holds this claim's password
    create_attempted: bool = False  # a create was sent: an object of this claim may exist


class JoinStep:
    """Runs join attempts (thread-safe: it keeps no state between attempts)."""

    def __init__(
        self,
        settings: Settings,
        state: StateStore,
        directories: DirectoryFactory,
        otp: OtpDeriver | None,
    ) -> None:
        self._settings = settings
        self._state = state
        self._directories = directories
        self._otp = otp

    def run(
        self, attempt: JoinAttempt, directory: DirectoryPort, ssm: SsmAdapter, result: JoinResult
    ) -> None:
        """Create the computer account and send the join command, or adopt the command an
        earlier attempt of the claim sent. Raises AdJoinError; `result` says what was done."""
        document = d.join_document(
            attempt.platform,
            self._settings.linux_join_document,
            self._settings.windows_join_document,
        )
        marker = claim_marker(attempt.claim)
        if attempt.redelivered:
            try:
                found = ssm.find_commands(
                    attempt.instance_id, document, marker, attempt.claimed_at_ms
                )
            except Exception as exc:  # never send again without knowing
                raise classify(exc, "ListCommandInvocations") from None
            if found:
                result.command_id, result.resumed = found[-1][0], True
                return
        if self._otp is None:
            raise InvalidConfig(
                "the Lambda has no OTP_KEY_ID (the KMS HMAC key of the one-time passwords): "
                "deploy it with modules/hub, which creates the key and sets the variable"
            )
        try:
            password = self._otp.password(attempt.instance_id, attempt.claim, attempt.claimed_at_ms)
        except Exception as exc:
            raise classify(exc, "KMS GenerateMac") from None
        account = ComputerAccount(
            attempt.name, attempt.config.dns_name, attempt.computer_ou, password, attempt.owner
        )
        # the domain controller that holds the new account: the join must use it, before the
        # account has replicated to the others
        controller = self._create(attempt, directory, account, result)
        parameters = {
            "computerName": attempt.name,
            "oneTimePassword": password,
            "domainName": attempt.config.dns_name,
            "computerOU": attempt.computer_ou or "",
            "adGroupName": attempt.ad_group_name,
            "adSudoGroupName": attempt.ad_sudo_group_name,
            "dnsIP1": attempt.config.dns_ip1,
            "dnsIP2": attempt.config.dns_ip2,
            "domainController": controller or "",
        }
        try:
            result.command_id = ssm.send(
                attempt.instance_id, document, parameters, f"ad-join {attempt.name} {marker}"
            )
        except AdJoinError:
            raise
        except Exception as exc:
            error = classify(exc, f"SendCommand {document}")
            if error_code(exc) == "InvalidInstanceId":  # not (yet) managed or online
                error = TransientError(str(error), reason="agent_offline")
            raise error from None

    def _create(
        self,
        attempt: JoinAttempt,
        directory: DirectoryPort,
        account: ComputerAccount,
        result: JoinResult,
    ) -> str | None:
        """Create the object (or find this claim's own); returns the domain controller that
        holds it, when the adapter can tell."""
        result.create_attempted = True
        try:
            controller = retry_unavailable(lambda n: _create_once(directory, account, n))
        except ComputerExists as exists:
            owner = self._computer_claim(attempt)
            if owner in (None, attempt.claim) and (exists.after_retry or attempt.redelivered):
                result.computer_claimed = True  # this claim's own object: same password
                return None
            if owner is None:  # not made by a join of this instance: never removed
                result.create_attempted = False  # the first create met it: this claim made none
                raise ComputerExists(
                    f"computer {attempt.name} already exists in the directory and no join of "
                    f"instance {attempt.instance_id} made it: delete it (or rename it) in the "
                    "directory"
                ) from None
            controller = self._replace(attempt, directory, account)
        result.computer_claimed = True
        return controller

    def _computer_claim(self, attempt: JoinAttempt) -> str | None:
        """The claim the state row names as the one whose password is on the object."""
        try:
            row = self._state.get(attempt.instance_id)
        except Exception as exc:
            raise classify(exc, "state GetItem") from None
        owner = (row or {}).get("computerClaim")
        return str(owner) if owner else None

    def _replace(
        self, attempt: JoinAttempt, directory: DirectoryPort, account: ComputerAccount
    ) -> str | None:
        """Remove the earlier claim's object through the leave adapter and create it again."""
        config = attempt.config
        leaver = self._directories.leaver(config)
        if leaver is None:
            raise ComputerExists(
                f"computer {attempt.name} exists from an earlier join attempt and Directory "
                "Service cannot reset its password: delete it in the directory, or set a leave "
                "adapter (leaveAdapter ldap or ad_tools_host) so that the Lambda replaces it"
            )
        if getattr(leaver, "asynchronous", False):
            marker = f"replace {attempt.name} {claim_marker(attempt.claim)}"
            statuses = leaver.removals(marker, attempt.claimed_at_ms)  # type: ignore[attr-defined]
            if not statuses:
                leaver.delete_computer(  # type: ignore[call-arg]
                    attempt.name, config.dns_name, attempt.computer_ou, comment=f"ad-join {marker}"
                )
            if not statuses or any(s in _REMOVAL_PENDING for s in statuses):
                raise TransientError(
                    f"computer {attempt.name} from an earlier join attempt is being removed "
                    "on the AD tools host",
                    reason="computer_being_replaced",
                )
            if "Success" not in statuses:
                raise ComputerExists(
                    f"computer {attempt.name} exists from an earlier join attempt and its "
                    f"removal on the AD tools host ended {statuses[-1]}: delete it in the "
                    "directory"
                )
        else:
            retry_unavailable(
                lambda _: leaver.delete_computer(attempt.name, config.dns_name, attempt.computer_ou)
            )
        try:
            return retry_unavailable(lambda n: _create_once(directory, account, n))
        except ComputerExists:  # removed above: the object is this attempt's own (answer lost)
            return None

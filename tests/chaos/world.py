"""The simulated world of a chaos run, on a simulated clock.

- `SimQueue`: the domain-join queue and its Lambda event source mapping, as AWS documents them
  (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html,
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html,
  .../sqs-dead-letter-queues.html): a delivery delay, a visibility timeout from each receive,
  `ApproximateReceiveCount`, `ChangeMessageVisibility` counted from the call, messages the
  function reports in `batchItemFailures` (or all of them when the invocation fails) come back
  when their visibility ends, the others are deleted, and a message received `maxReceiveCount`
  times goes to the dead-letter queue at its next receive (redrive: without the Lambda's
  `reason` attribute).
- `Instances`: each instance's SSM agent (online from a given time), which runs the join
  document the way scripts/linux/join.sh and scripts/windows/join.ps1 do: a no-op when the
  machine's secure channel with its computer object works, a join when the one-time password is
  the object's password (the machine then sets its own password: the one-time password is
  spent), a failure otherwise. Each run emits the command's status event into the queue.
- `DsDirectory` / `LdapDit`: the directory, read back by the harness. With `ds` the harness
  answers Directory Service `CreateComputer` itself (moto lacks it); with `ldap` it is ldap3's
  MOCK_SYNC directory that the `ldap` adapter writes through `FaultyLdapConnection`.
- the AD tools host (hub): runs the leave document (`ad_tools_host` leave adapter).

The harness also answers SSM `DescribeInstanceInformation` and `ListCommandInvocations` from its
agents (moto lacks both). Everything else is moto.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from ldap3 import MOCK_SYNC, OFFLINE_AD_2012_R2, Connection, Server

from tests.chaos.faults import error_response, json_response

T0 = 1_800_000_000.0  # the simulated clock starts here (epoch seconds)
DOMAIN = "corp.example.com"
BASE_DN = "DC=corp,DC=example,DC=com"
COMPUTER_OU = f"OU=EC2,{BASE_DN}"
SERVICE_DN = f"CN=svc-adjoin,CN=Users,{BASE_DN}"
LINUX_DOCUMENT = "ad-join-linux-join"
WINDOWS_DOCUMENT = "ad-join-windows-join"
LEAVE_DOCUMENT = "ad-join-leave"
#: seconds from SendCommand to the end of the document's run (Windows joins reboot once)
RUN_SECONDS = {"linux": 40.0, "windows": 150.0, "leave": 20.0}
TERMINAL = frozenset({"Success", "Failed", "TimedOut", "Cancelled"})


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def ms(self) -> int:
        return int(self.now * 1000)


# ---------------------------------------------------------------------------------------------
# the queue and its event source mapping
# ---------------------------------------------------------------------------------------------


@dataclass
class Message:
    seq: int
    message_id: str
    body: str
    sent_at: float
    visible_at: float
    kind: str  # running, terminated, status, poison
    instance_id: str | None
    receive_count: int = 0
    receipt: str = ""


class SimQueue:
    """The domain-join queue (module defaults: delay 300 s, visibility 900 s, redrive 15)."""

    def __init__(
        self,
        clock: Clock,
        rng: random.Random,
        url: str,
        *,
        delay: int = 300,
        visibility: int = 900,
        max_receive: int = 15,
    ) -> None:
        self.clock = clock
        self.rng = rng
        self.url = url
        self.delay = delay
        self.visibility = visibility
        self.max_receive = max_receive
        self.messages: dict[str, Message] = {}
        self.redriven: list[Message] = []
        self._seq = itertools.count()

    def send(self, body: str, kind: str, instance_id: str | None) -> Message:
        seq = next(self._seq)
        message = Message(
            seq=seq,
            message_id=str(uuid.UUID(int=self.rng.getrandbits(128))),
            body=body,
            sent_at=self.clock.now,
            visible_at=self.clock.now + self.delay,
            kind=kind,
            instance_id=instance_id,
        )
        self.messages[message.message_id] = message
        return message

    def receive(self, limit: int) -> list[Message]:
        now = self.clock.now
        batch: list[Message] = []
        for message in sorted(self.messages.values(), key=lambda m: (m.visible_at, m.seq)):
            if len(batch) >= limit or message.visible_at > now:
                break
            if message.receive_count >= self.max_receive:  # redrive instead of a new receive
                del self.messages[message.message_id]
                self.redriven.append(message)
                continue
            message.receive_count += 1
            message.receipt = f"rh-{message.seq}-{message.receive_count}"
            message.visible_at = now + self.visibility
            batch.append(message)
        return batch

    def _by_receipt(self, receipt: str) -> Message | None:
        for message in self.messages.values():
            if message.receipt == receipt:
                return message
        return None

    def delete(self, receipt: str) -> None:
        message = self._by_receipt(receipt)
        if message is not None:
            del self.messages[message.message_id]

    def next_visible(self) -> float | None:
        return min((m.visible_at for m in self.messages.values()), default=None)

    def route(
        self, service: str, operation: str, request: AWSPreparedRequest
    ) -> AWSResponse | None:
        """ChangeMessageVisibilityBatch on this queue (the Lambda's retries)."""
        if service != "sqs" or operation != "ChangeMessageVisibilityBatch":
            return None
        body = _json(request)
        if body.get("QueueUrl") != self.url:
            return None
        ok, failed = [], []
        for entry in body.get("Entries", []):
            message = self._by_receipt(entry["ReceiptHandle"])
            if message is None:
                failed.append(
                    {
                        "Id": entry["Id"],
                        "SenderFault": True,
                        "Code": "ReceiptHandleIsInvalid",
                        "Message": "invalid receipt handle",
                    }
                )
                continue
            message.visible_at = self.clock.now + int(entry["VisibilityTimeout"])
            ok.append({"Id": entry["Id"]})
        return json_response(request.url, {"Successful": ok, "Failed": failed})


def _json(request: AWSPreparedRequest) -> dict[str, Any]:
    raw = request.body or b"{}"
    return dict(json.loads(raw.decode() if isinstance(raw, bytes) else raw))


# ---------------------------------------------------------------------------------------------
# the directory
# ---------------------------------------------------------------------------------------------


class DsDirectory:
    """The AWS Managed Microsoft AD behind the harness's Directory Service API: name -> password."""

    def __init__(self, directory_id: str) -> None:
        self.directory_id = directory_id
        self.passwords: dict[str, str] = {}
        self.creates = 0

    def get(self, name: str) -> str | None:
        return self.passwords.get(name.upper())

    def set_password(self, name: str, password: str) -> None:
        self.passwords[name.upper()] = password

    def delete(self, name: str) -> bool:
        return self.passwords.pop(name.upper(), None) is not None

    def names(self) -> set[str]:
        return set(self.passwords)

    def route(
        self, service: str, operation: str, request: AWSPreparedRequest
    ) -> AWSResponse | None:
        """Directory Service CreateComputer: EntityAlreadyExistsException for an existing name
        (https://docs.aws.amazon.com/directoryservice/latest/devguide/API_CreateComputer.html)."""
        if service != "directory-service":
            return None
        if operation != "CreateComputer":
            return error_response(service, request.url, 400, "UnsupportedOperationException")
        body = _json(request)
        name = str(body["ComputerName"]).upper()
        if body.get("DirectoryId") != self.directory_id:
            return error_response(service, request.url, 400, "EntityDoesNotExistException")
        if name in self.passwords:
            return error_response(service, request.url, 400, "EntityAlreadyExistsException")
        self.passwords[name] = str(body["Password"])
        self.creates += 1
        container = body.get("OrganizationalUnitDistinguishedName") or f"CN=Computers,{BASE_DN}"
        return json_response(
            request.url,
            {
                "Computer": {
                    "ComputerId": f"S-1-5-21-{self.creates}",
                    "ComputerName": name,
                    "ComputerAttributes": [
                        {"Name": "DistinguishedName", "Value": f"CN={name},{container}"}
                    ],
                }
            },
        )


def _encode_pwd(password: str) -> bytes:
    return f'"{password}"'.encode("utf-16-le")


class LdapDit:
    """ldap3's in-memory directory (MOCK_SYNC) shared by every connection of the run."""

    def __init__(self, join_password: str) -> None:
        self.server = Server("dc1.corp.example.com", get_info=OFFLINE_AD_2012_R2)
        seed = Connection(
            self.server, user=SERVICE_DN, password=join_password, client_strategy=MOCK_SYNC
        )
        for dn, attrs in (
            (BASE_DN, {"objectClass": ["top", "domain"]}),
            (f"CN=Users,{BASE_DN}", {"objectClass": ["top", "container"]}),
            (f"CN=Computers,{BASE_DN}", {"objectClass": ["top", "container"]}),
            (COMPUTER_OU, {"objectClass": ["top", "organizationalUnit"]}),
            (SERVICE_DN, {"objectClass": ["top", "user"], "userPassword": join_password}),
        ):
            seed.strategy.add_entry(dn, attrs)
        self.dit: dict[str, dict[str, list[bytes]]] = self.server.dit

    def _find(self, name: str) -> str | None:
        wanted = f"{name.upper()}$".encode()
        for dn, entry in self.dit.items():
            if wanted in entry.get("sAMAccountName", []):
                return str(dn)
        return None

    def get(self, name: str) -> str | None:
        dn = self._find(name)
        if dn is None:
            return None
        value = self.dit[dn].get("unicodePwd", [b""])[0]
        return value.decode("utf-16-le").strip('"')

    def set_password(self, name: str, password: str) -> None:
        dn = self._find(name)
        assert dn is not None
        self.dit[dn]["unicodePwd"] = [_encode_pwd(password)]

    def delete(self, name: str) -> bool:
        dn = self._find(name)
        if dn is None:
            return False
        del self.dit[dn]
        return True

    def names(self) -> set[str]:
        found = set()
        for entry in self.dit.values():
            for value in entry.get("sAMAccountName", []):
                found.add(value.decode().rstrip("$").upper())
        return found


Directory = DsDirectory | LdapDit


# ---------------------------------------------------------------------------------------------
# instances, agents and commands
# ---------------------------------------------------------------------------------------------


@dataclass
class SimInstance:
    instance_id: str
    account: str
    region: str
    platform: str  # linux, windows, or "tools" (the AD tools host)
    name: str
    online_at: float
    machine_secret: str | None = None  # the computer's own password once joined
    effective_joins: int = 0  # runs that joined (not no-ops)
    otps: list[str] = field(default_factory=list)  # one-time password of every command
    terminated: bool = False


@dataclass
class CommandRecord:
    command_id: str
    instance_id: str
    document: str
    comment: str
    parameters: dict[str, str]
    requested_at: float
    status: str = "Pending"


class Agents:
    """The SSM agents of every instance, and the commands they ran."""

    def __init__(
        self,
        clock: Clock,
        rng: random.Random,
        directory: Directory,
        schedule: Callable[[float, Callable[[], None]], None],
        emit_status: Callable[[SimInstance, CommandRecord], None],
    ) -> None:
        self.clock = clock
        self.rng = rng
        self.directory = directory
        self.schedule = schedule
        self.emit_status = emit_status
        self.instances: dict[str, SimInstance] = {}
        self.commands: list[CommandRecord] = []
        self.leaves: list[str] = []  # computer names the tools host was told to remove

    def add(self, instance: SimInstance) -> None:
        self.instances[instance.instance_id] = instance

    # ---- what the harness answers ------------------------------------------------------------
    def route(
        self, service: str, operation: str, request: AWSPreparedRequest
    ) -> AWSResponse | None:
        if service != "ssm":
            return None
        if operation == "DescribeInstanceInformation":
            return self._instance_information(request)
        if operation == "ListCommandInvocations":
            return self._command_invocations(request)
        return None

    def _instance_information(self, request: AWSPreparedRequest) -> AWSResponse:
        body = _json(request)
        wanted = [
            v
            for f in body.get("Filters", [])
            if f.get("Key") == "InstanceIds"
            for v in f.get("Values", [])
        ]
        infos = []
        for iid in wanted:
            instance = self.instances.get(iid)
            if instance and not instance.terminated and self.clock.now >= instance.online_at:
                infos.append(
                    {
                        "InstanceId": iid,
                        "PingStatus": "Online",
                        "PlatformType": "Windows" if instance.platform == "windows" else "Linux",
                    }
                )
        return json_response(request.url, {"InstanceInformationList": infos})

    def _command_invocations(self, request: AWSPreparedRequest) -> AWSResponse:
        """ListCommandInvocations by CommandId or InstanceId, Filters DocumentName, Status,
        InvokedAfter, InvokedBefore; MaxResults and NextToken
        (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_ListCommandInvocations.html)."""
        body = _json(request)
        found = [
            c
            for c in self.commands
            if (not body.get("CommandId") or c.command_id == body["CommandId"])
            and (not body.get("InstanceId") or c.instance_id == body["InstanceId"])
        ]
        for flt in body.get("Filters", []):
            key, value = flt["key"], flt["value"]
            if key == "DocumentName":
                found = [c for c in found if c.document == value]
            elif key == "Status":
                found = [c for c in found if c.status == value]
            elif key in ("InvokedAfter", "InvokedBefore"):
                at = _epoch(value)
                after = key == "InvokedAfter"
                found = [c for c in found if (c.requested_at >= at) == after]
        start = int(body.get("NextToken") or 0)
        size = int(body.get("MaxResults") or 50)
        page = found[start : start + size]
        answer: dict[str, Any] = {
            "CommandInvocations": [
                {
                    "CommandId": c.command_id,
                    "InstanceId": c.instance_id,
                    "Comment": c.comment,
                    "DocumentName": c.document,
                    "RequestedDateTime": c.requested_at,
                    "Status": c.status,
                    "StatusDetails": c.status,
                }
                for c in page
            ]
        }
        if start + size < len(found):
            answer["NextToken"] = str(start + size)
        return json_response(request.url, answer)

    # ---- what the harness observes -----------------------------------------------------------
    def observe(
        self, service: str, operation: str, request: AWSPreparedRequest, response: AWSResponse
    ) -> None:
        """A SendCommand that took effect (moto recorded it): the agent will run it."""
        if service != "ssm" or operation != "SendCommand":
            return
        body = _json(request)
        command_id = json.loads(response.content)["Command"]["CommandId"]
        parameters = {k: v[0] if v else "" for k, v in body.get("Parameters", {}).items()}
        for iid in body.get("InstanceIds", []):
            record = CommandRecord(
                command_id=command_id,
                instance_id=iid,
                document=body["DocumentName"],
                comment=body.get("Comment", ""),
                parameters=parameters,
                requested_at=self.clock.now,
            )
            self.commands.append(record)
            instance = self.instances.get(iid)
            if instance is None:
                record.status = "Undeliverable"
                continue
            kind = "leave" if record.document == LEAVE_DOCUMENT else instance.platform
            if record.document != LEAVE_DOCUMENT:
                instance.otps.append(parameters.get("oneTimePassword", ""))
            delay = RUN_SECONDS[kind] * (1 + self.rng.random())
            self.schedule(self.clock.now + delay, lambda r=record: self._run(r))

    def _run(self, record: CommandRecord) -> None:
        instance = self.instances[record.instance_id]
        if record.document == LEAVE_DOCUMENT:  # scripts/windows/leave.ps1: absent is success
            for name in record.parameters["computerName"].split(","):  # one command, many names
                self.leaves.append(name.upper())
                self.directory.delete(name)
            record.status = "Success"
            return
        if instance.terminated:
            record.status = "Terminated"
        else:
            record.status = self._join(instance, record.parameters)
        self.emit_status(instance, record)

    def _join(self, instance: SimInstance, parameters: dict[str, str]) -> str:
        """What the join scripts do: nothing if the secure channel works (`adcli testjoin`,
        `Test-ComputerSecureChannel`), else join with the one-time password."""
        current = self.directory.get(parameters["computerName"])
        if current is not None and instance.machine_secret == current:
            return "Success"  # already joined: a no-op
        otp = parameters.get("oneTimePassword", "")
        if current is not None and otp and current == otp:
            secret = f"machine-{self.rng.getrandbits(64):016x}"
            self.directory.set_password(parameters["computerName"], secret)
            instance.machine_secret = secret
            instance.effective_joins += 1
            return "Success"
        return "Failed"  # exit 5: wrong or spent one-time password, or no account


def _epoch(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class Scheduler:
    """Timed events of the simulation (agent runs), in time order."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), action))

    def next_time(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def run_due(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            _, _, action = heapq.heappop(self._heap)
            action()

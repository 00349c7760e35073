"""The one place where moto is patched: its gaps, for the end-to-end environment, and (at the
end of this module) one speed patch with no change of behaviour, for the in-process benchmark.

moto 5.2.5 serves every API the local environment applies, but a few behaviours the scenario
depends on differ from AWS. Each patch below reproduces the AWS behaviour named in its docstring,
and `tests/e2e/test_moto_patches.py` holds one test per patch that fails without it (and a strict
xfail proving the gap is still there in unpatched moto, so a moto upgrade that fixes it shows up).

Use `apply()` once in a process (the moto server of `tests.e2e.moto_server` does), or the
`patched()` context manager in tests, which undoes every patch on exit.

Only the scenario's needs are patched; everything else is moto as shipped.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import moto.dynamodb.models as ddb_models
from moto.autoscaling.exceptions import ValidationError as AutoScalingValidationError
from moto.autoscaling.models import FakeAutoScalingGroup, InstanceState
from moto.autoscaling.responses import AutoScalingResponse
from moto.awslambda.models import LambdaBackend
from moto.core.responses import ActionResult, EmptyResult
from moto.ds.exceptions import EntityAlreadyExistsException
from moto.ds.models import DirectoryServiceBackend
from moto.ds.responses import DirectoryServiceResponse
from moto.dynamodb.models.table import Table
from moto.ec2.models import ec2_backends
from moto.events.models import Rule, events_backends
from moto.events.utils import EventTemplateParser
from moto.sns.models import sns_backends
from moto.sqs.models import Queue, sqs_backends
from moto.ssm.models import Command, SimpleSystemManagerBackend
from moto.ssm.responses import SimpleSystemManagerResponse
from moto.utilities.arns import parse_arn

#: JSON-lines file where the patched services record what they did (computers created, commands
#: run): the harness reads it for the timeline. Never holds a password.
JOURNAL_ENV = "MOTO_E2E_JOURNAL"

_journal_lock = threading.Lock()


def journal(kind: str, **fields: Any) -> None:
    """Append one record to the journal file named by MOTO_E2E_JOURNAL (no-op without it)."""
    path = os.environ.get(JOURNAL_ENV)
    if not path:
        return
    record = {"kind": kind, "at": dt.datetime.now(dt.UTC).isoformat(), **fields}
    with _journal_lock, open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True, default=str) + "\n")


@dataclass
class _Undo:
    owner: Any
    name: str
    original: Any
    existed: bool


class _Patcher:
    """setattr with a log, so every patch can be undone in reverse order."""

    def __init__(self) -> None:
        self.undo: list[_Undo] = []

    def set(self, owner: Any, name: str, value: Any) -> None:
        existed = name in vars(owner)
        self.undo.append(_Undo(owner, name, vars(owner).get(name), existed))
        setattr(owner, name, value)

    def revert(self) -> None:
        while self.undo:
            item = self.undo.pop()
            if item.existed:
                setattr(item.owner, item.name, item.original)
            else:
                delattr(item.owner, item.name)


# --------------------------------------------------------------------------------------------
# EventBridge: SNS targets, SQS targets in the ARN's account/Region, bus-to-bus forwarding.
# --------------------------------------------------------------------------------------------

_ORIGINAL_SEND_TO_TARGETS = Rule.send_to_targets


def _iso_time(value: Any) -> Any:
    """EventBridge delivers `time` as ISO 8601 UTC without fractions; moto keeps epoch floats."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return value
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _delivered_event(target: dict[str, Any], event: dict[str, Any]) -> Any:
    """What a target receives: the whole event (AWS) unless the target transforms its input."""
    if "InputTransformer" in target:
        transformer = target["InputTransformer"]
        return EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event=event,
        )
    if "Input" in target:
        return json.loads(target["Input"])
    delivered = {k: copy.deepcopy(v) for k, v in event.items() if k != "ingestion-time"}
    delivered["time"] = _iso_time(delivered.get("time"))
    return delivered


def _forward_to_bus(bus_arn: str, event: dict[str, Any]) -> None:
    """Deliver an event to another bus as it is: same id, account, Region, time and detail."""
    arn = parse_arn(bus_arn)
    backend = events_backends[arn.account][arn.region]
    bus = backend.describe_event_bus(arn.resource_id)
    for rule in list(bus.rules.values()):
        if rule.state == "ENABLED":
            rule.send_to_targets(copy.deepcopy(event))


def _send_to_targets(self: Rule, original_event: Any, transform_input: bool = True) -> None:
    """Rule.send_to_targets with the AWS behaviour for event-bus, SQS and SNS targets.

    AWS: an event forwarded to another bus keeps its id, source account, Region and time; an SQS
    or SNS target receives the event in the account and Region of the target's ARN; an SNS target
    publishes the event JSON as the message. Each target is delivered independently: one failing
    target does not stop the others (moto: an SNS target raised NotImplementedError, HTTP 500).
    """
    if not self.event_pattern.matches_event(original_event):
        return
    for target in list(self.targets):
        arn = parse_arn(target["Arn"])
        if arn.service == "events" and arn.resource_type == "event-bus":
            _forward_to_bus(target["Arn"], original_event)
        elif arn.service == "sqs":
            body = _delivered_event(target, original_event) if transform_input else original_event
            group_id = target.get("SqsParameters", {}).get("MessageGroupId")
            sqs_backends[arn.account][arn.region].send_message(
                queue_name=arn.resource_id,
                message_body=json.dumps(body),
                group_id=group_id,
            )
        elif arn.service == "sns":
            body = _delivered_event(target, original_event) if transform_input else original_event
            sns_backends[arn.account][arn.region].publish(
                message=json.dumps(body), arn=target["Arn"]
            )
        else:
            single = copy.copy(self)
            single.targets = [target]
            _ORIGINAL_SEND_TO_TARGETS(single, original_event, transform_input)


def _patch_events(p: _Patcher) -> None:
    p.set(Rule, "send_to_targets", _send_to_targets)


# --------------------------------------------------------------------------------------------
# SQS: SetQueueAttributes keeps the policy; RedrivePolicy is returned compact.
# --------------------------------------------------------------------------------------------

_ORIGINAL_SET_ATTRIBUTES = Queue._set_attributes
_ORIGINAL_ATTRIBUTES = Queue.__dict__["attributes"]


def _patch_events_disabled_rules(p: _Patcher) -> None:
    """AWS: a DISABLED rule matches no event (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_DisableRule.html:
    "A disabled rule won't match any events"); moto 5.2.5 delivers to a disabled rule's targets
    all the same. Wraps whatever Rule.send_to_targets is installed (events.targets' version)."""
    current = Rule.send_to_targets

    def send_if_enabled(self: Rule, original_event: Any, transform_input: bool = True) -> None:
        if self.state == "ENABLED":
            current(self, original_event, transform_input)

    p.set(Rule, "send_to_targets", send_if_enabled)


def _set_attributes(self: Queue, attributes: dict[str, Any], now: float | None = None) -> None:
    """AWS: SetQueueAttributes changes only the attributes it names; a queue's Policy survives
    an update of its other attributes (moto dropped it whenever `Policy` was absent)."""
    kept = getattr(self, "policy", None)
    _ORIGINAL_SET_ATTRIBUTES(self, attributes, now)
    if "Policy" not in attributes:
        self.policy = kept


def _attributes(self: Queue) -> dict[str, Any]:
    """AWS returns RedrivePolicy as compact JSON (moto: json.dumps with spaces)."""
    result: dict[str, Any] = _ORIGINAL_ATTRIBUTES.fget(self)
    if self.redrive_policy:
        result["RedrivePolicy"] = json.dumps(self.redrive_policy, separators=(",", ":"))
    return result


def _patch_sqs_policy(p: _Patcher) -> None:
    p.set(Queue, "_set_attributes", _set_attributes)


def _patch_sqs_redrive(p: _Patcher) -> None:
    p.set(Queue, "attributes", property(_attributes))


# --------------------------------------------------------------------------------------------
# Lambda: an SQS event source mapping does not deliver inside moto (the harness consumer does).
# --------------------------------------------------------------------------------------------

_ORIGINAL_CREATE_ESM = LambdaBackend.create_event_source_mapping


def _create_event_source_mapping(self: LambdaBackend, spec: dict[str, Any]) -> Any:
    """AWS: the mapping's poller reads the queue in batches and invokes the function; messages
    stay in the queue until the function succeeds. moto invoked the function (Docker) on every
    send with every visible message and, without Docker, pushed them towards the DLQ. The
    mapping is kept (Get/List/Update work) but detached from the queue; the e2e consumer polls."""
    esm = _ORIGINAL_CREATE_ESM(self, spec)
    for queue in sqs_backends[self.account_id][self.region_name].queues.values():
        if queue.lambda_event_source_mappings.get(esm.function_arn) is esm:
            del queue.lambda_event_source_mappings[esm.function_arn]
    return esm


def _patch_lambda(p: _Patcher) -> None:
    p.set(LambdaBackend, "create_event_source_mapping", _create_event_source_mapping)


# --------------------------------------------------------------------------------------------
# SSM: DescribeInstanceInformation, ListCommandInvocations, status-change events of SendCommand.
# --------------------------------------------------------------------------------------------

_ORIGINAL_SEND_COMMAND = SimpleSystemManagerBackend.send_command
_ORIGINAL_TARGET_INSTANCES = Command._get_instance_ids_from_targets

_FILTER_FIELDS = {
    "InstanceIds": "InstanceId",
    "PingStatus": "PingStatus",
    "PlatformTypes": "PlatformType",
    "ResourceType": "ResourceType",
}


def _instance_information(instance: Any) -> dict[str, Any]:
    windows = (instance.platform or "").lower() == "windows"
    return {
        "InstanceId": instance.id,
        "PingStatus": "Online",
        "LastPingDateTime": dt.datetime.now(dt.UTC),
        "AgentVersion": "3.3.0.0",
        "IsLatestVersion": True,
        "PlatformType": "Windows" if windows else "Linux",
        "PlatformName": "Microsoft Windows Server 2022 Datacenter" if windows else "Amazon Linux",
        "PlatformVersion": "10.0.20348" if windows else "2023",
        "ResourceType": "EC2Instance",
        "IPAddress": instance.private_ip,
        "ComputerName": instance.private_dns_name,
    }


def _describe_instance_information(self: SimpleSystemManagerResponse) -> ActionResult:
    """AWS: every running managed instance (SSM agent registered) of the account and Region,
    with its PingStatus and PlatformType, filterable by `Filters`. Here every running EC2
    instance is managed and Online, as if its agent had registered at launch."""
    backend = self.ssm_backend
    running = ec2_backends[backend.account_id][backend.region_name].all_running_instances()
    infos = [_instance_information(i) for i in running]
    for flt in self._get_param("Filters") or []:
        if flt["Key"] in _FILTER_FIELDS:
            field, values = _FILTER_FIELDS[flt["Key"]], set(flt.get("Values") or [])
            infos = [i for i in infos if i[field] in values]
    return ActionResult({"InstanceInformationList": infos})


def _list_command_invocations(self: SimpleSystemManagerResponse) -> ActionResult:
    """AWS: one invocation per (command, instance), filterable by CommandId and InstanceId,
    with the plugin outputs when Details is true."""
    command_id = self._get_param("CommandId")
    instance_id = self._get_param("InstanceId")
    details = bool(self._get_param("Details", False))
    if command_id:
        commands = [self.ssm_backend.get_command_by_id(command_id)]
    else:
        commands = list(self.ssm_backend._commands)
    invocations = []
    for command in commands:
        for inv in command.invocations:
            if instance_id and inv["InstanceId"] != instance_id:
                continue
            item = {
                "CommandId": command.command_id,
                "InstanceId": inv["InstanceId"],
                "Comment": command.comment,
                "DocumentName": command.document_name,
                "DocumentVersion": "$DEFAULT",
                "RequestedDateTime": command.requested_date_time,
                "Status": inv["Status"],
                "StatusDetails": inv["StatusDetails"],
                "StandardOutputUrl": "",
                "StandardErrorUrl": "",
                "ServiceRole": command.service_role_arn,
            }
            if details:
                item["CommandPlugins"] = [
                    {
                        "Name": inv["PluginName"],
                        "Status": inv["Status"],
                        "StatusDetails": inv["StatusDetails"],
                        "ResponseCode": inv["ResponseCode"],
                        "Output": inv["StandardOutputContent"],
                    }
                ]
            invocations.append(item)
    return ActionResult({"CommandInvocations": invocations})


def _first_step(backend: SimpleSystemManagerBackend, name: str | None) -> dict[str, Any]:
    """The first of a document's mainSteps (its plugin: action and inputs), {} if unknown."""
    documents = backend._documents.get(name or "")
    content = documents.get_default_version().content_json if documents else None
    steps = (content or {}).get("mainSteps") or [{}]
    return dict(steps[0])


def _status_event(command: Command, instance_id: str, status: str, region: str) -> dict[str, Any]:
    requested = command.requested_date_time.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "Source": "aws.ssm",
        "DetailType": "EC2 Command Invocation Status-change Notification",
        "Resources": [f"arn:aws:ec2:{region}:{command.account_id}:instance/{instance_id}"],
        "Detail": json.dumps(
            {
                "command-id": command.command_id,
                "document-name": command.document_name,
                "instance-id": instance_id,
                "requested-date-time": requested,
                "status": status,
            }
        ),
    }


def _get_instance_ids_from_targets(self: Command) -> list[str]:
    """AWS: a command sent with InstanceIds and no Targets runs on those instances only (moto
    read "no targets" as "no filter" and ran it on every instance of the account and Region)."""
    if not self.targets:
        return []
    return list(_ORIGINAL_TARGET_INSTANCES(self))


#: JSON object {host name: command prefix}; an instance tagged `e2eHost=<host name>` has a real
#: "agent": its shell documents run with that prefix (e.g. nsenter into a Samba client namespace).
AGENTS_ENV = "MOTO_E2E_AGENTS"
AGENT_TAG = "e2eHost"
_OUTPUT_LIMIT = 2500  # AWS truncates StandardOutputContent to 2500 characters


def _agent_prefix(account_id: str, region: str, instance_id: str) -> list[str] | None:
    agents = json.loads(os.environ.get(AGENTS_ENV) or "{}")
    if not agents:
        return None
    instance = ec2_backends[account_id][region].get_instance(instance_id)
    host = {t["key"]: t["value"] for t in instance.get_tags()}.get(AGENT_TAG)
    return list(agents[host]) if host in agents else None


def _run_on_agent(
    backend: SimpleSystemManagerBackend,
    command: Command,
    invocation: dict[str, Any],
    prefix: list[str],
) -> None:
    """Run the document's script as the SSM agent would: parameters as SSM_<name> variables
    (interpolationType ENV_VAR), then report the exit code as the invocation's status."""
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C.UTF-8"}
    for name, values in command.parameters.items():
        env[f"SSM_{name}"] = values[0] if values else ""
    commands = _first_step(backend, command.document_name).get("inputs", {}).get("runCommand", [])
    script = "\n".join(commands) if isinstance(commands, list) else str(commands)
    started = dt.datetime.now(dt.UTC)
    try:
        done = subprocess.run(
            [*prefix, "bash", "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=min(command.timeout_seconds or 600, 600),
            check=False,
        )
        code, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired:
        code, out, err = 124, "", "timed out"
    status = "Success" if code == 0 else "Failed"
    invocation.update(
        Status=status,
        StatusDetails=status,
        ResponseCode=code,
        StandardOutputContent=out[-_OUTPUT_LIMIT:],
        StandardErrorContent=err[-_OUTPUT_LIMIT:],
    )
    journal(
        "ssm.agent_run",
        account=backend.account_id,
        region=backend.region_name,
        command_id=command.command_id,
        instance=invocation["InstanceId"],
        document=command.document_name,
        exit_code=code,
        seconds=round((dt.datetime.now(dt.UTC) - started).total_seconds(), 2),
    )
    events = events_backends[backend.account_id][backend.region_name]
    events.put_events(
        [_status_event(command, invocation["InstanceId"], status, backend.region_name)]
    )


def _send_command(self: SimpleSystemManagerBackend, **kwargs: Any) -> Command:
    """AWS: Run Command runs the document on each instance and, for each invocation, emits
    `EC2 Command Invocation Status-change Notification` on the default event bus of the
    instance's account and Region. Here an invocation succeeds at once (no script runs), unless
    the instance has a real agent (MOTO_E2E_AGENTS, tag e2eHost): then it is InProgress while
    the document's script runs there, and its exit code decides Success or Failed. The plugin
    is the document's first step; the event travels the normal routing. Parameters are
    journaled by name only (values may hold a one-time password)."""
    command = _ORIGINAL_SEND_COMMAND(self, **kwargs)
    plugin = str(_first_step(self, command.document_name).get("action", "aws:runShellScript"))
    for inv in command.invocations:
        inv["PluginName"] = plugin
    journal(
        "ssm.send_command",
        account=self.account_id,
        region=self.region_name,
        command_id=command.command_id,
        document=command.document_name,
        instances=sorted(command.instance_ids),
        parameter_names=sorted(command.parameters),
    )
    events = events_backends[self.account_id][self.region_name]
    for inv in command.invocations:
        prefix = _agent_prefix(self.account_id, self.region_name, inv["InstanceId"])
        if prefix is None:
            events.put_events(
                [_status_event(command, inv["InstanceId"], "Success", self.region_name)]
            )
            continue
        inv.update(Status="InProgress", StatusDetails="InProgress", ResponseCode=-1)
        threading.Thread(
            target=_run_on_agent, args=(self, command, inv, prefix), daemon=True
        ).start()
    return command


def _patch_ssm_send_command(p: _Patcher) -> None:
    p.set(SimpleSystemManagerBackend, "send_command", _send_command)
    p.set(Command, "_get_instance_ids_from_targets", _get_instance_ids_from_targets)


def _patch_ssm_instance_information(p: _Patcher) -> None:
    p.set(
        SimpleSystemManagerResponse,
        "describe_instance_information",
        _describe_instance_information,
    )


def _patch_ssm_command_invocations(p: _Patcher) -> None:
    p.set(SimpleSystemManagerResponse, "list_command_invocations", _list_command_invocations)


# --------------------------------------------------------------------------------------------
# Directory Service: a minimal CreateComputer.
# --------------------------------------------------------------------------------------------

_COMPUTERS_ATTR = "e2e_computers"


def create_computer_backend(
    self: DirectoryServiceBackend,
    *,
    directory_id: str,
    computer_name: str,
    password: str,
    ou: str | None,
    attributes: list[dict[str, str]] | None,
) -> dict[str, Any]:
    """AWS: CreateComputer creates a computer object with the given password in the directory
    (in `OrganizationalUnitDistinguishedName`, default the Computers container); an existing
    name fails with EntityAlreadyExistsException. The password is not kept here."""
    self._validate_directory_id(directory_id)
    directory = self.directories[directory_id]
    computers: dict[str, dict[str, Any]] = self.__dict__.setdefault(_COMPUTERS_ATTR, {})
    key = f"{directory_id}/{computer_name.upper()}"
    if key in computers:
        raise EntityAlreadyExistsException(f"Computer {computer_name} already exists.")
    base_dn = ",".join(f"DC={part}" for part in directory.name.split("."))
    container = ou or f"CN=Computers,{base_dn}"
    computer = {
        "ComputerId": f"S-1-5-21-{uuid.uuid4().int % 10**10}-{len(computers) + 1000}",
        "ComputerName": computer_name,
        "ComputerAttributes": [
            {"Name": "DistinguishedName", "Value": f"CN={computer_name},{container}"},
            {"Name": "WindowsSamName", "Value": f"{computer_name}$"},
            *(attributes or []),
        ],
    }
    computers[key] = computer
    journal(
        "ds.create_computer",
        account=self.account_id,
        region=self.region_name,
        directory_id=directory_id,
        computer=computer_name,
        dn=computer["ComputerAttributes"][0]["Value"],
        password_given=bool(password),
    )
    return computer


def _create_computer(self: DirectoryServiceResponse) -> ActionResult:
    computer = create_computer_backend(
        self.ds_backend,
        directory_id=self._get_param("DirectoryId"),
        computer_name=self._get_param("ComputerName"),
        password=self._get_param("Password"),
        ou=self._get_param("OrganizationalUnitDistinguishedName"),
        attributes=self._get_param("ComputerAttributes"),
    )
    return ActionResult({"Computer": computer})


def _patch_ds(p: _Patcher) -> None:
    p.set(DirectoryServiceResponse, "create_computer", _create_computer)


# --------------------------------------------------------------------------------------------
# Auto Scaling lifecycle hooks: moto 5.2.5 stores hooks but never waits for them, sends no
# lifecycle action events, and implements neither CompleteLifecycleAction nor
# RecordLifecycleActionHeartbeat.
# --------------------------------------------------------------------------------------------

#: the lifecycle actions waiting for completion, by token (one moto process: one dict)
_lifecycle_actions: dict[str, dict[str, Any]] = {}
_lifecycle_lock = threading.Lock()
_ORIGINAL_SET_DESIRED = FakeAutoScalingGroup.set_desired_capacity
_TRANSITIONS = {
    "launch": ("autoscaling:EC2_INSTANCE_LAUNCHING", "EC2 Instance-launch Lifecycle Action"),
    "terminate": (
        "autoscaling:EC2_INSTANCE_TERMINATING",
        "EC2 Instance-terminate Lifecycle Action",
    ),
}


def _hooks(group: FakeAutoScalingGroup, transition: str) -> list[Any]:
    wanted = _TRANSITIONS[transition][0]
    return [
        h
        for h in group.autoscaling_backend.lifecycle_hooks.values()
        if h.auto_scaling_group_name == group.name and h.lifecycle_transition == wanted
    ]


def _wait_for_hooks(group: FakeAutoScalingGroup, state: InstanceState, transition: str) -> bool:
    """Put the instance in Pending:Wait / Terminating:Wait and send one lifecycle action event
    per hook to the account's default bus, shaped as the EventBridge event reference for Amazon
    EC2 Auto Scaling shows it
    (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-event-reference.html)."""
    hooks = _hooks(group, transition)
    if not hooks:
        return False
    backend = group.autoscaling_backend
    account, region = backend.account_id, backend.region_name
    launch = transition == "launch"
    state.lifecycle_state = "Pending:Wait" if launch else "Terminating:Wait"
    for hook in hooks:
        token = str(uuid.uuid4())
        with _lifecycle_lock:
            _lifecycle_actions[token] = {
                "group": group,
                "hook": hook.name,
                "instance_id": state.instance.id,
                "transition": transition,
            }
        detail = {
            "LifecycleActionToken": token,
            "AutoScalingGroupName": group.name,
            "LifecycleHookName": hook.name,
            "EC2InstanceId": state.instance.id,
            "LifecycleTransition": _TRANSITIONS[transition][0],
            "Origin": "EC2" if launch else "AutoScalingGroup",
            "Destination": "AutoScalingGroup" if launch else "EC2",
        }
        entry = {
            "Source": "aws.autoscaling",
            "DetailType": _TRANSITIONS[transition][1],
            "Detail": json.dumps(detail),
            "Resources": [group.arn],
            "EventBusName": "default",
        }
        events_backends[account][region].put_events([entry])
        journal(
            "autoscaling.lifecycle_action",
            transition=transition,
            instance_id=state.instance.id,
            hook=hook.name,
            group=group.name,
        )
    return True


def _set_desired_capacity(self: FakeAutoScalingGroup, new_capacity: int | None) -> None:
    """AWS: a group with a launch hook puts each new instance in Pending:Wait until its action
    is completed; a group with a terminate hook puts each instance it scales in in
    Terminating:Wait and terminates it when the action is completed
    (https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks-overview.html)."""
    waiting = [s for s in self.instance_states if s.lifecycle_state == "Terminating:Wait"]
    before = {s.instance.id for s in self.instance_states}
    in_service = [s for s in self.instance_states if s.lifecycle_state != "Terminating:Wait"]
    target = self.min_size if new_capacity is None else new_capacity
    if len(in_service) > (target or 0) and _hooks(self, "terminate"):
        self.desired_capacity = target
        for state in [s for s in in_service if not s.protected_from_scale_in][
            : len(in_service) - (target or 0)
        ]:
            _wait_for_hooks(self, state, "terminate")
        return
    self.instance_states = in_service  # moto counts every state as active
    try:
        _ORIGINAL_SET_DESIRED(self, new_capacity)
    finally:
        self.instance_states += waiting
    for state in self.instance_states:
        if state.instance.id not in before:
            _wait_for_hooks(self, state, "launch")


def _active_action(token: str | None, hook: str | None, instance_id: str | None) -> str:
    with _lifecycle_lock:
        for key, action in _lifecycle_actions.items():
            if token == key or (
                token is None and action["hook"] == hook and action["instance_id"] == instance_id
            ):
                return key
    raise AutoScalingValidationError(
        f"No active Lifecycle Action found with token {token}"
        if token
        else f"No active Lifecycle Action found with instance ID {instance_id}"
    )


def _complete_lifecycle_action(self: AutoScalingResponse) -> ActionResult:
    """AWS: CONTINUE puts a launching instance in service, ABANDON terminates it; a terminating
    instance is terminated either way; an unknown or completed token is a ValidationError
    (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CompleteLifecycleAction.html)."""
    result = self._get_param("LifecycleActionResult")
    key = _active_action(
        self._get_param("LifecycleActionToken"),
        self._get_param("LifecycleHookName"),
        self._get_param("InstanceId"),
    )
    with _lifecycle_lock:
        action = _lifecycle_actions.pop(key)
        group, instance_id = action["group"], action["instance_id"]
        others = [a for a in _lifecycle_actions.values() if a["instance_id"] == instance_id]
    journal(
        "autoscaling.lifecycle_completed",
        instance_id=instance_id,
        hook=action["hook"],
        result=result,
    )
    if others:  # another hook of the same transition still waits
        return EmptyResult()
    states = [s for s in group.instance_states if s.instance.id == instance_id]
    if action["transition"] == "launch" and result == "CONTINUE":
        for state in states:
            state.lifecycle_state = "InService"
    else:
        group.instance_states = [s for s in group.instance_states if s not in states]
        group.autoscaling_backend.ec2_backend.terminate_instances([instance_id])
    return EmptyResult()


def _record_lifecycle_action_heartbeat(self: AutoScalingResponse) -> ActionResult:
    """AWS: a heartbeat of an active action extends its timeout; otherwise a ValidationError
    (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RecordLifecycleActionHeartbeat.html)."""
    key = _active_action(
        self._get_param("LifecycleActionToken"),
        self._get_param("LifecycleHookName"),
        self._get_param("InstanceId"),
    )
    with _lifecycle_lock:
        instance_id = _lifecycle_actions[key]["instance_id"]
    journal("autoscaling.lifecycle_heartbeat", instance_id=instance_id)
    return EmptyResult()


def lifecycle_actions() -> list[dict[str, str]]:
    """The actions still waiting (for tests)."""
    with _lifecycle_lock:
        return [
            {"token": k, "hook": a["hook"], "instance_id": a["instance_id"]}
            for k, a in _lifecycle_actions.items()
        ]


def _patch_autoscaling_lifecycle(p: _Patcher) -> None:
    p.set(FakeAutoScalingGroup, "set_desired_capacity", _set_desired_capacity)
    p.set(AutoScalingResponse, "complete_lifecycle_action", _complete_lifecycle_action)
    p.set(
        AutoScalingResponse, "record_lifecycle_action_heartbeat", _record_lifecycle_action_heartbeat
    )


# --------------------------------------------------------------------------------------------

#: every patch by name; tests/e2e/test_moto_patches.py proves each one with the others applied
PATCHES: dict[str, Callable[[_Patcher], None]] = {
    "events.targets": _patch_events,
    "events.disabled_rules": _patch_events_disabled_rules,
    "sqs.policy": _patch_sqs_policy,
    "sqs.redrive": _patch_sqs_redrive,
    "lambda.esm": _patch_lambda,
    "ssm.send_command": _patch_ssm_send_command,
    "ssm.instance_information": _patch_ssm_instance_information,
    "ssm.command_invocations": _patch_ssm_command_invocations,
    "ds.create_computer": _patch_ds,
    "autoscaling.lifecycle": _patch_autoscaling_lifecycle,
}

_applied: _Patcher | None = None


def apply() -> None:
    """Apply every patch for the rest of the process (idempotent)."""
    global _applied  # noqa: PLW0603
    if _applied is not None:
        return
    patcher = _Patcher()
    for install in PATCHES.values():
        install(patcher)
    _applied = patcher


@contextmanager
def patched(exclude: frozenset[str] = frozenset()) -> Iterator[None]:
    """Apply every patch (but those named in `exclude`) for the duration of the block, then
    restore moto as shipped."""
    unknown = exclude - PATCHES.keys()
    if unknown:
        raise KeyError(f"unknown patches: {sorted(unknown)}")
    patcher = _Patcher()
    try:
        for name, install in PATCHES.items():
            if name not in exclude:
                install(patcher)
        yield
    finally:
        patcher.revert()


# --- Emulator speed, no change of behaviour (used by the in-process benchmark) -------------------
#
# moto 5.2.5 `DynamoDBBackend.transact_write_items` deep-copies the whole table once per item of
# the transaction, to roll back if the transaction is cancelled: a 100-item transaction on a table
# of N items costs 100 deep copies of N items (about a second of CPU here), a cost of the emulator,
# not of DynamoDB. While `fast_transactions()` is active, the table copies made by one transaction
# are shared between its items: the copy is still taken before any write of the transaction, so the
# rollback restores exactly the same state. tests/unit/test_bench_moto_patch.py checks that commit
# and rollback behave as DynamoDB's all-or-nothing transactions do.

_transaction_local = threading.local()


class _CopyTablesOnce:
    """Stands in for the `copy` module inside moto.dynamodb.models during a transaction."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(obj: Any, memo: Any = None) -> Any:
        copies: dict[int, Any] | None = getattr(_transaction_local, "copies", None)
        if copies is None or not isinstance(obj, Table):
            return copy.deepcopy(obj, memo)
        if id(obj) not in copies:
            copies[id(obj)] = copy.deepcopy(obj)
        return copies[id(obj)]


@contextmanager
def fast_transactions() -> Iterator[None]:
    original = ddb_models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        _transaction_local.copies = {}
        try:
            original(self, transact_items)
        finally:
            _transaction_local.copies = None

    ddb_models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    ddb_models.copy = _CopyTablesOnce()  # type: ignore[assignment]
    try:
        yield
    finally:
        ddb_models.DynamoDBBackend.transact_write_items = original  # type: ignore[method-assign]
        ddb_models.copy = copy

"""What Terraform creates, as the policy engine needs it: roles with their trust and inline
policies, the queue, topic and bus policies, the keys with their key policies and what each
encrypts, the rules with their targets, subscriptions, the event source mapping and alarms.

Built from a plan (`resource_changes[].change.after`) or an applied state (`terraform show
-json`), never re-typed. Values a plan does not know yet (ARNs) are derived from names with the
account and Region the caller says each module address runs in; key ARNs unknown at plan time get
a stable stand-in (`key/<module address>`), and a queue or topic whose key is unknown is encrypted
with the key of its own module instance (each module has one).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Policy = dict[str, Any]
Place = Callable[[str], tuple[str, str]]  # module address -> (account, Region)


@dataclass
class Role:
    arn: str
    account: str
    trust: Policy
    policies: list[tuple[str, Policy]] = field(default_factory=list)
    managed: list[str] = field(default_factory=list)


@dataclass
class Target:
    rule_arn: str
    rule_account: str
    region: str
    arn: str
    role_arn: str | None
    pattern: dict[str, Any]


@dataclass
class Deployment:
    partition: str = "aws"
    organization_id: str | None = None
    roles: dict[str, Role] = field(default_factory=dict)
    resource_policies: dict[str, Policy] = field(default_factory=dict)  # queue, topic, bus ARN
    key_policies: dict[str, Policy] = field(default_factory=dict)  # key ARN
    encrypted_by: dict[str, str] = field(default_factory=dict)  # resource ARN -> key ARN
    targets: list[Target] = field(default_factory=list)
    subscriptions: list[tuple[str, str]] = field(default_factory=list)  # (topic, endpoint)
    event_source_mappings: list[tuple[str, str]] = field(default_factory=list)  # (queue, role)
    functions: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (role, log group)
    alarms: list[tuple[str, list[str]]] = field(default_factory=list)  # (alarm ARN, actions)
    documents: set[str] = field(default_factory=set)  # SSM document ARNs
    accounts: set[str] = field(default_factory=set)

    def role(self, arn: str) -> Role:
        """The role of an ARN or an assumed-role session ARN."""
        if ":assumed-role/" in arn:
            _, _, _, _, account, rest = arn.split(":", 5)
            arn = f"arn:{self.partition}:iam::{account}:role/{rest.split('/')[1]}"
        if arn not in self.roles:
            raise KeyError(f"no role {arn} in what Terraform creates")
        return self.roles[arn]

    def key_of(self, resource_arn: str) -> str | None:
        return self.encrypted_by.get(resource_arn)

    def key_account(self, key_arn: str) -> str:
        return key_arn.split(":")[4]


def module_of(address: str) -> str:
    """`module.a[0].module.b.aws_x.y` -> `module.a[0].module.b` ("" at the root)."""
    parts = address.split(".")
    keep: list[str] = []
    i = 0
    while i + 1 < len(parts) and parts[i] == "module":
        keep += parts[i : i + 2]
        i += 2
    return ".".join(keep)


def _outer_module(address: str) -> str:
    """The first module of an address (`module.hub`), which decides its account and Region."""
    parts = address.split(".")
    return ".".join(parts[:2]) if parts[0] == "module" else ""


def resources_of_plan(raw: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for change in raw.get("resource_changes", []):
        if change.get("mode") == "managed" and "create" in change["change"]["actions"]:
            yield change["address"], change["type"], change["change"]["after"] or {}


def resources_of_state(show: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    def walk(module: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for resource in module.get("resources", []):
            if resource.get("mode") == "managed":
                yield resource["address"], resource["type"], resource.get("values") or {}
        for child in module.get("child_modules", []):
            yield from walk(child)

    yield from walk(show.get("values", {}).get("root_module", {}))


def _doc(text: Any) -> Policy | None:
    return json.loads(text) if isinstance(text, str) and text.startswith("{") else None


def _statements(policy: Policy) -> list[dict[str, Any]]:
    body = policy.get("Statement", [])
    return body if isinstance(body, list) else [body]


def _policy_resource(policy: Policy) -> str:
    """The one resource a queue, topic or bus policy is about (its statements name it)."""
    found = {
        r
        for s in _statements(policy)
        for r in (s.get("Resource") if isinstance(s.get("Resource"), list) else [s.get("Resource")])
        if r
    }
    if len(found) != 1:
        raise ValueError(f"a resource policy naming {sorted(found)}")
    return found.pop()


def _role_name(values: dict[str, Any], address: str, items: list[Any]) -> str:
    """The role an inline policy belongs to. At plan time `role` (the role's id) is unknown:
    then it is the role of the same module whose resource name starts the policy's
    (`aws_iam_role.lambda` for `aws_iam_role_policy.lambda_kms`)."""
    if values.get("role"):
        return str(values["role"])
    module, name = module_of(address), address.rsplit(".", 1)[1].split("[", maxsplit=1)[0]
    for other, kind, other_values in items:
        other_name = other.rsplit(".", 1)[1].split("[")[0]
        if kind == "aws_iam_role" and module_of(other) == module and name.startswith(other_name):
            return str(other_values["name"])
    raise ValueError(f"{address}: no role for this policy")


def build(
    resources: Iterator[tuple[str, str, dict[str, Any]]],
    place: Place,
    *,
    organization_id: str | None = None,
    partition: str = "aws",
) -> Deployment:
    dep = Deployment(partition=partition, organization_id=organization_id)
    items = list(resources)
    keys_by_module: dict[str, str] = {}
    pending_policies: list[tuple[str, str, Policy]] = []  # (address, role name, policy)
    pending_attachments: list[tuple[str, str, str]] = []
    rules: dict[tuple[str, str, str], tuple[str, dict[str, Any]]] = {}
    raw_targets: list[tuple[str, dict[str, Any]]] = []
    queues: list[tuple[str, str, str]] = []  # (ARN, kind, address)
    topics: list[tuple[str, str, str]] = []

    def where(address: str) -> tuple[str, str]:
        return place(_outer_module(address))

    for address, kind, values in items:
        account, region = where(address)
        dep.accounts.add(account)
        if kind == "aws_kms_key":
            arn = values.get("arn") or f"arn:{partition}:kms:{region}:{account}:key/{address}"
            keys_by_module[module_of(address)] = arn
            policy = _doc(values.get("policy"))
            if policy is None:
                raise ValueError(f"{address}: key policy unknown")
            dep.key_policies[arn] = policy
    for address, kind, values in items:
        account, region = where(address)
        own_key = keys_by_module.get(module_of(address))
        if kind == "aws_iam_role":
            arn = values.get("arn") or f"arn:{partition}:iam::{account}:role/{values['name']}"
            trust = _doc(values.get("assume_role_policy"))
            if trust is None:
                raise ValueError(f"{address}: trust policy unknown at plan time")
            dep.roles[arn] = Role(arn, account, trust)
        elif kind == "aws_iam_role_policy":
            policy = _doc(values.get("policy"))
            if policy is not None:  # unknown at plan time: the key grant (named key ARN)
                pending_policies.append((address, _role_name(values, address, items), policy))
        elif kind == "aws_iam_role_policy_attachment":
            pending_attachments.append((address, str(values["role"]), str(values["policy_arn"])))
        elif kind in (
            "aws_sqs_queue_policy",
            "aws_sns_topic_policy",
            "aws_cloudwatch_event_bus_policy",
        ):
            policy = _doc(values.get("policy"))
            if policy is None:
                raise ValueError(f"{address}: policy unknown")
            dep.resource_policies[_policy_resource(policy)] = policy
        elif kind in ("aws_sqs_queue", "aws_sns_topic"):
            service = kind.split("_")[1]
            arn = (
                values.get("arn")
                or f"arn:{partition}:{service}:{region}:{account}:{values['name']}"
            )
            key = values.get("kms_master_key_id") or own_key
            (queues if service == "sqs" else topics).append((arn, kind, address))
            if key:
                dep.encrypted_by[arn] = key
        elif kind == "aws_dynamodb_table":
            arn = (
                values.get("arn")
                or f"arn:{partition}:dynamodb:{region}:{account}:table/{values['name']}"
            )
            sse = (values.get("server_side_encryption") or [{}])[0]
            if sse.get("enabled"):
                dep.encrypted_by[arn] = sse.get("kms_key_arn") or own_key or ""
        elif kind == "aws_cloudwatch_log_group":
            arn = f"arn:{partition}:logs:{region}:{account}:log-group:{values['name']}"
            dep.encrypted_by[arn] = values.get("kms_key_id") or own_key or ""
        elif kind == "aws_cloudwatch_event_rule":
            bus = values.get("event_bus_name") or "default"
            name = values["name"]
            path = name if bus == "default" else f"{bus}/{name}"
            rule_arn = values.get("arn") or f"arn:{partition}:events:{region}:{account}:rule/{path}"
            rules[(module_of(address), bus, name)] = (rule_arn, json.loads(values["event_pattern"]))
        elif kind == "aws_cloudwatch_event_target":
            raw_targets.append((address, values))
        elif kind == "aws_sns_topic_subscription":
            topic = values.get("topic_arn")
            endpoint = values.get("endpoint")
            if topic is None:  # the topic of the same module (unknown at plan time)
                name = next(
                    v["name"]
                    for a, k, v in items
                    if k == "aws_sns_topic" and module_of(a) == module_of(address)
                )
                topic = f"arn:{partition}:sns:{region}:{account}:{name}"
            dep.subscriptions.append((topic, endpoint or ""))
        elif kind == "aws_lambda_function":
            log_group = f"arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/"
            dep.functions[values["function_name"]] = (
                str(values.get("role") or ""),
                log_group + values["function_name"],
            )
        elif kind == "aws_lambda_event_source_mapping":
            dep.event_source_mappings.append((str(values.get("event_source_arn") or ""), address))
        elif kind == "aws_cloudwatch_metric_alarm":
            arn = values.get("arn") or (
                f"arn:{partition}:cloudwatch:{region}:{account}:alarm:{values['alarm_name']}"
            )
            dep.alarms.append((arn, list(values.get("alarm_actions") or [])))
        elif kind == "aws_ssm_document":
            dep.documents.add(f"arn:{partition}:ssm:{region}:{account}:document/{values['name']}")

    by_name = {(r.account, r.arn.rsplit("/", 1)[1]): r for r in dep.roles.values()}
    for address, role_name, policy in pending_policies:
        account, _ = where(address)
        by_name[(account, role_name.split(":")[-1].split("/")[-1])].policies.append(
            (address, policy)
        )
    for address, role_name, policy_arn in pending_attachments:
        account, _ = where(address)
        by_name[(account, role_name)].managed.append(policy_arn)
    for address, values in raw_targets:
        account, region = where(address)
        bus = values.get("event_bus_name") or "default"
        rule_arn, pattern = rules[(module_of(address), bus, values["rule"])]
        target_arn = str(values.get("arn") or "")
        if not target_arn:  # the topic or queue of the same module, unknown at plan time
            outer = _outer_module(address)
            same = [
                a
                for a, _, m in topics + queues
                if _outer_module(m) == outer and a.endswith(("-events", "-queue"))
            ]
            target_arn = same[0] if same else ""
        role_arn = values.get("role_arn")
        if role_arn is None and ":event-bus/" in target_arn:  # the module's forward role
            role_arn = next(
                (
                    r.arn
                    for r in dep.roles.values()
                    if r.account == account and r.arn.endswith(f"-forward-{region}")
                ),
                None,
            )
        dep.targets.append(Target(rule_arn, account, region, target_arn, role_arn, pattern))
    # a subscription endpoint or mapping source unknown at plan time is the hub queue
    queue_arns = [arn for arn, _, _ in queues if arn.endswith("-queue")]
    dep.subscriptions = [(t, e or queue_arns[0]) for t, e in dep.subscriptions]
    dep.event_source_mappings = [(q or queue_arns[0], a) for q, a in dep.event_source_mappings]
    for name, (known, group) in list(dep.functions.items()):
        account = group.split(":")[4]
        dep.functions[name] = (known or f"arn:{partition}:iam::{account}:role/{name}-lambda", group)
    return dep

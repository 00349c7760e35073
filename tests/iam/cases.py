"""The proof's cases: recorded requests, modelled deliveries and the requests that must fail.

Every recorded request becomes the authorizations AWS makes for it (one per resource; SendCommand
authorizes its document and each instance), plus the AWS KMS calls the service makes with the
caller's credentials on an encrypted resource. Every delivery is modelled from AWS's
documentation, cited next to it; where a page says nothing about a context key, the model does
not send that key, so no policy may depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.iam.deployment import Deployment
from tests.iam.simulator import Case, Policy

DOC = {
    "assume_role": "https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html",
    "transact": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html",
    "ddb_kms": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.howitworks.html",
    "sqs_kms": "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html",
    "sqs_batch": "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html",
    "ssm_kms": "https://docs.aws.amazon.com/kms/latest/developerguide/services-parameter-store.html",
    "ssm_auth": "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssystemsmanager.html",
    "ec2_tags": "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html",
    "ds_auth": "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsdirectoryservice.html",
    "asg_auth": "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2autoscaling.html",
    "sm_kms": "https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html",
    "eb_role": "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cross-account.html",
    "eb_deputy": "https://docs.aws.amazon.com/eventbridge/latest/userguide/cross-service-confused-deputy-prevention.html",
    "eb_conditions": "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html",
    "eb_targets": "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html",
    "sns_kms": "https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html",
    "sns_sqs": "https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html",
    "sns_regions": "https://docs.aws.amazon.com/sns/latest/dg/sns-cross-region-delivery.html",
    "esm": "https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html",
    "lambda_role": "https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html",
    "lambda_logs": "https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html",
    "logs_kms": "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html",
    "alarm_sns": "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Notify_Users_Alarm_Changes.html",
    "dlq_redrive": "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html",
    "kms_keys": "https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html",
    "org_keys": "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html",
}

#: Regions SNS documents as opt-in: a delivery from one of them uses sns.<region>.amazonaws.com
#: (DOC["sns_regions"]); the list is the page's table.
SNS_OPT_IN_REGIONS = frozenset(
    {
        "af-south-1",
        "ap-east-1",
        "ap-south-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-northeast-3",
        "eu-south-1",
        "eu-south-2",
        "eu-central-2",
        "il-central-1",
        "me-south-1",
        "me-central-1",
    }
)


@dataclass
class World:
    """The deployment and what AWS knows besides it: which accounts are in the organization, the
    instances' tags, and which key encrypts the operator's SecureStrings and secrets."""

    dep: Deployment
    hub_account: str
    org_of: dict[str, str] = field(default_factory=dict)  # account -> organization id
    instance_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    group_tags: dict[str, dict[str, str]] = field(default_factory=dict)  # Auto Scaling group
    secure: dict[str, str] = field(default_factory=dict)  # parameter / secret ARN -> key ARN

    @property
    def partition(self) -> str:
        return self.dep.partition


def account_of(arn: str) -> str:
    return arn.split(":")[4]


def session_arn(role_arn: str, session: str = "ad-join") -> str:
    partition, account = role_arn.split(":")[1], account_of(role_arn)
    name = role_arn.rsplit("/", maxsplit=1)[-1]
    return f"arn:{partition}:sts::{account}:assumed-role/{name}/{session}"


def role_of(principal: str) -> str:
    """The role ARN of an assumed-role session ARN."""
    if ":assumed-role/" not in principal:
        return principal
    partition, account = principal.split(":")[1], account_of(principal)
    return f"arn:{partition}:iam::{account}:role/{principal.split('/')[1]}"


def _global_context(world: World, principal: str, resource_account: str) -> dict[str, Any]:
    """What AWS adds to every signed request (DOC["org_keys"])."""
    ctx: dict[str, Any] = {
        "aws:SecureTransport": "true",
        "aws:ResourceAccount": resource_account,
    }
    if principal.startswith("arn:"):
        account = account_of(principal)
        ctx["aws:PrincipalAccount"] = account
        ctx["aws:PrincipalArn"] = role_of(principal)
        if account in world.org_of:
            ctx["aws:PrincipalOrgID"] = world.org_of[account]
    if resource_account in world.org_of:
        ctx["aws:ResourceOrgID"] = world.org_of[resource_account]
    return ctx


def _identity(world: World, principal: str) -> list[tuple[str, Policy]]:
    if not principal.startswith("arn:"):
        return []  # a service principal has no identity policies
    try:
        return list(world.dep.role(role_of(principal)).policies)
    except KeyError:
        return []


def case(  # noqa: PLR0917 - the authorization's own parts, in the order AWS names them
    world: World,
    case_id: str,
    kind: str,
    principal: str,
    action: str,
    resource: str,
    *,
    resource_account: str | None = None,
    context: dict[str, Any] | None = None,
    resource_policy: Policy | None = None,
    identity: list[tuple[str, Policy]] | None = None,
    expect: str = "Allowed",
    why: str = "",
    operation: str = "",
) -> Case:
    account = resource_account or (account_of(resource) if resource.startswith("arn:") else "")
    if not account and principal.startswith("arn:"):
        account = account_of(principal)
    ctx = _global_context(world, principal, account)
    ctx.update(context or {})
    return Case(
        id=case_id,
        kind=kind,
        principal=principal,
        action=action,
        resource=resource,
        resource_account=account,
        context=ctx,
        identity=_identity(world, principal) if identity is None else identity,
        resource_policy=resource_policy,
        expect=expect,
        why=why,
        operation=operation,
    )


def _kms(  # noqa: PLR0917
    world: World,
    case_id: str,
    kind: str,
    principal: str,
    actions: list[str],
    key: str | None,
    context: dict[str, Any],
    why: str,
    operation: str = "",
) -> list[Case]:
    if not key:
        return []
    policy = world.dep.key_policies.get(key)
    return [
        case(
            world,
            f"{case_id}:{action}",
            kind,
            principal,
            action,
            key,
            context=context,
            resource_policy=policy,
            why=why,
            operation=operation,
        )
        for action in actions
    ]


# ------------------------------------------------------------------ recorded requests


def _queue_arn(world: World, url: str, region: str) -> str:
    account, name = url.rstrip("/").split("/")[-2:]
    return f"arn:{world.partition}:sqs:{region}:{account}:{name}"


def _param_arn(world: World, name: str, region: str, account: str) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:{world.partition}:ssm:{region}:{account}:parameter/{name.lstrip('/')}"


SQS_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
    "DeleteMessageBatch": "DeleteMessage",
}
TRANSACT_ACTIONS = {
    "Update": "UpdateItem",
    "Put": "PutItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",  # TransactGetItems (DOC["transact"])
}


def request_cases(world: World, records: list[dict[str, Any]]) -> list[Case]:
    """The authorizations behind each distinct recorded request."""
    cases: dict[str, Case] = {}
    for record in records:
        for c in _request(world, record):
            cases.setdefault(c.id, c)
    return list(cases.values())


def _request(world: World, rec: dict[str, Any]) -> list[Case]:
    service, op, p = rec["service"], rec["operation"], rec.get("params") or {}
    principal, region = rec["principal"], rec["region"] or "us-east-1"
    account = account_of(principal)
    operation = f"{service}:{op}"
    part = world.partition
    base = f"{role_of(principal).split('/')[-1]}@{account}/{region} {op}"

    def one(action: str, resource: str, suffix: str = "", **kw: Any) -> Case:
        return case(
            world,
            f"{base}{suffix}",
            "request",
            principal,
            action,
            resource,
            operation=operation,
            **kw,
        )

    def via_kms(
        resource: str,
        via: str,
        actions: list[str],
        key: str | None,
        why: str,
        *,
        extra: dict[str, str] | None = None,
    ) -> list[Case]:
        # the caller's key use through an integrated service: kms:ViaService and kms:CallerAccount
        # are always in the request context, plus the service's encryption context keys
        ctx = {"kms:ViaService": f"{via}.{region}.amazonaws.com", "kms:CallerAccount": account}
        label = f"{base} {resource} kms"
        return _kms(
            world, label, "request", principal, actions, key, ctx | (extra or {}), why, operation
        )

    if (service, op) == ("sts", "AssumeRole"):
        target = p["RoleArn"]
        try:
            trust: Policy | None = world.dep.role(target).trust
        except KeyError:
            trust = None
        why = DOC["assume_role"]
        return [one("sts:AssumeRole", target, f" {target}", resource_policy=trust, why=why)]
    if service == "dynamodb":
        transact = op in ("TransactWriteItems", "TransactGetItems")
        if transact:
            writes = {
                (TRANSACT_ACTIONS[kind], body["TableName"])
                for entry in p.get("TransactItems", [])
                for kind, body in entry.items()
            }
        else:
            writes = {(op, p["TableName"])}
        # DynamoDB calls AWS KMS for a table's customer managed key with the grants it creates
        # when the table is created, not with the caller's credentials (DOC["ddb_kms"]).
        # a Query of an index authorizes the index's ARN, table/<name>/index/<index>
        # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/iam-policy-specific-table-indexes.html)
        index = f"/index/{p['IndexName']}" if p.get("IndexName") else ""
        return [
            one(
                f"dynamodb:{action}",
                f"arn:{part}:dynamodb:{region}:{account}:table/{table}{index}",
                f" {action} {table}{index}",
                why=DOC["transact"] if transact else operation,
            )
            for action, table in sorted(writes)
        ]
    if service == "sqs":
        queue = _queue_arn(world, p["QueueUrl"], region)
        action = SQS_ACTIONS.get(op, op)
        out = [
            one(
                f"sqs:{action}",
                queue,
                f" {queue}",
                resource_policy=world.dep.resource_policies.get(queue),
                why=DOC["sqs_batch"],
            )
        ]
        if action == "SendMessage":  # producers need both (DOC["sqs_kms"])
            actions = ["kms:GenerateDataKey", "kms:Decrypt"]
            out += via_kms(queue, "sqs", actions, world.dep.key_of(queue), DOC["sqs_kms"])
        return out
    if (service, op) == ("ssm", "GetParameter"):
        arn = _param_arn(world, p["Name"], region, account)
        out = [one("ssm:GetParameter", arn, f" {arn}", why=operation)]
        if p.get("WithDecryption") and arn in world.secure:
            encryption = {"kms:EncryptionContext:PARAMETER_ARN": arn}
            out += via_kms(
                arn, "ssm", ["kms:Decrypt"], world.secure[arn], DOC["ssm_kms"], extra=encryption
            )
        return out
    if (service, op) == ("secretsmanager", "GetSecretValue"):
        arn = p["SecretId"]
        out = [one("secretsmanager:GetSecretValue", arn, f" {arn}", why=operation)]
        encryption = {"kms:EncryptionContext:SecretARN": arn}
        secret_key = world.secure.get(arn)
        out += via_kms(
            arn, "secretsmanager", ["kms:Decrypt"], secret_key, DOC["sm_kms"], extra=encryption
        )
        return out
    if (service, op) == ("ssm", "SendCommand"):
        name = p["DocumentName"]
        owner = "" if name.startswith("AWS-") else account
        document = f"arn:{part}:ssm:{region}:{owner}:document/{name}"
        out = [one("ssm:SendCommand", document, f" {name}", why=DOC["ssm_auth"])]
        for instance in p.get("InstanceIds", []):
            tags = world.instance_tags.get(instance, {})
            out.append(
                one(
                    "ssm:SendCommand",
                    f"arn:{part}:ec2:{region}:{account}:instance/{instance}",
                    f" {name} on {_tag_label(tags)}",
                    context={f"ssm:resourceTag/{k}": v for k, v in tags.items()},
                    why=DOC["ssm_auth"],
                )
            )
        return out
    if (service, op) in (
        ("ssm", "DescribeInstanceInformation"),
        ("ssm", "ListCommandInvocations"),
        ("ec2", "DescribeInstances"),
    ):
        return [one(f"{service}:{op}", "*", why=operation, resource_account=account)]
    if (service, op) == ("ec2", "CreateTags"):
        tags = p.get("Tags", [])
        out = []
        for instance in p.get("Resources", []):
            context: dict[str, Any] = {"aws:TagKeys": sorted({t["Key"] for t in tags})}
            context.update({f"aws:RequestTag/{t['Key']}": t["Value"] for t in tags})
            out.append(
                one(
                    "ec2:CreateTags",
                    f"arn:{part}:ec2:{region}:{account}:instance/{instance}",
                    f" {','.join(sorted(context['aws:TagKeys']))}",
                    context=context,
                    why=DOC["ec2_tags"],
                )
            )
        return out
    if service == "autoscaling" and op in LIFECYCLE_OPERATIONS:
        # the group is the only resource, its tags the only condition keys (DOC["asg_auth"])
        return [
            one(
                f"autoscaling:{op}",
                group_arn(part, region, account, p["AutoScalingGroupName"]),
                f" {p['AutoScalingGroupName']}",
                context=group_context(world.group_tags.get(p["AutoScalingGroupName"], {})),
                why=DOC["asg_auth"],
            )
        ]
    if (service, op) == ("ds", "CreateComputer"):
        directory = f"arn:{part}:ds:{region}:{account}:directory/{p['DirectoryId']}"
        return [one("ds:CreateComputer", directory, f" {p['DirectoryId']}", why=DOC["ds_auth"])]
    if service == "kms":  # a direct KMS call (GenerateMac, ...): the key's policy decides
        key = str(p.get("KeyId", ""))
        key = world.dep.key_aliases.get(key, key)  # KMS authorizes an alias's call on its key
        return [
            one(
                f"kms:{op}",
                key,
                f" {key}",
                resource_policy=world.dep.key_policies.get(key),
                why=DOC["kms_keys"],
            )
        ]
    # a call the proof has no model for: an error case, so it cannot pass unnoticed
    return [one(f"{service}:{op}", "unmodelled", " (no model in tests/iam/cases.py)", why="none")]


LIFECYCLE_OPERATIONS = ("CompleteLifecycleAction", "RecordLifecycleActionHeartbeat")
#: the group id in a group's ARN: the request names the group only, and no policy may depend on it
GROUP_ID = "00000000-0000-0000-0000-000000000000"


def group_arn(part: str, region: str, account: str, name: str) -> str:
    """An Auto Scaling group's ARN (DOC["asg_auth"], resource type autoScalingGroup)."""
    group = f"autoScalingGroup:{GROUP_ID}:autoScalingGroupName/{name}"
    return f"arn:{part}:autoscaling:{region}:{account}:{group}"


def group_context(tags: dict[str, str]) -> dict[str, str]:
    """The group's tags as both condition keys the actions take (DOC["asg_auth"])."""
    out = {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
    out.update({f"autoscaling:ResourceTag/{k}": v for k, v in tags.items()})
    return out


def _tag_label(tags: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(tags.items()) if k != "Name") or "untagged"


# ------------------------------------------------------------------ deliveries


def sns_principal(topic_region: str, queue_region: str) -> str:
    """SNS's principal towards a queue in another Region (DOC["sns_regions"]): the opt-in
    Region's own principal when the topic or the queue is in an opt-in Region."""
    if topic_region != queue_region:
        for region in (topic_region, queue_region):
            if region in SNS_OPT_IN_REGIONS:
                return f"sns.{region}.amazonaws.com"
    return "sns.amazonaws.com"


def _pattern_pairs(pattern: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s, t) for s in pattern.get("source", []) for t in pattern.get("detail-type", [])]


def delivery_cases(world: World) -> list[Case]:
    dep = world.dep
    out: list[Case] = []
    for t in dep.targets:
        rule = t.rule_arn.split(":rule/")[1]
        label = f"{rule}@{t.rule_account}/{t.region}"
        if ":event-bus/" in t.arn:
            # The rule's role: EventBridge assumes it with the rule as source (DOC["eb_deputy"]),
            # then puts the event on the other account's bus with the role's credentials; the
            # bus policy sees the event's source and detail-type (DOC["eb_conditions"]).
            assert t.role_arn, f"{label}: a cross-account bus target needs a role"
            out.append(
                case(
                    world,
                    f"{label} events assumes {t.role_arn}",
                    "delivery",
                    "events.amazonaws.com",
                    "sts:AssumeRole",
                    t.role_arn,
                    context={"aws:SourceAccount": t.rule_account, "aws:SourceArn": t.rule_arn},
                    resource_policy=dep.role(t.role_arn).trust,
                    why=DOC["eb_deputy"],
                )
            )
            pairs = _pattern_pairs(t.pattern)
            for source, detail_type in pairs:
                kind = f" {detail_type}" if len(pairs) > 1 else ""  # lifecycle: launch, terminate
                out.append(
                    case(
                        world,
                        f"{label} PutEvents {source}{kind} -> {t.arn}",
                        "delivery",
                        session_arn(t.role_arn, "events"),
                        "events:PutEvents",
                        t.arn,
                        context={"events:source": [source], "events:detail-type": [detail_type]},
                        resource_policy=dep.resource_policies.get(t.arn),
                        why=DOC["eb_role"],
                    )
                )
            continue
        service = "sqs:SendMessage" if ":sqs:" in t.arn else "sns:Publish"
        out.append(
            case(
                world,
                f"{label} events {service} -> {t.arn}",
                "delivery",
                "events.amazonaws.com",
                service,
                t.arn,
                context={"aws:SourceAccount": t.rule_account, "aws:SourceArn": t.rule_arn},
                resource_policy=dep.resource_policies.get(t.arn),
                why=DOC["eb_targets"],
            )
        )
        # EventBridge to an encrypted queue or topic: the pages give the key policy statement
        # for events.amazonaws.com without any condition and name no context key of that KMS
        # call (DOC["sqs_kms"], DOC["sns_kms"]): none is sent here.
        out += _kms(
            world,
            f"{label} events -> {t.arn} kms",
            "delivery",
            "events.amazonaws.com",
            ["kms:GenerateDataKey", "kms:Decrypt"],
            dep.key_of(t.arn),
            {},
            DOC["sqs_kms"] if ":sqs:" in t.arn else DOC["sns_kms"],
        )
    for topic, queue in dep.subscriptions:
        principal = sns_principal(topic.split(":")[3], queue.split(":")[3])
        out.append(
            case(
                world,
                f"{topic} {principal} SendMessage -> {queue}",
                "delivery",
                principal,
                "sqs:SendMessage",
                queue,
                context={"aws:SourceArn": topic, "aws:SourceAccount": account_of(topic)},
                resource_policy=dep.resource_policies.get(queue),
                why=f"{DOC['sns_sqs']}; {DOC['sns_regions']}",
            )
        )
        # SNS to an encrypted queue: the key policy statement for sns.amazonaws.com, no
        # condition and no context key named (DOC["sqs_kms"]).
        out += _kms(
            world,
            f"{topic} -> {queue} kms",
            "delivery",
            principal,
            ["kms:GenerateDataKey", "kms:Decrypt"],
            dep.key_of(queue),
            {},
            DOC["sqs_kms"],
        )
    for name, (role, log_group) in dep.functions.items():
        session = session_arn(role, name)
        # Lambda assumes the execution role; the page's trust policy names lambda.amazonaws.com
        # and no context key (DOC["lambda_role"]).
        out.append(
            case(
                world,
                f"lambda assumes {role}",
                "delivery",
                "lambda.amazonaws.com",
                "sts:AssumeRole",
                role,
                resource_policy=dep.role(role).trust,
                why=DOC["lambda_role"],
            )
        )
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            out.append(
                case(
                    world,
                    f"{name} {action}",
                    "delivery",
                    session,
                    action,
                    f"{log_group}:log-stream:2026/12/01/[$LATEST]0123456789abcdef",
                    why=DOC["lambda_logs"],
                )
            )
        region = log_group.split(":")[3]
        out += _kms(
            world,
            f"logs {log_group} kms",
            "delivery",
            f"logs.{region}.amazonaws.com",
            ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
            dep.key_of(log_group),
            {"kms:EncryptionContext:aws:logs:arn": log_group},
            DOC["logs_kms"],
        )
        for queue in [q for q in dep.encrypted_by if q.endswith("-dlq") and ":sqs:" in q]:
            out.append(
                case(
                    world,
                    f"{name} SendMessage -> {queue}",
                    "delivery",
                    session,
                    "sqs:SendMessage",
                    queue,
                    resource_policy=dep.resource_policies.get(queue),
                    why="the Lambda's dead-letter sends (adjoin.aws.QueueAdapter)",
                )
            )
            out += _kms(
                world,
                f"{name} -> {queue} kms",
                "delivery",
                session,
                ["kms:GenerateDataKey", "kms:Decrypt"],
                dep.key_of(queue),
                {"kms:ViaService": f"sqs.{region}.amazonaws.com"},
                DOC["sqs_kms"],
            )
        # The event source mapping polls with the execution role (DOC["esm"]).
        for queue, _ in dep.event_source_mappings:
            for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
                out.append(
                    case(
                        world,
                        f"esm {queue} {action}",
                        "delivery",
                        session,
                        action,
                        queue,
                        resource_policy=dep.resource_policies.get(queue),
                        why=DOC["esm"],
                    )
                )
            out += _kms(
                world,
                f"esm {queue} kms",
                "delivery",
                session,
                ["kms:Decrypt"],
                dep.key_of(queue),
                {"kms:ViaService": f"sqs.{region}.amazonaws.com"},
                DOC["esm"],
            )
    for alarm, actions in dep.alarms:
        for topic in actions:
            if topic not in dep.resource_policies:
                continue
            out.append(
                case(
                    world,
                    f"{alarm} -> {topic}",
                    "delivery",
                    "cloudwatch.amazonaws.com",
                    "sns:Publish",
                    topic,
                    context={"aws:SourceArn": alarm, "aws:SourceAccount": account_of(alarm)},
                    resource_policy=dep.resource_policies[topic],
                    why=DOC["alarm_sns"],
                )
            )
            out += _kms(
                world,
                f"{alarm} -> {topic} kms",
                "delivery",
                "cloudwatch.amazonaws.com",
                ["kms:GenerateDataKey", "kms:Decrypt"],
                dep.key_of(topic),
                {},
                DOC["sns_kms"],
            )
    return out


def delivery_notes() -> list[str]:
    """What the deliveries above do not model, and why."""
    return [
        "SQS redrive (queue -> DLQ after maxReceiveCount) is done by SQS itself; "
        f"{DOC['dlq_redrive']} names no permission for it.",
        "DynamoDB tables with a customer managed key use the grants DynamoDB creates at table "
        f"creation ({DOC['ddb_kms']}); table readers and writers make no KMS call.",
    ]


# ------------------------------------------------------------------ requests that must fail

OUTSIDER = "999999999999"
OUTSIDER_ORG = "o-outsider000"
ALLOW_ALL: Policy = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def denial_cases(
    world: World,
    *,
    directory_region: str,
    tools_tag: tuple[str, str],
    group_tag: tuple[str, str] = ("adJoinLifecycle", "true"),
) -> list[Case]:
    """At least 20 requests that must be denied, each as AWS would see it."""
    dep, part, hub = world.dep, world.partition, world.hub_account
    ((function, (lambda_role, _)),) = dep.functions.items()
    lam = session_arn(lambda_role, function)
    queue = dep.event_source_mappings[0][0]
    region = queue.split(":")[3]
    hub_key = dep.key_of(queue) or ""
    topics = sorted({t for t, _ in dep.subscriptions})
    buses = sorted(a for a in dep.resource_policies if ":event-bus/" in a)
    hub_bus = next(b for b in buses if b.split(":")[3] == region)
    tables = {a.rsplit("-", 1)[-1]: a for a in dep.encrypted_by if ":dynamodb:" in a}
    spoke_roles = sorted(a for a in dep.roles if a.endswith("-spoke") and account_of(a) != hub)
    forward_roles = sorted(a for a in dep.roles if ":role/" in a and "-forward-" in a)
    workloads = sorted({account_of(a) for a in spoke_roles})
    w1, w2 = workloads[0], workloads[-1]
    spoke = session_arn(next(a for a in spoke_roles if account_of(a) == w1), f"ad-join-{w1}")
    name_prefix = lambda_role.split("/")[-1].removesuffix("-lambda")
    password = f"arn:{part}:ssm:{directory_region}:{hub}:parameter/{name_prefix}/join-password"
    outsider_role = f"arn:{part}:iam::{OUTSIDER}:role/intruder"
    hub_admin = f"arn:{part}:iam::{hub}:role/developer"
    w1_dev = f"arn:{part}:iam::{w1}:role/developer"
    out: list[Case] = []

    def deny(case_id: str, principal: str, action: str, resource: str, **kw: Any) -> None:
        built = case(world, case_id, "denial", principal, action, resource, expect="Denied", **kw)
        out.append(built)

    world.org_of.setdefault(OUTSIDER, OUTSIDER_ORG)
    outsider_spoke = f"arn:{part}:iam::{OUTSIDER}:role/{name_prefix}-spoke"
    trusts_lambda: Policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": lambda_role},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    deny(
        "Lambda assumes a spoke-named role outside the organization",
        lam,
        "sts:AssumeRole",
        outsider_spoke,
        resource_policy=trusts_lambda,
        why="defect 5: AssumeSpokeRoles is bound to the organization or the listed accounts",
    )
    target = next(a for a in spoke_roles if account_of(a) == w2)
    deny(
        "a workload principal assumes another account's spoke role",
        session_arn(w1_dev, "dev"),
        "sts:AssumeRole",
        target,
        identity=[("admin", ALLOW_ALL)],
        resource_policy=dep.role(target).trust,
        why="the spoke trust names only the hub Lambda role",
    )
    for document in ("AWS-RunShellScript", "AWS-RunPowerShellScript"):
        deny(
            f"SendCommand {document} through the spoke role",
            spoke,
            "ssm:SendCommand",
            f"arn:{part}:ssm:{region}:{w1}:document/{document}",
            why="only the join documents",
        )
    deny(
        "SendCommand of a document of the same name in another account",
        spoke,
        "ssm:SendCommand",
        f"arn:{part}:ssm:{region}:{w2}:document/{name_prefix}-linux-join",
        why="only this account's join documents",
    )
    # lifecycle actions: only the groups of the spoke's own account that carry the tag (issue 12)
    tagged = group_context(dict([group_tag]))
    for op, group, account, context, why in (
        ("CompleteLifecycleAction", "untagged", w1, {}, "the group lacks the tag"),
        ("RecordLifecycleActionHeartbeat", "untagged", w1, {}, "the group lacks the tag"),
        (
            "CompleteLifecycleAction",
            "other-value",
            w1,
            group_context({group_tag[0]: "false"}),
            "the tag has another value",
        ),
        ("CompleteLifecycleAction", "tagged", w2, tagged, "another account's group"),
    ):
        deny(
            f"{op} on a group of {account} ({why}) through the spoke role",
            spoke,
            f"autoscaling:{op}",
            group_arn(part, region, account, group),
            context=context,
            why=f"the spoke role completes the actions of its account's tagged groups only; {why}",
        )
    key = tools_tag[0]
    hub_instance = f"arn:{part}:ec2:{directory_region}:{hub}:instance/i-0123456789abcdef0"
    deny(
        "the leave document on an untagged hub instance",
        lam,
        "ssm:SendCommand",
        hub_instance,
        why="LeaveOnAdToolsHost requires the AD tools host tag",
    )
    deny(
        f"the leave document on a hub instance tagged {key}=false",
        lam,
        "ssm:SendCommand",
        hub_instance,
        context={f"ssm:resourceTag/{key}": "false"},
        why="LeaveOnAdToolsHost requires the AD tools host tag",
    )
    forged = [(queue, "sqs:SendMessage", "the queue"), *[(t, "sns:Publish", t) for t in topics]]
    for target, action, what in forged:
        deny(
            f"a hub principal sends a forged event straight to {what}",
            session_arn(hub_admin, "dev"),
            action,
            target,
            identity=[("admin", ALLOW_ALL)],
            resource_policy=dep.resource_policies.get(target),
            why=f"defect 6: {what} denies {action} without one of our rules or topics as source",
        )
    for bus in buses:
        deny(
            f"an account outside the organization puts events on {bus}",
            session_arn(outsider_role, "x"),
            "events:PutEvents",
            bus,
            identity=[("admin", ALLOW_ALL)],
            context={
                "events:source": ["aws.ec2"],
                "events:detail-type": ["EC2 Instance State-change Notification"],
            },
            resource_policy=dep.resource_policies[bus],
            why="the bus admits the organization (or the listed accounts) only",
        )
    for source, detail_type in (
        ("my.app", "EC2 Instance State-change Notification"),
        ("aws.ec2", "AWS API Call via CloudTrail"),
    ):
        deny(
            f"a member account puts {source}/{detail_type} on the hub bus",
            session_arn(w1_dev, "dev"),
            "events:PutEvents",
            hub_bus,
            identity=[("admin", ALLOW_ALL)],
            context={"events:source": [source], "events:detail-type": [detail_type]},
            resource_policy=dep.resource_policies[hub_bus],
            why="defect 6: the bus admits only the two event kinds the rules match",
        )
    deny(
        "a spoke principal reads the join password",
        spoke,
        "ssm:GetParameter",
        password,
        identity=[("admin", ALLOW_ALL)],
        why="parameters have no resource policy: no cross-account read",
    )
    deny(
        "a spoke principal decrypts with the hub key",
        spoke,
        "kms:Decrypt",
        hub_key,
        identity=[("admin", ALLOW_ALL)],
        context={"kms:ViaService": f"ssm.{region}.amazonaws.com"},
        resource_policy=dep.key_policies.get(hub_key),
        why=DOC["kms_keys"],
    )
    for k in sorted(dep.key_policies):
        deny(
            f"an unrelated principal decrypts with {k}",
            session_arn(outsider_role, "x"),
            "kms:Decrypt",
            k,
            identity=[("admin", ALLOW_ALL)],
            resource_policy=dep.key_policies[k],
            why=DOC["kms_keys"],
        )
    for action in ("PutItem", "UpdateItem", "DeleteItem"):
        deny(
            f"the Lambda {action} on the config table",
            lam,
            f"dynamodb:{action}",
            tables["config"],
            why="defect 7: the config table is read-only for the Lambda",
        )
    for action in ("PutItem", "DeleteItem", "Query", "BatchGetItem"):
        deny(
            f"the Lambda {action} on the state table",
            lam,
            f"dynamodb:{action}",
            tables["state"],
            why="defect 7: the code never calls it",
        )
    deny(
        "the Lambda encrypts with the hub key",
        lam,
        "kms:Encrypt",
        hub_key,
        resource_policy=dep.key_policies.get(hub_key),
        why="defect 7: the code never calls kms:Encrypt",
    )
    deny(
        "the spoke role ssm:GetCommandInvocation",
        spoke,
        "ssm:GetCommandInvocation",
        "*",
        resource_account=w1,
        why="defect 7: the code never calls it (it lists invocations: issue 8's redelivery)",
    )
    for tags in ({"Owner": "x"}, {"adComputerName": "EC2X", "Owner": "x"}):
        context: dict[str, Any] = {"aws:TagKeys": sorted(tags)}
        context.update({f"aws:RequestTag/{k}": v for k, v in tags.items()})
        deny(
            f"the spoke role tags {','.join(sorted(tags))}",
            spoke,
            "ec2:CreateTags",
            f"arn:{part}:ec2:{region}:{w1}:instance/i-0123456789abcdef0",
            context=context,
            why="only the adComputerName tag",
        )
    deny(
        "a rule of another account delivers to the queue",
        "events.amazonaws.com",
        "sqs:SendMessage",
        queue,
        context={
            "aws:SourceAccount": OUTSIDER,
            "aws:SourceArn": f"arn:{part}:events:{region}:{OUTSIDER}:rule/{name_prefix}-bus/x",
        },
        resource_policy=dep.resource_policies.get(queue),
        why=DOC["eb_targets"],
    )
    deny(
        "a topic of another account delivers to the queue",
        "sns.amazonaws.com",
        "sqs:SendMessage",
        queue,
        context={
            "aws:SourceAccount": OUTSIDER,
            "aws:SourceArn": f"arn:{part}:sns:eu-west-1:{OUTSIDER}:{name_prefix}-events",
        },
        resource_policy=dep.resource_policies.get(queue),
        why=DOC["sns_sqs"],
    )
    for k in sorted(dep.key_policies):
        deny(
            f"EventBridge of another account uses {k}",
            "events.amazonaws.com",
            "kms:GenerateDataKey",
            k,
            context={"aws:SourceAccount": OUTSIDER},
            resource_policy=dep.key_policies[k],
            why="the service statements still refuse another account's source when it is sent",
        )
    deny(
        "the Lambda CreateComputer in a directory it was not given",
        lam,
        "ds:CreateComputer",
        f"arn:{part}:ds:{directory_region}:{hub}:directory/d-9999999999",
        why="DirectoryServiceCreateComputer lists the directory ids",
    )
    deny(
        "the Lambda reads another hub parameter",
        lam,
        "ssm:GetParameter",
        f"arn:{part}:ssm:{directory_region}:{hub}:parameter/prod/db-password",
        why="only the join password and the listed CA parameters",
    )
    for role in forward_roles[:1]:
        deny(
            f"EventBridge assumes {role} for another account's rule",
            "events.amazonaws.com",
            "sts:AssumeRole",
            role,
            context={
                "aws:SourceAccount": OUTSIDER,
                "aws:SourceArn": f"arn:{part}:events:{region}:{OUTSIDER}:rule/x",
            },
            resource_policy=dep.role(role).trust,
            why=DOC["eb_deputy"],
        )
    return out

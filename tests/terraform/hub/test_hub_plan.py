"""Plan tests of modules/hub: resource counts and the values that matter, on one plan per set
of variables (module-scoped), plus the module's own validation messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.terraform.conftest import PlanSummary, Root, as_list, statements, wildcard_grants

pytestmark = [pytest.mark.slow, pytest.mark.terraform]

EXPECTED = yaml.safe_load((Path(__file__).parent / "expected.yaml").read_text())
FIXTURE = "tests/terraform/hub/fixture"
ALARM_TOPIC = "arn:aws:sns:us-east-1:123456789012:ad-join-alarms"
ORG = {"organization_id": "o-abcdefghij", "spoke_regions": ["eu-west-1"]}
# issue 9, defect 6: the buses admit only the kinds of events the rules match
EVENT_KINDS = {
    "ForAllValues:StringEquals": {
        "events:source": ["aws.ec2", "aws.ssm", "aws.autoscaling"],
        "events:detail-type": [
            "EC2 Instance State-change Notification",
            "EC2 Command Invocation Status-change Notification",
            "EC2 Instance-launch Lifecycle Action",
            "EC2 Instance-terminate Lifecycle Action",
        ],
    }
}
CUSTOM_LAYER = "arn:aws:lambda:us-east-1:123456789012:layer:powertools-python:3"


@pytest.fixture(scope="module")
def root(root_factory: Any) -> Root:
    return root_factory(FIXTURE)


@pytest.fixture(scope="module")
def plan(root: Root, lambda_zip: dict[str, str]) -> PlanSummary:
    return root.plan(**ORG, **lambda_zip)


@pytest.fixture(scope="module")
def accounts_plan(root: Root, lambda_zip: dict[str, str]) -> PlanSummary:
    """Account-list mode, ldap adapter with VPC, no leave document, the seed's config table."""
    return root.plan(
        allowed_account_ids=["111111111111", "222222222222"],
        directory={
            "adapter": "ldap",
            "leave_adapter": "ldap",
            "ldap_ca_cert_parameters": ["/ad-join/dc-ca"],
        },
        vpc_config={"subnet_ids": ["subnet-0123"], "security_group_ids": ["sg-0123"]},
        existing_config_table_name="seed-ad-join-config",
        queue_delay_seconds=300,  # the seed's blind wait stays possible
        powertools_layer={"arn": CUSTOM_LAYER},
        **lambda_zip,
    )


def test_validate(root: Root) -> None:
    assert "Success! The configuration is valid." in root.validate()


def test_resource_counts(plan: PlanSummary) -> None:
    assert dict(plan.types) == EXPECTED["resource_counts"]


def test_queue_delay_visibility_and_dlq_redrive(plan: PlanSummary) -> None:
    queue = plan.one("aws_sqs_queue.this")
    expected = EXPECTED["queue"]
    assert queue["name"] == expected["name"]
    assert queue["delay_seconds"] == expected["delay_seconds"]
    assert queue["visibility_timeout_seconds"] == expected["visibility_timeout_seconds"]
    # The redrive policy names the DLQ's ARN (known after apply) and the receive count.
    assert plan.unknown["module.hub.aws_sqs_queue.this"]["redrive_policy"] is True
    dlq = plan.one("aws_sqs_queue.dlq")
    assert dlq["name"] == EXPECTED["dlq"]["name"]
    config = plan.raw["configuration"]["root_module"]["module_calls"]["hub"]["module"]
    queue_config = next(r for r in config["resources"] if r["address"] == "aws_sqs_queue.this")
    redrive_refs = queue_config["expressions"]["redrive_policy"]["references"]
    assert "aws_sqs_queue.dlq.arn" in redrive_refs


def test_redrive_max_receive_count_is_the_contract_value(tf_tree: Path) -> None:
    source = (tf_tree / "modules" / "hub" / "queue.tf").read_text()
    assert f"maxReceiveCount     = {EXPECTED['dlq']['max_receive_count']}" in source


def test_every_queue_topic_table_and_log_group_uses_the_cmk(plan: PlanSummary) -> None:
    for address in plan.of_type("aws_sqs_queue"):
        assert plan.unknown[address]["kms_master_key_id"] is True, address
    for address in plan.of_type("aws_sns_topic"):
        assert plan.unknown[address]["kms_master_key_id"] is True, address
    for address, table in plan.of_type("aws_dynamodb_table").items():
        assert table["server_side_encryption"][0]["enabled"] is True, address
        assert plan.unknown[address]["server_side_encryption"][0]["kms_key_arn"] is True
        assert table["point_in_time_recovery"][0]["enabled"] is True, address
        assert table["billing_mode"] == "PAY_PER_REQUEST"
    for address in plan.of_type("aws_cloudwatch_log_group"):
        assert plan.unknown[address]["kms_key_id"] is True, address
    key = plan.one("aws_kms_key.this")
    assert key["enable_key_rotation"] is True


def test_kms_references_point_at_the_module_key(plan: PlanSummary) -> None:
    """'Unknown at plan' alone would accept any key: the configuration must name ours."""
    config = plan.raw["configuration"]["root_module"]["module_calls"]["hub"]["module"]
    refs = {
        r["address"]: r["expressions"]
        for r in config["resources"]
        if r["type"] in {"aws_sqs_queue", "aws_sns_topic", "aws_cloudwatch_log_group"}
    }
    for address, expressions in refs.items():
        attribute = "kms_key_id" if "log_group" in address else "kms_master_key_id"
        assert "aws_kms_key.this.arn" in expressions[attribute]["references"], address


def test_tables(plan: PlanSummary, accounts_plan: PlanSummary) -> None:
    tables = {t["name"]: t["hash_key"] for t in plan.of_type("aws_dynamodb_table").values()}
    assert tables == {"ad-join-config": "accountId", "ad-join-state": "instanceId"}
    existing = {t["name"] for t in accounts_plan.of_type("aws_dynamodb_table").values()}
    assert existing == {"ad-join-state"}
    env = accounts_plan.one("aws_lambda_function.this")["environment"][0]["variables"]
    assert env["CONFIG_TABLE_NAME"] == "seed-ad-join-config"
    by_sid = {s["Sid"]: s for s in statements(accounts_plan.policy("aws_iam_role_policy.lambda"))}
    # issue 9, defect 7: the config table is read-only; the state table takes updates only
    assert by_sid["ConfigTableRead"]["Action"] == "dynamodb:GetItem"
    assert by_sid["ConfigTableRead"]["Resource"] == (
        "arn:aws:dynamodb:us-east-1:123456789012:table/seed-ad-join-config"
    )
    assert sorted(as_list(by_sid["StateTable"]["Action"])) == [
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
    ]
    assert by_sid["StateTable"]["Resource"] == (
        "arn:aws:dynamodb:us-east-1:123456789012:table/ad-join-state"
    )


def test_bus_policy_admits_only_the_organization(plan: PlanSummary) -> None:
    (statement,) = statements(plan.policy("aws_cloudwatch_event_bus_policy.this"))
    assert statement["Action"] == "events:PutEvents"
    assert statement["Principal"] == {"AWS": "*"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"},
        **EVENT_KINDS,
    }
    assert statement["Resource"] == "arn:aws:events:us-east-1:123456789012:event-bus/ad-join-bus"


def test_bus_policy_admits_only_the_listed_accounts(accounts_plan: PlanSummary) -> None:
    (statement,) = statements(accounts_plan.policy("aws_cloudwatch_event_bus_policy.this"))
    assert sorted(as_list(statement["Principal"]["AWS"])) == [
        "arn:aws:iam::111111111111:root",
        "arn:aws:iam::222222222222:root",
    ]
    assert statement["Condition"] == EVENT_KINDS


def test_rules_match_ec2_states_and_join_documents(plan: PlanSummary) -> None:
    rules = {
        r["name"]: json.loads(r["event_pattern"])
        for r in plan.of_type("aws_cloudwatch_event_rule").values()
    }
    assert rules["ad-join-ec2-state"]["detail"]["state"] == ["running", "terminated"]
    assert rules["ad-join-ec2-state"]["source"] == ["aws.ec2"]
    assert rules["ad-join-ssm-command"]["detail"]["document-name"] == [
        "ad-join-linux-join",
        "ad-join-windows-join",
    ]
    # the lifecycle actions of the hooks named by the convention (issue 12)
    assert rules["ad-join-lifecycle"] == {
        "source": ["aws.autoscaling"],
        "detail-type": [
            "EC2 Instance-launch Lifecycle Action",
            "EC2 Instance-terminate Lifecycle Action",
        ],
        "detail": {"LifecycleHookName": [{"prefix": "ad-join-"}]},
    }
    for rule in plan.of_type("aws_cloudwatch_event_rule").values():
        assert rule["event_bus_name"] == "ad-join-bus"


def test_queue_policy_admits_bus_rules_spoke_topics_and_lambda(plan: PlanSummary) -> None:
    by_sid = {s["Sid"]: s for s in statements(plan.policy("aws_sqs_queue_policy.this"))}
    assert set(by_sid) == {
        "HubBusRules", "SpokeRegionTopics", "Lambda", "LambdaReconcileWork",
        "OnlyOurRulesAndTopics",
    }  # fmt: skip
    # issue 9, defect 6: a sender without one of our rules or topics as source is denied
    deny = by_sid["OnlyOurRulesAndTopics"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "sqs:SendMessage")
    rules = as_list(by_sid["HubBusRules"]["Condition"]["ArnEquals"]["aws:SourceArn"])
    assert sorted(as_list(deny["Condition"]["ArnNotEquals"]["aws:SourceArn"])) == sorted(
        [*rules, "arn:aws:sns:eu-west-1:123456789012:ad-join-events"]
    )
    # ... but for the Lambda's role itself: the reconciler's tasks and EC2 events
    assert deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == (
        "arn:aws:iam::123456789012:role/ad-join-lambda"
    )
    assert by_sid["HubBusRules"]["Principal"] == {"Service": "events.amazonaws.com"}
    assert sorted(as_list(by_sid["HubBusRules"]["Condition"]["ArnEquals"]["aws:SourceArn"])) == [
        "arn:aws:events:us-east-1:123456789012:rule/ad-join-bus/ad-join-ec2-state",
        "arn:aws:events:us-east-1:123456789012:rule/ad-join-bus/ad-join-lifecycle",
        "arn:aws:events:us-east-1:123456789012:rule/ad-join-bus/ad-join-ssm-command",
    ]
    assert by_sid["SpokeRegionTopics"]["Condition"]["ArnEquals"]["aws:SourceArn"] == (
        "arn:aws:sns:eu-west-1:123456789012:ad-join-events"
    )
    assert by_sid["Lambda"]["Principal"] == {"AWS": "arn:aws:iam::123456789012:role/ad-join-lambda"}
    assert "sqs:ChangeMessageVisibility" in by_sid["Lambda"]["Action"]
    # the reconciler queues its tasks and EC2 events; no one else but the bus rules and topics
    assert by_sid["LambdaReconcileWork"]["Action"] == "sqs:SendMessage"
    assert by_sid["LambdaReconcileWork"]["Principal"] == by_sid["Lambda"]["Principal"]
    (dlq_statement,) = statements(plan.policy("aws_sqs_queue_policy.dlq"))
    assert dlq_statement["Action"] == "sqs:SendMessage"
    assert dlq_statement["Principal"] == {"AWS": "arn:aws:iam::123456789012:role/ad-join-lambda"}


def test_no_spoke_topic_statement_without_spoke_regions(accounts_plan: PlanSummary) -> None:
    sids = {s["Sid"] for s in statements(accounts_plan.policy("aws_sqs_queue_policy.this"))}
    assert "SpokeRegionTopics" not in sids
    assert accounts_plan.one("aws_sqs_queue.this")["delay_seconds"] == 300


def test_kms_key_policy_services_and_source_conditions(plan: PlanSummary) -> None:
    by_sid = {s["Sid"]: s for s in statements(plan.policy("aws_kms_key.this"))}
    assert by_sid["AccountIam"]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert by_sid["LambdaUse"]["Principal"] == {
        "AWS": "arn:aws:iam::123456789012:role/ad-join-lambda"
    }
    assert by_sid["SpokeTopicsToQueue"]["Principal"] == {"Service": "sns.amazonaws.com"}
    # issue 9, defect 1: SQS's and SNS's pages name no aws:Source* key on these KMS calls
    assert by_sid["SpokeTopicsToQueue"]["Condition"] == {
        "ArnEqualsIfExists": {"aws:SourceArn": "arn:aws:sns:eu-west-1:123456789012:ad-join-events"}
    }
    assert sorted(as_list(by_sid["LambdaUse"]["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert by_sid["CloudWatchLogs"]["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    log_group = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/ad-join"
    assert by_sid["CloudWatchLogs"]["Condition"]["ArnEquals"] == {
        "kms:EncryptionContext:aws:logs:arn": log_group
    }
    principals = [s["Principal"] for s in by_sid.values()]
    for principal in principals:
        for arn in as_list(principal.get("AWS", [])):
            assert ":123456789012:" in arn, f"key policy admits another account: {arn}"
    for sid in ("EventBridgeToQueue", "CloudWatchAlarmsToTopic"):
        assert by_sid[sid]["Condition"] == {
            "StringEqualsIfExists": {"aws:SourceAccount": "123456789012"}
        }


def test_one_time_password_key_is_an_hmac_key_only_the_lambda_uses(plan: PlanSummary) -> None:
    key = plan.one("aws_kms_key.otp")
    assert key["customer_master_key_spec"] == "HMAC_256"
    assert key["key_usage"] == "GENERATE_VERIFY_MAC"
    assert key["enable_key_rotation"] is False  # KMS cannot rotate HMAC keys
    alias = plan.one("aws_kms_alias.otp")
    assert alias["name"] == "alias/ad-join-otp"
    env = plan.one("aws_lambda_function.this")["environment"][0]["variables"]
    assert env["OTP_KEY_ID"] == alias["name"]
    by_sid = {s["Sid"]: s for s in statements(plan.policy("aws_kms_key.otp"))}
    assert set(by_sid) == {"AccountAdministers", "LambdaDerivesPasswords"}
    derive = by_sid["LambdaDerivesPasswords"]
    assert derive["Principal"] == {"AWS": "arn:aws:iam::123456789012:role/ad-join-lambda"}
    assert derive["Action"] == "kms:GenerateMac"
    # the account administers the key but cannot derive a password with it
    admin = as_list(by_sid["AccountAdministers"]["Action"])
    assert by_sid["AccountAdministers"]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert not [a for a in admin if a in ("kms:*", "kms:GenerateMac", "kms:VerifyMac")]
    assert not [a for a in admin if a.startswith(("kms:Generate", "kms:Verify"))]
    # the role's grant names this key (its ARN is known after apply)
    config = plan.raw["configuration"]["root_module"]["module_calls"]["hub"]["module"]
    kms_policy = next(
        d for d in config["resources"] if d["address"] == "data.aws_iam_policy_document.lambda_kms"
    )
    otp_statement = next(
        st
        for st in kms_policy["expressions"]["statement"]
        if st["sid"]["constant_value"] == "OneTimePasswordKey"
    )
    assert "aws_kms_key.otp.arn" in otp_statement["resources"]["references"]


def test_lambda_settings_and_environment(plan: PlanSummary) -> None:
    function = plan.one("aws_lambda_function.this")
    expected = EXPECTED["lambda"]
    for attribute in ("function_name", "runtime", "architectures", "layers", "handler", "timeout"):
        assert function[attribute] == expected[attribute], attribute
    assert function["environment"][0]["variables"] == expected["environment"]
    assert function["vpc_config"] == []
    assert function["tracing_config"] == [{"mode": "PassThrough"}]


def test_event_source_mapping(plan: PlanSummary) -> None:
    mapping = plan.one("aws_lambda_event_source_mapping.this")
    expected = EXPECTED["event_source_mapping"]
    assert mapping["batch_size"] == expected["batch_size"]
    assert (
        mapping["maximum_batching_window_in_seconds"]
        == expected["maximum_batching_window_in_seconds"]
    )
    assert mapping["function_response_types"] == expected["function_response_types"]
    assert mapping["scaling_config"] == [{"maximum_concurrency": expected["maximum_concurrency"]}]
    assert mapping["enabled"] is True


def test_lambda_policy_is_least_privilege(plan: PlanSummary) -> None:
    by_sid = {s["Sid"]: s for s in statements(plan.policy("aws_iam_role_policy.lambda"))}
    # issue 9, defect 5: only the organization's accounts
    assert by_sid["AssumeSpokeRoles"] == {
        "Sid": "AssumeSpokeRoles",
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Resource": "arn:aws:iam::*:role/ad-join-spoke",
        "Condition": {"StringEquals": {"aws:ResourceOrgID": "o-abcdefghij"}},
    }
    # issue 9, defect 7: ds and the AD tools host never read the join password
    assert "JoinPassword" not in by_sid
    assert sorted(as_list(by_sid["FindAdToolsHost"]["Action"])) == [
        "ec2:DescribeInstances",
        "ssm:ListCommandInvocations",  # issue 8: a replaced object waits for its leave command
    ]
    assert (
        by_sid["LeaveDocument"]["Resource"]
        == "arn:aws:ssm:us-east-1:123456789012:document/ad-join-leave"
    )
    assert by_sid["LeaveOnAdToolsHost"]["Condition"] == {
        "StringEquals": {"ssm:resourceTag/adToolsHost": "true"}
    }
    assert not any(sid.startswith("HubInstances") for sid in by_sid)  # join_hub_instances off
    assert sorted(as_list(by_sid["Queue"]["Resource"])) == [
        "arn:aws:sqs:us-east-1:123456789012:ad-join-queue"
    ]
    assert by_sid["DeadLetterQueue"]["Resource"] == "arn:aws:sqs:us-east-1:123456789012:ad-join-dlq"
    assert "sqs:SendMessage" not in as_list(by_sid["Queue"]["Action"])
    # the reconciler: account list, one account's rows, its work on the queue (nothing more)
    assert by_sid["ReconcileReadAccounts"]["Action"] == "dynamodb:Scan"
    assert by_sid["ReconcileReadAccounts"]["Resource"] == (
        "arn:aws:dynamodb:us-east-1:123456789012:table/ad-join-config"
    )
    assert by_sid["ReconcileReadState"] == {
        "Sid": "ReconcileReadState",
        "Effect": "Allow",
        "Action": "dynamodb:Query",
        "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/ad-join-state/index/by-account",
    }
    assert by_sid["ReconcileQueueWork"]["Action"] == "sqs:SendMessage"
    assert by_sid["ReconcileQueueWork"]["Resource"] == (
        "arn:aws:sqs:us-east-1:123456789012:ad-join-queue"
    )


def test_reconcile_schedule_invokes_the_lambda_hourly_with_its_own_role(
    plan: PlanSummary,
) -> None:
    schedule = plan.one("aws_scheduler_schedule.reconcile[0]")
    assert schedule["schedule_expression"] == "rate(1 hour)"
    assert schedule["flexible_time_window"] == [{"mode": "OFF", "maximum_window_in_minutes": None}]
    (target,) = schedule["target"]
    assert json.loads(target["input"]) == {"action": "reconcile", "dryRun": False}
    (trust,) = statements(plan.policy("aws_iam_role.scheduler[0]", "assume_role_policy"))
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    (invoke,) = statements(plan.policy("aws_iam_role_policy.scheduler[0]"))
    assert invoke["Action"] == "lambda:InvokeFunction"
    assert invoke["Resource"] == "arn:aws:lambda:us-east-1:123456789012:function:ad-join"


def test_reconcile_schedule_can_be_off_and_configured(
    root: Root, lambda_zip: dict[str, str]
) -> None:
    off = root.plan(**ORG, reconcile={"enabled": False}, **lambda_zip)
    assert off.types.get("aws_scheduler_schedule", 0) == 0
    assert off.types["aws_iam_role"] == 1
    custom = root.plan(
        **ORG,
        reconcile={"schedule_expression": "rate(6 hours)", "dry_run": True,
                   "grace_period_minutes": 30, "max_deletions": 3, "max_deletion_percent": 0},
        **lambda_zip,
    )  # fmt: skip
    assert custom.one("aws_scheduler_schedule.reconcile[0]")["schedule_expression"] == (
        "rate(6 hours)"
    )
    target = custom.one("aws_scheduler_schedule.reconcile[0]")["target"][0]
    assert json.loads(target["input"])["dryRun"] is True
    env = custom.one("aws_lambda_function.this")["environment"][0]["variables"]
    assert (env["RECONCILE_GRACE_SECONDS"], env["RECONCILE_MAX_DELETIONS"]) == ("1800", "3")
    assert env["RECONCILE_MAX_DELETION_PERCENT"] == "0"


def test_lifecycle_hooks_settings_and_the_hub_groups_permission(
    root: Root, plan: PlanSummary, lambda_zip: dict[str, str]
) -> None:
    env = plan.one("aws_lambda_function.this")["environment"][0]["variables"]
    assert (env["LIFECYCLE_HOOKS"], env["LIFECYCLE_FAILURE_RESULT"]) == ("false", "CONTINUE")
    assert env["LIFECYCLE_HEARTBEAT_TIMEOUT"] == "3600"
    hooks = {"enabled": True, "failure_result": "ABANDON", "heartbeat_timeout": 900}
    on = root.plan(**ORG, join_hub_instances="true", lifecycle_hooks=hooks, **lambda_zip)
    env = on.one("aws_lambda_function.this")["environment"][0]["variables"]
    assert (env["LIFECYCLE_HOOKS"], env["LIFECYCLE_FAILURE_RESULT"]) == ("true", "ABANDON")
    assert env["LIFECYCLE_HEARTBEAT_TIMEOUT"] == "900"
    by_sid = {s["Sid"]: s for s in statements(on.policy("aws_iam_role_policy.lambda"))}
    complete = by_sid["HubInstancesCompleteLifecycleActions"]
    assert sorted(as_list(complete["Action"])) == [
        "autoscaling:CompleteLifecycleAction",
        "autoscaling:RecordLifecycleActionHeartbeat",
    ]
    assert complete["Resource"] == (
        "arn:aws:autoscaling:*:123456789012:autoScalingGroup:*:autoScalingGroupName/*"
    )
    assert complete["Condition"] == {"StringEquals": {"aws:ResourceTag/adJoinLifecycle": "true"}}
    # without join_hub_instances the hub's own groups are not the Lambda's business
    alone = root.plan(**ORG, lifecycle_hooks=hooks, **lambda_zip)
    sids = {s["Sid"] for s in statements(alone.policy("aws_iam_role_policy.lambda"))}
    assert "HubInstancesCompleteLifecycleActions" not in sids
    error = root.plan_error(**ORG, lifecycle_hooks={"failure_result": "RETRY"}, **lambda_zip)
    assert "lifecycle_hooks.failure_result must be CONTINUE or ABANDON" in error


def test_state_table_has_the_reconcilers_index(plan: PlanSummary) -> None:
    table = plan.one("aws_dynamodb_table.state")
    (index,) = table["global_secondary_index"]
    assert (index["name"], index["hash_key"], index["range_key"]) == (
        "by-account", "accountId", "region",
    )  # fmt: skip
    assert index["projection_type"] == "ALL"


def test_powertools_layer_can_be_another_one(accounts_plan: PlanSummary) -> None:
    assert accounts_plan.one("aws_lambda_function.this")["layers"] == [CUSTOM_LAYER]


def test_ldap_mode_drops_leave_permissions_and_attaches_vpc(accounts_plan: PlanSummary) -> None:
    sids = {s["Sid"] for s in statements(accounts_plan.policy("aws_iam_role_policy.lambda"))}
    assert not sids & {"LeaveDocument", "LeaveOnAdToolsHost", "FindAdToolsHost"}
    policy = accounts_plan.policy("aws_iam_role_policy.lambda")
    by_sid = {s["Sid"]: s for s in statements(policy)}
    assert by_sid["JoinPassword"]["Action"] == "ssm:GetParameter"  # ldap reads it
    assert by_sid["JoinPassword"]["Resource"] == (
        "arn:aws:ssm:us-east-1:123456789012:parameter/ad-join/join-password"
    )
    assert by_sid["AssumeSpokeRoles"]["Condition"] == {
        "StringEquals": {"aws:ResourceAccount": ["111111111111", "222222222222"]}
    }
    ca = next(s for s in statements(policy) if s["Sid"] == "LdapCaCertificates")
    assert ca["Action"] == "ssm:GetParameter"
    assert ca["Resource"] == "arn:aws:ssm:us-east-1:123456789012:parameter/ad-join/dc-ca"
    assert accounts_plan.types["aws_ssm_document"] == 0
    function = accounts_plan.one("aws_lambda_function.this")
    assert function["vpc_config"][0]["subnet_ids"] == ["subnet-0123"]
    attachment = accounts_plan.one("aws_iam_role_policy_attachment.vpc[0]")
    assert attachment["policy_arn"].endswith("service-role/AWSLambdaVPCAccessExecutionRole")


def test_directory_ids_scope_create_computer(root: Root, lambda_zip: dict[str, str]) -> None:
    plan = root.plan(
        **ORG,
        directory={
            "directory_ids": ["d-1234567890"],
            "default_directory_id": "d-0123456789",
            "tag_computer_name": True,
        },
        join_hub_instances="true",
        powertools_layer={"enabled": False},
        **lambda_zip,
    )
    # a zip that bundles Powertools needs no layer
    function = plan.one("aws_lambda_function.this")
    assert function["layers"] == []
    env = function["environment"][0]["variables"]
    assert env["DEFAULT_DIRECTORY_ID"] == "d-0123456789"
    assert env["TAG_COMPUTER_NAME"] == "true"  # opt-in: the hub may then tag its instances
    by_sid = {s["Sid"]: s for s in statements(plan.policy("aws_iam_role_policy.lambda"))}
    assert sorted(as_list(by_sid["HubInstancesSendJoinDocuments"]["Resource"])) == [
        "arn:aws:ec2:*:123456789012:instance/*",
        "arn:aws:ssm:*:123456789012:document/ad-join-linux-join",
        "arn:aws:ssm:*:123456789012:document/ad-join-windows-join",
    ]
    assert by_sid["HubInstancesTagComputerName"]["Condition"]["ForAllValues:StringEquals"] == {
        "aws:TagKeys": "adComputerName"
    }
    assert by_sid["DirectoryServiceCreateComputer"] == {
        "Sid": "DirectoryServiceCreateComputer",
        "Effect": "Allow",
        "Action": "ds:CreateComputer",
        # the listed directory and the default one
        "Resource": [
            "arn:aws:ds:us-east-1:123456789012:directory/d-1234567890",
            "arn:aws:ds:us-east-1:123456789012:directory/d-0123456789",
        ],
    }


def test_no_policy_allows_everything_on_everything(
    plan: PlanSummary, accounts_plan: PlanSummary
) -> None:
    # Every document but the Lambda's KMS grant (it names the key's ARN) is known at plan time.
    expected = {
        "module.hub.module.event_bus.aws_cloudwatch_event_bus_policy.this.policy",
        "module.hub.aws_iam_role.lambda.assume_role_policy",
        "module.hub.aws_iam_role_policy.lambda.policy",
        "module.hub.aws_iam_role.scheduler[0].assume_role_policy",
        "module.hub.aws_iam_role_policy.scheduler[0].policy",
        "module.hub.aws_kms_key.this.policy",
        "module.hub.aws_kms_key.otp.policy",
        "module.hub.aws_sns_topic_policy.alarms[0].policy",
        "module.hub.aws_sqs_queue_policy.dlq.policy",
        "module.hub.aws_sqs_queue_policy.this.policy",
    }
    assert set(plan.known_policies()) == expected
    assert wildcard_grants(plan) == []
    assert wildcard_grants(accounts_plan) == []


def test_lambda_trust_is_the_lambda_service_in_this_account(plan: PlanSummary) -> None:
    (statement,) = statements(plan.policy("aws_iam_role.lambda", "assume_role_policy"))
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert statement["Condition"] == {"StringEqualsIfExists": {"aws:SourceAccount": "123456789012"}}


def test_alarms(plan: PlanSummary) -> None:
    alarms = {a["alarm_name"]: a for a in plan.of_type("aws_cloudwatch_metric_alarm").values()}
    assert set(alarms) == set(EXPECTED["alarms"])
    for name, expected in EXPECTED["alarms"].items():
        for attribute, value in expected.items():
            assert alarms[name][attribute] == value, (name, attribute)
        assert alarms[name]["threshold"] == 0
        assert alarms[name]["comparison_operator"] == "GreaterThanThreshold"
        assert alarms[name]["alarm_actions"] == [ALARM_TOPIC]
    topic = plan.one("aws_sns_topic.alarms[0]")
    assert topic["name"] == "ad-join-alarms"


def test_leave_document_parameters(plan: PlanSummary) -> None:
    document = plan.one("aws_ssm_document.leave[0]")
    assert document["name"] == "ad-join-leave"
    content = json.loads(document["content"])
    assert content["schemaVersion"] == "2.2"
    assert set(content["parameters"]) == {
        "computerName",
        "domainName",
        "adJoinUserName",
        "adJoinUserPwParam",
        "computerOU",
    }
    for name, parameter in content["parameters"].items():
        assert parameter["interpolationType"] == "ENV_VAR", name
        assert parameter["allowedPattern"], name
    assert content["mainSteps"][0]["action"] == "aws:runPowerShellScript"


# Invalid variables: Terraform reports every failed variable validation of a plan at once, so
# one plan with all of them checks each message (and each message names only its variable).
INVALID_VARIABLES = {
    "account_id": "12345",
    "allowed_account_ids": ["1234567890123"],
    "queue_delay_seconds": 901,
    "directory": {"adapter": "kerberos", "computer_name_prefix": "12345"},
    "powertools_layer": {"arn": "AWSLambdaPowertoolsPythonV3", "version": 0},
}
VARIABLE_MESSAGES = [
    "account_id must be a 12-digit AWS account id.",
    "allowed_account_ids must hold 12-digit AWS account ids.",
    "queue_delay_seconds must be a whole number between 0 and 900.",
    "directory.adapter must be ds or ldap.",
    "directory.computer_name_prefix must be 1-4 characters of [A-Z0-9], not all digits.",
    "powertools_layer.arn must be a Lambda layer version ARN",
    "powertools_layer.version must be a whole number of at least 1.",
]


@pytest.fixture(scope="module")
def variable_errors(root: Root, lambda_zip: dict[str, str]) -> str:
    return root.plan_error(**INVALID_VARIABLES, **lambda_zip)


@pytest.mark.parametrize("message", VARIABLE_MESSAGES)
def test_variable_validation_messages(variable_errors: str, message: str) -> None:
    assert message in variable_errors


def test_negative_delay_is_rejected(root: Root, lambda_zip: dict[str, str]) -> None:
    error = root.plan_error(queue_delay_seconds=-1, **ORG, **lambda_zip)
    assert "queue_delay_seconds must be a whole number between 0 and 900." in error


@pytest.mark.parametrize(
    "variables",
    [
        pytest.param({}, id="neither-org-nor-accounts"),
        pytest.param(
            {"organization_id": "o-abcdefghij", "allowed_account_ids": ["111111111111"]},
            id="both-org-and-accounts",
        ),
    ],
)
def test_exactly_one_admission_mode(
    root: Root, lambda_zip: dict[str, str], variables: dict[str, Any]
) -> None:
    error = root.plan_error(**variables, **lambda_zip)
    assert "Set exactly one of organization_id and allowed_account_ids" in error


# issue 9, defects 2 to 4: plans that would fail on AWS are refused, opt-in Regions handled.


def test_ds_without_directory_ids_is_refused(root: Root, lambda_zip: dict[str, str]) -> None:
    error = root.plan_error(**ORG, directory={"adapter": "ds"}, **lambda_zip)
    assert 'directory.adapter = "ds" needs directory.directory_ids' in error


def test_a_directory_region_other_than_the_hub_s_is_refused(
    root: Root, lambda_zip: dict[str, str]
) -> None:
    directory = {"directory_ids": ["d-1234567890"], "region": "eu-west-1"}
    error = root.plan_error(**ORG, directory=directory, **lambda_zip)
    assert "directory.region (eu-west-1) must be the hub's own Region (us-east-1) or null" in error


def test_an_opt_in_spoke_region_gets_sns_s_regional_principal(
    root: Root, lambda_zip: dict[str, str]
) -> None:
    from tests.iam import cases, simulator

    plan = root.plan(
        organization_id="o-abcdefghij", spoke_regions=["eu-south-1", "eu-west-1"], **lambda_zip
    )
    policy = plan.policy("aws_sqs_queue_policy.this")
    by_sid = {s["Sid"]: s for s in statements(policy)}
    assert sorted(as_list(by_sid["SpokeRegionTopics"]["Principal"]["Service"])) == [
        "sns.amazonaws.com",
        "sns.eu-south-1.amazonaws.com",
    ]
    # the delivery as SNS's cross-Region page describes it, through the real evaluator
    topic = "arn:aws:sns:eu-south-1:123456789012:ad-join-events"
    principal = cases.sns_principal("eu-south-1", "us-east-1")
    assert principal == "sns.eu-south-1.amazonaws.com"
    case = simulator.Case(
        "opt-in", "delivery", principal, "sqs:SendMessage",
        "arn:aws:sqs:us-east-1:123456789012:ad-join-queue", "123456789012",
        context={"aws:SourceArn": topic, "aws:SourceAccount": "123456789012"},
        resource_policy=policy,
    )  # fmt: skip
    (verdict,) = simulator.evaluate([case])
    assert verdict.result == "Allowed", verdict.describe()

"""Plan tests of modules/spoke-region: the regional bus, its rules to the KMS-encrypted topic and
the hub queue's cross-Region subscription."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.terraform.conftest import PlanSummary, Root, as_list, statements, wildcard_grants

pytestmark = [pytest.mark.slow, pytest.mark.terraform]

FIXTURE = "tests/terraform/spoke_region/fixture"
RESOURCE_COUNTS = {
    "aws_cloudwatch_event_bus": 1,
    "aws_cloudwatch_event_bus_policy": 1,
    "aws_cloudwatch_event_rule": 3,
    "aws_cloudwatch_event_target": 3,
    "aws_kms_alias": 1,
    "aws_kms_key": 1,
    "aws_sns_topic": 1,
    "aws_sns_topic_policy": 1,
    "aws_sns_topic_subscription": 1,
}
RULE_ARNS = [
    "arn:aws:events:eu-west-1:123456789012:rule/ad-join-bus/ad-join-ec2-state",
    "arn:aws:events:eu-west-1:123456789012:rule/ad-join-bus/ad-join-lifecycle",
    "arn:aws:events:eu-west-1:123456789012:rule/ad-join-bus/ad-join-ssm-command",
]


@pytest.fixture(scope="module")
def root(root_factory: Any) -> Root:
    return root_factory(FIXTURE)


@pytest.fixture(scope="module")
def plan(root: Root) -> PlanSummary:
    return root.plan(organization_id="o-abcdefghij")


def test_validate(root: Root) -> None:
    assert "Success! The configuration is valid." in root.validate()


def test_resource_counts(plan: PlanSummary) -> None:
    assert dict(plan.types) == RESOURCE_COUNTS


def test_topic_is_encrypted_with_the_regional_key(plan: PlanSummary) -> None:
    topic = plan.one("aws_sns_topic.this")
    assert topic["name"] == "ad-join-events"
    assert plan.unknown["module.spoke_region.aws_sns_topic.this"]["kms_master_key_id"] is True
    config = plan.raw["configuration"]["root_module"]["module_calls"]["spoke_region"]["module"]
    topic_config = next(r for r in config["resources"] if r["address"] == "aws_sns_topic.this")
    assert "aws_kms_key.this.arn" in topic_config["expressions"]["kms_master_key_id"]["references"]
    assert plan.one("aws_kms_key.this")["enable_key_rotation"] is True


def test_subscription_delivers_raw_to_the_hub_queue(plan: PlanSummary) -> None:
    subscription = plan.one("aws_sns_topic_subscription.hub_queue")
    assert subscription["protocol"] == "sqs"
    assert subscription["endpoint"] == "arn:aws:sqs:us-east-1:123456789012:ad-join-queue"
    assert subscription["raw_message_delivery"] is True
    # Created with the module's own provider: a subscription lives in its topic's Region.
    change = next(
        c
        for c in plan.raw["resource_changes"]
        if c["address"] == "module.spoke_region.aws_sns_topic_subscription.hub_queue"
    )
    assert change["provider_name"] == "registry.terraform.io/hashicorp/aws"
    config = plan.raw["configuration"]["root_module"]["module_calls"]["spoke_region"]["module"]
    resource = next(
        r for r in config["resources"] if r["address"] == "aws_sns_topic_subscription.hub_queue"
    )
    hub_region = next(r for r in config["resources"] if r["address"] == "data.aws_region.hub")
    # The fixture passes `aws` (eu-west-1) as the module's default provider and `aws.hub`.
    assert resource["provider_config_key"] == "aws"
    assert hub_region["provider_config_key"] == "aws.hub"


def test_topic_policy_admits_only_the_regional_rules(plan: PlanSummary) -> None:
    statement, deny = statements(plan.policy("aws_sns_topic_policy.this"))
    # issue 9, defect 6: anyone else, this account's principals included, is denied
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "sns:Publish")
    assert sorted(as_list(deny["Condition"]["ArnNotEquals"]["aws:SourceArn"])) == RULE_ARNS
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sns:Publish"
    assert statement["Resource"] == "arn:aws:sns:eu-west-1:123456789012:ad-join-events"
    assert sorted(as_list(statement["Condition"]["ArnEquals"]["aws:SourceArn"])) == RULE_ARNS


def test_bus_policy_and_rules(plan: PlanSummary, root: Root) -> None:
    (statement,) = statements(plan.policy("aws_cloudwatch_event_bus_policy.this"))
    assert statement["Condition"]["StringEquals"] == {"aws:PrincipalOrgID": "o-abcdefghij"}
    assert statement["Condition"]["ForAllValues:StringEquals"]["events:source"] == [
        "aws.ec2",
        "aws.ssm",
        "aws.autoscaling",
    ]
    assert statement["Resource"] == "arn:aws:events:eu-west-1:123456789012:event-bus/ad-join-bus"
    accounts = root.plan(allowed_account_ids=["111111111111"])
    (statement,) = statements(accounts.policy("aws_cloudwatch_event_bus_policy.this"))
    assert statement["Principal"] == {"AWS": "arn:aws:iam::111111111111:root"}
    patterns = {
        r["name"]: json.loads(r["event_pattern"])
        for r in plan.of_type("aws_cloudwatch_event_rule").values()
    }
    assert patterns["ad-join-ec2-state"]["detail"] == {"state": ["running", "terminated"]}
    assert patterns["ad-join-ssm-command"]["detail"] == {
        "document-name": ["ad-join-linux-join", "ad-join-windows-join"]
    }


def test_no_policy_allows_everything_on_everything(plan: PlanSummary) -> None:
    assert len(plan.known_policies()) == 3  # bus, topic and key policies
    assert wildcard_grants(plan) == []


def test_key_policy_admits_only_this_account_and_eventbridge(plan: PlanSummary) -> None:
    by_sid = {s["Sid"]: s for s in statements(plan.policy("aws_kms_key.this"))}
    assert set(by_sid) == {"AccountIam", "EventBridgeToTopic"}
    assert by_sid["AccountIam"]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    # issue 9, defect 1: SNS's page names no aws:SourceAccount on EventBridge's KMS call
    assert by_sid["EventBridgeToTopic"]["Condition"] == {
        "StringEqualsIfExists": {"aws:SourceAccount": "123456789012"}
    }


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        pytest.param(
            {}, "Set exactly one of organization_id and allowed_account_ids", id="neither"
        ),
        pytest.param(
            {"organization_id": "o-abcdefghij", "hub_region": "eu-west-1"},
            "modules/spoke-region must run in a Region other than the hub's",
            id="same-region-as-hub",
        ),
        pytest.param(
            {"allowed_account_ids": ["11111111111a"]},
            "allowed_account_ids must hold 12-digit AWS account ids.",
            id="invalid-account-id",
        ),
    ],
)
def test_validation_messages(root: Root, variables: dict[str, Any], message: str) -> None:
    assert message in root.plan_error(**variables)

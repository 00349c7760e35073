"""Plan tests of modules/spoke-account: the forwarding rules and their role, the role the hub
Lambda assumes, and the join documents with their parameter patterns."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from adjoin.passwords import ONE_TIME_PASSWORD_PATTERN
from tests.terraform.conftest import (
    REPO_ROOT,
    PlanSummary,
    Root,
    as_list,
    statements,
    wildcard_grants,
)

pytestmark = [pytest.mark.slow, pytest.mark.terraform]

FIXTURE = "tests/terraform/spoke_account/fixture"
HUB_BUS = "arn:aws:events:eu-west-1:123456789012:event-bus/ad-join-bus"
RESOURCE_COUNTS = {
    "aws_cloudwatch_event_rule": 2,
    "aws_cloudwatch_event_target": 2,
    "aws_iam_role": 2,
    "aws_iam_role_policy": 2,
    "aws_ssm_document": 2,
}
# Values each join-document parameter must accept and reject (allowedPattern).
PATTERN_CASES: dict[str, tuple[list[str], list[str]]] = {
    "computerName": (["EC2456789ABCDEF0"[:15], "WEB-01"], ["", "A" * 16, "bad name", "x;y"]),
    "oneTimePassword": (
        ["Abc123._~+=-xyzXYZ0", "a" * 64],
        ["short", "a" * 65, "pass word with spaces", "quote'in-password", "semi;colon-password"],
    ),
    "domainName": (["corp.example.com", "ad.local"], ["corp", "-bad.example.com", "a b.com", ""]),
    "computerOU": (
        ["", "OU=Servers,DC=corp,DC=example,DC=com"],
        ["OU=x'; rm -rf /", 'OU="quoted"', "OU=a\nDC=b", "plain text"],
    ),
    "adGroupName": (["", "Linux Admins", "app_team-1.ops"], ["a" * 65, "grp;id", "grp$(x)"]),
    "adSudoGroupName": (
        ["", "Linux Admins", "app_team-1.ops", "a" * 64],
        ["a" * 65, "grp;id", "%wheel", " lead", "trail ", "a\nALL ALL=(ALL) ALL"],
    ),
    "bootWaitSeconds": (["0", "600", "9999"], ["", "-1", "10000", "60s", "1 0"]),
    "dnsIP1": (
        ["", "10.0.0.2", "255.255.255.255"],
        ["10.0.0", "256.1.1.1", "dc1.corp", "1.2.3.4 "],
    ),
    "domainController": (
        ["", "dc1.ad.example.com", "DC1", "10.0.0.10", "dc-2.corp.example.com"],
        ["dc1;reboot", "dc1 .corp", "-dc1.corp", "dc1.corp.", "dc1..corp", "$(id)", "a" * 64],
    ),
}


@pytest.fixture(scope="module")
def root(root_factory: Any) -> Root:
    return root_factory(FIXTURE)


@pytest.fixture(scope="module")
def plan(root: Root) -> PlanSummary:
    return root.plan()


@pytest.fixture(scope="module")
def documents(plan: PlanSummary) -> dict[str, dict[str, Any]]:
    return {d["name"]: json.loads(d["content"]) for d in plan.of_type("aws_ssm_document").values()}


def test_validate(root: Root) -> None:
    assert "Success! The configuration is valid." in root.validate()


def test_resource_counts(plan: PlanSummary, root: Root) -> None:
    assert dict(plan.types) == RESOURCE_COUNTS
    regional_only = root.plan(create_account_resources="false")
    assert dict(regional_only.types) == {
        **RESOURCE_COUNTS,
        "aws_iam_role": 1,
        "aws_iam_role_policy": 1,
    }


def test_rules_forward_to_the_hub_bus_with_a_put_events_role(plan: PlanSummary) -> None:
    for target in plan.of_type("aws_cloudwatch_event_target").values():
        assert target["arn"] == HUB_BUS
        assert target["event_bus_name"] == "default"
    forward = plan.one("aws_iam_role.forward")
    assert forward["name"] == "ad-join-forward-eu-west-1"
    (trust,) = statements(json.loads(forward["assume_role_policy"]))
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "111111111111"}}
    (statement,) = statements(plan.policy("aws_iam_role_policy.forward"))
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == HUB_BUS
    patterns = {
        r["name"]: json.loads(r["event_pattern"])
        for r in plan.of_type("aws_cloudwatch_event_rule").values()
    }
    assert patterns["ad-join-ec2-state"] == {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Instance State-change Notification"],
        "detail": {"state": ["running", "terminated"]},
    }
    assert patterns["ad-join-ssm-command"]["detail-type"] == [
        "EC2 Command Invocation Status-change Notification"
    ]


def test_spoke_role_trusts_only_the_hub_lambda_role(plan: PlanSummary) -> None:
    spoke = plan.one("aws_iam_role.spoke[0]")
    assert spoke["name"] == "ad-join-spoke"
    (trust,) = statements(json.loads(spoke["assume_role_policy"]))
    assert trust["Principal"] == {"AWS": "arn:aws:iam::123456789012:role/ad-join-lambda"}
    assert trust["Action"] == "sts:AssumeRole"


def test_spoke_role_policy_is_exactly_what_the_lambda_needs(plan: PlanSummary) -> None:
    by_sid = {s["Sid"]: s for s in statements(plan.policy("aws_iam_role_policy.spoke[0]"))}
    assert set(by_sid) == {"Describe", "TagComputerName", "SendJoinDocuments"}
    assert sorted(as_list(by_sid["Describe"]["Action"])) == [
        "ec2:DescribeInstances",
        "ssm:DescribeInstanceInformation",
        "ssm:ListCommandInvocations",  # issue 8: a redelivered join looks for its command
    ]  # issue 9, defect 7: nor GetCommandInvocation, which the code never calls
    tag = by_sid["TagComputerName"]
    assert tag["Action"] == "ec2:CreateTags"
    assert tag["Resource"] == "arn:aws:ec2:*:111111111111:instance/*"
    assert tag["Condition"]["ForAllValues:StringEquals"] == {"aws:TagKeys": "adComputerName"}
    send = by_sid["SendJoinDocuments"]
    assert send["Action"] == "ssm:SendCommand"
    assert sorted(as_list(send["Resource"])) == [
        "arn:aws:ec2:*:111111111111:instance/*",
        "arn:aws:ssm:*:111111111111:document/ad-join-linux-join",
        "arn:aws:ssm:*:111111111111:document/ad-join-windows-join",
    ]


def test_lifecycle_hooks_forward_the_conventions_hooks_and_complete_tagged_groups_only(
    root: Root, plan: PlanSummary
) -> None:
    # GIVEN the default: no lifecycle rule, no Auto Scaling permission
    assert "aws_cloudwatch_event_rule.lifecycle[0]" not in plan.resources
    assert "autoscaling" not in json.dumps(plan.policy("aws_iam_role_policy.spoke[0]"))
    # WHEN lifecycle hooks are enabled, with the group tag renamed
    tag = {"key": "team-asg", "value": "joined"}
    on = root.plan(lifecycle_hooks={"enabled": True, "group_tag": tag})
    assert on.types["aws_cloudwatch_event_rule"] == on.types["aws_cloudwatch_event_target"] == 3
    # THEN a third rule forwards the hooks named ad-join-* through the same role
    rule = on.one("aws_cloudwatch_event_rule.lifecycle[0]")
    assert json.loads(rule["event_pattern"]) == {
        "source": ["aws.autoscaling"],
        "detail-type": [
            "EC2 Instance-launch Lifecycle Action",
            "EC2 Instance-terminate Lifecycle Action",
        ],
        "detail": {"LifecycleHookName": [{"prefix": "ad-join-"}]},
    }
    target = on.one("aws_cloudwatch_event_target.lifecycle[0]")
    assert target["arn"] == HUB_BUS
    # AND the spoke role completes and heartbeats the actions of the tagged groups only
    by_sid = {s["Sid"]: s for s in statements(on.policy("aws_iam_role_policy.spoke[0]"))}
    complete = by_sid["CompleteLifecycleActions"]
    assert sorted(as_list(complete["Action"])) == [
        "autoscaling:CompleteLifecycleAction",
        "autoscaling:RecordLifecycleActionHeartbeat",
    ]
    assert complete["Resource"] == (
        "arn:aws:autoscaling:*:111111111111:autoScalingGroup:*:autoScalingGroupName/*"
    )
    assert complete["Condition"] == {"StringEquals": {"aws:ResourceTag/team-asg": "joined"}}
    error = root.plan_error(
        lifecycle_hooks={"enabled": True, "group_tag": {"key": "", "value": ""}}
    )
    assert "lifecycle_hooks.group_tag must be a tag" in error


def test_no_policy_allows_everything_on_everything(plan: PlanSummary) -> None:
    assert len(plan.known_policies()) == 4  # two trust policies, two role policies
    assert wildcard_grants(plan) == []


def test_join_documents_embed_the_scripts_verbatim(documents: dict[str, dict[str, Any]]) -> None:
    expected = {
        "ad-join-linux-join": ("aws:runShellScript", "scripts/linux/join.sh"),
        "ad-join-windows-join": ("aws:runPowerShellScript", "scripts/windows/join.ps1"),
    }
    assert set(documents) == set(expected)
    for name, (action, script) in expected.items():
        content = documents[name]
        assert content["schemaVersion"] == "2.2"
        (step,) = content["mainSteps"]
        assert step["action"] == action
        assert step["inputs"]["runCommand"] == [(REPO_ROOT / script).read_text()]


def test_join_document_parameters_are_env_vars_with_patterns(
    documents: dict[str, dict[str, Any]],
) -> None:
    for name, content in documents.items():
        parameters = content["parameters"]
        assert set(parameters) == {
            "computerName",
            "oneTimePassword",
            "domainName",
            "computerOU",
            "adGroupName",
            "adSudoGroupName",
            "bootWaitSeconds",
            "dnsIP1",
            "dnsIP2",
            "domainController",
        }, name
        for parameter_name, parameter in parameters.items():
            assert parameter["type"] == "String"
            assert parameter["interpolationType"] == "ENV_VAR", (name, parameter_name)
            if "default" in parameter:
                assert re.fullmatch(parameter["allowedPattern"], parameter["default"])
        assert parameters["oneTimePassword"]["allowedPattern"] == ONE_TIME_PASSWORD_PATTERN
        assert parameters["dnsIP2"]["allowedPattern"] == parameters["dnsIP1"]["allowedPattern"]


@pytest.mark.parametrize("parameter", sorted(PATTERN_CASES))
def test_allowed_patterns_accept_and_reject(
    documents: dict[str, dict[str, Any]], parameter: str
) -> None:
    pattern = documents["ad-join-linux-join"]["parameters"][parameter]["allowedPattern"]
    accepted, rejected = PATTERN_CASES[parameter]
    for value in accepted:
        assert re.search(pattern, value), f"{parameter} should accept {value!r}"
    for value in rejected:
        assert not re.search(pattern, value), f"{parameter} should reject {value!r}"


@pytest.fixture(scope="module")
def variable_errors(root: Root) -> str:
    """Terraform reports every failed variable validation of one plan at once."""
    return root.plan_error(account_id="1111", hub_account_id="abcdefghijkl")


@pytest.mark.parametrize(
    "message",
    [
        "account_id must be the 12-digit id of this workload account.",
        "hub_account_id must be the 12-digit id of the hub account.",
    ],
)
def test_validation_messages(variable_errors: str, message: str) -> None:
    assert message in variable_errors


def test_module_reads_scripts_relative_to_itself() -> None:
    source = (REPO_ROOT / "modules" / "spoke-account" / "ssm.tf").read_text()
    assert 'file("${path.module}/../../scripts/linux/join.sh")' in source
    assert Path(REPO_ROOT / "scripts" / "linux" / "join.sh").is_file()

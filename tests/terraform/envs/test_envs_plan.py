"""Every environment plans offline.

envs/hub and envs/workload get an `*_override.tf` (written into the session's copy, never into
the checkout) that gives each provider dummy credentials and the skip flags, so the plan needs no
AWS; envs/local plans against a moto server started for the test, since its workload providers
assume roles through STS.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from tests.terraform.conftest import (
    REPO_ROOT,
    PlanSummary,
    Root,
    as_list,
    statements,
    wildcard_grants,
)

pytestmark = [pytest.mark.slow, pytest.mark.terraform]

OFFLINE = """
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
"""


def write_offline_override(env_dir: Path) -> list[str]:
    """Give every provider block of providers.tf dummy credentials; return the aliases."""
    source = (env_dir / "providers.tf").read_text()
    aliases = re.findall(r'alias\s*=\s*"([^"]+)"', source)
    blocks = ['provider "aws" {' + OFFLINE + "}"]
    blocks += [f'provider "aws" {{\n  alias = "{alias}"{OFFLINE}}}' for alias in aliases]
    (env_dir / "offline_override.tf").write_text("\n\n".join(blocks) + "\n")
    return aliases


def module_counts(plan: PlanSummary) -> dict[str, int]:
    counts: dict[str, int] = {}
    for address in plan.resources:
        module = address.split(".")[1].split("[")[0]
        counts[module] = counts.get(module, 0) + 1
    return counts


@pytest.fixture(scope="module")
def hub_root(root_factory: Any, tf_tree: Path) -> Root:
    write_offline_override(tf_tree / "envs" / "hub")
    return root_factory("envs/hub")


@pytest.fixture(scope="module")
def workload_root(root_factory: Any, tf_tree: Path) -> Root:
    write_offline_override(tf_tree / "envs" / "workload")
    return root_factory("envs/workload")


# Also the permissions proof's hub (test_permission_proof.py): one plan serves both.
HUB_VARS = {
    "account_id": "123456789012",
    "region": "us-east-1",
    "organization_id": "o-abcdefghij",
    "spoke_regions": ["eu-west-1", "ap-southeast-2"],
    "join_password_parameter": "/ad-join/join-password",
    "directory": {
        "adapter": "ds",
        "leave_adapter": "ad_tools_host",
        "directory_ids": ["d-1234567890"],
        "ldap_ca_cert_parameters": ["/ad-join/ldap-ca-cert"],
    },
}
WORKLOAD_REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]


def test_hub_env_plans_hub_and_the_selected_regions(hub_root: Root, tf_tree: Path) -> None:
    plan = hub_root.plan(**HUB_VARS, lambda_zip_path=str(tf_tree / "build/adjoin-lambda.zip"))
    counts = module_counts(plan)
    assert set(counts) == {"hub", "region_euw1", "region_apse2"}
    assert plan.one("module.hub.aws_sqs_queue.this")["delay_seconds"] == 30  # the module's
    assert counts["region_euw1"] == counts["region_apse2"] == 13  # 3 rules with targets
    by_sid = {s["Sid"]: s for s in statements(plan.policy("module.hub.aws_sqs_queue_policy.this"))}
    assert sorted(
        as_list(by_sid["SpokeRegionTopics"]["Condition"]["ArnEquals"]["aws:SourceArn"])
    ) == [
        "arn:aws:sns:ap-southeast-2:123456789012:ad-join-events",
        "arn:aws:sns:eu-west-1:123456789012:ad-join-events",
    ]
    # Each Region's subscription targets the hub queue (its ARN is known after apply).
    subscriptions = plan.of_type("aws_sns_topic_subscription")
    assert len(subscriptions) == 2
    for address in subscriptions:
        assert plan.unknown[address]["endpoint"] is True
    calls = plan.raw["configuration"]["root_module"]["module_calls"]
    for call in ("region_euw1", "region_apse2"):
        assert "module.hub.queue_arn" in calls[call]["expressions"]["hub_queue_arn"]["references"]


def test_hub_env_rejects_regions_that_are_not_pre_wired(hub_root: Root, tf_tree: Path) -> None:
    error = hub_root.plan_error(
        **{**HUB_VARS, "spoke_regions": ["sa-east-1"]},
        lambda_zip_path=str(tf_tree / "build/adjoin-lambda.zip"),
    )
    assert "spoke_regions may only hold the pre-wired Regions" in error


def test_hub_env_rejects_the_directory_region_as_a_spoke_region(
    hub_root: Root, tf_tree: Path
) -> None:
    error = hub_root.plan_error(
        **{**HUB_VARS, "spoke_regions": ["us-east-1"]},
        lambda_zip_path=str(tf_tree / "build/adjoin-lambda.zip"),
    )
    assert "modules/spoke-region must run in a Region other than the hub's" in error


def test_workload_env_plans_every_region_and_the_role_once(workload_root: Root) -> None:
    plan = workload_root.plan(
        account_id="111111111111",
        hub_account_id="123456789012",
        region="us-east-1",
        regions=WORKLOAD_REGIONS,
    )
    counts = module_counts(plan)
    # us-east-1 is the home Region: listing it again adds nothing.
    assert set(counts) == {"home", "region_euw1", "region_apse2"}
    assert plan.types["aws_iam_role"] == 1 + 3  # the spoke role once, a forward role per Region
    targets = {
        address.split(".")[1]: values["arn"]
        for address, values in plan.of_type("aws_cloudwatch_event_target").items()
    }
    assert targets == {
        "home": "arn:aws:events:us-east-1:123456789012:event-bus/ad-join-bus",
        "region_euw1[0]": "arn:aws:events:eu-west-1:123456789012:event-bus/ad-join-bus",
        "region_apse2[0]": "arn:aws:events:ap-southeast-2:123456789012:event-bus/ad-join-bus",
    }
    assert plan.types["aws_ssm_document"] == 2 * 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def local_plan(root_factory: Any, tf_tree: Path, moto_endpoint: str) -> PlanSummary:
    root = root_factory("envs/local")
    return root.plan(
        endpoint_url=moto_endpoint,
        lambda_zip_path=str(tf_tree / "build/adjoin-lambda.zip"),
        directory={"directory_ids": ["d-1234567890"]},
        powertools_layer_zip_path=str(tf_tree / "build/powertools-layer.zip"),
    )


def test_local_env_plans_the_whole_organization(local_plan: PlanSummary) -> None:
    counts = module_counts(local_plan)
    assert counts == {
        "powertools": 1,  # the Powertools layer, published locally (the emulator has none)
        # each bus has a third rule and target: the lifecycle actions (issue 12); workload 1
        # forwards them (lifecycle_hooks), workload 2 does not
        "hub": 35,  # with the one-time password key and its alias (otp.tf)
        "hub_euw1": 13,
        "w1_use1": 12,
        "w1_euw1": 10,
        "w2_use1": 10,
        "w2_euw1": 8,
    }
    spoke_roles = {
        values["name"] + "@" + address.split(".")[1]
        for address, values in local_plan.of_type("aws_iam_role").items()
        if values["name"] == "ad-join-spoke"
    }
    assert spoke_roles == {"ad-join-spoke@w1_use1", "ad-join-spoke@w2_use1"}


def test_local_env_gives_the_function_its_own_powertools_layer(local_plan: PlanSummary) -> None:
    layer = local_plan.one("aws_lambda_layer_version.powertools")
    assert layer["compatible_runtimes"] == ["python3.12"]
    assert layer["compatible_architectures"] == ["x86_64"]
    calls = local_plan.raw["configuration"]["root_module"]["module_calls"]["hub"]["expressions"]
    assert "aws_lambda_layer_version.powertools.arn" in calls["powertools_layer"]["references"]


def test_local_env_short_delay_and_disabled_mapping(local_plan: PlanSummary) -> None:
    assert local_plan.one("module.hub.aws_sqs_queue.this")["delay_seconds"] == 5
    assert local_plan.one("module.hub.aws_lambda_event_source_mapping.this")["enabled"] is False


def test_local_env_routes_workload_events_to_the_hub_account(local_plan: PlanSummary) -> None:
    for address, target in local_plan.of_type("aws_cloudwatch_event_target").items():
        module = address.split(".")[1]
        if module.startswith("w"):
            region = "us-east-1" if module.endswith("use1") else "eu-west-1"
            assert target["arn"] == f"arn:aws:events:{region}:123456789012:event-bus/ad-join-bus"
    bus_policy = local_plan.policy("hub.module.event_bus.aws_cloudwatch_event_bus_policy.this")
    (statement,) = statements(bus_policy)
    assert sorted(as_list(statement["Principal"]["AWS"])) == [
        "arn:aws:iam::111111111111:root",
        "arn:aws:iam::222222222222:root",
    ]


def test_local_env_no_policy_allows_everything_on_everything(local_plan: PlanSummary) -> None:
    # hub 7 + the one-time password key's 1 + the reconcile schedule's role 2 + regional 3 +
    # workload 2 per Region and 2 more for each spoke role, minus the two spoke trust policies:
    # they name module.hub.lambda_role_arn, known after apply.
    assert len(local_plan.known_policies()) == 7 + 1 + 2 + 3 + 4 * 2 + 2 * 2 - 2
    assert wildcard_grants(local_plan) == []


def test_local_env_takes_only_the_password_parameter_name(local_plan: PlanSummary) -> None:
    variables = local_plan.raw["variables"]
    assert variables["join_password_parameter_name"]["value"] == "/ad-join/join-password"
    assert not [name for name in variables if "password" in name and name.endswith("_value")]
    # The env creates no parameter or secret: the harness writes the SecureString itself.
    assert not {"aws_ssm_parameter", "aws_secretsmanager_secret_version"} & set(local_plan.types)


def test_every_module_filters_on_the_same_patterns(local_plan: PlanSummary) -> None:
    # The hub bus, the regional bus and the four spoke Regions' default buses each have the two
    # rules; a spoke forwarding an event the hub does not match would lose it.
    by_name: dict[str, set[str]] = {}
    modules: dict[str, set[str]] = {}
    for address, rule in local_plan.of_type("aws_cloudwatch_event_rule").items():
        by_name.setdefault(rule["name"], set()).add(rule["event_pattern"])
        modules.setdefault(rule["name"], set()).add(address.split(".")[1])
    assert sorted(by_name) == ["ad-join-ec2-state", "ad-join-lifecycle", "ad-join-ssm-command"]
    everywhere = {"hub", "hub_euw1", "w1_use1", "w1_euw1", "w2_use1", "w2_euw1"}
    assert modules == {
        "ad-join-ec2-state": everywhere,
        "ad-join-ssm-command": everywhere,
        # the hub side always; a spoke only with lifecycle_hooks (envs/local: w1)
        "ad-join-lifecycle": {"hub", "hub_euw1", "w1_use1", "w1_euw1"},
    }
    assert all(len(patterns) == 1 for patterns in by_name.values()), by_name


ALARM_MOVES = {
    f"aws_cloudwatch_metric_alarm.{name}": f'aws_cloudwatch_metric_alarm.metric["{name}"]'
    for name in ("dlq_depth", "lambda_errors")
}
MOVED = re.compile(r"^moved \{\n  from = (\S+)\n  to   = (\S+)\n\}", re.MULTILINE)


@pytest.mark.parametrize(("module", "instance"), [("hub", "hub"), ("spoke-region", "hub_euw1")])
def test_moved_blocks_lead_from_v0_1_0_addresses_to_planned_resources(
    local_plan: PlanSummary, module: str, instance: str
) -> None:
    # Users of v0.1.0 have the bus, its policy, rules and targets at the module's top level (and
    # the hub's DLQ and Lambda error alarms as separate resources); the moved blocks must name the
    # addresses the plan creates, or Terraform would replace them.
    source = "\n".join(p.read_text() for p in (REPO_ROOT / "modules" / module).glob("*.tf"))
    moves = dict(MOVED.findall(source))
    assert moves == (ALARM_MOVES if module == "hub" else {}) | {
        f"{kind}.{name}": f"module.event_bus.{kind}.{name}"
        for kind, name in [
            ("aws_cloudwatch_event_bus", "this"),
            ("aws_cloudwatch_event_bus_policy", "this"),
            ("aws_cloudwatch_event_rule", "ec2_state"),
            ("aws_cloudwatch_event_rule", "ssm_command"),
            ("aws_cloudwatch_event_target", "ec2_state"),
            ("aws_cloudwatch_event_target", "ssm_command"),
        ]
    }
    for old, new in moves.items():
        assert f"module.{instance}.{new}" in local_plan.resources
        assert f"module.{instance}.{old}" not in local_plan.resources

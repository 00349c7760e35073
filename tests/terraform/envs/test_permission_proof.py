"""The permissions proof on the plans of envs/hub (an organization, the directory Region and two
more Regions) and envs/workload (two accounts, three Regions): the Lambda's recorded requests
(tests/iam/scenarios.py), every delivery on the event path and the requests that must fail,
evaluated with @cloud-copilot/iam-simulate against the policies those plans create.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.iam import cases, coverage, deployment, recorder, scenarios, simulator, summary
from tests.terraform.conftest import Root
from tests.terraform.envs.test_envs_plan import HUB_VARS, WORKLOAD_REGIONS, write_offline_override

pytestmark = [pytest.mark.slow, pytest.mark.terraform]

HUB = HUB_VARS["account_id"]
ORG = HUB_VARS["organization_id"]
HUB_REGION = HUB_VARS["region"]
WORKLOADS = ("111111111111", "222222222222")


def _place(account: str, home: str, regions: dict[str, str]) -> deployment.Place:
    def place(module: str) -> tuple[str, str]:
        name = module.removeprefix("module.").split("[")[0]
        return account, regions.get(name, home)

    return place


REGION_OF_MODULE = {
    "region_use1": "us-east-1",
    "region_use2": "us-east-2",
    "region_usw2": "us-west-2",
    "region_euw1": "eu-west-1",
    "region_euc1": "eu-central-1",
    "region_apse2": "ap-southeast-2",
}


@pytest.fixture(scope="module")
def world(root_factory: Any, tf_tree: Path) -> cases.World:
    write_offline_override(tf_tree / "envs" / "hub")
    write_offline_override(tf_tree / "envs" / "workload")
    hub: Root = root_factory("envs/hub")
    workload: Root = root_factory("envs/workload")
    zip_path = str(tf_tree / "build/adjoin-lambda.zip")
    items = list(deployment.resources_of_plan(hub.plan(**HUB_VARS, lambda_zip_path=zip_path).raw))
    places = {"": _place(HUB, HUB_REGION, REGION_OF_MODULE)}
    merged = deployment.build(iter(items), places[""], organization_id=ORG)
    for account in WORKLOADS:
        plan = workload.plan(
            account_id=account,
            hub_account_id=HUB,
            region=HUB_REGION,
            regions=WORKLOAD_REGIONS,
            lifecycle_hooks={"enabled": True},
        )
        part = deployment.build(
            deployment.resources_of_plan(plan.raw),
            _place(account, HUB_REGION, REGION_OF_MODULE),
            organization_id=ORG,
        )
        merged.roles.update(part.roles)
        merged.targets += part.targets
        merged.documents |= part.documents
        merged.accounts |= part.accounts
    password = f"arn:aws:ssm:{HUB_REGION}:{HUB}:parameter/ad-join/join-password"
    hub_key = merged.key_of(f"arn:aws:sqs:{HUB_REGION}:{HUB}:ad-join-queue") or ""
    return cases.World(
        merged,
        HUB,
        org_of=dict.fromkeys((HUB, *WORKLOADS), ORG),
        secure={password: hub_key},
    )


SECRET_PREFIX = f"arn:aws:secretsmanager:{HUB_VARS['region']}:{HUB_VARS['account_id']}:secret:"


def _secret_world(world: cases.World, root_factory: Any, tf_tree: Path) -> cases.World:
    """The same hub with the join password in Secrets Manager: the module grants one of the two
    stores, so the Secrets Manager reads are evaluated against this plan."""
    hub: Root = root_factory("envs/hub")
    variables = {**HUB_VARS, "join_password_parameter": SECRET_PREFIX + scenarios.SECRET_NAME}
    plan = hub.plan(**variables, lambda_zip_path=str(tf_tree / "build/adjoin-lambda.zip"))
    dep = deployment.build(
        deployment.resources_of_plan(plan.raw),
        _place(HUB, HUB_REGION, REGION_OF_MODULE),
        organization_id=ORG,
    )
    dep.roles = {**world.dep.roles, **dep.roles}
    return cases.World(dep, HUB, org_of=world.org_of, secure=world.secure)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, world: cases.World) -> list[dict[str, Any]]:
    path = tmp_path_factory.mktemp("iam") / "requests.jsonl"
    burst = scenarios.record_burst(path)
    assert burst["join"].done == burst["join"].events > 0
    assert burst["status"].done == burst["status"].events
    tags = scenarios.record_paths(path)
    world.instance_tags.update(tags)
    world.group_tags.update(scenarios.GROUP_TAGS)
    records = recorder.read(path)
    # the secret the scenario created, encrypted with the hub key like the SecureString
    for record in records:
        secret = (record.get("params") or {}).get("SecretId")
        if secret:
            world.secure[secret] = next(iter(world.secure.values()))
    return records


def _prove(kind: str, proof_cases: list[simulator.Case], at_least: int) -> list[simulator.Verdict]:
    """Evaluate the cases, add them to the summary as `kind`, fail on any unexpected verdict."""
    verdicts = simulator.evaluate(proof_cases)
    summary.add("plans", **{kind: verdicts})
    assert len(proof_cases) >= at_least
    bad = simulator.failures(verdicts)
    assert not bad, "\n".join(bad)
    return verdicts


def test_every_recorded_request_is_allowed(
    world: cases.World, recorded: list[dict[str, Any]], root_factory: Any, tf_tree: Path
) -> None:
    in_secrets = [r for r in recorded if r["service"] == "secretsmanager"]
    assert in_secrets, "the scenarios read the password from Secrets Manager once"
    requests = cases.request_cases(world, [r for r in recorded if r not in in_secrets])
    requests += cases.request_cases(_secret_world(world, root_factory, tf_tree), in_secrets)
    _prove("requests", requests, at_least=20)


def test_every_delivery_is_allowed(world: cases.World) -> None:
    deliveries = cases.delivery_cases(world)
    # 3 Regions x 2 workload accounts x 2 rules forward (assume + 2 kinds each), the hub bus
    # and 2 regional buses deliver, 2 subscriptions, the function, its logs and mapping, alarms
    _prove("deliveries", deliveries, at_least=60)


def test_requests_that_must_fail_are_denied(world: cases.World) -> None:
    denials = cases.denial_cases(
        world, directory_region=HUB_REGION, tools_tag=("adToolsHost", "true")
    )
    verdicts = _prove("denials", denials, at_least=20)
    forged = [v for v in verdicts if "forged event" in v.case.id]
    assert forged and {v.result for v in forged} == {"ExplicitlyDenied"}


def test_every_aws_call_of_the_lambda_has_a_proof_case(recorded: list[dict[str, Any]]) -> None:
    calls = coverage.lambda_calls()
    missing = coverage.uncovered(calls, recorded)
    summary.add_coverage(len(calls) - len(missing), len(calls))
    assert missing == {}, "AWS calls in lambda/adjoin that no proof case exercises"

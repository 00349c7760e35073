"""The proof on the applied local system (tests/e2e): the policies from the state of envs/local
(`terraform show -json`), the requests the Lambda made during the scenario (recorded in its
runtime), the deliveries and the denials."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.iam import cases, deployment, recorder, simulator

#: envs/local's modules (and its root, the Powertools layer): account and Region
#: (envs/local/main.tf)
PLACES = {
    "": ("123456789012", "us-east-1"),
    "module.hub": ("123456789012", "us-east-1"),
    "module.hub_euw1": ("123456789012", "eu-west-1"),
    "module.w1_use1": ("111111111111", "us-east-1"),
    "module.w1_euw1": ("111111111111", "eu-west-1"),
    "module.w2_use1": ("222222222222", "us-east-1"),
    "module.w2_euw1": ("222222222222", "eu-west-1"),
}


def prove(
    show_json: str,
    requests_file: Path,
    *,
    instance_tags: dict[str, dict[str, str]],
    secure: dict[str, str],
    group_tags: dict[str, dict[str, str]] | None = None,
) -> dict[str, list[simulator.Verdict]]:
    dep = deployment.build(
        deployment.resources_of_state(json.loads(show_json)), lambda module: PLACES[module]
    )
    world = cases.World(
        dep, "123456789012", instance_tags=instance_tags, secure=secure,
        group_tags=group_tags or {},
    )  # fmt: skip
    records: list[dict[str, Any]] = recorder.read(requests_file)
    requests = cases.request_cases(world, records)
    deliveries = cases.delivery_cases(world)
    denials = cases.denial_cases(
        world, directory_region="us-east-1", tools_tag=("adToolsHost", "true")
    )
    verdicts = simulator.evaluate(requests + deliveries + denials)
    by_kind: dict[str, list[simulator.Verdict]] = {"requests": [], "deliveries": [], "denials": []}
    names = {"request": "requests", "delivery": "deliveries", "denial": "denials"}
    for verdict in verdicts:
        by_kind[names[verdict.case.kind]].append(verdict)
    return by_kind

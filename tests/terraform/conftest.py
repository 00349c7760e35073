"""Shared fixtures of the Terraform plan tests.

The modules, scripts, environments and fixture roots are copied once per session into a
temporary tree with the repository's layout (relative module sources and `file()` paths keep
working), so tests never write `.terraform` directories into the checkout and never race with an
environment someone else is applying. Each fixture root is initialised once (tftest `setup`) and
each distinct set of variables is planned once per session.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tftest

REPO_ROOT = Path(__file__).resolve().parents[2]
TESTS_TF = Path(__file__).resolve().parent
IGNORE = shutil.ignore_patterns(
    ".terraform", "*.tfstate", "*.tfstate.*", "terraform.tfvars", ".tftest-cache", "__pycache__"
)


@dataclass
class PlanSummary:
    """What a plan creates: resources by address, counts by type, policy documents by address."""

    raw: dict[str, Any]
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    types: Counter[str] = field(default_factory=Counter)
    type_of: dict[str, str] = field(default_factory=dict)
    unknown: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_plan(cls, raw: dict[str, Any]) -> PlanSummary:
        summary = cls(raw=raw)
        for change in raw.get("resource_changes", []):
            if change.get("mode") != "managed" or change["change"]["actions"] != ["create"]:
                continue
            summary.resources[change["address"]] = change["change"]["after"] or {}
            summary.unknown[change["address"]] = change["change"].get("after_unknown") or {}
            summary.types[change["type"]] += 1
            summary.type_of[change["address"]] = change["type"]
        return summary

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {a: v for a, v in self.resources.items() if self.type_of[a] == resource_type}

    def one(self, address_suffix: str) -> dict[str, Any]:
        hits = [v for a, v in self.resources.items() if a.endswith(address_suffix)]
        assert len(hits) == 1, f"{address_suffix}: {len(hits)} matches in {sorted(self.resources)}"
        return hits[0]

    def policy(self, address_suffix: str, attribute: str = "policy") -> dict[str, Any]:
        document = self.one(address_suffix).get(attribute)
        assert isinstance(document, str), f"{address_suffix}.{attribute} is not known at plan time"
        parsed: dict[str, Any] = json.loads(document)
        return parsed

    def known_policies(self) -> dict[str, dict[str, Any]]:
        """Every policy document attribute known at plan time, by `address.attribute`."""
        found: dict[str, dict[str, Any]] = {}
        for address, values in self.resources.items():
            for attribute in ("policy", "assume_role_policy"):
                document = values.get(attribute)
                if isinstance(document, str) and document.startswith("{"):
                    found[f"{address}.{attribute}"] = json.loads(document)
        return found


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    body = document["Statement"]
    return body if isinstance(body, list) else [body]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="session")
def tf_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of modules/, scripts/, envs/ and the fixture roots, plus a small Lambda zip."""
    root = tmp_path_factory.mktemp("tf-tree")
    for folder in ("modules", "scripts", "envs"):
        shutil.copytree(REPO_ROOT / folder, root / folder, ignore=IGNORE)
    for fixture in TESTS_TF.glob("*/fixture"):
        target = root / fixture.relative_to(REPO_ROOT)
        shutil.copytree(fixture, target, ignore=IGNORE)
    build = root / "build"
    build.mkdir()
    with zipfile.ZipFile(build / "adjoin-lambda.zip", "w") as archive:
        archive.writestr("adjoin/__init__.py", "")
        archive.writestr(
            "adjoin/handler.py",
            "def lambda_handler(event, context):\n    return {'batchItemFailures': []}\n",
        )
    with zipfile.ZipFile(build / "powertools-layer.zip", "w") as archive:  # envs/local's layer
        archive.writestr("python/aws_lambda_powertools/__init__.py", "")
    return root


@pytest.fixture(scope="session")
def lambda_zip(tf_tree: Path) -> dict[str, str]:
    path = tf_tree / "build" / "adjoin-lambda.zip"
    digest = base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()
    return {"lambda_zip_path": str(path), "lambda_zip_hash": digest}


class Root:
    """One initialised root module; plans are cached by their variables."""

    def __init__(self, directory: Path, env: dict[str, str] | None = None) -> None:
        self.directory = directory
        self.tf = tftest.TerraformTest(str(directory), env=env)
        self.tf.setup(cleanup_on_exit=False)
        self._plans: dict[str, PlanSummary] = {}

    def plan(self, **tf_vars: Any) -> PlanSummary:
        key = json.dumps(tf_vars, sort_keys=True)
        if key not in self._plans:
            output = self.tf.plan(output=True, tf_vars=tf_vars)
            self._plans[key] = PlanSummary.from_plan(dict(output))
        return self._plans[key]

    def plan_error(self, **tf_vars: Any) -> str:
        """The error text of a plan that must fail (fails the test if the plan succeeds)."""
        try:
            self.tf.plan(output=False, tf_vars=tf_vars)
        except tftest.TerraformTestError as error:
            text = " ".join(str(part) for part in error.args)
            return " ".join(text.replace("│", " ").split())
        pytest.fail(f"plan with {tf_vars} succeeded; a validation error was expected")

    def validate(self) -> str:
        return self.tf.execute_command("validate", "-no-color").out


@pytest.fixture(scope="session")
def root_factory(tf_tree: Path) -> Iterator[Callable[..., Root]]:
    roots: dict[str, Root] = {}

    def make(relative: str, env: dict[str, str] | None = None) -> Root:
        if relative not in roots:
            roots[relative] = Root(tf_tree / relative, env=env)
        return roots[relative]

    yield make


def wildcard_grants(plan: PlanSummary) -> list[str]:
    """Statements of the plan's policy documents that allow a `*` action (or `service:*`) on
    `*`, apart from a key policy's delegation to its own account's root."""
    found = []
    for where, document in plan.known_policies().items():
        for statement in statements(document):
            if statement.get("Effect", "Allow") != "Allow":
                continue
            actions = as_list(statement.get("Action", []))
            resources = as_list(statement.get("Resource", []))
            broad = [a for a in actions if a == "*" or a.endswith(":*")]
            if not broad or "*" not in resources:
                continue
            is_key_policy = plan.type_of[where.rsplit(".", 1)[0]] == "aws_kms_key"
            root_only = [
                p.endswith(":root") for p in as_list(statement.get("Principal", {}).get("AWS", []))
            ]
            if is_key_policy and broad == ["kms:*"] and root_only and all(root_only):
                continue
            found.append(f"{where}: {statement}")
    return found

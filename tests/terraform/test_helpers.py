"""The plan-test helpers can fail: the wildcard check flags broad grants, and the HCL block
reader finds a missing description."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.terraform.conftest import PlanSummary, wildcard_grants
from tests.terraform.hcl_blocks import read_blocks


def plan_with(address: str, resource_type: str, document: dict[str, Any]) -> PlanSummary:
    return PlanSummary.from_plan(
        {
            "resource_changes": [
                {
                    "address": address,
                    "mode": "managed",
                    "type": resource_type,
                    "change": {"actions": ["create"], "after": {"policy": json.dumps(document)}},
                }
            ]
        }
    )


def test_wildcard_grants_flags_star_on_star() -> None:
    document = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    assert len(wildcard_grants(plan_with("a.b", "aws_iam_role_policy", document))) == 1


def test_wildcard_grants_flags_service_star_on_star_outside_key_policies() -> None:
    document = {"Statement": {"Effect": "Allow", "Action": ["sqs:*"], "Resource": ["*"]}}
    assert len(wildcard_grants(plan_with("a.b", "aws_iam_role_policy", document))) == 1


def test_wildcard_grants_allows_a_key_policy_root_delegation_only() -> None:
    root = {
        "Effect": "Allow",
        "Action": "kms:*",
        "Resource": "*",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
    }
    other = {**root, "Principal": {"AWS": "arn:aws:iam::123456789012:role/x"}}
    assert wildcard_grants(plan_with("k", "aws_kms_key", {"Statement": [root]})) == []
    assert len(wildcard_grants(plan_with("k", "aws_kms_key", {"Statement": [other]}))) == 1


def test_wildcard_grants_ignores_scoped_and_denied_statements() -> None:
    document = {
        "Statement": [
            {"Effect": "Allow", "Action": "sqs:*", "Resource": "arn:aws:sqs:us-east-1:1:q"},
            {"Effect": "Deny", "Action": "*", "Resource": "*"},
            {"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"},
        ]
    }
    assert wildcard_grants(plan_with("a.b", "aws_iam_role_policy", document)) == []


def test_read_blocks_finds_missing_descriptions(tmp_path: Path) -> None:
    source = tmp_path / "variables.tf"
    source.write_text(
        'variable "a" {\n  description = "has { braces } and \\"quotes\\""\n  type = string\n}\n\n'
        'variable "b" {\n  type = object({\n    description = optional(string)\n  })\n}\n\n'
        '# variable "c" { in a comment }\n'
        'variable "d" {\n  default = "}"\n  description = "after a brace in a string"\n}\n'
    )
    blocks = {block.name: block for block in read_blocks(source)}
    assert sorted(blocks) == ["a", "b", "d"]
    assert blocks["a"].description is not None
    assert blocks["b"].description is None  # a nested attribute is not the block's description
    assert blocks["d"].description is not None

"""The benchmark's moto speed patch keeps DynamoDB transaction semantics: a committed
transaction writes every item, a cancelled one writes none and reports why."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.e2e.moto_patches import fast_transactions
from tests.unit import fakes


def _update(iid: str, status: str, condition: str | None = None) -> dict[str, object]:
    update: dict[str, object] = {
        "TableName": fakes.STATE_TABLE,
        "Key": {"instanceId": {"S": iid}},
        "UpdateExpression": "SET #s = :s",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":s": {"S": status}},
    }
    if condition:
        update["ConditionExpression"] = condition
        update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return {"Update": update}


def test_commit_and_rollback_are_unchanged(world: fakes.World) -> None:
    ddb = boto3.client("dynamodb", region_name=fakes.HUB_REGION)
    with fast_transactions():
        ddb.transact_write_items(TransactItems=[_update(f"i-{n:08x}", "joining") for n in range(5)])
        assert world.state("i-00000004") == {"instanceId": "i-00000004", "status": "joining"}
        items = [_update(f"i-{n:08x}", "joined") for n in range(4)]
        items.append(_update("i-00000004", "joined", "#s = :s AND #s <> :s"))
        with pytest.raises(ClientError) as info:
            ddb.transact_write_items(TransactItems=items)
    reasons = info.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None"] * 4 + ["ConditionalCheckFailed"]
    assert reasons[4]["Item"]["status"] == {"S": "joining"}
    for n in range(5):  # rolled back: nothing of the cancelled transaction stayed
        item = world.state(f"i-{n:08x}")
        assert item is not None and item["status"] == "joining"

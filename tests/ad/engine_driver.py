"""Runs the Lambda's engine for one `running` event inside a namespace that reaches the real DC.

AWS is moto in this process (tests/unit/fakes: tables, queues, the join password parameter,
a spoke instance), the directory is the real one: the engine's ldap adapter talks to the Samba
DC. Reads a JSON request on stdin (`item`: the config item in DynamoDB's typed JSON, written with
a plain PutItem; `join_password`; `env`: Lambda settings; `tags`: a list of tag sets, one
instance each) and prints, per instance, the join commands the engine sent, its DLQ message and
its state item, as JSON. The one-time password is in the
command's parameters: the caller runs the join script with them.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import boto3
from moto import mock_aws

from adjoin import handler
from adjoin.directory import discovery
from adjoin.settings import Settings
from tests.unit import fakes


def main() -> None:
    request = json.load(sys.stdin)
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "MOTO_ACCOUNT_ID"):
        os.environ.pop(key, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION=fakes.HUB_REGION,
        AWS_REGION=fakes.HUB_REGION,
    )
    discovery.clear_cache()
    with fakes.fake_aws() as fake, mock_aws():
        world = fakes.make_world(accounts=())
        item: dict[str, Any] = request["item"]
        boto3.client("ssm", region_name=fakes.HUB_REGION).put_parameter(
            Name=item["adJoinUserPwParam"]["S"],
            Value=request["join_password"],
            Type="SecureString",
            Overwrite=True,
        )
        boto3.client("dynamodb", region_name=fakes.HUB_REGION).put_item(
            TableName=fakes.CONFIG_TABLE, Item=item
        )
        account = item["accountId"]["S"]
        # one instance per tag set (`tags`: a list), all in one batch
        instances = [
            fakes.launch(account, "eu-west-1", tags=tags)[0]
            for tags in request.get("tags") or [None]
        ]
        engine = handler.build_engine(Settings.from_env(world.env(**request["env"])))
        records = [
            fakes.sqs_record(fakes.state_event(account, "eu-west-1", instance, "running"))
            for instance in instances
        ]
        failures = engine.process(records)
        dead = {
            json.loads(m["Body"])["detail"]["instance-id"]: {
                k: v["StringValue"] for k, v in m["MessageAttributes"].items()
            }
            for m in world.dlq_messages()
        }
        commands = fake.sent_commands()
        answer = [
            {
                "instance": instance,
                "commands": [c for c in commands if c["InstanceIds"] == [instance]],
                "dlq": dead.get(instance),
                "state": world.state(instance),
            }
            for instance in instances
        ]
        print(json.dumps({"failures": failures, "instances": answer}, default=str))


if __name__ == "__main__":
    main()

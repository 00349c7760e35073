"""The seed's algorithm, as the benchmark's peer.

The seed's code is not public. This is written from the AWS Security Blog post that describes it
("Automate domain join for Amazon EC2 instances from multiple AWS accounts and Regions",
https://aws.amazon.com/blogs/security/automate-domain-join-for-amazon-ec2-instances-multiple-aws-accounts-regions/):
an SQS queue with a 300 s delay feeds a Lambda function that handles each message on its own,
one after the other. For every message it reads the account's item from the DynamoDB table and
the join user's password from Parameter Store; for `running` it assumes the account's role,
describes the instance and runs the platform's join script through Run Command with the join
user's name and password as parameters; for `terminated` it runs the removal script on the AD
tools host in the security account (found by its tag), which removes the computer object.
It keeps no state and does not follow the command's status.

Hub clients are made once per container; spoke clients once per message (`boto3.client` with
the assumed role's keys, on the default session, so service models are loaded once), since each
message assumes the role again. Same moto world, same latency, same events as ours.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

PASSWORD_PARAMETER = "adJoinUserPw"  # the seed's way: the password travels as a parameter


class SeedPeer:
    """One Lambda container running the seed's algorithm."""

    def __init__(
        self,
        config_table: str,
        region: str,
        *,
        linux_document: str = "ad-join-linux-join",
        windows_document: str = "ad-join-windows-join",
        leave_document: str = "ad-join-leave",
        ad_tools_host_tag: tuple[str, str] = ("adToolsHost", "true"),
    ) -> None:
        self._region = region
        self._ddb = boto3.client("dynamodb", region_name=region)
        self._ssm = boto3.client("ssm", region_name=region)
        self._sts = boto3.client("sts", region_name=region)
        self._ec2 = boto3.client("ec2", region_name=region)
        self._table = config_table
        self._documents = {"linux": linux_document, "windows": windows_document}
        self._leave_document = leave_document
        self._host_tag = ad_tools_host_tag
        self.commands = 0

    def handle(self, event: dict[str, Any], _context: Any = None) -> dict[str, Any]:
        for record in event.get("Records") or []:
            self._message(json.loads(record["body"]))
        return {}

    def _message(self, body: dict[str, Any]) -> None:
        if body.get("Type") == "Notification":  # from another Region, through SNS
            body = json.loads(body["Message"])
        account, region = body["account"], body["region"]
        instance_id, state = body["detail"]["instance-id"], body["detail"]["state"]
        item = self._ddb.get_item(TableName=self._table, Key={"accountId": {"S": account}})["Item"]
        config = {key: value.get("S", "") for key, value in item.items()}
        password = self._ssm.get_parameter(Name=config["adJoinUserPwParam"], WithDecryption=True)[
            "Parameter"
        ]["Value"]
        parameters = {
            "domainName": [config["dnsName"]],
            "adJoinUserName": [config["adJoinUserName"]],
            PASSWORD_PARAMETER: [password],
        }
        if state == "running":
            self._join(config, account, region, instance_id, parameters)
        elif state == "terminated":
            self._leave(instance_id, parameters)

    def _join(
        self,
        config: dict[str, str],
        account: str,
        region: str,
        instance_id: str,
        parameters: dict[str, list[str]],
    ) -> None:
        role = config["assumeRoleARN"] or f"arn:aws:iam::{account}:role/ad-join-spoke"
        creds = self._sts.assume_role(RoleArn=role, RoleSessionName="seed-domain-join")[
            "Credentials"
        ]
        keys = {
            "region_name": region,
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        }
        reservations = boto3.client("ec2", **keys).describe_instances(InstanceIds=[instance_id])
        instance = reservations["Reservations"][0]["Instances"][0]
        tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
        platform = "windows" if instance.get("Platform") == "windows" else "linux"
        boto3.client("ssm", **keys).send_command(
            InstanceIds=[instance_id],
            DocumentName=self._documents[platform],
            Parameters={
                **parameters,
                "dnsIP1": [config["dnsIP1"]],
                "dnsIP2": [config["dnsIP2"]],
                "adGroupName": [tags.get("adGroupName", "")],
            },
        )
        self.commands += 1

    def _leave(self, instance_id: str, parameters: dict[str, list[str]]) -> None:
        key, value = self._host_tag
        found = self._ec2.describe_instances(
            Filters=[
                {"Name": f"tag:{key}", "Values": [value]},
                {"Name": "instance-state-name", "Values": ["running"]},
            ]
        )
        host = found["Reservations"][0]["Instances"][0]["InstanceId"]
        self._ssm.send_command(
            InstanceIds=[host],
            DocumentName=self._leave_document,
            Parameters={**parameters, "computerName": [instance_id]},
        )
        self.commands += 1

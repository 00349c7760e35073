"""GIVEN/WHEN/THEN tests of joins through the engine (moto + FakeAws)."""

from __future__ import annotations

import json
import re

import boto3
import pytest

from adjoin.passwords import ONE_TIME_PASSWORD_PATTERN
from tests.unit import fakes
from tests.unit.conftest import MakeEngine, Recorder


def test_running_linux_instance_is_joined(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN a running Linux instance with an adGroupName tag in a spoke account
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1", tags={"adGroupName": "Linux Admins"})
    engine = make_engine()
    record = fakes.sqs_record(fakes.state_event(fakes.SPOKE_A, "eu-west-1", iid, "running"))
    # WHEN the engine processes its running event
    failures = engine.process([record])
    # THEN nothing failed, the computer was pre-created and the Linux join document was sent
    assert failures == []
    [created] = fake.created
    assert created["DirectoryId"] == fakes.DIRECTORY_ID
    assert created["ComputerName"] == "EC2" + iid[-12:].upper()
    [command] = fake.sent_commands()
    assert command["DocumentName"] == "ad-join-linux-join"
    assert command["InstanceIds"] == [iid]
    params = {k: v[0] for k, v in command["Parameters"].items()}
    assert params == {
        "computerName": created["ComputerName"],
        "oneTimePassword": created["Password"],
        "domainName": "corp.example.com",
        "computerOU": "OU=Computers,OU=AWS,DC=corp,DC=example,DC=com",
        "adGroupName": "Linux Admins",
        "adSudoGroupName": "",
        "dnsIP1": "10.0.0.10",
        "dnsIP2": "10.0.1.10",
        "domainController": "",  # Directory Service does not say which DC took the account
    }
    assert re.match(ONE_TIME_PASSWORD_PATTERN, params["oneTimePassword"])
    # AND the state item records joining with the command id and its history
    item = world.state(iid)
    assert item is not None
    assert item["status"] == "joining"
    assert item["commandId"]
    assert item["accountId"] == fakes.SPOKE_A
    assert item["region"] == "eu-west-1"
    assert item["platform"] == "linux"
    assert item["computerName"] == created["ComputerName"]
    assert item["attempts"] == 1
    assert [h["status"] for h in item["history"]] == ["joining"]
    assert recorder.metrics["JoinRequested"] == 1


def test_sudo_group_tag_is_sent_with_the_join(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN a Linux instance tagged with a login group and a sudo group
    tags = {"adGroupName": "Linux Users", "adSudoGroupName": "Linux Admins"}
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1", tags=tags)
    record = fakes.sqs_record(fakes.state_event(fakes.SPOKE_A, "eu-west-1", iid, "running"))
    # WHEN the engine processes its running event
    assert make_engine().process([record]) == []
    # THEN the join command carries both groups
    [command] = fake.sent_commands()
    assert command["Parameters"]["adGroupName"] == ["Linux Users"]
    assert command["Parameters"]["adSudoGroupName"] == ["Linux Admins"]


def running(account: str, region: str, iid: str, **kw: object) -> dict[str, object]:
    return fakes.sqs_record(fakes.state_event(account, region, iid, "running"), **kw)  # type: ignore[arg-type]


def test_windows_instance_gets_the_windows_document_and_default_group(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN a Windows instance without adGroupName and an account with a default group
    world.put_config(fakes.config_item(fakes.SPOKE_B, defaultAdGroupName="Server Admins"))
    [iid] = fakes.launch(fakes.SPOKE_B, "us-east-1", windows=True)
    # WHEN its running event is processed
    assert make_engine().process([running(fakes.SPOKE_B, "us-east-1", iid)]) == []
    # THEN the Windows join document runs with the default group
    [command] = fake.sent_commands()
    assert command["DocumentName"] == "ad-join-windows-join"
    assert command["Parameters"]["adGroupName"] == ["Server Admins"]
    item = world.state(iid)
    assert item is not None and item["platform"] == "windows"


def test_hub_account_instances_use_the_lambda_role_without_assume_role(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    [iid] = fakes.launch(fakes.HUB, fakes.HUB_REGION)
    fake.calls.clear()
    assert make_engine().process([running(fakes.HUB, fakes.HUB_REGION, iid)]) == []
    assert fake.calls[("sts", "AssumeRole")] == 0
    assert len(fake.sent_commands()) == 1


def test_duplicate_running_events_join_once_within_and_across_batches(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN one instance and three copies of its running event (two in one batch)
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    engine = make_engine()
    # WHEN they are processed in two batches
    first = engine.process([running(fakes.SPOKE_A, "eu-west-1", iid) for _ in range(2)])
    second = engine.process([running(fakes.SPOKE_A, "eu-west-1", iid)])
    # THEN exactly one computer and one command, and no failures
    assert first == [] and second == []
    assert len(fake.created) == 1
    assert len(fake.sent_commands()) == 1
    assert recorder.metrics["JoinRequested"] == 1
    assert recorder.metrics["Skipped"] == 2
    item = world.state(iid)
    assert item is not None and item["attempts"] == 1


def test_agent_offline_is_retried_with_backoff_and_recorded_pending(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN a running instance whose SSM agent is not online yet (3rd delivery)
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    fake.online = set()
    [record] = fakes.enqueue(world, [fakes.state_event(fakes.SPOKE_A, "eu-west-1", iid, "running")])
    record["attributes"]["ApproximateReceiveCount"] = "3"
    # WHEN it is processed
    failures = make_engine().process([record])
    # THEN the message is reported failed, its visibility set to 30 * 2**2 = 120 s
    assert failures == [record["messageId"]]
    [change] = [
        json.loads(body) for svc, op, body in fake.requests if op == "ChangeMessageVisibilityBatch"
    ]
    assert change["Entries"][0]["VisibilityTimeout"] == 120
    assert change["Entries"][0]["ReceiptHandle"] == record["receiptHandle"]
    # AND nothing was created or sent, the state is pending with the reason
    assert fake.created == [] and fake.sent_commands() == []
    item = world.state(iid)
    assert item is not None and item["status"] == "pending"
    assert item["lastError"] == "SSM agent is not online yet"
    assert recorder.metrics["Retried"] == 1
    assert world.dlq_messages() == []


def test_retry_exhausted_goes_to_the_dlq(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN an instance whose agent never comes online, first sent 3590 s ago
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    fake.online = set()
    now = 1_800_000_000_000
    record = running(fakes.SPOKE_A, "eu-west-1", iid, receive_count=2, sent_ms=now - 3590 * 1000)
    # WHEN it is processed again (next delay 60 s would pass RETRY_MAX_SECONDS=3600)
    failures = make_engine(clock_ms=lambda: now).process([record])
    # THEN it is acknowledged and the DLQ holds it with reason retry_exhausted
    assert failures == []
    [dead] = world.dlq_messages()
    assert dead["Body"] == record["body"]
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "retry_exhausted"
    assert "agent_offline" in dead["MessageAttributes"]["detail"]["StringValue"]
    assert dead["MessageAttributes"]["sourceMessageId"]["StringValue"] == record["messageId"]
    assert recorder.metrics["Rejected"] == 1
    assert fake.sent_commands() == []


def test_retry_then_join_on_a_later_delivery(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    engine = make_engine()
    fake.online = set()
    record = running(fakes.SPOKE_A, "eu-west-1", iid)
    assert engine.process([record]) == [record["messageId"]]
    fake.online = {iid}
    assert engine.process([record]) == []
    item = world.state(iid)
    assert item is not None
    assert [h["status"] for h in item["history"]] == ["pending", "joining"]
    assert len(fake.sent_commands()) == 1


def test_send_command_throttled_is_transient_and_the_redelivery_resumes_its_claim(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN SendCommand is throttled on the first delivery (ldap adapter: re-create resets)
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    ldap = fakes.FakeLdapDirectory
    engine = make_engine(ldap=ldap, DIRECTORY_ADAPTER="ldap")
    fake.errors["SendCommand"] = "ThrottlingException"
    record = running(fakes.SPOKE_A, "eu-west-1", iid)
    # WHEN it is processed, THEN it is retried and the claim stays joining without a command
    assert engine.process([record]) == [record["messageId"]]
    item = world.state(iid)
    assert item is not None and item["status"] == "joining" and "commandId" not in item
    # WHEN the same message is redelivered and SendCommand works
    del fake.errors["SendCommand"]
    assert engine.process([record]) == []
    # THEN the join completes once
    item = world.state(iid)
    assert item is not None and item["status"] == "joining" and item["commandId"]
    assert item["attempts"] == 2


def test_describe_falls_back_to_a_filter_when_one_id_does_not_exist(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN a batch with a real instance and an id that does not exist
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    ghost = "i-0fffffffffffffff0"
    records = [running(fakes.SPOKE_A, "eu-west-1", i) for i in (iid, ghost)]
    fake.calls.clear()
    # WHEN processed
    assert make_engine().process(records) == []
    # THEN the real one is joined and the ghost acknowledged (two describe calls), no row
    assert [c["InstanceIds"] for c in fake.sent_commands()] == [[iid]]
    assert fake.calls[("ec2", "DescribeInstances")] == 2
    assert world.state(ghost) is None
    assert recorder.metrics["InstanceNotFound"] == 1


def test_one_describe_and_one_agent_query_per_account_region_per_batch(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    ids_a = fakes.launch(fakes.SPOKE_A, "eu-west-1", count=3)
    ids_b = fakes.launch(fakes.SPOKE_B, "us-east-1", count=2)
    records = [running(fakes.SPOKE_A, "eu-west-1", i) for i in ids_a] + [
        running(fakes.SPOKE_B, "us-east-1", i) for i in ids_b
    ]
    fake.calls.clear()
    assert make_engine().process(records) == []
    assert fake.calls[("ec2", "DescribeInstances")] == 2
    assert fake.calls[("ssm", "DescribeInstanceInformation")] == 2
    assert fake.calls[("dynamodb", "TransactWriteItems")] == 2
    assert fake.calls[("ssm", "SendCommand")] == 5


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ({"tags": {"autoadjoin": "False"}}, "opted_out"),
        ({"stop": True}, "instance_not_running"),
        ({"terminate": True}, "instance_gone"),
    ],
)
def test_skips_send_nothing_and_record_skipped(  # noqa: PLR0917
    world: fakes.World,
    fake: fakes.FakeAws,
    make_engine: MakeEngine,
    recorder: Recorder,
    setup: dict[str, object],
    reason: str,
) -> None:
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1", tags=setup.get("tags"))  # type: ignore[arg-type]
    ec2 = fakes.spoke_session(fakes.SPOKE_A, "eu-west-1").client("ec2")
    if setup.get("stop"):
        ec2.stop_instances(InstanceIds=[iid])
    if setup.get("terminate"):
        ec2.terminate_instances(InstanceIds=[iid])
    assert make_engine().process([running(fakes.SPOKE_A, "eu-west-1", iid)]) == []
    assert fake.created == [] and fake.sent_commands() == []
    item = world.state(iid)
    assert item is not None and item["status"] == "skipped"
    assert "lastError" not in item  # a skip is no error
    assert item["history"][-1]["reason"] == reason
    assert recorder.metrics["Skipped"] == 1


def test_ds_computer_that_no_join_made_is_a_permanent_failure_and_is_kept(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    # GIVEN an object of the instance's name that exists before any join (made by hand)
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    fake.computers["EC2" + iid[-12:].upper()] = "someone-elses-password"
    engine = make_engine(ldap=fakes.SharedLdap(fake), LEAVE_ADAPTER="ldap")  # deletes reach ds
    # WHEN the first attempt of the first delivery meets it
    assert engine.process([running(fakes.SPOKE_A, "eu-west-1", iid)]) == []
    # THEN nothing is sent, nothing removed, and the DLQ says what to do
    assert fake.sent_commands() == []
    assert fake.computers == {"EC2" + iid[-12:].upper(): "someone-elses-password"}
    [dead] = world.dlq_messages()
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "computer_exists"
    item = world.state(iid)
    assert item is not None and item["status"] == "failed"
    assert "already exists" in item["lastError"] and "no join" in item["lastError"]
    assert "computerClaim" not in item  # the failed claim made no object
    assert recorder.metrics["Rejected"] == 1
    # WHEN a later running event claims the join again, THEN the object is still not removed
    assert engine.process([running(fakes.SPOKE_A, "eu-west-1", iid)]) == []
    assert fake.computers == {"EC2" + iid[-12:].upper(): "someone-elses-password"}
    assert fake.sent_commands() == []
    assert len(world.dlq_messages()) == 1  # the second one (the first was read above)


def test_ds_unavailable_is_retried(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    fake.errors["CreateComputer"] = "DirectoryUnavailableException"
    record = running(fakes.SPOKE_A, "eu-west-1", iid)
    assert make_engine().process([record]) == [record["messageId"]]
    assert fake.sent_commands() == [] and world.dlq_messages() == []


def test_ds_without_directory_id_is_a_config_error(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    item = fakes.config_item(fakes.SPOKE_A)
    del item["directoryId"]
    world.put_config(item)
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    assert make_engine().process([running(fakes.SPOKE_A, "eu-west-1", iid)]) == []
    [dead] = world.dlq_messages()
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "invalid_config"
    # it says what to set: the item's directoryId or the hub's default directory
    assert "default_directory_id" in dead["MessageAttributes"]["detail"]["StringValue"]
    assert fake.sent_commands() == []


def test_ldap_adapter_joins_through_the_factory_with_the_join_user(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN an account using the ldap adapter (fake LdapDirectory with the contract's constructor)
    world.put_config(
        fakes.config_item(fakes.SPOKE_A, directoryAdapter="ldap", ldapServers="dc1, dc2")
    )
    made: list[fakes.FakeLdapDirectory] = []

    def ldap_class(*args: object, **kwargs: object) -> fakes.FakeLdapDirectory:
        made.append(fakes.FakeLdapDirectory(*args, **kwargs))  # type: ignore[arg-type]
        return made[-1]

    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    assert make_engine(ldap=ldap_class).process([running(fakes.SPOKE_A, "eu-west-1", iid)]) == []
    [directory] = made
    assert directory.servers == ["dc1", "dc2"]
    assert directory.domain == "corp.example.com"
    assert directory.user == "svc-adjoin@corp.example.com"
    assert directory.password == fakes.JOIN_PASSWORD
    assert directory.security == "ldaps"
    assert directory.log == [("create", "EC2" + iid[-12:].upper())]
    assert fake.created == []  # not Directory Service
    assert len(fake.sent_commands()) == 1


@pytest.mark.parametrize("tagged", [True, False], ids=["TAG_COMPUTER_NAME=true", "default"])
def test_command_status_success_records_joined_and_tags_only_when_opted_in(
    world: fakes.World,
    fake: fakes.FakeAws,
    make_engine: MakeEngine,
    recorder: Recorder,
    tagged: bool,
) -> None:
    # GIVEN a join sent, with the adComputerName tag opted in or not (the default: not)
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    engine = make_engine(**({"TAG_COMPUTER_NAME": "true"} if tagged else {}))
    engine.process([running(fakes.SPOKE_A, "eu-west-1", iid)])
    item = world.state(iid)
    assert item is not None
    status = fakes.command_event(fakes.SPOKE_A, "eu-west-1", iid, item["commandId"], "Success")
    fake.calls.clear()
    # WHEN its Success arrives, THEN it is recorded joined, and tagged only when opted in
    assert engine.process([fakes.sqs_record(status)]) == []
    item = world.state(iid)
    assert item is not None and item["status"] == "joined"
    assert fake.calls[("ec2", "CreateTags")] == (1 if tagged else 0)
    ec2 = fakes.spoke_session(fakes.SPOKE_A, "eu-west-1").client("ec2")
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [iid]}])["Tags"]
    expected = {"adComputerName": item["computerName"]} if tagged else {}
    assert {t["Key"]: t["Value"] for t in tags if t["Key"] == "adComputerName"} == expected
    assert recorder.metrics["JoinSucceeded"] == 1


def test_command_status_failure_records_failed_and_counts_join_failed(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    engine = make_engine()
    engine.process([running(fakes.SPOKE_A, "eu-west-1", iid)])
    item = world.state(iid)
    assert item is not None
    status = fakes.command_event(fakes.SPOKE_A, "eu-west-1", iid, item["commandId"], "TimedOut")
    assert engine.process([fakes.sqs_record(fakes.sns_envelope(status))]) == []
    item = world.state(iid)
    assert item is not None and item["status"] == "failed"
    assert item["lastError"] == "command TimedOut"
    assert recorder.metrics["JoinFailed"] == 1


def test_stale_or_unknown_command_status_changes_nothing(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine, recorder: Recorder
) -> None:
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    engine = make_engine()
    engine.process([running(fakes.SPOKE_A, "eu-west-1", iid)])
    other = "0b0b0b0b-0b0b-0b0b-0b0b-0b0b0b0b0b0b"
    stale = fakes.command_event(fakes.SPOKE_A, "eu-west-1", iid, other, "Failed")
    in_progress = fakes.command_event(fakes.SPOKE_A, "eu-west-1", iid, other, "InProgress")
    assert engine.process([fakes.sqs_record(stale)]) == []
    assert engine.process([fakes.sqs_record(in_progress)]) == []
    item = world.state(iid)
    assert item is not None and item["status"] == "joining"
    assert recorder.metrics["JoinFailed"] == 0


def test_a_new_running_event_after_a_failed_join_joins_again(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    engine = make_engine(ldap=fakes.FakeLdapDirectory, DIRECTORY_ADAPTER="ldap")
    engine.process([running(fakes.SPOKE_A, "eu-west-1", iid)])
    item = world.state(iid)
    assert item is not None
    failed = fakes.command_event(fakes.SPOKE_A, "eu-west-1", iid, item["commandId"], "Failed")
    engine.process([fakes.sqs_record(failed)])
    assert engine.process([running(fakes.SPOKE_A, "eu-west-1", iid)]) == []
    item = world.state(iid)
    assert item is not None and item["status"] == "joining" and item["attempts"] == 2
    assert len(fake.sent_commands()) == 2


# The seed's item exactly as its blog wrote it: seven attributes, a bare join user name.
SEED_ITEM = {
    "accountId": {"S": fakes.SPOKE_A},
    "adJoinUserName": {"S": "ADJoinUser"},
    "adJoinUserPwParam": {"S": "ADJoinUserPW"},
    "dnsName": {"S": "example.com"},
    "dnsIP1": {"S": "10.0.0.10"},
    "dnsIP2": {"S": "10.0.1.10"},
    "assumeRoleARN": {"S": f"arn:aws:iam::{fakes.SPOKE_A}:role/ad-join-spoke"},
}


def test_the_seeds_item_joins_unchanged_on_the_defaults(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN the seed's item written with a plain PutItem, and a hub with a default directory
    boto3.client("dynamodb", region_name=fakes.HUB_REGION).put_item(
        TableName=fakes.CONFIG_TABLE, Item=SEED_ITEM
    )
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    engine = make_engine(DEFAULT_DIRECTORY_ID="d-0123456789")  # the module's other defaults
    # WHEN its instance's running event is processed
    assert engine.process([running(fakes.SPOKE_A, "eu-west-1", iid)]) == []
    # THEN the default adapter (ds) pre-created the account in the default directory ...
    assert world.dlq_messages() == []
    [created] = fake.created
    assert created["DirectoryId"] == "d-0123456789"
    assert "OrganizationalUnitDistinguishedName" not in created
    # ... and the join document went out with the item's domain and DNS servers
    [command] = fake.sent_commands()
    params = {k: v[0] for k, v in command["Parameters"].items()}
    assert params["domainName"] == "example.com"
    assert (params["dnsIP1"], params["dnsIP2"]) == ("10.0.0.10", "10.0.1.10")
    assert params["computerOU"] == ""
    item = world.state(iid)
    assert item is not None and item["status"] == "joining"


def test_a_one_dc_domain_needs_no_dns_ip2(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    item = fakes.config_item(fakes.SPOKE_A)
    del item["dnsIP2"]
    world.put_config(item)
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    assert make_engine().process([running(fakes.SPOKE_A, "eu-west-1", iid)]) == []
    [command] = fake.sent_commands()
    assert command["Parameters"]["dnsIP2"] == [""]


def test_the_join_is_pinned_to_the_dc_that_holds_the_account(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN the ldap adapter reports the controller it created the account on
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    engine = make_engine(ldap=fakes.FakeLdapDirectory, DIRECTORY_ADAPTER="ldap")
    assert engine.process([running(fakes.SPOKE_A, "eu-west-1", iid)]) == []
    # THEN the join document names that controller
    [command] = fake.sent_commands()
    assert command["Parameters"]["domainController"] == ["dc1.corp.example.com"]


def test_an_ou_tag_places_the_computer_and_is_recorded_for_the_leave(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN an instance tagged with an OU below the account's computerOU
    ou = "OU=Web,OU=Computers,OU=AWS,DC=corp,DC=example,DC=com"
    [host] = fakes.launch(fakes.HUB, fakes.HUB_REGION, tags={"adToolsHost": "true"})
    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1", tags={"adComputerOU": ou})
    engine = make_engine(LEAVE_ADAPTER="ad_tools_host")
    # WHEN it joins
    assert engine.process([running(fakes.SPOKE_A, "eu-west-1", iid)]) == []
    # THEN the account is created there, the join document says so, the state records it
    [created] = fake.created
    assert created["OrganizationalUnitDistinguishedName"] == ou
    [command] = fake.sent_commands()
    assert command["Parameters"]["computerOU"] == [ou]
    item = world.state(iid)
    assert item is not None and item["computerOU"] == ou
    # AND the leave looks for the object in that OU
    terminated = fakes.sqs_record(fakes.state_event(fakes.SPOKE_A, "eu-west-1", iid, "terminated"))
    assert engine.process([terminated]) == []
    [leave] = [c for c in fake.sent_commands() if c["DocumentName"] == "ad-join-leave"]
    assert leave["InstanceIds"] == [host]
    assert leave["Parameters"]["computerOU"] == [ou]


def test_an_ou_tag_outside_the_allowed_subtree_never_reaches_the_directory(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    [iid] = fakes.launch(
        fakes.SPOKE_A,
        "eu-west-1",
        tags={"adComputerOU": "OU=Domain Controllers,DC=corp,DC=example,DC=com"},
    )
    assert make_engine().process([running(fakes.SPOKE_A, "eu-west-1", iid)]) == []
    [dead] = world.dlq_messages()
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "invalid_tag"
    assert "outside the allowed OUs" in dead["MessageAttributes"]["detail"]["StringValue"]
    assert fake.created == [] and fake.sent_commands() == []
    item = world.state(iid)
    assert item is not None and item["status"] == "failed"


def test_a_wait_the_directory_asks_for_sets_the_retry_delay(
    world: fakes.World, fake: fakes.FakeAws, make_engine: MakeEngine
) -> None:
    # GIVEN Directory Service answers 503 with Retry-After: 600 (longer than the 30 s backoff)
    from adjoin.errors import DirectoryUnavailable

    [iid] = fakes.launch(fakes.SPOKE_A, "eu-west-1")
    engine = make_engine()

    class Busy:
        def create_computer(self, account: object) -> None:
            raise DirectoryUnavailable("busy", retry_after=600)

    engine.directories.joiner = lambda config: Busy()  # type: ignore[method-assign]
    [record] = fakes.enqueue(world, [fakes.state_event(fakes.SPOKE_A, "eu-west-1", iid, "running")])
    # WHEN processed, THEN the message comes back after the 600 s asked for
    assert engine.process([record]) == [record["messageId"]]
    [change] = [
        json.loads(body) for svc, op, body in fake.requests if op == "ChangeMessageVisibilityBatch"
    ]
    assert change["Entries"][0]["VisibilityTimeout"] == 600

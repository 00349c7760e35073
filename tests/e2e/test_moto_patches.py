"""One test per patch in tests/e2e/moto_patches.py, each stating the AWS behaviour it reproduces.

Every test runs twice: with the patches (must pass) and on moto as shipped (a strict xfail: it
must fail there, which proves the test detects the gap; if a moto upgrade fixes the gap the
strict xfail turns red and the patch can go).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.e2e import moto_patches

HUB = "123456789012"
SPOKE = "111111111111"
HOME = "us-east-1"
OTHER = "eu-west-1"
LINUX_AMI = "ami-760aaa0f"
WINDOWS_AMI = "ami-03cf127a"


def covers(patch: str) -> pytest.MarkDecorator:
    """Run the test with every patch, then with every patch but `patch` (must fail there)."""
    assert patch in moto_patches.PATCHES
    return pytest.mark.parametrize(
        "without",
        [
            pytest.param(None, id="patched"),
            pytest.param(
                patch,
                id=f"without-{patch}",
                marks=pytest.mark.xfail(strict=True, reason=f"moto gap closed by {patch}"),
            ),
        ],
    )


@pytest.fixture
def aws(without: str | None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "MOTO_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", HOME)
    with mock_aws(), moto_patches.patched(exclude=frozenset({without} if without else ())):
        yield


def test_every_patch_is_covered() -> None:
    """Each patch in moto_patches.PATCHES has a test in this module."""
    covered = {
        m.args[1][1].values[0]
        for f in globals().values()
        if callable(f)
        for m in getattr(f, "pytestmark", [])
        if m.name == "parametrize" and m.args[0] == "without"
    }
    assert covered == set(moto_patches.PATCHES)


def session(account: str = HUB) -> boto3.Session:
    """A session in `account`: the hub's own credentials, or a role assumed into the account."""
    if account == HUB:
        return boto3.Session(region_name=HOME)
    creds = boto3.client("sts", region_name=HOME).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/e2e", RoleSessionName="e2e"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=HOME,
    )


def receive_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    out = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
    )
    return list(out.get("Messages", []))


def put_ec2_event(events: Any, instance_id: str = "i-0123456789abcdef0") -> str:
    entry = events.put_events(
        Entries=[
            {
                "Source": "aws.ec2",
                "DetailType": "EC2 Instance State-change Notification",
                "Detail": json.dumps({"instance-id": instance_id, "state": "running"}),
            }
        ]
    )["Entries"][0]
    assert "EventId" in entry, entry
    return str(entry["EventId"])


EC2_PATTERN = json.dumps({"source": ["aws.ec2"]})


@covers("events.targets")
def test_sns_target_publishes_event_and_later_targets_still_run(aws: None) -> None:
    """AWS: a rule target that is an SNS topic publishes the event JSON as the message; the
    topic fans out to its subscriptions, here a queue in another Region with raw message
    delivery, whose body is then the event itself. Every target of the rule is delivered."""
    hub_other = session().client("events", region_name=OTHER)
    sns = session().client("sns", region_name=OTHER)
    sqs_home = session().client("sqs", region_name=HOME)
    sqs_other = session().client("sqs", region_name=OTHER)
    topic = sns.create_topic(Name="regional")["TopicArn"]
    queue = sqs_home.create_queue(QueueName="domain-join")["QueueUrl"]
    queue_arn = sqs_home.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    audit = sqs_other.create_queue(QueueName="audit")["QueueUrl"]
    audit_arn = sqs_other.get_queue_attributes(QueueUrl=audit, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    hub_other.put_rule(Name="to-sns", EventPattern=EC2_PATTERN)
    hub_other.put_targets(
        Rule="to-sns", Targets=[{"Id": "sns", "Arn": topic}, {"Id": "audit", "Arn": audit_arn}]
    )

    event_id = put_ec2_event(hub_other)

    delivered = receive_all(sqs_home, queue)
    assert len(delivered) == 1
    body = json.loads(delivered[0]["Body"])
    assert body["id"] == event_id
    assert body["region"] == OTHER
    assert body["detail"] == {"instance-id": "i-0123456789abcdef0", "state": "running"}
    assert len(receive_all(sqs_other, audit)) == 1


@covers("events.targets")
def test_sqs_target_lands_in_the_arn_account_and_region(aws: None) -> None:
    """AWS: an SQS target receives the event in the queue its ARN names, whatever the rule's
    own account and Region (moto delivered to a queue of that name in the rule's account)."""
    spoke_events = session(SPOKE).client("events", region_name=HOME)
    hub_sqs = session().client("sqs", region_name=OTHER)
    queue = hub_sqs.create_queue(QueueName="central")["QueueUrl"]
    spoke_events.put_rule(Name="to-queue", EventPattern=EC2_PATTERN)
    spoke_events.put_targets(
        Rule="to-queue",
        Targets=[{"Id": "q", "Arn": f"arn:aws:sqs:{OTHER}:{HUB}:central"}],
    )

    event_id = put_ec2_event(spoke_events)

    delivered = receive_all(hub_sqs, queue)
    assert [json.loads(m["Body"])["id"] for m in delivered] == [event_id]


@covers("events.disabled_rules")
def test_a_disabled_rule_delivers_nothing(aws: None) -> None:
    """AWS: a disabled rule matches no events; enabled again, it delivers again (the scenario
    disables a spoke rule to lose events, then lets the reconciler find what was missed)."""
    events = session().client("events", region_name=HOME)
    sqs = session().client("sqs", region_name=HOME)
    queue = sqs.create_queue(QueueName="central")["QueueUrl"]
    events.put_rule(Name="to-queue", EventPattern=EC2_PATTERN)
    events.put_targets(
        Rule="to-queue", Targets=[{"Id": "q", "Arn": f"arn:aws:sqs:{HOME}:{HUB}:central"}]
    )
    events.disable_rule(Name="to-queue")
    put_ec2_event(events)
    assert receive_all(sqs, queue) == []
    events.enable_rule(Name="to-queue")
    event_id = put_ec2_event(events)
    assert [json.loads(m["Body"])["id"] for m in receive_all(sqs, queue)] == [event_id]


@covers("events.targets")
def test_forwarded_event_keeps_id_account_region_and_time(aws: None) -> None:
    """AWS: an event a rule sends to another account's bus arrives as the same event: its id,
    source `account`, `region` and `time` are kept (moto re-created it: new id, no account).
    The queue target then receives the full event with `time` in ISO 8601."""
    spoke_events = session(SPOKE).client("events", region_name=HOME)
    hub_events = session().client("events", region_name=HOME)
    hub_sqs = session().client("sqs", region_name=HOME)
    bus_arn = hub_events.create_event_bus(Name="hub")["EventBusArn"]
    queue = hub_sqs.create_queue(QueueName="domain-join")["QueueUrl"]
    hub_events.put_rule(Name="to-queue", EventBusName="hub", EventPattern=EC2_PATTERN)
    hub_events.put_targets(
        Rule="to-queue",
        EventBusName="hub",
        Targets=[{"Id": "q", "Arn": f"arn:aws:sqs:{HOME}:{HUB}:domain-join"}],
    )
    spoke_events.put_rule(Name="forward", EventPattern=EC2_PATTERN)
    spoke_events.put_targets(Rule="forward", Targets=[{"Id": "hub", "Arn": bus_arn}])

    event_id = put_ec2_event(spoke_events)

    delivered = receive_all(hub_sqs, queue)
    assert len(delivered) == 1
    body = json.loads(delivered[0]["Body"])
    assert (body["id"], body["account"], body["region"]) == (event_id, SPOKE, HOME)
    assert body["time"].endswith("Z") and "T" in body["time"]


@covers("sqs.policy")
def test_set_queue_attributes_without_policy_keeps_the_policy(aws: None) -> None:
    """AWS: SetQueueAttributes changes only the attributes it names; the queue policy survives
    an update of, say, VisibilityTimeout (moto deleted it)."""
    sqs = session().client("sqs", region_name=HOME)
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": f"arn:aws:sqs:{HOME}:{HUB}:q",
                }
            ],
        }
    )
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})

    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "60"})

    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "60"
    assert json.loads(attrs["Policy"]) == json.loads(policy)


@covers("sqs.redrive")
def test_redrive_policy_comes_back_compact(aws: None) -> None:
    """AWS returns RedrivePolicy as compact JSON,
    `{"deadLetterTargetArn":"…","maxReceiveCount":15}`, so Terraform sees no difference after
    an apply (moto added spaces)."""
    sqs = session().client("sqs", region_name=HOME)
    sqs.create_queue(QueueName="dlq")
    redrive = json.dumps(
        {"deadLetterTargetArn": f"arn:aws:sqs:{HOME}:{HUB}:dlq", "maxReceiveCount": 15},
        separators=(",", ":"),
    )
    url = sqs.create_queue(QueueName="q", Attributes={"RedrivePolicy": redrive})["QueueUrl"]

    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
    assert attrs["Attributes"]["RedrivePolicy"] == redrive


def _function_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


@covers("lambda.esm")
def test_event_source_mapping_leaves_messages_to_the_poller(aws: None) -> None:
    """AWS: an SQS event source mapping's poller receives batches and invokes the function;
    a message sent to the queue is received once, by that poller. moto instead invoked the
    function on every send (Docker) and, failing that, returned the message with its receive
    count raised, towards the DLQ. Patched, the harness's consumer is the only receiver."""
    s = session()
    iam, lam, sqs = s.client("iam"), s.client("lambda"), s.client("sqs")
    role = iam.create_role(
        RoleName="fn",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    lam.create_function(
        FunctionName="fn",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": _function_zip()},
    )
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    uuid = lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="fn", BatchSize=10, FunctionResponseTypes=[]
    )["UUID"]

    sqs.send_message(QueueUrl=url, MessageBody="one")
    sqs.send_message(QueueUrl=url, MessageBody="two")

    got = receive_all(sqs, url)
    assert sorted(m["Body"] for m in got) == ["one", "two"]
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in got} == {"1"}
    assert lam.get_event_source_mapping(UUID=uuid)["EventSourceArn"] == arn


def _instances(ec2: Any) -> tuple[str, str, str]:
    linux = ec2.run_instances(ImageId=LINUX_AMI, MinCount=1, MaxCount=1)["Instances"][0]
    windows = ec2.run_instances(ImageId=WINDOWS_AMI, MinCount=1, MaxCount=1)["Instances"][0]
    gone = ec2.run_instances(ImageId=LINUX_AMI, MinCount=1, MaxCount=1)["Instances"][0]
    ec2.terminate_instances(InstanceIds=[gone["InstanceId"]])
    return linux["InstanceId"], windows["InstanceId"], gone["InstanceId"]


@covers("ssm.instance_information")
def test_describe_instance_information_lists_running_instances(aws: None) -> None:
    """AWS: DescribeInstanceInformation lists the managed instances with PingStatus and
    PlatformType and filters by InstanceIds (moto: not implemented, HTTP 500). Here every
    running instance has an agent that is Online; a terminated one is not listed."""
    s = session(SPOKE)
    ec2, ssm = s.client("ec2", region_name=OTHER), s.client("ssm", region_name=OTHER)
    linux, windows, gone = _instances(ec2)

    listed = ssm.describe_instance_information()["InstanceInformationList"]
    by_id = {i["InstanceId"]: i for i in listed}
    assert set(by_id) == {linux, windows}
    assert by_id[linux]["PlatformType"] == "Linux"
    assert by_id[windows]["PlatformType"] == "Windows"
    assert {i["PingStatus"] for i in listed} == {"Online"}
    filtered = ssm.describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [windows, gone]}]
    )["InstanceInformationList"]
    assert [i["InstanceId"] for i in filtered] == [windows]


def _document(ssm: Any, name: str, action: str) -> None:
    ssm.create_document(
        Name=name,
        DocumentType="Command",
        Content=json.dumps(
            {
                "schemaVersion": "2.2",
                "description": "test",
                "parameters": {"computerName": {"type": "String"}},
                "mainSteps": [{"action": action, "name": "run", "inputs": {"runCommand": ["x"]}}],
            }
        ),
    )


@covers("ssm.command_invocations")
def test_list_command_invocations_reports_each_instance(aws: None) -> None:
    """AWS: ListCommandInvocations returns one invocation per instance of a command, with the
    document's plugin when Details=true (moto: not implemented, HTTP 500)."""
    s = session(SPOKE)
    ec2, ssm = s.client("ec2", region_name=OTHER), s.client("ssm", region_name=OTHER)
    _, windows, _ = _instances(ec2)
    _document(ssm, "win-join", "aws:runPowerShellScript")
    command = ssm.send_command(
        InstanceIds=[windows], DocumentName="win-join", Parameters={"computerName": ["EC2X"]}
    )["Command"]

    invocations = ssm.list_command_invocations(CommandId=command["CommandId"], Details=True)[
        "CommandInvocations"
    ]
    assert [(i["InstanceId"], i["DocumentName"], i["Status"]) for i in invocations] == [
        (windows, "win-join", "Success")
    ]
    assert invocations[0]["CommandPlugins"][0]["Name"] == "aws:runPowerShellScript"


@covers("ssm.send_command")
def test_send_command_emits_invocation_status_event(aws: None, tmp_path: Any) -> None:
    """AWS: each invocation's status change is an `EC2 Command Invocation Status-change
    Notification` from `aws.ssm` on the default bus of the instance's account and Region, with
    command-id, document-name, instance-id and status (moto: no event at all)."""
    s = session(SPOKE)
    ec2 = s.client("ec2", region_name=OTHER)
    ssm = s.client("ssm", region_name=OTHER)
    events = s.client("events", region_name=OTHER)
    hub_sqs = session().client("sqs", region_name=OTHER)
    url = hub_sqs.create_queue(QueueName="status")["QueueUrl"]
    events.put_rule(
        Name="status",
        EventPattern=json.dumps(
            {
                "source": ["aws.ssm"],
                "detail-type": ["EC2 Command Invocation Status-change Notification"],
            }
        ),
    )
    events.put_targets(
        Rule="status", Targets=[{"Id": "q", "Arn": f"arn:aws:sqs:{OTHER}:{HUB}:status"}]
    )
    linux, _, _ = _instances(ec2)
    _document(ssm, "linux-join", "aws:runShellScript")

    command_id = ssm.send_command(
        InstanceIds=[linux], DocumentName="linux-join", Parameters={"computerName": ["EC2X"]}
    )["Command"]["CommandId"]

    bodies = [json.loads(m["Body"]) for m in receive_all(hub_sqs, url)]
    assert len(bodies) == 1
    event = bodies[0]
    assert (event["account"], event["region"], event["source"]) == (SPOKE, OTHER, "aws.ssm")
    assert event["detail"]["command-id"] == command_id
    assert event["detail"]["instance-id"] == linux
    assert event["detail"]["document-name"] == "linux-join"
    assert event["detail"]["status"] == "Success"


@covers("ds.create_computer")
def test_create_computer_records_the_computer(
    aws: None, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS: Directory Service CreateComputer creates the computer object in the OU given (or the
    Computers container) and fails with EntityAlreadyExistsException for an existing name
    (moto: not implemented). The journal the harness reads never holds the password."""
    journal = tmp_path / "journal.jsonl"
    monkeypatch.setenv(moto_patches.JOURNAL_ENV, str(journal))
    s = session()
    ec2, ds = s.client("ec2"), s.client("ds")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=f"{HOME}{az}")[
            "Subnet"
        ]["SubnetId"]
        for n, az in ((1, "a"), (2, "b"))
    ]
    directory_id = ds.create_microsoft_ad(
        Name="corp.example.com",
        Password="Admin-Passw0rd!",
        VpcSettings={"VpcId": vpc, "SubnetIds": subnets},
    )["DirectoryId"]
    secret = "One-Time-Pw-7f3a9c"

    computer = ds.create_computer(
        DirectoryId=directory_id,
        ComputerName="EC2456789ABCDEF0",
        Password=secret,
        OrganizationalUnitDistinguishedName="OU=Servers,DC=corp,DC=example,DC=com",
    )["Computer"]

    attrs = {a["Name"]: a["Value"] for a in computer["ComputerAttributes"]}
    assert attrs["DistinguishedName"] == (
        "CN=EC2456789ABCDEF0,OU=Servers,DC=corp,DC=example,DC=com"
    )
    with pytest.raises(ds.exceptions.EntityAlreadyExistsException):
        ds.create_computer(
            DirectoryId=directory_id, ComputerName="EC2456789abcdef0", Password=secret
        )
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [r["computer"] for r in records] == ["EC2456789ABCDEF0"]
    assert secret not in journal.read_text()


@covers("ssm.send_command")
def test_instance_with_an_agent_runs_the_document_and_reports_its_exit_code(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS: the SSM agent runs the document's script with each parameter in `SSM_<name>`
    (interpolationType ENV_VAR); exit code 0 is Success, any other Failed, with the output and
    the code in the invocation, and the status-change event carries that status. Here an
    instance tagged e2eHost=<host> runs it through the prefix MOTO_E2E_AGENTS names (empty:
    this machine)."""
    monkeypatch.setenv(moto_patches.AGENTS_ENV, json.dumps({"here": []}))
    s = session(SPOKE)
    ec2, ssm = s.client("ec2", region_name=OTHER), s.client("ssm", region_name=OTHER)
    events = s.client("events", region_name=OTHER)
    hub_sqs = session().client("sqs", region_name=OTHER)
    url = hub_sqs.create_queue(QueueName="status")["QueueUrl"]
    events.put_rule(Name="status", EventPattern=json.dumps({"source": ["aws.ssm"]}))
    events.put_targets(
        Rule="status", Targets=[{"Id": "q", "Arn": f"arn:aws:sqs:{OTHER}:{HUB}:status"}]
    )
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "e2eHost", "Value": "here"}]}]
    good, bad = (
        ec2.run_instances(ImageId=LINUX_AMI, MinCount=1, MaxCount=1, TagSpecifications=tags)[
            "Instances"
        ][0]["InstanceId"]
        for _ in range(2)
    )
    ssm.create_document(
        Name="check",
        DocumentType="Command",
        Content=json.dumps(
            {
                "schemaVersion": "2.2",
                "description": "test",
                "parameters": {"computerName": {"type": "String"}},
                "mainSteps": [
                    {
                        "action": "aws:runShellScript",
                        "name": "run",
                        "inputs": {
                            "runCommand": [
                                'test "$SSM_computerName" = EC2GOOD || exit 5',
                                'echo "joined $SSM_computerName"',
                            ]
                        },
                    }
                ],
            }
        ),
    )

    ids = {
        instance: ssm.send_command(
            InstanceIds=[instance], DocumentName="check", Parameters={"computerName": [name]}
        )["Command"]["CommandId"]
        for instance, name in ((good, "EC2GOOD"), (bad, "EC2BAD"))
    }

    statuses: dict[str, str] = {}
    deadline = time.monotonic() + 10
    while len(statuses) < 2 and time.monotonic() < deadline:
        for message in receive_all(hub_sqs, url):
            detail = json.loads(message["Body"])["detail"]
            statuses[detail["instance-id"]] = detail["status"]
        time.sleep(0.1)
    assert statuses == {good: "Success", bad: "Failed"}
    ok = ssm.list_command_invocations(CommandId=ids[good], Details=True)["CommandInvocations"]
    assert ok[0]["CommandPlugins"][0]["Output"].strip() == "joined EC2GOOD"
    failed = ssm.get_command_invocation(CommandId=ids[bad], InstanceId=bad)
    assert (failed["Status"], failed["ResponseCode"]) == ("Failed", 5)


@covers("autoscaling.lifecycle")
def test_lifecycle_hooks_hold_instances_send_actions_and_complete(aws: None) -> None:
    """AWS: a group with a launch and a terminate hook holds each new instance in Pending:Wait
    and each scaled-in one in Terminating:Wait, sends an `EC2 Instance-launch` / `-terminate
    Lifecycle Action` event to the default bus, and moves on when the action is completed;
    heartbeats and completions of an inactive action are a ValidationError (moto sent no event,
    never waited, and had neither call)."""
    spoke = session(SPOKE)
    events = spoke.client("events", region_name=HOME)
    sqs = spoke.client("sqs", region_name=HOME)
    queue = sqs.create_queue(QueueName="actions")["QueueUrl"]
    pattern = {"source": ["aws.autoscaling"], "detail-type": [{"suffix": "Lifecycle Action"}]}
    events.put_rule(Name="actions", EventPattern=json.dumps(pattern))
    events.put_targets(
        Rule="actions", Targets=[{"Id": "q", "Arn": f"arn:aws:sqs:{HOME}:{SPOKE}:actions"}]
    )
    asg = spoke.client("autoscaling", region_name=HOME)
    ec2 = spoke.client("ec2", region_name=HOME)
    asg.create_launch_configuration(
        LaunchConfigurationName="lc", ImageId=LINUX_AMI, InstanceType="t3.micro"
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchConfigurationName="lc",
        MinSize=0,
        MaxSize=2,
        DesiredCapacity=0,
        AvailabilityZones=[f"{HOME}a"],
    )
    for name, transition in (("ad-join-launch", "LAUNCHING"), ("ad-join-term", "TERMINATING")):
        asg.put_lifecycle_hook(
            AutoScalingGroupName="web",
            LifecycleHookName=name,
            LifecycleTransition=f"autoscaling:EC2_INSTANCE_{transition}",
        )

    def states() -> dict[str, str]:
        group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])
        return {
            i["InstanceId"]: i["LifecycleState"] for i in group["AutoScalingGroups"][0]["Instances"]
        }

    def action() -> dict[str, Any]:
        (message,) = receive_all(sqs, queue)
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        return dict(json.loads(message["Body"]))

    # WHEN the group scales out THEN the instance waits and its launch action is sent
    asg.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=1)
    launch = action()
    detail = launch["detail"]
    assert launch["detail-type"] == "EC2 Instance-launch Lifecycle Action"
    assert (detail["LifecycleHookName"], detail["AutoScalingGroupName"]) == (
        "ad-join-launch",
        "web",
    )
    assert detail["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_LAUNCHING"
    iid = detail["EC2InstanceId"]
    assert states() == {iid: "Pending:Wait"}
    ids = {"AutoScalingGroupName": "web", "LifecycleHookName": "ad-join-launch"}
    asg.record_lifecycle_action_heartbeat(
        **ids, LifecycleActionToken=detail["LifecycleActionToken"]
    )
    asg.complete_lifecycle_action(
        **ids, LifecycleActionToken=detail["LifecycleActionToken"], LifecycleActionResult="CONTINUE"
    )
    assert states() == {iid: "InService"}
    with pytest.raises(asg.exceptions.ClientError, match="No active Lifecycle Action"):
        asg.complete_lifecycle_action(
            **ids,
            LifecycleActionToken=detail["LifecycleActionToken"],
            LifecycleActionResult="CONTINUE",
        )
    with pytest.raises(asg.exceptions.ClientError, match="No active Lifecycle Action"):
        asg.record_lifecycle_action_heartbeat(
            **ids, LifecycleActionToken=detail["LifecycleActionToken"]
        )
    # WHEN it scales in THEN the instance waits in Terminating:Wait until the action completes
    asg.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=0)
    terminate = action()
    assert terminate["detail-type"] == "EC2 Instance-terminate Lifecycle Action"
    assert terminate["detail"]["EC2InstanceId"] == iid
    assert states() == {iid: "Terminating:Wait"}
    assert (
        ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"][
            "Name"
        ]
        == "running"
    )
    asg.complete_lifecycle_action(
        AutoScalingGroupName="web",
        LifecycleHookName="ad-join-term",
        LifecycleActionToken=terminate["detail"]["LifecycleActionToken"],
        LifecycleActionResult="CONTINUE",
    )
    assert states() == {}
    state = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]
    assert state["Name"] == "terminated"
    # WHEN a launch action is completed with ABANDON THEN the instance is terminated, not in service
    asg.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=1)
    abandoned = action()["detail"]
    assert states() == {abandoned["EC2InstanceId"]: "Pending:Wait"}
    asg.complete_lifecycle_action(
        **ids,
        LifecycleActionToken=abandoned["LifecycleActionToken"],
        LifecycleActionResult="ABANDON",
    )
    assert states() == {}
    reservation = ec2.describe_instances(InstanceIds=[abandoned["EC2InstanceId"]])["Reservations"]
    assert reservation[0]["Instances"][0]["State"]["Name"] == "terminated"

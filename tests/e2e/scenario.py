"""The end-to-end scenario, shared by `make demo` (tests/e2e/demo.py) and tests/e2e/test_e2e.py.

`Environment` starts the emulator, creates what an organization already has before this solution
(an AWS Managed Microsoft AD in the hub), applies envs/local and reads its outputs. `Scenario`
then acts as operators and EC2 would: config items written with scripts/put_config_item.py, the
join password written as a SecureString, instances launched in every workload account and
Region, their state-change events put on the spoke accounts' default buses; the consumer plays
the event source mapping and the real handler from the packaged zip does the work.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from tests.e2e.harness import (
    HUB_ACCOUNT,
    HUB_REGION,
    REGIONS,
    REPO,
    WORKLOAD_ACCOUNTS,
    Aws,
    Batch,
    EventSourceMappingConsumer,
    LambdaRuntime,
    MotoServer,
    NetnsRelay,
    Printer,
    Terraform,
    clean_aws_env,
)

LINUX_AMI = "ami-760aaa0f"  # moto's Amazon Linux image
WINDOWS_AMI = "ami-03cf127a"  # moto's Windows Server 2016 image
DOMAIN = "corp.example.com"
JOIN_USER = "svc-adjoin@corp.example.com"
DNS_IPS = ("10.0.1.10", "10.0.2.10")
COMPUTER_OU = "OU=Servers,DC=corp,DC=example,DC=com"
EC2_DETAIL_TYPE = "EC2 Instance State-change Notification"
SSM_DETAIL_TYPE = "EC2 Command Invocation Status-change Notification"
MALFORMED_BODY = json.dumps(
    {
        "version": "0",
        "source": "aws.ec2",
        "detail-type": EC2_DETAIL_TYPE,
        "detail": {"instance-id": "i-notaninstance", "state": "running"},
    }
)


ZIP_PATH = REPO / "build" / "adjoin-lambda.zip"
LAYER_ZIP_PATH = REPO / "build" / "powertools-layer.zip"  # make package, published by envs/local
CA_PARAM = "/ad-join/ldap-ca-cert"
REAL_HOST = "samba-client"  # e2eHost tag value of the instance backed by the Samba client


def real_ad_available() -> bool:
    """Root, Samba and the AD harness: the scenario then uses a real DC for one account.
    E2E_REAL_AD=0 turns it off."""
    if os.environ.get("E2E_REAL_AD", "1") == "0":
        return False
    return os.geteuid() == 0 and shutil.which("samba-tool") is not None


@dataclass(frozen=True)
class Directory:
    """What one account's config item says about its directory."""

    adapter: str  # ds | ldap
    leave_adapter: str  # ad_tools_host | ldap
    domain: str
    dns_ips: tuple[str, str]
    ou: str
    join_user: str
    real: bool = False


def ensure_package(echo: Printer) -> Path:
    """The Lambda zip `make package` builds (and the Powertools layer zip beside it); built here
    with the same script when missing."""
    if not ZIP_PATH.exists() or not LAYER_ZIP_PATH.exists():
        echo(f"building {ZIP_PATH.relative_to(REPO)} (scripts/package_lambda.py) ...")
        subprocess.run(
            [
                sys.executable,
                str(REPO / "scripts" / "package_lambda.py"),
                "--output",
                str(ZIP_PATH),
                "--layer-output",
                str(LAYER_ZIP_PATH),
            ],
            check=True,
            cwd=REPO,
        )
    return ZIP_PATH


def expected_computer_name(instance_id: str, prefix: str = "EC2") -> str:
    """docs/contracts.md: prefix + the last 15 - len(prefix) hex digits, upper case."""
    return prefix + instance_id.removeprefix("i-")[-(15 - len(prefix)) :].upper()


@dataclass(frozen=True)
class InstanceSpec:
    label: str
    account: str
    region: str
    platform: str  # linux | windows
    group: str | None = None
    opt_out: bool = False

    @property
    def eligible(self) -> bool:
        return not self.opt_out


#: Linux and Windows, with and without adGroupName, one opted out; every account and Region.
SPECS = (
    InstanceSpec("w1-use1-linux", "111111111111", "us-east-1", "linux", "Linux Admins"),
    InstanceSpec("w1-use1-windows", "111111111111", "us-east-1", "windows", "Windows Admins"),
    InstanceSpec("w1-euw1-linux", "111111111111", "eu-west-1", "linux"),
    InstanceSpec("w1-euw1-optout", "111111111111", "eu-west-1", "linux", "Linux Admins", True),
    InstanceSpec("w2-use1-windows", "222222222222", "us-east-1", "windows"),
    InstanceSpec("w2-euw1-linux", "222222222222", "eu-west-1", "linux", "App Team"),
    InstanceSpec("w2-euw1-windows", "222222222222", "eu-west-1", "windows", "Windows Admins"),
)
#: where reconcile_story loses events (its spoke rule disabled): Linux, no real host behind it
RECONCILE_SPEC = InstanceSpec(
    "w2-euw1-reconciled", "222222222222", "eu-west-1", "linux", "App Team"
)
SPOKE_EC2_RULE = "ad-join-ec2-state"  # modules/spoke-account, default name_prefix
#: lifecycle_story's Auto Scaling group: workload 1 forwards lifecycle actions (envs/local), the
#: group carries the tag the spoke role's permission needs, the hooks follow the name convention
LIFECYCLE_ACCOUNT, LIFECYCLE_REGION = "111111111111", "us-east-1"
LIFECYCLE_GROUP = "e2e-web"
LIFECYCLE_GROUP_TAGS = {"adJoinLifecycle": "true"}
LIFECYCLE_HOOKS = {"ad-join-launch": "LAUNCHING", "ad-join-terminate": "TERMINATING"}


@dataclass
class Instance:
    spec: InstanceSpec
    instance_id: str
    computer_name: str
    group: str  # the adGroupName tag ("" without one)
    directory: Directory
    real_host: bool = False  # backed by the Samba client namespace: the join script really runs
    steps: dict[str, float] = field(default_factory=dict)  # step -> epoch seconds

    @property
    def expected_parameters(self) -> dict[str, str]:
        """The join document's parameters docs/contracts.md prescribes (but the password)."""
        return {
            "computerName": self.computer_name,
            "domainName": self.directory.domain,
            "computerOU": self.directory.ou,
            "adGroupName": self.group,
            "adSudoGroupName": "",
            "dnsIP1": self.directory.dns_ips[0],
            "dnsIP2": self.directory.dns_ips[1],
            # the ldap adapter names the DC that holds the account (here: ldapServers' first);
            # Directory Service does not
            "domainController": self.directory.dns_ips[0]
            if self.directory.adapter == "ldap"
            else "",
        }


class Environment:
    """Emulator + `terraform apply` of envs/local; `close()` destroys and stops everything."""

    def __init__(
        self, workdir: Path, zip_path: Path, echo: Printer, real_ad: bool | None = None
    ) -> None:
        self.workdir = workdir
        self.zip_path = zip_path
        self.echo = echo
        self.real_ad = real_ad_available() if real_ad is None else real_ad
        self.samba: Any = None  # tests.ad.harness.SambaDomain when real_ad
        self.hub_ns: Any = None  # the namespace the Lambda runs in (reaches the DC)
        self.relay: NetnsRelay | None = None
        self.server = MotoServer(workdir, echo=echo)
        self.aws: Aws | None = None
        self.terraform: Terraform | None = None
        self.directory_id = ""
        self.outputs: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self.applied = False

    def _start_samba(self) -> None:
        from tests.ad.harness import SambaDomain

        start = time.monotonic()
        self.samba = SambaDomain()
        self.samba.start()
        self.hub_ns = self.samba.add_client("adjoin-hub")
        facts = self.samba.facts()
        self.timings["samba"] = time.monotonic() - start
        self.echo(
            f"real directory: Samba AD DC {facts['dc_fqdn']} ({facts['dc_ip']}), domain "
            f"{facts['domain']}, up in {self.timings['samba']:.1f}s; the Lambda runs in namespace"
            f" {self.hub_ns.hostname}, the instance {REAL_HOST} is the Samba client namespace"
        )
        self.server.extra_env["MOTO_E2E_AGENTS"] = json.dumps(
            {REAL_HOST: self.samba.client.nsenter([])}
        )

    def start(self) -> None:
        if self.real_ad:
            self._start_samba()
        self.server.start()
        if self.real_ad:
            self.relay = NetnsRelay(self.hub_ns.init_pid, self.server.port)
            self.relay.start()
        self.aws = Aws(self.server.endpoint)
        self.directory_id = self._existing_directory()
        self.echo(f"existing AWS Managed Microsoft AD in the hub: {self.directory_id} ({DOMAIN})")
        self.terraform = Terraform(
            self.workdir,
            {
                "endpoint_url": self.server.endpoint,
                "lambda_zip_path": str(self.zip_path),
                "powertools_layer_zip_path": str(LAYER_ZIP_PATH),
                # safe with the lambda.esm patch: the mapping exists, the harness consumer polls
                "event_source_mapping_enabled": "true",
                "directory": json.dumps(
                    {
                        "adapter": "ds",
                        "leave_adapter": "ad_tools_host",
                        "directory_ids": [self.directory_id],
                        "ldap_ca_cert_parameters": [CA_PARAM] if self.real_ad else [],
                    }
                ),
            },
            echo=self.echo,
        )
        self.terraform.prepare()
        self.terraform.init()
        self.echo("terraform apply (envs/local) ...")
        self.timings["apply"] = self.terraform.apply()
        self.applied = True
        self.outputs = self.terraform.outputs()

    def _existing_directory(self) -> str:
        assert self.aws is not None
        ec2, ds = self.aws.client("ec2"), self.aws.client("ds")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=f"{HUB_REGION}{az}"
            )["Subnet"]["SubnetId"]
            for n, az in ((1, "a"), (2, "b"))
        ]
        return str(
            ds.create_microsoft_ad(
                Name=DOMAIN,
                Password=f"Adm-{secrets.token_urlsafe(12)}-9z",
                VpcSettings={"VpcId": vpc, "SubnetIds": subnets},
                Edition="Standard",
            )["DirectoryId"]
        )

    def replan(self) -> int:
        assert self.terraform is not None
        code, seconds, _ = self.terraform.plan_exit_code()
        self.timings["replan"] = seconds
        return code

    def destroy(self) -> None:
        assert self.terraform is not None
        if self.applied:
            self.echo("terraform destroy ...")
            self.timings["destroy"] = self.terraform.destroy()
            self.applied = False

    def directories(self) -> dict[str, Directory]:
        """Account 111111111111: AWS Managed AD (emulated, ds + AD tools host). Account
        222222222222: the same, or the real Samba DC (ldap create and delete) when available."""
        emulated = Directory(
            "ds", "ad_tools_host", DOMAIN, DNS_IPS, COMPUTER_OU, JOIN_USER, real=False
        )
        second = emulated
        if self.samba is not None:
            facts = self.samba.facts()
            second = Directory(
                "ldap",
                "ldap",
                facts["domain"],
                (facts["dc_ip"], facts["dc_ip"]),
                facts["computers_ou"],
                facts["join_user"],
                real=True,
            )
        return dict(zip(WORKLOAD_ACCOUNTS, (emulated, second), strict=True))

    def close(self, destroy: bool = True) -> None:
        try:
            if destroy and self.applied:
                self.destroy()
        finally:
            try:
                if self.relay is not None:
                    self.relay.stop()
                self.server.stop()
            finally:
                if self.samba is not None:
                    self.samba.stop()
                    self.samba = None


class Scenario:
    """What operators, EC2 and the event source mapping do, observed step by step."""

    def __init__(self, env: Environment, echo: Printer) -> None:
        assert env.aws is not None
        self.env = env
        self.aws: Aws = env.aws
        self.echo = echo
        self.out = env.outputs
        self.directories = env.directories()
        # the join user's password: the real one when a real directory is used
        self.password = (
            env.samba.facts()["join_password"]
            if env.samba is not None
            else f"Jp-{secrets.token_urlsafe(24)}-7Q"
        )
        self.dc_after_join: dict[str, bool] = {}
        self.dc_after_leave: dict[str, bool] = {}
        self.instances: list[Instance] = []
        self.tools_host = ""
        self.malformed_message_id = ""
        self.runtime = LambdaRuntime(
            self.aws,
            self.out["function_name"],
            env.zip_path,
            env.workdir,
            HUB_REGION,
            netns_pid=env.hub_ns.init_pid if env.hub_ns is not None else None,
            layer_zips=(LAYER_ZIP_PATH,),
        )
        self.consumer: EventSourceMappingConsumer | None = None
        self.reconciled: list[Instance] = []  # reconcile_story: [terminated, launched]
        self.reconcile_answer: dict[str, Any] = {}
        self.lifecycled: Instance | None = None  # lifecycle_story: the group's instance
        self.lifecycle_states: list[str] = []  # its lifecycle states, in order
        self.reconcile_messages: list[str] = []
        self.t0 = time.time()
        self.marks: dict[str, float] = {}
        self.delay = 0

    # ---------------------------------------------------------------- helpers
    def _mark(self, name: str) -> None:
        self.marks[name] = time.time()

    def _say(self, text: str) -> None:
        self.echo(f"[{time.time() - self.t0:6.1f}s] {text}")

    @cached_property
    def _state_table(self) -> Any:
        return (
            self.aws.session()
            .resource("dynamodb", region_name=HUB_REGION, endpoint_url=self.aws.endpoint)
            .Table(self.out["state_table_name"])
        )

    def state_items(self) -> dict[str, dict[str, Any]]:
        return {item["instanceId"]: item for item in self._state_table.scan()["Items"]}

    def dlq_messages(self) -> list[dict[str, Any]]:
        sqs = self.aws.client("sqs")
        found: dict[str, dict[str, Any]] = {}
        for _ in range(3):
            for m in sqs.receive_message(
                QueueUrl=self.out["dlq_url"],
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                VisibilityTimeout=0,
            ).get("Messages", []):
                found[m["MessageId"]] = m
        return list(found.values())

    def commands(self) -> list[dict[str, Any]]:
        """Every Run Command sent, in every account and Region (with its account and Region)."""
        result = []
        for account in (HUB_ACCOUNT, *WORKLOAD_ACCOUNTS):
            for region in REGIONS:
                ssm = self.aws.client("ssm", account, region)
                for command in ssm.list_commands()["Commands"]:
                    result.append({**command, "account": account, "region": region})
        return result

    # ---------------------------------------------------------------- set-up
    def seed(self) -> None:
        """As an operator would: the SecureString, one config item per workload account."""
        ssm = self.aws.client("ssm")
        ssm.put_parameter(
            Name=self.out["join_password_parameter_name"],
            Type="SecureString",
            KeyId=self.out["kms_key_arn"],
            Value=self.password,
            Overwrite=True,
        )
        if self.env.samba is not None:
            ssm.put_parameter(
                Name=CA_PARAM, Type="String", Value=self.env.samba.ca_cert_pem, Overwrite=True
            )
        for account in WORKLOAD_ACCOUNTS:
            directory = self.directories[account]
            role = self.out["workload_accounts"][account]["spoke_role_arn"]
            args = [
                "--table",
                self.out["config_table_name"],
                "--account-id",
                account,
                "--join-user",
                directory.join_user,
                "--password-param",
                self.out["join_password_parameter_name"],
                "--dns-name",
                directory.domain,
                "--dns-ip1",
                directory.dns_ips[0],
                "--dns-ip2",
                directory.dns_ips[1],
                "--assume-role-arn",
                role,
                "--computer-ou",
                directory.ou,
                "--directory-adapter",
                directory.adapter,
                "--leave-adapter",
                directory.leave_adapter,
            ]
            if directory.adapter == "ds":
                args += ["--directory-id", self.env.directory_id]
            else:
                args += [
                    "--ldap-servers",
                    directory.dns_ips[0],
                    "--ldap-security",
                    "ldaps",
                    "--ldap-ca-cert-param",
                    CA_PARAM,
                ]
            subprocess.run(
                [
                    sys.executable,
                    str(REPO / "scripts" / "put_config_item.py"),
                    *args,
                    "--region",
                    HUB_REGION,
                    "--endpoint-url",
                    self.aws.endpoint,
                ],
                check=True,
                env=clean_aws_env(),
                capture_output=True,
                text=True,
            )
        self._say(
            f"seeded: SecureString {self.out['join_password_parameter_name']} (hub key), "
            f"config items for {', '.join(WORKLOAD_ACCOUNTS)} via scripts/put_config_item.py"
        )
        ec2 = self.aws.client("ec2")
        self.tools_host = ec2.run_instances(
            ImageId=WINDOWS_AMI,
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [
                        {"Key": "adToolsHost", "Value": "true"},
                        {"Key": "Name", "Value": "ad-tools"},
                    ],
                }
            ],
        )["Instances"][0]["InstanceId"]
        self._say(f"AD tools host {self.tools_host} running in the hub ({HUB_REGION})")

    def launch(self) -> None:
        real_host_taken = False
        for spec in SPECS:
            directory = self.directories[spec.account]
            group = spec.group or ""
            real_host = (
                directory.real
                and spec.platform == "linux"
                and spec.eligible
                and not real_host_taken
            )
            tags = [{"Key": "Name", "Value": spec.label}]
            if real_host:
                real_host_taken = True
                group = self.env.samba.facts()["group_name"]  # a real group of the real domain
                tags.append({"Key": "e2eHost", "Value": REAL_HOST})
            if group:
                tags.append({"Key": "adGroupName", "Value": group})
            if spec.opt_out:
                tags.append({"Key": "autoadjoin", "Value": "false"})
            ec2 = self.aws.client("ec2", spec.account, spec.region)
            instance_id = ec2.run_instances(
                ImageId=WINDOWS_AMI if spec.platform == "windows" else LINUX_AMI,
                MinCount=1,
                MaxCount=1,
                TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
            )["Instances"][0]["InstanceId"]
            self.instances.append(
                Instance(
                    spec,
                    instance_id,
                    expected_computer_name(instance_id),
                    group,
                    directory,
                    real_host,
                )
            )
        self._say(f"launched {len(self.instances)} instances in 2 accounts x 2 Regions")

    def start_consumer(self) -> EventSourceMappingConsumer:
        self.runtime.start()
        self.consumer = EventSourceMappingConsumer(self.aws, self.runtime, HUB_REGION)
        self.delay = int(self.consumer.queue_attributes.get("DelaySeconds", 0))
        self._say(
            f"consumer (event source mapping {self.consumer.mapping['UUID'][:8]}): "
            f"{self.consumer.describe()}"
        )
        return self.consumer

    # ---------------------------------------------------------------- events
    def _put_state_events(self, state: str, instances: list[Instance] | None = None) -> None:
        for inst in self.instances if instances is None else instances:
            events = self.aws.client("events", inst.spec.account, inst.spec.region)
            arn = f"arn:aws:ec2:{inst.spec.region}:{inst.spec.account}:instance/{inst.instance_id}"
            answer = events.put_events(
                Entries=[
                    {
                        "Source": "aws.ec2",
                        "DetailType": EC2_DETAIL_TYPE,
                        "Resources": [arn],
                        "Detail": json.dumps({"instance-id": inst.instance_id, "state": state}),
                    }
                ]
            )
            if answer.get("FailedEntryCount"):
                raise RuntimeError(f"PutEvents failed for {inst.instance_id}: {answer}")
            inst.steps[f"{state}:put"] = time.time()

    def put_running(self, inject_malformed: bool = True) -> None:
        self._put_state_events("running")
        self._mark("running:put")
        if inject_malformed:
            self.malformed_message_id = self.aws.client("sqs").send_message(
                QueueUrl=self.out["queue_url"], MessageBody=MALFORMED_BODY
            )["MessageId"]
        assert self.consumer is not None
        counts = self.consumer.queue_counts()
        self._say(
            f"put {len(self.instances)} 'running' events on the spoke default buses"
            + (" + 1 malformed message injected into the queue" if inject_malformed else "")
            + f"; queue now: {counts}"
        )

    def terminate(self) -> None:
        for inst in self.instances:
            self.aws.client("ec2", inst.spec.account, inst.spec.region).terminate_instances(
                InstanceIds=[inst.instance_id]
            )
        self._put_state_events("terminated")
        self._mark("terminated:put")
        assert self.consumer is not None
        self._say(
            f"terminated {len(self.instances)} instances and put their 'terminated' events; "
            f"queue now: {self.consumer.queue_counts()}"
        )

    # ---------------------------------------------------------------- consuming
    def _on_batch(self, batch: Batch) -> None:
        assert self.consumer is not None
        kinds: dict[str, int] = {}
        for m in self.consumer.received:
            if m.batch == batch.number:
                kind = describe_body(m.body)[0]
                kinds[kind] = kinds.get(kind, 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        status = f"error {batch.error}" if batch.error else f"{len(batch.failures)} failures"
        self._say(
            f"batch {batch.number}: {len(batch.message_ids)} messages ({summary}) -> handler "
            f"{batch.seconds * 1000:.0f} ms, {status}"
        )

    def consume_until(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        assert self.consumer is not None
        if not self.consumer.run_until(done, timeout, self._on_batch):
            raise TimeoutError(f"not reached within {timeout:.0f}s: {what}")
        self._say(f"reached: {what}")

    def all_joined(self) -> bool:
        items = self.state_items()
        for inst in self.instances:
            status = items.get(inst.instance_id, {}).get("status")
            if inst.spec.eligible and status != "joined":
                return False
            if not inst.spec.eligible and status not in (None, "skipped"):
                return False
        return not self.malformed_message_id or any(
            m["Body"] == MALFORMED_BODY for m in self.dlq_messages()
        )

    def all_left(self) -> bool:
        items = self.state_items()
        return all(
            items.get(inst.instance_id, {}).get("status") == "left"
            for inst in self.instances
            if inst.spec.eligible
        )

    def run(self, timeout: float = 90.0) -> None:
        """The whole story: seed, launch, running events, joins, terminations, removals; then
        events lost behind a disabled spoke rule, found by a reconcile run."""
        self.seed()
        self.launch()
        self.start_consumer()
        self.put_running()
        self.consume_until(self.all_joined, timeout, "every eligible instance joined")
        self.dc_after_join = self._in_real_directory()
        self.terminate()
        self.consume_until(self.all_left, timeout, "every joined instance's computer removed")
        self.dc_after_leave = self._in_real_directory()
        self.reconcile_story(timeout)
        self.lifecycle_story(timeout)
        self._mark("end")

    # ---------------------------------------------------------------- reconcile
    def _launch_one(self, spec: InstanceSpec) -> Instance:
        tags = [{"Key": "Name", "Value": spec.label}]
        if spec.group:
            tags.append({"Key": "adGroupName", "Value": spec.group})
        instance_id = self.aws.client("ec2", spec.account, spec.region).run_instances(
            ImageId=LINUX_AMI,
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )["Instances"][0]["InstanceId"]
        return Instance(
            spec,
            instance_id,
            expected_computer_name(instance_id),
            spec.group or "",
            self.directories[spec.account],
        )

    def _status(self, inst: Instance) -> str | None:
        status = self.state_items().get(inst.instance_id, {}).get("status")
        return None if status is None else str(status)

    def reconcile_story(self, timeout: float) -> None:
        """The spoke's EC2 rule of RECONCILE_SPEC's account and Region is disabled while one
        joined instance terminates and another launches: both events are lost. One reconcile run
        (the schedule's own payload) then joins the new instance and removes the old one."""
        spec = RECONCILE_SPEC
        first, second = (self._launch_one(spec) for _ in range(2))
        self._put_state_events("running", [first])
        self.consume_until(
            lambda: self._status(first) == "joined", timeout, "the rule's last event joined"
        )
        events = self.aws.client("events", spec.account, spec.region)
        rule = SPOKE_EC2_RULE
        events.disable_rule(Name=rule)
        try:
            self.aws.client("ec2", spec.account, spec.region).terminate_instances(
                InstanceIds=[first.instance_id]
            )
            self._put_state_events("terminated", [first])
            self._put_state_events("running", [second])
            received = len(self.consumer.received) if self.consumer else 0
            self._say(
                f"spoke rule {rule} disabled in {spec.account}/{spec.region}: terminated "
                f"{first.instance_id}, launched {second.instance_id}; both events lost"
            )
            self._mark("reconcile:start")
            answer = self.runtime.invoke({"action": "reconcile", "dryRun": False})
            self.reconcile_answer = answer.get("result") or answer
            self._say(f"reconcile run invoked (the schedule's payload): {self.reconcile_answer}")
            self.consume_until(
                lambda: self._status(second) == "joined" and self._status(first) == "left",
                timeout,
                "the reconcile run joined the new instance and removed the terminated one",
            )
            self._mark("reconcile:end")
            assert self.consumer is not None
            self.reconcile_messages = [m.body for m in self.consumer.received[received:]]
        finally:
            events.enable_rule(Name=rule)
        self.reconciled = [first, second]

    # ---------------------------------------------------------------- lifecycle hooks
    def _group_states(self) -> dict[str, str]:
        asg = self.aws.client("autoscaling", LIFECYCLE_ACCOUNT, LIFECYCLE_REGION)
        (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[LIFECYCLE_GROUP])[
            "AutoScalingGroups"
        ]
        return {i["InstanceId"]: i["LifecycleState"] for i in group["Instances"]}

    def lifecycle_story(self, timeout: float) -> None:
        """An Auto Scaling group with a launch and a terminate hook scales out to one instance,
        then in: the launch action travels the real rules to the queue, the instance joins, and
        the join command's status completes the action (the instance goes InService); the
        terminate action removes the computer object, then completes (the instance terminates)."""
        asg = self.aws.client("autoscaling", LIFECYCLE_ACCOUNT, LIFECYCLE_REGION)
        asg.create_launch_configuration(
            LaunchConfigurationName=LIFECYCLE_GROUP, ImageId=LINUX_AMI, InstanceType="t3.micro"
        )
        asg.create_auto_scaling_group(
            AutoScalingGroupName=LIFECYCLE_GROUP,
            LaunchConfigurationName=LIFECYCLE_GROUP,
            MinSize=0,
            MaxSize=1,
            DesiredCapacity=0,
            AvailabilityZones=[f"{LIFECYCLE_REGION}a"],
            Tags=[
                {"Key": k, "Value": v, "PropagateAtLaunch": False}
                for k, v in LIFECYCLE_GROUP_TAGS.items()
            ],
        )
        for name, transition in LIFECYCLE_HOOKS.items():
            asg.put_lifecycle_hook(
                AutoScalingGroupName=LIFECYCLE_GROUP,
                LifecycleHookName=name,
                LifecycleTransition=f"autoscaling:EC2_INSTANCE_{transition}",
                DefaultResult="ABANDON",
            )
        self._mark("lifecycle:start")
        asg.set_desired_capacity(AutoScalingGroupName=LIFECYCLE_GROUP, DesiredCapacity=1)
        (instance_id,) = self._group_states()
        self.lifecycle_states = [self._group_states()[instance_id]]
        self._say(f"group {LIFECYCLE_GROUP} scaled out: {instance_id} in Pending:Wait")

        def status() -> str:
            return str(self.state_items().get(instance_id, {}).get("status"))

        self.consume_until(
            lambda: status() == "joined" and self._group_states() == {instance_id: "InService"},
            timeout,
            "the scale-out's instance joined and its launch action completed",
        )
        self.lifecycle_states.append("InService")
        asg.set_desired_capacity(AutoScalingGroupName=LIFECYCLE_GROUP, DesiredCapacity=0)
        self.lifecycle_states.append(self._group_states()[instance_id])
        self._say(f"group {LIFECYCLE_GROUP} scaled in: {instance_id} in Terminating:Wait")
        self.consume_until(
            lambda: status() == "left" and self._group_states() == {},
            timeout,
            "the scale-in's computer removed and its terminate action completed",
        )
        self._mark("lifecycle:end")
        spec = InstanceSpec("w1-use1-asg", LIFECYCLE_ACCOUNT, LIFECYCLE_REGION, "linux")
        self.lifecycled = Instance(
            spec,
            instance_id,
            expected_computer_name(instance_id),
            "",
            self.directories[LIFECYCLE_ACCOUNT],
        )

    def reconcile_reports(self) -> list[dict[str, Any]]:
        """The `reconcile report` log lines of the run (one per account and Region task)."""
        reports = []
        for line in self.runtime.logs().splitlines():
            if '"reconcile report"' in line:
                try:
                    reports.append(json.loads(line)["reconcile"])
                except (ValueError, KeyError) as exc:
                    raise AssertionError(f"a reconcile report that is not one: {line!r}") from exc
        return reports

    def _in_real_directory(self) -> dict[str, bool]:
        """For instances whose account uses the real DC: does its computer object exist?"""
        if self.env.samba is None:
            return {}
        found = {
            i.computer_name: bool(self.env.samba.computer_exists(i.computer_name))
            for i in self.instances
            if i.directory.real and i.spec.eligible
        }
        self._say(
            "real DC: "
            + ", ".join(f"{n} {'present' if ok else 'absent'}" for n, ok in sorted(found.items()))
        )
        return found

    def close(self) -> None:
        self.runtime.stop()

    # ---------------------------------------------------------------- observations
    def timeline(self) -> list[dict[str, Any]]:
        """Per instance: when each step happened (seconds after its running event was put)."""
        assert self.consumer is not None
        computers = {
            r["computer"]: r for r in self.env.server.journal() if r["kind"] == "ds.create_computer"
        }
        commands = self.commands()
        items = self.state_items()
        rows = []
        for inst in self.instances:
            t0 = inst.steps["running:put"]
            row: dict[str, Any] = {"instance": inst, "t0": t0}
            for m in self.consumer.received:
                kind, instance_id = describe_body(m.body)
                if instance_id != inst.instance_id:
                    continue
                key = {"running": "consumed", "terminated": "leave consumed"}.get(kind, "status")
                row.setdefault(key, m.at)
            record = computers.get(inst.computer_name)
            if record:
                row["pre-created"] = _epoch(record["at"])
            for c in commands:
                if inst.instance_id in c["InstanceIds"]:
                    row["command"] = c["RequestedDateTime"].timestamp()
                    row["document"] = c["DocumentName"]
                names = ",".join(c["Parameters"].get("computerName", [])).split(",")
                if c["account"] == HUB_ACCOUNT and inst.computer_name in names:
                    row["removed"] = c["RequestedDateTime"].timestamp()
            history = items.get(inst.instance_id, {}).get("history", [])
            joined = [h["at"] for h in history if h.get("status") == "joined"]
            if joined:  # the join command's Success recorded: an AD user can log in
                row["joined"] = _epoch(str(joined[0]).replace("Z", "+00:00"))
            row["terminated put"] = inst.steps.get("terminated:put")
            if inst.directory.leave_adapter == "ldap":  # removed by the Lambda itself, over LDAP
                history = items.get(inst.instance_id, {}).get("history", [])
                left = [h["at"] for h in history if h["status"] == "left"]
                if left and inst.spec.eligible:
                    row["removed"] = _epoch(left[-1].replace("Z", "+00:00"))
            rows.append(row)
        return rows

    def counts(self) -> dict[str, Any]:
        """The scenario's figures, for the demo's summary."""
        assert self.consumer is not None
        items = self.state_items()
        commands = self.commands()
        ids = {i.instance_id for i in self.instances}
        joins = [c for c in commands if set(c["InstanceIds"]) & ids]
        leaves = [c for c in commands if self.tools_host in c["InstanceIds"]]
        dlq = self.dlq_messages()
        reasons = sorted(
            m.get("MessageAttributes", {}).get("reason", {}).get("StringValue", "?") for m in dlq
        )
        eligible = [i for i in self.instances if i.spec.eligible]
        journal = self.env.server.journal()
        computers = [r for r in journal if r["kind"] == "ds.create_computer"]
        agent_runs = [r for r in journal if r["kind"] == "ssm.agent_run"]
        history = [
            h["status"] for i in eligible for h in items.get(i.instance_id, {}).get("history", [])
        ]
        return {
            "instances launched": len(self.instances),
            "eligible instances": len(eligible),
            "opted out": len(self.instances) - len(eligible),
            "events put (running + terminated)": 2 * len(self.instances),
            "messages consumed": len(self.consumer.received),
            "batches": len(self.consumer.batches),
            "batch item failures": sum(len(b.failures) for b in self.consumer.batches),
            "computers pre-created (ds, emulated)": len(computers),
            "computers pre-created (ldap, real DC)": sum(self.dc_after_join.values()),
            "computers removed from the real DC": sum(
                1 for present in self.dc_after_leave.values() if not present
            ),
            "join scripts really run (exit codes)": f"{len(agent_runs)} ("
            + (", ".join(str(r["exit_code"]) for r in agent_runs) or "-")
            + ")",
            "join commands": len(joins),
            "join commands to opted-out": sum(
                1
                for c in joins
                for i in self.instances
                if i.spec.opt_out and i.instance_id in c["InstanceIds"]
            ),
            "instances joined (status event)": history.count("joined"),
            "instances joined": sum(
                1
                for i in eligible
                if "joined"
                in [h["status"] for h in items.get(i.instance_id, {}).get("history", [])]
            ),
            "leave commands (AD tools host)": len(leaves),
            "instances left": sum(
                1 for i in eligible if items.get(i.instance_id, {}).get("status") == "left"
            ),
            "dead-lettered": f"{len(dlq)} ({', '.join(reasons) or '-'})",
        }

    def secret_exposures(self, show_json: str) -> dict[str, bool]:
        """Where the join password was searched, and whether it was found there."""
        assert self.consumer is not None
        secret = self.password
        terraform = self.env.terraform
        state = (
            terraform.state_file.read_text() if terraform and terraform.state_file.exists() else ""
        )
        places = {
            "SSM command parameters (every account and Region)": json.dumps(
                [c["Parameters"] for c in self.commands()]
            ),
            "Lambda logs": self.runtime.logs(),
            "queue messages consumed": json.dumps([m.body for m in self.consumer.received]),
            "dead-letter queue": json.dumps(self.dlq_messages(), default=str),
            "state table": json.dumps(self.state_items(), default=str),
            "terraform state": state,
            "terraform show -json": show_json,
            "terraform log": (self.env.workdir / "terraform.log").read_text(),
            "emulator log and journal": self.env.server.log_file.read_text()
            + self.env.server.journal_file.read_text(),
        }
        return {where: secret in text for where, text in places.items()}


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def describe_body(body: str) -> tuple[str, str]:
    """(kind, instance id) of a queue message body: running, terminated, status, reconcile task,
    launch action, terminate action or malformed."""
    try:
        event = json.loads(body)
        if event.get("Type") == "Notification":
            event = json.loads(event["Message"])
        detail = event.get("detail") or {}
        if event.get("detail-type") == EC2_DETAIL_TYPE and event.get("account"):
            return str(detail.get("state")), str(detail.get("instance-id"))
        if event.get("detail-type") == SSM_DETAIL_TYPE:
            return "status", str(detail.get("instance-id"))
        if event.get("source") == "ad-join" and event.get("detail-type") == "Reconcile Task":
            return "reconcile task", ""
        if event.get("source") == "aws.autoscaling":
            launch = "launch" in str(event.get("detail-type"))
            return f"{'launch' if launch else 'terminate'} action", str(detail.get("EC2InstanceId"))
    except (ValueError, TypeError, AttributeError):
        pass
    return "malformed", ""

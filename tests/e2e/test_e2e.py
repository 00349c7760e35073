"""The whole system on the local AWS emulator: one apply of envs/local shared by every test.

GIVEN envs/local applied to the patched moto server, the config items and the join password
written as an operator would, and instances in both workload accounts and Regions,
WHEN their `running` and `terminated` events are put on the spoke accounts' default buses and the
harness consumer plays the event source mapping with the handler from the packaged zip,
THEN each test below checks one outcome. The last test destroys the environment.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.harness import HUB_ACCOUNT, HUB_REGION
from tests.e2e.scenario import (
    COMPUTER_OU,
    DOMAIN,
    LIFECYCLE_GROUP,
    LIFECYCLE_GROUP_TAGS,
    MALFORMED_BODY,
    Environment,
    Instance,
    Scenario,
    describe_body,
    ensure_package,
)

pytestmark = [pytest.mark.slow, pytest.mark.terraform, pytest.mark.e2e, pytest.mark.timeout(900)]

LINUX_DOC, WINDOWS_DOC, LEAVE_DOC = "ad-join-linux-join", "ad-join-windows-join", "ad-join-leave"


@dataclass
class World:
    env: Environment
    scenario: Scenario
    replan: dict[str, Any] = field(default_factory=dict)
    show_json: str = ""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir: Path = tmp_path_factory.mktemp("e2e")
    env = Environment(workdir, ensure_package(print), print)
    try:
        env.start()
        world = World(env, Scenario(env, print))

        # The re-plan reads only Terraform's resources; the scenario only data (items, messages,
        # instances): run them side by side to save a minute.
        def plan() -> None:
            try:
                world.replan["code"] = env.replan()
            except Exception as exc:  # reported by test_plan_after_apply_is_empty
                world.replan["error"] = str(exc)

        replan = threading.Thread(target=plan)
        replan.start()
        try:
            world.scenario.run(timeout=120)
        finally:
            world.scenario.close()
            replan.join()
        assert env.terraform is not None
        world.show_json = env.terraform.show_json()
        yield world
    finally:
        env.close(destroy=True)


def _eligible(world: World) -> list[Instance]:
    return [i for i in world.scenario.instances if i.spec.eligible]


def _lifecycled(world: World) -> list[Instance]:
    """The Auto Scaling group's instance of the lifecycle story (scenario.lifecycle_story)."""
    return [world.scenario.lifecycled] if world.scenario.lifecycled else []


def _commands_for(world: World, instance_id: str) -> list[dict[str, Any]]:
    return [c for c in world.scenario.commands() if instance_id in c["InstanceIds"]]


def test_plan_after_apply_is_empty(world: World) -> None:
    assert "error" not in world.replan, world.replan.get("error")
    assert world.replan["code"] == 0, "terraform plan -detailed-exitcode reported changes"


def test_each_eligible_instance_gets_exactly_one_join_command_in_its_account_and_region(
    world: World,
) -> None:
    otps = set()
    for inst in _eligible(world):
        commands = _commands_for(world, inst.instance_id)
        assert len(commands) == 1, (inst.spec.label, commands)
        command = commands[0]
        assert (command["account"], command["region"]) == (inst.spec.account, inst.spec.region)
        assert command["InstanceIds"] == [inst.instance_id]
        expected_doc = WINDOWS_DOC if inst.spec.platform == "windows" else LINUX_DOC
        assert command["DocumentName"] == expected_doc
        params = {k: v[0] if v else "" for k, v in command["Parameters"].items()}
        otp = params.pop("oneTimePassword")
        assert params == inst.expected_parameters
        assert len(inst.computer_name) <= 15
        assert re.fullmatch(r"\S{16,}", otp)
        otps.add(otp)
    assert len(otps) == len(_eligible(world)), "one-time passwords must differ per instance"


def test_opted_out_instance_gets_no_command_and_is_recorded_skipped(world: World) -> None:
    items = world.scenario.state_items()
    opted_out = [i for i in world.scenario.instances if i.spec.opt_out]
    assert opted_out
    leave_names = {
        c["Parameters"]["computerName"][0]
        for c in world.scenario.commands()
        if world.scenario.tools_host in c["InstanceIds"]
    }
    for inst in opted_out:
        assert _commands_for(world, inst.instance_id) == []
        statuses = [h["status"] for h in items[inst.instance_id]["history"]]
        assert statuses[0] == "skipped"
        assert not {"joining", "joined"} & set(statuses)
        # its termination is recorded, but there is no computer object to remove
        assert inst.computer_name not in leave_names


def test_state_table_shows_each_instance_from_join_to_removal(world: World) -> None:
    items = world.scenario.state_items()
    for inst in _eligible(world):
        item = items[inst.instance_id]
        statuses = [h["status"] for h in item["history"]]
        assert statuses.index("joined") < statuses.index("leaving") < statuses.index("left")
        assert "joining" in statuses[: statuses.index("joined")]
        assert item["status"] == "left"
        assert (item["accountId"], item["region"]) == (inst.spec.account, inst.spec.region)
        assert item["platform"] == inst.spec.platform
        assert item["computerName"] == inst.computer_name
        join = _commands_for(world, inst.instance_id)[0]
        assert item["commandId"] == join["CommandId"]


def test_status_events_travelled_the_real_routing_after_the_queue_delay(world: World) -> None:
    """Each join's status event reached the hub queue from the instance's own account and
    Region (cross-account bus in us-east-1; regional bus, SNS and the cross-Region subscription
    from eu-west-1), and no message was consumed before the queue's delay."""
    scenario = world.scenario
    assert scenario.consumer is not None
    assert scenario.delay > 0
    for inst in _eligible(world):
        bodies = [
            json.loads(m.body)
            for m in scenario.consumer.received
            if describe_body(m.body) == ("status", inst.instance_id)
        ]
        assert len(bodies) == 1, inst.spec.label
        event = bodies[0]
        assert (event["account"], event["region"]) == (inst.spec.account, inst.spec.region)
        assert event["detail"]["status"] == "Success"
        running = [
            m
            for m in scenario.consumer.received
            if describe_body(m.body) == ("running", inst.instance_id)
        ]
        assert len(running) == 1
        assert running[0].at - inst.steps["running:put"] >= scenario.delay


def test_computer_accounts_are_precreated_in_the_directory(world: World) -> None:
    """ds accounts: Directory Service CreateComputer in the existing directory, in the OU;
    ldap accounts (the real Samba DC when available): the object existed once joined."""
    records = [r for r in world.env.server.journal() if r["kind"] == "ds.create_computer"]
    by_name = {r["computer"]: r for r in records}
    created = [*_eligible(world), *_lifecycled(world)]
    ds_names = {i.computer_name for i in created if i.directory.adapter == "ds"}
    assert ds_names
    assert set(by_name) == ds_names
    for record in records:
        assert record["directory_id"] == world.env.directory_id
        assert record["dn"] == f"CN={record['computer']},{COMPUTER_OU}"
        assert record["password_given"] is True
        assert (record["account"], record["region"]) == (HUB_ACCOUNT, HUB_REGION)
    ldap_names = {i.computer_name for i in _eligible(world) if i.directory.adapter == "ldap"}
    assert world.scenario.dc_after_join == dict.fromkeys(ldap_names, True)


def test_termination_removes_each_joined_computer(world: World) -> None:
    """ad_tools_host accounts: the leave document on the AD tools host in the hub, with the
    password parameter's name only; ldap accounts: the object is gone from the real DC."""
    scenario = world.scenario
    leaves = [c for c in scenario.commands() if scenario.tools_host in c["InstanceIds"]]
    # one leave command per batch carries its names, comma-separated
    names = sorted(n for c in leaves for n in c["Parameters"]["computerName"][0].split(","))
    # + the one the reconciler removed and the one the lifecycle story scaled in
    removed = [*_eligible(world), scenario.reconciled[0], *_lifecycled(world)]
    assert names == sorted(
        i.computer_name for i in removed if i.directory.leave_adapter == "ad_tools_host"
    )
    for command in leaves:
        assert (command["account"], command["region"]) == (HUB_ACCOUNT, HUB_REGION)
        assert command["DocumentName"] == LEAVE_DOC
        params = {k: v[0] for k, v in command["Parameters"].items()}
        assert params["adJoinUserPwParam"] == world.env.outputs["join_password_parameter_name"]
        assert params["domainName"] == DOMAIN
    assert scenario.dc_after_leave == dict.fromkeys(scenario.dc_after_join, False)


@pytest.mark.ad
def test_the_real_join_script_joined_the_samba_client(world: World) -> None:
    """The instance backed by the Samba client namespace ran the join document Terraform
    created: adcli joined with the one-time password (exit 0 -> Success -> joined)."""
    if world.env.samba is None:
        pytest.skip("needs root and Samba (tests/ad/harness.py); the emulated path ran instead")
    real = [i for i in world.scenario.instances if i.real_host]
    assert len(real) == 1
    inst = real[0]
    runs = [
        r
        for r in world.env.server.journal()
        if r["kind"] == "ssm.agent_run" and r["instance"] == inst.instance_id
    ]
    assert [(r["document"], r["exit_code"]) for r in runs] == [(LINUX_DOC, 0)]
    ssm = world.scenario.aws.client("ssm", inst.spec.account, inst.spec.region)
    invocation = ssm.get_command_invocation(
        CommandId=runs[0]["command_id"], InstanceId=inst.instance_id
    )
    assert (invocation["Status"], invocation["ResponseCode"]) == ("Success", 0)
    statuses = [h["status"] for h in world.scenario.state_items()[inst.instance_id]["history"]]
    assert "joined" in statuses


def test_malformed_message_is_dead_lettered_and_its_batch_processed(world: World) -> None:
    scenario = world.scenario
    assert scenario.consumer is not None
    dead = [m for m in scenario.dlq_messages() if m["Body"] == MALFORMED_BODY]
    assert len(dead) == 1
    attrs = {k: v["StringValue"] for k, v in dead[0]["MessageAttributes"].items()}
    assert attrs["reason"] == "malformed_event"
    assert attrs["sourceMessageId"] == scenario.malformed_message_id
    assert attrs["detail"]
    batch = next(
        b for b in scenario.consumer.batches if scenario.malformed_message_id in b.message_ids
    )
    assert batch.error is None and batch.failures == []
    others = [
        describe_body(m.body)[1]
        for m in scenario.consumer.received
        if m.batch == batch.number and m.message_id != scenario.malformed_message_id
    ]
    assert others, "the malformed message shared its batch with real events"
    commanded = {i for c in scenario.commands() for i in c["InstanceIds"]}
    eligible_ids = {i.instance_id for i in _eligible(world)}
    assert {i for i in others if i in eligible_ids} <= commanded
    assert len(scenario.dlq_messages()) == 1, "nothing else reached the DLQ"


def test_reconcile_run_finds_what_a_disabled_spoke_rule_lost(world: World) -> None:
    """Events lost (the spoke's EC2 rule disabled while one joined instance terminated and another
    launched): one reconcile run, the schedule's own payload, fans out one task per account and
    served Region; the task of that account and Region queues a join and a leave as EC2 events,
    which the engine runs: the new instance is joined, the terminated one removed."""
    scenario = world.scenario
    terminated, launched = scenario.reconciled
    assert scenario.reconcile_answer["tasks"] == 2 * 2  # 2 workload accounts x 2 Regions
    items = scenario.state_items()
    assert items[launched.instance_id]["status"] == "joined"
    assert items[terminated.instance_id]["status"] == "left"
    assert len(_commands_for(world, launched.instance_id)) == 1
    reports = scenario.reconcile_reports()
    assert len(reports) == 4 and all(
        r["runId"] == scenario.reconcile_answer["runId"] for r in reports
    ), [line[:300] for line in scenario.runtime.logs().splitlines() if "reconcil" in line][-12:]
    mine = [
        r for r in reports
        if (r["account"], r["region"]) == (terminated.spec.account, terminated.spec.region)
    ]  # fmt: skip
    (report,) = mine
    assert sorted((s["kind"], s["instanceId"]) for s in report["plan"]["steps"]) == sorted(
        [("join", launched.instance_id), ("leave", terminated.instance_id)]
    )
    assert report["joinsStarted"] == 1 and report["objectsRemoved"] == 1
    others = [r for r in reports if r is not report]
    assert all(r["plan"]["steps"] == [] and not r["skipped"] for r in others)
    kinds = sorted(describe_body(b)[0] for b in scenario.reconcile_messages)
    assert kinds.count("reconcile task") == 4


def test_auto_scaling_group_with_both_hooks_has_each_action_completed(world: World) -> None:
    """Scale out, then in, of a group with a launch and a terminate hook (issue 12): the
    instance waited in Pending:Wait until it joined, then in Terminating:Wait until its computer
    object was removed; one join command, and the state row went joined, then left."""
    scenario = world.scenario
    assert scenario.lifecycled is not None
    iid = scenario.lifecycled.instance_id
    assert scenario.lifecycle_states == ["Pending:Wait", "InService", "Terminating:Wait"]
    assert len(_commands_for(world, iid)) == 1
    row = scenario.state_items()[iid]
    assert row["status"] == "left"
    assert [h["status"] for h in row["history"]][-3:] == ["joined", "leaving", "left"]
    assert row["autoScalingGroupName"] == LIFECYCLE_GROUP
    assert row["lifecycleHookName"] == "ad-join-launch"
    journal = world.env.server.journal()
    completed = [r for r in journal if r["kind"] == "autoscaling.lifecycle_completed"]
    assert [(r["hook"], r["result"]) for r in completed] == [
        ("ad-join-launch", "CONTINUE"),
        ("ad-join-terminate", "CONTINUE"),
    ]


def test_join_password_appears_nowhere(world: World) -> None:
    exposures = world.scenario.secret_exposures(world.show_json)
    assert len(exposures) >= 8
    assert [where for where, found in exposures.items() if found] == []
    # the search is real: the password is in the emulator, where the harness put it
    ssm = world.scenario.aws.client("ssm")
    stored = ssm.get_parameter(
        Name=world.env.outputs["join_password_parameter_name"], WithDecryption=True
    )["Parameter"]
    assert stored["Value"] == world.scenario.password
    assert stored["Type"] == "SecureString"


def test_every_request_and_delivery_is_allowed_by_the_applied_policies(world: World) -> None:
    """The permissions proof on the applied system: every AWS request the Lambda made during
    the scenario (recorded in its runtime), every delivery on the event path and the requests
    that must fail, against the policies in the state (tests/iam)."""
    from tests.iam import applied, simulator, summary

    scenario = world.scenario
    tags = {
        i.instance_id: ({"adGroupName": i.group} if i.group else {}) for i in scenario.instances
    }
    tags[scenario.tools_host] = {"adToolsHost": "true"}
    password = f"arn:aws:ssm:{HUB_REGION}:{HUB_ACCOUNT}:parameter/" + world.env.outputs[
        "join_password_parameter_name"
    ].lstrip("/")
    verdicts = applied.prove(
        world.show_json,
        scenario.runtime.requests_file,
        instance_tags=tags,
        secure={password: world.env.outputs["kms_key_arn"]},
        group_tags={LIFECYCLE_GROUP: LIFECYCLE_GROUP_TAGS},
    )
    summary.add("e2e", **verdicts)
    operations = {v.case.operation for v in verdicts["requests"]}
    assert {"ssm:SendCommand", "ds:CreateComputer", "sts:AssumeRole"} <= operations
    assert "autoscaling:CompleteLifecycleAction" in operations  # lifecycle_story
    assert len(verdicts["denials"]) >= 20
    bad = simulator.failures([v for kind in verdicts.values() for v in kind])
    assert not bad, "\n".join(bad)


def test_destroy_removes_every_resource(world: World) -> None:
    env = world.env
    assert env.terraform is not None and env.aws is not None
    env.destroy()
    _, listed = env.terraform.run("state", "list", quiet=True)
    assert listed.strip() == ""
    with pytest.raises(ClientError):
        env.aws.client("sqs").get_queue_url(QueueName="ad-join-queue")
    with pytest.raises(ClientError):
        env.aws.client("lambda").get_function(FunctionName=env.outputs["function_name"])

"""Pure decision functions: every branch, no AWS."""

from __future__ import annotations

import pytest

from adjoin import decisions as d
from adjoin.config import parse_account_item
from adjoin.decisions import Action, InstanceInfo
from adjoin.events import CommandStatusEvent
from tests.unit import fakes

CONFIG = parse_account_item(fakes.SPOKE_A, fakes.config_item(fakes.SPOKE_A))
IID = "i-0123456789abcdef0"


def info(state: str = "running", platform: str | None = "linux", **tags: str) -> InstanceInfo:
    return InstanceInfo(IID, state, platform, dict(tags))


@pytest.mark.parametrize(
    ("instance", "action", "reason"),
    [
        (None, Action.SKIP, "instance_gone"),
        (info("terminated"), Action.SKIP, "instance_gone"),
        (info("shutting-down"), Action.SKIP, "instance_gone"),
        (info("stopped"), Action.SKIP, "instance_not_running"),
        (info("stopping"), Action.SKIP, "instance_not_running"),
        (info("pending"), Action.RETRY, "instance_pending"),
        (info(autoadjoin="false"), Action.SKIP, "opted_out"),
        (info(autoadjoin="FALSE"), Action.SKIP, "opted_out"),
        (info(autoadjoin=" False "), Action.SKIP, "opted_out"),
        (info(autoadjoin="true"), Action.JOIN, "join"),
        (info(autoadjoin="no"), Action.JOIN, "join"),
        (info(platform=None), Action.REJECT, "unknown_platform"),
        (info(adGroupName="Linux Admins"), Action.JOIN, "join"),
        (info(adGroupName=""), Action.REJECT, "invalid_tag"),
        (info(adGroupName=" lead"), Action.REJECT, "invalid_tag"),
        (info(adGroupName="trail "), Action.REJECT, "invalid_tag"),
        (info(adGroupName="a" * 64), Action.JOIN, "join"),
        (info(adGroupName="a" * 65), Action.REJECT, "invalid_tag"),
        (info(adGroupName="x$(reboot)"), Action.REJECT, "invalid_tag"),
        (info(adGroupName="Admins\n"), Action.REJECT, "invalid_tag"),
        # adSudoGroupName: optional, the same character rules as adGroupName
        (info(adSudoGroupName="Linux Sudoers"), Action.JOIN, "join"),
        (info(adSudoGroupName="a" * 64), Action.JOIN, "join"),
        (info(adSudoGroupName=""), Action.REJECT, "invalid_tag"),
        (info(adSudoGroupName=" lead"), Action.REJECT, "invalid_tag"),
        (info(adSudoGroupName="trail "), Action.REJECT, "invalid_tag"),
        (info(adSudoGroupName="a" * 65), Action.REJECT, "invalid_tag"),
        (info(adSudoGroupName="x$(reboot)"), Action.REJECT, "invalid_tag"),
        (info(adSudoGroupName="Admins\nALL ALL=(ALL) NOPASSWD: ALL"), Action.REJECT, "invalid_tag"),
        (info(adGroupName="Ops", adSudoGroupName="%wheel"), Action.REJECT, "invalid_tag"),
    ],
)
def test_decide_running(instance: InstanceInfo | None, action: Action, reason: str) -> None:
    decision = d.decide_running(instance, CONFIG)
    assert (decision.action, decision.reason) == (action, reason)


def test_join_carries_platform_and_tag_group() -> None:
    decision = d.decide_running(info(platform="windows", adGroupName="Win Admins"), CONFIG)
    assert (decision.platform, decision.ad_group_name) == ("windows", "Win Admins")


def test_join_carries_the_sudo_group_or_empty() -> None:
    decision = d.decide_running(info(adGroupName="Ops", adSudoGroupName="Ops Admins"), CONFIG)
    assert (decision.ad_group_name, decision.ad_sudo_group_name) == ("Ops", "Ops Admins")
    assert d.decide_running(info(adGroupName="Ops"), CONFIG).ad_sudo_group_name == ""


def test_invalid_sudo_tag_says_which_tag() -> None:
    decision = d.decide_running(info(adSudoGroupName="bad;group"), CONFIG)
    assert decision.detail.startswith("adSudoGroupName tag must be")


def test_group_falls_back_to_config_default_then_empty() -> None:
    with_default = parse_account_item(
        fakes.SPOKE_A, fakes.config_item(fakes.SPOKE_A, defaultAdGroupName="AWS Users")
    )
    assert d.decide_running(info(), with_default).ad_group_name == "AWS Users"
    assert d.decide_running(info(), CONFIG).ad_group_name == ""
    # an explicit tag wins over the default
    assert d.decide_running(info(adGroupName="Ops"), with_default).ad_group_name == "Ops"


def test_invalid_default_group_is_a_config_error() -> None:
    bad = parse_account_item(
        fakes.SPOKE_A, fakes.config_item(fakes.SPOKE_A, defaultAdGroupName="bad;group")
    )
    assert d.decide_running(info(), bad).reason == "invalid_config"


def test_agent_offline_turns_a_join_into_a_retry_and_leaves_other_decisions() -> None:
    join = d.decide_running(info(), CONFIG)
    assert d.decide_agent(join, agent_online=True) is join
    retry = d.decide_agent(join, agent_online=False)
    assert (retry.action, retry.reason) == (Action.RETRY, "agent_offline")
    skip = d.decide_running(None, CONFIG)
    assert d.decide_agent(skip, agent_online=False) is skip


@pytest.mark.parametrize(
    ("old", "action", "reason"),
    [
        ("joining", Action.SKIP, "already_joining"),
        ("joined", Action.SKIP, "already_joined"),
        ("leaving", Action.SKIP, "terminated_before_join"),
        ("left", Action.SKIP, "terminated_before_join"),
        (None, Action.RETRY, "state_conflict"),
    ],
)
def test_claim_refused(old: str | None, action: Action, reason: str) -> None:
    decision = d.decide_claim_refused(old)
    assert (decision.action, decision.reason) == (action, reason)


@pytest.mark.parametrize(
    ("old", "action", "reason"),
    [
        (None, Action.SKIP, "terminated_before_join"),
        ("pending", Action.SKIP, "terminated_before_join"),
        ("skipped", Action.SKIP, "terminated_before_join"),
        ("joining", Action.LEAVE, "leave"),
        ("joined", Action.LEAVE, "leave"),
        ("failed", Action.LEAVE, "leave"),
        ("leaving", Action.LEAVE, "leave"),
        ("left", Action.SKIP, "already_left"),
    ],
)
def test_decide_terminated(old: str | None, action: Action, reason: str) -> None:
    decision = d.decide_terminated(old)
    assert (decision.action, decision.reason) == (action, reason)


def command(status: str, document: str = "ad-join-linux-join") -> CommandStatusEvent:
    return CommandStatusEvent(fakes.SPOKE_A, "eu-west-1", IID, "c" * 36, document, status, "")


@pytest.mark.parametrize(
    ("status", "document", "action", "new_status"),
    [
        ("Success", "ad-join-linux-join", Action.RECORD, "joined"),
        ("Success", "ad-join-windows-join", Action.RECORD, "joined"),
        (
            "Success",
            "arn:aws:ssm:eu-west-1:111111111111:document/ad-join-linux-join",
            Action.RECORD,
            "joined",
        ),
        ("Failed", "ad-join-linux-join", Action.RECORD, "failed"),
        ("TimedOut", "ad-join-linux-join", Action.RECORD, "failed"),
        ("Cancelled", "ad-join-windows-join", Action.RECORD, "failed"),
        ("DeliveryTimedOut", "ad-join-linux-join", Action.RECORD, "failed"),
        ("InProgress", "ad-join-linux-join", Action.SKIP, None),
        ("Pending", "ad-join-linux-join", Action.SKIP, None),
        ("Success", "AWS-RunShellScript", Action.SKIP, None),
    ],
)
def test_decide_command_status(
    status: str, document: str, action: Action, new_status: str | None
) -> None:
    decision = d.decide_command_status(
        command(status, document), "ad-join-linux-join", "ad-join-windows-join"
    )
    assert (decision.action, decision.status) == (action, new_status)


@pytest.mark.parametrize(
    ("platform", "details", "expected"),
    [
        ("windows", None, "windows"),
        ("Windows", "Windows", "windows"),
        (None, None, "linux"),
        (None, "Linux/UNIX", "linux"),
        (None, "Red Hat Enterprise Linux", "linux"),
        (None, "SUSE Linux", "linux"),
        (None, "Ubuntu Pro", "linux"),
        (None, "Windows with SQL Server Standard", "windows"),
        (None, "macOS", None),
        ("solaris", None, None),
    ],
)
def test_platform_of(platform: str | None, details: str | None, expected: str | None) -> None:
    assert d.platform_of(platform, details) == expected


@pytest.mark.parametrize(
    ("count", "expected"), [(1, 30), (2, 60), (3, 120), (5, 480), (6, 900), (40, 900)]
)
def test_retry_delay_is_exponential_and_capped(count: int, expected: int) -> None:
    assert d.retry_delay(count, 30) == expected


def test_default_backoff_retries_soon_and_ends_with_a_reason_before_the_redrive() -> None:
    """With the default settings an instance whose SSM agent is not online yet is tried again
    after 10 s, 20 s, 40 s, ...; and the retries end in the Lambda's own DLQ send (with
    reason=retry_exhausted) before the queue's redrive (maxReceiveCount 15, modules/hub)
    would move the message without a reason."""
    from adjoin.settings import Settings

    base, bound = Settings.retry_base_seconds, Settings.retry_max_seconds
    assert [d.retry_delay(n, base) for n in (1, 2, 3)] == [10, 20, 40]
    sent, now = 0, 0
    for receive in range(1, 16):
        delay = d.retry_delay(receive, base)
        if d.retry_exhausted(sent, now, delay, bound):
            break
        now += delay * 1000
    else:
        raise AssertionError("15 receives without the retries being exhausted")
    assert receive < 15


def test_retry_exhausted_counts_from_the_first_send() -> None:
    sent = 1_000_000
    assert not d.retry_exhausted(sent, sent + 3_000_000, 600, 3600)  # 3000 + 600 = 3600
    assert d.retry_exhausted(sent, sent + 3_000_001, 600, 3600)


@pytest.mark.parametrize(("platform", "expected"), [("windows", "win-doc"), ("linux", "lin-doc")])
def test_join_document_is_the_inverse_of_join_document_platform(
    platform: str, expected: str
) -> None:
    assert d.join_document(platform, "lin-doc", "win-doc") == expected
    assert (
        d.join_document_platform(
            f"arn:aws:ssm:eu-west-1:1:document/{expected}", "lin-doc", "win-doc"
        )
        == platform
    )


# ---- adComputerOU: a per-instance OU, only at or below the allowed ones ---------------------

ALLOWED = "OU=Computers,OU=AWS,DC=corp,DC=example,DC=com"  # fakes.config_item's computerOU


@pytest.mark.parametrize(
    "ou",
    [
        ALLOWED,  # at
        f"OU=Web,{ALLOWED}",  # below
        f"OU=Blue,OU=Web,{ALLOWED}",  # further below
        "ou=web , ou=computers,OU=aws,dc=CORP,DC=example,DC=com",  # AD compares without case
    ],
)
def test_an_ou_tag_at_or_below_computer_ou_is_used(ou: str) -> None:
    decision = d.decide_running(info(adComputerOU=ou), CONFIG)
    assert (decision.action, decision.computer_ou) == (Action.JOIN, ou)


@pytest.mark.parametrize(
    ("ou", "says"),
    [
        ("OU=Domain Controllers,DC=corp,DC=example,DC=com", "outside the allowed OUs"),
        ("OU=AWS,DC=corp,DC=example,DC=com", "outside the allowed OUs"),  # the parent
        ("OU=Computers Evil,OU=AWS,DC=corp,DC=example,DC=com", "outside the allowed OUs"),
        ("OU=X,OU=EvilComputers,OU=AWS,DC=corp,DC=example,DC=com", "outside the allowed OUs"),
        (f"OU=Web,{ALLOWED},DC=evil", "outside the allowed OUs"),  # not a suffix of the DN
        ("Web", "not a distinguished name"),
        ('OU=Web",DC=corp', "not a distinguished name"),
        ("OU=a,,DC=corp", "not a distinguished name"),
        ("", "not a distinguished name"),
    ],
)
def test_an_ou_tag_outside_the_allowed_subtree_is_rejected(ou: str, says: str) -> None:
    decision = d.decide_running(info(adComputerOU=ou), CONFIG)
    assert (decision.action, decision.reason) == (Action.REJECT, "invalid_tag")
    assert says in decision.detail
    assert decision.computer_ou is None


def test_allowed_computer_ous_extend_the_subtrees() -> None:
    config = parse_account_item(
        fakes.SPOKE_A,
        fakes.config_item(fakes.SPOKE_A, allowedComputerOUs=["OU=Lab,DC=corp,DC=example,DC=com"]),
    )
    lab = "OU=GPU,OU=Lab,DC=corp,DC=example,DC=com"
    assert d.decide_running(info(adComputerOU=lab), config).computer_ou == lab
    assert d.decide_running(info(adComputerOU=f"OU=Web,{ALLOWED}"), config).action is Action.JOIN
    rejected = d.decide_running(info(adComputerOU="OU=Other,DC=corp,DC=example,DC=com"), config)
    assert rejected.action is Action.REJECT
    assert "OU=Lab,DC=corp,DC=example,DC=com" in rejected.detail  # names what is allowed


def test_an_ou_tag_without_any_allowed_ou_is_rejected() -> None:
    item = fakes.config_item(fakes.SPOKE_A)
    del item["computerOU"]
    decision = d.decide_running(info(adComputerOU=ALLOWED), parse_account_item(fakes.SPOKE_A, item))
    assert decision.action is Action.REJECT
    assert "neither computerOU nor allowedComputerOUs" in decision.detail


def test_without_the_tag_the_decision_names_no_ou() -> None:
    assert d.decide_running(info(), CONFIG).computer_ou is None

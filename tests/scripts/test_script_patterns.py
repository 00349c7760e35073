"""The validation patterns inside the PowerShell scripts, run with Python's `re`.

The scripts validate their parameters with .NET regular expressions kept in `$...Pattern`
variables. The constructs they use (classes, non-capturing groups, lookahead, anchors) mean the
same in Python, so the patterns are extracted and checked here against what the rest of the
system produces and accepts: every computer name `adjoin.naming.computer_name` can make, every
group name the Lambda lets through, the OUs the config helper accepts.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from adjoin.decisions import valid_group_name
from adjoin.naming import computer_name
from adjoin_cli.config_item import COMPUTER_OU

REPO_ROOT = Path(__file__).resolve().parents[2]
JOIN = REPO_ROOT / "scripts" / "windows" / "join.ps1"
LEAVE = REPO_ROOT / "scripts" / "windows" / "leave.ps1"

ASSIGNMENT = re.compile(r"^\$(\w+Pattern) = '((?:[^']|'')*)'$", re.MULTILINE)


def patterns(script: Path) -> dict[str, str]:
    source = script.read_text(encoding="utf-8")
    return {name: body.replace("''", "'") for name, body in ASSIGNMENT.findall(source)}


def matches(pattern: str, value: str, *, case_sensitive: bool = False) -> bool:
    """PowerShell's -match / -notmatch ignore case; -cmatch / -cnotmatch do not."""
    return re.search(pattern, value, 0 if case_sensitive else re.IGNORECASE) is not None


JOIN_PATTERNS = patterns(JOIN)
LEAVE_PATTERNS = patterns(LEAVE)


def document_pattern(parameter: str) -> str:
    """The join document's allowedPattern for PARAMETER, as modules/spoke-account writes it."""
    ssm = (REPO_ROOT / "modules" / "spoke-account" / "ssm.tf").read_text(encoding="utf-8")
    found = re.search(rf'{parameter} = \{{.*?allowedPattern\s*=\s*"([^"]+)"', ssm, re.S)
    assert found is not None, f"no allowedPattern for {parameter} in ssm.tf"
    return found.group(1).replace("\\\\", "\\")


@pytest.mark.parametrize("script", [JOIN, LEAVE], ids=["join", "leave"])
def test_every_pattern_is_used_after_its_assignment(script: Path) -> None:
    source = script.read_text(encoding="utf-8")
    found = patterns(script)
    assert {"NamePattern", "DomainPattern", "OuPattern"} <= set(found)
    for name in found:
        assert source.count(f"${name}") >= 2, f"${name} is never used"


@pytest.mark.parametrize("script", [JOIN, LEAVE], ids=["join", "leave"])
@pytest.mark.parametrize("prefix", ["EC2", "W", "ABCD", "X9", "9X"])
@pytest.mark.parametrize(
    "instance_id",
    ["i-0123456789abcdef0", "i-00000000000000000", "i-12345678", "i-fffffffffffffffff"],
)
def test_scripts_accept_every_name_the_lambda_makes(
    script: Path, prefix: str, instance_id: str
) -> None:
    name = computer_name(instance_id, prefix)
    assert matches(patterns(script)["NamePattern"], name), name


@pytest.mark.parametrize(
    "name", ["EC2456789ABCDEF01", "", "EC2_12345", "123456789", "-EC2", "EC2-", "EC2 1"]
)
def test_scripts_refuse_bad_computer_names(name: str) -> None:
    assert not matches(JOIN_PATTERNS["NamePattern"], name)
    assert not matches(LEAVE_PATTERNS["NamePattern"], name)


GROUPS = [
    ("AppAdmins", True),
    ("App Admins", True),
    ("app.admins_2-x", True),
    ("g", True),
    ("g" * 64, True),
    ("g" * 65, False),
    (" leading", False),
    ("trailing ", False),
    ("semi;colon", False),
    ("back\\slash", False),
    ("quote'", False),
    ("dollar$", False),
    ("Ünicode", False),
    ("", False),
]


@pytest.mark.parametrize(("group", "valid"), GROUPS)
def test_join_group_rule_is_the_lambdas(group: str, valid: bool) -> None:
    # join.ps1 tests the group with -cnotmatch (case-sensitive), and only when it is not empty.
    # Both sides are checked against the expected verdict, not only against each other.
    assert matches(JOIN_PATTERNS["GroupPattern"], group, case_sensitive=True) == valid
    assert valid_group_name(group) == valid


IPS = [
    "10.0.0.10",
    "255.255.255.255",
    "1.2.3.4",
    "10.0.0.256",
    "10.0.0",
    "10.0.0.1.2",
    "a.b.c.d",
    "010.0.0.1",
    " 10.0.0.1",
]


@pytest.mark.parametrize("value", IPS)
def test_join_ipv4_rule_is_pythons(value: str) -> None:
    try:
        ipaddress.IPv4Address(value)
        valid = True
    except ValueError:
        valid = False
    assert matches(JOIN_PATTERNS["Ipv4Pattern"], value) == valid


@pytest.mark.parametrize(
    ("domain", "valid"),
    [
        ("corp.example.com", True),
        ("ad.internal", True),
        ("a-b.c0", True),
        ("corp", False),
        ("-corp.example.com", False),
        ("corp..example.com", False),
        ("corp.example.com.", False),
        ("corp example.com", False),
    ],
)
def test_domain_rule(domain: str, valid: bool) -> None:
    assert matches(JOIN_PATTERNS["DomainPattern"], domain) == valid
    assert matches(LEAVE_PATTERNS["DomainPattern"], domain) == valid


OUS = [
    ("OU=Servers,DC=corp,DC=example,DC=com", True),
    ("OU=Web,OU=Servers,DC=corp,DC=com", True),
    ("CN=Computers,DC=corp,DC=com", True),
    (r"OU=Smith\, Jones,DC=corp,DC=com", True),
    ("DC=corp,DC=com", False),
    ("Servers", False),
    ("OU=Servers", False),
    ("OU=,DC=corp", False),
]


@pytest.mark.parametrize(("ou", "valid"), OUS)
def test_ou_rule_is_the_same_in_both_scripts_and_the_config_helper(ou: str, valid: bool) -> None:
    assert matches(JOIN_PATTERNS["OuPattern"], ou) == valid
    assert matches(LEAVE_PATTERNS["OuPattern"], ou) == valid
    assert (COMPUTER_OU.fullmatch(ou) is not None) == valid


@pytest.mark.parametrize(
    ("source", "valid"),
    [
        ("/ad-join/join-user-password", True),
        ("ad-join-password", True),
        ("arn:aws:ssm:eu-west-1:111122223333:parameter/ad-join/pw", True),
        ("arn:aws:secretsmanager:eu-west-1:111122223333:secret:ad-join-AbCdEf", True),
        ("Pa$$w0rd!", False),
        ("", False),
    ],
)
def test_leave_password_source_rule(source: str, valid: bool) -> None:
    accepted = any(
        matches(LEAVE_PATTERNS[name], source)
        for name in ("ParameterNamePattern", "ParameterArnPattern", "SecretArnPattern")
    )
    assert accepted == valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("0", True),
        ("600", True),
        ("9999", True),
        ("", False),
        ("10000", False),
        ("-1", False),
        ("60s", False),
        ("1 0", False),
    ],
)
def test_join_boot_wait_rule_is_the_documents(value: str, valid: bool) -> None:
    assert matches(JOIN_PATTERNS["BootWaitPattern"], value) == valid
    assert (re.search(document_pattern("bootWaitSeconds"), value) is not None) == valid


@pytest.mark.parametrize(
    ("controller", "valid"),
    [
        ("dc1.ad.example.com", True),
        ("DC1", True),
        ("10.0.0.10", True),
        ("dc1;reboot", False),
        ("dc1 .corp", False),
        ("dc1.corp.", False),
        ("$(id)", False),
    ],
)
def test_domain_controller_rule_matches_the_ssm_document(controller: str, valid: bool) -> None:
    assert matches(JOIN_PATTERNS["DomainControllerPattern"], controller) == valid
    assert (re.search(document_pattern("domainController"), controller) is not None) == valid


@pytest.mark.parametrize(
    ("message", "blocked"),
    [
        # the texts of KB5020276 and "Failure when you use an existing computer account"
        (
            "Computer 'WIN1' failed to join domain 'corp.example.com' from its current workgroup "
            "'WORKGROUP' with following error message: An account with the same name exists in "
            "Active Directory. Re-using the account was blocked by security policy.",
            True,
        ),
        ("Error 0xaac (2732): NERR_AccountReuseBlockedByPolicy", True),
        ("The specified domain either does not exist or could not be contacted.", False),
        ("The user name or password is incorrect.", False),
    ],
)
def test_the_account_reuse_refusal_is_recognised(message: str, blocked: bool) -> None:
    assert matches(JOIN_PATTERNS["AccountReuseBlockedPattern"], message) == blocked

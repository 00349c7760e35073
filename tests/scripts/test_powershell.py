"""Static checks of every PowerShell script under scripts/ (PowerShell cannot run here).

Each check is proven able to fail by a negative test on a small broken script.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.scripts import pscheck

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((REPO_ROOT / "scripts").rglob("*.ps1"))
CONTRACTS = REPO_ROOT / "docs" / "contracts.md"
JOIN = REPO_ROOT / "scripts" / "windows" / "join.ps1"
LEAVE = REPO_ROOT / "scripts" / "windows" / "leave.ps1"

# The <prefix>ad-leave document's parameters, as listed in docs/contracts.md ("SSM documents":
# computerName, domainName, adJoinUserName, adJoinUserPwParam, computerOU). The join document's
# parameters are read from the contract's table instead, see join_document_parameters().
LEAVE_DOCUMENT_PARAMETERS = {
    "computerName",
    "domainName",
    "adJoinUserName",
    "adJoinUserPwParam",
    "computerOU",
}

GOOD_HEADER = "Set-StrictMode -Version Latest\n$ErrorActionPreference = 'Stop'\n"


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REPO_ROOT)) for p in paths]


def join_document_parameters() -> set[str]:
    """The `SSM_*` variables of the join documents' table in docs/contracts.md."""
    names = set()
    for line in CONTRACTS.read_text(encoding="utf-8").splitlines():
        if line.startswith("|") and "SSM_" in line:
            names |= set(re.findall(r"`SSM_([A-Za-z0-9]+)`", line))
    return names


@pytest.mark.parametrize("script", SCRIPTS, ids=ids(SCRIPTS))
def test_script_parses_without_errors(script: Path) -> None:
    problems = pscheck.syntax_errors(script.read_text(encoding="utf-8"))
    assert not problems, f"{script.name}:\n" + "\n".join(problems)


def test_syntax_check_reports_unbalanced_braces_with_their_line() -> None:
    broken = GOOD_HEADER + "function Get-Thing {\n    if ($true) {\n        'x'\n}\n"
    problems = pscheck.syntax_errors(broken)
    assert problems
    assert any(p.startswith("line ") for p in problems)
    lines = {int(re.match(r"line (\d+)", p).group(1)) for p in problems}  # type: ignore[union-attr]
    assert lines <= set(range(3, 7)), problems


def test_syntax_check_reports_an_unclosed_string_on_its_line() -> None:
    broken = GOOD_HEADER + "$a = 1\n$b = 'never closed\n"
    problems = pscheck.syntax_errors(broken)
    assert problems
    assert any(p.startswith(("line 4,", "line 5,")) for p in problems), problems


def test_syntax_check_accepts_a_valid_script() -> None:
    source = GOOD_HEADER + "function Get-Thing {\n    param($A)\n    $A\n}\nGet-Thing -A 1\n"
    assert pscheck.syntax_errors(source) == []


@pytest.mark.parametrize("script", SCRIPTS, ids=ids(SCRIPTS))
def test_script_sets_strict_mode_and_stop_first(script: Path) -> None:
    assert pscheck.strict_mode_problems(script.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("$ErrorActionPreference = 'Stop'\n", "Set-StrictMode"),
        ("Set-StrictMode -Version Latest\n", "ErrorActionPreference"),
        ("Set-StrictMode -Version 2.0\n$ErrorActionPreference = 'Stop'\n", "Set-StrictMode"),
        ("Set-StrictMode -Version Latest\n$ErrorActionPreference = 'Continue'\n", "Stop"),
        ("Remove-Item x\n" + GOOD_HEADER, "first two statements"),
        (
            "function Get-A {\n" + GOOD_HEADER + "}\n",
            "Set-StrictMode",
        ),
    ],
    ids=["no-strict", "no-stop", "old-strict", "continue", "late", "inside-function"],
)
def test_strict_mode_check_catches(source: str, expected: str) -> None:
    problems = pscheck.strict_mode_problems(source)
    assert any(expected in p for p in problems), problems


def test_contract_table_lists_the_join_parameters() -> None:
    # Guards the table parsing itself: an empty or partial set would make the next test weak.
    assert join_document_parameters() == {
        "computerName",
        "oneTimePassword",
        "domainName",
        "computerOU",
        "adGroupName",
        "adSudoGroupName",
        "bootWaitSeconds",
        "dnsIP1",
        "dnsIP2",
        "domainController",
    }


def test_join_script_reads_exactly_the_join_document_parameters() -> None:
    read = pscheck.ssm_parameters_read(JOIN.read_text(encoding="utf-8"))
    assert read == join_document_parameters()


def test_leave_script_reads_exactly_the_leave_document_parameters() -> None:
    read = pscheck.ssm_parameters_read(LEAVE.read_text(encoding="utf-8"))
    assert read == LEAVE_DOCUMENT_PARAMETERS


def test_parameter_check_sees_every_way_of_reading_and_ignores_comments() -> None:
    source = GOOD_HEADER + (
        "# $env:SSM_inComment is documentation only\n"
        "$a = $env:SSM_plain\n"
        "$b = ${env:SSM_braced}\n"
        "$c = [Environment]::GetEnvironmentVariable('SSM_byName')\n"
        'Write-Host "$env:SSM_inString"\n'
    )
    assert pscheck.ssm_parameters_read(source) == {"plain", "braced", "byName", "inString"}


def test_windows_scripts_are_the_only_powershell_documents() -> None:
    # Each script is tied to one document's parameter list above; a new script needs its own.
    assert set(SCRIPTS) == {JOIN, LEAVE}


ALL_SCRIPTS = sorted(p for p in (REPO_ROOT / "scripts").rglob("*") if p.suffix in (".ps1", ".sh"))


@pytest.mark.parametrize("script", ALL_SCRIPTS, ids=ids(ALL_SCRIPTS))
def test_script_never_uses_document_interpolation(script: Path) -> None:
    assert pscheck.interpolation_problems(script.read_text(encoding="utf-8")) == []


def test_interpolation_check_catches_references_even_in_comments() -> None:
    source = GOOD_HEADER + (
        "$a = '{{ computerName }}'\n# see {{domainName}}\n$b = '{{ssm:/ad-join/pw}}'\n"
        "# this script never uses {{ }}\n"
    )
    problems = pscheck.interpolation_problems(source)
    assert [p.split(":")[0] for p in problems] == ["line 3", "line 4", "line 5"]
    assert "'{{ computerName }}'" in problems[0]


@pytest.mark.parametrize("script", SCRIPTS, ids=ids(SCRIPTS))
def test_script_never_writes_a_secret(script: Path) -> None:
    problems = pscheck.secret_output_problems(script.read_text(encoding="utf-8"))
    assert not problems, f"{script.name}:\n" + "\n".join(problems)


def test_join_script_secret_tracking_sees_the_one_time_password_flow() -> None:
    # The check is only as good as its idea of what is secret: in join.ps1 the one-time
    # password flows into the SecureString and the credential handed to Add-Computer.
    secrets = pscheck.secret_variables(JOIN.read_text(encoding="utf-8"))
    assert {"secureonetimepassword", "joincredential"} <= secrets


def test_leave_script_secret_tracking_sees_the_password_reader() -> None:
    secrets = pscheck.secret_variables(LEAVE.read_text(encoding="utf-8"))
    assert {"plainpassword", "securepassword", "credential"} <= secrets


LEAKS = {
    "write-output-env": "Write-Output $env:SSM_oneTimePassword\n",
    "write-host-derived": '$p = $env:SSM_oneTimePassword\n$q = "pw $p"\nWrite-Host $q\n',
    "piped": "$t = $env:SSM_oneTimePassword\n$t | Out-Host\n",
    "echo-interpolated": 'echo "the password is $($env:SSM_oneTimePassword)"\n',
    "bare-expression": "$t = $env:SSM_oneTimePassword\n$t\n",
    "throw": '$t = $env:SSM_oneTimePassword\nthrow "bad $t"\n',
    "console": "$t = $env:SSM_oneTimePassword\n[Console]::Error.WriteLine($t)\n",
    "ssm-reader": "$v = (Get-SSMParameter -Name x -WithDecryption $true).Value\nWrite-Verbose $v\n",
    "secret-reader": "$s = Get-SECSecretValue -SecretId a\nWrite-Warning $s.SecretString\n",
    "named-like-secret": "function Get-A {\n param($Password)\n Write-Host $Password\n}\n",
    "through-own-logger": (
        "function Write-Log {\n param($Message)\n [Console]::Error.WriteLine($Message)\n}\n"
        "function Exit-WithCode {\n param($Code, $Message)\n Write-Log -Message $Message\n"
        " exit $Code\n}\n"
        "$t = $env:SSM_oneTimePassword\n"
        'Exit-WithCode -Code 2 -Message "bad $t"\n'
    ),
    "positional-to-logger": (
        "function Write-Log {\n param($Message)\n Write-Host $Message\n}\n"
        "Write-Log $env:SSM_oneTimePassword\n"
    ),
}


@pytest.mark.parametrize("body", LEAKS.values(), ids=LEAKS.keys())
def test_secret_check_catches(body: str) -> None:
    assert pscheck.syntax_errors(GOOD_HEADER + body) == []
    problems = pscheck.secret_output_problems(GOOD_HEADER + body)
    assert problems, "leak not detected"
    assert all(re.match(r"line \d+: ", p) for p in problems)


def test_secret_check_allows_secrets_in_non_writing_arguments() -> None:
    source = GOOD_HEADER + (
        "function Write-Log {\n param($Message)\n [Console]::Error.WriteLine($Message)\n}\n"
        'function Join-It {\n param($Name, $Credential)\n Write-Log -Message "join $Name"\n}\n'
        "$s = ConvertTo-SecureString -String $env:SSM_oneTimePassword -AsPlainText -Force\n"
        "Join-It -Name 'x' -Credential $s\n"
        "Write-Log -Message 'done'\n"
    )
    assert pscheck.syntax_errors(source) == []
    assert pscheck.secret_output_problems(source) == []


@pytest.mark.parametrize("script", SCRIPTS, ids=ids(SCRIPTS))
def test_script_functions_use_approved_verbs(script: Path) -> None:
    source = script.read_text(encoding="utf-8")
    assert pscheck.function_names(source), "expected the script to define functions"
    assert pscheck.verb_problems(source) == []


def test_verb_check_catches_unapproved_verbs_and_non_verb_names() -> None:
    source = GOOD_HEADER + (
        "function Do-Join { 1 }\nfunction Join-Domain { 1 }\nfunction Cleanup { 1 }\n"
    )
    assert pscheck.verb_problems(source) == [
        "line 3: Do-Join uses unapproved verb Do",
        "line 5: Cleanup is not Verb-Noun",
    ]


def test_approved_verbs_literal_has_the_common_groups() -> None:
    assert {"Get", "Set", "Add", "Remove", "Invoke", "Test", "Grant", "ConvertTo", "Exit"} <= (
        pscheck.APPROVED_VERBS
    )
    assert not {"Do", "Make", "Create", "Delete", "Cleanup", "Check"} & pscheck.APPROVED_VERBS


# Behaviour the scripts promise that a careless edit could drop; checked on the syntax tree
# where it is a structural fact, by text where the exact spelling is the contract.


def _commands(source: str) -> dict[str, list[str]]:
    tree = pscheck.parse(source)
    found: dict[str, list[str]] = {}
    for node, name in pscheck._commands(tree.root_node):
        found.setdefault(name.lower(), []).append(pscheck._text(node))
    return found


def test_join_uses_the_unsecured_one_time_password_join() -> None:
    source = JOIN.read_text(encoding="utf-8")
    commands = _commands(source)
    assert "add-computer" in commands
    assert "'UnsecuredJoin', 'PasswordPass'" in source
    assert "'JoinWithNewName'" in source
    assert "UserName = $null" in source  # the one-time password credential has no user


def test_join_requests_the_reboot_through_ssm_and_never_reboots_itself() -> None:
    source = JOIN.read_text(encoding="utf-8")
    assert "$ExitRebootRequested = 3010" in source
    assert "exit $ExitRebootRequested" in source
    commands = _commands(source)
    assert "restart-computer" not in commands
    assert all("-Restart" not in c for c in commands.get("add-computer", []))


def test_join_grants_local_groups_by_well_known_sid_only() -> None:
    source = JOIN.read_text(encoding="utf-8")
    assert "$RemoteDesktopUsersSid = 'S-1-5-32-555'" in source
    assert "$AdministratorsSid = 'S-1-5-32-544'" in source
    # one Add-LocalGroupMember, by SID (the names are localized), never by -Group or -Name
    [add] = _commands(source)["add-localgroupmember"]
    assert "-SID $LocalGroupSid" in add
    assert "-Group" not in add and "-Name" not in add
    grants = _commands(source)["grant-localgroupmembership"]
    assert len(grants) == 2


def test_join_grants_the_login_group_rdp_and_the_sudo_group_administrators() -> None:
    grants = _commands(JOIN.read_text(encoding="utf-8"))["grant-localgroupmembership"]
    by_group = {
        re.search(r"-GroupName \$parameters\.(\w+)", g).group(1): g  # type: ignore[union-attr]
        for g in grants
    }
    assert "-LocalGroupSid $RemoteDesktopUsersSid" in by_group["AdGroupName"]
    assert "-LocalGroupSid $AdministratorsSid" in by_group["AdSudoGroupName"]


def test_join_waits_for_ec2launch_v2_bounded_before_joining() -> None:
    source = JOIN.read_text(encoding="utf-8")
    commands = _commands(source)
    [start] = commands["start-process"]
    assert "-FilePath $ec2launch" in start
    assert "-ArgumentList 'status', '--block'" in start  # blocks until the agent finishes
    assert "$Ec2LaunchRelativePath = 'Amazon\\EC2Launch\\EC2Launch.exe'" in source
    assert "$process.WaitForExit($TimeoutSeconds * 1000)" in source  # the bound
    assert any("-TimeoutSeconds $bootWaitSeconds" in c for c in commands["wait-bootwork"])
    assert "$DefaultBootWaitSeconds = 600" in source  # the document's default too
    # the wait comes before any change: DNS, the join itself
    body = source[source.index("function Invoke-Main") :]
    assert body.index("Wait-BootWork") < body.index("Set-DnsServers")
    assert body.index("Wait-BootWork") < body.index("Join-Domain")
    # a missing EC2Launch v2 is no error: nothing to wait for
    assert "Test-Path -LiteralPath $ec2launch -PathType Leaf" in source


def test_leave_removes_recursively_without_prompt_and_accepts_absent() -> None:
    source = LEAVE.read_text(encoding="utf-8")
    removes = _commands(source)["remove-adobject"]
    assert len(removes) == 1
    assert "-Recursive" in removes[0]
    assert "-Confirm:$false" in removes[0]
    assert "already absent" in source


def test_leave_removes_every_name_of_the_command_with_one_credential() -> None:
    """One leave command carries a batch's names, comma-separated (issue 13): the script reads
    the password and finds a domain controller once, removes each name in turn, keeps going
    after one name fails, and exits with the first failure's code."""
    source = LEAVE.read_text(encoding="utf-8")
    body = pscheck._text(pscheck._function_bodies(pscheck.parse(source).root_node)["invoke-main"])
    assert "$computerNames = @($parameters.ComputerName.ToUpperInvariant() -split ',')" in body
    loop = body[body.index("foreach ($computerName in $computerNames)") :]
    assert "Remove-ComputerObject -ComputerName $computerName" in loop
    assert "if ($code -ne 0 -and $exitCode -eq 0)" in loop
    assert "exit $exitCode" in loop
    # the credential and the domain controller come before the loop, once
    assert body.index("Read-JoinPassword") < body.index("foreach ($computerName")
    assert body.index("Get-DomainControllerName") < body.index("foreach ($computerName")
    # the removal returns its code instead of ending the script (the next name still runs)
    remove = pscheck._text(
        pscheck._function_bodies(pscheck.parse(source).root_node)["remove-computerobject"]
    )
    assert "Exit-WithCode" not in remove
    assert not re.search(r"^\s*exit\b", remove, re.MULTILINE | re.IGNORECASE)
    # every name is checked against the name pattern, and at most 100
    check = pscheck._text(
        pscheck._function_bodies(pscheck.parse(source).root_node)["test-parameters"]
    )
    assert "foreach ($name in $names)" in check and "-gt 100" in check


def test_leave_reads_the_password_itself() -> None:
    commands = _commands(LEAVE.read_text(encoding="utf-8"))
    assert any("-WithDecryption $true" in c for c in commands["get-ssmparameter"])
    assert "get-secsecretvalue" in commands


def _member_branch(source: str) -> str:
    """The text of Invoke-Main's "member of this domain under this name" branch."""
    body = pscheck._text(pscheck._function_bodies(pscheck.parse(source).root_node)["invoke-main"])
    start = body.index("if ($state.ActiveName -eq $computerName)")
    return body[start : body.index("if ($state.PendingName -eq $computerName)", start)]


def test_join_tests_the_secure_channel_before_calling_a_member_joined() -> None:
    # Defect 5 of issue 8: a member under its name exited 0 without testing its trust; a broken
    # trust must be a failure (join.sh checks the same with `adcli testjoin`).
    source = JOIN.read_text(encoding="utf-8")
    branch = _member_branch(source)
    assert "Test-SecureChannel -DomainName $domainName" in branch
    check = branch.index("Test-SecureChannel")
    assert check < branch.index("Grant-LocalGroupMembership") < branch.index("exit 0")
    failure = branch[check : branch.index("Grant-LocalGroupMembership")]
    assert "Exit-WithCode -Code $ExitJoinFailed" in failure
    assert "does not work" in failure
    tester = pscheck._text(
        pscheck._function_bodies(pscheck.parse(source).root_node)["test-securechannel"]
    )
    assert "Test-ComputerSecureChannel -ErrorAction Stop" in tester
    assert "-Repair" not in tester  # repairing needs a domain credential the instance never has
    assert "return $true" in tester and "return $false" in tester


def test_member_branch_check_fails_on_a_join_that_skips_the_secure_channel() -> None:
    old = JOIN.read_text(encoding="utf-8").replace(
        "if (-not (Test-SecureChannel -DomainName $domainName)) {", "if ($false) {"
    )
    assert "Test-SecureChannel -DomainName $domainName" not in _member_branch(old)

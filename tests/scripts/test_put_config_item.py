"""scripts/put_config_item.py: the operator's helper that writes one config item."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from scripts.put_config_item import build_item, main

TABLE = "ad-join-config"
REGION = "eu-west-1"
ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ad-join-spoke"

REQUIRED = [
    "--table", TABLE,
    "--account-id", ACCOUNT,
    "--join-user", "CORP\\adjoin",
    "--password-param", "/ad-join/join-user-password",
    "--dns-name", "corp.example.com",
    "--dns-ip1", "10.0.0.10",
    "--dns-ip2", "10.0.1.10",
    "--region", REGION,
]  # fmt: skip

SEED_ITEM = {
    "accountId": ACCOUNT,
    "adJoinUserName": "CORP\\adjoin",
    "adJoinUserPwParam": "/ad-join/join-user-password",
    "dnsName": "corp.example.com",
    "dnsIP1": "10.0.0.10",
    "dnsIP2": "10.0.1.10",
    "assumeRoleARN": "",
}


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        created = dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "accountId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "accountId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield created


def stored(table: Any, account: str = ACCOUNT) -> dict[str, Any] | None:
    return table.get_item(Key={"accountId": account}).get("Item")


def test_writes_the_seed_format_item(table: Any) -> None:
    assert main(REQUIRED) == 0
    assert stored(table) == SEED_ITEM


def test_writes_the_optional_attributes(table: Any) -> None:
    args = [
        *REQUIRED,
        "--assume-role-arn", ROLE,
        "--directory-id", "d-1234567890",
        "--computer-ou", "OU=Servers,OU=AWS,DC=corp,DC=example,DC=com",
        "--directory-adapter", "ldap",
        "--leave-adapter", "ad_tools_host",
        "--default-ad-group", "App Admins",
        "--ldap-servers", "dc1.corp.example.com, 10.0.1.10",
        "--ldap-security", "starttls",
        "--ldap-ca-cert-param", "/ad-join/ca",
    ]  # fmt: skip
    assert main(args) == 0
    assert stored(table) == {
        **SEED_ITEM,
        "assumeRoleARN": ROLE,
        "directoryId": "d-1234567890",
        "computerOU": "OU=Servers,OU=AWS,DC=corp,DC=example,DC=com",
        "directoryAdapter": "ldap",
        "leaveAdapter": "ad_tools_host",
        "defaultAdGroupName": "App Admins",
        "ldapServers": "dc1.corp.example.com,10.0.1.10",
        "ldapSecurity": "starttls",
        "ldapCaCertParam": "/ad-join/ca",
    }


def test_rewriting_replaces_the_whole_item(table: Any) -> None:
    assert main([*REQUIRED, "--default-ad-group", "Old"]) == 0
    assert main([*REQUIRED, "--dns-ip2", "10.0.2.10"]) == 0
    item = stored(table)
    assert item is not None
    assert item["dnsIP2"] == "10.0.2.10"
    assert "defaultAdGroupName" not in item


def test_dry_run_prints_the_item_and_writes_nothing(
    table: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*REQUIRED, "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out) == SEED_ITEM
    assert stored(table) is None


def test_missing_table_is_reported_with_exit_1(
    table: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [*REQUIRED]
    args[args.index(TABLE)] = "no-such-table"
    assert main(args) == 1
    assert "no-such-table" in capsys.readouterr().err


BAD_ARGUMENTS = {
    "short-account": (["--account-id", "11112222333"], "--account-id"),
    "letters-in-account": (["--account-id", "11112222333x"], "--account-id"),
    "bad-ip1": (["--dns-ip1", "10.0.0.256"], "--dns-ip1"),
    "hostname-ip2": (["--dns-ip2", "dc2.corp.example.com"], "--dns-ip2"),
    "ipv6": (["--dns-ip1", "fd00::10"], "--dns-ip1"),
    "not-a-role": (["--assume-role-arn", "arn:aws:iam::111122223333:user/x"], "--assume-role"),
    "short-role-account": (["--assume-role-arn", "arn:aws:iam::1111:role/x"], "--assume-role"),
    "role-elsewhere": (
        ["--assume-role-arn", "arn:aws:iam::999988887777:role/ad-join-spoke"],
        "999988887777",
    ),
    "password-not-a-name": (["--password-param", "Pa$$w0rd!"], "--password-param"),
    "dns-name": (["--dns-name", "corp_example"], "--dns-name"),
    "directory-id": (["--directory-id", "1234567890"], "--directory-id"),
    "ou": (["--computer-ou", "Servers"], "--computer-ou"),
    "group-chars": (["--default-ad-group", "Admins;rm"], "--default-ad-group"),
    "group-edge-space": (["--default-ad-group", "Admins "], "--default-ad-group"),
    "group-too-long": (["--default-ad-group", "g" * 65], "--default-ad-group"),
    "adapter": (["--directory-adapter", "samba"], "--directory-adapter"),
    "leave-adapter": (["--leave-adapter", "delete"], "--leave-adapter"),
    "allowed-ou": (["--allowed-ou", "Servers"], "--allowed-ou"),
    "password-argument": (["--password", "secret"], "unrecognized arguments"),
}


@pytest.mark.parametrize(("extra", "message"), BAD_ARGUMENTS.values(), ids=BAD_ARGUMENTS.keys())
def test_bad_input_exits_2_with_a_clear_message(
    table: Any, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*REQUIRED, *extra])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert stored(table) is None


def test_missing_required_argument_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    args = REQUIRED[:2] + REQUIRED[4:]  # without --account-id
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    assert "--account-id" in capsys.readouterr().err


#: build_item's required arguments (the library entry point: no argparse protects it)
BUILD_ARGS: dict[str, Any] = {
    "account": ACCOUNT,
    "join_user_name": "adjoin",
    "password_param_name": "/p",
    "domain": "corp.example.com",
    "dns_ip1": "10.0.0.10",
    "dns_ip2": "10.0.1.10",
}


def test_build_item_validates_without_the_cli() -> None:
    item = build_item(
        **{
            **BUILD_ARGS,
            "join_user_name": "adjoin@corp.example.com",
            "password_param_name": (
                "arn:aws:secretsmanager:eu-west-1:111122223333:secret:ad-join-AbCdEf"
            ),
        },
        assume_role_arn=ROLE,
        directory_adapter="ds",
        directory="d-0123456789",
    )
    assert item["adJoinUserPwParam"].startswith("arn:aws:secretsmanager:")
    assert item["directoryAdapter"] == "ds"
    assert item["directoryId"] == "d-0123456789"
    assert "computerOU" not in item
    with pytest.raises(ValueError, match="IPv4"):
        build_item(**{**BUILD_ARGS, "dns_ip2": "10.0.0"})


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("directory_adapter", "samba", "directoryAdapter must be one of"),
        ("leave_adapter", "delete", "leaveAdapter must be one of"),
        ("ldap_security", "plain", "ldapSecurity must be one of"),
    ],
)
def test_build_item_refuses_what_the_engine_would_refuse(
    field: str, value: str, message: str
) -> None:
    # no argparse choices protect build_item: the engine's parse_account_item does
    with pytest.raises(ValueError, match=message):
        build_item(**BUILD_ARGS, **{field: value})


def test_a_one_dc_domain_leaves_dns_ip2_out(table: Any) -> None:
    args = [a for a in REQUIRED if a not in ("--dns-ip2", "10.0.1.10")]
    assert main(args) == 0
    item = stored(table)
    assert item is not None and "dnsIP2" not in item
    assert item["dnsIP1"] == "10.0.0.10"


def test_allowed_ous_are_written_as_a_list(table: Any) -> None:
    lab, web = "OU=Lab,DC=corp,DC=example,DC=com", "OU=Web,DC=corp,DC=example,DC=com"
    assert main([*REQUIRED, "--allowed-ou", lab, "--allowed-ou", web]) == 0
    item = stored(table)
    assert item is not None and item["allowedComputerOUs"] == [lab, web]


def test_ds_without_a_directory_id_relies_on_the_hub_default(table: Any) -> None:
    assert main([*REQUIRED, "--directory-adapter", "ds"]) == 0
    item = stored(table)
    assert item is not None and item["directoryAdapter"] == "ds" and "directoryId" not in item

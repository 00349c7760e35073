"""Write one account's item to the ad-join config table (docs/contracts.md, "Config item").

`ad-join config put ...` (adjoin_cli.main) and `scripts/put_config_item.py ...` run this.

The item keeps the seed's format (accountId, adJoinUserName, adJoinUserPwParam, dnsName,
dnsIP1, dnsIP2, assumeRoleARN; dnsIP2 may be left out for a one-DC domain) plus the optional
attributes the contract adds. The join user's
password is never an argument: --password-param names the SSM SecureString parameter or the
Secrets Manager secret that holds it.

    ad-join config put --table ad-join-config --account-id 111122223333 \\
        --join-user 'CORP\\adjoin' --password-param /ad-join/join-user-password \\
        --dns-name corp.example.com --dns-ip1 10.0.0.10 --dns-ip2 10.0.1.10 \\
        --assume-role-arn arn:aws:iam::111122223333:role/ad-join-spoke

Exit codes: 0 written (or printed with --dry-run), 1 the write failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

# The engine's own rules (lambda/adjoin) decide what a valid item is; this adds the checks an
# operator benefits from up front (account ids, ARNs, DN shape) and never disagrees with them.
from adjoin.config import DOMAIN_RE, LDAP_SECURITY, ROLE_ARN_RE, InvalidConfig, parse_account_item
from adjoin.decisions import valid_group_name
from adjoin.settings import JOIN_ADAPTERS, LEAVE_ADAPTERS

ACCOUNT_ID = re.compile(r"\d{12}")
JOIN_USER = re.compile(r"[A-Za-z0-9 ._@\\-]{1,256}")
PARAMETER_NAME = re.compile(r"/?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
PARAMETER_ARN = re.compile(r"arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter/.+")
SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+")
DIRECTORY_ID = re.compile(r"d-[0-9a-f]{10}")
DN_COMPONENT = r"(?:[^,\\]|\\.)+"
COMPUTER_OU = re.compile(rf"(?:(?:OU|CN)={DN_COMPONENT},)+(?:DC={DN_COMPONENT},)*DC={DN_COMPONENT}")
LDAP_SERVER = re.compile(r"[A-Za-z0-9.-]{1,253}")


def _checked(valid: Callable[[str], object], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not valid(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return check


def _matching(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    return _checked(pattern.fullmatch, what)


account_id = _matching(ACCOUNT_ID, "a 12-digit AWS account id")
dns_name = _checked(
    lambda value: len(value) <= 253 and DOMAIN_RE.fullmatch(value),
    "a DNS domain name such as corp.example.com",
)
join_user = _matching(
    JOIN_USER, "a user name such as adjoin, adjoin@corp.example.com or CORP\\adjoin"
)
directory_id = _matching(DIRECTORY_ID, "a Directory Service id such as d-1234567890")
computer_ou = _matching(
    COMPUTER_OU, "a distinguished name such as OU=Servers,DC=corp,DC=example,DC=com"
)
# Same rule as the adGroupName tag (docs/contracts.md, "Instance tags").
ad_group = _checked(
    valid_group_name, "1-64 characters from A-Z a-z 0-9 space . _ - (no edge spaces)"
)


def ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address") from None


def password_param(value: str) -> str:
    if not (
        PARAMETER_NAME.fullmatch(value)
        or PARAMETER_ARN.fullmatch(value)
        or SECRET_ARN.fullmatch(value)
    ):
        raise ValueError(
            f"{value!r} is not an SSM parameter name or ARN, or a Secrets Manager secret ARN "
            "(give the NAME of the password's parameter, never the password)"
        )
    return value


def role_arn(value: str) -> str:
    if value and not ROLE_ARN_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not an IAM role ARN (or empty for the hub account)")
    return value


def ldap_servers(value: str) -> str:
    servers = [s.strip() for s in value.split(",")]
    if not servers or not all(LDAP_SERVER.fullmatch(s) for s in servers):
        raise ValueError(f"{value!r} is not a comma-separated list of host names or IPs")
    return ",".join(servers)


def build_item(
    *,
    account: str,
    join_user_name: str,
    password_param_name: str,
    domain: str,
    dns_ip1: str,
    dns_ip2: str | None = None,
    assume_role_arn: str = "",
    directory: str | None = None,
    ou: str | None = None,
    directory_adapter: str | None = None,
    leave_adapter: str | None = None,
    default_ad_group: str | None = None,
    ldap_server_list: str | None = None,
    ldap_security: str | None = None,
    ldap_ca_cert_param: str | None = None,
    allowed_ous: Sequence[str] = (),
) -> dict[str, Any]:
    """The config item, validated; raises ValueError with a message naming the bad value."""
    item: dict[str, Any] = {
        "accountId": account_id(account),
        "adJoinUserName": join_user(join_user_name),
        "adJoinUserPwParam": password_param(password_param_name),
        "dnsName": dns_name(domain),
        "dnsIP1": ipv4(dns_ip1),
        "assumeRoleARN": role_arn(assume_role_arn),
    }
    arn = ROLE_ARN_RE.fullmatch(item["assumeRoleARN"])
    if arn and arn.group("account") != item["accountId"]:
        raise ValueError(
            f"assumeRoleARN is in account {arn.group('account')}, not in {item['accountId']}: "
            "the hub assumes a role in the account it joins instances for"
        )
    if dns_ip2:  # a one-DC domain leaves it out
        item["dnsIP2"] = ipv4(dns_ip2)
    optional = {
        "directoryId": directory_id(directory) if directory else None,
        "computerOU": computer_ou(ou) if ou else None,
        "directoryAdapter": directory_adapter,
        "leaveAdapter": leave_adapter,
        "defaultAdGroupName": ad_group(default_ad_group) if default_ad_group else None,
        "ldapServers": ldap_servers(ldap_server_list) if ldap_server_list else None,
        "ldapSecurity": ldap_security,
        "ldapCaCertParam": password_param(ldap_ca_cert_param) if ldap_ca_cert_param else None,
        "allowedComputerOUs": [computer_ou(o) for o in allowed_ous] if allowed_ous else None,
    }
    item.update({key: value for key, value in optional.items() if value is not None})
    try:
        parse_account_item(item["accountId"], item)  # what the Lambda will do with it
    except InvalidConfig as error:
        raise ValueError(str(error)) from None
    return item


def _argument(check: Callable[[str], str]) -> Callable[[str], str]:
    """Turn a validator's ValueError into argparse's error (message, usage, exit 2)."""

    def convert(value: str) -> str:
        try:
            return check(value)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = check.__name__
    return convert


def parser(prog: str = "put_config_item.py") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Write one account's item to the ad-join config table.",
        # No abbreviations: `--password x` must be refused, not taken for --password-param.
        allow_abbrev=False,
    )
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The config item's options (also `ad-join config put`'s)."""
    p.add_argument("--table", required=True, help="config table name (ad-join-config)")
    p.add_argument("--account-id", required=True, type=_argument(account_id))
    p.add_argument("--join-user", required=True, type=_argument(join_user))
    p.add_argument(
        "--password-param",
        required=True,
        type=_argument(password_param),
        help="NAME of the SSM SecureString parameter or ARN of the secret holding the password",
    )
    p.add_argument("--dns-name", required=True, type=_argument(dns_name))
    p.add_argument("--dns-ip1", required=True, type=_argument(ipv4))
    p.add_argument(
        "--dns-ip2", type=_argument(ipv4), help="second DNS server; leave out for a one-DC domain"
    )
    p.add_argument(
        "--assume-role-arn",
        default="",
        type=_argument(role_arn),
        help="role the hub assumes in the account; empty for the hub account itself",
    )
    p.add_argument(
        "--directory-id",
        type=_argument(directory_id),
        help="for ds; without it the hub's default directory (directory.default_directory_id)",
    )
    p.add_argument("--computer-ou", type=_argument(computer_ou))
    p.add_argument(
        "--allowed-ou",
        action="append",
        default=[],
        type=_argument(computer_ou),
        help="an OU (with its subtree) an instance's adComputerOU tag may name, besides "
        "--computer-ou; repeat for more (allowedComputerOUs)",
    )
    p.add_argument("--directory-adapter", choices=JOIN_ADAPTERS)
    p.add_argument("--leave-adapter", choices=LEAVE_ADAPTERS)
    p.add_argument("--default-ad-group", type=_argument(ad_group))
    p.add_argument("--ldap-servers", type=_argument(ldap_servers))
    p.add_argument("--ldap-security", choices=LDAP_SECURITY)
    p.add_argument("--ldap-ca-cert-param", type=_argument(password_param))
    p.add_argument("--region", help="AWS Region of the table (default: the SDK's)")
    p.add_argument("--endpoint-url", help="DynamoDB endpoint (a local emulator)")
    p.add_argument("--dry-run", action="store_true", help="print the item, write nothing")


def put_item(table: str, item: dict[str, Any], region: str | None, endpoint: str | None) -> None:
    client: Any = boto3.resource("dynamodb", region_name=region, endpoint_url=endpoint)
    client.Table(table).put_item(Item=item)


def main(argv: Sequence[str] | None = None, prog: str = "put_config_item.py") -> int:
    p = parser(prog)
    return run(p, p.parse_args(argv))


def run(p: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Validate, then print (--dry-run) or write the item; exit status as the module says."""
    try:
        item = build_item(
            account=args.account_id,
            join_user_name=args.join_user,
            password_param_name=args.password_param,
            domain=args.dns_name,
            dns_ip1=args.dns_ip1,
            dns_ip2=args.dns_ip2,
            assume_role_arn=args.assume_role_arn,
            directory=args.directory_id,
            ou=args.computer_ou,
            directory_adapter=args.directory_adapter,
            leave_adapter=args.leave_adapter,
            default_ad_group=args.default_ad_group,
            ldap_server_list=args.ldap_servers,
            ldap_security=args.ldap_security,
            ldap_ca_cert_param=args.ldap_ca_cert_param,
            allowed_ous=args.allowed_ou,
        )
    except ValueError as error:
        p.error(str(error))  # exits 2
    if args.dry_run:
        print(json.dumps(item, indent=2, sort_keys=True))
        return 0
    try:
        put_item(args.table, item, args.region, args.endpoint_url)
    except (BotoCoreError, ClientError) as error:
        print(f"{p.prog}: writing to {args.table} failed: {error}", file=sys.stderr)
        return 1
    print(f"wrote config item for account {item['accountId']} to {args.table}", file=sys.stderr)
    return 0

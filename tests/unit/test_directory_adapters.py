"""The ds adapter (botocore Stubber: moto lacks CreateComputer) and the adapter factory."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from adjoin.aws import SecretReader, classify, retry_after
from adjoin.config import InvalidConfig, parse_account_item
from adjoin.directory.ad_tools_host import AdToolsHostDirectory
from adjoin.directory.base import ComputerAccount
from adjoin.directory.ds import ComputerExists, DirectoryServiceDirectory
from adjoin.directory.factory import DirectoryFactory
from adjoin.errors import DirectoryError, DirectoryUnavailable
from adjoin.settings import Settings
from tests.unit import fakes

OTP = "Abcdefgh1234.xyz~Z9"
ACCOUNT = ComputerAccount(
    "EC256789ABCDEF0", "corp.example.com", "OU=AWS,DC=corp,DC=example,DC=com", OTP
)


@pytest.fixture
def ds() -> Any:
    return boto3.client(
        "ds", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_create_sends_name_password_and_ou(ds: Any) -> None:
    with Stubber(ds) as stub:
        stub.add_response(
            "create_computer",
            {"Computer": {"ComputerId": "S-1", "ComputerName": ACCOUNT.name}},
            {
                "DirectoryId": "d-1234567890",
                "ComputerName": ACCOUNT.name,
                "Password": OTP,
                "OrganizationalUnitDistinguishedName": ACCOUNT.ou,
            },
        )
        DirectoryServiceDirectory(ds, "d-1234567890").create_computer(ACCOUNT)
        stub.assert_no_pending_responses()


def test_create_without_ou_uses_the_default_container(ds: Any) -> None:
    account = ComputerAccount("EC21A2B3C4D", "corp.example.com", None, OTP)
    with Stubber(ds) as stub:
        stub.add_response(
            "create_computer",
            {"Computer": {"ComputerName": account.name}},
            {"DirectoryId": "d-1234567890", "ComputerName": account.name, "Password": OTP},
        )
        DirectoryServiceDirectory(ds, "d-1234567890").create_computer(account)
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "message", "status", "error"),
    [
        ("EntityAlreadyExistsException", "exists", 400, ComputerExists),
        ("DirectoryUnavailableException", "down", 400, DirectoryUnavailable),
        ("ServiceException", "internal", 500, DirectoryUnavailable),
        ("ClientException", "Rate exceeded", 400, DirectoryUnavailable),
        ("ThrottlingException", "slow down", 400, DirectoryUnavailable),
        # any 5xx is transient (defect 3 of issue 8: these went to the DLQ as directory_error)
        ("InternalError", "oops", 500, DirectoryUnavailable),
        ("ServiceUnavailable", "busy", 503, DirectoryUnavailable),
        ("SomethingNew", "gateway", 502, DirectoryUnavailable),
        ("AuthenticationFailedException", "no", 400, DirectoryError),
        ("EntityDoesNotExistException", "no directory", 400, DirectoryError),
        ("InvalidParameterException", "bad ou", 400, DirectoryError),
    ],
)
def test_errors_are_typed_and_never_carry_the_password(
    ds: Any, code: str, message: str, status: int, error: type[Exception]
) -> None:
    with Stubber(ds) as stub:
        stub.add_client_error("create_computer", code, f"{message} {OTP}", http_status_code=status)
        with pytest.raises(error) as info:
            DirectoryServiceDirectory(ds, "d-1234567890").create_computer(ACCOUNT)
    assert OTP not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    if error is DirectoryUnavailable:
        assert not isinstance(info.value, DirectoryError)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ({"ResponseMetadata": {"HTTPHeaders": {"retry-after": "120"}}}, 120),  # RFC 9110
        ({"RetryAfterSeconds": 45}, 45),  # a modeled member of the error shape
        ({"Error": {"retryAfterSeconds": "45"}}, 45),
        ({"RetryAfterSeconds": 45, "ResponseMetadata": {"HTTPHeaders": {"retry-after": "90"}}}, 90),
        (
            {"ResponseMetadata": {"HTTPHeaders": {"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}}},
            None,
        ),
        ({"RetryAfterSeconds": 10**9}, 43200),  # at most SQS's longest visibility timeout
        ({}, None),
    ],
)
def test_the_wait_a_service_asks_for_is_read_from_the_error(
    response: dict[str, Any], expected: int | None
) -> None:
    base: dict[str, Any] = {"Error": {"Code": "ThrottlingException", "Message": "slow"}}
    for key, value in response.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    exc = ClientError(base, "CreateComputer")  # type: ignore[arg-type]
    assert retry_after(exc) == expected
    assert classify(exc, "x").retry_after == expected  # type: ignore[attr-defined]


def test_ds_keeps_the_wait_the_service_asks_for(ds: Any) -> None:
    with Stubber(ds) as stub:
        stub.add_client_error(
            "create_computer",
            "ServiceUnavailable",
            "busy",
            http_status_code=503,
            response_meta={"HTTPHeaders": {"retry-after": "120"}},
        )
        with pytest.raises(DirectoryUnavailable) as info:
            DirectoryServiceDirectory(ds, "d-1234567890").create_computer(ACCOUNT)
    assert info.value.retry_after == 120


def test_ds_cannot_delete(ds: Any) -> None:
    with pytest.raises(DirectoryError, match="cannot delete"):
        DirectoryServiceDirectory(ds, "d-1").delete_computer("EC2X", "corp.example.com", None)


def test_account_repr_hides_the_one_time_password() -> None:
    assert OTP not in repr(ACCOUNT)


class _Secrets(SecretReader):
    def __init__(self) -> None:
        self.read: list[str] = []

    def get(self, name: str) -> str:
        self.read.append(name)
        return "pw-for-" + name


def _factory(**env: str) -> tuple[DirectoryFactory, _Secrets, list[tuple[Any, ...]]]:
    settings = Settings.from_env(
        {
            "CONFIG_TABLE_NAME": "c",
            "STATE_TABLE_NAME": "s",
            "HUB_ACCOUNT_ID": fakes.HUB,
            "QUEUE_URL": "q",
            "DLQ_URL": "d",
            "AWS_REGION": "us-east-1",
            **env,
        }
    )
    secrets = _Secrets()
    made: list[tuple[Any, ...]] = []

    def ldap_class(*args: Any, **kwargs: Any) -> str:
        made.append((args, kwargs))
        return "ldap-directory"

    clients: dict[tuple[str, str], Any] = {}

    def hub_client(service: str, region: str) -> Any:
        return clients.setdefault(
            (service, region),
            boto3.client(
                service, region_name=region, aws_access_key_id="x", aws_secret_access_key="x"
            ),
        )

    return DirectoryFactory(settings, hub_client, secrets, lambda: ldap_class), secrets, made  # type: ignore[arg-type,return-value]


def test_factory_picks_adapters_from_config_then_settings() -> None:
    factory, secrets, made = _factory(DIRECTORY_ADAPTER="ds", LEAVE_ADAPTER="ad_tools_host")
    config = parse_account_item(fakes.SPOKE_A, fakes.config_item(fakes.SPOKE_A))
    assert isinstance(factory.joiner(config), DirectoryServiceDirectory)
    assert isinstance(factory.leaver(config), AdToolsHostDirectory)
    assert secrets.read == []  # neither needs the password in the Lambda
    ldap_config = parse_account_item(
        fakes.SPOKE_A,
        fakes.config_item(
            fakes.SPOKE_A,
            directoryAdapter="ldap",
            leaveAdapter="none",
            ldapSecurity="seal",
            ldapCaCertParam="/ad-join/ca",
        ),
    )
    assert factory.joiner(ldap_config) == "ldap-directory"
    assert factory.leaver(ldap_config) is None
    [(args, kwargs)] = made
    # no ldapServers: no servers, the controllers are discovered from dnsIP1/dnsIP2
    assert args == (
        [],
        "corp.example.com",
        "svc-adjoin@corp.example.com",
        "pw-for-" + fakes.JOIN_PW_PARAM,
    )
    assert kwargs == {
        "security": "seal",
        "ca_cert_pem": "pw-for-/ad-join/ca",
        "dns_servers": ("10.0.0.10", "10.0.1.10"),
    }


def test_factory_passes_listed_ldap_servers_and_a_one_dc_domain() -> None:
    factory, _, made = _factory(DIRECTORY_ADAPTER="ldap")
    item = fakes.config_item(
        fakes.SPOKE_A, ldapServers="dc1.corp.example.com, dc2.corp.example.com"
    )
    del item["dnsIP2"]  # a one-DC domain: dnsIP2 is optional
    factory.joiner(parse_account_item(fakes.SPOKE_A, item))
    [(args, kwargs)] = made
    assert args[0] == ["dc1.corp.example.com", "dc2.corp.example.com"]
    assert kwargs["dns_servers"] == ("10.0.0.10", "")


def test_factory_uses_the_hub_default_directory_for_items_without_directory_id() -> None:
    factory, _, _ = _factory(DEFAULT_DIRECTORY_ID="d-9876543210")
    item = fakes.config_item(fakes.SPOKE_A)
    del item["directoryId"]
    joiner = factory.joiner(parse_account_item(fakes.SPOKE_A, item))
    assert isinstance(joiner, DirectoryServiceDirectory)
    assert joiner._directory_id == "d-9876543210"
    # an item's own directoryId wins over the default
    own = factory.joiner(parse_account_item(fakes.SPOKE_A, fakes.config_item(fakes.SPOKE_A)))
    assert isinstance(own, DirectoryServiceDirectory)
    assert own._directory_id == fakes.DIRECTORY_ID


def test_factory_rejects_ds_without_directory_id() -> None:
    factory, _, _ = _factory()
    item = fakes.config_item(fakes.SPOKE_A)
    del item["directoryId"]
    with pytest.raises(InvalidConfig, match="no directoryId and the hub has no default directory"):
        factory.joiner(parse_account_item(fakes.SPOKE_A, item))


def test_the_real_ldap_module_is_imported_lazily() -> None:
    import adjoin.directory.factory as factory_module

    assert "adjoin.directory.ldap" not in factory_module.__dict__
    try:
        cls = factory_module._load_ldap_class()
    except ImportError:
        pytest.fail("adjoin.directory.ldap is missing")
    assert cls.__name__ == "LdapDirectory"

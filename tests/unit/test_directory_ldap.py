"""Unit tests of the ldap adapter with ldap3's MOCK_SYNC strategy (an in-memory directory).

The same adapter against a real Samba AD DC: tests/ad/test_ldap_directory.py.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from ldap3 import MOCK_SYNC, OFFLINE_AD_2012_R2, Connection, Server
from ldap3.core import exceptions as ldap_exc

from adjoin.directory import discovery
from adjoin.directory.base import ComputerAccount
from adjoin.directory.ldap import (
    BIND_DATA_CODES,
    TREE_DELETE_OID,
    LdapDirectory,
    _BindRefused,
    bind_data_code,
    bind_name,
    domain_to_dn,
    encode_unicode_pwd,
    validate_computer_name,
)
from adjoin.errors import DirectoryError, DirectoryUnavailable, PermanentError, TransientError
from tests.unit.netfakes import FakeDns, fake_dns, fake_tls

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pyasn1.*")

DOMAIN = "ad.example.com"
BASE = "DC=ad,DC=example,DC=com"
OU = f"OU=EC2,{BASE}"
USER_DN = f"CN=svc-adjoin,CN=Users,{BASE}"
JOIN_PASSWORD = "Join-Secret-9zZ"
OTP = "One.Time~Pass-123456"


class MockDirectory(LdapDirectory):
    """LdapDirectory whose connection is an ldap3 MOCK_SYNC connection on a shared fake DIT."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("dc1.ad.example.com", DOMAIN, USER_DN, JOIN_PASSWORD, **kwargs)
        server = Server("dc1.ad.example.com", get_info=OFFLINE_AD_2012_R2)
        self.conn = Connection(
            server,
            user=USER_DN,
            password=JOIN_PASSWORD,
            client_strategy=MOCK_SYNC,
            raise_exceptions=True,
        )
        for dn, attrs in (
            (BASE, {"objectClass": ["top", "domain"]}),
            (f"CN=Users,{BASE}", {"objectClass": ["top", "container"]}),
            (f"CN=Computers,{BASE}", {"objectClass": ["top", "container"]}),
            (OU, {"objectClass": ["top", "organizationalUnit"]}),
            (USER_DN, {"objectClass": ["top", "user"], "userPassword": JOIN_PASSWORD}),
        ):
            self.conn.strategy.add_entry(dn, attrs)
        self.deletes: list[tuple[str, Any]] = []
        self.connects = 0
        original_delete = self.conn.delete

        def spy_delete(dn: str, controls: Any = None) -> Any:
            self.deletes.append((dn, controls))
            return original_delete(dn, controls=controls)

        self.conn.delete = spy_delete

    def _connect(self) -> tuple[Any, str]:
        self.connects += 1
        self.conn.bind()
        return self.conn, "dc1.ad.example.com"

    def entry(self, dn: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.conn.strategy.connection.server.dit.get(dn)
        return found


def computer(name: str = "EC2ABC123", ou: str | None = OU, otp: str = OTP) -> ComputerAccount:
    return ComputerAccount(name=name, domain=DOMAIN, ou=ou, one_time_password=otp)


class FailingDirectory(LdapDirectory):
    """LdapDirectory whose connection attempt raises the given exception."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(["10.0.0.1", "10.0.0.2"], DOMAIN, "svc@ad.example.com", JOIN_PASSWORD)
        self.exc = exc

    def _connect(self) -> tuple[Any, str]:
        raise self.exc


# ---- create ---------------------------------------------------------------------------------


def test_create_adds_a_workstation_account_with_the_one_time_password() -> None:
    directory = MockDirectory()
    # the controller that holds the account is reported, for the join to use it
    assert directory.create_computer(computer("ec2abc123")) == "dc1.ad.example.com"
    entry = directory.entry(f"CN=EC2ABC123,{OU}")
    assert entry is not None
    assert entry["sAMAccountName"] == [b"EC2ABC123$"]
    assert entry["userAccountControl"] == [b"4096"]
    assert entry["dNSHostName"] == [b"ec2abc123.ad.example.com"]
    # AD's unicodePwd form: the password in double quotes, UTF-16-LE.
    assert entry["unicodePwd"] == ['"One.Time~Pass-123456"'.encode("utf-16-le")]
    assert b"computer" in entry["objectClass"]


def test_create_without_ou_uses_the_computers_container() -> None:
    directory = MockDirectory()
    directory.create_computer(computer(ou=None))
    assert directory.entry(f"CN=EC2ABC123,CN=Computers,{BASE}") is not None


def test_create_of_an_existing_account_resets_its_password() -> None:
    directory = MockDirectory()
    directory.create_computer(computer(otp=OTP))
    assert directory.create_computer(computer(otp="Second.Pass-7654321")) == "dc1.ad.example.com"
    entry = directory.entry(f"CN=EC2ABC123,{OU}")
    assert entry is not None
    assert entry["unicodePwd"] == ['"Second.Pass-7654321"'.encode("utf-16-le")]


@pytest.mark.parametrize("name", ["EC2456789ABCDEF0", "EC2.BAD", "EC2_BAD", "-EC2", "123456", ""])
def test_create_refuses_bad_names_before_connecting(name: str) -> None:
    directory = MockDirectory()
    with pytest.raises(DirectoryError) as caught:
        directory.create_computer(computer(name))
    assert caught.value.reason == "invalid_computer_name"
    assert directory.connects == 0
    assert directory.entry(f"CN={name[:15].upper()},{OU}") is None


def test_create_refuses_an_empty_one_time_password() -> None:
    with pytest.raises(DirectoryError):
        MockDirectory().create_computer(computer(otp=""))


# ---- delete ---------------------------------------------------------------------------------


def test_delete_removes_the_account_with_the_tree_delete_control() -> None:
    directory = MockDirectory()
    directory.create_computer(computer())
    assert directory.delete_computer("EC2ABC123", DOMAIN, OU) is True
    assert directory.entry(f"CN=EC2ABC123,{OU}") is None
    assert directory.deletes == [(f"CN=EC2ABC123,{OU}", [(TREE_DELETE_OID, True, None)])]


def test_delete_finds_an_account_that_moved_to_another_container() -> None:
    directory = MockDirectory()
    directory.create_computer(computer(ou=None))
    assert directory.delete_computer("EC2ABC123", DOMAIN, OU) is True
    assert directory.entry(f"CN=EC2ABC123,CN=Computers,{BASE}") is None


def test_delete_of_a_missing_account_returns_false() -> None:
    directory = MockDirectory()
    assert directory.delete_computer("EC2ABC123", DOMAIN, OU) is False
    assert directory.deletes == []


# ---- configuration --------------------------------------------------------------------------


def test_seal_is_refused_with_a_clear_reason() -> None:
    with pytest.raises(DirectoryError) as caught:
        LdapDirectory("dc1", DOMAIN, "u@d", JOIN_PASSWORD, security="seal")
    assert caught.value.reason == "directory_config"
    assert "ldaps" in str(caught.value)


@pytest.mark.parametrize("servers", ["", " , ", []])
def test_no_server_is_a_configuration_error(servers: Any) -> None:
    with pytest.raises(DirectoryError, match="set ldapServers, or dnsIP1"):
        LdapDirectory(servers, DOMAIN, "u@d", JOIN_PASSWORD, dns_servers=("", ""))


def test_ports_and_server_list() -> None:
    ldaps = LdapDirectory("10.0.0.1, 10.0.0.2", DOMAIN, "u@d", JOIN_PASSWORD)
    starttls = LdapDirectory(["dc1"], DOMAIN, "u@d", JOIN_PASSWORD, security="starttls")
    assert (ldaps.port, starttls.port) == (636, 389)
    assert "servers=['10.0.0.1', '10.0.0.2']" in repr(ldaps)  # split and stripped, in order
    assert LdapDirectory(["dc1"], DOMAIN, "u@d", JOIN_PASSWORD, port=3269).port == 3269


def test_repr_never_shows_the_password() -> None:
    assert JOIN_PASSWORD not in repr(LdapDirectory("dc1", DOMAIN, "u@d", JOIN_PASSWORD))


def test_helpers() -> None:
    assert domain_to_dn("Ad.Example.com") == BASE
    assert validate_computer_name("ec2-ab1") == "EC2-AB1"
    assert encode_unicode_pwd("ab") == '"ab"'.encode("utf-16-le")
    with pytest.raises(DirectoryError):
        domain_to_dn("not a domain")


# ---- error mapping --------------------------------------------------------------------------


def _result(cls: type[ldap_exc.LDAPOperationResult], code: int, message: str) -> Any:
    return cls(result=code, description=cls.__name__, dn="CN=x", message=message)


@pytest.mark.parametrize(
    ("exc", "expected", "reason"),
    [
        (ldap_exc.LDAPSocketOpenError("connection refused"), DirectoryUnavailable, None),
        (ldap_exc.LDAPServerPoolExhaustedError("all down"), DirectoryUnavailable, None),
        (ldap_exc.LDAPSocketReceiveError("timed out"), DirectoryUnavailable, None),
        (ldap_exc.LDAPSessionTerminatedByServerError("bye"), DirectoryUnavailable, None),
        (TimeoutError(), DirectoryUnavailable, None),
        (_result(ldap_exc.LDAPBusyResult, 51, "busy"), DirectoryUnavailable, None),
        (_result(ldap_exc.LDAPUnavailableResult, 52, "down"), DirectoryUnavailable, None),
        (
            _result(ldap_exc.LDAPInsufficientAccessRightsResult, 50, "acl"),
            DirectoryError,
            "directory_access",
        ),
        (
            _result(ldap_exc.LDAPNoSuchObjectResult, 32, "parent does not exist"),
            DirectoryError,
            "directory_ou_missing",
        ),
        (
            _result(ldap_exc.LDAPConstraintViolationResult, 19, "0000052D: pwd policy"),
            DirectoryError,
            "directory_error",
        ),
    ],
)
def test_errors_are_typed(
    exc: BaseException, expected: type[Exception], reason: str | None
) -> None:
    with pytest.raises(expected) as caught:
        FailingDirectory(exc).create_computer(computer())
    if reason:
        assert caught.value.reason == reason  # type: ignore[attr-defined]
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    transient = issubclass(expected, TransientError)
    assert isinstance(caught.value, TransientError if transient else PermanentError)


def test_messages_never_contain_either_password() -> None:
    echo = _result(
        ldap_exc.LDAPConstraintViolationResult, 19, f"bad value {OTP} for user {JOIN_PASSWORD}"
    )
    with pytest.raises(DirectoryError) as caught:
        FailingDirectory(echo).create_computer(computer())
    text = str(caught.value)
    assert OTP not in text and JOIN_PASSWORD not in text
    assert "constraintViolation" in text or "LDAPConstraintViolationResult" in text
    assert "***" in text


def test_refusal_while_adding_is_a_directory_error() -> None:
    directory = MockDirectory()

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise _result(ldap_exc.LDAPInsufficientAccessRightsResult, 50, "no rights on OU")

    directory.conn.add = refuse
    with pytest.raises(DirectoryError, match="no rights on OU") as caught:
        directory.create_computer(computer())
    assert caught.value.reason == "directory_access"
    assert f"lacks the right to create, change or delete computer objects in {OU}" in str(
        caught.value
    )


def test_unreachable_servers_fail_fast_and_transient() -> None:
    # Regression: ldap3's ServerPool slept 10 s after a failed round; the adapter tries each
    # server once, in order, and gives up at once.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    directory = LdapDirectory(["127.0.0.1", "127.0.0.1"], DOMAIN, "u@d", JOIN_PASSWORD, port=port)
    started = time.monotonic()
    with pytest.raises(DirectoryUnavailable, match=r"cannot reach 127\.0\.0\.1, 127\.0\.0\.1"):
        directory.delete_computer("EC2ABC123", DOMAIN, OU)
    assert time.monotonic() - started < 3


# ---- bind name and bind refusals ------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "bound"),
    [
        ("ADJoinUser", "ADJoinUser@ad.example.com"),  # the seed's bare name
        ("svc@corp.example.com", "svc@corp.example.com"),
        ("CORP\\svc", "CORP\\svc"),
        ("CN=svc,CN=Users,DC=ad,DC=example,DC=com", "CN=svc,CN=Users,DC=ad,DC=example,DC=com"),
    ],
)
def test_a_bare_user_name_is_bound_as_a_user_principal_name(given: str, bound: str) -> None:
    assert bind_name(given, DOMAIN) == bound
    assert LdapDirectory("dc1", DOMAIN, given, JOIN_PASSWORD).user == bound


AD_MESSAGE = (
    "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data {}, v1db1"
)


class RefusingDirectory(LdapDirectory):
    """The bind is refused with AD's diagnostic for CODE; the LDAP ping says EXISTS."""

    def __init__(self, code: str, exists: bool | None) -> None:
        super().__init__("dc1.ad.example.com", DOMAIN, "svc-adjoin", JOIN_PASSWORD)
        self.code, self.exists = code, exists

    def _connect(self) -> tuple[Any, str]:
        raise _BindRefused(AD_MESSAGE.format(self.code), server=None)

    def _user_exists(self, server: Any) -> bool | None:
        return self.exists


@pytest.mark.parametrize(
    ("code", "exists", "reason", "says"),
    [
        ("52e", False, "directory_auth_user", "has no user 'svc-adjoin@ad.example.com'"),
        ("525", None, "directory_auth_user", "check adJoinUserName"),
        ("52e", True, "directory_auth_password", "wrong password"),
        ("52e", None, "directory_auth", "unknown user name or wrong password"),
        ("533", True, "directory_auth_account", "disabled"),
        ("701", True, "directory_auth_account", "account has expired"),
        ("532", True, "directory_auth_account", "password has expired"),
        ("773", True, "directory_auth_account", "must be changed"),
        ("775", True, "directory_auth_account", "locked out"),
        ("530", True, "directory_auth_account", "at this time"),
        ("531", True, "directory_auth_account", "from this workstation"),
    ],
)
def test_each_bind_refusal_says_what_is_wrong(
    code: str, exists: bool | None, reason: str, says: str
) -> None:
    with pytest.raises(DirectoryError) as caught:
        RefusingDirectory(code, exists).create_computer(computer())
    assert caught.value.reason == reason
    assert says in str(caught.value)
    assert f"AD bind data {code}" in str(caught.value)
    assert JOIN_PASSWORD not in str(caught.value)


def test_bind_data_code_is_read_from_the_diagnostic_message() -> None:
    assert bind_data_code(AD_MESSAGE.format("775")) == "775"
    assert bind_data_code("invalid credentials") is None
    assert set(BIND_DATA_CODES) == {"52e", "530", "531", "532", "533", "701", "773", "775"}


# ---- TLS: each failed check, against a real TLS server --------------------------------------


def _tls_failure(servers: list[str], port: int, ca_pem: str) -> DirectoryError:
    directory = LdapDirectory(servers, DOMAIN, "u@d", JOIN_PASSWORD, ca_cert_pem=ca_pem, port=port)
    with pytest.raises(DirectoryError) as caught:
        directory.delete_computer("EC2ABC123", DOMAIN, OU)
    return caught.value


def test_an_untrusted_ca_says_to_set_ldap_ca_cert_param() -> None:
    with fake_tls(dns_names=("localhost",)) as server, fake_tls() as other:
        error = _tls_failure(["localhost"], server.port, other.pki.ca_pem)
    assert error.reason == "directory_tls_untrusted"
    assert "not signed by a trusted CA" in str(error) and "ldapCaCertParam" in str(error)


def test_a_name_mismatch_says_which_name_and_what_to_set() -> None:
    with fake_tls(dns_names=("dc1.ad.example.com",)) as server:
        error = _tls_failure(["localhost"], server.port, server.pki.ca_pem)
    assert error.reason == "directory_tls_name"
    assert "does not carry the name localhost" in str(error) and "ldapServers" in str(error)


def test_an_ip_address_server_names_the_ip_mismatch() -> None:
    # the seed's dnsIP1/dnsIP2 as LDAP servers: a DC certificate names the DC, not its address
    with fake_tls(dns_names=("dc1.ad.example.com",)) as server:
        error = _tls_failure(["127.0.0.1"], server.port, server.pki.ca_pem)
    assert error.reason == "directory_tls_name"
    assert "does not carry the IP address 127.0.0.1" in str(error)
    assert "leave ldapServers empty" in str(error)


def test_an_expired_certificate_says_to_renew_it() -> None:
    with fake_tls(dns_names=("localhost",), expired=True) as server:
        error = _tls_failure(["localhost"], server.port, server.pki.ca_pem)
    assert error.reason == "directory_tls_expired"
    assert "has expired" in str(error) and "renew the certificate of the domain controller" in str(
        error
    )


def test_a_discovered_controller_is_verified_by_name_at_its_address() -> None:
    # GIVEN DNS names dc1.ad.example.com at 127.0.0.1 and the TLS server's certificate carries
    # only that name
    srv = f"_ldap._tcp.dc._msdcs.{DOMAIN}."
    dns_server = FakeDns(
        records={(srv, "SRV"): ["0 100 389 dc1.ad.example.com."]},
        additional={srv: [("dc1.ad.example.com.", "127.0.0.1")]},
    )
    discovery.clear_cache()
    with fake_dns(dns_server), fake_tls(dns_names=("dc1.ad.example.com",)) as tls:
        directory = LdapDirectory(
            [],
            DOMAIN,
            "u",
            JOIN_PASSWORD,
            ca_cert_pem=tls.pki.ca_pem,
            port=tls.port,
            dns_servers=("127.0.0.1",),
        )
        original = discovery.discover

        def at_fake_port(*args: Any, **kwargs: Any) -> Any:
            return original(*args, **{**kwargs, "port": dns_server.port})

        discovery.discover = at_fake_port  # type: ignore[assignment]
        try:
            # WHEN the adapter connects: the fake server is not LDAP and hangs up after TLS
            with pytest.raises(DirectoryUnavailable):
                directory.delete_computer("EC2ABC123", DOMAIN, OU)
        finally:
            discovery.discover = original  # type: ignore[assignment]
            discovery.clear_cache()
    # THEN the handshake to 127.0.0.1 verified the certificate against the DC's name
    assert tls.handshakes == 1

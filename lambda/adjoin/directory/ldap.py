"""The `ldap` adapter of the directory port: pre-create and remove computer objects over LDAP.

The Lambda binds as the delegated join user (`adJoinUserName`), over LDAPS (default) or StartTLS,
verifying the domain controller's certificate against `ca_cert_pem` or the system store and its
host name. It adds the computer object with its one-time password in the requested OU, resets that
password when the object already exists (so a retried join is idempotent), and deletes the object
with the tree-delete control on termination.

`security="seal"` (NTLM signing and sealing on port 389) is refused: ldap3 2.9.1 does not implement
NTLM session security, and an unsealed NTLM or simple bind on port 389 is both rejected by domain
controllers that require strong authentication and unsafe for setting a password.

No password ever appears in a message, a log line or an exception raised by this module: errors
are rebuilt from the LDAP result code and description, scrubbed of both secrets, and raised without
the original exception attached.
"""

from __future__ import annotations

import math
import re
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Final

from ldap3 import (
    NONE,
    SIMPLE,
    SUBTREE,
    Connection,
    Server,
    Tls,
)
from ldap3.core import exceptions as ldap_exc
from ldap3.utils.conv import escape_filter_chars

from adjoin.directory.base import ComputerAccount
from adjoin.errors import DirectoryError, DirectoryUnavailable

SECURITY_MODES: Final = ("ldaps", "starttls", "seal")
TREE_DELETE_OID: Final = "1.2.840.113556.1.4.805"
# userAccountControl of a pre-created workstation account: WORKSTATION_TRUST_ACCOUNT (0x1000),
# enabled, password required. This is what `adcli preset-computer` / ADUC create and what
# `adcli join --login-type=computer` (one-time password) expects to find.
WORKSTATION_TRUST_ACCOUNT: Final = 0x1000
COMPUTER_OBJECT_CLASSES: Final = ("top", "person", "organizationalPerson", "user", "computer")
# NetBIOS computer names: letters, digits and hyphens; 1-15 characters; not all digits; no
# leading or trailing hyphen. Stricter than AD, so a name is never changed or truncated by AD.
_NAME_RE: Final = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,13}[A-Za-z0-9])?$")
_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN_RE: Final = re.compile(rf"^(?=.{{1,253}}$)(?:{_LABEL}\.)+{_LABEL}$")

# LDAP result codes that mean "try again later" rather than "this cannot work".
_TRANSIENT_RESULTS: Final = (
    ldap_exc.LDAPBusyResult,
    ldap_exc.LDAPUnavailableResult,
    ldap_exc.LDAPTimeLimitExceededResult,
    ldap_exc.LDAPAdminLimitExceededResult,
)
_CONNECTION_ERRORS: Final = (
    ldap_exc.LDAPCommunicationError,  # socket open/send/receive, session terminated by server
    ldap_exc.LDAPServerPoolExhaustedError,
    ldap_exc.LDAPStartTLSError,
    ldap_exc.LDAPResponseTimeoutError,
    ldap_exc.LDAPSocketOpenError,
    TimeoutError,
    OSError,
)


def validate_computer_name(name: str) -> str:
    """Return the name upper-cased, or raise DirectoryError: never truncate or alter it."""
    if not _NAME_RE.fullmatch(name) or name.isdigit():
        raise DirectoryError(
            f"invalid computer name {name!r}: 1-15 letters, digits or inner hyphens, not all "
            "digits (NetBIOS limit; names are never truncated)",
            reason="invalid_computer_name",
        )
    return name.upper()


def domain_to_dn(domain: str) -> str:
    """`ad.example.com` -> `DC=ad,DC=example,DC=com`."""
    if not _DOMAIN_RE.fullmatch(domain):
        raise DirectoryError(f"invalid domain name {domain!r}", reason="invalid_domain")
    return ",".join(f"DC={label}" for label in domain.lower().split("."))


def encode_unicode_pwd(password: str) -> bytes:
    """The form AD expects in `unicodePwd`: the quoted password in UTF-16-LE."""
    return f'"{password}"'.encode("utf-16-le")


class LdapDirectory:
    """Directory port over LDAP(S) with the delegated join user."""

    def __init__(
        self,
        servers: Sequence[str] | str,
        domain: str,
        user: str,
        password: str,
        *,
        security: str = "ldaps",
        ca_cert_pem: str | None = None,
        port: int | None = None,
        timeout: float = 10.0,
    ) -> None:
        hosts = servers.split(",") if isinstance(servers, str) else servers
        self._hosts = [h for h in (s.strip() for s in hosts) if h]
        if not self._hosts:
            raise DirectoryError("no LDAP server configured", reason="directory_config")
        if security not in SECURITY_MODES:
            raise DirectoryError(
                f"unknown ldap security {security!r}: use one of {', '.join(SECURITY_MODES)}",
                reason="directory_config",
            )
        if security == "seal":
            raise DirectoryError(
                "ldap security 'seal' (NTLM sign and seal) is not supported by ldap3 2.9.1; "
                "use 'ldaps' or 'starttls'",
                reason="directory_config",
            )
        self.domain = domain.lower().rstrip(".")
        self.base_dn = domain_to_dn(self.domain)
        self.security = security
        self.port = port if port is not None else (636 if security == "ldaps" else 389)
        self.timeout = timeout
        self._user = user
        self._password = password
        self._ca_cert_pem = ca_cert_pem

    def __repr__(self) -> str:
        return (
            f"LdapDirectory(servers={self._hosts!r}, domain={self.domain!r}, "
            f"user={self._user!r}, security={self.security!r}, port={self.port})"
        )

    # ---- the port -----------------------------------------------------------------------
    def create_computer(self, account: ComputerAccount) -> None:
        name = validate_computer_name(account.name)
        container = account.ou or f"CN=Computers,{self.base_dn}"
        dn = f"CN={name},{container}"
        if not account.one_time_password:
            raise DirectoryError("empty one-time password", reason="directory_config")
        secrets = (account.one_time_password,)
        with self._session(f"create computer {name}", secrets) as conn:
            existing = self._find(conn, name)
            if existing is None:
                try:
                    conn.add(
                        dn,
                        list(COMPUTER_OBJECT_CLASSES),
                        {
                            "cn": name,
                            "sAMAccountName": f"{name}$",
                            "userAccountControl": WORKSTATION_TRUST_ACCOUNT,
                            "dNSHostName": f"{name.lower()}.{account.domain.lower()}",
                            "unicodePwd": encode_unicode_pwd(account.one_time_password),
                        },
                    )
                    return
                except ldap_exc.LDAPEntryAlreadyExistsResult:
                    existing = self._find(conn, name) or dn  # lost a race: reset instead
            # ldap3's Active Directory password reset (unicodePwd replace, no old password).
            conn.extend.microsoft.modify_password(existing, account.one_time_password)

    def delete_computer(self, name: str, domain: str, ou: str | None) -> bool:
        name = validate_computer_name(name)
        with self._session(f"delete computer {name}", ()) as conn:
            dn = self._find(conn, name)
            if dn is None:
                return False
            try:
                conn.delete(dn, controls=[(TREE_DELETE_OID, True, None)])
            except ldap_exc.LDAPNoSuchObjectResult:
                return False
            return True

    # ---- internals ----------------------------------------------------------------------
    def _find(self, conn: Any, name: str) -> str | None:
        """DN of the computer whose sAMAccountName is NAME$, anywhere in the domain."""
        conn.search(
            self.base_dn,
            f"(&(objectClass=computer)(sAMAccountName={escape_filter_chars(name)}$))",
            search_scope=SUBTREE,
            attributes=["distinguishedName"],
            size_limit=2,
        )
        for entry in conn.response or []:
            if entry.get("type") == "searchResEntry":
                return str(entry["dn"])
        return None

    def _tls(self) -> Tls:
        return _VerifiedTls(validate=ssl.CERT_REQUIRED, ca_certs_data=self._ca_cert_pem)

    def _connect(self) -> Any:
        """An open, bound connection to the first server that answers, in the configured order.

        ldap3's ServerPool is not used: it sleeps 10 s after a failed round, which a Lambda
        invocation cannot afford. A certificate failure stops at once (the next domain
        controller's certificate comes from the same CA). Overridden by unit tests (MOCK_SYNC).
        """
        last: Exception | None = None
        for host in self._hosts:
            server = Server(
                host,
                port=self.port,
                use_ssl=self.security == "ldaps",
                tls=self._tls(),
                connect_timeout=self.timeout,
                get_info=NONE,  # no anonymous schema read
            )
            conn = Connection(
                server,
                user=self._user,
                password=self._password,
                authentication=SIMPLE,
                receive_timeout=max(1, math.ceil(self.timeout)),  # ldap3 packs it as an integer
                raise_exceptions=True,
                auto_bind=False,
                read_only=False,
            )
            try:
                conn.open()
                if self.security == "starttls":
                    conn.start_tls(read_server_info=False)
            except _CONNECTION_ERRORS as exc:
                if _is_certificate_error(exc):
                    raise
                last = exc
                continue
            conn.bind()
            return conn
        assert last is not None  # noqa: S101 - the constructor guarantees one host at least
        raise last

    @contextmanager
    def _session(self, what: str, secrets: Sequence[str]) -> Iterator[Any]:
        scrub = (self._password, *secrets)
        conn = None
        try:
            conn = self._connect()
            yield conn
        except (DirectoryError, DirectoryUnavailable):
            raise
        except ldap_exc.LDAPInvalidCredentialsResult:
            raise DirectoryError(
                f"{what}: the directory refused the join user's credentials",
                reason="directory_auth",
            ) from None
        except _TRANSIENT_RESULTS as exc:
            raise DirectoryUnavailable(_describe(what, exc, scrub)) from None
        except ldap_exc.LDAPOperationResult as exc:  # access rights, constraint violation, ...
            raise DirectoryError(_describe(what, exc, scrub)) from None
        except ldap_exc.LDAPCertificateError:
            raise DirectoryError(
                f"{what}: the domain controller's certificate does not match its name",
                reason="directory_tls",
            ) from None
        except _CONNECTION_ERRORS as exc:
            if _is_certificate_error(exc):  # wrong CA or name: retrying cannot help
                raise DirectoryError(
                    f"{what}: the domain controller's certificate is not trusted "
                    "(check ldapCaCertParam)",
                    reason="directory_tls",
                ) from None
            raise DirectoryUnavailable(
                f"{what}: cannot reach {', '.join(self._hosts)}:{self.port} ({type(exc).__name__})"
            ) from None
        except ldap_exc.LDAPException as exc:
            raise DirectoryError(f"{what}: {type(exc).__name__}") from None
        finally:
            if conn is not None:
                with suppress(ldap_exc.LDAPException, OSError):
                    conn.unbind()


class _VerifiedTls(Tls):  # type: ignore[misc]  # ldap3 ships no type hints
    """ldap3's Tls, with the certificate chain, host name and IP address checked by Python's own
    ssl module (TLS 1.2 or later). ldap3 2.9.1 checks names itself, and on Python 3.12 its
    fallback cannot match IP-address SANs, so server lists of IPs (the `dnsIP1`/`dnsIP2`
    default) would fail there.
    """

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        context = ssl.create_default_context(cadata=self.ca_certs_data)  # system store if None
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        connection.socket = context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=connection.server.host,
        )


def _is_certificate_error(exc: BaseException) -> bool:
    """ldap3 wraps ssl's verification errors (chain or name) in its socket errors."""
    return isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _scrub(text: object, secrets: Sequence[str]) -> str:
    out = str(text)
    for secret in secrets:
        if secret:
            out = out.replace(secret, "***")
    return out


def _describe(what: str, exc: Any, secrets: Sequence[str]) -> str:
    """`what: insufficientAccessRights (50): <server message>`, never with a secret."""
    description = getattr(exc, "description", None) or type(exc).__name__
    code = getattr(exc, "result", None)
    message = getattr(exc, "message", "") or ""
    text = f"{what}: {description}" + (f" ({code})" if code is not None else "")
    if message:
        text += f": {str(message).strip()}"
    return _scrub(text, secrets)


__all__ = [
    "TREE_DELETE_OID",
    "WORKSTATION_TRUST_ACCOUNT",
    "LdapDirectory",
    "domain_to_dn",
    "encode_unicode_pwd",
    "validate_computer_name",
]

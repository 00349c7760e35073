"""The `ldap` adapter of the directory port: pre-create and remove computer objects over LDAP.

The Lambda binds as the delegated join user (`adJoinUserName`; a bare name is bound as
`name@<domain>`, the user principal name form, since AD's simple bind does not take a bare
sAMAccountName), over LDAPS (default) or StartTLS. The domain controllers are the config item's
`ldapServers`, or, without it, the domain's own DNS names them (adjoin.directory.discovery). The
certificate is verified against `ca_cert_pem` or the system store and against the controller's
name. The adapter adds the computer object with its one-time password and owner stamp
(`description`, adjoin.ownership) in the requested OU, resets that password (and writes the
stamp) when the object already exists (so a retried join is idempotent), reports the controller
that holds the account (the join must use it before it has replicated), and deletes the object
with the tree-delete control on termination, then the host's A records and the PTR records that
point to it in the domain's AD-integrated zones (adjoin.directory.dns_records).
`stamped_computers` lists the stamped objects of an OU for the reconciler.

`security="seal"` (NTLM signing and sealing on port 389) is refused: ldap3 2.9.1 does not implement
NTLM session security, and an unsealed NTLM or simple bind on port 389 is both rejected by domain
controllers that require strong authentication and unsafe for setting a password.

Every failure says what went wrong and what to set: the TLS check that failed (untrusted CA,
name mismatch, expired), the bind refusal AD reports in its `data` code, missing rights in the
OU, a missing OU, an unreachable controller. No password ever appears in a message, a log line
or an exception raised by this module: errors are rebuilt from the LDAP result code and
description, scrubbed of both secrets, and raised without the original exception attached.
"""

from __future__ import annotations

import math
import re
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Final

from ldap3 import (
    ANONYMOUS,
    BASE,
    LEVEL,
    MODIFY_DELETE,
    MODIFY_REPLACE,
    NONE,
    SIMPLE,
    SUBTREE,
    Connection,
    Server,
    Tls,
)
from ldap3.core import exceptions as ldap_exc
from ldap3.utils.conv import escape_filter_chars

from adjoin import ownership
from adjoin.directory import discovery, dns_records
from adjoin.directory.base import ComputerAccount, StampedComputer
from adjoin.errors import DirectoryError, DirectoryUnavailable
from adjoin.log import logger

SECURITY_MODES: Final = ("ldaps", "starttls", "seal")
TREE_DELETE_OID: Final = "1.2.840.113556.1.4.805"
PAGE_SIZE: Final = 500
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


# AD's reasons for a refused bind: the `data` code of the invalidCredentials diagnostic is a
# Win32 error code in hex (System Error Codes 1300-1699 and 1700-3999,
# https://learn.microsoft.com/en-us/windows/win32/debug/system-error-codes--1300-1699- and
# https://learn.microsoft.com/en-us/windows/win32/debug/system-error-codes--1700-3999-).
# What Samba 4.17 answers, checked on the real DC (tests/ad/test_directory_errors.py): 52e also
# for an unknown user (a simple bind does not tell the two apart; an LDAP ping does), 533, 701,
# 773 and 775 as listed.
BIND_DATA_CODES: Final = {
    # ERROR_LOGON_FAILURE 1326
    "52e": (
        "wrong password",
        "directory_auth_password",
        "the user exists: check the password stored in adJoinUserPwParam",
    ),
    # ERROR_INVALID_LOGON_HOURS 1328
    "530": (
        "not permitted to log on at this time",
        "directory_auth_account",
        "lift the logon-hours restriction of the join user",
    ),
    # ERROR_INVALID_WORKSTATION 1329
    "531": (
        "not permitted to log on from this workstation",
        "directory_auth_account",
        "clear the join user's logon workstations (userWorkstations)",
    ),
    # ERROR_PASSWORD_EXPIRED 1330
    "532": (
        "the password has expired",
        "directory_auth_account",
        "set a new password on the join user and store it in adJoinUserPwParam",
    ),
    # ERROR_ACCOUNT_DISABLED 1331
    "533": (
        "the account is disabled",
        "directory_auth_account",
        "enable the join user",
    ),
    # ERROR_ACCOUNT_EXPIRED 1793
    "701": (
        "the account has expired",
        "directory_auth_account",
        "extend the join user's account expiry (accountExpires)",
    ),
    # ERROR_PASSWORD_MUST_CHANGE 1907
    "773": (
        "the password must be changed before first use",
        "directory_auth_account",
        "set a new password on the join user (no 'change at next logon') and store it in "
        "adJoinUserPwParam",
    ),
    # ERROR_ACCOUNT_LOCKED_OUT 1909
    "775": (
        "the account is locked out",
        "directory_auth_account",
        "unlock the join user, and check what keeps trying a wrong password",
    ),
}
_DATA_CODE_RE: Final = re.compile(r"\bdata ([0-9a-fA-F]{3,8})\b")

# Which certificate check failed: OpenSSL's verify codes (x509_vfy.h, "openssl-verify"
# https://docs.openssl.org/3.0/man1/openssl-verification-options/), as Python's
# ssl.SSLCertVerificationError.verify_code reports them
# (https://docs.python.org/3/library/ssl.html#ssl.SSLCertVerificationError).
_UNTRUSTED: Final = (
    "the certificate is not signed by a trusted CA",
    "directory_tls_untrusted",
    "put the PEM of the CA that signed the domain controllers' certificates in the SSM "
    "parameter named by ldapCaCertParam",
)
TLS_CHECKS: Final = {
    2: _UNTRUSTED,  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
    7: _UNTRUSTED,  # X509_V_ERR_CERT_SIGNATURE_FAILURE (another CA of the same name)
    18: _UNTRUSTED,  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
    19: _UNTRUSTED,  # X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
    20: _UNTRUSTED,  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21: _UNTRUSTED,  # X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
    9: (
        "the certificate is not valid yet",
        "directory_tls_expired",
        "check the clock of the domain controller {name} and the dates of its certificate",
    ),  # X509_V_ERR_CERT_NOT_YET_VALID
    10: (
        "the certificate has expired",
        "directory_tls_expired",
        "renew the certificate of the domain controller {name}",
    ),  # X509_V_ERR_CERT_HAS_EXPIRED
    62: (
        "the certificate does not carry the name {name}",
        "directory_tls_name",
        "leave ldapServers empty so the controllers are found by their DNS names, or list in "
        "ldapServers the names their certificates carry",
    ),  # X509_V_ERR_HOSTNAME_MISMATCH
    64: (
        "the certificate does not carry the IP address {name}",
        "directory_tls_name",
        "domain controller certificates name the DC, not its address: leave ldapServers empty "
        "(the controllers are then found by name in DNS) or list their DNS names there",
    ),  # X509_V_ERR_IP_ADDRESS_MISMATCH
}
_TLS_UNKNOWN: Final = (
    "the certificate could not be verified",
    "directory_tls",
    "check the domain controller's certificate and ldapCaCertParam",
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
    """Directory port over LDAP(S) with the delegated join user.

    `servers`: the domain controllers to try in order (names or IP addresses; the certificate
    must carry what is given). Empty: discover them from the domain's DNS at `dns_servers`.
    """

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
        dns_servers: Sequence[str] = (),
    ) -> None:
        hosts = servers.split(",") if isinstance(servers, str) else servers
        self._hosts = [h for h in (s.strip() for s in hosts) if h]
        self._dns_servers = tuple(s.strip() for s in dns_servers if s.strip())
        if not self._hosts and not self._dns_servers:
            raise DirectoryError(
                "no LDAP server configured: set ldapServers, or dnsIP1 to discover them",
                reason="directory_config",
            )
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
        self._user = bind_name(user, self.domain)
        self._password = password
        self._ca_cert_pem = ca_cert_pem
        self.last_dns_removed = 0  # DNS records the last delete_computer removed

    def __repr__(self) -> str:
        return (
            f"LdapDirectory(servers={self._hosts!r}, dns_servers={self._dns_servers!r}, "
            f"domain={self.domain!r}, user={self._user!r}, security={self.security!r}, "
            f"port={self.port})"
        )

    @property
    def user(self) -> str:
        """The name the adapter binds with (a bare adJoinUserName gets @domain)."""
        return self._user

    # ---- the port -----------------------------------------------------------------------
    def create_computer(self, account: ComputerAccount) -> str | None:
        name = validate_computer_name(account.name)
        container = account.ou or f"CN=Computers,{self.base_dn}"
        dn = f"CN={name},{container}"
        if not account.one_time_password:
            raise DirectoryError("empty one-time password", reason="directory_config")
        secrets = (account.one_time_password,)
        with self._session(f"create computer {name}", secrets, container) as (conn, controller):
            existing = self._find(conn, name)
            if existing is None:
                attributes: dict[str, Any] = {
                    "cn": name,
                    "sAMAccountName": f"{name}$",
                    "userAccountControl": WORKSTATION_TRUST_ACCOUNT,
                    "dNSHostName": f"{name.lower()}.{account.domain.lower()}",
                    "unicodePwd": encode_unicode_pwd(account.one_time_password),
                }
                if account.owner is not None:
                    attributes[ownership.ATTRIBUTE] = account.owner.format()
                try:
                    conn.add(dn, list(COMPUTER_OBJECT_CLASSES), attributes)
                    return controller
                except ldap_exc.LDAPEntryAlreadyExistsResult:
                    existing = self._find(conn, name) or dn  # lost a race: reset instead
            # ldap3's Active Directory password reset (unicodePwd replace, no old password).
            conn.extend.microsoft.modify_password(existing, account.one_time_password)
            if account.owner is not None:  # the join takes the object over for this instance
                stamp = account.owner.format()
                conn.modify(existing, {ownership.ATTRIBUTE: [(MODIFY_REPLACE, [stamp])]})
            return controller

    def delete_computer(self, name: str, domain: str, ou: str | None) -> bool:
        """Delete the object (tree delete), then its DNS records; True when the object was
        there. The records go even when the object was already gone (a retried leave)."""
        name = validate_computer_name(name)
        with self._session(f"delete computer {name}", (), ou) as (conn, _):
            dn = self._find(conn, name)
            deleted = False
            if dn is not None:
                try:
                    conn.delete(dn, controls=[(TREE_DELETE_OID, True, None)])
                    deleted = True
                except ldap_exc.LDAPNoSuchObjectResult:
                    pass
            self.last_dns_removed = self._delete_dns(conn, name)
            return deleted

    def stamped_computers(self, ou: str | None) -> list[StampedComputer]:
        """The computer objects under OU (default: the whole domain) that carry an owner stamp,
        sorted by name. Objects without a valid stamp are not listed."""
        base = ou or self.base_dn
        found: list[StampedComputer] = []
        with self._session(f"list stamped computers in {base}", (), ou) as (conn, _):
            for entry in self._paged(
                conn,
                base,
                f"(&(objectClass=computer)({ownership.ATTRIBUTE}={ownership.PREFIX} *))",
                ["sAMAccountName", ownership.ATTRIBUTE, "whenCreated"],
            ):
                attrs = entry.get("attributes") or {}
                owner = ownership.parse(_first(attrs.get(ownership.ATTRIBUTE)))
                sam = _first(attrs.get("sAMAccountName")) or ""
                if owner is None or not sam.endswith("$"):
                    continue
                found.append(
                    StampedComputer(
                        name=sam[:-1].upper(),
                        dn=str(entry["dn"]),
                        owner=owner,
                        created=_iso_time(attrs.get("whenCreated")),
                    )
                )
        return sorted(found, key=lambda c: c.name)

    # ---- internals ----------------------------------------------------------------------
    @staticmethod
    def _paged(conn: Any, base: str, query: str, attributes: list[str]) -> list[dict[str, Any]]:
        """Every entry of a subtree search, page by page (Simple Paged Results control)."""
        entries: list[dict[str, Any]] = []
        cookie: Any = None
        while True:
            conn.search(
                base,
                query,
                search_scope=SUBTREE,
                attributes=attributes,
                paged_size=PAGE_SIZE,
                paged_cookie=cookie,
            )
            entries += [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
            control = ((conn.result or {}).get("controls") or {}).get("1.2.840.113556.1.4.319")
            cookie = ((control or {}).get("value") or {}).get("cookie")
            if not cookie:
                return entries

    @staticmethod
    def _search(conn: Any, base: str, query: str, scope: str, attributes: list[str]) -> list[Any]:
        """Entries of a search; a base that does not exist (a partition or zone the domain does
        not have) gives none."""
        try:
            conn.search(base, query, search_scope=scope, attributes=attributes)
        except ldap_exc.LDAPNoSuchObjectResult:
            return []
        return [e for e in conn.response or [] if e.get("type") == "searchResEntry"]

    def _delete_dns(self, conn: Any, name: str) -> int:
        """Remove the A records of NAME.<domain> (its dnsNode) and the PTR records pointing to
        that name, from every AD-integrated zone of the domain. Returns how many records went.

        Only the records of this host go: a reverse node that also holds another name's PTR
        keeps that value. A refusal (the join user may not delete DNS records: docs/real-ad.md)
        is logged and does not fail the leave; the computer object is already gone.
        """
        host, fqdn = name.lower(), f"{name.lower()}.{self.domain}"
        removed = 0
        addresses: set[str] = set()
        try:
            for zones in dns_records.zone_bases(self.base_dn):
                zone_dn = f"DC={self.domain},{zones}"
                query = f"(&(objectClass=dnsNode)(dc={escape_filter_chars(host)}))"
                for node in self._search(conn, zone_dn, query, LEVEL, ["dnsRecord"]):
                    values = _values(node, "dnsRecord")
                    records = [r for r in map(dns_records.parse_record, values) if r]
                    addresses.update(a for a in map(dns_records.ipv4_of, records) if a)
                    conn.delete(str(node["dn"]))
                    removed += len(values)
            for zones in dns_records.zone_bases(self.base_dn):
                query = "(&(objectClass=dnsZone)(dc=*.in-addr.arpa))"
                for zone in self._search(conn, zones, query, LEVEL, ["dc"]):
                    zone_name = _first((zone.get("attributes") or {}).get("dc")) or ""
                    for address in sorted(addresses):
                        node = dns_records.reverse_node(address, zone_name)
                        if node is not None:
                            removed += self._delete_ptr(conn, f"DC={node},{zone['dn']}", fqdn)
        except ldap_exc.LDAPInsufficientAccessRightsResult as exc:
            logger.warning(
                "could not remove the DNS records of a computer",
                extra={"computer_name": name, "error": _describe("delete DNS", exc, ())},
            )
        return removed

    def _delete_ptr(self, conn: Any, node_dn: str, fqdn: str) -> int:
        entries = self._search(conn, node_dn, "(objectClass=dnsNode)", BASE, ["dnsRecord"])
        if not entries:
            return 0
        values = _values(entries[0], "dnsRecord")
        ours = [
            v
            for v in values
            if (r := dns_records.parse_record(v)) is not None and dns_records.name_of(r) == fqdn
        ]
        if not ours:
            return 0
        if len(ours) == len(values):
            conn.delete(node_dn)
        else:
            conn.modify(node_dn, {"dnsRecord": [(MODIFY_DELETE, ours)]})
        return len(ours)

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

    def _controllers(self) -> list[tuple[str, str]]:
        """(address to connect to, name the certificate must carry), in the order to try."""
        if self._hosts:
            return [(host, host) for host in self._hosts]
        found = discovery.discover(self.domain, self._dns_servers, timeout=self.timeout)
        return [(dc.address, dc.name) for dc in found]

    def _server(self, address: str, name: str) -> Any:
        return Server(
            address,
            port=self.port,
            use_ssl=self.security == "ldaps",
            tls=_VerifiedTls(
                validate=ssl.CERT_REQUIRED, ca_certs_data=self._ca_cert_pem, server_name=name
            ),
            connect_timeout=self.timeout,
            get_info=NONE,  # no anonymous schema read
        )

    def _open(self, server: Any, *, user: str | None, password: str | None) -> Any:
        conn = Connection(
            server,
            user=user,
            password=password,
            authentication=SIMPLE if user else ANONYMOUS,
            receive_timeout=max(1, math.ceil(self.timeout)),  # ldap3 packs it as an integer
            raise_exceptions=True,
            auto_bind=False,
            read_only=False,
        )
        try:
            conn.open()
            if self.security == "starttls":
                conn.start_tls(read_server_info=False)
        except _CONNECTION_ERRORS:
            failure = server.tls.failure
            if failure is not None:  # retrying another controller cannot help
                raise _TlsFailure(failure, server.tls.server_name) from None
            raise
        return conn

    def _connect(self) -> tuple[Any, str]:
        """An open, bound connection to the first controller that answers, and its name.

        ldap3's ServerPool is not used: it sleeps 10 s after a failed round, which a Lambda
        invocation cannot afford. A certificate failure stops at once (the next domain
        controller's certificate comes from the same CA). Overridden by unit tests (MOCK_SYNC).
        """
        last: Exception | None = None
        for address, name in self._controllers():
            server = self._server(address, name)
            try:
                conn = self._open(server, user=self._user, password=self._password)
            except _CONNECTION_ERRORS as exc:
                last = exc
                continue
            try:
                conn.bind()
            except ldap_exc.LDAPInvalidCredentialsResult as exc:
                raise _BindRefused(str(getattr(exc, "message", "") or ""), server) from None
            return conn, name
        assert last is not None  # noqa: S101 - there is one controller at least
        raise last

    def _user_exists(self, server: Any) -> bool | None:
        """Does the join user's account exist? Asked anonymously with an LDAP ping (MS-ADTS
        6.3.3: a rootDSE search for the `Netlogon` attribute with a `User` filter, answered with
        the opcode LOGON_SAM_LOGON_RESPONSE_EX (23), or LOGON_SAM_USER_UNKNOWN_EX (25) when no
        such account exists:
        https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-adts/895a7744-aff3-4f64-bcfa-f8c05915d2e9).
        Only after a refused bind, to tell an unknown user from a wrong password, which a
        simple bind answers alike (data 52e). None when the ping gives no answer."""
        sam = sam_account_name(self._user)
        if not sam:
            return None
        query = (
            f"(&(DnsDomain={escape_filter_chars(self.domain)})(User={escape_filter_chars(sam)})"
            r"(NtVer=\16\00\00\00)(AAC=\10\00\00\00))"
        )
        conn = None
        try:
            conn = self._open(server, user=None, password=None)
            conn.search("", query, search_scope=BASE, attributes=["Netlogon"])
            for entry in conn.response or []:
                raw = (entry.get("raw_attributes") or {}).get("Netlogon") or [b""]
                if len(raw[0]) >= 2:
                    return {23: True, 25: False}.get(int.from_bytes(raw[0][:2], "little"))
        except (ldap_exc.LDAPException, OSError, _TlsFailure):
            return None
        finally:
            if conn is not None:
                with suppress(ldap_exc.LDAPException, OSError):
                    conn.unbind()
        return None

    def _bind_error(self, what: str, refused: _BindRefused) -> DirectoryError:
        code = bind_data_code(refused.message)
        exists = self._user_exists(refused.server) if code in (None, "52e", "525") else True
        if code == "525" or exists is False:
            return DirectoryError(
                f"{what}: the directory has no user {self._user!r} (AD bind data "
                f"{code or 'none'}; no account with sAMAccountName "
                f"{sam_account_name(self._user)!r}): check adJoinUserName; use user@domain, "
                "DOMAIN\\user or the user's DN (a bare name is bound as name@dnsName)",
                reason="directory_auth_user",
            )
        if code in BIND_DATA_CODES and (code != "52e" or exists):
            meaning, reason, action = BIND_DATA_CODES[code]
        else:  # the user may exist or not: AD does not say, and the LDAP ping did not answer
            meaning, reason, action = (
                "unknown user name or wrong password",
                "directory_auth",
                "check that adJoinUserName names an existing user and the password stored in "
                "adJoinUserPwParam",
            )
        return DirectoryError(
            f"{what}: the directory refused the join user {self._user!r}: {meaning} "
            f"(AD bind data {code or 'none'}): {action}",
            reason=reason,
        )

    @contextmanager
    def _session(
        self, what: str, secrets: Sequence[str], container: str | None
    ) -> Iterator[tuple[Any, str]]:
        scrub = (self._password, *secrets)
        conn = None
        try:
            conn, controller = self._connect()
            yield conn, controller
        except (DirectoryError, DirectoryUnavailable):
            raise
        except _BindRefused as refused:
            raise self._bind_error(what, refused) from None
        except _TlsFailure as failure:
            raise DirectoryError(f"{what}: {failure.explain()}", reason=failure.reason) from None
        except ldap_exc.LDAPInsufficientAccessRightsResult as exc:
            raise DirectoryError(
                _describe(what, exc, scrub)
                + f" - the join user {self._user!r} lacks the right to create, change or delete "
                f"computer objects in {container or 'this OU'}: delegate them on that OU "
                "(docs/real-ad.md) or choose another computerOU",
                reason="directory_access",
            ) from None
        except ldap_exc.LDAPNoSuchObjectResult as exc:
            raise DirectoryError(
                _describe(what, exc, scrub)
                + f" - the OU {container or '(none)'} does not exist in {self.domain}: create "
                "it, or fix computerOU / the adComputerOU tag",
                reason="directory_ou_missing",
            ) from None
        except _TRANSIENT_RESULTS as exc:
            raise DirectoryUnavailable(_describe(what, exc, scrub)) from None
        except ldap_exc.LDAPOperationResult as exc:  # constraint violation, ...
            raise DirectoryError(_describe(what, exc, scrub)) from None
        except _CONNECTION_ERRORS as exc:
            where = ", ".join(self._hosts) or f"the domain controllers of {self.domain} in DNS"
            raise DirectoryUnavailable(
                f"{what}: cannot reach {where} on port {self.port} ({type(exc).__name__}): "
                "check that the Lambda's subnets and security group reach the domain "
                f"controllers on TCP {self.port}"
            ) from None
        except ldap_exc.LDAPException as exc:
            raise DirectoryError(f"{what}: {type(exc).__name__}") from None
        finally:
            if conn is not None:
                with suppress(ldap_exc.LDAPException, OSError):
                    conn.unbind()


def bind_name(user: str, domain: str) -> str:
    """The name to bind with: `user@domain` for a bare name. AD's simple bind takes a user
    principal name, a down-level `DOMAIN\\user` or a DN, not a bare sAMAccountName (MS-ADTS
    5.1.1.1.1, "Simple Authentication":
    https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-adts/ba79ad6e-0cfd-4c21-9fba-cc8a0dd7fe04)."""
    user = user.strip()
    if not user or "@" in user or "\\" in user or "=" in user:
        return user
    return f"{user}@{domain}"


def sam_account_name(user: str) -> str:
    """The sAMAccountName a bind name most likely stands for ("" for a DN)."""
    if "=" in user:
        return ""
    return user.rsplit("\\", 1)[-1].split("@", 1)[0]


def bind_data_code(message: str) -> str | None:
    """AD's reason for a refused bind: the `data <hex>` of its diagnostic message, e.g.
    `80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 52e, v1db1`."""
    match = _DATA_CODE_RE.search(message)
    return match.group(1).lower() if match else None


class _BindRefused(Exception):
    """The bind was refused (invalidCredentials): the message and server, for the mapping."""

    def __init__(self, message: str, server: Any) -> None:
        super().__init__("bind refused")
        self.message = message
        self.server = server


class _TlsFailure(Exception):
    """The domain controller's certificate failed a check: which one, from ssl's verify code."""

    def __init__(self, error: ssl.SSLCertVerificationError, name: str) -> None:
        super().__init__("certificate verification failed")
        self.code = int(getattr(error, "verify_code", 0) or 0)
        self.detail = str(getattr(error, "verify_message", "") or "")
        self.name = name

    @property
    def reason(self) -> str:
        return TLS_CHECKS.get(self.code, _TLS_UNKNOWN)[1]

    def explain(self) -> str:
        meaning, _, action = TLS_CHECKS.get(self.code, _TLS_UNKNOWN)
        detail = self.detail or f"verify code {self.code}"
        text = f"TLS to {self.name} failed: {meaning} ({detail}): {action}"
        return text.replace("{name}", self.name)


class _VerifiedTls(Tls):  # type: ignore[misc]  # ldap3 ships no type hints
    """ldap3's Tls, with the certificate chain, host name and IP address checked by Python's own
    ssl module (TLS 1.2 or later) against SERVER_NAME: the controller's DNS name, also when the
    connection goes to its address. (ldap3 2.9.1 checks names itself, and on Python 3.12 its
    fallback cannot match IP-address SANs.) A verification failure is kept in `failure`: ldap3
    rewraps it in its own socket error and loses which check failed.
    """

    def __init__(self, *args: Any, server_name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.server_name = server_name
        self.failure: ssl.SSLCertVerificationError | None = None

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        context = ssl.create_default_context(cadata=self.ca_certs_data)  # system store if None
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            connection.socket = context.wrap_socket(
                connection.socket,
                server_side=False,
                do_handshake_on_connect=do_handshake,
                server_hostname=self.server_name,
            )
        except ssl.SSLCertVerificationError as exc:
            self.failure = exc
            raise


def _first(value: Any) -> str | None:
    """The first value of an attribute as ldap3 returns it (a list or a single value)."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return None if value is None else str(value)


def _iso_time(value: Any) -> str:
    """whenCreated as ISO 8601 UTC: ldap3 gives a datetime with a schema, the LDAP generalized
    time (`20261201162000.0Z`) without one (get_info=NONE); "" when unreadable."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    text = str(value or "")
    if len(text) >= 14 and text[:14].isdigit():
        t = text
        return f"{t[0:4]}-{t[4:6]}-{t[6:8]}T{t[8:10]}:{t[10:12]}:{t[12:14]}+00:00"
    return ""


def _values(entry: dict[str, Any], attribute: str) -> list[bytes]:
    """The raw values of a binary attribute."""
    raw = (entry.get("raw_attributes") or {}).get(attribute)
    if raw is None:
        raw = (entry.get("attributes") or {}).get(attribute) or []
    return [bytes(v) for v in (raw if isinstance(raw, list | tuple) else [raw])]


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
    "BIND_DATA_CODES",
    "TLS_CHECKS",
    "TREE_DELETE_OID",
    "WORKSTATION_TRUST_ACCOUNT",
    "LdapDirectory",
    "bind_data_code",
    "bind_name",
    "domain_to_dn",
    "encode_unicode_pwd",
    "validate_computer_name",
]

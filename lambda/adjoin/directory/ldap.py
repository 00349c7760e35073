"""The `ldap` adapter of the directory port: pre-create and remove computer objects over LDAP.

The Lambda binds as the delegated join user (`adJoinUserName`), over LDAPS (default) or StartTLS,
verifying the domain controller's certificate against `ca_cert_pem` or the system store and its
host name. It adds the computer object with its one-time password and owner stamp
(`description`, adjoin.ownership) in the requested OU, resets that password (and writes the stamp)
when the object already exists (so a retried join is idempotent), and deletes the object with the
tree-delete control on termination, then the host's A records and the PTR records that point to
it in the domain's AD-integrated zones (adjoin.directory.dns_records). `stamped_computers` lists
the stamped objects of an OU for the reconciler.

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
from adjoin.directory import dns_records
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
        self.last_dns_removed = 0  # DNS records the last delete_computer removed

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
                    return
                except ldap_exc.LDAPEntryAlreadyExistsResult:
                    existing = self._find(conn, name) or dn  # lost a race: reset instead
            # ldap3's Active Directory password reset (unicodePwd replace, no old password).
            conn.extend.microsoft.modify_password(existing, account.one_time_password)
            if account.owner is not None:  # the join takes the object over for this instance
                stamp = account.owner.format()
                conn.modify(existing, {ownership.ATTRIBUTE: [(MODIFY_REPLACE, [stamp])]})

    def delete_computer(self, name: str, domain: str, ou: str | None) -> bool:
        """Delete the object (tree delete), then its DNS records; True when the object was
        there. The records go even when the object was already gone (a retried leave)."""
        name = validate_computer_name(name)
        with self._session(f"delete computer {name}", ()) as conn:
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
        with self._session(f"list stamped computers in {base}", ()) as conn:
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

"""Small real servers on 127.0.0.1 for the adapter's network code: a DNS server (answers built
with dnspython) and a TLS server with certificates made on the fly (cryptography)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class FakeDns:
    """UDP DNS server: `records` maps (name, type) to a list of rdata texts; anything else is
    NXDOMAIN. `additional` maps an SRV name to A records put in the answer's additional
    section. `queries` counts what was asked. `silent` drops every query (a dead server)."""

    records: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    additional: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    ttl: int = 600
    silent: bool = False
    queries: list[tuple[str, str]] = field(default_factory=list)
    port: int = 0

    def serve(self, sock: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                wire, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            query = dns.message.from_wire(wire)
            question = query.question[0]
            name = question.name.to_text().lower()
            kind = dns.rdatatype.to_text(question.rdtype)
            self.queries.append((name, kind))
            if self.silent:
                continue
            response = dns.message.make_response(query)
            answers = self.records.get((name, kind))
            if answers is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            else:
                response.answer.append(
                    dns.rrset.from_text_list(name, self.ttl, "IN", kind, answers)
                )
                for target, address in self.additional.get(name, []):
                    response.additional.append(
                        dns.rrset.from_text(target, self.ttl, "IN", "A", address)
                    )
            sock.sendto(response.to_wire(), peer)


@contextmanager
def fake_dns(server: FakeDns) -> Iterator[FakeDns]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)  # a closed socket does not wake a blocked recvfrom: poll the flag
    server.port = sock.getsockname()[1]
    stop = threading.Event()
    thread = threading.Thread(target=server.serve, args=(sock, stop), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()


@dataclass(frozen=True)
class Pki:
    ca_pem: str
    cert_file: Path
    key_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_pki(
    folder: Path,
    *,
    dns_names: tuple[str, ...] = ("dc1.ad.example.com",),
    ips: tuple[str, ...] = (),
    expired: bool = False,
) -> Pki:
    """A CA and a server certificate signed by it, for the names and addresses given."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"test CA {x509.random_serial_number()}")  # each CA its own name
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    start, end = (
        (now - dt.timedelta(days=20), now - dt.timedelta(days=10))
        if expired
        else (now - dt.timedelta(days=1), now + dt.timedelta(days=10))
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(dns_names[0] if dns_names else "server"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Pki(ca.public_bytes(serialization.Encoding.PEM).decode(), cert_file, key_file)


@dataclass
class FakeTls:
    """A TLS server on 127.0.0.1 that completes handshakes and then hangs up (it is not an
    LDAP server): `handshakes` counts the handshakes that succeeded."""

    pki: Pki
    port: int = 0
    handshakes: int = 0


@contextmanager
def fake_tls(**pki_args: object) -> Iterator[FakeTls]:
    with tempfile.TemporaryDirectory() as folder:
        pki = make_pki(Path(folder), **pki_args)  # type: ignore[arg-type]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki.cert_file, pki.key_file)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(0.05)  # as above: accept() is not woken by close()
        server = FakeTls(pki, listener.getsockname()[1])
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                conn.settimeout(5)
                try:
                    with context.wrap_socket(conn, server_side=True) as tls:
                        server.handshakes += 1
                        tls.recv(1)
                except (OSError, ssl.SSLError):
                    conn.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            yield server
        finally:
            stop.set()
            thread.join(timeout=5)
            listener.close()

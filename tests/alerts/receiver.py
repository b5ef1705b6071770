"""A webhook receiver at the network edge: a real HTTPS server on loopback with a certificate from a
throw-away CA made here with ``cryptography``. The console trusts that CA only through
ALERT_WEBHOOK_CA_BUNDLE; nothing switches verification off."""

import datetime
import ipaddress
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NAMES = ["localhost", "hooks.example.com"]
ADDRESSES = ["127.0.0.1", "127.0.0.2"]


@dataclass(frozen=True)
class Certificates:
    ca: Path
    cert: Path
    key: Path


def make_certificates(directory: Path) -> Certificates:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Nexevo test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAMES[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name) for name in NAMES]
                + [x509.IPAddress(ipaddress.ip_address(address)) for address in ADDRESSES]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = Certificates(ca=directory / "ca.pem", cert=directory / "cert.pem", key=directory / "key.pem")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | None = None  # the status sent back, None when none was


HANG = "hang"  # hold the request open until ``release()``, then close without answering
TRICKLE = "trickle"  # answer 200 and then send the body one byte at a time, slowly


@dataclass
class Receiver:
    """Answers each POST with the next of ``answers`` (a status, ``(status, headers)``, a Location
    redirect as ``(302, {"Location": ...})``, HANG or TRICKLE), then 200 once they run out."""

    certificates: Certificates
    host: str = "127.0.0.1"
    answers: list = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    body: bytes = b"ok"

    def __post_init__(self):
        self.arrived = threading.Semaphore(0)
        self.released = threading.Event()
        self._lock = threading.Lock()

    def url(self, name: str = "localhost", path: str = "/hooks/nexevo") -> str:
        return f"https://{name}:{self.port}{path}"

    def __enter__(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver._lock:
                    receiver.requests.append(received)
                    answer = receiver.answers.pop(0) if receiver.answers else 200
                receiver.arrived.release()
                if answer == HANG:
                    receiver.released.wait(60)
                    self.close_connection = True
                    return
                if answer == TRICKLE:
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    received.answered = 200
                    for _ in range(1000):
                        time.sleep(0.2)
                        self.wfile.write(b".")
                        self.wfile.flush()
                    return
                status, headers = answer if isinstance(answer, tuple) else (answer, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(receiver.body)))
                self.end_headers()
                self.wfile.write(receiver.body)
                received.answered = status

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certificates.cert, self.certificates.key)
        self.server = ThreadingHTTPServer((self.host, 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(
            self.server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        """Waits until ``count`` requests arrived (in all), and returns them."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.requests)

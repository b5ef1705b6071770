"""Sends one signed webhook request, safely.

* The address is checked again at send time (``core.netsafety``): HTTPS, a public host, every address
  it resolves to public. The connection then goes to an address that passed, whatever the name
  resolves to a moment later, so a DNS answer that turns private reaches nothing. The host name still
  goes in the ``Host`` header and in TLS (SNI and certificate verification), so the receiver's
  certificate is checked for the name in the URL.
* One deadline (``ALERT_WEBHOOK_TIMEOUT_SECONDS``) covers the whole exchange: connecting, TLS,
  sending, the answer's headers and as much of its body as is read. Every socket operation gets only
  the time that is left, so a receiver that trickles bytes cannot stretch it.
* Redirects are never followed (httpcore does not follow them, and a 3xx is not a 2xx), and at most
  ``ALERT_WEBHOOK_MAX_RESPONSE_BYTES`` of the body are read.
* TLS is verified against certifi's roots, or ``ALERT_WEBHOOK_CA_BUNDLE`` when set.
"""

import email.utils
import functools
import ipaddress
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import certifi
import httpcore
from django.conf import settings

from core import netsafety
from core.netsafety import CheckedUrl, UnsafeUrl, check_webhook_url

_URL_SAFE = "/?&=%:@!$'()*+,;-._~"


@dataclass(frozen=True)
class Outcome:
    status_code: int | None = None
    latency_ms: int = 0
    error: str = ""
    # Seconds the receiver asked us to wait (Retry-After), when it said so.
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, *, body: str, headers: dict[str, str]) -> Outcome:
    """POSTs ``body`` to ``url`` and says how it went; never raises for anything the network does."""
    started = time.monotonic()
    deadline = started + settings.ALERT_WEBHOOK_TIMEOUT_SECONDS

    def outcome(**fields) -> Outcome:
        return Outcome(latency_ms=int((time.monotonic() - started) * 1000), **fields)

    try:
        destination = checked_destination(url)
    except UnsafeUrl as error:
        return outcome(error=f"Refused: {error.message}"[:255])
    parts = urlsplit(destination.url)
    target = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), safe=_URL_SAFE)
    pool = httpcore.ConnectionPool(
        ssl_context=_ssl_context(settings.ALERT_WEBHOOK_CA_BUNDLE or None),
        network_backend=_PinnedBackend(destination.addresses, deadline),
        max_connections=1,
        retries=0,
    )
    timeout = settings.ALERT_WEBHOOK_TIMEOUT_SECONDS
    try:
        with pool.stream(
            "POST",
            httpcore.URL(scheme="https", host=destination.host, port=destination.port, target=target),
            headers=[
                ("Content-Type", "application/json"),
                ("User-Agent", "Nexevo-Webhooks/1"),
                *headers.items(),
            ],
            content=body.encode(),
            extensions={
                "timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout},
                "sni_hostname": destination.host,
            },
        ) as response:
            read = 0
            for chunk in response.iter_stream():
                read += len(chunk)
                if read >= settings.ALERT_WEBHOOK_MAX_RESPONSE_BYTES:
                    break
            return outcome(status_code=response.status, retry_after=_retry_after(response.headers))
    except httpcore.TimeoutException:
        return outcome(error=f"No answer within {timeout} seconds.")
    except httpcore.ConnectError as error:
        return outcome(error=f"Could not connect: {error}"[:255])
    except (httpcore.NetworkError, httpcore.ProtocolError) as error:
        return outcome(error=f"The connection failed: {error}"[:255])
    finally:
        pool.close()


def checked_destination(url: str) -> CheckedUrl:
    """``check_webhook_url`` at send time: the host must resolve, and only to public addresses.

    ``ALERT_WEBHOOK_ALLOWED_NETWORKS`` is empty in every deployment; the test suite puts its loopback
    receivers there. An ``https://`` address without user info whose host resolves (in one lookup,
    like the real check) only into those networks is let through.
    """
    allowed = [ipaddress.ip_network(network) for network in settings.ALERT_WEBHOOK_ALLOWED_NETWORKS]
    if allowed:
        parts = urlsplit(url.strip())
        if parts.scheme == "https" and parts.hostname and parts.username is None and "@" not in parts.netloc:
            host, port = parts.hostname.rstrip("."), parts.port or 443
            addresses = [host] if _is_ip(host) else netsafety.resolve(host, port)
            if addresses and all(
                any(ipaddress.ip_address(address) in network for network in allowed) for address in addresses
            ):
                return CheckedUrl(url=url.strip(), host=host, port=port, addresses=tuple(addresses))
    return check_webhook_url(url, require_resolution=True)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@functools.cache
def _ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_bundle or certifi.where())


def _retry_after(headers) -> float | None:
    """``Retry-After`` in seconds, from either form the header takes (seconds or an HTTP date)."""
    value = next((value.decode("latin-1") for name, value in headers if name.lower() == b"retry-after"), None)
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _remaining(deadline: float, error_type) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise error_type("The delivery deadline passed.")
    return left


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every operation waits at most until the shared deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: float):
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, timeout=_remaining(self._deadline, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, timeout=_remaining(self._deadline, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:
        stream = self._stream.start_tls(
            ssl_context, server_hostname, timeout=_remaining(self._deadline, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(stream, self._deadline)

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class _PinnedBackend(httpcore.SyncBackend):
    """Connects to the checked addresses, in order, never to what the URL's name resolves to now."""

    def __init__(self, addresses: tuple[str, ...], deadline: float):
        self._addresses = addresses
        self._deadline = deadline

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        last_error = httpcore.ConnectError("The host has no address.")
        for address in self._addresses:
            try:
                stream = super().connect_tcp(
                    address,
                    port,
                    timeout=_remaining(self._deadline, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as error:
                last_error = error
                continue
            return _DeadlineStream(stream, self._deadline)
        raise last_error

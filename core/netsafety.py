"""Whether an outgoing webhook address may be called: HTTPS, a public host, nothing clever.

Checked when a webhook is saved and again when it is sent (where the connection is then pinned to
the address that passed), so a DNS answer that changes to a private address reaches nothing.
"""

import ipaddress
import re
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000
RESOLVE_TIMEOUT_SECONDS = 3.0
_CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
# Hosts made only of digits, dots and hex markers are IP addresses in some spelling
# (2130706433, 0177.0.0.1, 0x7f.1); only the plain dotted quad is accepted as one.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]*))*\.?$", re.IGNORECASE)
_resolver_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")


class UnsafeUrl(ValueError):
    """``code`` names the rule the address broke; the message says it to a person."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class CheckedUrl:
    url: str
    host: str
    port: int
    # The public addresses the host resolved to; empty when it did not resolve (yet).
    addresses: tuple[str, ...]


def check_webhook_url(url: str, *, require_resolution: bool = False) -> CheckedUrl:
    """Refuses anything but an ``https://`` address of a public host.

    A host that does not resolve is accepted when saving (its DNS may come later); at send time
    pass ``require_resolution=True``.
    """
    if not isinstance(url, str) or not url.strip():
        raise UnsafeUrl("Give an https:// address.", code="invalid_url")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"The address is longer than {MAX_URL_LENGTH} characters.", code="url_too_long")
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:
        raise UnsafeUrl("That is not a valid address.", code="invalid_url") from None
    if parts.scheme.lower() != "https":
        raise UnsafeUrl("Only https:// addresses are allowed.", code="https_required")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeUrl("The address must not contain a user name or password.", code="userinfo_not_allowed")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrl("The address has no host.", code="invalid_url")

    literal = _ip_literal(host)
    if literal is not None:
        _refuse_non_public(literal)
        return CheckedUrl(url=url, host=host, port=port, addresses=(str(literal),))
    if _NUMERIC_HOST.match(host):
        raise UnsafeUrl(
            "Write an IP address as four decimal numbers (or use a host name).", code="nonstandard_ip"
        )

    addresses = resolve(host, port)
    if not addresses and require_resolution:
        raise UnsafeUrl(f"{host} does not resolve.", code="host_unresolvable")
    for address in addresses:
        _refuse_non_public(ipaddress.ip_address(address), host=host)
    return CheckedUrl(url=url, host=host, port=port, addresses=tuple(addresses))


def resolve(host: str, port: int) -> list[str]:
    """The host's addresses, or an empty list if it does not resolve within a few seconds."""
    future = _resolver_pool.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        answers = future.result(timeout=RESOLVE_TIMEOUT_SECONDS)
    except (OSError, UnicodeError, FutureTimeout):
        return []
    return sorted({answer[4][0].split("%")[0] for answer in answers})


def _ip_literal(host: str):
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _refuse_non_public(ip, *, host: str | None = None) -> None:
    reason = _why_not_public(ip)
    if reason:
        where = f"{host} resolves to {ip}, " if host else f"{ip} is "
        raise UnsafeUrl(f"{where}{reason[1]}; webhooks go to public addresses only.", code=reason[0])


def _why_not_public(ip) -> tuple[str, str] | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return "ipv4_mapped_address", "an IPv4-mapped IPv6 address"
    checks = [
        (ip.is_unspecified, "unspecified_address", "an unspecified address"),
        (ip.is_loopback, "loopback_address", "a loopback address"),
        (ip.is_link_local, "link_local_address", "a link-local address"),
        (
            ip.version == 4 and ip in _CARRIER_GRADE_NAT,
            "carrier_grade_nat_address",
            "a carrier-grade NAT address",
        ),
        (ip.is_multicast, "multicast_address", "a multicast address"),
        (ip.is_private, "private_address", "a private address"),
        (ip.is_reserved, "reserved_address", "a reserved address"),
        (not ip.is_global, "non_public_address", "not a public address"),
    ]
    for failed, code, text in checks:
        if failed:
            return code, text
    return None

"""Whether an outgoing webhook address may be called: HTTPS, a public host, nothing clever.

Checked when a webhook is saved and again when it is sent (where the connection is then pinned to
the address that passed), so a DNS answer that changes to a private address reaches nothing.

The rules are an explicit deny-list from IANA's special-purpose address registries rather than
``ipaddress.is_global`` alone (whose tables change between Python releases), and addresses that
embed an IPv4 address (IPv4-mapped, 6to4, Teredo, NAT64) are judged by the address inside.
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
# Hosts made only of digits, dots and hex markers are IP addresses in some spelling
# (2130706433, 0177.0.0.1, 0x7f.1); only the plain dotted quad is accepted as one.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]*))*\.?$", re.IGNORECASE)
# A host name after IDNA encoding: letters, digits, hyphens and dots, nothing else.
_HOST_NAME = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)*$")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f\\]")
_resolver_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="webhook-dns")

_DENIED_NETWORKS = [
    (ipaddress.ip_network(network), code, text)
    for network, code, text in [
        ("0.0.0.0/8", "unspecified_address", 'an unspecified ("this network") address'),
        ("10.0.0.0/8", "private_address", "a private address"),
        ("100.64.0.0/10", "carrier_grade_nat_address", "a carrier-grade NAT address"),
        ("127.0.0.0/8", "loopback_address", "a loopback address"),
        ("169.254.0.0/16", "link_local_address", "a link-local address"),
        ("172.16.0.0/12", "private_address", "a private address"),
        ("192.0.0.0/24", "reserved_address", "an IETF protocol address"),
        ("192.0.2.0/24", "reserved_address", "a documentation address"),
        ("192.88.99.0/24", "reserved_address", "a 6to4 relay address"),
        ("192.168.0.0/16", "private_address", "a private address"),
        ("198.18.0.0/15", "reserved_address", "a benchmarking address"),
        ("198.51.100.0/24", "reserved_address", "a documentation address"),
        ("203.0.113.0/24", "reserved_address", "a documentation address"),
        ("224.0.0.0/4", "multicast_address", "a multicast address"),
        ("240.0.0.0/4", "reserved_address", "a reserved address"),
        ("::/128", "unspecified_address", "an unspecified address"),
        ("::1/128", "loopback_address", "a loopback address"),
        ("::/96", "reserved_address", "an IPv4-compatible address"),
        ("100::/64", "reserved_address", "a discard-only address"),
        ("2001::/23", "reserved_address", "an IETF protocol address"),
        ("2001:db8::/32", "reserved_address", "a documentation address"),
        ("3fff::/20", "reserved_address", "a documentation address"),
        ("5f00::/16", "reserved_address", "a segment-routing address"),
        ("fc00::/7", "private_address", "a private (unique local) address"),
        ("fe80::/10", "link_local_address", "a link-local address"),
        ("fec0::/10", "private_address", "a site-local address"),
        ("ff00::/8", "multicast_address", "a multicast address"),
    ]
]
_NAT64 = [ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48")]
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")


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
    if _CONTROL_OR_SPACE.search(url):
        raise UnsafeUrl("The address contains spaces, control characters or backslashes.", code="invalid_url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("That is not a valid address.", code="invalid_url") from None
    if parts.scheme.lower() != "https":
        raise UnsafeUrl("Only https:// addresses are allowed.", code="https_required")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeUrl("The address must not contain a user name or password.", code="userinfo_not_allowed")
    if port == 0:
        raise UnsafeUrl("Port 0 cannot be called.", code="invalid_url")
    port = port or 443
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrl("The address has no host.", code="invalid_url")

    literal = _ip_literal(host)
    if literal is not None:
        _refuse_non_public(literal)
        return CheckedUrl(url=url, host=host, port=port, addresses=(str(literal),))
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UnsafeUrl("The host name is not valid.", code="invalid_url") from None
    if not _HOST_NAME.match(ascii_host):
        raise UnsafeUrl(
            "The host name may contain only letters, digits, hyphens and dots.", code="invalid_url"
        )
    if _NUMERIC_HOST.match(ascii_host):
        raise UnsafeUrl(
            "Write an IP address as four decimal numbers (or use a host name).", code="nonstandard_ip"
        )

    addresses = resolve(ascii_host, port)
    if not addresses and require_resolution:
        raise UnsafeUrl(f"{host} does not resolve.", code="host_unresolvable")
    for address in addresses:
        _refuse_non_public(ipaddress.ip_address(address), host=host)
    return CheckedUrl(url=url, host=ascii_host, port=port, addresses=tuple(addresses))


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
    reason = why_not_public(ip)
    if reason:
        where = f"{host} resolves to {ip}, " if host else f"{ip} is "
        raise UnsafeUrl(f"{where}{reason[1]}; webhooks go to public addresses only.", code=reason[0])


def why_not_public(ip) -> tuple[str, str] | None:
    """``(code, reason)`` when the address is not a public one, else None."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return "ipv4_mapped_address", "an IPv4-mapped IPv6 address"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner = why_not_public(embedded)
            if inner:
                return inner[0], f"an IPv6 address wrapping {embedded}, {inner[1]}"
    for network, code, text in _DENIED_NETWORKS:
        if ip.version == network.version and ip in network:
            return code, text
    if not ip.is_global:
        return "non_public_address", "not a public address"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address):
    if ip in _SIX_TO_FOUR:
        return ip.sixtofour
    if ip in _TEREDO:
        return ip.teredo[1]
    for network in _NAT64:
        if ip in network:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None

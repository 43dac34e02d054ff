"""Where an outbound webhook may go: public http(s) addresses only, checked on every attempt (no SSRF).

A merchant types the URL, so it could name the metadata service (169.254.169.254), our own database, or a hostname
that resolves to one of them, now or after a DNS change. So every address the name resolves to must be global, and
the request is then sent to the address that was checked (the hostname kept for Host and TLS), leaving no second
lookup for a rebinding DNS server to answer differently. Loopback and private targets are allowed only when the
development or test setting says so (production refuses that setting at start).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048


class UnsafeTarget(ValueError):
    """The URL is malformed, not http(s), or resolves to an address we refuse; the message says which."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as given
    address: str  # the checked IP the request goes to

    @property
    def pinned_url(self) -> str:
        literal = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{literal}:{self.port}{self.path}"


def check_url(url: str, *, allow_private: bool) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of a well-formed webhook URL; raises UnsafeTarget saying what is wrong."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeTarget(f"the URL is longer than {MAX_URL_LENGTH} characters")
    # urlsplit drops tabs and line breaks while it parses, so a URL with them would pass here and be stored as typed.
    if any(character.isspace() or not character.isprintable() for character in url):
        raise UnsafeTarget("the URL must not contain spaces, line breaks or other control characters")
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError as exc:  # a bracketed host that is not an IPv6 address, or one left open
        raise UnsafeTarget(f"the URL is not well formed ({exc}): {url!r}") from None
    allowed_schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed_schemes:
        raise UnsafeTarget(f"the URL must start with {' or '.join(s + '://' for s in allowed_schemes)}; got {url!r}")
    if not hostname:
        raise UnsafeTarget(f"the URL has no host: {url!r}")
    if parts.username or parts.password:
        raise UnsafeTarget("the URL must not carry a user name or password")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    elif not 1 <= port <= 65535:  # port 0 was stored, and deliveries went to the scheme's port instead
        raise UnsafeTarget(f"the URL's port is not a number from 1 to 65535: {url!r}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, hostname, port, path


def refused_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address is not a public one we may post to, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refused_reason(address.ipv4_mapped)
    if isinstance(address, ipaddress.IPv6Address) and address.sixtofour is not None:
        # 6to4 (2002::/16) carries an IPv4 address, which a relay reaches: Python counts the range as global.
        return refused_reason(address.sixtofour)
    if address.is_unspecified:
        return "not a public address (unspecified, reaches this host)"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local (cloud metadata lives there)"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        # fec0::/10, deprecated but still routed inside networks that use it: Python counts it as global.
        return "site-local (a private network)"
    if address.is_private:
        return "private network"
    if address.is_multicast or address.is_reserved or not address.is_global:
        return "not a public address"
    return None


def resolve(url: str, *, allow_private: bool) -> Target:
    """The URL with the address to send to; every address the host resolves to must be public (unless allowed)."""
    scheme, host, port, path = check_url(url, allow_private=allow_private)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTarget(f"cannot resolve {host}: {exc}") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not allow_private:
        for address in addresses:
            reason = refused_reason(address)
            if reason is not None:
                raise UnsafeTarget(f"{host} resolves to {address}, a {reason} address: refused")
    return Target(scheme=scheme, host=host, port=port, path=path, address=str(addresses[0]))

"""Who is calling: the client's address, read from ``X-Forwarded-For`` only behind a trusted proxy.

A reverse proxy (nginx) connects from its own address and names the client in ``X-Forwarded-For``. That
header is only as honest as whoever sent it, so it is read only when the direct peer is one of
``SEOULRUN_TRUSTED_PROXIES`` (addresses or CIDR networks); from anyone else it is ignored and the peer's
own address counts. Behind a chain of trusted proxies the header is read from the right, past each
trusted hop, to the first address that is not one: the entries left of it were written by the client and
prove nothing. ``seoulrun serve`` runs uvicorn without its own proxy-header handling, so that this is the
one place that decides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """``"10.0.0.1"``, ``"10.0.0.0/8"``, ``"::1"``: each a network (a single address is a /32 or /128)."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:51234"
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class ClientAddresses:
    """The client address of a request, given the proxies this deployment trusts."""

    def __init__(self, trusted_proxies: Iterable[str] = ()) -> None:
        self.trusted = parse_networks(trusted_proxies)

    def is_trusted(self, address: Address | None) -> bool:
        return address is not None and any(address in network for network in self.trusted)

    def of(self, scope: Any) -> str:
        """The address to count a request against: the peer, or the client its trusted proxy names."""
        client = scope.get("client")
        peer_text = str(client[0]) if client else ""
        peer = _address(peer_text)
        if not self.is_trusted(peer):
            return str(peer) if peer is not None else peer_text or "unknown"
        forwarded = [
            value.decode("latin-1")
            for name, value in scope.get("headers", ())
            if name.lower() == b"x-forwarded-for"
        ]  # fmt: skip
        hops = [hop.strip() for header in forwarded for hop in header.split(",") if hop.strip()]
        chosen: Address | None = peer
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                break  # garbage in the header: keep the last address a trusted proxy vouched for
            chosen = address
            if not self.is_trusted(address):
                break
        return str(chosen)

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

# The request's address, kept in its ASGI scope once worked out.
_SCOPE_KEY = "seoulrun.client_address"
_MAX_PEERS = 10_000

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
        # Peers seen, as the text the server gives -> (the address, whether it is a trusted proxy, the
        # address as the limits and the log write it): a worker meets the same few peers (its proxies,
        # or the same clients) request after request, and str() of an address is worked out each time.
        self._peers: dict[str, tuple[Address | None, bool, str]] = {}

    def is_trusted(self, address: Address | None) -> bool:
        return address is not None and any(address in network for network in self.trusted)

    def of(self, scope: Any) -> str:
        """The address to count a request against: the peer, or the client its trusted proxy names.
        Worked out once per request (the limits and the access log both ask)."""
        # Kept with what it was worked out from: a scope copied with another peer or other headers, or
        # read under other trusted proxies, is worked out again.
        client, headers = scope.get("client"), scope.get("headers")
        known = scope.get(_SCOPE_KEY)
        if known is None or known[0] is not client or known[1] is not headers or known[2] != self.trusted:
            known = scope[_SCOPE_KEY] = (client, headers, self.trusted, self._of(scope))
        return str(known[3])

    def _peer(self, text: str) -> tuple[Address | None, bool, str]:
        seen = self._peers.get(text)
        if seen is None:
            address = _address(text)
            seen = (address, self.is_trusted(address), str(address) if address is not None else text or "unknown")
            if len(self._peers) >= _MAX_PEERS:
                self._peers.clear()
            self._peers[text] = seen
        return seen

    def _of(self, scope: Any) -> str:
        client = scope.get("client")
        peer_text = str(client[0]) if client else ""
        peer, trusted, shown = self._peer(peer_text)
        if not trusted:
            return shown
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

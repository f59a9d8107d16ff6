"""Where a request comes from, for rate limits and the sessions it opens.

X-Forwarded-For is written by whoever sends the request: each proxy appends the address it saw, and the
client may put anything at the front. So only the entries that trusted proxies appended are believed:
walking from the right (the connection's own address, then X-Forwarded-For from its end), every address
of a trusted proxy is skipped, and the first one that is not is the client. With no trusted proxy (the
default) the connection's address is the client's and the header is ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(value: str) -> Address | None:
    """An address as proxies write it: bare, `1.2.3.4:port` or `[v6]:port`; None when it is not one."""
    text = value.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 with a port; IPv6 has more colons
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped  # one client, one address, however the socket wrote it
    return address


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> TrustedProxies:
        """`10.0.0.5, 172.20.0.0/16, ::1`; raises ValueError on anything that is not an address or network."""
        networks = []
        for entry in (part.strip() for part in text.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"not an address or network: {entry!r}") from None
        return cls(tuple(networks))

    def trusts(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def client(self, peer: str | None, forwarded_for: Iterable[str]) -> str | None:
        """The client's address, from the connection's (`peer`) and every X-Forwarded-For header, in order."""
        if peer is None:
            return None
        peer_address = parse_address(peer)
        if peer_address is None:
            return peer[:64]  # not an IP connection (a Unix socket): nothing to walk
        hops: Sequence[str] = [hop for header in forwarded_for for hop in header.split(",")]
        nearest = peer_address
        if not self.trusts(nearest):
            return str(nearest)
        for hop in reversed(hops):
            address = parse_address(hop)
            if address is None:
                # A trusted proxy writes addresses only: this came from the client. Stop at the proxy
                # that passed it on, which the client cannot choose.
                return str(nearest)
            if not self.trusts(address):
                return str(address)
            nearest = address
        return str(nearest)  # proxies all the way: the farthest one is all we know

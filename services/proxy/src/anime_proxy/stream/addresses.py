"""Where the stream proxy may connect: public addresses only, checked after DNS resolution.

Every address a host name resolves to must be public (or inside one of the
`STREAM_ALLOWED_NETWORKS`); the connection then goes to the checked address itself,
so a second, different DNS answer cannot slip an internal address in between. Cloud
metadata addresses are refused even inside an allowed network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence

from anime_common import BadRequestError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

# AWS/GCP/Azure/OpenStack, AWS over IPv6, Alibaba: never a CDN.
_METADATA = frozenset(
    ipaddress.ip_address(value) for value in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)


class RefusedAddress(BadRequestError):
    """The URL leads to an address the proxy never connects to (400)."""


async def resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _plain(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class AddressGuard:
    def __init__(
        self, *, allowed_networks: Sequence[IPNetwork], resolver: Resolver = resolve
    ) -> None:
        self._allowed = tuple(allowed_networks)
        self._resolver = resolver

    def permits(self, address: IPAddress) -> bool:
        address = _plain(address)
        if address in _METADATA:
            return False
        if any(address in network for network in self._allowed):
            return True
        return address.is_global and not address.is_multicast

    async def checked_address(self, host: str, port: int) -> str:
        """The address to connect to for `host`, or `RefusedAddress`."""
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            candidates = [str(literal)]
        else:
            try:
                candidates = await self._resolver(host, port)
            except (OSError, UnicodeError) as exc:
                raise RefusedAddress("The stream's host name does not resolve") from exc
        addresses = [ipaddress.ip_address(value.split("%", 1)[0]) for value in candidates]
        if not addresses or not all(self.permits(address) for address in addresses):
            raise RefusedAddress("The stream's address is not a public one")
        return str(addresses[0])

"""Where notify may send a webhook: public addresses only.

A subscription is another system's URL, posted to by Mesa from inside the network: pointed at
127.0.0.1:15432, 169.254.169.254 (a cloud's metadata service) or a private address it would make
Mesa a proxy into places an outsider cannot reach (SSRF). So a target's host must resolve only
to global addresses, checked when the subscription is made and again before each delivery (DNS
can change), unless an admin allow-lists the host (`NOTIFY_WEBHOOK_ALLOW_HOSTS`). Deliveries
never follow redirects: a 3xx is a failed delivery, so no answer can send Mesa elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class TargetRefused(ValueError):
    """A webhook URL Mesa will not post to; the message says why (never echoing a body)."""


def allow_list(raw: str) -> frozenset[str]:
    return frozenset(h.strip().lower() for h in raw.split(",") if h.strip())


def public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def check_target(url: str, allowed: frozenset[str]) -> None:
    """Raise TargetRefused unless `url` is http(s) to a host that resolves only to public
    addresses (or is allow-listed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("a webhook is an http or https URL with a host")
    host = parts.hostname.lower()
    if host in allowed:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError:
        raise TargetRefused(f"{host} does not resolve") from None
    private = sorted({str(info[4][0]) for info in infos if not public(str(info[4][0]))})
    if private or not infos:
        raise TargetRefused(f"{host} resolves to an address that is not public ({', '.join(private)})")

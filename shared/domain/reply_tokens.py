"""Which ticket a customer's mail answers, in a way nobody can guess: every mail Mesa sends
carries `Reply-To: soporte+T-XXXXXXXX.<mac>@domain`, where the mac is a keyed hash of the ticket
id. A mail to that address joins that ticket (if its sender may write there); a forged or
altered token joins nothing. Pure: the key is given (derived from the master key by the edges)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

_TICKET = r"T-[0-9A-HJKMNP-TV-Z]{8}"
_MAC_CHARS = 12  # 60 bits of base32: guessing one takes ~10^18 tries


def _mac(key: bytes, ticket_id: str) -> str:
    digest = hmac.new(key, f"mesa-reply|{ticket_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:_MAC_CHARS]


def reply_address(support: str, ticket_id: str, key: bytes) -> str:
    """`soporte@mesa.local` -> `soporte+T-XXXXXXXX.<mac>@mesa.local` for this ticket."""
    local, _, domain = support.partition("@")
    return f"{local}+{ticket_id}.{_mac(key, ticket_id)}@{domain}"


def ticket_of(address: str, support: str, key: bytes) -> str | None:
    """The ticket a reply address names, if its token is ours; None for anything else (the bare
    support address, another plus tag, a forged or altered token, another domain)."""
    local, _, domain = support.lower().partition("@")
    m = re.fullmatch(
        rf"{re.escape(local)}\+({_TICKET.lower()})\.([a-z2-7]{{{_MAC_CHARS}}})@{re.escape(domain)}",
        address.strip().lower(),
    )
    if m is None:
        return None
    ticket_id = m.group(1).upper()
    return ticket_id if hmac.compare_digest(m.group(2), _mac(key, ticket_id)) else None


def is_support(address: str, support: str) -> bool:
    """The support address itself or any plus-addressed variant of it."""
    local, _, domain = support.lower().partition("@")
    return re.fullmatch(rf"{re.escape(local)}(\+[^@]*)?@{re.escape(domain)}", address.strip().lower()) is not None

"""Crypto-shredding: what of a person enters the log, and how it is sealed. Pure.

The log is immutable and replayed by auditors, so erasing someone cannot mean rewriting it.
Instead, everything personal a ticket event carries is written so that deleting one key makes
it unreadable:

- the requester appears only as a pseudonym (`R-` and 16 random characters): in `requester`
  fields, in `author`/`by` when they act, and in the envelope's `actor` (`requester:R-...`);
  the pseudonym -> sign-in id table lives beside the key and goes with it;
- the ticket's free text (subject, description, comments, questions, replies, resolution,
  reasons they give, feedback, file names) is sealed with the requester's data key: AES-256-GCM,
  a fresh 96-bit nonce per value, the pseudonym as associated data, written as
  `enc:v1:<pseudonym>:<base64url(nonce + ciphertext)>`;
- data keys are stored wrapped (AES-GCM under the master key), never in the clear.

Operational text written by staff or the system about the handling (categorisation,
assignment, escalation reasons) is not sealed: it is what audits look at after an erasure.
The audit hash chain covers the ciphertext, so an erasure leaves it intact.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEALED_PREFIX = "enc:v1:"
ERASED = "[erased]"
REQUESTER_ROLE = "requester"
_REF = re.compile(r"^R-[0-9A-HJKMNP-TV-Z]{16}$")
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
_NONCE = 12

# Per event type: the fields sealed with the requester's key (`attachments.filename`: the field
# of each item), and the fields that name a person (a pseudonym when it is the requester).
SEALED_FIELDS: dict[str, tuple[str, ...]] = {
    "ticket.opened": ("subject", "description", "attachments.filename"),
    "ticket.commented": ("body", "attachments.filename"),
    "ticket.info_requested": ("question",),
    "ticket.customer_replied": ("body", "attachments.filename"),
    "ticket.resolved": ("summary",),
    "ticket.resolution_rejected": ("reason",),
    "ticket.reopened": ("reason",),
    "ticket.closed": ("reason",),
    "ticket.feedback_given": ("comment",),
}
PERSON_FIELDS: dict[str, tuple[str, ...]] = {
    "ticket.opened": ("requester",),
    "ticket.commented": ("author",),
    "ticket.customer_replied": ("requester",),
    "ticket.resolution_confirmed": ("requester",),
    "ticket.resolution_rejected": ("requester",),
    "ticket.reopened": ("by",),
    "ticket.closed": ("by",),
    "ticket.feedback_given": ("requester",),
}


class SealError(ValueError):
    """A sealed value that does not open with the key it names (tampered, or another key)."""


def new_ref() -> str:
    n = secrets.randbits(80)
    return "R-" + "".join(_ALPHABET[(n >> (5 * i)) & 31] for i in reversed(range(16)))


def is_ref(value: str) -> bool:
    return bool(_REF.match(value))


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(key: bytes, ref: str, plaintext: str) -> str:
    nonce = os.urandom(_NONCE)
    ct = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), ref.encode())
    return f"{SEALED_PREFIX}{ref}:{_b64(nonce + ct)}"


def sealed_ref(value: str) -> str:
    """The pseudonym a sealed value names (whose key opens it)."""
    ref, _, _ = value.removeprefix(SEALED_PREFIX).partition(":")
    return ref


def unseal(key: bytes, value: str) -> str:
    ref, _, body = value.removeprefix(SEALED_PREFIX).partition(":")
    try:
        raw = _unb64(body)
        return AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], ref.encode()).decode("utf-8")
    except (InvalidTag, ValueError) as exc:
        raise SealError(f"a value sealed for {ref} does not open with its key") from exc


def wrap(master: bytes, ref: str, data_key: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(master).encrypt(nonce, data_key, b"mesa-data-key:" + ref.encode())


def unwrap(master: bytes, ref: str, wrapped: bytes) -> bytes:
    try:
        return AESGCM(master).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], b"mesa-data-key:" + ref.encode())
    except InvalidTag as exc:
        raise SealError(f"the data key of {ref} does not open with this master key") from exc


def map_text(event_type: str, data: dict[str, Any], fn: Callable[[str], str]) -> dict[str, Any]:
    """`data` (a payload as JSON) with `fn` applied to each non-empty sealed field of its type."""
    fields = SEALED_FIELDS.get(event_type)
    if not fields:
        return data
    out = dict(data)
    for path in fields:
        name, _, inner = path.partition(".")
        value = out.get(name)
        if inner and isinstance(value, list | tuple):
            out[name] = [_apply(item, inner, fn) for item in value]
        elif not inner and isinstance(value, str) and value:
            out[name] = fn(value)
    return out


def _apply(item: Any, name: str, fn: Callable[[str], str]) -> Any:
    if isinstance(item, dict) and isinstance(item.get(name), str) and item[name]:
        return item | {name: fn(item[name])}
    return item


def map_people(event_type: str, data: dict[str, Any], fn: Callable[[str], str]) -> dict[str, Any]:
    """`data` with `fn` applied to the fields of its type that name a person."""
    fields = PERSON_FIELDS.get(event_type)
    if not fields:
        return data
    out = dict(data)
    for name in fields:
        if isinstance(out.get(name), str):
            out[name] = fn(out[name])
    return out


def map_actor(actor: str, fn: Callable[[str], str]) -> str:
    role, sep, who = actor.partition(":")
    return f"{role}:{fn(who)}" if sep and role == REQUESTER_ROLE else actor


def touches(event_type: str) -> bool:
    """Whether events of this type carry sealed text or people (the rest pass untouched)."""
    return event_type in SEALED_FIELDS or event_type in PERSON_FIELDS


def scrub(event_type: str, data: dict[str, Any], actor: str, sub: str, ref: str) -> tuple[dict[str, Any], str]:
    """What a read model keeps of an event once the requester `sub` (pseudonym `ref`) is erased:
    the ticket's text is `[erased]` and they are named by their pseudonym only."""

    def person(who: str) -> str:
        return ref if who == sub else who

    data = map_people(event_type, map_text(event_type, data, lambda _v: ERASED), person)
    return data, map_actor(actor, person)

"""Crypto-shredding: what of a person enters the log, and how it is sealed. Pure.

The log is immutable and replayed by auditors, so erasing someone cannot mean rewriting it.
Instead, everything personal a ticket event carries is written so that deleting one key makes
it unreadable:

- the requester appears only as a pseudonym (`R-` and 16 random characters): in `requester`
  fields, in `author`/`by` when they act, and in the envelope's `actor` (`requester:R-...`);
  the pseudonym -> sign-in id table lives beside the key and goes with it;
- the ticket's free text (subject, description, comments, questions, replies, resolution,
  reasons they give, feedback, file names) is sealed with the requester's data key: AES-256-GCM,
  a fresh 96-bit nonce per value, written as `enc:v2:<pseudonym>:<base64url(nonce + ciphertext)>`.
  The associated data binds the text to its place: the pseudonym, the ticket id, the event type
  and the field (`Place`), so a ciphertext copied into another ticket, event or field does not
  open (it is refused, never shown). `enc:v1` text, written before, bound only the pseudonym; it
  still opens;
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
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel

from shared.domain.models import replace

SEALED_PREFIX = "enc:"  # what every version of sealed text starts with
V1 = "enc:v1:"  # the pseudonym as associated data (before text was bound to its place)
V2 = "enc:v2:"  # pseudonym, ticket, event type and field as associated data
ERASED = "[erased]"
REQUESTER_ROLE = "requester"
_REF = re.compile(r"^R-[0-9A-HJKMNP-TV-Z]{16}$")
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
_NONCE = 12
M = TypeVar("M", bound=BaseModel)


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


Place = tuple[str, str, str]  # (ticket id, event type, field path), where a sealed text belongs


def _aad(ref: str, place: Place) -> bytes:
    # unambiguous: none of the parts may hold a newline (ids, types and field names never do)
    return "\n".join(("mesa-sealed-v2", ref, *place)).encode()


def seal(key: bytes, ref: str, plaintext: str, place: Place) -> str:
    nonce = os.urandom(_NONCE)
    ct = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), _aad(ref, place))
    return f"{V2}{ref}:{_b64(nonce + ct)}"


def _parts(value: str) -> tuple[str, str, str]:
    """(version prefix, pseudonym, body) of a sealed value."""
    version = value[: len(V1)]
    ref, _, body = value[len(V1) :].partition(":")
    return version, ref, body


def sealed_ref(value: str) -> str:
    """The pseudonym a sealed value names (whose key opens it)."""
    return _parts(value)[1]


def unseal(key: bytes | AESGCM, value: str, place: Place) -> str:
    """The text of a sealed `value` found at `place`; `key` may be an `AESGCM` already made from
    the data key (making one costs about as much as opening a short text). Raises `SealError`
    when it does not open: tampered, another key, or moved from another place."""
    version, ref, body = _parts(value)
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    if version == V2:
        aad = _aad(ref, place)
    elif version == V1:
        aad = ref.encode()
    else:
        raise SealError(f"unknown sealed format {version!r}")
    try:
        raw = _unb64(body)
        return aead.decrypt(raw[:_NONCE], raw[_NONCE:], aad).decode("utf-8")
    except (InvalidTag, ValueError) as exc:
        raise SealError(f"a value sealed for {ref} does not open with its key in {'/'.join(place)}") from exc


def wrap(master: bytes, ref: str, data_key: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(master).encrypt(nonce, data_key, b"mesa-data-key:" + ref.encode())


def unwrap(master: bytes, ref: str, wrapped: bytes) -> bytes:
    try:
        return AESGCM(master).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], b"mesa-data-key:" + ref.encode())
    except InvalidTag as exc:
        raise SealError(f"the data key of {ref} does not open with this master key") from exc


def _paths(payload: BaseModel) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The fields of an event sealed with the requester's key and those naming a person: marked
    on the event's class (`Sealed`, `Personal`: shared.domain.events.marks)."""
    marks = getattr(type(payload), "privacy", None)
    return (marks.sealed, marks.personal) if marks is not None else ((), ())


def rewrite(
    payload: M, *, text: Callable[[str, Place], str] | None = None, person: Callable[[str], str] | None = None
) -> M:
    """`payload` (an event's) with `text(value, place)` applied to each non-empty sealed field of
    its type and `person` to each field naming a person; one copy, without a second validation
    (sealing keeps what was valid, and AES-GCM vouches for what opens)."""
    sealed, people = _paths(payload)
    changes: dict[str, Any] = {}
    if text is not None and sealed:
        ticket_id = str(getattr(payload, "ticket_id", ""))
        event_type = str(getattr(payload, "event_type", ""))
        for path in sealed:
            place = (ticket_id, event_type, path)
            name, _, inner = path.partition(".")
            value = getattr(payload, name)
            if inner and value:
                changes[name] = tuple(
                    replace(item, {inner: text(v, place)}) if (v := getattr(item, inner)) else item for item in value
                )
            elif not inner and value:
                changes[name] = text(value, place)
    for name in people if person else ():
        assert person is not None
        changes[name] = person(getattr(payload, name))
    return replace(payload, changes) if changes else payload


def values(payload: BaseModel) -> Iterator[str]:
    """The sealed texts and the people a payload names (to look their keys up first)."""
    sealed, people = _paths(payload)
    for path in sealed:
        name, _, inner = path.partition(".")
        value = getattr(payload, name)
        if inner:
            yield from (v for item in value or () if (v := getattr(item, inner)))
        elif value:
            yield value
    yield from (getattr(payload, name) for name in people)


def map_actor(actor: str, fn: Callable[[str], str]) -> str:
    role, sep, who = actor.partition(":")
    return f"{role}:{fn(who)}" if sep and role == REQUESTER_ROLE else actor


def touches(model: type[BaseModel]) -> bool:
    """Whether events of this class carry sealed text or people (the rest pass untouched)."""
    marks = getattr(model, "privacy", None)
    return marks is not None and bool(marks.sealed or marks.personal)


def scrub(payload: M, actor: str, sub: str, ref: str) -> tuple[M, str]:
    """What a read model keeps of an event once the requester `sub` (pseudonym `ref`) is erased:
    the ticket's text is `[erased]` and they are named by their pseudonym only."""

    def person(who: str) -> str:
        return ref if who == sub else who

    return rewrite(payload, text=lambda _v, _p: ERASED, person=person), map_actor(actor, person)

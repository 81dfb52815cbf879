"""Dead letters without secrets: what a refused record becomes before it is kept for a human.

A dead letter used to be the record as it came, plus why: bearer tokens that still worked,
emails and descriptions in clear, kept forever. Now:

- credentials and secret-looking headers (`authorization`, `cookie`, `x-api-key`, anything
  named like a token, secret, password or key) are dropped, never stored;
- the record's value and every header that is not a plain CloudEvents attribute are sealed
  (AES-256-GCM) in `value`, so personal text is never in clear: with the data key of the
  requester it concerns when that is known (erasing them shreds the letter too), else with the
  DLQ key derived from the master key. `dlq_sealed` says which (`R-...` or `dlq`);
- what an operator needs to sort letters stays readable: the CloudEvents id, type, source,
  subject and time, the reason, where it came from, and (`dlq_sender`) the service identity a
  verified token gave, so a re-drive can sign it again as that service;
- DLQ topics keep letters MESA_DLQ_RETENTION_DAYS (shared.platform.topics).

The pure half (`seal_letter`, `open_letter`) is tested exhaustively; `Letters` finds the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.domain import privacy as pv
from shared.platform.keyring import Keyring

Headers = list[tuple[str, bytes]]
SEALED = "dlq_sealed"
SENDER = "dlq_sender"
# On a re-driven record: the consumer that refused it, the only one to apply it again (the others
# applied the original, at its own offset, and may have forgotten its id since: inbox_pruning).
REDRIVEN_FOR = "dlq_redriven_for"
SENDER_SCOPES = "dlq_sender_scopes"
DLQ_KEY_NAME = "dlq"
# Shown in clear: what sorts a letter, never what someone wrote or who they are.
_CLEAR = frozenset(
    {
        "ce_id",
        "ce_type",
        "ce_source",
        "ce_subject",
        "ce_time",
        "ce_specversion",
        "ce_dataversion",
        "ce_correlationid",
        "ce_causationid",
        "ce_traceparent",
        "content-type",
    }
)
_SECRET_NAMES = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"})
_SECRET_LOOKING = re.compile(r"token|secret|passw|api[-_]?key|credential|session|bearer|auth", re.IGNORECASE)
_PSEUDONYM = re.compile(rb"R-[0-9A-HJKMNP-TV-Z]{16}")
_NONCE = 12


def is_secret(name: str) -> bool:
    """A header that may carry a credential: dropped from every dead letter."""
    lowered = name.lower()
    return lowered in _SECRET_NAMES or bool(_SECRET_LOOKING.search(lowered))


def dlq_key(master: bytes) -> bytes:
    """The key of letters that concern no known requester (derived: nothing more to keep)."""
    return hmac.new(master, b"mesa-dlq-key-v1", hashlib.sha256).digest()


def _aad(found: dict[str, str]) -> bytes:
    """A letter's key is bound to where it came from and who refused it."""
    parts = [found.get(h, "") for h in ("dlq_consumer", "dlq_topic", "dlq_partition", "dlq_offset", SEALED)]
    return "\n".join(["mesa-dlq-v1", *parts]).encode()


@dataclass(frozen=True)
class Letter:
    """A dead letter's record: (topic, key, value, headers)."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers


def seal_letter(
    *,
    dlq_topic: str,
    origin: tuple[str, int, int] | None,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    reason: str,
    code: str,
    consumer: str,
    sealed_by: str,
    data_key: bytes,
    sender: str | None = None,
    sender_scopes: frozenset[str] = frozenset(),
) -> Letter:
    """The dead letter of a record refused at `origin` (topic, partition, offset; None for what
    was never a record, such as a mail notify gave up on): secrets dropped, the rest of its value
    and headers sealed with `data_key` (of `sealed_by`: a pseudonym, or `dlq`)."""
    kept = [(k, bytes(v) if v is not None else b"") for k, v in headers if not is_secret(k)]
    out: Headers = [(k, v) for k, v in kept if k in _CLEAR]
    out += [
        ("dlq_reason", reason.encode("utf-8", "replace")[:4000]),
        ("dlq_code", code.encode()),
        ("dlq_consumer", consumer.encode()),
        (SEALED, sealed_by.encode()),
    ]
    if origin is not None:
        topic, partition, offset = origin
        out += [
            ("dlq_topic", topic.encode()),
            ("dlq_partition", str(partition).encode()),
            ("dlq_offset", str(offset).encode()),
        ]
    if sender:
        out.append((SENDER, sender.encode()))
        out.append((SENDER_SCOPES, " ".join(sorted(sender_scopes)).encode()))
    body = json.dumps(
        {
            "value": None if value is None else base64.b64encode(value).decode(),
            "headers": [[k, base64.b64encode(v).decode()] for k, v in kept],
        }
    ).encode()
    nonce = os.urandom(_NONCE)
    aad = _aad({k: v.decode("utf-8", "replace") for k, v in out})
    return Letter(dlq_topic, key, nonce + AESGCM(data_key).encrypt(nonce, body, aad), out)


class LetterError(ValueError):
    """A letter that cannot be opened (its key is gone, or it was altered)."""


def open_letter(value: bytes, headers: Sequence[tuple[str, bytes]], data_key: bytes) -> tuple[bytes | None, Headers]:
    """The original (value, headers) of a sealed letter, secrets excepted."""
    found = {k: bytes(v).decode("utf-8", "replace") for k, v in headers}
    try:
        body = json.loads(AESGCM(data_key).decrypt(value[:_NONCE], value[_NONCE:], _aad(found)))
    except (InvalidTag, ValueError) as exc:
        raise LetterError("the letter does not open with its key") from exc
    raw = None if body["value"] is None else base64.b64decode(body["value"])
    return raw, [(k, base64.b64decode(v)) for k, v in body["headers"]]


def pseudonyms_in(value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> list[str]:
    """Requesters' pseudonyms a record mentions (sealed text names its owner), in order."""
    found = _PSEUDONYM.findall(value or b"")
    for _k, v in headers:
        found += _PSEUDONYM.findall(bytes(v or b""))
    return list(dict.fromkeys(m.decode() for m in found))


# Finds the pseudonym of the requester a refused record concerns (a service that knows more
# than the record says, such as intake for its requests, gives its own).
Owner = Callable[[asyncpg.Connection | None, bytes | None, bytes | None, Headers], Awaitable[str | None]]


class Letters:
    """Makes dead letters with the right key: the requester's when known, else the DLQ key."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._dlq_key = dlq_key(keyring.master)

    async def owner(self, conn: asyncpg.Connection | None, value: bytes | None, headers: Headers) -> str | None:
        for ref in pseudonyms_in(value, headers):
            if await self.keyring.entry(ref, conn=conn) is not None:
                return ref
        return None

    async def key_of(self, sealed_by: str, conn: asyncpg.Connection | None = None) -> bytes | None:
        """The key a letter was sealed with; None once its requester is erased."""
        if sealed_by == DLQ_KEY_NAME:
            return self._dlq_key
        found = await self.keyring.entry(sealed_by, conn=conn) if pv.is_ref(sealed_by) else None
        return found[1] if found is not None else None

    async def make(
        self,
        conn: asyncpg.Connection | None,
        *,
        dlq_topic: str,
        origin: tuple[str, int, int] | None,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        reason: str,
        code: str,
        consumer: str,
        sender: str | None = None,
        sender_scopes: frozenset[str] = frozenset(),
        owner: Owner | None = None,
    ) -> Letter:
        """A letter sealed with the key of the requester it concerns (`owner` finds them, else the
        pseudonyms the record mentions), or the DLQ key."""
        ref = await owner(conn, key, value, headers) if owner is not None else None
        if ref is None:
            ref = await self.owner(conn, value, headers)
        data_key = await self.key_of(ref, conn) if ref else None
        return seal_letter(
            dlq_topic=dlq_topic,
            origin=origin,
            key=key,
            value=value,
            headers=headers,
            reason=reason,
            code=code,
            consumer=consumer,
            sealed_by=ref if ref and data_key is not None else DLQ_KEY_NAME,
            data_key=data_key if data_key is not None else self._dlq_key,
            sender=sender,
            sender_scopes=sender_scopes,
        )

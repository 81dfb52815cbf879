"""The tamper-evidence chain, pure: a record's canonical digest, the chain step, signed
checkpoints, and what a difference between the log and the recorded chain means.

    d_n = SHA-256(canonical(record_n))          h_n = SHA-256(h_{n-1} || d_n),  h_{-1} = 32 zero bytes

The canonical form covers everything a consumer reads of a record (key, headers, value) as bytes,
so any change to an event, its attributes or its payload (ciphertext included) changes its digest.
It has two versions. Form 1 (JSON, each field in base64) chained every record until issue 22;
form 2 frames the same fields by length (no encoding, a third of the cost) and chains a
partition from its cut-over on (`chain_forms`, written with the first link the auditor made in
that form), so a chain begun in form 1 verifies as it was written.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

GENESIS = bytes(32)


def _b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode()


FORM_JSON = 1
FORM_FRAMED = 2
FORM = FORM_FRAMED  # the form the auditor chains new links in

_FRAMED_DOMAIN = b"mesa-chain-v2"
_ABSENT = b"\xff\xff\xff\xff"


def canonical_json(key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> bytes:
    """Form 1: a JSON object of the key, the headers in order and the value, each in base64."""
    body = {"key": _b64(key), "headers": [[k, _b64(v)] for k, v in headers], "value": _b64(value)}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _framed(raw: bytes | None) -> bytes:
    return _ABSENT if raw is None else len(raw).to_bytes(4, "big") + raw


def canonical_framed(key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> bytes:
    """Form 2: its domain, the key, the count of headers, each header's name and value in order,
    then the value; each part a 4-byte length and its bytes (absent: 0xFFFFFFFF). Every header is
    covered, the signatures' own too, unlike `shared.platform.signing.signed_bytes`."""
    parts = [_FRAMED_DOMAIN, _framed(key), len(headers).to_bytes(4, "big")]
    for name, raw in headers:
        parts.append(_framed(name.encode()))
        parts.append(_framed(raw))
    parts.append(_framed(value))
    return b"".join(parts)


_CANONICAL = {FORM_JSON: canonical_json, FORM_FRAMED: canonical_framed}


def digest(key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]], form: int = FORM) -> bytes:
    return hashlib.sha256(_CANONICAL[form](key, value, headers)).digest()


def form_at(offset: int, framed_since: int | None) -> int:
    """The form a partition's link at `offset` was made in, given its cut-over to form 2 (None:
    a chain that never reached it, all form 1)."""
    return FORM_FRAMED if framed_since is not None and offset >= framed_since else FORM_JSON


def step(head: bytes, event_digest: bytes) -> bytes:
    return hashlib.sha256(head + event_digest).digest()


def heads(digests: Sequence[bytes], start: bytes = GENESIS) -> list[bytes]:
    out, h = [], start
    for d in digests:
        h = step(h, d)
        out.append(h)
    return out


@dataclass(frozen=True)
class Checkpoint:
    topic: str
    partition: int
    offset: int  # the last offset the head covers
    head: bytes
    time: str

    def message(self) -> bytes:
        return json.dumps(
            {
                "topic": self.topic,
                "partition": self.partition,
                "offset": self.offset,
                "head": self.head.hex(),
                "time": self.time,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()

    def sign(self, key: Ed25519PrivateKey) -> bytes:
        return key.sign(self.message())

    def verify(self, public: Ed25519PublicKey, signature: bytes) -> bool:
        try:
            public.verify(signature, self.message())
        except InvalidSignature:
            return False
        return True


def signing_key(seed_hex: str | None, fallback_secret: str) -> Ed25519PrivateKey:
    """The configured 32-byte seed (hex), or one derived from a development secret."""
    seed = bytes.fromhex(seed_hex) if seed_hex else hashlib.sha256(b"mesa-audit:" + fallback_secret.encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


@dataclass(frozen=True)
class Finding:
    partition: int
    offset: int
    kind: str  # altered | missing | reordered | truncated | extra | checkpoint
    detail: str


def compare(partition: int, recorded: Sequence[tuple[int, bytes]], log: Sequence[tuple[int, bytes]]) -> Finding | None:
    """The first place where the log read now (offset, digest) departs from the digests recorded
    in log order. Positions are compared, offsets reported: the log's own where it has one."""
    want = [d for _, d in recorded]
    got = [d for _, d in log]
    for i, (w, g) in enumerate(zip(want, got, strict=False)):
        if w == g:
            continue
        at = log[i][0]
        if i + 1 < len(want) and i + 1 < len(got) and g == want[i + 1] and got[i + 1] == w:
            return Finding(partition, at, "reordered", f"offsets {at} and {log[i + 1][0]} are swapped")
        if i + 1 < len(want) and g == want[i + 1]:
            return Finding(partition, at, "missing", f"the event recorded at offset {recorded[i][0]} is gone")
        if i + 1 < len(got) and got[i + 1] == w:
            return Finding(partition, at, "extra", f"an event that was never recorded sits at offset {at}")
        return Finding(partition, at, "altered", f"the event at offset {at} differs from the one recorded")
    if len(got) < len(want):
        at = recorded[len(got)][0]
        return Finding(partition, at, "truncated", f"{len(want) - len(got)} recorded events from offset {at} are gone")
    return None

"""Typed errors for records that can never be processed: consumers dead-letter them with `reason`.

Anything else a handler raises is taken as transient (database down, broker hiccup) and retried.
"""

from __future__ import annotations


class InvalidRecord(Exception):
    """A record that no retry will fix. `reason` goes into the DLQ header."""

    code = "invalid"
    # the service identity a verified token gave the record's sender, and what its token granted
    # (a re-drive signs as it, with no more than that)
    sender: str | None = None
    sender_scopes: frozenset[str] = frozenset()

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedRecord(InvalidRecord):
    """Not JSON, not UTF-8, or required CloudEvents attributes missing."""

    code = "malformed"


class UnknownEventType(InvalidRecord):
    """A `type` (or version of it) that the catalogue does not know."""

    code = "unknown_type"


class InvalidPayload(InvalidRecord):
    """The payload does not validate against the model of its type."""

    code = "invalid_payload"


class Rejected(InvalidRecord):
    """A well-formed command that the domain refuses in the current state (a 409 over HTTP)."""

    code = "rejected"


class Oversized(InvalidRecord):
    """Larger than any legitimate record of its topic."""

    code = "oversized"


class Unauthenticated(InvalidRecord):
    """A request without a valid service token: who sent it is unknown."""

    code = "unauthenticated"


class ForgedActor(InvalidRecord):
    """A request that claims to act as someone its token does not say it is."""

    code = "forged_actor"


class Unsigned(InvalidRecord):
    """A record past its partition's signing cut-over that carries no signature."""

    code = "unsigned"


class BadSignature(InvalidRecord):
    """A signature that does not verify, or by a key nobody trusts."""

    code = "bad_signature"


class NotOwner(InvalidRecord):
    """A record signed by a service that does not own its event type: it speaks for another."""

    code = "not_owner"


class SealMismatch(InvalidRecord):
    """Sealed text that does not open in this place (moved from another ticket, event or field)."""

    code = "seal_mismatch"


class Forbidden(InvalidRecord):
    """A request its sender's token does not grant (a service's scopes)."""

    code = "forbidden"

"""Event catalogue, CloudEvents envelope and the typed errors of undecodable records."""

from shared.domain.events import catalogue
from shared.domain.events.catalogue import Payload, event, known_types, model_for, parse_payload, upcaster
from shared.domain.events.envelope import Envelope, Headers, new_id
from shared.domain.events.errors import (
    InvalidPayload,
    InvalidRecord,
    MalformedRecord,
    Rejected,
    UnknownEventType,
)

__all__ = [
    "Envelope",
    "Headers",
    "InvalidPayload",
    "InvalidRecord",
    "MalformedRecord",
    "Payload",
    "Rejected",
    "UnknownEventType",
    "catalogue",
    "event",
    "known_types",
    "model_for",
    "new_id",
    "parse_payload",
    "upcaster",
]

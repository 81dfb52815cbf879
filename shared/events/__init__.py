"""Event catalogue, CloudEvents envelope and the typed errors of undecodable records."""

from shared.events import catalogue
from shared.events.catalogue import Payload, event, known_types, model_for, parse_payload, upcaster
from shared.events.envelope import Envelope, Headers, new_id
from shared.events.errors import (
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

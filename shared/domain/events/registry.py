"""The registry of events: one versioned pydantic model per event type, who may write it, who
may read it, and its upcasters.

Events are past-tense facts. A payload model is registered with its CloudEvents `type`, its
schema version, its owner (whose signature a record must carry) and its audience (whether the
requester sees it on their ticket); old versions are upcast on read (never rewritten in the log)
by registering an upcaster from version n to n+1. What each field is (sealed, personal,
operational, public) is marked on the field (shared.domain.events.marks) and read here once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from shared.domain.events.errors import InvalidPayload, MalformedRecord, UnknownEventType
from shared.domain.events.marks import Privacy, privacy_of

Audience = Literal["requester", "staff"]


def storable(value: Any) -> Any:
    """Text PostgreSQL and every mail client can hold: no NUL characters, no lone surrogates
    (which JSON can carry but UTF-8 cannot); refused before anything is appended or stored."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("contains a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("is not valid Unicode (a lone surrogate)") from None
    elif isinstance(value, list | tuple):
        for item in value:
            storable(item)
    elif isinstance(value, dict):
        for k, v in value.items():
            storable(k)
            storable(v)
    return value


class StorableModel(BaseModel):
    """A model whose every text field is `storable` (events, commands, API bodies)."""

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return storable(value)


class Payload(StorableModel):
    """Base of every event payload: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    event_type: ClassVar[str]
    version: ClassVar[int]
    # whether the requester sees it on their ticket's timeline (its `Public` fields only)
    audience: ClassVar[Audience]
    privacy: ClassVar[Privacy]


P = TypeVar("P", bound=type[Payload])
_models: dict[str, type[Payload]] = {}
_owners: dict[str, frozenset[str]] = {}
_upcasters: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


def event(event_type: str, version: int = 1, *, owner: str | tuple[str, ...], audience: Audience) -> Callable[[P], P]:
    """Class decorator: register a payload model as the current version of `event_type`, written
    only by `owner` (the service whose signature a record of this type must carry), shown to
    `audience`. A second owner is the exception: SLA's timers close, resolve and escalate tickets
    that intake owns."""

    def register(cls: P) -> P:
        if event_type in _models:
            raise ValueError(f"event type {event_type} registered twice")
        cls.event_type = event_type
        cls.version = version
        cls.audience = audience
        cls.privacy = privacy_of(cls)
        if audience == "staff" and cls.privacy.public:
            raise ValueError(f"{event_type}: Public fields on an event the requester never sees")
        _models[event_type] = cls
        _owners[event_type] = frozenset((owner,) if isinstance(owner, str) else owner)
        return cls

    return register


def owners_of(event_type: str) -> frozenset[str]:
    """The services that may sign a record of `event_type` (none for an unknown type)."""
    return _owners.get(event_type, frozenset())


def upcaster(
    event_type: str, from_version: int
) -> Callable[[Callable[[dict[str, Any]], dict[str, Any]]], Callable[[dict[str, Any]], dict[str, Any]]]:
    """Register a function that turns a `from_version` payload dict into `from_version + 1`."""

    def register(
        fn: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> Callable[[dict[str, Any]], dict[str, Any]]:
        _upcasters[(event_type, from_version)] = fn
        return fn

    return register


def model_for(event_type: str) -> type[Payload]:
    try:
        return _models[event_type]
    except KeyError:
        raise UnknownEventType(f"unknown event type {event_type!r}") from None


def known_types() -> list[str]:
    return sorted(_models)


def parse_payload(event_type: str, version: int, data: Any) -> Payload:
    """Validate `data` as `event_type` at `version`, upcasting older versions first."""
    model = model_for(event_type)
    if version > model.version or version < 1:
        raise UnknownEventType(f"{event_type} has no schema version {version}")
    if not isinstance(data, dict):
        raise InvalidPayload(f"{event_type}: payload must be a JSON object")
    while version < model.version:
        step = _upcasters.get((event_type, version))
        if step is None:
            raise UnknownEventType(f"{event_type}: no upcaster from version {version}")
        data = step(data)
        version += 1
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidPayload(f"{event_type}: {_summary(exc)}") from None


def parse_payload_json(event_type: str, version: int, raw: bytes) -> Payload:
    """`parse_payload` from the payload's JSON bytes: the current version is validated straight
    from JSON by pydantic-core; an older one is read as a dict and upcast."""
    model = model_for(event_type)
    if version != model.version:
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MalformedRecord(f"value is not JSON: {exc}") from None
        return parse_payload(event_type, version, data)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        kinds = {e["type"] for e in exc.errors()}
        if "json_invalid" in kinds:
            raise MalformedRecord(f"value is not JSON: {exc.errors()[0]['msg']}") from None
        if any(e["type"] == "model_type" and not e["loc"] for e in exc.errors()):
            raise InvalidPayload(f"{event_type}: payload must be a JSON object") from None
        raise InvalidPayload(f"{event_type}: {_summary(exc)}") from None


def _summary(exc: ValidationError) -> str:
    errors = exc.errors()
    parts = []
    for err in errors[:10]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return "; ".join(parts) + more


def models() -> dict[str, type[Payload]]:
    """Every registered event type's current model."""
    return dict(_models)

"""The CloudEvents 1.0 envelope and its Kafka encodings.

Binary mode (what Mesa writes): attributes in `ce_*` headers, the JSON payload as the value.
Structured mode (accepted from other systems): `content-type: application/cloudevents+json`
and the whole event, attributes and `data`, as the JSON value.
Extensions: `correlationid`, `causationid`, `actor`, `traceparent`, `dataversion`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from uuid6 import uuid7

from shared.domain.events.catalogue import Payload, parse_payload, parse_payload_json
from shared.domain.events.errors import MalformedRecord
from shared.domain.models import construct

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
_REQUIRED = ("id", "type", "source", "specversion")
_EXTENSIONS = ("correlationid", "causationid", "actor", "traceparent")

Headers = list[tuple[str, bytes]]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def new_id() -> UUID:
    """A UUIDv7: unique and ordered by creation time."""
    return UUID(str(uuid7()))


def derived_id(cause: UUID, event_type: str, seq: int, time: datetime) -> UUID:
    """A UUIDv7 that is a function of what caused it.

    An event emitted in reaction to another gets the same id every time the reaction runs again
    (a redelivery, a replay from offset 0), so consumers drop the repeat as a duplicate.
    The 48-bit timestamp is `time`; the 74 other bits come from hashing the cause.
    """
    millis = ((time - _EPOCH) // timedelta(milliseconds=1)) & ((1 << 48) - 1)
    digest = int.from_bytes(hashlib.sha256(f"{cause}|{event_type}|{seq}".encode()).digest()[:10])
    rand_a = digest >> 68 & 0xFFF
    rand_b = digest & ((1 << 62) - 1)
    value = millis << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return UUID(int=value)


class Envelope(BaseModel):
    """One event: its CloudEvents attributes and its typed payload."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    type: str
    source: str
    subject: str
    time: datetime
    data: Payload
    correlationid: str
    causationid: str | None = None
    actor: str = "system"
    traceparent: str | None = None
    specversion: str = SPECVERSION

    @classmethod
    def new(
        cls,
        data: Payload,
        *,
        source: str,
        subject: str,
        time: datetime,
        actor: str = "system",
        cause: Envelope | None = None,
        correlationid: str | None = None,
        causationid: str | None = None,
        seq: int = 0,
        event_id: UUID | None = None,
    ) -> Self:
        """A new event. With `cause`, it inherits the correlation id, names the cause, and its id
        is derived from the cause (and `seq`, to tell apart several events of one type)."""
        if event_id is None:
            event_id = derived_id(cause.id, data.event_type, seq, cause.time) if cause else new_id()
        corr = correlationid or (cause.correlationid if cause else str(event_id))
        return cls(
            id=event_id,
            type=data.event_type,
            source=source,
            subject=subject,
            time=time,
            data=data,
            correlationid=corr,
            causationid=str(cause.id) if cause else causationid,
            actor=actor,
            traceparent=cause.traceparent if cause else None,
        )

    @property
    def dataversion(self) -> int:
        return self.data.version

    # -- binary mode -------------------------------------------------------------------------

    def to_kafka(self) -> tuple[bytes, bytes, Headers]:
        """(key, value, headers) for Kafka binary mode; the key is the subject (ticket id)."""
        attrs: dict[str, str | None] = {
            "id": str(self.id),
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "specversion": self.specversion,
            "correlationid": self.correlationid,
            "causationid": self.causationid,
            "actor": self.actor,
            "traceparent": self.traceparent,
            "dataversion": str(self.dataversion),
        }
        headers = [(f"ce_{k}", v.encode()) for k, v in attrs.items() if v is not None]
        headers.append(("content-type", CONTENT_TYPE.encode()))
        value = self.data.model_dump_json().encode()
        return self.subject.encode(), value, headers

    @classmethod
    def from_kafka(cls, key: bytes | None, value: bytes | None, headers: Headers) -> Self:
        """Decode a record in binary or structured mode. Raises a typed `InvalidRecord`."""
        attrs, content_type = _binary_attributes(headers)
        if not content_type.startswith(STRUCTURED_CONTENT_TYPE):
            # binary mode: the payload's JSON goes straight to its model (no dict in between)
            if value is None:
                raise MalformedRecord("record has no value")
            return cls.from_parts(attrs, None, key, raw=value)
        attrs, data = parse_cloudevent(value, headers)
        return cls.from_parts(attrs, data, key)

    @classmethod
    def from_parts(
        cls, attrs: dict[str, str], data: Any, key: bytes | None = None, *, raw: bytes | None = None
    ) -> Self:
        """From CloudEvents attributes and the payload, as a JSON value (`data`) or its bytes (`raw`)."""
        missing = [a for a in _REQUIRED if not attrs.get(a)]
        if missing:
            raise MalformedRecord(f"missing CloudEvents attribute(s): {', '.join(missing)}")
        if attrs["specversion"] != SPECVERSION:
            raise MalformedRecord(f"unsupported specversion {attrs['specversion']!r}")
        try:
            event_id = UUID(attrs["id"])
        except ValueError:
            raise MalformedRecord(f"id {attrs['id']!r} is not a UUID") from None
        try:
            version = int(attrs.get("dataversion") or "1")
        except ValueError:
            raise MalformedRecord("dataversion must be an integer") from None
        time = _parse_time(attrs.get("time"))
        subject = attrs.get("subject") or (key.decode("utf-8", "replace") if key else "")
        if not subject:
            raise MalformedRecord("missing subject (and no record key)")
        payload = (
            parse_payload_json(attrs["type"], version, raw)
            if raw is not None
            else parse_payload(attrs["type"], version, data)
        )
        # every field is checked above: no second validation
        return construct(
            cls,
            {
                "id": event_id,
                "type": attrs["type"],
                "source": attrs["source"],
                "subject": subject,
                "time": time,
                "data": payload,
                "correlationid": attrs.get("correlationid") or str(event_id),
                "causationid": attrs.get("causationid"),
                "actor": attrs.get("actor") or "system",
                "traceparent": attrs.get("traceparent"),
                "specversion": SPECVERSION,
            },
        )

    def to_json(self) -> dict[str, Any]:
        """The structured-mode JSON document (used by the timeline and the audit export)."""
        doc: dict[str, Any] = {
            "specversion": self.specversion,
            "id": str(self.id),
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "correlationid": self.correlationid,
            "actor": self.actor,
            "dataversion": self.dataversion,
            "data": self.data.model_dump(mode="json"),
        }
        if self.causationid:
            doc["causationid"] = self.causationid
        return doc


def parse_cloudevent(value: bytes | None, headers: Headers) -> tuple[dict[str, str], Any]:
    """(attributes, data) of a Kafka record in binary or structured mode."""
    attrs, content_type = _binary_attributes(headers)
    if content_type.startswith(STRUCTURED_CONTENT_TYPE):
        doc = _json_object(value)
        if not isinstance(doc, dict):
            raise MalformedRecord("structured CloudEvent must be a JSON object")
        return {k: _attr(v) for k, v in doc.items() if k not in ("data", "data_base64")}, doc.get("data")
    return attrs, _json_object(value)


_CONTENT_TYPE = "\0content-type"  # not an attribute name (those are lowercase letters and digits)
_header_roles: dict[str, str] = {}  # a header's name -> its attribute, _CONTENT_TYPE, or "": neither


def _header_role(name: str) -> str:
    role = _header_roles.get(name)
    if role is None:
        lowered = name.lower()
        role = lowered[3:] if lowered.startswith("ce_") else _CONTENT_TYPE if lowered == "content-type" else ""
        if len(_header_roles) < 1024:  # names from other systems' headers: keep the set bounded
            _header_roles[name] = role
    return role


def _binary_attributes(headers: Headers) -> tuple[dict[str, str], str]:
    """The `ce_*` attributes and the content type, in one pass over the headers (each name's
    role looked up once: every consumer decodes every record's)."""
    attrs: dict[str, str] = {}
    content_type = ""
    roles = _header_roles
    for name, raw in headers or ():
        role = roles.get(name)
        if role is None:
            role = _header_role(name)
        if not role:
            continue
        try:
            text = raw.decode("utf-8") if raw is not None else ""
        except UnicodeDecodeError:
            raise MalformedRecord(f"header {name} is not UTF-8") from None
        if role is _CONTENT_TYPE or role == _CONTENT_TYPE:
            content_type = text
        else:
            attrs[role] = text
    return attrs, content_type


def _json_object(value: bytes | None) -> Any:
    if value is None:
        raise MalformedRecord("record has no value")
    try:
        return json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedRecord(f"value is not JSON: {exc}") from None


def _attr(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _parse_time(raw: str | None) -> datetime:
    if not raw:
        raise MalformedRecord("missing CloudEvents attribute: time")
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedRecord(f"time {raw!r} is not RFC 3339") from None
    if parsed.tzinfo is None:
        raise MalformedRecord("time must carry a UTC offset")
    return parsed

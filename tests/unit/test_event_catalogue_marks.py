"""Every event decides, on itself, what of it is private: nothing reaches the log in clear or a
requester's screen because a list somewhere was not updated."""

from __future__ import annotations

import typing
from typing import Any

import annotated_types
import pytest
from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from shared.domain import privacy as pv
from shared.domain.events import catalogue as ev
from shared.domain.events.marks import Mark, marked, privacy_of

DECIDED = {ev.Sealed, ev.Personal, ev.Operational, ev.Plain}


def _limit(info: FieldInfo) -> int | None:
    for m in info.metadata:
        if isinstance(m, annotated_types.MaxLen):
            return int(m.max_length)
    return None


def _free_text(info: FieldInfo) -> bool:
    """A text field anyone could type a sentence into: str, no pattern, longer than an id."""
    annotation: Any = info.annotation
    if typing.get_origin(annotation) in (typing.Union, __import__("types").UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else annotation
    if annotation is not str:
        return False
    if any(getattr(m, "pattern", None) for m in info.metadata):
        return False
    limit = _limit(info)
    return limit is None or limit > 120


@pytest.mark.parametrize("event_type", ev.known_types())
def test_every_free_text_field_is_sealed_personal_operational_or_plain_by_decision(event_type: str) -> None:
    model = ev.model_for(event_type)
    for name, info in model.model_fields.items():
        if _free_text(info):
            marks = DECIDED & set(info.metadata)
            assert len(marks) == 1, f"{event_type}.{name}: mark it Sealed, Personal, Operational or Plain"


@pytest.mark.parametrize("event_type", ev.known_types())
def test_text_that_may_hold_a_ciphertext_is_sealed(event_type: str) -> None:
    """A field whose limit is on the plain text (so a sealed value fits) is one intake seals."""
    model = ev.model_for(event_type)

    def sealable(info: FieldInfo) -> bool:
        return any(
            getattr(m, "func", None) is not None and "plain_at_most" in m.func.__qualname__ for m in info.metadata
        )

    for name, info in model.model_fields.items():
        assert sealable(info) == (ev.Sealed in info.metadata), f"{event_type}.{name}"
    for path in model.privacy.sealed:
        assert path.split(".")[0] in model.model_fields


@pytest.mark.parametrize("event_type", ev.known_types())
def test_every_event_says_who_sees_it(event_type: str) -> None:
    model = ev.model_for(event_type)
    assert model.audience in ("requester", "staff")
    if model.audience == "staff":
        assert model.privacy.public == ()
    for name in model.privacy.public:
        assert name in model.model_fields


def test_a_new_sealable_field_is_sealed_without_touching_any_list() -> None:
    class Sketch(BaseModel):
        ticket_id: ev.Id
        note: ev.SealableText
        files: tuple[ev.Attachment, ...] = ()

    assert privacy_of(Sketch).sealed == ("note", "files.filename")
    sketch = Sketch(ticket_id="T-1", note="mi teléfono es 600 000 000", files=())
    object.__setattr__(sketch, "event_type", "sketch")
    Sketch.privacy = privacy_of(Sketch)  # type: ignore[attr-defined]
    sealed = pv.rewrite(sketch, text=lambda v, place: f"enc:v2:{place[2]}")
    assert sealed.note == "enc:v2:note"


def test_marks_on_optional_fields_are_read() -> None:
    class Optional(BaseModel):
        a: typing.Annotated[str | None, ev.Public, Field(max_length=5)] = None

    assert marked(Optional, ev.Public) == ("a",)
    assert isinstance(ev.Public, Mark)


def test_a_staff_event_cannot_have_public_fields() -> None:
    with pytest.raises(ValueError, match="Public fields on an event the requester never sees"):

        @ev.event("test.staff_only", owner="intake", audience="staff")
        class StaffOnly(ev.Payload):
            ticket_id: typing.Annotated[ev.Id, ev.Public]

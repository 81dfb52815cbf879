"""shared.domain.models builds the same models pydantic does, without validating again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, PrivateAttr

from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.domain.models import construct, replace

WHEN = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def _envelope() -> Envelope:
    payload = ev.TicketAssigned(ticket_id="T-1", agent_id="ana", level=1, reason="skills")
    return Envelope.new(payload, source="routing", subject="T-1", time=WHEN)


def test_construct_equals_the_validated_model() -> None:
    env = _envelope()
    built = construct(Envelope, dict(env.__dict__))
    assert built == env
    assert built.model_fields_set == set(Envelope.model_fields)
    assert built.model_dump_json() == env.model_dump_json()


def test_construct_wants_every_field() -> None:
    values = dict(_envelope().__dict__)
    del values["actor"]
    with pytest.raises(TypeError, match="actor"):
        construct(Envelope, values)


def test_replace_equals_model_copy_and_leaves_the_original() -> None:
    env = _envelope()
    changed = replace(env, {"actor": "agent:ana"})
    assert changed == env.model_copy(update={"actor": "agent:ana"})
    assert changed.model_fields_set == env.model_copy(update={"actor": "agent:ana"}).model_fields_set
    assert env.actor == "system"
    with pytest.raises(ValueError, match="frozen"):
        changed.actor = "x"  # type: ignore[misc]  # still frozen: pydantic guards it


def test_models_with_private_state_are_refused() -> None:
    class WithPrivate(BaseModel):
        name: str
        _cache: dict[str, str] = PrivateAttr(default_factory=dict)

    with pytest.raises(TypeError, match="model_construct"):
        construct(WithPrivate, {"name": "x"})
    with pytest.raises(TypeError, match="model_construct"):
        replace(WithPrivate(name="x"), {"name": "y"})

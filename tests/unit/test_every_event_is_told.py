"""Every event type of the catalogue reads on a timeline in Spanish and in English, and has its
privacy decided (who sees it, what of it is sealed): adding an event cannot skip either."""

from __future__ import annotations

import pytest

from services.projections.access import PUBLIC_FIELDS
from services.projections.web.timeline import TIMELINE, describe
from shared.domain.events import catalogue as ev


@pytest.mark.parametrize("event_type", ev.known_types())
def test_every_event_type_has_its_text_in_both_languages_and_its_privacy_decided(event_type: str) -> None:
    model = ev.model_for(event_type)
    entry = TIMELINE.get(model)
    assert entry is not None, f"{event_type} has no timeline text (services/projections/web/timeline.py)"
    assert entry.headline.es.strip() and entry.headline.en.strip()
    data = {
        "agent_id": "ana",
        "author": "ana",
        "author_role": "agent",
        "rating": 4,
        "target": "resolution",
        "to_level": 2,
        "template": "received",
        "reader": "auditor:eva",
        "category": "payment",
        "priority": "P2",
        "availability": "away",
        "reason": "porque sí",
    }
    names = {"ana": "Ana Ruiz"}
    head_es, _ = describe({"type": event_type, "data": data}, "es", names)
    head_en, _ = describe({"type": event_type, "data": data}, "en", names)
    assert head_es and head_en and event_type not in (head_es, head_en)
    assert model.audience in ("requester", "staff")
    assert (event_type in PUBLIC_FIELDS) == (model.audience == "requester")


def test_an_unknown_type_reads_as_its_name() -> None:
    assert describe({"type": "ticket.from_the_future", "data": {}}, "es", {}) == ("ticket.from_the_future", "")

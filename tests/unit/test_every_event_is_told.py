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


def test_every_mail_and_every_routing_criterion_has_words_in_both_languages() -> None:
    from services.notify.templates import TEMPLATES
    from services.projections.web.timeline import CRITERION, TEMPLATE
    from services.routing.domain import _CRITERIA

    assert set(TEMPLATES) <= set(TEMPLATE), set(TEMPLATES) - set(TEMPLATE)
    assert {*_CRITERIA, "only eligible agent"} <= set(CRITERION)
    for book in (TEMPLATE, CRITERION):
        for code in book:
            assert book.say(code, "es") != book.say(code, "en")


def test_an_assignment_reads_as_why_in_the_readers_words() -> None:
    from services.projections.web.timeline import describe

    chosen = {
        "type": "ticket.assigned",
        "data": {"agent_id": "ana", "level": 1, "reason": "order_status L1 P2 (weight 2): 2 eligible [...]",
                 "criterion": "least load", "candidates": [{}, {}]},
    }  # fmt: skip
    assert describe(chosen, "es", {"ana": "Ana"}) == (
        "Asignado a Ana",
        "Elegido por la menor carga, entre 2 disponibles",
    )
    by_hand = {
        "type": "ticket.assigned",
        "data": {"agent_id": "ana", "level": 1, "reason": "reassigned by supervisor:sara: conoce el caso",
                 "criterion": "manual", "by": "supervisor:sara"},
    }  # fmt: skip
    assert describe(by_hand, "en", {})[1] == "Reassigned by hand by sara: conoce el caso"
    sent = {"type": "notification.sent", "data": {"template": "received"}}
    assert describe(sent, "es", {})[0] == "Correo enviado: acuse de recibo con los plazos"

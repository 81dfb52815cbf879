"""Macros and custom fields, decided without a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.intake import workspace
from services.intake.domain import CommandRejected
from shared.domain import commands as c
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.domain.ticket import Ticket, evolve

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
AGENT = c.Actor("agent", "bea")
WHO = workspace.Who(requester_name="Maria Lopez", agent_name="Bea")


def ticket(**opened: object) -> Ticket:
    base = dict(
        ticket_id="T-00000001", requester="R-1", subject="s", description="d", category="order_status",
        impact="medium", urgency="medium", priority="P3", order_id="PED-1",
    )  # fmt: skip
    t = evolve(None, Envelope.new(ev.TicketOpened(**(base | opened)), source="intake", subject="T-00000001", time=T0))
    assert t is not None
    assigned = ev.TicketAssigned(ticket_id="T-00000001", agent_id="bea", level=1, reason="r")
    t = evolve(t, Envelope.new(assigned, source="routing", subject="T-00000001", time=T0))
    assert t is not None
    return t


@pytest.mark.parametrize(
    "text",
    [
        "{{ requester.password }}",
        "{{ ''.__class__ }}",
        "{{ ticket.id | upper }}",
        "{% for x in ticket %}x{% endfor %}",
        "{{ ticket }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ ticket.id",
    ],
)
def test_a_macro_text_may_hold_only_text_and_the_known_placeholders(text: str) -> None:
    with pytest.raises(ValueError):
        workspace.check_text(text)


def test_placeholders_render_and_a_macro_is_the_commands_its_actions_mean() -> None:
    workspace.check_text("Hola {{requester.name}}, {{ ticket.order_id }} / {{ticket.id}} — {{agent.name}}")
    macro = ev.MacroSaved(
        macro_id="camino",
        name="En camino",
        text_es="Hola {{requester.name}}: {{ticket.order_id}} va en camino. {{agent.name}}",
        actions=ev.MacroActions(status="waiting_on_customer", add_tags=("en_camino",), urgency="high"),
        by="supervisor:sara",
    )
    out = workspace.decide_macro(ticket(), macro, AGENT, WHO)
    assert [type(p).__name__ for p in out] == [
        "TicketMacroApplied", "TicketCategorized", "TicketTagged", "TicketInfoRequested",
    ]  # fmt: skip
    asked = out[-1]
    assert isinstance(asked, ev.TicketInfoRequested)
    assert asked.question == "Hola Maria Lopez: PED-1 va en camino. Bea"
    english = ticket(language="en")
    macro_en = macro.model_copy(update={"text_en": "Hi {{requester.name}}"})
    assert workspace.decide_macro(english, macro_en, AGENT, WHO)[-1].question == "Hi Maria Lopez"  # type: ignore[attr-defined]


def test_a_macro_follows_the_same_rules_as_by_hand() -> None:
    resolve = ev.MacroSaved(macro_id="r", name="r", text_es="Hecho", actions=ev.MacroActions(status="resolved"), by="x")
    t = ticket()
    done = t
    for p in workspace.decide_macro(t, resolve, AGENT, WHO):
        after = evolve(done, Envelope.new(p, source="intake", subject=t.id, time=T0))
        assert after is not None
        done = after
    with pytest.raises(CommandRejected):  # resolving a resolved ticket is refused, by a macro too
        workspace.decide_macro(done, resolve, AGENT, WHO)
    with pytest.raises(CommandRejected):
        workspace.decide_macro(t, resolve, c.Actor("requester", "R-1"), WHO)


@pytest.mark.parametrize(
    ("kind", "raw", "kept"),
    [
        ("number", "12,50", "12.5"),
        ("date", "2026-12-01", "2026-12-01"),
        ("order", "PED-77/B", "PED-77/B"),
        ("text", " hola ", "hola"),
    ],
)
def test_field_values_are_kept_in_one_form(kind: ev.FieldKind, raw: str, kept: str) -> None:
    d = ev.FieldDefined(field_id="f", label_es="f", label_en="f", kind=kind, by="admin:x")
    assert workspace.check_value(d, raw) == kept


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("number", "doce"),
        ("number", "NaN"),
        ("date", "01/12/2026"),
        ("order", "<script>"),
        ("list", "UPS"),
        ("text", "a\nb"),
        ("text", "x" * 301),
    ],
)
def test_field_values_that_do_not_fit_are_refused_with_why(kind: ev.FieldKind, raw: str) -> None:
    d = ev.FieldDefined(
        field_id="f", label_es="f", label_en="f", kind=kind, options=("SEUR",) if kind == "list" else (), by="a"
    )
    with pytest.raises(ValueError, match="f:"):
        workspace.check_value(d, raw)


def test_a_field_belongs_to_its_categories() -> None:
    d = ev.FieldDefined(field_id="carrier", label_es="c", label_en="c", kind="text", categories=("payment",), by="a")
    with pytest.raises(ValueError, match="not a field"):
        workspace.decide_fields(ticket(), {"carrier": d}, {"carrier": "SEUR"}, [], AGENT)
    ok = ev.FieldDefined(field_id="carrier", label_es="c", label_en="c", kind="text", by="a")
    [fields_set] = workspace.decide_fields(ticket(), {"carrier": ok}, {"carrier": "SEUR"}, [], AGENT)
    assert isinstance(fields_set, ev.TicketFieldsSet) and fields_set.values[0].value == "SEUR"


def test_names_are_read_from_sign_in_ids() -> None:
    assert workspace.name_from("maria.lopez@example.com") == "Maria Lopez"
    assert workspace.name_from("j_perez+tienda@example.com") == "J Perez Tienda"
    assert workspace.name_from("12345@example.com") == "12345"

"""Intake's pure decisions: the priority matrix, the category guess, and every command in every
status (hypothesis walks random command sequences against a model of the rules)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.domain import (
    CommandRejected,
    decide,
    decide_open,
    decide_write,
    priority,
    write_as_open,
)
from shared.domain import commands as c
from shared.domain.categories import guess_category
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.domain.events.catalogue import Category, Level, Priority, Status
from shared.domain.ticket import OPEN_STATUSES, Ticket, evolve, stale

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
REQ = c.Actor("requester", "ana@example.com")
AGENT = c.Actor("agent", "bea")


@pytest.mark.parametrize(
    ("impact", "urgency", "expected"),
    [
        ("high", "high", "P1"),
        ("high", "medium", "P2"),
        ("medium", "high", "P2"),
        ("high", "low", "P3"),
        ("medium", "medium", "P3"),
        ("low", "high", "P3"),
        ("medium", "low", "P4"),
        ("low", "medium", "P4"),
        ("low", "low", "P4"),
    ],
)
def test_priority_matrix(impact: str, urgency: str, expected: str) -> None:
    assert priority(Level(impact), Level(urgency)) == Priority(expected)


@given(st.sampled_from(Level), st.sampled_from(Level), st.sampled_from(Level))
def test_more_urgency_never_lowers_priority(impact: Level, u1: Level, u2: Level) -> None:
    rank = {Level.low: 0, Level.medium: 1, Level.high: 2}
    if rank[u1] <= rank[u2]:
        assert priority(impact, u2) <= priority(impact, u1)  # "P1" < "P2": smaller is more urgent


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Mi pedido no llegó y el seguimiento no se actualiza", Category.order_status),
        ("Where is my ORDER? Tracking shows nothing", Category.order_status),
        ("Me cobraron dos veces en la tarjeta", Category.payment),
        ("Refund for a double charge", Category.payment),
        ("No puedo iniciar sesión, olvidé la contraseña", Category.account),
        ("La impresora no enciende", Category.hardware),
        ("La aplicación se cierra con un error al actualizar", Category.software),
        ("Sin conexión a internet, el WiFi está caído", Category.network),
        ("Quiero felicitar al equipo", Category.other),
        ("", Category.other),
    ],
)
def test_category_guess_in_spanish_and_english(text: str, category: Category) -> None:
    assert guess_category(text) == category


@given(st.text(max_size=300))
def test_category_guess_is_total(text: str) -> None:
    assert guess_category(text) in set(Category)


def test_open_keeps_a_given_category_and_guesses_a_missing_one() -> None:
    given_cat = decide_open(
        c.OpenTicket(requester="a", subject="Pago", description="x", category="network"), "T-1", "es"
    )
    assert (given_cat.category, given_cat.category_guessed) == (Category.network, False)
    guessed = decide_open(c.OpenTicket(requester="a", subject="Pago duplicado", description="tarjeta"), "T-1", "en")
    assert (guessed.category, guessed.category_guessed, guessed.language) == (Category.payment, True, "en")


# -- the status machine ------------------------------------------------------------------------

COMMANDS: dict[str, c.Command] = {
    "comment": c.Comment(body="nota"),
    "comment-internal": c.Comment(body="nota interna", internal=True),
    "request-info": c.RequestInfo(question="¿Qué error sale?"),
    "reply": c.Reply(body="Sale E-1"),
    "resolve": c.Resolve(summary="Arreglado"),
    "confirm": c.Confirm(),
    "reject": c.Reject(reason="Sigue fallando"),
    "reopen": c.Reopen(reason="Volvió a pasar"),
    "close": c.Close(reason="done"),
    "feedback": c.Feedback(rating=4),
    "escalate": c.Escalate(reason="Necesita nivel 2"),
    "categorize": c.Categorize(category="network", urgency="low", reason="Es la red"),
    "tags": c.Tags(add=("SEUR",)),
    "untag": c.Tags(remove=("seur",)),
    "link": c.Link(to="T-00000002"),
    "unlink": c.Link(to="T-00000002", unlink=True),
    "merge": c.Merge(into="T-00000002"),
}
ACTORS = {"requester": REQ, "agent": AGENT, "stranger": c.Actor("requester", "otro@example.com")}


def fresh_ticket() -> Ticket:
    opened = ev.TicketOpened(
        ticket_id="T-1",
        requester=REQ.id,
        subject="s",
        description="d",
        category="hardware",
        impact="high",
        urgency="high",
        priority="P1",
    )
    t = evolve(None, Envelope.new(opened, source="intake", subject="T-1", time=T0))
    assert t is not None
    return t


def other_ticket(requester: str = REQ.id) -> Ticket:
    opened = ev.TicketOpened(
        ticket_id="T-00000002",
        requester=requester,
        subject="s2",
        description="d2",
        category="hardware",
        impact="low",
        urgency="low",
        priority="P4",
    )
    t = evolve(None, Envelope.new(opened, source="intake", subject="T-00000002", time=T0))
    assert t is not None
    return t


OTHER = other_ticket()


def apply_all(t: Ticket, payloads: list[Any], minutes: int) -> Ticket:
    for p in payloads:
        nxt = evolve(t, Envelope.new(p, source="test", subject="T-1", time=T0 + timedelta(minutes=minutes)))
        assert nxt is not None
        t = nxt
    return t


def allowed(name: str, actor: str, t: Ticket) -> bool:
    """The rules, written a second time as a table, independently of the domain's code."""
    s = t.status
    open_ = s in OPEN_STATUSES
    if actor == "stranger":
        return False  # another requester may do nothing to this ticket
    rules = {
        ("comment", "requester"): open_ or s == Status.resolved,
        ("comment", "agent"): open_ or s == Status.resolved,
        ("comment-internal", "agent"): open_ or s == Status.resolved,
        ("request-info", "agent"): s in (Status.assigned, Status.in_progress),
        ("reply", "requester"): open_ and t.pending_question,
        ("resolve", "agent"): s in (Status.assigned, Status.in_progress, Status.waiting_on_customer),
        ("confirm", "requester"): s == Status.resolved,
        ("reject", "requester"): s == Status.resolved,
        ("reopen", "requester"): s in (Status.resolved, Status.closed),
        ("reopen", "agent"): s in (Status.resolved, Status.closed),
        ("close", "requester"): open_ or s == Status.resolved,
        ("close", "agent"): s == Status.resolved,
        ("feedback", "requester"): s in (Status.resolved, Status.closed) and t.feedback_rating is None,
        ("escalate", "agent"): open_ and t.level < 3,
        ("categorize", "agent"): open_ and (t.category, t.urgency) != ("network", "low"),
        ("tags", "agent"): (open_ or s == Status.resolved) and "seur" not in t.tags,
        ("untag", "agent"): (open_ or s == Status.resolved) and "seur" in t.tags,
        ("link", "agent"): "T-00000002" not in t.links,
        ("unlink", "agent"): "T-00000002" in t.links,
        ("merge", "agent"): open_ or s == Status.resolved,
    }
    return rules.get((name, actor), False)


steps = st.lists(
    st.tuples(st.sampled_from(sorted(COMMANDS)), st.sampled_from(sorted(ACTORS)), st.booleans()), max_size=25
)


@settings(max_examples=400, deadline=None)
@given(steps)
def test_every_command_in_every_status_follows_the_rules(walk: list[tuple[str, str, bool]]) -> None:
    t = fresh_ticket()
    for i, (name, who, assign_first) in enumerate(walk):
        if assign_first and t.owner is None:
            t = apply_all(t, [ev.TicketAssigned(ticket_id="T-1", agent_id="bea", level=1, reason="r")], i)
        before = t
        try:
            payloads = decide(COMMANDS[name], t, ACTORS[who], OTHER)
        except CommandRejected as exc:
            assert not allowed(name, who, before), f"{name} by {who} in {before.status} refused: {exc.reason}"
            assert exc.http_status in (403, 409)
            continue
        assert allowed(name, who, before), f"{name} by {who} accepted in {before.status}"
        assert payloads, "an accepted command records at least one fact"
        t = apply_all(t, payloads, i)
        assert t.version == before.version + len(payloads)
        expected_status = {
            "request-info": Status.waiting_on_customer,
            "reply": Status.in_progress,
            "resolve": Status.resolved,
            "confirm": Status.closed,
            "reject": Status.in_progress,
            "close": Status.closed,
        }.get(name)
        if expected_status:
            assert t.status == expected_status
        if name == "reopen":
            assert t.status in (Status.assigned, Status.new) and t.reopen_count == before.reopen_count + 1
        if name == "escalate":
            assert t.level == before.level + 1
        if name == "categorize":
            assert (t.category, t.urgency, t.priority) == ("network", "low", "P3")  # high impact, low urgency
        if name in ("tags", "untag"):
            assert ("seur" in t.tags) == (name == "tags")
        if name in ("link", "unlink"):
            assert ("T-00000002" in t.links) == (name == "link")
        if name == "merge":
            assert (t.status, t.merged_into) == (Status.closed, "T-00000002")


def test_feedback_only_once_and_messages_in_both_languages() -> None:
    t = fresh_ticket()
    t = apply_all(t, [ev.TicketAssigned(ticket_id="T-1", agent_id="bea", level=1, reason="r")], 1)
    t = apply_all(t, decide(COMMANDS["resolve"], t, AGENT), 2)
    t = apply_all(t, decide(COMMANDS["feedback"], t, REQ), 3)
    with pytest.raises(CommandRejected) as info:
        decide(COMMANDS["feedback"], t, REQ)
    assert "Ya registraste" in info.value.message("es")
    assert "already rated" in info.value.message("en")


def test_events_from_other_services_move_the_status() -> None:
    t = fresh_ticket()
    assert t.status == Status.new
    t = apply_all(t, [ev.TicketAssigned(ticket_id="T-1", agent_id="bea", level=1, reason="r")], 1)
    assert (t.status, t.owner) == (Status.assigned, "bea")
    t = apply_all(
        t,
        [ev.TicketCommented(ticket_id="T-1", author="bea", author_role="agent", body="x", internal=True)],
        2,
    )
    assert t.status == Status.assigned  # an internal note is not an answer
    t = apply_all(t, [ev.TicketCommented(ticket_id="T-1", author="bea", author_role="agent", body="x")], 3)
    assert t.status == Status.in_progress
    sla = ev.TicketSlaBreached(ticket_id="T-1", target="resolution", due=T0)
    assert apply_all(t, [sla], 4).status == Status.in_progress


def test_free_text_of_every_command_is_masked_and_ids_are_not() -> None:
    from services.intake.domain import mask_command

    card = "4111 1111 1111 1111"
    opened, kinds = mask_command(
        c.OpenTicket(
            requester="4111111111111111@example.com",  # an id is never rewritten
            subject=f"tarjeta {card}",
            description="mi contraseña es Secreta123",
            order_id="4111111111111111",
        )
    )
    assert isinstance(opened, c.OpenTicket)
    assert opened.subject == "tarjeta **** **** **** 1111" and "Secreta123" not in opened.description
    assert opened.requester == "4111111111111111@example.com" and opened.order_id == "4111111111111111"
    assert kinds == ("card_number", "password")
    for cmd in (
        c.Comment(body=card),
        c.Reply(body=card),
        c.RequestInfo(question=card),
        c.Resolve(summary=card),
        c.Reject(reason=card),
        c.Escalate(reason=card),
        c.Feedback(rating=3, comment=card),
        c.Categorize(reason=card),
    ):
        masked, kinds = mask_command(cmd)
        assert card not in masked.model_dump_json() and kinds == ("card_number",), cmd
    plain = c.Comment(body="sin nada que ocultar")
    assert mask_command(plain) == (plain, ())


# -- the requester writes (a mail) without knowing where the ticket stands ------------------------


REF = "R-0123456789ABCDEF"


def _ticket_in(status_events: list[ev.Payload]) -> Ticket:
    t: Ticket | None = None
    for i, p in enumerate(status_events):
        t = evolve(t, Envelope.new(p, source="intake", subject="T-1", time=T0 + timedelta(minutes=i)))
    assert t is not None
    return t


OPEN = ev.TicketOpened(
    ticket_id="T-1",
    requester=REF,
    subject="s",
    description="d",
    category=Category.hardware,
    impact=Level.low,
    urgency=Level.low,
    priority=Priority.P4,
)
ASSIGNED = ev.TicketAssigned(ticket_id="T-1", agent_id="bea", level=1, reason="r")
ASKED = ev.TicketInfoRequested(ticket_id="T-1", agent_id="bea", question="¿Modelo?")
RESOLVED = ev.TicketResolved(ticket_id="T-1", agent_id="bea", summary="ok")
CLOSED = ev.TicketClosed(ticket_id="T-1", by="bea", reason="done")
WRITE = c.Write(sender="laura@example.com", subject="Re: s", body="Es el X1")


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([OPEN], ev.TicketCommented),
        ([OPEN, ASSIGNED], ev.TicketCommented),
        ([OPEN, ASSIGNED, ASKED], ev.TicketCustomerReplied),  # the clock resumes
        ([OPEN, ASSIGNED, RESOLVED], ev.TicketReopened),  # as Zendesk does
    ],
)
def test_the_requesters_words_are_what_the_ticket_is_waiting_for(history: list[ev.Payload], expected: type) -> None:
    [event] = decide_write(WRITE, _ticket_in(history), REF) or []
    assert isinstance(event, expected)
    who = getattr(event, "requester", None) or getattr(event, "author", None) or getattr(event, "by", None)
    words = getattr(event, "body", None) or getattr(event, "reason", None)
    assert (who, words) == (REF, "Es el X1")


@pytest.mark.parametrize("history", [[OPEN, ASSIGNED, RESOLVED, CLOSED], [OPEN, ASSIGNED, CLOSED]])
def test_a_closed_ticket_or_a_stranger_starts_a_new_ticket(history: list[ev.Payload]) -> None:
    assert decide_write(WRITE, _ticket_in(history), REF) is None
    assert decide_write(WRITE, _ticket_in([OPEN, ASSIGNED]), "R-ZZZZZZZZZZZZZZZZ") is None  # not theirs
    assert decide_write(WRITE, None, REF) is None
    opened = write_as_open(WRITE, "T-1")
    assert (opened.requester, opened.description, opened.channel, opened.follows) == (
        "laura@example.com",
        "Es el X1",
        "email",
        "T-1",
    )


@contextmanager
def refused(code: str, status: int | None = None) -> Iterator[None]:
    with pytest.raises(CommandRejected) as caught:
        yield
    assert caught.value.code == code, caught.value.code
    assert status is None or caught.value.http_status == status


def test_tags_are_kept_as_the_one_lower_case_word_people_meant() -> None:
    t = apply_all(fresh_ticket(), [], 0)
    [tagged] = decide(c.Tags(add=("Devolución Pendiente", " SEUR ")), t, AGENT)
    assert isinstance(tagged, ev.TicketTagged) and tagged.added == ("devolución_pendiente", "seur")
    t = apply_all(t, [tagged], 1)
    with refused("nothing_changes"):
        decide(c.Tags(add=("seur",)), t, AGENT)
    with pytest.raises(ValueError):
        c.Tags(add=("<script>",))
    many = apply_all(t, [ev.TicketTagged(ticket_id="T-1", added=tuple(f"t{i}" for i in range(28)), by="bea")], 2)
    with refused("too_many_tags"):
        decide(c.Tags(add=("a1", "a2")), many, AGENT)
    [swap] = decide(c.Tags(add=("a1",), remove=("seur",)), many, AGENT)  # one in, one out: still 30
    assert isinstance(swap, ev.TicketTagged) and (swap.added, swap.removed) == (("a1",), ("seur",))


def test_a_merge_goes_only_into_another_open_ticket_of_the_same_customer() -> None:
    t = fresh_ticket()
    with refused("merge_other_requester"):
        decide(c.Merge(into="T-00000002"), t, AGENT, other_ticket("otra@example.com"))
    closed = apply_all(OTHER, [ev.TicketClosed(ticket_id="T-00000002", by="bea", reason="r")], 1)
    with refused("merge_into_closed"):
        decide(c.Merge(into="T-00000002"), t, AGENT, closed)
    with refused("not_found", 404):
        decide(c.Merge(into="T-00000002"), t, AGENT, None)
    itself = t.model_copy(update={"id": "T-00000001"})
    with refused("same_ticket"):
        decide(c.Link(to="T-00000001"), itself, AGENT, None)
    with refused("agents_only"):
        decide(c.Merge(into="T-00000002"), t, REQ, OTHER)


def test_a_form_is_stale_only_when_the_ticket_changed_in_substance_since() -> None:
    t = fresh_ticket()  # version 1
    drawn = t.version
    quiet = [
        ev.TicketSlaTargetsSet(ticket_id="T-1", priority="P1", first_response_due=T0, resolution_due=T0),
        ev.NotificationSent(ticket_id="T-1", about_event_id="e1", template="received", channel="email", recipient="r"),
    ]
    t = apply_all(t, quiet, 1)
    assert t.version == drawn + 2 and not stale(t, drawn)  # mails and clocks do not make a form stale
    t = apply_all(t, [ev.TicketTagged(ticket_id="T-1", added=("seur",), by="bea")], 2)
    assert stale(t, drawn) and not stale(t, t.version)
    assert stale(t, t.version + 1)  # a version the ticket never had

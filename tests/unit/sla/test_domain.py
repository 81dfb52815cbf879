"""SLA's rules without Kafka or PostgreSQL: the fold, the reactions and the timers, exhaustively
(hypothesis drives sequences of what can happen to a ticket)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import NAMESPACE_URL, uuid5

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from services.sla import domain
from services.sla.domain import State
from services.sla.policy import DEFAULT_POLICY, Policy
from shared.domain.events import Envelope, Payload
from shared.domain.events import catalogue as ev

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TID = "T-0000AAAA"


def policy() -> Policy:
    doc = yaml.safe_load(DEFAULT_POLICY.read_text())
    for p in ("P1", "P2", "P3", "P4"):
        doc["priorities"][p]["calendar"] = "24x7"
    doc["priorities"]["P1"] = {"first_response": 120, "next_response": 60, "resolution": 300, "calendar": "24x7"}
    doc["priorities"]["P2"] = {"first_response": 600, "resolution": 3000, "calendar": "24x7"}
    doc["escalation"] = [{"after_overdue": 0, "to_level": 2}, {"after_overdue": 60, "to_level": 3}]
    doc["lifecycle"] = {"waiting_reminder": "1m", "auto_resolve_after": "2m", "auto_close_after": "90s"}
    return Policy.model_validate(doc)


POLICY = policy()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def env(payload: Payload, seconds: float, source: str = "intake") -> Envelope:
    """The same fact at the same moment is the same event (the same id), as on the log."""
    event_id = uuid5(NAMESPACE_URL, f"{payload.event_type}|{seconds}|{source}|{payload.model_dump_json()}")
    return Envelope.new(payload, source=source, subject=TID, time=at(seconds), event_id=event_id)


def opened(priority: str = "P1", language: str = "es") -> ev.TicketOpened:
    return ev.TicketOpened(
        ticket_id=TID,
        requester="R-0123456789ABCDEF",
        subject="s",
        description="d",
        category=ev.Category.hardware,
        impact=ev.Level.high,
        urgency=ev.Level.high,
        priority=ev.Priority(priority),
        language=language,
    )


def live(state: State, e: Envelope) -> tuple[State, list[Envelope]]:
    """What the consumer does with a live event: fold it, react, fold the reactions."""
    state = domain.evolve(state, e, POLICY)
    out = []
    for payload in domain.decide(state, e, POLICY):
        emitted = Envelope.new(payload, source="sla", subject=TID, time=e.time, cause=e)
        state = domain.evolve(state, emitted, POLICY)
        out.append(emitted)
    return state, out


def opened_state(priority: str = "P1", language: str = "es") -> State:
    state, out = live(State(), env(opened(priority, language), 0))
    assert [e.type for e in out] == ["ticket.sla_targets_set"]
    return state


def test_an_opening_sets_the_priority_targets_and_every_timer_they_call_for() -> None:
    state = opened_state()
    c = state.clock
    assert c is not None and state.ticket is not None
    assert (c.first_response_due, c.resolution_due) == (at(120), at(300))
    assert state.timers == {
        "warn:first_response:0.75": at(90),
        "warn:first_response:0.9": at(108),
        "breach:first_response": at(120),
        "warn:resolution:0.75": at(225),
        "warn:resolution:0.9": at(270),
        "breach:resolution": at(300),
        "escalate:0": at(300),
        "escalate:1": at(360),
    }


def test_a_public_answer_meets_the_first_response_and_starts_the_update_cycle() -> None:
    state = opened_state()
    reply = ev.TicketCommented(ticket_id=TID, author="ana", author_role="agent", body="hola")
    state, out = live(state, env(reply, 30))
    assert [e.type for e in out] == ["ticket.sla_first_response_met"]
    c = state.clock
    assert c is not None and c.first_response_at == at(30) and c.next_response_due == at(90)
    assert not any("first_response" in k for k in state.timers)
    assert state.timers["breach:next_response"] == at(90)
    # an internal note is no answer
    note = ev.TicketCommented(ticket_id=TID, author="ana", author_role="agent", body="nota", internal=True)
    assert live(state, env(note, 40))[1] == []


def test_waiting_on_the_customer_pauses_and_the_pause_is_credited_exactly() -> None:
    state = opened_state()
    asked = ev.TicketInfoRequested(ticket_id=TID, agent_id="ana", question="¿modelo?")
    state, out = live(state, env(asked, 100))
    assert [e.type for e in out] == ["ticket.sla_first_response_met", "ticket.sla_paused"]
    c = state.clock
    assert c is not None and c.paused_at == at(100) and c.remaining == timedelta(seconds=200)
    assert set(state.timers) == {"remind", "autoresolve"}
    replied = ev.TicketCustomerReplied(ticket_id=TID, requester="R-0123456789ABCDEF", body="X1")
    state, out = live(state, env(replied, 1000))
    assert [e.type for e in out] == ["ticket.sla_resumed"]
    c = state.clock
    assert c is not None and c.paused_at is None and c.resolution_due == at(1200)
    assert state.timers["breach:resolution"] == at(1200) and "remind" not in state.timers


def test_a_due_warning_fires_once() -> None:
    state = opened_state()
    state, payload = domain.fire(state, "warn:first_response:0.75", at(90), POLICY)
    assert isinstance(payload, ev.TicketSlaWarning) and payload.due == at(120)
    state = domain.evolve(state, env(payload, 90, "sla"), POLICY)
    assert state.clock is not None and "warn:first_response:0.75" in state.clock.fired
    assert domain.fire(state, "warn:first_response:0.75", at(91), POLICY)[1] is None


def test_an_overdue_ticket_is_escalated_with_its_reasons_in_both_languages() -> None:
    state = opened_state()
    state = domain.evolve(state, env(ev.TicketAssigned(ticket_id=TID, agent_id="ana", level=1, reason="r"), 5), POLICY)
    state, payload = domain.fire(state, "escalate:0", at(330), POLICY)
    assert isinstance(payload, ev.TicketEscalated) and (payload.from_level, payload.to_level) == (1, 2)
    assert "P1" in payload.reason and "ana" in payload.reason and "30 s de retraso" in payload.reason
    assert "30 s overdue" in payload.reason_en and "v" in payload.reason_en
    state = domain.evolve(state, env(payload, 330, "sla"), POLICY)
    assert state.ticket is not None and state.ticket.level == 2
    # a step that no longer raises the level is marked fired, with nothing said
    state = domain.evolve(
        state, env(ev.TicketEscalated(ticket_id=TID, from_level=2, to_level=3, reason="x", by="sup"), 340), POLICY
    )
    state, payload = domain.fire(state, "escalate:1", at(360), POLICY)
    assert payload is None and state.clock is not None and "escalate:1" in state.clock.fired


@pytest.mark.parametrize(("language", "words"), [("es", "Resuelto automáticamente"), ("en", "Resolved automatically")])
def test_silence_after_a_question_reminds_then_resolves_in_the_ticket_language(language: str, words: str) -> None:
    state = opened_state(language=language)
    state, _ = live(state, env(ev.TicketInfoRequested(ticket_id=TID, agent_id="ana", question="¿?"), 10))
    assert state.timers["remind"] == at(70) and state.timers["autoresolve"] == at(130)
    state, reminder = domain.fire(state, "remind", at(70), POLICY)
    assert isinstance(reminder, ev.TicketInfoReminder) and reminder.asked_at == at(10)
    state = domain.evolve(state, env(reminder, 70, "sla"), POLICY)
    state, resolved = domain.fire(state, "autoresolve", at(130), POLICY)
    assert isinstance(resolved, ev.TicketResolved) and words in resolved.summary and "2 min" in resolved.summary
    state = domain.evolve(state, env(resolved, 130, "sla"), POLICY)
    assert set(state.timers) == {"autoclose"} and state.timers["autoclose"] == at(220)
    state, closed = domain.fire(state, "autoclose", at(220), POLICY)
    assert isinstance(closed, ev.TicketClosed) and closed.by == "system"
    state = domain.evolve(state, env(closed, 220, "sla"), POLICY)
    assert state.ticket is not None and not state.ticket.open and state.timers == {}


def test_auto_close_waits_per_category_and_never_means_no_timer() -> None:
    doc = yaml.safe_load(DEFAULT_POLICY.read_text())
    doc["lifecycle"]["auto_close_by_category"] = {"hardware": "never", "payment": "10d"}
    per_category = Policy.model_validate(doc)
    assert per_category.lifecycle.auto_close_for("hardware") is None
    assert per_category.lifecycle.auto_close_for("payment") == timedelta(days=10)
    assert per_category.lifecycle.auto_close_for("network") == per_category.lifecycle.auto_close_after
    assert per_category.lifecycle.auto_close_for(None) == per_category.lifecycle.auto_close_after

    def resolved_after(*facts: Payload) -> State:
        state = State()
        for i, fact in enumerate((opened(), *facts, ev.TicketResolved(ticket_id=TID, agent_id="a", summary="s"))):
            e = env(fact, i)
            state = domain.evolve(state, e, per_category)
            for reaction in domain.decide(state, e, per_category):
                state = domain.evolve(state, env(reaction, i, "sla"), per_category)
        return state

    assert "autoclose" not in resolved_after().timers  # hardware: the customer's word or staff's
    moved = ev.TicketCategorized(ticket_id=TID, category=ev.Category.payment, priority=ev.Priority.P1, reason="r")
    state = resolved_after(moved)
    assert state.timers["autoclose"] == at(2) + timedelta(days=10)
    state, closed = domain.fire(state, "autoclose", state.timers["autoclose"], per_category)
    assert isinstance(closed, ev.TicketClosed) and closed.reason == "auto"  # not confirmed: counted apart


@pytest.mark.parametrize("wrong", [{"nonsense": "3d"}, {"hardware": "soon"}])
def test_a_wrong_per_category_wait_is_refused_at_start(wrong: dict[str, str]) -> None:
    doc = yaml.safe_load(DEFAULT_POLICY.read_text())
    doc["lifecycle"]["auto_close_by_category"] = wrong
    with pytest.raises(ValueError):
        Policy.model_validate(doc)


def test_a_new_priority_keeps_the_time_already_spent() -> None:
    state = opened_state("P2")
    change = ev.TicketCategorized(ticket_id=TID, category=ev.Category.hardware, priority=ev.Priority.P1, reason="r")
    state, out = live(state, env(change, 100))
    [targets] = out
    assert isinstance(targets.data, ev.TicketSlaTargetsSet)
    assert targets.data.resolution_due == at(300)  # P1's 300 s, 100 of them already spent
    assert targets.data.first_response_due == at(120)
    assert live(state, env(change, 110))[1] == []  # the same priority again changes nothing


def test_resolving_in_time_is_met_and_a_reopen_continues_the_clock() -> None:
    state = opened_state()
    state, out = live(state, env(ev.TicketResolved(ticket_id=TID, agent_id="ana", summary="ok"), 100))
    assert [e.type for e in out] == ["ticket.sla_met"]
    assert state.clock is not None and state.clock.stopped_at == at(100)
    state, out = live(state, env(ev.TicketReopened(ticket_id=TID, by="R-0123456789ABCDEF", reason="sigue"), 500))
    assert [e.type for e in out] == ["ticket.sla_resumed"]
    assert state.clock is not None and state.clock.resolution_due == at(700)


# -- properties over whole histories ------------------------------------------------------------

REQ = "R-0123456789ABCDEF"
STEPS: list[Payload] = [
    ev.TicketAssigned(ticket_id=TID, agent_id="ana", level=1, reason="r"),
    ev.TicketCommented(ticket_id=TID, author="ana", author_role="agent", body="b"),
    ev.TicketCommented(ticket_id=TID, author=REQ, author_role="requester", body="b"),
    ev.TicketInfoRequested(ticket_id=TID, agent_id="ana", question="q"),
    ev.TicketCustomerReplied(ticket_id=TID, requester=REQ, body="a"),
    ev.TicketCategorized(ticket_id=TID, category=ev.Category.network, priority=ev.Priority.P2, reason="r"),
    ev.TicketCategorized(ticket_id=TID, category=ev.Category.network, priority=ev.Priority.P1, reason="r"),
    ev.TicketEscalated(ticket_id=TID, from_level=1, to_level=2, reason="r", by="sup"),
    ev.TicketResolved(ticket_id=TID, agent_id="ana", summary="s"),
    ev.TicketResolutionRejected(ticket_id=TID, requester=REQ, reason="no"),
    ev.TicketReopened(ticket_id=TID, by=REQ, reason="again"),
    ev.TicketClosed(ticket_id=TID, by="ana", reason="done"),
]
_CLOCK = opened_state().clock
assert _CLOCK is not None
TIMERS = ["remind", "autoresolve", "autoclose", *domain.plan(_CLOCK, POLICY)]

histories = st.lists(
    st.one_of(
        st.tuples(st.just("event"), st.sampled_from(range(len(STEPS))), st.integers(1, 120)),
        st.tuples(st.just("timer"), st.sampled_from(range(len(TIMERS))), st.integers(1, 120)),
    ),
    max_size=25,
)


def run(history: list[tuple[str, int, int]], twice: bool = False) -> tuple[State, list[str]]:
    state, seconds, said = opened_state(), 0, []
    for kind, i, gap in history:
        seconds += gap
        if kind == "event":
            e = env(STEPS[i], seconds)
            state, out = live(state, e)
            if twice:  # a redelivery: folded again (its reactions were made the first time)
                state = domain.evolve(state, e, POLICY)
                for o in out:
                    state = domain.evolve(state, o, POLICY)
            said += [o.type for o in out]
        else:
            state, payload = domain.fire(state, TIMERS[i], at(seconds), POLICY)
            if payload is not None:
                emitted = env(payload, seconds, "sla")
                state = domain.evolve(state, emitted, POLICY)
                if twice:
                    state = domain.evolve(state, emitted, POLICY)
                said.append(emitted.type)
    return state, said


@settings(max_examples=300, deadline=None)
@given(histories)
def test_folding_any_fact_twice_changes_nothing(history: list[tuple[str, int, int]]) -> None:
    assert run(history, twice=True) == run(history)


@settings(max_examples=300, deadline=None)
@given(histories)
def test_what_has_fired_never_fires_again_and_a_stopped_clock_keeps_no_target_timers(
    history: list[tuple[str, int, int]],
) -> None:
    state, said = run(history)
    c = state.clock
    assert c is not None
    assert len(set(c.fired)) == len(c.fired)
    assert not set(state.timers) & set(c.fired)
    if c.paused_at is not None or c.stopped_at is not None:
        assert all(k in domain.LIFECYCLE for k in state.timers)
    if c.paused_at is not None:
        assert c.remaining is not None and c.remaining >= timedelta(0)
    assert said.count("ticket.sla_met") <= 1
    if state.ticket is not None and not state.ticket.open:
        assert state.timers == {} or set(state.timers) <= set(domain.LIFECYCLE)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 600), st.integers(1, 10_000))
def test_a_pause_moves_the_resolution_due_by_exactly_its_length(asked: int, waited: int) -> None:
    state = opened_state()
    state, _ = live(state, env(ev.TicketInfoRequested(ticket_id=TID, agent_id="ana", question="q"), asked))
    state, _ = live(state, env(ev.TicketCustomerReplied(ticket_id=TID, requester=REQ, body="a"), asked + waited))
    assert state.clock is not None
    if asked < 300:
        assert state.clock.resolution_due == at(300 + waited)
    else:  # asked when already overdue: nothing is left, and it is due again as soon as they answer
        assert state.clock.resolution_due == at(asked + waited)

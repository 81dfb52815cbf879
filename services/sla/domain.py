"""SLA's rules, pure: how a ticket's clock and timers move with each event (`evolve`), what SLA
says when something happens (`decide`) and when a timer comes due (`fire`). No I/O: the handlers
load a ticket's `State` once, run these, and write the result once (services/sla/store.py).

The clock keeps the targets and calendar it was given. Waiting on the customer pauses the
resolution clock and the pause is credited exactly (the business time left is kept and counted
again from the reply); resolving stops it the same way, so a reopen continues with the time
already spent. Every future moment SLA must act at is a timer: `warn:<target>:<fraction>`,
`breach:<target>`, `escalate:<step>`, `remind`, `autoresolve`, `autoclose`. What has fired is in
the clock's `fired` and never fires again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from uuid import UUID
from zoneinfo import ZoneInfo

from services.sla.calendar import Calendar
from services.sla.policy import Policy
from shared.domain.events import Envelope, Payload
from shared.domain.events import catalogue as ev
from shared.domain.i18n import Say
from shared.domain.ticket import MAX_LEVEL

NAME = "sla"
LIFECYCLE = ("remind", "autoresolve", "autoclose")


@dataclass(frozen=True)
class Ticket:
    """What SLA knows of the ticket itself (for the escalation's reason and the lifecycle)."""

    id: str
    last_event: str
    last_event_at: datetime
    opened_at: datetime | None = None
    language: str = "es"
    owner: str | None = None
    level: int = 1
    open: bool = True
    category: str | None = None  # its auto-close wait (the policy's lifecycle, per category)


@dataclass(frozen=True)
class Clock:
    ticket_id: str
    priority: str
    targets_event_id: UUID
    calendar: str
    first_response_due: datetime
    resolution_due: datetime
    first_target: timedelta
    resolution_target: timedelta
    first_response_at: datetime | None = None
    next_target: timedelta | None = None  # none: no periodic-update target
    next_response_due: datetime | None = None  # the next public update is due by then
    next_remaining: timedelta | None = None  # business time left on it while paused
    paused_at: datetime | None = None
    remaining: timedelta | None = None  # business time left when paused or resolved
    stopped_at: datetime | None = None
    first_breached: bool = False
    resolution_breached: bool = False
    fired: tuple[str, ...] = ()  # in the order they fired

    def due_of(self, target: str) -> datetime | None:
        return {
            "first_response": self.first_response_due,
            "resolution": self.resolution_due,
            "next_response": self.next_response_due,
        }.get(target)


EMPTY: Mapping[str, datetime] = MappingProxyType({})


@dataclass(frozen=True)
class State:
    """One ticket as SLA holds it: its facts, its clock (once targets are set) and its timers."""

    ticket: Ticket | None = None
    clock: Clock | None = None
    timers: Mapping[str, datetime] = field(default_factory=lambda: EMPTY)


def calendar_of(policy: Policy, name: str) -> Calendar:
    """A clock's calendar; one the policy no longer defines counts 24x7."""
    return policy.calendar(name) if name in policy.calendars else policy.calendar("24x7")


# -- the fold ---------------------------------------------------------------------------------


def evolve(state: State, env: Envelope, policy: Policy) -> State:
    """Apply a fact to the ticket, its clock and its timers; the same fact twice changes nothing."""
    data = env.data
    s = dataclasses.replace(state, ticket=_touch(state.ticket, env))
    match data:
        case ev.TicketEscalated():
            assert s.ticket is not None
            s = dataclasses.replace(s, ticket=dataclasses.replace(s.ticket, level=max(s.ticket.level, data.to_level)))
        case ev.TicketSlaTargetsSet():
            s = _schedule(_targets(s, env.id, data, policy), policy, replace_all=True)
        case ev.TicketCommented() if data.author_role == "agent" and not data.internal:
            s = _next_response_cycle(s, env.time, policy)
        case ev.TicketInfoRequested():
            s = _next_response_cycle(s, env.time, policy)
        case ev.TicketSlaFirstResponseMet():
            if s.clock is not None:
                s = _clock(s, first_response_at=s.clock.first_response_at or data.at)
            s = _drop_timers(s, lambda kind: "first_response" in kind)
        case ev.TicketSlaPaused():
            s = _stop_resolution(s, data.at, policy, paused=True)
            s = _timer(s, "remind", data.at + policy.lifecycle.waiting_reminder)
            s = _timer(s, "autoresolve", data.at + policy.lifecycle.auto_resolve_after)
        case ev.TicketResolved():
            s = _stop_resolution(s, env.time, policy, paused=False)
            s = _drop_timers(s, lambda _kind: True)
            if s.clock is not None:
                s = _clock(s, fired=tuple(f for f in s.clock.fired if f != "autoclose"))
            wait = policy.lifecycle.auto_close_for(s.ticket.category if s.ticket else None)
            if wait is not None:
                s = _timer(s, "autoclose", env.time + wait)
        case ev.TicketResolutionRejected() | ev.TicketReopened():
            s = _drop_timers(s, lambda kind: kind == "autoclose")
        case ev.TicketClosed() | ev.TicketMerged():
            if s.clock is not None:
                s = _clock(s, stopped_at=s.clock.stopped_at or env.time)
            s = _drop_timers(s, lambda _kind: True)
            s = _ticket(s, open=False)
        case ev.TicketSlaResumed():
            s = _resume(s, data.at, data.resolution_due, policy)
        case ev.TicketSlaWarning():
            s = _mark(s, f"warn:{data.target}:{data.fraction}")
        case ev.TicketSlaBreached():
            if s.clock is not None and data.target == "first_response":
                s = _clock(s, first_breached=True)
            elif s.clock is not None and data.target == "resolution":
                s = _clock(s, resolution_breached=True)
            s = _mark(s, f"breach:{data.target}")
        case ev.TicketSlaMet():
            s = _mark(s, "met")
        case ev.TicketInfoReminder():
            s = _mark(s, "remind")
    return s


def _touch(ticket: Ticket | None, env: Envelope) -> Ticket:
    """Every event is the ticket's last; an opening and an assignment say more."""
    data = env.data
    opening = data if isinstance(data, ev.TicketOpened) else None
    assigned = data if isinstance(data, ev.TicketAssigned) else None
    category = data.category.value if isinstance(data, ev.TicketOpened | ev.TicketCategorized) else None
    if ticket is None:
        return Ticket(
            id=env.subject,
            last_event=env.type,
            last_event_at=env.time,
            opened_at=env.time if opening else None,
            language=opening.language if opening else "es",
            owner=assigned.agent_id if assigned else None,
            level=max(1, assigned.level if assigned else 1),
            category=category,
        )
    return dataclasses.replace(
        ticket,
        last_event=env.type,
        last_event_at=env.time,
        opened_at=env.time if opening else ticket.opened_at,
        language=opening.language if opening else ticket.language,
        owner=assigned.agent_id if assigned else ticket.owner,
        level=max(ticket.level, assigned.level if assigned else 1),
        category=category or ticket.category,
    )


def _targets(s: State, event_id: UUID, data: ev.TicketSlaTargetsSet, policy: Policy) -> State:
    spec = policy.priorities[data.priority]
    first_target = data.first_response_target or spec.first_response
    resolution_target = data.resolution_target or spec.resolution
    next_target = data.next_response_target if data.next_response_target is not None else spec.next_response
    c = s.clock
    if c is None:
        clock = Clock(
            ticket_id=s.ticket.id if s.ticket else "",
            priority=data.priority.value,
            targets_event_id=event_id,
            calendar=data.calendar,
            first_response_due=data.first_response_due,
            resolution_due=data.resolution_due,
            first_target=first_target,
            resolution_target=resolution_target,
            next_target=next_target,
        )
    else:
        paused = c.paused_at is not None
        clock = dataclasses.replace(
            c,
            priority=data.priority.value,
            targets_event_id=event_id,
            calendar=data.calendar,
            first_response_due=data.first_response_due,
            first_target=first_target,
            resolution_target=resolution_target,
            # a re-target while paused keeps the clock paused, with the new time left
            resolution_due=c.resolution_due if paused else data.resolution_due,
            remaining=data.remaining if paused else c.remaining,
            next_target=next_target,
        )
    return dataclasses.replace(s, clock=clock)


def _next_response_cycle(s: State, at: datetime, policy: Policy) -> State:
    """A public answer from an agent: the next update is due one next-response target later."""
    c = s.clock
    if c is None or c.next_target is None or c.stopped_at is not None:
        return s
    due = calendar_of(policy, c.calendar).add(at, c.next_target)
    s = _clock(
        s, next_response_due=due, next_remaining=None, fired=tuple(f for f in c.fired if "next_response" not in f)
    )
    return _schedule(_drop_timers(s, lambda kind: "next_response" in kind), policy)


def _stop_resolution(s: State, at: datetime, policy: Policy, *, paused: bool) -> State:
    c = s.clock
    if c is None:
        return s
    cal = calendar_of(policy, c.calendar)
    # already paused (a resolution while waiting on the customer): the time left was kept then
    left = c.remaining if c.remaining is not None else cal.elapsed(at, c.resolution_due)
    if paused:
        clock = dataclasses.replace(c, remaining=left, paused_at=c.paused_at or at)
    else:
        clock = dataclasses.replace(c, remaining=left, stopped_at=c.stopped_at or at)
    if c.next_response_due is not None and c.next_remaining is None:
        # waiting on the customer pauses the next-response clock too; resolving ends it
        clock = dataclasses.replace(
            clock,
            next_remaining=cal.elapsed(at, c.next_response_due) if paused else None,
            next_response_due=c.next_response_due if paused else None,
        )
    s = dataclasses.replace(s, clock=clock)
    return _drop_timers(s, lambda kind: "resolution" in kind or "next_response" in kind or kind.startswith("escalate:"))


def _resume(s: State, at: datetime, resolution_due: datetime, policy: Policy) -> State:
    c = s.clock
    if c is not None:
        if c.next_remaining is not None:
            c = dataclasses.replace(
                c,
                next_response_due=calendar_of(policy, c.calendar).add(at, c.next_remaining),
                next_remaining=None,
            )
        c = dataclasses.replace(
            c,
            paused_at=None,
            stopped_at=None,
            remaining=None,
            resolution_due=resolution_due,
            fired=tuple(f for f in c.fired if f not in ("remind", "autoresolve")),
        )
        s = dataclasses.replace(s, clock=c)
    s = _drop_timers(s, lambda kind: kind in LIFECYCLE)
    return _schedule(_ticket(s, open=True), policy)


def _schedule(s: State, policy: Policy, *, replace_all: bool = False) -> State:
    """(Re)write the ticket's timers from its clock: what has fired stays fired. `replace_all`:
    new targets, so its other timers go too."""
    c = s.clock
    if c is None or c.stopped_at is not None or c.paused_at is not None:
        return dataclasses.replace(s, timers=EMPTY) if replace_all else s
    todo = {kind: due for kind, due in plan(c, policy).items() if kind not in c.fired}
    timers = dict(todo) if replace_all else {**s.timers, **todo}
    return dataclasses.replace(s, timers=MappingProxyType(timers))


def plan(c: Clock, policy: Policy) -> dict[str, datetime]:
    """Every moment the clock's targets and the policy's ladder call for, fired or not."""
    cal = calendar_of(policy, c.calendar)
    out: dict[str, datetime] = {}
    targets = [("resolution", c.resolution_due, c.resolution_target)]
    if c.first_response_at is None:
        targets.append(("first_response", c.first_response_due, c.first_target))
    if c.next_response_due is not None and c.next_target is not None:
        targets.append(("next_response", c.next_response_due, c.next_target))
    for target, due, length in targets:
        for f in policy.warn_at:
            out[f"warn:{target}:{f}"] = cal.subtract(due, length * (1 - f))
        out[f"breach:{target}"] = due
    for i, step in enumerate(policy.escalation):
        out[f"escalate:{i}"] = cal.add(c.resolution_due, step.after_overdue) if step.after_overdue else c.resolution_due
    return out


def _timer(s: State, kind: str, due: datetime) -> State:
    """One more timer, unless there is no clock or it has fired already."""
    if s.clock is None or kind in s.clock.fired:
        return s
    return dataclasses.replace(s, timers=MappingProxyType({**s.timers, kind: due}))


def _mark(s: State, kind: str) -> State:
    """`kind` has fired: never again, and its timer goes."""
    if s.clock is not None and kind not in s.clock.fired:
        s = _clock(s, fired=(*s.clock.fired, kind))
    return _drop_timers(s, lambda k: k == kind)


def _drop_timers(s: State, which: Callable[[str], bool]) -> State:
    kept = {k: v for k, v in s.timers.items() if not which(k)}
    return s if len(kept) == len(s.timers) else dataclasses.replace(s, timers=MappingProxyType(kept))


def _clock(s: State, **changes: object) -> State:
    assert s.clock is not None
    return dataclasses.replace(s, clock=dataclasses.replace(s.clock, **changes))  # type: ignore[arg-type]


def _ticket(s: State, **changes: object) -> State:
    if s.ticket is None:
        return s
    return dataclasses.replace(s, ticket=dataclasses.replace(s.ticket, **changes))  # type: ignore[arg-type]


# -- what SLA says ----------------------------------------------------------------------------


def decide(s: State, env: Envelope, policy: Policy) -> list[Payload]:
    """SLA's answer to a live event, from the state with that event already folded in."""
    data = env.data
    c = s.clock
    match data:
        case ev.TicketOpened():
            spec = policy.priorities[data.priority]
            cal = calendar_of(policy, spec.calendar)
            return [
                ev.TicketSlaTargetsSet(
                    ticket_id=env.subject,
                    priority=data.priority,
                    first_response_due=cal.add(env.time, spec.first_response),
                    resolution_due=cal.add(env.time, spec.resolution),
                    calendar=spec.calendar,
                    timezone=cal.timezone,
                    first_response_target=spec.first_response,
                    resolution_target=spec.resolution,
                    next_response_target=spec.next_response,
                )
            ]
        case ev.TicketCommented() if data.author_role == "agent" and not data.internal:
            return _first_response(s, env)
        case ev.TicketInfoRequested():
            out = _first_response(s, env)
            if c is not None and c.paused_at is None and c.stopped_at is None:
                out.append(ev.TicketSlaPaused(ticket_id=env.subject, at=env.time))
            return out
        case ev.TicketCustomerReplied() | ev.TicketReopened() | ev.TicketResolutionRejected():
            if c is None or c.remaining is None:
                return []
            due = calendar_of(policy, c.calendar).add(env.time, c.remaining)
            return [ev.TicketSlaResumed(ticket_id=env.subject, at=env.time, resolution_due=due)]
        case ev.TicketResolved():
            if c is not None and not c.resolution_breached and "met" not in c.fired:
                return [ev.TicketSlaMet(ticket_id=env.subject, due=c.resolution_due, at=env.time)]
        case ev.TicketCategorized():
            return _retarget(s, data.priority, env.time, policy)
    return []


def _first_response(s: State, env: Envelope) -> list[Payload]:
    if s.clock is None or s.clock.first_response_at is not None:
        return []
    return [ev.TicketSlaFirstResponseMet(ticket_id=env.subject, at=env.time)]


def _retarget(s: State, new: ev.Priority, now: datetime, policy: Policy) -> list[Payload]:
    """A new priority gets the new priority's targets; the time already spent still counts.
    The log keeps both ticket.sla_targets_set events."""
    c, t = s.clock, s.ticket
    if c is None or t is None or t.opened_at is None or c.priority == new.value or c.stopped_at:
        return []
    old_cal, spec = calendar_of(policy, c.calendar), policy.priorities[new]
    cal = calendar_of(policy, spec.calendar)
    left = (
        c.remaining if c.paused_at is not None and c.remaining is not None else old_cal.elapsed(now, c.resolution_due)
    )
    spent = max(c.resolution_target - left, timedelta(0))
    remaining = max(spec.resolution - spent, timedelta(0))
    first_due = c.first_response_due if c.first_response_at else cal.add(t.opened_at, spec.first_response)
    return [
        ev.TicketSlaTargetsSet(
            ticket_id=c.ticket_id,
            priority=new,
            first_response_due=first_due,
            resolution_due=cal.add(now, remaining),
            calendar=spec.calendar,
            timezone=cal.timezone,
            remaining=remaining if c.paused_at is not None else None,
            first_response_target=spec.first_response,
            resolution_target=spec.resolution,
            next_response_target=spec.next_response,
        )
    ]


# -- timers -----------------------------------------------------------------------------------


def fire(s: State, kind: str, now: datetime, policy: Policy) -> tuple[State, Payload | None]:
    """A due timer, taken off: the event it calls for now, if any (a step that no longer applies
    is marked fired without one)."""
    s = _drop_timers(s, lambda k: k == kind)
    c, t = s.clock, s.ticket
    if c is None or kind in c.fired:
        return s, None
    if kind in LIFECYCLE:
        return s, _lifecycle(s, kind, policy)
    if c.stopped_at is not None or c.paused_at is not None:
        return s, None
    parts = kind.split(":")
    if parts[0] == "warn":
        due = c.due_of(parts[1])
        assert due is not None
        return s, ev.TicketSlaWarning(ticket_id=c.ticket_id, target=parts[1], due=due, fraction=float(parts[2]))
    if parts[0] == "breach":
        due = c.due_of(parts[1])
        assert due is not None
        return s, ev.TicketSlaBreached(ticket_id=c.ticket_id, target=parts[1], due=due)
    step = policy.escalation[int(parts[1])]
    if t is None or not t.open or t.level >= min(step.to_level, MAX_LEVEL):
        return _mark(s, kind), None
    es, en = escalation_reasons(c, t, now, policy)
    escalated = ev.TicketEscalated(
        ticket_id=c.ticket_id,
        from_level=t.level,
        to_level=step.to_level,
        reason=es,
        reason_en=en,
        by=f"system:{NAME}",
        target="resolution",
    )
    return _mark(s, kind), escalated


AUTO_RESOLVED = Say(
    "Resuelto automáticamente: no recibimos respuesta a nuestra pregunta en {span}. "
    "Si el problema continúa, puedes reabrir el ticket.",
    "Resolved automatically: we got no answer to our question in {span}. "
    "If the problem continues, you can reopen the ticket.",
)
DAYS = Say("{n} días", "{n} days")


def _lifecycle(s: State, kind: str, policy: Policy) -> Payload | None:
    c, t = s.clock, s.ticket
    assert c is not None
    if t is None or not t.open:
        return None
    if kind == "autoclose":
        if c.stopped_at is None:
            return None  # no longer resolved
        return ev.TicketClosed(ticket_id=c.ticket_id, by="system", reason="auto")
    if c.paused_at is None:
        return None  # the customer answered meanwhile
    if kind == "remind":
        return ev.TicketInfoReminder(ticket_id=c.ticket_id, asked_at=c.paused_at)
    span = policy.lifecycle.auto_resolve_after
    whole_days = span >= timedelta(days=1) and span % timedelta(days=1) == timedelta(0)
    lang = "es" if t.language == "es" else "en"
    told = DAYS(lang, n=span.days) if whole_days else human(span)
    return ev.TicketResolved(ticket_id=c.ticket_id, agent_id="system", summary=AUTO_RESOLVED(lang, span=told))


ESCALATION_REASON = Say(
    "Objetivo de resolución ({priority}) incumplido: vencía el {due} y lleva {late} de retraso. "
    "Responsable: {owner} (nivel {level}). Último movimiento: {last_event} el {last}. "
    "Se escala al nivel siguiente según la política de SLA v{version}.",
    "Resolution target ({priority}) missed: it was due {due} and is {late} overdue. "
    "Owner: {owner} (level {level}). Last activity: {last_event} at {last}. "
    "Escalated one level as SLA policy v{version} says.",
)
UNASSIGNED = Say("sin asignar", "unassigned")


def escalation_reasons(c: Clock, t: Ticket, now: datetime, policy: Policy) -> tuple[str, str]:
    """Why a ticket is escalated, in Spanish and English, with what a supervisor needs to act."""
    zone = ZoneInfo(calendar_of(policy, c.calendar).timezone)

    def reason(lang: str) -> str:
        return ESCALATION_REASON(
            lang,
            priority=c.priority,
            due=c.resolution_due.astimezone(zone).strftime("%d/%m/%Y %H:%M %Z"),
            late=human(now - c.resolution_due),
            owner=t.owner or UNASSIGNED(lang),
            level=t.level,
            last_event=t.last_event,
            last=t.last_event_at.astimezone(zone).strftime("%d/%m/%Y %H:%M %Z"),
            version=policy.version,
        )

    return reason("es"), reason("en")


def human(delta: timedelta) -> str:
    """'2 h 5 min', '7 min', '40 s': the same in Spanish and English."""
    seconds = max(int(delta.total_seconds()), 0)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h} h {m} min"
    return f"{m} min" if m else f"{s} s"

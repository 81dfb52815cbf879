"""Who hears about an event, in which words. Pure: the handlers look up the ticket, the
requester's preferences and the owner (services/notify/ledger.py), this says what to send.

- The requester hears what needs them or tells them where their ticket stands, in their language
  (their preference, else the ticket's): the targets once set, questions, public answers,
  reminders, the resolution, the closing, and (unless they opted out) a status update when no
  public update came within the interval.
- The owner hears of assignments, warnings, and the requester's answers and reopenings; the owner
  and the supervisors of breaches; the supervisors of escalations; in the staff's language.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.notify.templates import render
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.domain.i18n import Say, Texts
from shared.domain.privacy import REQUESTER_ROLE, is_ref
from shared.domain.ticket import OPEN_STATUSES


@dataclass(frozen=True)
class To:
    """A recipient as the ledger and the log name them (`label`: a requester by pseudonym) and
    where the mail goes (`address`, dropped when they are erased)."""

    label: str
    address: str

    @classmethod
    def staff(cls, address: str) -> To:
        return cls(address, address)


@dataclass(frozen=True)
class Message:
    to: To
    template: str
    language: str
    params: Mapping[str, str] = field(default_factory=dict)

    def words(self) -> tuple[str, str]:
        """(subject, body), rendered."""
        return render(self.template, self.language, **self.params)


@dataclass(frozen=True)
class TicketFacts:
    """What notify keeps of a ticket to write to the people around it."""

    id: str
    requester: str
    subject: str
    language: str
    requester_ref: str | None = None
    owner: str | None = None


@dataclass(frozen=True)
class Preferences:
    language: str | None = None
    periodic_updates: bool = True


@dataclass(frozen=True)
class Staff:
    name: str
    email: str


@dataclass(frozen=True)
class Audience:
    """What the settings say about the people messages go to."""

    public_url: str
    user_domain: str
    supervisors: tuple[str, ...]
    staff_language: str = "es"
    auditors: tuple[str, ...] = ()  # who receives the periodic audit with the supervisors

    def url(self, ticket_id: str) -> str:
        return f"{self.public_url}/t/{ticket_id}"

    def requester(self, t: TicketFacts) -> To:
        address = requester_address(t.requester, self.user_domain)
        # (tickets opened before pseudonyms are named by address)
        label = f"{REQUESTER_ROLE}:{t.requester_ref}" if t.requester_ref and is_ref(t.requester_ref) else address
        return To(label, address)


def requester_address(requester: str, user_domain: str) -> str:
    return requester if "@" in requester else f"{requester}@{user_domain}"


WHEN = Say("%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M")  # how each language writes a moment


def fmt(when: datetime, language: str, timezone: str = "UTC") -> str:
    """A due time as people read it: in the support calendar's zone, named."""
    local = when.astimezone(ZoneInfo(timezone))
    zone = local.tzname() or timezone
    return f"{local.strftime(WHEN.pick(language))} {zone}"


LOW_RATING = 2  # a rating of this or less is followed up by a supervisor
# Why a ticket went up a level, as the customer is told it
ESCALATED_WHY = {
    "first_response": Say(
        "no te respondimos dentro del plazo prometido y queremos darle prioridad",
        "we did not answer within the time we promised and want to give it priority",
    ),
    "resolution": Say(
        "no lo resolvimos dentro del plazo prometido y queremos darle prioridad",
        "we did not solve it within the time we promised and want to give it priority",
    ),
    "specialist": Say(
        "necesita a alguien con más experiencia en este tema",
        "it needs someone with more experience in this subject",
    ),
}


# the categories in a customer's words, for what they are told
CATEGORY_WORDS = Texts(
    {
        "order_status": ("pedidos y envíos", "orders and deliveries"),
        "payment": ("pagos y facturas", "payments and invoices"),
        "account": ("cuentas y acceso", "accounts and sign-in"),
        "hardware": ("dispositivos", "devices"),
        "software": ("aplicaciones", "apps"),
        "network": ("conexión", "connection"),
        "other": ("consultas generales", "general questions"),
    }
)


def messages(
    env: Envelope, t: TicketFacts, prefs: Preferences | None, owner: Staff | None, a: Audience
) -> list[Message]:
    """Who hears of `env`, in which words (assignments: `assigned`, once the agent is known)."""
    data = env.data
    lang = (prefs.language if prefs and prefs.language else None) or t.language
    wants_updates = prefs is None or prefs.periodic_updates
    base = {"ticket_id": t.id, "subject": t.subject, "url": a.url(t.id)}
    requester, staff = a.requester(t), a.staff_language
    match data:
        case ev.TicketSlaTargetsSet():
            due = {
                "priority": data.priority.value,
                "first_response_due": fmt(data.first_response_due, lang, data.timezone),
                "resolution_due": fmt(data.resolution_due, lang, data.timezone),
            }
            return [Message(requester, "received", lang, base | due)]
        case ev.TicketInfoRequested():
            return [Message(requester, "info_requested", lang, base | {"question": data.question})]
        case ev.TicketCommented() if data.author_role == "agent" and not data.internal:
            return [Message(requester, "update", lang, base | {"body": data.body})]
        case ev.TicketSlaWarning() if data.target != "next_response":
            if owner is None:
                return []
            params = base | {"target": data.target, "due": fmt(data.due, staff)}
            return [Message(To.staff(owner.email), "sla_warning", staff, params)]
        case ev.TicketSlaBreached() if data.target == "next_response":
            # no public update within the interval: tell the requester we are on it (unless they
            # opted out of these; messages that need their answer always go)
            return [Message(requester, "status_update", lang, base)] if wants_updates else []
        case ev.TicketSlaBreached():
            params = base | {"target": data.target, "due": fmt(data.due, staff), "owner": owner.name if owner else "-"}
            to = [*([owner.email] if owner else []), *a.supervisors]
            return [Message(To.staff(who), "sla_breached", staff, params) for who in to]
        case ev.TicketEscalated():
            reason = data.reason if staff == "es" or not data.reason_en else data.reason_en
            params = base | {"from_level": str(data.from_level), "to_level": str(data.to_level), "reason": reason}
            told = [Message(To.staff(who), "escalated", staff, params) for who in a.supervisors]
            # the customer hears it too, and why, in plain words (never the team's own notes)
            why = ESCALATED_WHY[data.target or "specialist"](lang)
            mine = base | {"to_level": str(data.to_level), "why": why}
            return [*told, Message(requester, "escalated_requester", lang, mine)]
        case ev.TicketQueued():
            # the customer hears that it waits, and why, in plain words (not routing's reasoning);
            # like the periodic updates, unless they opted out
            waits = {"category": CATEGORY_WORDS.say(data.category.value, lang), "level": str(data.level)}
            return [Message(requester, "queued", lang, base | waits)] if wants_updates else []
        case ev.TicketCustomerReplied():
            # the owner hears back (in the staff's language), with the answer and the link
            if owner is None:
                return []
            params = base | {"agent_name": owner.name, "body": data.body}
            return [Message(To.staff(owner.email), "customer_replied", staff, params)]
        case ev.TicketReopened() if data.by == t.requester:
            if owner is None:
                return []
            params = base | {"agent_name": owner.name, "reason": data.reason}
            return [Message(To.staff(owner.email), "reopened_owner", staff, params)]
        case ev.TicketInfoReminder():
            return [Message(requester, "reminder", lang, base)]
        case ev.TicketResolved():
            return [
                Message(requester, "resolved", lang, base | {"summary": data.summary, "kb_url": f"{a.public_url}/kb"})
            ]
        case ev.TicketClosed():
            return [Message(requester, "closed", lang, base)]
        case ev.TicketFeedbackGiven() if data.rating <= LOW_RATING:
            # clause 7: a customer who is not satisfied is followed up by a supervisor
            params = base | {
                "rating": str(data.rating),
                "comment": data.comment or "-",
                "owner": owner.name if owner else "-",
            }
            return [Message(To.staff(who), "low_rating", staff, params) for who in a.supervisors]
        case ev.TicketMerged():
            return [Message(requester, "merged", lang, base | {"into": data.into, "into_url": a.url(data.into)})]
    return []


def assigned(t: TicketFacts, agent: Staff, reason: str, a: Audience) -> Message:
    """The new owner hears of it, in the ticket's language."""
    params = {"ticket_id": t.id, "subject": t.subject, "url": a.url(t.id), "agent_name": agent.name, "reason": reason}
    return Message(To.staff(agent.email), "assigned", t.language, params)


UNTOLD = ("delivery_failed", "digest", "audit_review", "action_assigned")


def undelivered(t: TicketFacts, owner: Staff | None, template: str, a: Audience) -> list[Message]:
    """A mail that could not go is a person not told: the ticket's owner (else the supervisors)
    hears of it, once, to reach them another way. Never about such a mail itself (no loop)."""
    if template in UNTOLD:
        return []
    params = {"ticket_id": t.id, "subject": t.subject, "mail": template, "url": a.url(t.id)}
    return [
        Message(To.staff(who), "delivery_failed", a.staff_language, params)
        for who in ([owner.email] if owner else a.supervisors)
    ]


# -- the agents' daily digest -------------------------------------------------------------------


@dataclass(frozen=True)
class OpenTicket:
    id: str
    subject: str
    status: str
    priority: str
    resolution_due: datetime | None


OPEN = tuple(s.value for s in OPEN_STATUSES)


def digest_day(now: datetime, hour: int, timezone: str) -> date | None:
    """The local day whose digest is due at `now` (from `hour` o'clock on), else None."""
    local = now.astimezone(ZoneInfo(timezone))
    return local.date() if local.hour >= hour else None


def digest(agent: Staff, tickets: list[OpenTicket], day: date, a: Audience) -> Message | None:
    """An agent's open tickets, the one due first at the top; none when they have none."""
    if not tickets:
        return None
    lang = a.staff_language
    lines = [
        f"- {t.id} [{t.priority}] {t.subject} ({t.status})"
        + (f" · {fmt(t.resolution_due, lang)}" if t.resolution_due else "")
        for t in tickets
    ]
    params = {
        "agent_name": agent.name,
        "day": day.isoformat(),
        "count": str(len(tickets)),
        "items": "\n".join(lines),
        "url": f"{a.public_url}/console",
    }
    return Message(To.staff(agent.email), "digest", lang, params)


# -- retries ------------------------------------------------------------------------------------


def backoff(attempts: int, base_s: float, jitter: float | None = None) -> timedelta:
    """Exponential, capped at five minutes, with up to 25% jitter so the retries of many messages
    do not arrive together."""
    spread = random.uniform(1, 1.25) if jitter is None else jitter
    return timedelta(seconds=min(base_s * 2**attempts, 300) * spread)


def without(error: str, address: str | None, label: str) -> str:
    """An SMTP error as we keep it: a requester's address (servers echo it) by their label."""
    return error.replace(address, label) if address and address != label else error


# -- clause 12: the periodic audit and its actions ----------------------------------------------


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:g} %"


def review_figures(f: ev.ReviewFigures, lang: str) -> str:
    """The review's figures as lines of a mail, in the staff's language ("—": no data)."""
    es = lang == "es"
    rows = [
        ("Tickets abiertos en el periodo" if es else "Tickets opened in the period", str(f.tickets)),
        ("Primera respuesta a tiempo" if es else "First response on time", _pct(f.first_response_met_pct)),
        ("Resolución a tiempo" if es else "Resolution on time", _pct(f.resolution_met_pct)),
        (
            "Satisfacción (media de 5)" if es else "Satisfaction (average of 5)",
            "—" if f.csat_average is None else f"{f.csat_average:g} ({f.csat_responses})",
        ),
        ("Valoraciones de 1 o 2" if es else "Ratings of 1 or 2", str(f.low_ratings)),
        (
            "Cerrados sin confirmación del cliente" if es else "Closed without the customer's confirmation",
            str(f.closed_unconfirmed),
        ),
        ("Escalados" if es else "Escalations", str(f.escalations)),
        ("Reaperturas" if es else "Reopened", _pct(f.reopen_rate_pct)),
    ]
    return "\n".join(f"- {name}: {value}" for name, value in rows)


def audit_review(r: ev.ReviewOpened, a: Audience) -> list[Message]:
    """The supervisors and auditors hear that a period's audit is due, with its figures and sample."""
    lang = a.staff_language
    items = "\n".join(f"- {tid}: {a.url(tid)}" for tid in r.sample) or (
        "(ningún ticket cerrado en el periodo)" if lang == "es" else "(no ticket closed in the period)"
    )
    params = {
        "review_id": r.review_id,
        "sample_size": str(len(r.sample)),
        "period": f"{r.period_from.isoformat()} – {r.period_to.isoformat()}",
        "figures": review_figures(r.figures, lang),
        "items": items,
        "url": f"{a.public_url}/audits/{r.review_id}",
    }
    return [
        Message(To.staff(who), "audit_review", lang, params) for who in dict.fromkeys((*a.supervisors, *a.auditors))
    ]


def action_assigned(p: ev.ActionPlanned, owner: Staff, a: Audience) -> Message:
    by = p.by.partition(":")[2] or p.by
    params = {
        "owner_name": owner.name,
        "by": by,
        "due": p.due.isoformat(),
        "what": p.what,
        "url": f"{a.public_url}/audits#{p.action_id}",
    }
    return Message(To.staff(owner.email), "action_assigned", a.staff_language, params)

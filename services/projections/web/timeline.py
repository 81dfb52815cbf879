"""How each event reads on a ticket's timeline, keyed by its class: one entry per event type,
in Spanish and English (a test holds every type of the catalogue to having one)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.projections.web.texts import CATEGORY, CLOSE_REASON, label
from shared.domain.events import catalogue as ev
from shared.domain.events.errors import UnknownEventType
from shared.domain.i18n import Say, Texts

Data = Mapping[str, Any]
Who = Callable[[str | None], str]
Params = Callable[[Data, str, Who], Mapping[str, object]]


def _none(_d: Data, _lang: str, _who: Who) -> Mapping[str, object]:
    return {}


@dataclass(frozen=True)
class Entry:
    """A timeline line: its headline (with `params`' fields) and the data field shown beneath it."""

    headline: Say
    body: str | Callable[[Data, str], str] | None = None
    params: Params = field(default=_none)

    def read(self, data: Data, lang: str, who: Who) -> tuple[str, str]:
        head = self.headline(lang, **self.params(data, lang, who))
        if self.body is None:
            return head, ""
        body = self.body(data, lang) if callable(self.body) else data.get(self.body, "")
        return head, str(body or "")


def _agent(d: Data, _lang: str, who: Who) -> Mapping[str, object]:
    return {"name": who(d.get("agent_id"))}


def _escalation_reason(d: Data, lang: str) -> str:
    return str((d.get("reason_en") or d.get("reason", "")) if lang == "en" else d.get("reason", ""))


def _data(*names: str) -> Params:
    """The headline's fields taken from the event as they are."""
    return lambda d, _lang, _who: {n: d.get(n, "") for n in names}


def _stars(d: Data, _lang: str, _who: Who) -> Mapping[str, object]:
    return {"stars": "★" * int(d.get("rating", 0))}


# Why routing chose whom, in words (the event says it for machines: `criterion`, `candidates`).
CRITERION = Texts(
    {
        "least load": ("la menor carga", "least load"),
        "best proficiency": ("el mejor dominio de la categoría", "best proficiency in the category"),
        "longest since last assignment": ("quien más llevaba sin asignaciones", "longest since last assignment"),
        "id order": ("el orden de la lista", "list order"),
        "only eligible agent": ("era la única persona disponible", "the only one available"),
    }
)
# What each mail was, as people call it.
TEMPLATE = Texts(
    {
        "received": ("acuse de recibo con los plazos", "acknowledgement with the targets"),
        "assigned": ("aviso de asignación", "assignment notice"),
        "customer_replied": ("aviso de respuesta del cliente", "customer answer notice"),
        "reopened_owner": ("aviso de reapertura", "reopening notice"),
        "info_requested": ("pregunta al cliente", "question to the customer"),
        "update": ("respuesta al cliente", "reply to the customer"),
        "reminder": ("recordatorio al cliente", "reminder to the customer"),
        "status_update": ("aviso de seguimiento", "status update"),
        "sla_warning": ("aviso de plazo", "SLA warning"),
        "sla_breached": ("aviso de plazo incumplido", "SLA breach notice"),
        "delivery_failed": ("aviso de correo no entregado", "undelivered mail notice"),
        "escalated": ("aviso de escalado", "escalation notice"),
        "resolved": ("aviso de resolución", "resolution notice"),
        "closed": ("aviso de cierre", "closing notice"),
        "merged": ("aviso de fusión", "merge notice"),
        "low_rating": ("aviso de valoración baja", "low rating notice"),
        "escalated_requester": ("aviso de escalado al cliente", "escalation notice to the customer"),
        "digest": ("resumen diario", "daily digest"),
        "audit_review": ("auditoría periódica", "periodic audit"),
        "queued": ("aviso de ticket en cola", "queued notice"),
        "action_assigned": ("acción de mejora encargada", "improvement action given"),
    }
)


def _assigned_body(d: Data, lang: str) -> str:
    """Why this owner, in the reader's words; events from before `criterion` keep their text."""
    criterion = d.get("criterion") or ""
    if criterion == "manual":
        note = str(d.get("reason", "")).partition(": ")[2]
        return Say("Reasignado a mano por {by}: {note}", "Reassigned by hand by {by}: {note}")(
            lang, by=str(d.get("by") or "").partition(":")[2] or d.get("by") or "", note=note
        )
    if criterion in CRITERION:
        n = len(d.get("candidates") or ())
        return Say("Elegido por {why}, entre {n} disponibles", "Chosen by {why}, among {n} available")(
            lang, why=CRITERION.say(criterion, lang), n=n
        )
    return str(d.get("reason", ""))


def _queued_body(d: Data, lang: str) -> str:
    """Why it waits, in the reader's words (routing's own reasoning stays in the event)."""
    return Say(
        "Nivel {level}, {category}: nadie con esa especialidad tiene hueco; lo tomará el primero que quede libre.",
        "Level {level}, {category}: nobody with that skill is free now; the first one to free up takes it.",
    )(lang, level=d.get("level", 1), category=label(CATEGORY, d.get("category"), lang))


def _tags(d: Data) -> str:
    return " ".join([*(f"+{t}" for t in d.get("added", ())), *(f"−{t}" for t in d.get("removed", ()))])


def _author(d: Data, _lang: str, who: Who) -> Mapping[str, object]:
    return {"author": who(d.get("author")) if d.get("author_role") == "agent" else d.get("author", "")}


TIMELINE: dict[type[ev.Payload], Entry] = {
    ev.TicketOpened: Entry(Say("Ticket abierto", "Ticket opened"), "description"),
    ev.TicketCategorized: Entry(
        Say("Categoría {category}, prioridad {priority}", "Category {category}, priority {priority}"),
        "reason",
        lambda d, lang, _who: {"category": label(CATEGORY, d.get("category"), lang), "priority": d.get("priority")},
    ),
    ev.TicketAssigned: Entry(Say("Asignado a {name}", "Assigned to {name}"), _assigned_body, _agent),
    ev.TicketQueued: Entry(Say("En espera de un agente disponible", "Waiting for an available agent"), _queued_body),
    ev.TicketUnassigned: Entry(Say("Responsable liberado", "Owner released"), "reason"),
    ev.TicketCommented: Entry(Say("{author} escribió", "{author} wrote"), "body", _author),
    ev.TicketInfoRequested: Entry(Say("{name} pidió información", "{name} asked for information"), "question", _agent),
    ev.TicketCustomerReplied: Entry(Say("Respuesta del cliente", "Customer answered"), "body"),
    ev.TicketSlaTargetsSet: Entry(Say("Objetivos de respuesta fijados", "Response targets set")),
    ev.TicketSlaFirstResponseMet: Entry(Say("Primera respuesta a tiempo", "First response in time")),
    ev.TicketSlaPaused: Entry(Say("Plazo en pausa", "Clock paused")),
    ev.TicketSlaResumed: Entry(Say("Plazo reanudado", "Clock resumed")),
    ev.TicketSlaWarning: Entry(Say("Aviso de SLA: {target}", "SLA warning: {target}"), params=_data("target")),
    ev.TicketInfoReminder: Entry(Say("Recordatorio al cliente", "Reminder to the customer")),
    ev.TicketSlaMet: Entry(Say("Resuelto dentro del plazo", "Resolved within target")),
    ev.TicketSlaBreached: Entry(Say("SLA incumplido: {target}", "SLA breached: {target}"), params=_data("target")),
    ev.TicketEscalated: Entry(
        Say("Escalado al nivel {level}", "Escalated to level {level}"),
        _escalation_reason,
        lambda d, _lang, _who: {"level": d.get("to_level")},
    ),
    ev.TicketResolved: Entry(Say("Resuelto por {name}", "Resolved by {name}"), "summary", _agent),
    ev.TicketResolutionConfirmed: Entry(Say("El cliente confirmó la solución", "Customer confirmed the solution")),
    ev.TicketResolutionRejected: Entry(
        Say("El cliente indica que no está resuelto", "Customer says it is not solved"), "reason"
    ),
    ev.TicketReopened: Entry(Say("Reabierto", "Reopened"), "reason"),
    ev.TicketClosed: Entry(
        Say("Cerrado", "Closed"),
        lambda d, lang: (
            CLOSE_REASON.say(d.get("reason"), lang) if d.get("reason") in CLOSE_REASON else d.get("reason", "")
        ),
    ),
    ev.TicketTagged: Entry(Say("Etiquetas: {change}", "Tags: {change}"), params=lambda d, _l, _w: {"change": _tags(d)}),
    ev.TicketLinked: Entry(
        Say("{verb} con {other}", "{verb} {other}"),
        params=lambda d, lang, _w: {
            "other": d.get("other", ""),
            "verb": Say(
                "Desenlazado" if d.get("unlinked") else "Enlazado",
                "Unlinked from" if d.get("unlinked") else "Linked to",
            )(lang),
        },
    ),
    ev.TicketMerged: Entry(
        Say("Fusionado en {into}: la conversación sigue allí", "Merged into {into}: the conversation goes on there"),
        params=_data("into"),
    ),
    ev.TicketMacroApplied: Entry(Say("Macro aplicada: {name}", "Macro applied: {name}"), params=_data("name")),
    ev.TicketFieldsSet: Entry(
        Say("Campos: {change}", "Fields: {change}"),
        params=lambda d, _l, _w: {
            "change": ", ".join(
                [*(f"{v.get('field')}" for v in d.get("values", ())), *(f"−{f}" for f in d.get("cleared", ()))]
            )
        },
    ),
    ev.MacroSaved: Entry(Say("Macro guardada: {name}", "Macro saved: {name}"), params=_data("name")),
    ev.MacroRemoved: Entry(Say("Macro borrada: {macro_id}", "Macro removed: {macro_id}"), params=_data("macro_id")),
    ev.FieldDefined: Entry(Say("Campo definido: {field_id}", "Field defined: {field_id}"), params=_data("field_id")),
    ev.FieldRemoved: Entry(Say("Campo borrado: {field_id}", "Field removed: {field_id}"), params=_data("field_id")),
    ev.ReviewOpened: Entry(
        Say("Auditoría abierta: {review_id}", "Audit opened: {review_id}"), params=_data("review_id")
    ),
    ev.FindingRecorded: Entry(Say("Hallazgo registrado", "Finding recorded"), "text"),
    ev.ActionPlanned: Entry(Say("Acción de mejora planificada", "Improvement action planned"), "what"),
    ev.ActionUpdated: Entry(Say("Acción de mejora actualizada", "Improvement action updated"), "note"),
    ev.TicketFeedbackGiven: Entry(
        Say("Valoración {stars}", "Rating {stars}"),
        "comment",
        _stars,
    ),
    ev.TicketRequesterErased: Entry(Say("Datos personales borrados", "Personal data erased"), "reason"),
    ev.NotificationSent: Entry(
        Say("Correo enviado: {template}", "Mail sent: {template}"),
        params=lambda d, lang, _w: {"template": TEMPLATE.say(d.get("template"), lang)},
    ),
    ev.NotificationFailed: Entry(
        Say("Correo no entregado: {template}", "Mail not delivered: {template}"),
        "reason",
        lambda d, lang, _w: {"template": TEMPLATE.say(d.get("template"), lang)},
    ),
    ev.TicketRead: Entry(Say("Leído por {reader}", "Read by {reader}"), params=_data("reader")),
    ev.AgentRegistered: Entry(Say("Alta de {name}", "{name} joined"), params=_agent),
    ev.AgentUpdated: Entry(Say("Ficha de {name} actualizada", "{name}'s profile updated"), params=_agent),
    ev.AgentAvailabilityChanged: Entry(
        Say("{name}: {availability}", "{name}: {availability}"),
        "reason",
        lambda d, _l, who: {"name": who(d.get("agent_id")), "availability": d.get("availability", "")},
    ),
    ev.AgentRemoved: Entry(Say("Baja de {name}", "{name} left"), "reason", _agent),
}


def describe(event: Mapping[str, Any], lang: str, names: Mapping[str, str]) -> tuple[str, str]:
    """(headline, body) of a timeline entry. Bodies are plain text: the template escapes them."""

    def who(agent: str | None) -> str:
        return names.get(agent or "", agent or "")

    try:
        entry = TIMELINE.get(ev.model_for(event["type"]))
    except UnknownEventType:
        entry = None
    if entry is None:
        return event["type"], ""
    return entry.read(event["data"], lang, who)

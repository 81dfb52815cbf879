"""Macros and custom fields, decided: pure. A macro's text is a small template (`{{ticket.id}}`,
`{{ticket.order_id}}`, `{{requester.name}}`, `{{agent.name}}`) rendered in a sandbox; applying
it is the command its actions mean (a comment, a question, a resolution; category and tags),
each decided by the same rules as when a person gives it. A field's value is checked against its
kind before it is written."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from services.intake.domain import CommandRejected, decide
from shared.domain import commands as c
from shared.domain.events import Envelope, Payload
from shared.domain.events import catalogue as ev
from shared.domain.ticket import Ticket, evolve

PLACES = {"ticket": ("id", "order_id"), "requester": ("name",), "agent": ("name",)}
_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def check_text(text: str) -> None:
    """A macro's text as it will render, refused (ValueError, with why) if it names anything but
    the placeholders macros have."""
    try:
        parsed = _env.parse(text)
    except TemplateSyntaxError as exc:
        raise ValueError(f"the text is not a valid template: {exc.message}") from None
    # text and `{{ name.attr }}` placeholders only: no filters, calls, blocks or expressions
    for output in parsed.body:
        if not isinstance(output, nodes.Output):
            raise ValueError(f"only text and placeholders ({placeholders()})")
        for part in output.nodes:
            if isinstance(part, nodes.TemplateData):
                continue
            ok = (
                isinstance(part, nodes.Getattr)
                and isinstance(part.node, nodes.Name)
                and part.attr in PLACES.get(part.node.name, ())
            )
            if not ok:
                named = (
                    f"{part.node.name}.{part.attr}"
                    if isinstance(part, nodes.Getattr) and isinstance(part.node, nodes.Name)
                    else type(part).__name__.lower()
                )
                raise ValueError(f"unknown placeholder {named}; use {placeholders()}")


def placeholders() -> str:
    return ", ".join(f"{{{{{k}.{a}}}}}" for k, attrs in PLACES.items() for a in attrs)


@dataclass(frozen=True)
class Who:
    requester_name: str
    agent_name: str


def render(text: str, ticket: Ticket, who: Who) -> str:
    values: dict[str, Any] = {
        "ticket": {"id": ticket.id, "order_id": ticket.order_id or ""},
        "requester": {"name": who.requester_name},
        "agent": {"name": who.agent_name},
    }
    try:
        return _env.from_string(text).render(values).strip()
    except (UndefinedError, TemplateSyntaxError, SecurityError) as exc:  # checked when saved; a rule changed since
        raise CommandRejected("macro_broken", reason=str(exc)) from None


def name_from(sign_in: str) -> str:
    """A person's name as far as their sign-in id tells it (`maria.lopez@...` -> `Maria Lopez`)."""
    local = sign_in.split("@", 1)[0]
    words = [w for w in re.split(r"[._\-+]+", local) if w and not w.isdigit()]
    return " ".join(w.capitalize() for w in words) or local


def decide_macro(ticket: Ticket, macro: ev.MacroSaved, actor: c.Actor, who: Who) -> list[Payload]:
    """The events one application of `macro` makes: a trail, then each action as its command."""
    a = macro.actions
    text_src = (macro.text_en if ticket.language == "en" and macro.text_en else macro.text_es) or macro.text_en
    text = render(text_src, ticket, who) if text_src else ""
    steps: list[c.Command] = []
    if a.category or a.impact or a.urgency:
        changes = {"category": a.category, "impact": a.impact, "urgency": a.urgency}
        if (a.category or ticket.category, a.impact or ticket.impact, a.urgency or ticket.urgency) != (
            ticket.category,
            ticket.impact,
            ticket.urgency,
        ):
            steps.append(c.Categorize(**changes, reason=f"macro {macro.name}"[:300]))
    if a.add_tags and set(a.add_tags) - set(ticket.tags):
        steps.append(c.Tags(add=a.add_tags))
    if text:
        if a.internal:
            steps.append(c.Comment(body=text, internal=True))
        elif a.status == "waiting_on_customer":
            steps.append(c.RequestInfo(question=text))
        elif a.status == "resolved":
            steps.append(c.Resolve(summary=text))
        else:
            steps.append(c.Comment(body=text))
    elif a.status == "resolved":
        raise CommandRejected("macro_broken", reason="resolving needs the macro's text as the resolution")
    if not steps:
        raise CommandRejected("nothing_changes")
    out: list[Payload] = [
        ev.TicketMacroApplied(ticket_id=ticket.id, macro_id=macro.macro_id, name=macro.name, by=actor.id)
    ]
    state = ticket
    for step in steps:  # each on the ticket as the previous one left it, by the same rules as by hand
        for p in decide(step, state, actor):
            out.append(p)
            after = evolve(state, Envelope.new(p, source="intake", subject=ticket.id, time=state.updated_at))
            assert after is not None
            state = after
    return out


def check_value(definition: ev.FieldDefined, raw: str) -> str:
    """A field's value as kept, or ValueError with why (said in the 422)."""
    value = raw.strip()
    if not value:
        raise ValueError(f"{definition.field_id}: empty (clear it instead)")
    if len(value) > 300 or any(ch in value for ch in "\r\n"):
        raise ValueError(f"{definition.field_id}: one line of at most 300 characters")
    match definition.kind:
        case "number":
            try:
                number = Decimal(value.replace(",", "."))
            except InvalidOperation:
                raise ValueError(f"{definition.field_id}: not a number") from None
            if not number.is_finite():
                raise ValueError(f"{definition.field_id}: not a number")
            return str(number.normalize())
        case "date":
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError:
                raise ValueError(f"{definition.field_id}: a date as YYYY-MM-DD") from None
        case "list":
            if value not in definition.options:
                raise ValueError(f"{definition.field_id}: one of {', '.join(definition.options)}")
        case "order":
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_\-/.]{0,39}", value):
                raise ValueError(f"{definition.field_id}: an order number (letters, digits, - _ / .)")
    return value


def decide_fields(
    ticket: Ticket,
    definitions: dict[str, ev.FieldDefined],
    values: dict[str, str],
    clear: list[str],
    actor: c.Actor,
) -> list[Payload]:
    """`ticket.fields_set` for the values given and the ones cleared (ValueError when a value
    does not fit its field). The ticket knows which fields have a value, not the values: they
    are sealed with the requester's key like every text a person typed."""
    if not actor.is_staff:
        raise CommandRejected("agents_only", 403, command="fields")
    given: list[ev.FieldValue] = []
    for field_id, raw in values.items():
        definition = definitions.get(field_id)
        if definition is None:
            raise ValueError(f"{field_id}: no such field")
        if definition.categories and ticket.category not in definition.categories:
            raise ValueError(f"{field_id}: not a field of {ticket.category.value} tickets")
        given.append(ev.FieldValue(field=field_id, value=check_value(definition, raw)))
    cleared = tuple(f for f in dict.fromkeys(clear) if f in ticket.fields and f not in values)
    if not given and not cleared:
        raise CommandRejected("nothing_changes")
    return [ev.TicketFieldsSet(ticket_id=ticket.id, values=tuple(given), cleared=cleared, by=actor.id)]

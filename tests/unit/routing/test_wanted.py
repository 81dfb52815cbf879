"""Routing's ticket consumer passes over the records of types it does not declare it wants,
unread. Whatever event routing's code names must be declared, or its records would be skipped
without a word: this reads the package's source for every `ev.<Event>` it mentions."""

from __future__ import annotations

import ast
from pathlib import Path

import services.routing
from services.routing.handlers import TICKET_EVENTS_WANTED
from shared.domain.events import catalogue as ev
from shared.domain.events import registry
from shared.domain.events.catalogue import Payload

PACKAGE = Path(services.routing.__file__).parent


def named_events() -> dict[str, str]:
    """{event type: where} for every registered event class the package's code names as `ev.X`."""
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ev":
                cls = getattr(ev, node.attr, None)
                if isinstance(cls, type) and issubclass(cls, Payload) and hasattr(cls, "event_type"):
                    found.setdefault(cls.event_type, f"{path.name}:{node.lineno}")
    return found


def test_every_ticket_event_routing_names_is_one_it_wants() -> None:
    wanted = {cls.event_type for cls in TICKET_EVENTS_WANTED}
    ticket_events = {t for t in named_events() if t.startswith("ticket.")}
    missing = {t: named_events()[t] for t in ticket_events - wanted}
    assert not missing, f"named in routing's code but passed over by its consumer: {missing}"


def test_the_check_reads_the_handlers() -> None:
    """The scan finds what the handler matches on (a scan that finds nothing checks nothing)."""
    named = named_events()
    assert {"ticket.opened", "ticket.assigned", "agent.registered"} <= set(named)
    assert all(t in registry.known_types() for t in named)


def test_what_routing_passes_over_is_what_users_flood_the_log_with() -> None:
    wanted = {cls.event_type for cls in TICKET_EVENTS_WANTED}
    assert {"notification.sent", "ticket.sla_targets_set", "ticket.sla_met", "ticket.commented"}.isdisjoint(wanted)

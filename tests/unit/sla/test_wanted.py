"""SLA's ticket consumer passes over the outcomes of the mails the system sent (unread): they are
not activity on a ticket. Whatever event SLA's code names must still be one it reads, or its
records would be skipped without a word: this reads the package's source for every `ev.<Event>`."""

from __future__ import annotations

import ast
from pathlib import Path

import services.sla
from services.sla.handlers import NOT_ACTIVITY, TICKET_EVENTS_WANTED
from shared.domain.events import catalogue as ev
from shared.domain.events import registry
from shared.domain.events.catalogue import Payload

PACKAGE = Path(services.sla.__file__).parent


def _targets(node: ast.Assign | ast.AnnAssign) -> list[ast.expr]:
    return node.targets if isinstance(node, ast.Assign) else [node.target]


def named_events() -> dict[str, str]:
    """{event type: where} for every registered event class SLA's code names as `ev.X`, outside
    the declaration of what it passes over."""
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text())
        skip = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.AnnAssign | ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "NOT_ACTIVITY" for t in _targets(node))
            for n in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ev":
                cls = getattr(ev, node.attr, None)
                if isinstance(cls, type) and issubclass(cls, Payload) and hasattr(cls, "event_type"):
                    found.setdefault(cls.event_type, f"{path.name}:{node.lineno}")
    return found


def test_every_event_sla_names_is_one_it_reads() -> None:
    wanted = {cls.event_type for cls in TICKET_EVENTS_WANTED}
    missing = {t: where for t, where in named_events().items() if t not in wanted}
    assert not missing, f"named in SLA's code but passed over by its consumer: {missing}"


def test_the_check_reads_the_rules() -> None:
    """The scan finds what the rules match on (a scan that finds nothing checks nothing)."""
    named = named_events()
    assert {"ticket.opened", "ticket.resolved", "ticket.sla_targets_set"} <= set(named)
    assert all(t in registry.known_types() for t in named)


def test_sla_passes_over_only_the_mail_outcomes() -> None:
    # the catalogue's events (other tests register types of their own in the registry)
    catalogue = {
        cls.event_type
        for cls in vars(ev).values()
        if isinstance(cls, type) and issubclass(cls, Payload) and hasattr(cls, "event_type")
    }
    passed_over = catalogue - {cls.event_type for cls in TICKET_EVENTS_WANTED}
    assert passed_over == {"notification.sent", "notification.failed"} == {c.event_type for c in NOT_ACTIVITY}

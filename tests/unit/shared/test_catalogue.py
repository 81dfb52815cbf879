"""The registry: every type registered once, versions and upcasters."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.events import Payload, UnknownEventType, event, known_types, model_for, parse_payload, upcaster


def test_catalogue_has_the_lifecycle_of_architecture_md() -> None:
    expected = {
        "ticket.opened",
        "ticket.categorized",
        "ticket.assigned",
        "ticket.commented",
        "ticket.info_requested",
        "ticket.customer_replied",
        "ticket.sla_targets_set",
        "ticket.sla_warning",
        "ticket.sla_breached",
        "ticket.escalated",
        "ticket.resolved",
        "ticket.resolution_confirmed",
        "ticket.reopened",
        "ticket.closed",
        "ticket.feedback_given",
        "notification.sent",
        "notification.failed",
    }
    assert expected <= set(known_types())
    for t in known_types():
        assert model_for(t).event_type == t


def test_a_type_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="twice"):

        @event("ticket.opened", owner="intake", audience="staff")
        class Again(Payload):
            pass


def test_old_versions_are_upcast_on_read() -> None:
    @event("test.renamed", version=3, owner="tests", audience="staff")
    class Renamed(Payload):
        full_name: str
        locale: str

    @upcaster("test.renamed", 1)
    def v1_to_v2(d: dict[str, Any]) -> dict[str, Any]:
        return {"full_name": d["name"]}

    @upcaster("test.renamed", 2)
    def v2_to_v3(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "locale": "es"}

    assert parse_payload("test.renamed", 1, {"name": "Ana"}) == Renamed(full_name="Ana", locale="es")
    assert parse_payload("test.renamed", 3, {"full_name": "Bo", "locale": "en"}).locale == "en"  # type: ignore[attr-defined]
    with pytest.raises(UnknownEventType):
        parse_payload("test.renamed", 4, {})


def test_roster_records_written_before_v2_still_read() -> None:
    from shared.domain.events.catalogue import AgentAvailabilityChanged, AgentRegistered

    old = {
        "agent_id": "ana",
        "name": "Ana",
        "email": "a@x",
        "skills": ["payment"],
        "level": 1,
        "capacity": 5,
        "available": False,
    }
    agent = parse_payload("agent.registered", 1, old)
    assert isinstance(agent, AgentRegistered) and agent.availability == "offline" and agent.languages == ("es",)
    back = parse_payload("agent.availability_changed", 1, {"agent_id": "ana", "available": True})
    assert isinstance(back, AgentAvailabilityChanged) and back.availability == "online"

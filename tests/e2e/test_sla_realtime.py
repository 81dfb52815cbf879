"""The SLA with the real clock and a policy in seconds: the breach and the escalation arrive within
2 s of the due time, and routing hands the ticket to a level-2 agent."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.e2e.conftest import Mesa, register_roster
from tests.support import ROOT, client

pytestmark = pytest.mark.timeout(120)
EXTRA_ENV = {"MESA_SLA_POLICY": str(ROOT / "tests" / "e2e" / "data" / "fast-policy.yaml")}


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def test_breach_and_escalation_arrive_on_time(mesa: Mesa) -> None:
    await register_roster(mesa)
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            json={
                "requester": "urgente@example.com",
                "subject": "La tienda no carga",
                "description": "Error 500 en toda la web",
                "category": "software",
                "impact": "high",
                "urgency": "high",
            },
        )
    assert r.status_code == 201 and r.json()["priority"] == "P1"
    tid = r.json()["id"]

    def escalated_and_rerouted(t: dict) -> bool:  # type: ignore[type-arg]
        types = [e["type"] for e in t["timeline"]]
        return "ticket.escalated" in types and types.count("ticket.assigned") == 2

    t = await mesa.ticket_when(tid, escalated_and_rerouted, "escalation and re-routing", timeout=40)
    due = _at(t["sla"]["resolution_due"])
    events = {e["type"]: e for e in t["timeline"]}
    breached = [e for e in t["timeline"] if e["type"] == "ticket.sla_breached"]
    assert {e["data"]["target"] for e in breached} == {"first_response", "resolution"}
    resolution_breach = next(e for e in breached if e["data"]["target"] == "resolution")
    assert timedelta(0) <= _at(resolution_breach["time"]) - due < timedelta(seconds=2)
    escalation = events["ticket.escalated"]
    assert timedelta(0) <= _at(escalation["time"]) - due < timedelta(seconds=2)
    assert escalation["data"]["to_level"] == 2 and "incumplido" in escalation["data"]["reason"]
    assert t["owner"] == "ciro" and t["level"] == 2  # the only level-2 software agent
    assert t["sla"]["state"] == "breached"
    assert any(e["type"] == "ticket.sla_warning" for e in t["timeline"])

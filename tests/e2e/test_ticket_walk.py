"""A ticket's whole life through the five services, as separate processes, over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Mesa, body_of, register_roster

pytestmark = pytest.mark.timeout(300)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(scope="module")
async def staffed(mesa: Mesa) -> Mesa:
    await register_roster(mesa)
    return mesa


async def act(
    mesa: Mesa, ticket_id: str, command: str, actor: str, body: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(
            f"{mesa.url('intake')}/tickets/{ticket_id}/{command}",
            json=body or {},
            headers={"X-Mesa-Actor": actor, **headers},
        )


async def test_open_to_closed_with_every_step_visible(staffed: Mesa) -> None:
    mesa = staffed
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            data={
                "requester": "laura@example.com",
                "subject": "La impresora no imprime",
                "description": "Desde ayer la impresora del almacén muestra un error y no imprime etiquetas.",
                "impact": "high",
                "urgency": "medium",
            },
            files={"screenshots": ("error.png", PNG, "application/octet-stream")},
        )
    assert r.status_code == 201, r.text
    opened = r.json()
    tid = opened["id"]
    assert r.headers["location"].endswith(f"/tickets/{tid}")
    assert (opened["priority"], opened["category"], opened["category_guessed"]) == ("P2", "hardware", True)

    t = await mesa.ticket_when(
        tid, lambda t: t["owner"] and t["sla"]["state"] == "running", "assignment and SLA"
    )
    assert t["owner"] == "bea"  # hardware, level 1, least loaded
    assert t["status"] == "assigned"
    assert t["sla"]["first_response_due"] and t["sla"]["resolution_due"]
    [assigned] = [e for e in t["timeline"] if e["type"] == "ticket.assigned"]
    assert "skill hardware" in assigned["data"]["reason"]
    opened_event = t["timeline"][0]
    assert opened_event["type"] == "ticket.opened"
    assert opened_event["data"]["attachments"][0]["content_type"] == "image/png"
    async with httpx.AsyncClient(timeout=10) as http:
        sha = opened_event["data"]["attachments"][0]["sha256"]
        shot = await http.get(f"{mesa.url('intake')}/attachments/{sha}")
    assert shot.content == PNG and shot.headers["content-type"] == "image/png"

    received = await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "received", "the acknowledgement mail"
    )
    assert received["To"] == "laura@example.com"
    text = body_of(received)
    assert "Primera respuesta antes de" in text and "P2" in text
    await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["To"] == "bea@soporte.test", "the owner's assignment mail"
    )

    # a stale version is refused, not silently overwritten
    stale = await act(mesa, tid, "comment", "agent:bea", {"body": "x"}, **{"If-Match": '"1"'})
    assert stale.status_code == 409 and stale.json()["error"] == "version_conflict"

    r = await act(
        mesa, tid, "request-info", "agent:bea", {"question": "¿Qué código de error muestra la pantalla?"}
    )
    assert r.status_code == 200, r.text
    t = await mesa.ticket_when(tid, lambda t: t["status"] == "waiting_on_customer", "waiting on customer")
    await mesa.ticket_when(tid, lambda t: t["sla"]["state"] == "paused", "the SLA clock to pause")
    ask = await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "info_requested", "the question mail"
    )
    assert "código de error" in body_of(ask)

    r = await act(mesa, tid, "reply", "requester:laura@example.com", {"body": "Muestra E-302."})
    assert r.status_code == 200, r.text
    t = await mesa.ticket_when(
        tid, lambda t: t["status"] == "in_progress" and t["sla"]["state"] == "running", "the reply"
    )
    assert t["sla"]["first_response_at"] is not None

    r = await act(mesa, tid, "comment", "agent:bea", {"body": "Cambiamos el fusor, pruebe de nuevo."})
    assert r.status_code == 200
    await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "update", "the update mail"
    )

    r = await act(mesa, tid, "resolve", "agent:bea", {"summary": "Fusor sustituido; imprime correctamente."})
    assert r.status_code == 200
    await mesa.ticket_when(
        tid, lambda t: t["status"] == "resolved" and t["sla"]["state"] == "met", "resolution"
    )
    resolved = await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "resolved", "the resolution mail"
    )
    assert "Fusor sustituido" in body_of(resolved)

    r = await act(mesa, tid, "confirm", "requester:laura@example.com")
    assert r.status_code == 200
    r = await act(
        mesa, tid, "feedback", "requester:laura@example.com", {"rating": 5, "comment": "Rápido y claro"}
    )
    assert r.status_code == 200, r.text
    t = await mesa.ticket_when(
        tid, lambda t: t["status"] == "closed" and t["feedback"], "closed with feedback"
    )
    assert t["feedback"] == {"rating": 5, "comment": "Rápido y claro"}
    assert t["confirmed"] is True
    await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "closed", "the closing mail"
    )

    types = [e["type"] for e in t["timeline"]]
    story = [
        "ticket.opened",
        "ticket.sla_targets_set",
        "ticket.assigned",
        "ticket.info_requested",
        "ticket.sla_paused",
        "ticket.customer_replied",
        "ticket.sla_resumed",
        "ticket.commented",
        "ticket.resolved",
        "ticket.resolution_confirmed",
        "ticket.closed",
        "ticket.feedback_given",
    ]
    assert [x for x in types if x in story] == [x for x in story if x in types]
    assert set(story) <= set(types)
    assert [e["seq"] for e in t["timeline"]] == list(range(1, len(types) + 1))
    assert t["version"] == len(types)


async def test_wrong_commands_get_clear_errors_in_the_asked_language(staffed: Mesa) -> None:
    mesa = staffed
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            json={
                "requester": "omar@example.com",
                "subject": "Pedido PED-9 sin noticias",
                "description": "El seguimiento del envío no avanza.",
                "urgency": "low",
            },
        )
        assert r.status_code == 201
        tid = r.json()["id"]
        assert r.json()["category"] == "order_status"
        bad = await http.post(f"{mesa.url('intake')}/tickets", json={"requester": "omar@example.com"})
        assert bad.status_code == 422 and "subject" in bad.json()["message"]
        not_json = await http.post(
            f"{mesa.url('intake')}/tickets", content=b"{", headers={"content-type": "application/json"}
        )
        assert not_json.status_code == 400
        exe = await http.post(
            f"{mesa.url('intake')}/tickets",
            data={"requester": "omar@example.com", "subject": "x", "description": "y"},
            files={"screenshots": ("virus.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00", "image/png")},
        )
        assert exe.status_code == 415 and "virus.exe" in exe.json()["message"]

    r = await act(mesa, tid, "reply", "requester:omar@example.com", {"body": "hola"})
    assert r.status_code == 409 and "solicitud de información pendiente" in r.json()["message"]
    r = await act(
        mesa, tid, "reply", "requester:omar@example.com", {"body": "hi"}, **{"Accept-Language": "en"}
    )
    assert r.status_code == 409 and "no pending request" in r.json()["message"]
    r = await act(mesa, tid, "confirm", "requester:someone-else@example.com")
    assert r.status_code == 403
    r = await act(mesa, tid, "resolve", "requester:omar@example.com", {"summary": "solved it myself"})
    assert r.status_code == 403
    r = await act(mesa, tid, "teleport", "agent:ana")
    assert r.status_code == 404 and "request-info" in r.json()["message"]
    r = await act(mesa, tid, "feedback", "requester:omar@example.com", {"rating": 9})
    assert r.status_code == 422 and "rating" in r.json()["message"]
    r = await act(mesa, "T-NOPE", "comment", "agent:ana", {"body": "hola"})
    assert r.status_code == 404
    r = await act(mesa, tid, "comment", "nobody", {"body": "hola"})
    assert r.status_code == 400 and r.json()["error"] == "bad_actor"
    # nothing above left a trace on the ticket
    t = await mesa.ticket_when(tid, lambda t: t["owner"], "assignment")
    assert not {"ticket.customer_replied", "ticket.resolved", "ticket.feedback_given"} & {
        e["type"] for e in t["timeline"]
    }

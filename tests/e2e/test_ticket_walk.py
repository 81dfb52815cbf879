"""A ticket's whole life through the five services, as separate processes, over HTTP."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import httpx
import pytest

from shared.domain.reply_tokens import ticket_of
from shared.platform import db
from shared.platform.auth import SESSION_COOKIE
from shared.platform.keyring import reply_key
from shared.platform.topics import AGENT_EVENTS, TICKET_EVENTS
from tests.e2e.conftest import Mesa, body_of, register_roster
from tests.kafka_tools import end_offsets, inbox_caught_up
from tests.support import as_actor, bearer, client, eventually

pytestmark = pytest.mark.timeout(300)
PNG = (  # a real 1x1 image: attachments are parsed (their metadata removed), not stored blind
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture(scope="module")
async def staffed(mesa: Mesa) -> Mesa:
    await register_roster(mesa)
    return mesa


async def act(
    mesa: Mesa, ticket_id: str, command: str, actor: str, body: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    async with client(timeout=10) as http:
        return await http.post(
            f"{mesa.url('intake')}/tickets/{ticket_id}/{command}",
            json=body or {},
            headers={**as_actor(actor), **headers},
        )


async def test_open_to_closed_with_every_step_visible(staffed: Mesa) -> None:
    mesa = staffed
    async with client(timeout=10) as http:
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

    t = await mesa.ticket_when(tid, lambda t: t["owner"] and t["sla"]["state"] == "running", "assignment and SLA")
    assert t["owner"] in ("bea", "ciro")  # the hardware agents
    assert t["status"] == "assigned"
    assert t["sla"]["first_response_due"] and t["sla"]["resolution_due"]
    [assigned] = [e for e in t["timeline"] if e["type"] == "ticket.assigned"]
    assert assigned["data"]["criterion"] == "id order"  # a fresh, identical pair: the stable tie-break
    assert {c["agent_id"] for c in assigned["data"]["candidates"]} == {"bea", "ciro"}  # hardware skill
    assert "hardware L1 P2" in assigned["data"]["reason"]
    opened_event = t["timeline"][0]
    assert opened_event["type"] == "ticket.opened"
    assert opened_event["data"]["attachments"][0]["content_type"] == "image/png"
    async with client(timeout=10) as http:
        sha = opened_event["data"]["attachments"][0]["sha256"]
        shot = await http.get(f"{mesa.url('intake')}/tickets/{tid}/attachments/{sha}")
    assert shot.content == PNG and shot.headers["content-type"] == "image/png"

    received = await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "received", "the acknowledgement mail"
    )
    assert received["To"] == "laura@example.com"
    text = body_of(received)
    assert "Primera respuesta antes de" in text and "P2" in text
    assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d CES?T", text), "due times in the office's zone (Madrid)"
    await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["To"] == f"{t['owner']}@soporte.test", "the owner's assignment mail"
    )

    # a stale version is refused, not silently overwritten
    stale = await act(mesa, tid, "comment", "agent:bea", {"body": "x"}, **{"If-Match": '"1"'})
    assert stale.status_code == 409 and stale.json()["error"] == "version_conflict"

    r = await act(mesa, tid, "request-info", "agent:bea", {"question": "¿Qué código de error muestra la pantalla?"})
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
    await mesa.mail_when(lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "update", "the update mail")

    r = await act(mesa, tid, "resolve", "agent:bea", {"summary": "Fusor sustituido; imprime correctamente."})
    assert r.status_code == 200
    await mesa.ticket_when(tid, lambda t: t["status"] == "resolved" and t["sla"]["state"] == "met", "resolution")
    resolved = await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "resolved", "the resolution mail"
    )
    assert "Fusor sustituido" in body_of(resolved)

    r = await act(mesa, tid, "confirm", "requester:laura@example.com")
    assert r.status_code == 200
    r = await act(mesa, tid, "feedback", "requester:laura@example.com", {"rating": 5, "comment": "Rápido y claro"})
    assert r.status_code == 200, r.text
    t = await mesa.ticket_when(tid, lambda t: t["status"] == "closed" and t["feedback"], "closed with feedback")
    assert t["feedback"] == {"rating": 5, "comment": "Rápido y claro"}
    assert t["confirmed"] is True
    await mesa.mail_when(lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "closed", "the closing mail")

    types = [e["type"] for e in t["timeline"]]
    at = {kind: types.index(kind) for kind in set(types)}
    assert types[0] == "ticket.opened"
    # what the people did, in the order they did it
    walk = [
        "ticket.info_requested",
        "ticket.customer_replied",
        "ticket.commented",
        "ticket.resolved",
        "ticket.resolution_confirmed",
        "ticket.closed",
        "ticket.feedback_given",
    ]
    assert [at[k] for k in walk] == sorted(at[k] for k in walk)
    # what the services did in reaction, after its cause
    assert at["ticket.opened"] < at["ticket.assigned"] < at["ticket.info_requested"]
    assert at["ticket.opened"] < at["ticket.sla_targets_set"] < at["ticket.info_requested"]
    assert at["ticket.info_requested"] < at["ticket.sla_paused"] < at["ticket.customer_replied"]
    assert at["ticket.customer_replied"] < at["ticket.sla_resumed"]
    assert "notification.sent" in types
    assert [e["seq"] for e in t["timeline"]] == list(range(1, len(types) + 1))
    assert t["version"] == len(types)


async def test_wrong_commands_get_clear_errors_in_the_asked_language(staffed: Mesa) -> None:
    mesa = staffed
    async with client(timeout=10) as http:
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
    r = await act(mesa, tid, "reply", "requester:omar@example.com", {"body": "hi"}, **{"Accept-Language": "en"})
    assert r.status_code == 409 and "no pending request" in r.json()["message"]
    r = await act(mesa, tid, "confirm", "requester:someone-else@example.com")
    assert r.status_code == 404  # another requester's ticket does not exist for them
    r = await act(mesa, tid, "resolve", "requester:omar@example.com", {"summary": "solved it myself"})
    assert r.status_code == 403
    r = await act(mesa, tid, "teleport", "agent:ana")
    assert r.status_code == 404 and "request-info" in r.json()["message"]
    r = await act(mesa, tid, "feedback", "requester:omar@example.com", {"rating": 9})
    assert r.status_code == 422 and "rating" in r.json()["message"]
    r = await act(mesa, "T-NOPE", "comment", "agent:ana", {"body": "hola"})
    assert r.status_code == 404
    async with httpx.AsyncClient(timeout=10) as anonymous:
        r = await anonymous.post(f"{mesa.url('intake')}/tickets/{tid}/comment", json={"body": "hola"})
    assert r.status_code == 401 and r.json()["error"] == "unauthenticated"
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = await act(mesa, tid, "comment", "auditor:ines", {"body": "hola"})
    assert r.status_code == 403 and r.json()["error"] == "read_only"
    # nothing above left a trace on the ticket
    t = await mesa.ticket_when(tid, lambda t: t["owner"], "assignment")
    assert not {"ticket.customer_replied", "ticket.resolved", "ticket.feedback_given"} & {
        e["type"] for e in t["timeline"]
    }


async def _snapshot(mesa: Mesa) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    async with client(timeout=10) as http:
        listing = (await http.get(f"{mesa.url('projections')}/tickets", params={"limit": 200})).json()["items"]
        details = [(await http.get(f"{mesa.url('projections')}/tickets/{t['id']}")).json() for t in listing]
        roster = (await http.get(f"{mesa.url('routing')}/agents")).json()
    return details, roster, (await http_agents(mesa))


async def http_agents(mesa: Mesa) -> list[dict[str, Any]]:
    async with client(timeout=10) as http:
        result: list[dict[str, Any]] = (await http.get(f"{mesa.url('projections')}/agents")).json()
    return result


async def _ledger(mesa: Mesa) -> set[tuple[str, str, str, str]]:
    conn = await asyncpg.connect(mesa.iso.settings.database_url)
    try:
        rows = await conn.fetch("SELECT event_id, recipient, channel, status FROM notify.deliveries")
    finally:
        await conn.close()
    return {(str(r["event_id"]), r["recipient"], r["channel"], r["status"]) for r in rows}


async def test_projections_and_routing_rebuilt_from_offset_zero_are_identical(staffed: Mesa) -> None:
    mesa = staffed
    settings = mesa.iso.settings
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            json={
                "requester": "replay@example.com",
                "subject": "Router sin señal",
                "description": "La red cae",
            },
        )
    tid = r.json()["id"]
    await mesa.ticket_when(tid, lambda t: t["owner"] and t["sla"]["state"], "the ticket to settle")
    topics = [settings.topic(TICKET_EVENTS), settings.topic(AGENT_EVENTS)]

    async def quiet() -> bool:
        checks = [
            ("projections", "projections-tickets", topics[:1]),
            ("projections", "projections-agents", topics[1:]),
            ("routing", "routing-tickets", topics[:1]),
            ("routing", "routing-agents", topics[1:]),
            ("notify", "notify-tickets", topics[:1]),
            ("sla", "sla-tickets", topics[:1]),
        ]
        return all([await inbox_caught_up(settings, s, c, t) for s, c, t in checks])

    await eventually(quiet, timeout=60, what="every consumer to catch up")

    async def mail_settled() -> bool:
        conn = await asyncpg.connect(settings.database_url)
        try:
            pending = await conn.fetchval(
                "SELECT count(*) FROM notify.deliveries WHERE status IN ('pending', 'sending')"
            )
            unpublished = await conn.fetchval("SELECT count(*) FROM notify.outbox")
            return bool(pending == 0 and unpublished == 0)
        finally:
            await conn.close()

    await eventually(mail_settled, timeout=30, what="every message to go out")
    await eventually(quiet, timeout=60, what="every consumer to catch up")
    before = await _snapshot(mesa)
    ledger_before, mails_before = await _ledger(mesa), len(mesa.mails())
    log_before = await end_offsets(settings, topics[0])

    for service in ("projections", "routing", "notify"):
        mesa.procs[service].stop()
        await db.drop_schema(settings.database_url, service)
    for service in ("projections", "routing", "notify"):
        await mesa.start(service)
    await eventually(quiet, timeout=90, what="the rebuilt services to catch up")

    after = await _snapshot(mesa)
    for part, (b, a) in enumerate(zip(before, after, strict=True)):
        for x, y in zip(b, a, strict=True):
            assert x == y, f"part {part} {x.get('id')}: {[(k, x[k], y.get(k)) for k in x if x[k] != y.get(k)]}"
    assert after == before
    assert len(before[0]) >= 1 and any(a["load"] for a in before[1])
    assert await end_offsets(settings, topics[0]) == log_before  # the rebuild emitted nothing
    # notify's ledger came back from the notification facts in the log, and nobody got mail again
    sent_before = {k for k in ledger_before if k[3] == "sent"}
    assert sent_before and sent_before == {k for k in await _ledger(mesa) if k[3] == "sent"}
    assert len(mesa.mails()) == mails_before


async def test_escalation_moves_the_ticket_up_a_level_and_reopen_returns_it(staffed: Mesa) -> None:
    mesa = staffed
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            json={
                "requester": "nora@example.com",
                "subject": "El portátil no enciende",
                "description": "No carga la batería",
                "category": "hardware",
            },
        )
    tid = r.json()["id"]
    t = await mesa.ticket_when(tid, lambda t: t["owner"], "first assignment")
    first = t["owner"]
    assert first in ("bea", "ciro") and t["level"] == 1

    r = await act(
        mesa, tid, "escalate", f"agent:{first}", {"reason": "Posible fallo de placa: requiere técnico de nivel 2"}
    )
    assert r.status_code == 200, r.text
    t = await mesa.ticket_when(
        tid, lambda t: sum(e["type"] == "ticket.assigned" for e in t["timeline"]) == 2, "reassignment at level 2"
    )
    assert t["owner"] == "ciro"  # the only hardware agent at level 2
    assert t["level"] == 2
    escalated = next(e for e in t["timeline"] if e["type"] == "ticket.escalated")["data"]
    assert (escalated["from_level"], escalated["to_level"]) == (1, 2)
    assert "placa" in escalated["reason"]
    second = [e for e in t["timeline"] if e["type"] == "ticket.assigned"][-1]["data"]
    assert second["previous_agent_id"] == first and second["level"] == 2
    # nora is told, in plain words, never the agent's own note
    told = await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "escalated_requester", "nora told"
    )
    assert "equipo especialista" in str(told["Subject"]) and "placa" not in body_of(told)

    assert (await act(mesa, tid, "resolve", "agent:ciro", {"summary": "Placa sustituida"})).status_code == 200
    await mesa.ticket_when(tid, lambda t: t["status"] == "resolved", "resolved")
    r = await act(mesa, tid, "reopen", "requester:nora@example.com", {"reason": "Vuelve a apagarse"})
    assert r.status_code == 200
    t = await mesa.ticket_when(
        tid,
        lambda t: sum(e["type"] == "ticket.assigned" for e in t["timeline"]) == 3,
        "reassignment on reopen",
    )
    assert t["owner"] == "ciro" and t["status"] == "assigned"
    assert "previous owner" in [e for e in t["timeline"] if e["type"] == "ticket.assigned"][-1]["data"]["reason"]
    r = await act(mesa, tid, "escalate", "agent:ciro", {"reason": "Nivel 3"})
    assert r.status_code == 200
    r = await act(mesa, tid, "escalate", "agent:ciro", {"reason": "Más arriba"})
    assert r.status_code == 409 and r.json()["error"] == "top_level"
    # nobody works at level 3 here: the ticket waits in the level-3 queue, and says why
    t = await mesa.ticket_when(tid, lambda t: any(e["type"] == "ticket.queued" for e in t["timeline"]), "queued")
    queued = next(e for e in t["timeline"] if e["type"] == "ticket.queued")["data"]
    assert queued["level"] == 3 and "below L3" in queued["reason"]
    # routing let Ciro go when it queued the ticket: the views say nobody holds it, not Ciro (issue 20)
    assert t["owner"] is None and t["queued_since"] and t["level"] == 3, t
    session = bearer("requester", "nora@example.com")["Authorization"].removeprefix("Bearer ")
    async with httpx.AsyncClient(timeout=10, cookies={SESSION_COOKIE: session}) as http:
        portal = await http.get(f"{mesa.url('projections')}/portal")
        page = await http.get(f"{mesa.url('projections')}/t/{tid}")
    assert "en cola, nivel 3" in portal.text and "en cola, nivel 3" in page.text and "Ciro" not in portal.text
    # ...and she is told by mail, in plain words, not routing's reasoning
    told = await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "queued", "the customer told it waits"
    )
    assert "nora@example.com" in str(told["To"]) and "en cola" in str(told["Subject"])
    assert "nivel 3" in body_of(told) and "below L3" not in body_of(told) and "dispositivos" in body_of(told)


async def test_files_after_opening_go_with_a_comment_an_answer_or_a_reopening(staffed: Mesa) -> None:
    """The screenshot an agent asks for can be sent with the answer (multipart, checked as at
    opening); a command that takes no files says so with a 422, a file that is not one of ours
    with a 415, and nothing is kept of a refused request. The owner hears of the answer."""
    mesa = staffed
    requester = "requester:irene@example.com"
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            json={"subject": "La tablet no carga", "description": "No carga ni con otro cargador desde el lunes."},
            headers=as_actor(requester),
        )
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    t = await mesa.ticket_when(tid, lambda t: t["owner"] is not None, "assignment")
    owner = t["owner"]
    asked = await act(mesa, tid, "request-info", f"agent:{owner}", {"question": "¿Nos envías una foto del cargador?"})
    assert asked.status_code == 200, asked.text

    async with client(timeout=10) as http:
        url = f"{mesa.url('intake')}/tickets/{tid}"
        # no files for this command: refused, with the commands that take them
        wrong = await http.post(
            f"{url}/resolve",
            data={"summary": "x"},
            files={"screenshots": ("a.png", PNG, "image/png")},
            headers=as_actor(f"agent:{owner}"),
        )
        assert wrong.status_code == 422 and "reply" in wrong.json()["message"], wrong.text
        # not a file we take: 415, and the answer is not recorded
        bad = await http.post(
            f"{url}/reply",
            data={"body": "adjunto"},
            files={"screenshots": ("virus.exe", b"MZ\x90\x00" + b"\x00" * 64, "application/octet-stream")},
            headers=as_actor(requester),
        )
        assert bad.status_code == 415, bad.text
        # the answer with its photo
        r = await http.post(
            f"{url}/reply",
            data={"body": "Aquí está la foto del cargador"},
            files={"screenshots": ("cargador.png", PNG, "image/png")},
            headers=as_actor(requester),
        )
        assert r.status_code == 200, r.text
    t = await mesa.ticket_when(
        tid, lambda t: any(e["type"] == "ticket.customer_replied" for e in t["timeline"]), "the answer"
    )
    replies = [e for e in t["timeline"] if e["type"] == "ticket.customer_replied"]
    assert len(replies) == 1 and replies[0]["data"]["body"] == "Aquí está la foto del cargador"
    [photo] = replies[0]["data"]["attachments"]
    assert photo["content_type"] == "image/png"
    async with client(timeout=10) as http:
        got = await http.get(
            f"{mesa.url('intake')}/tickets/{tid}/attachments/{photo['sha256']}", headers=as_actor(requester)
        )
    assert got.status_code == 200 and got.content == PNG

    # the owner hears back, with the answer and the link
    mail = await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "customer_replied", "the owner's mail"
    )
    text = body_of(mail)
    assert "Aquí está la foto del cargador" in text and f"/t/{tid}" in text
    # an answer to any of Mesa's mails goes to the ticket, by a token only Mesa can make
    settings = mesa.iso.settings
    assert ticket_of(mail["Reply-To"], settings.support_address, reply_key(settings)) == tid

    # a reopening may bring a file too, and the owner hears of it
    assert (await act(mesa, tid, "resolve", f"agent:{owner}", {"summary": "Cargador sustituido"})).status_code == 200
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets/{tid}/reopen",
            data={"reason": "Sigue sin cargar"},
            files={"screenshots": ("otra.png", PNG, "image/png")},
            headers=as_actor(requester),
        )
    assert r.status_code == 200, r.text
    t = await mesa.ticket_when(
        tid, lambda t: any(e["type"] == "ticket.reopened" for e in t["timeline"]), "the reopening"
    )
    [reopened] = [e for e in t["timeline"] if e["type"] == "ticket.reopened"]
    assert reopened["data"]["attachments"][0]["sha256"] == photo["sha256"]  # the same image, the same file
    await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "reopened_owner", "the owner's reopen mail"
    )


async def test_a_low_rating_is_followed_up_and_the_customer_is_offered_to_reopen(staffed: Mesa) -> None:
    """Clause 7: closed only once resolved and the customer satisfied. A customer who rates 1 is
    not: the supervisors hear of it, the dashboard lists it, and she is offered to reopen."""
    mesa = staffed
    requester = "requester:olga@example.com"
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            json={"subject": "El reembolso no llega", "description": "Pedí el reembolso hace dos semanas."},
            headers=as_actor(requester),
        )
    tid = r.json()["id"]
    t = await mesa.ticket_when(tid, lambda t: t["owner"] is not None, "assignment")
    assert (await act(mesa, tid, "resolve", f"agent:{t['owner']}", {"summary": "Reembolso emitido"})).status_code == 200
    await mesa.ticket_when(tid, lambda t: t["status"] == "resolved", "resolved")
    assert (await act(mesa, tid, "confirm", requester)).status_code == 200
    r = await act(mesa, tid, "feedback", requester, {"rating": 1, "comment": "Tardaron demasiado"})
    assert r.status_code == 200, r.text
    told = await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "low_rating", "the supervisors told"
    )
    assert "1/5" in str(told["Subject"]) and "Tardaron demasiado" in body_of(told)
    sara = bearer("supervisor", "sara")["Authorization"].removeprefix("Bearer ")
    olga = bearer("requester", "olga@example.com")["Authorization"].removeprefix("Bearer ")
    async with httpx.AsyncClient(timeout=10) as http:
        dashboard = await http.get(f"{mesa.url('projections')}/dashboard", cookies={SESSION_COOKIE: sara})
        page = await http.get(f"{mesa.url('projections')}/t/{tid}", cookies={SESSION_COOKIE: olga})
        report = await http.get(f"{mesa.url('projections')}/audit/report", cookies={SESSION_COOKIE: sara})
    assert f'href="/t/{tid}"' in dashboard.text.split('id="low-ratings"', 1)[1]
    assert 'id="sorry-low-rating"' in page.text and 'id="form-reopen"' in page.text
    assert 'id="closed-confirmed"' in report.text
    # every count on the dashboard leads to its tickets
    assert 'href="/console?scope=all&amp;status=' in dashboard.text and 'id="load"' in dashboard.text

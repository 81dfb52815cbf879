"""Who may read and change what, over every service's HTTP API, with real tokens."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from shared.domain.principal import Role
from shared.platform.auth import SESSION_COOKIE
from shared.platform.consumer import decode_event
from shared.platform.topics import TICKET_EVENTS
from tests.e2e.conftest import Mesa, body_of, register_roster
from tests.kafka_tools import read_all
from tests.support import bearer, client, eventually

pytestmark = pytest.mark.timeout(300)
PNG = (  # a real 1x1 image: attachments are parsed (their metadata removed), not stored blind
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)
NOTE = "Nota interna: el cliente tiene un historial de contracargos"


@pytest.fixture(scope="module")
async def tickets(mesa: Mesa) -> dict[str, str]:
    """Two requesters' tickets; Alba's has a screenshot, an owner and an internal note."""
    await register_roster(mesa)
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            data={"subject": "La impresora no imprime", "description": "Error de impresora en el almacén"},
            files={"screenshots": ("error.png", PNG, "image/png")},
            headers=bearer("requester", "alba@example.com"),
        )
        assert r.status_code == 201, r.text
        alba = r.json()["id"]
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            json={"subject": "Mi pedido no llega", "description": "El pedido 123 no ha llegado"},
            headers=bearer("requester", "bruno@example.com"),
        )
        assert r.status_code == 201, r.text
        bruno = r.json()["id"]
    t = await mesa.ticket_when(alba, lambda t: t["owner"] is not None, "Alba's ticket to be assigned")
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets/{alba}/comment",
            json={"body": NOTE, "internal": True},
            headers=bearer("agent", t["owner"]),
        )
        assert r.status_code == 200, r.text
    t = await mesa.ticket_when(alba, lambda t: any(e["type"] == "ticket.commented" for e in t["timeline"]), "note")
    sha = t["timeline"][0]["data"]["attachments"][0]["sha256"]
    return {"alba": alba, "bruno": bruno, "sha": sha, "owner": t["owner"]}


async def test_no_token_is_401_everywhere(mesa: Mesa, tickets: dict[str, str]) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        for method, url in (
            ("GET", f"{mesa.url('projections')}/tickets"),
            ("GET", f"{mesa.url('projections')}/tickets/{tickets['alba']}"),
            ("GET", f"{mesa.url('projections')}/agents"),
            ("POST", f"{mesa.url('intake')}/tickets"),
            ("POST", f"{mesa.url('intake')}/tickets/{tickets['alba']}/comment"),
            ("GET", f"{mesa.url('intake')}/tickets/{tickets['alba']}/attachments/{tickets['sha']}"),
            ("GET", f"{mesa.url('routing')}/agents"),
            ("POST", f"{mesa.url('routing')}/tickets/{tickets['alba']}/assign"),
            ("GET", f"{mesa.url('notify')}/webhooks"),
            ("POST", f"{mesa.url('projections')}/kb/articles"),
        ):
            r = await http.request(method, url, json={})
            assert r.status_code == 401, (method, url, r.status_code, r.text)
            assert r.json()["error"] == "unauthenticated"
        forged = bearer("supervisor", "x")["Authorization"][:-4] + "AAAA"  # signature broken
        r = await http.get(f"{mesa.url('projections')}/tickets", headers={"Authorization": forged})
        assert r.status_code == 401


async def test_a_requester_cannot_reach_another_requesters_ticket(mesa: Mesa, tickets: dict[str, str]) -> None:
    alba, sha = tickets["alba"], tickets["sha"]
    async with client("requester", "bruno@example.com", timeout=10) as bruno:
        r = await bruno.get(f"{mesa.url('projections')}/tickets/{alba}")
        assert r.status_code == 404 and "Error de impresora" not in r.text
        r = await bruno.post(f"{mesa.url('intake')}/tickets/{alba}/comment", json={"body": "hola"})
        assert r.status_code == 404
        r = await bruno.post(f"{mesa.url('intake')}/tickets/{alba}/reopen", json={"reason": "x"})
        assert r.status_code == 404
        r = await bruno.get(f"{mesa.url('intake')}/tickets/{alba}/attachments/{sha}")
        assert r.status_code == 404 and r.content != PNG
        # nor through his own ticket, naming a file that is not on it
        r = await bruno.get(f"{mesa.url('intake')}/tickets/{tickets['bruno']}/attachments/{sha}")
        assert r.status_code == 404
        # his list holds his tickets only, whatever filter he asks for
        r = await bruno.get(f"{mesa.url('projections')}/tickets", params={"requester": "alba@example.com"})
        assert r.status_code == 200 and r.json()["items"] == []
        mine = (await bruno.get(f"{mesa.url('projections')}/tickets")).json()["items"]
        assert [t["id"] for t in mine] == [tickets["bruno"]]
        # opening in someone else's name is refused
        r = await bruno.post(
            f"{mesa.url('intake')}/tickets",
            json={"requester": "alba@example.com", "subject": "x", "description": "suplantación"},
        )
        assert r.status_code == 403 and r.json()["error"] == "requester_mismatch"
        # and the roster and other people's preferences are not his to read
        assert (await bruno.get(f"{mesa.url('projections')}/agents")).status_code == 403
        assert (await bruno.get(f"{mesa.url('routing')}/agents")).status_code == 403
        assert (await bruno.get(f"{mesa.url('notify')}/preferences/alba@example.com")).status_code == 403


async def test_internal_notes_never_reach_the_requester(mesa: Mesa, tickets: dict[str, str]) -> None:
    alba = tickets["alba"]
    async with client("requester", "alba@example.com", timeout=10) as http:
        r = await http.get(f"{mesa.url('projections')}/tickets/{alba}")
        assert r.status_code == 200
        shot = await http.get(f"{mesa.url('intake')}/tickets/{alba}/attachments/{tickets['sha']}")
    assert shot.status_code == 200 and shot.content == PNG
    assert shot.headers["x-content-type-options"] == "nosniff"
    assert NOTE not in r.text
    timeline = r.json()["timeline"]
    assert "ticket.commented" not in {e["type"] for e in timeline}
    [assigned] = [e for e in timeline if e["type"] == "ticket.assigned"]
    assert set(assigned["data"]) == {"agent_id", "level"}  # not routing's reasoning nor other agents' load
    assert all("actor" not in e and "source" not in e for e in timeline)
    # staff see it
    async with client("agent", tickets["owner"], timeout=10) as http:
        staff_view = (await http.get(f"{mesa.url('projections')}/tickets/{alba}")).json()
    assert any(e["data"].get("body") == NOTE for e in staff_view["timeline"])
    # and no mail to the requester carries it (the acknowledgement has come by now)
    await mesa.mail_when(lambda m: m["X-Mesa-Ticket"] == alba and m["To"] == "alba@example.com", "a mail to Alba")
    for m in mesa.mails():
        if m["To"] == "alba@example.com":
            assert NOTE not in body_of(m)


async def test_an_auditor_reads_everything_and_changes_nothing(mesa: Mesa, tickets: dict[str, str]) -> None:
    alba = tickets["alba"]
    async with client("auditor", "ines", timeout=10) as http:
        r = await http.get(f"{mesa.url('projections')}/tickets/{alba}")
        assert r.status_code == 200 and NOTE in r.text
        assert (await http.get(f"{mesa.url('projections')}/tickets")).json()["total"] >= 2
        assert (await http.get(f"{mesa.url('routing')}/agents")).status_code == 200
        refused = [
            await http.post(f"{mesa.url('intake')}/tickets/{alba}/{cmd}", json=body)
            for cmd, body in (
                ("comment", {"body": "hola"}),
                ("escalate", {"reason": "auditoría"}),
                ("resolve", {"summary": "x"}),
                ("close", {}),
            )
        ]
        refused.append(
            await http.post(
                f"{mesa.url('intake')}/tickets",
                json={"requester": "x@example.com", "subject": "x", "description": "x"},
            )
        )
        refused.append(
            await http.post(f"{mesa.url('routing')}/tickets/{alba}/assign", json={"agent_id": "ana", "reason": "x"})
        )
        refused.append(await http.delete(f"{mesa.url('routing')}/agents/ana"))
        refused.append(await http.get(f"{mesa.url('notify')}/webhooks"))
        refused.append(
            await http.post(
                f"{mesa.url('projections')}/kb/articles",
                json={"title": "Auditoría", "body": "no debería publicarse", "category": "other"},
            )
        )
        assert [r.status_code for r in refused] == [403] * len(refused), [r.text for r in refused]
    # Nothing changed: the log, not the view, is the judge (the view may still be applying an
    # event written before these requests, such as an SLA clock's, within its latency budget).
    records = await read_all(mesa.iso.settings, mesa.iso.settings.topic(TICKET_EVENTS))
    on_alba = [e for e in map(decode_event, records) if e.subject == alba]
    # (actors are legible: the owner's note names the owner, so the auditor's name would show)
    assert any(tickets["owner"] in e.actor for e in on_alba if e.type == "ticket.commented")
    assert [e.type for e in on_alba if "ines" in e.actor] == []


async def test_an_agent_sees_their_queue_not_other_peoples_tickets(mesa: Mesa, tickets: dict[str, str]) -> None:
    alba, owner = tickets["alba"], tickets["owner"]
    outsider = "ana"  # order and payment skills, no team shared with the hardware owner
    async with client("agent", outsider, timeout=10) as http:
        assert (await http.get(f"{mesa.url('projections')}/tickets/{alba}")).status_code == 404
        listing = (await http.get(f"{mesa.url('projections')}/tickets", params={"limit": 200})).json()["items"]
        assert alba not in {t["id"] for t in listing}
        assert all(t["owner"] in (None, outsider) for t in listing)
        assert (await http.get(f"{mesa.url('projections')}/agents/{owner}/queue")).status_code == 403
        assert (await http.get(f"{mesa.url('projections')}/agents/{outsider}/queue")).status_code == 200
    async with client("agent", owner, timeout=10) as http:
        queue = (await http.get(f"{mesa.url('projections')}/agents/{owner}/queue")).json()
    assert alba in {t["id"] for t in queue}


async def test_confidential_data_is_masked_before_it_reaches_the_log(mesa: Mesa, tickets: dict[str, str]) -> None:
    card, password = "4111 1111 1111 1111", "Hunter2024!"
    async with client("requester", "alba@example.com", timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            json={
                "subject": "Cobro duplicado",
                "description": f"Me cobraron dos veces en la tarjeta {card} CVV 123. Mi contraseña es {password}",
            },
        )
        assert r.status_code == 201, r.text
        assert set(r.json()["masked"]) == {"card_number", "card_code", "password"}
        tid = r.json()["id"]
        r = await http.post(
            f"{mesa.url('intake')}/tickets/{tid}/comment", json={"body": "otra vez: 5500-0000-0000-0004"}
        )
        assert r.json()["masked"] == ["card_number"]
    t = await mesa.ticket_when(tid, lambda t: len(t["timeline"]) >= 2, "the ticket and the comment")
    assert "**** **** **** 1111" in t["description"] and "CVV ***" in t["description"]
    # nothing of it in any record of the log, in any form
    records = await read_all(mesa.iso.settings, mesa.iso.settings.topic(TICKET_EVENTS))
    raw = b"".join((r.value or b"") for r in records)
    for secret in (card, card.replace(" ", ""), "5500-0000-0000", password, b"CVV 123".decode()):
        assert secret.encode() not in raw, secret


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_hostile_input_is_stored_verbatim_or_refused_never_breaks_intake(
    mesa: Mesa, tickets: dict[str, str]
) -> None:
    sql = "'; DROP TABLE tickets; -- \" OR 1=1 /* ${jndi:ldap://x} {{7*7}}"
    async with client("requester", "alba@example.com", timeout=60) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            data={"subject": sql[:60], "description": sql},
            files={"screenshots": ("../../../etc/passwd.png", PNG, "image/png")},
        )
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        t = await mesa.ticket_when(tid, lambda t: True, "the hostile ticket")
        assert (t["subject"], t["description"]) == (sql[:60], sql)  # shown as typed, nothing executed
        assert t["timeline"][0]["data"]["attachments"][0]["filename"] == "passwd.png"

        # 50 MB: refused by its declared size before it is read...
        pid = mesa.procs["intake"].pid
        before = rss_kb(pid)
        big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (50 * 2**20)
        r = await http.post(f"{mesa.url('intake')}/tickets", files={"screenshots": ("big.png", big, "image/png")})
        assert r.status_code == 413 and r.json()["error"] == "too_large"

        # ...and, sent without a length, as soon as it passes the limit
        async def stream() -> AsyncIterator[bytes]:
            yield (
                b'--x\r\nContent-Disposition: form-data; name="screenshots"; filename="big.png"\r\n'
                b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n"
            )
            chunk = b"\x00" * 2**20
            for _ in range(50):
                yield chunk

        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            content=stream(),
            headers={"content-type": "multipart/form-data; boundary=x"},
        )
        assert r.status_code == 413
        assert rss_kb(pid) - before < 40 * 1024, (before, rss_kb(pid))  # never held the 50 MB
        # and it still works
        ok = await http.post(f"{mesa.url('intake')}/tickets", json={"subject": "sigo aquí", "description": "ok"})
        assert ok.status_code == 201


async def test_every_staff_read_of_a_ticket_is_recorded_for_auditors(mesa: Mesa, tickets: dict[str, str]) -> None:
    alba = tickets["alba"]
    async with client("supervisor", "sara", timeout=10) as http:
        assert (await http.get(f"{mesa.url('projections')}/tickets/{alba}")).status_code == 200
        shot = await http.get(f"{mesa.url('intake')}/tickets/{alba}/attachments/{tickets['sha']}")
        assert shot.status_code == 200
    async with client("requester", "alba@example.com", timeout=10) as http:
        assert (await http.get(f"{mesa.url('projections')}/tickets/{alba}")).status_code == 200

    async def recorded() -> list[dict[str, str]] | None:
        async with client("auditor", "ines", timeout=10) as http:
            r = await http.get(f"{mesa.url('audit')}/access", params={"ticket_id": alba})
        assert r.status_code == 200, r.text
        rows: list[dict[str, str]] = r.json()
        sara = {x["via"] for x in rows if x["reader"] == "supervisor:sara"}
        return rows if {"api", "download"} <= sara else None

    rows = await eventually(recorded, what="the supervisor's read in the access log")
    readers = {x["reader"] for x in rows}
    assert "supervisor:sara" in readers and "auditor:ines" in readers  # the auditor's own reads too
    assert "service:tests" in readers  # another system reading (the tests' own polling) is recorded
    assert not any(r.startswith("requester:") for r in readers)  # a requester reading their own ticket is not
    assert all(x["ticket_id"] == alba and x["via"] in ("api", "download") and x["at"] for x in rows)
    # and only auditors (and admins) may look
    async with client("agent", tickets["owner"], timeout=10) as http:
        assert (await http.get(f"{mesa.url('audit')}/access")).status_code == 403


async def test_a_link_cannot_put_its_words_in_the_pages_own_alert(mesa: Mesa, tickets: dict[str, str]) -> None:
    phishing = "Su cuenta está bloqueada: pague la tasa en evil.example"
    async with httpx.AsyncClient(timeout=10) as http:
        session = bearer("requester", "alba@example.com")["Authorization"].removeprefix("Bearer ")
        r = await http.get(
            f"{mesa.url('projections')}/t/{tickets['alba']}",
            params={"error": phishing},
            cookies={SESSION_COOKIE: session},
        )
    assert r.status_code == 200 and "La impresora no imprime" in r.text
    assert "evil.example" not in r.text and 'role="alert"' not in r.text


async def test_an_idempotency_key_is_the_callers_own_and_bound_to_its_request(mesa: Mesa) -> None:
    body = {"subject": "Pedido 77 sin noticias", "description": "No llega el pedido 77"}
    url = f"{mesa.url('intake')}/tickets"
    key = {"Idempotency-Key": "pedido-77"}
    async with httpx.AsyncClient(timeout=10) as http:
        first = await http.post(url, json=body, headers=bearer("requester", "alicia@example.com") | key)
        again = await http.post(url, json=body, headers=bearer("requester", "alicia@example.com") | key)
        other = await http.post(
            url, json=body | {"subject": "Otra cosa"}, headers=bearer("requester", "alicia@example.com") | key
        )
        carol = await http.post(url, json=body, headers=bearer("requester", "carol@example.com") | key)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]  # a retry: the same ticket
    assert other.status_code == 422 and other.json()["error"] == "idempotency_key_reused"
    assert carol.status_code == 201 and carol.json()["id"] != first.json()["id"]  # her own ticket, not Alicia's
    t = await mesa.ticket_when(carol.json()["id"], lambda t: True, "Carol's ticket in the views")
    assert t["requester"] == "carol@example.com"


async def test_a_browser_session_changes_nothing_from_another_origin(mesa: Mesa, tickets: dict[str, str]) -> None:
    session = bearer("requester", "alba@example.com")["Authorization"].removeprefix("Bearer ")
    url = f"{mesa.url('intake')}/tickets/{tickets['alba']}/comment"
    body = '{"body": "Escrito por otra web"}'
    async with httpx.AsyncClient(timeout=10, cookies={SESSION_COOKIE: session}) as http:
        for origin in ("http://evil.example", "http://127.0.0.1:1", None):  # another site, another port, none
            headers = {"content-type": "text/plain"} | ({"origin": origin} if origin else {})
            r = await http.post(url, content=body, headers=headers)
            assert r.status_code == 403 and r.json()["error"] == "cross_origin", (origin, r.text)
        ok = await http.post(url, content=body, headers={"origin": mesa.url("projections")})
        assert ok.status_code == 200, ok.text
        # nor can another site sign a browser in with its own token (login CSRF)
        r = await http.post(
            f"{mesa.url('projections')}/login", data={"token": session}, headers={"origin": "http://evil.example"}
        )
        assert r.status_code == 403
    async with httpx.AsyncClient(timeout=10) as http:  # a bearer token is no browser's: no Origin needed
        r = await http.post(url, json={"body": "Con token"}, headers=bearer("requester", "alba@example.com"))
        assert r.status_code == 200, r.text


async def test_a_file_reaches_a_ticket_only_with_its_upload_never_by_its_hash(
    mesa: Mesa, tickets: dict[str, str]
) -> None:
    albas = {"sha256": tickets["sha"], "filename": "robado.png", "content_type": "image/png", "size": 70}
    bruno = bearer("requester", "bruno@example.com")
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            json={"subject": "Otra cosa", "description": "Con un adjunto ajeno", "attachments": [albas]},
            headers=bruno,
        )
        assert r.status_code == 422 and r.json()["error"] == "attachment_not_yours", r.text
        r = await http.post(
            f"{mesa.url('intake')}/tickets/{tickets['bruno']}/reply",
            json={"body": "Aquí va", "attachments": [albas]},
            headers=bruno,
        )
        assert r.status_code in (409, 422), r.text
        r = await http.post(
            f"{mesa.url('intake')}/tickets/{tickets['bruno']}/comment",
            json={"body": "Aquí va", "attachments": [albas]},
            headers=bruno,
        )
        assert r.status_code == 422 and r.json()["error"] == "attachment_not_yours", r.text
        r = await http.get(
            f"{mesa.url('intake')}/tickets/{tickets['bruno']}/attachments/{tickets['sha']}", headers=bruno
        )
        assert r.status_code == 404

        # a refused open stores none of its files
        unique = f"registro {uuid.uuid4()}".encode()
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            data={"subject": "Sin descripción"},
            files={"screenshots": ("registro.txt", unique, "text/plain")},
            headers=bruno,
        )
        assert r.status_code == 422, r.text
    conn = await asyncpg.connect(mesa.iso.settings.database_url)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM intake.attachments WHERE content = $1", unique)
    finally:
        await conn.close()
    assert stored == 0


async def test_a_service_token_grants_only_its_scopes(mesa: Mesa, tickets: dict[str, str]) -> None:
    none = bearer("service", "crm", scopes=())
    reader = bearer("service", "crm", scopes=("tickets:read",))
    opener = bearer("service", "crm", scopes=("tickets:open",))
    body = {"requester": "cliente.crm@example.com", "subject": "Desde el CRM", "description": "Alta por CRM"}
    agent = {"id": "crm1", "name": "CRM", "email": "crm1@soporte.test", "skills": ["other"], "level": 1, "capacity": 5}
    async with httpx.AsyncClient(timeout=10) as http:
        ticket = f"{mesa.url('projections')}/tickets/{tickets['alba']}"
        for headers, expected in ((none, 403), (opener, 403), (reader, 200)):
            assert (await http.get(ticket, headers=headers)).status_code == expected
        r = await http.post(f"{mesa.url('intake')}/tickets", json=body, headers=reader)
        assert r.status_code == 403 and r.json()["error"] == "missing_scope", r.text
        assert (await http.post(f"{mesa.url('intake')}/tickets", json=body, headers=opener)).status_code == 201
        comment = f"{mesa.url('intake')}/tickets/{tickets['alba']}/comment"
        assert (await http.post(comment, json={"body": "x"}, headers=opener)).status_code == 403
        assert (await http.post(f"{mesa.url('routing')}/agents", json=agent, headers=reader)).status_code == 403
        hook = {"id": "crm", "url": "https://example.com/hook", "secret": "s" * 20, "event_types": ["ticket.opened"]}
        assert (await http.post(f"{mesa.url('notify')}/webhooks", json=hook, headers=reader)).status_code == 403


async def test_an_api_client_reads_its_own_write_and_waiting_tells_nothing_of_others(mesa: Mesa) -> None:
    projections = mesa.url("projections")
    async with client("requester", "carla@example.com", timeout=20) as carla:
        r = await carla.post(
            f"{mesa.url('intake')}/tickets", json={"subject": "Cobro doble", "description": "Me cobraron dos veces"}
        )
        assert r.status_code == 201, r.text
        opened = r.json()
        # at once after the command, whatever the view's latency budget: the version it answered
        r = await carla.get(f"{projections}/tickets/{opened['id']}", params={"min_version": opened["version"]})
        assert r.status_code == 200, r.text
        assert r.json()["version"] >= opened["version"] and r.json()["subject"] == "Cobro doble"
        # a version the log has not reached: a clear 503, to retry, in the asked language
        ahead = {"min_version": 1000, "wait": 0.2}
        r = await carla.get(f"{projections}/tickets/{opened['id']}", params=ahead)
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert r.json()["error"] == "view_behind" and 1 <= r.json()["version"] < 1000
        assert "aún no muestra la versión 1000" in r.json()["message"]
        r = await carla.get(f"{projections}/tickets/{opened['id']}", params=ahead, headers={"Accept-Language": "en"})
        assert "does not show version 1000 yet" in r.json()["message"]
        # hostile or absurd parameters: 422 with the reason
        for bad in ({"min_version": 0}, {"min_version": "x"}, {"min_version": 2**40}, {"min_version": 1, "wait": 6}):
            r = await carla.get(f"{projections}/tickets/{opened['id']}", params=bad)
            assert r.status_code == 422 and r.json()["message"], (bad, r.text)
    # staff: a version not reached is not a read (nothing was shown); the page read after it is
    async with client("supervisor", "sonia", timeout=20) as sonia:
        r = await sonia.get(f"{projections}/tickets/{opened['id']}", params={"min_version": 1000, "wait": 0})
        assert r.status_code == 503 and "Cobro" not in r.text
    session = bearer("supervisor", "sonia")["Authorization"].removeprefix("Bearer ")
    async with httpx.AsyncClient(timeout=20, cookies={SESSION_COOKIE: session}) as page:
        assert (await page.get(f"{projections}/t/{opened['id']}")).status_code == 200

    async def sonias_reads() -> list[str] | None:
        async with client("auditor", "ines", timeout=10) as http:
            r = await http.get(f"{mesa.url('audit')}/access", params={"ticket_id": opened["id"]})
        via = [x["via"] for x in r.json() if x["reader"] == "supervisor:sonia"]
        return via if "page" in via else None  # recorded in order: the 503 would be before it

    assert await eventually(sonias_reads, what="the supervisor's page read recorded") == ["page"]
    # Someone else's ticket and a missing one are waited for alike, to the end, and both are 404:
    # neither the answer nor its time says the ticket exists.
    async with client("requester", "bruno@example.com", timeout=20) as bruno:
        for ticket_id in (opened["id"], "T-NOSUCH01"):
            started = time.monotonic()
            r = await bruno.get(f"{projections}/tickets/{ticket_id}", params={"min_version": 1, "wait": 0.4})
            assert r.status_code == 404 and "Cobro" not in r.text
            assert time.monotonic() - started >= 0.4, ticket_id


async def test_staff_find_a_ticket_by_its_internal_note_and_its_requester_never_does(
    mesa: Mesa, tickets: dict[str, str]
) -> None:
    alba = tickets["alba"]

    async def found(role: Role, sub: str, words: str) -> list[str]:
        async with client(role, sub, timeout=10) as http:
            r = await http.get(f"{mesa.url('projections')}/tickets", params={"q": words})
        assert r.status_code == 200, r.text
        return [t["id"] for t in r.json()["items"]]

    for words in ("contracargos", '"historial de contracargos"', "historial"):
        assert alba in await found("supervisor", "sofia", words), words
        assert alba not in await found("requester", "alba@example.com", words), words
    # what both may read, both find: the description, stemmed in either language
    pairs: tuple[tuple[Role, str], ...] = (("supervisor", "sofia"), ("requester", "alba@example.com"))
    for role, sub in pairs:
        assert alba in await found(role, sub, "impresoras almacén"), role

"""The web in a real browser (Debian's Chromium driven by Playwright): a requester opens a ticket
with a PNG screenshot, the agent asks for information, the requester answers, the agent resolves,
the requester confirms and rates. Screenshots of each main page go to .local/test-output/web/."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, FilePayload, Page, async_playwright, expect

from tests.e2e.a11y import violations
from tests.e2e.conftest import Mesa, body_of, register_roster
from tests.support import ROOT, bearer, client, eventually

pytestmark = pytest.mark.timeout(300)
EXTRA_ENV = {"MESA_DEV_LOGIN": "1"}  # the development mailbox page, as `make up` runs it
SHOTS = ROOT / ".local" / "test-output" / "web"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)
XSS = '<img src=x onerror="window.__xss=1">'
# As the workplace's machines need it: no sandbox as root, no calls to Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
async def staffed(mesa: Mesa) -> Mesa:
    await register_roster(mesa)
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('projections')}/kb/articles",
            json={
                "title": "Cómo pedir la devolución de un pedido",
                "body": "Entra en *Mis pedidos* y pulsa **Devolver**. La devolución es gratuita.",
                "category": "order_status",
                "tags": ["devoluciones"],
            },
        )
        assert r.status_code == 201, r.text
    return mesa


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        await b.close()


async def signed_in(browser: Browser, mesa: Mesa, role: str, sub: str) -> Page:
    """A browser context of its own per person, signed in through the login form with a token."""
    context = await browser.new_context(locale="es-ES")
    page = await context.new_page()
    page.set_default_timeout(15_000)
    await page.goto(f"{mesa.url('projections')}/")
    await expect(page).to_have_url(f"{mesa.url('projections')}/login")
    await page.fill("#token", bearer(role, sub)["Authorization"].removeprefix("Bearer "))  # type: ignore[arg-type]
    await page.click("form.card button[type=submit]")
    return page


async def shot(page: Page, name: str) -> None:
    """Keep the page as it looks, and hold it to axe-core's rules."""
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    found = await violations(page, name)
    assert not found, "\n".join(found)


async def test_requester_and_agent_walk_a_ticket_in_the_browser(staffed: Mesa, browser: Browser) -> None:
    mesa = staffed
    base = mesa.url("projections")
    laura = await signed_in(browser, mesa, "requester", "laura@example.com")
    await expect(laura).to_have_url(f"{base}/portal")
    await expect(laura.locator("h1")).to_have_text("Mis tickets")  # Spanish by default
    await shot(laura, "01-portal")

    await laura.click("text=Abrir un ticket")
    await laura.fill("#subject", f"La impresora no imprime {XSS}")
    await laura.fill(
        "#description",
        "Quiero saber si puedo pedir la devolución: la impresora da error y no imprime. Pagué con 4111111111111111",
    )
    # deflection: an article is suggested while typing
    await expect(laura.locator("#suggestions li a")).to_have_text("Cómo pedir la devolución de un pedido")
    # "this solved it" is a quiet link, but one that can be read: not white on a light box
    color = await laura.evaluate("getComputedStyle(document.querySelector('#suggestions button.solved')).color")
    assert color != "rgb(255, 255, 255)", color
    await laura.check("input[name=impact][value=high]")
    await laura.set_input_files(
        "#screenshots",
        files=[
            FilePayload(name="error.png", mimeType="image/png", buffer=PNG),
            FilePayload(name="equivocada.png", mimeType="image/png", buffer=PNG),
        ],
    )
    await expect(laura.locator("#new-ticket .previews img")).to_have_count(2)
    # the one chosen by mistake comes off before sending
    await laura.click("#new-ticket .previews li:has-text('equivocada.png') button.remove-file")
    await expect(laura.locator("#new-ticket .previews li")).to_have_count(1)
    await expect(laura.locator("#new-ticket .previews")).not_to_contain_text("equivocada.png")
    await shot(laura, "02-new-ticket")
    await laura.click("#new-ticket button[type=submit]")
    await laura.wait_for_url(f"{base}/t/*")
    tid = laura.url.rsplit("/", 1)[1].split("?")[0]
    await expect(laura.locator("#masked-note")).to_be_visible()  # the card number was hidden, and she is told
    # she is told it arrived and what comes next; the promised time comes onto the page by itself
    await expect(laura.locator("#done-note")).to_contain_text("Hemos recibido tu ticket")
    await expect(laura.locator(".facts")).to_contain_text("Primera respuesta", timeout=20_000)
    assert "4111111111111111" not in await laura.content()
    await expect(laura.locator("h1")).to_contain_text(XSS)  # shown as text...
    assert await laura.evaluate("window.__xss") is None  # ...never run
    await expect(laura.locator(".timeline img.thumb")).to_have_count(1)
    assert await laura.evaluate("document.querySelector('.timeline img.thumb').naturalWidth") == 1

    ticket = await mesa.ticket_when(tid, lambda t: t["owner"] is not None, "the ticket to be assigned")
    owner = ticket["owner"]
    assert owner in ("bea", "ciro")
    await shot(laura, "03-ticket-requester")

    agent = await signed_in(browser, mesa, "agent", owner)
    await expect(agent).to_have_url(f"{base}/console")
    await expect(agent.locator(f"a[href='/t/{tid}']")).to_be_visible()
    await shot(agent, "04-agent-queue")
    await agent.click(f"a[href='/t/{tid}']")
    # one composer: an internal note looks like one (its own label, colour and words) before sending
    await agent.click("label.m-internal")
    await expect(agent.locator(".say-internal")).to_be_visible()
    await expect(agent.locator(".say-public")).to_be_hidden()
    await expect(agent.locator("#send-wait")).to_be_hidden()  # a note never asks the customer
    note_bg = "getComputedStyle(document.querySelector('#composer .pane')).backgroundColor"
    assert await agent.evaluate(note_bg) == "rgb(255, 248, 219)"
    await agent.fill("#composer-body", "Nota solo para el equipo: revisar el driver")
    await agent.click("#send")
    await expect(agent.locator("#done-note")).to_contain_text("Nota interna guardada")
    await expect(agent.locator(".timeline li.internal")).to_contain_text("revisar el driver")
    assert await agent.evaluate(note_bg) != "rgb(255, 248, 219)"  # back to a public reply, which looks it
    await agent.fill("#composer-body", "¿Qué modelo de impresora es?")
    await agent.click("#send-wait")  # send and wait for the customer
    await expect(agent.locator("#done-note")).to_contain_text("el ticket espera al cliente")
    await expect(agent.locator("#status")).to_have_text("esperando al cliente")  # the team's words
    await shot(agent, "05-ticket-agent")

    # the requester's page updates by itself (no reload) and never shows the internal note
    await expect(laura.locator(".timeline")).to_contain_text("¿Qué modelo de impresora es?", timeout=20_000)
    # ...and the answer form comes with the question, live, in her words
    await expect(laura.locator("#pending-question")).to_have_text("¿Qué modelo de impresora es?", timeout=20_000)
    await expect(laura.locator("#status")).to_have_text("esperando tu respuesta")
    assert "revisar el driver" not in await laura.content()
    await laura.fill("#reply-body", "Es una HP LaserJet 400")
    # the screenshot the agent asked for goes with the answer
    await laura.set_input_files(
        "#reply-files", files=[FilePayload(name="modelo.png", mimeType="image/png", buffer=PNG)]
    )
    await expect(laura.locator("#form-reply .previews img")).to_have_count(1)
    await laura.click("#form-reply button[type=submit]")
    await expect(laura.locator(".timeline")).to_contain_text("Es una HP LaserJet 400")
    await expect(laura.locator(".timeline img.thumb")).to_have_count(2)

    await agent.reload()
    await agent.fill("#composer-body", "Reinstalado el driver de la HP LaserJet 400")
    await agent.click("#send-resolve")
    await expect(agent.locator("#status")).to_have_text("resuelto")

    await laura.reload()
    await expect(laura.locator("#resolucion")).to_contain_text("Reinstalado el driver")
    await shot(laura, "06-resolved-requester")
    await laura.click("#form-confirm button")
    await expect(laura.locator("#status")).to_have_text("cerrado")
    await laura.check("#form-feedback input[name=rating][value='5']")
    await laura.fill("#feedback-comment", "Rápido y amable")
    await laura.click("#form-feedback button[type=submit]")
    await expect(laura.locator("body")).to_contain_text("Gracias por tu valoración")
    await shot(laura, "07-closed-rated")

    # the resolution mail: links to confirm or reject and to rate, and the knowledge base
    resolved_mail = await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "resolved", "the resolution mail"
    )
    text = body_of(resolved_mail)
    assert f"{base}/t/{tid}#resolucion" in text and f"{base}/t/{tid}#form-feedback" in text
    assert f"{base}/kb" in text
    # and the development mailbox lists what users would have received, to staff only
    await agent.goto(f"{base}/dev/correo")
    await expect(agent.locator("table.list")).to_contain_text(tid)
    await shot(agent, "08-dev-mailbox")
    await agent.locator("table.list a", has_text="resuelto").first.click()
    await expect(agent.locator("pre.mail")).to_contain_text("#resolucion")
    await laura.goto(f"{base}/dev/correo")
    await expect(laura.locator("body")).not_to_contain_text(tid)
    async with httpx.AsyncClient(timeout=10) as http:  # nor to anyone who is not signed in
        anonymous = await http.get(f"{base}/dev/correo")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")

    done = await mesa.ticket_when(tid, lambda t: t["feedback"] is not None, "the rating")
    assert done["status"] == "closed" and done["feedback"] == {"rating": 5, "comment": "Rápido y amable"}
    types = [e["type"] for e in done["timeline"]]
    for expected in (
        "ticket.opened",
        "ticket.assigned",
        "ticket.info_requested",
        "ticket.customer_replied",
        "ticket.resolved",
        "ticket.resolution_confirmed",
        "ticket.closed",
        "ticket.feedback_given",
    ):
        assert expected in types, types
    assert done["timeline"][0]["actor"] == "requester:laura@example.com"  # the browser acted as Laura

    sara = await signed_in(browser, mesa, "supervisor", "sara")
    await expect(sara).to_have_url(f"{base}/dashboard")
    await expect(sara.locator("svg.chart")).to_have_count(3)
    await shot(sara, "09-dashboard")
    await sara.goto(f"{base}/kb?q=devoluciones")
    await expect(sara.locator(".articles li a")).to_have_text("Cómo pedir la devolución de un pedido")
    excerpt = await sara.locator(".articles li p").inner_text()
    assert "Mis pedidos" in excerpt and "*" not in excerpt  # text, not Markdown
    await shot(sara, "10-kb")
    await sara.click(".articles li a")
    await sara.click("button[name=helpful][value=yes]")
    await expect(sara.locator("#thanks-vote")).to_have_text("¡Gracias por tu opinión!")
    await sara.goto(f"{base}/audit/report")
    await expect(sara.locator("h1")).to_have_text("Informe del proceso de soporte")
    await expect(sara.locator("svg.chart")).to_have_count(2)
    await shot(sara, "11-report")
    await sara.goto(f"{base}/audit/sample?size=5&seed=3")
    await expect(sara.locator(f"a[href='/t/{tid}']")).to_be_visible()
    await sara.goto(f"{base}/dashboard?lang=en")
    await expect(sara.locator("h1")).to_have_text("Supervisor dashboard")

    # the same report and sample from the command line, as an auditor would take them away
    report = await mesa.cli("audit", "report", "--format", "csv")
    assert "csat,distribution,5,1" in report and "overall,,tickets," in report
    draws = [await mesa.cli("audit", "sample", "--seed", "3") for _ in range(2)]
    assert draws[0] == draws[1] and tid in draws[0]
    assert json.loads(draws[0].splitlines()[0])["timeline"]

    async def sampled() -> set[tuple[str, str]] | None:  # each ticket drawn is a read, in the access log
        async with client("auditor", "ines", timeout=10) as http:
            rows = (await http.get(f"{mesa.url('audit')}/access", params={"ticket_id": tid})).json()
        seen = {(r["reader"], r["via"]) for r in rows}
        return seen if {("auditor:mesa-cli", "api"), ("supervisor:sara", "page")} <= seen else None

    await eventually(sampled, what="the samples' reads in the access log")
    raw = [json.loads(line) for line in (await mesa.cli("events", tid)).splitlines()]
    assert [r["event"]["type"] for r in raw][:1] == ["ticket.opened"]
    assert {r["event"]["subject"] for r in raw} == {tid} and len(raw) >= len(done["timeline"])
    offsets = [r["offset"] for r in raw]
    assert offsets == sorted(offsets) and len({r["partition"] for r in raw}) == 1


async def test_another_requesters_ticket_page_is_not_found(staffed: Mesa, browser: Browser) -> None:
    mesa = staffed
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            json={"requester": "omar@example.com", "subject": "Mi pedido", "description": "No ha llegado el pedido"},
        )
    tid = r.json()["id"]
    await mesa.ticket_when(tid, lambda t: True, "the ticket in the view")
    eve = await signed_in(browser, mesa, "requester", "eve@example.com")
    response = await eve.goto(f"{mesa.url('projections')}/t/{tid}")
    assert response is not None and response.status == 404
    assert "No existe o no tienes acceso" in await eve.content()
    assert "No ha llegado el pedido" not in await eve.content()


async def test_script_in_every_text_field_stays_text_on_every_page(staffed: Mesa, browser: Browser) -> None:
    """XSS payloads typed into every free-text field, shown on every page that shows them:
    the text is there, literally, and no script ran."""
    mesa = staffed
    payloads = [
        '<script>window.__xss="script"</script>',
        "<img src=x onerror=\"window.__xss='img'\">",
        '"><svg onload="window.__xss=\'svg\'">',
        "javascript:window.__xss='link'",
    ]
    evil = " ".join(payloads)
    async with client(timeout=15) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            json={"requester": "eva@example.com", "subject": evil[:290], "description": evil, "category": "hardware"},
        )
        tid = r.json()["id"]
        t = await mesa.ticket_when(tid, lambda t: t["owner"], "an owner")
        owner = t["owner"]
        for role, sub, command, body in (
            ("agent", owner, "comment", {"body": evil}),
            ("agent", owner, "comment", {"body": evil, "internal": True}),
            ("agent", owner, "request-info", {"question": evil}),
            ("requester", "eva@example.com", "reply", {"body": evil}),
            ("agent", owner, "resolve", {"summary": evil}),
            ("requester", "eva@example.com", "reject", {"reason": evil}),
            ("agent", owner, "escalate", {"reason": evil}),
        ):
            r = await http.post(f"{mesa.url('intake')}/tickets/{tid}/{command}", json=body, headers=bearer(role, sub))  # type: ignore[arg-type]
            assert r.status_code == 200, (command, r.text)
        r = await http.post(
            f"{mesa.url('projections')}/kb/articles",
            json={"title": evil[:190], "body": evil, "category": "hardware", "tags": ["<b>x</b>"]},
        )
        article = r.json()["id"]
    escalated = await mesa.ticket_when(tid, lambda t: t["level"] == 2 and t["owner"], "the escalation")

    base = mesa.url("projections")
    pages = {
        ("requester", "eva@example.com"): ["/portal", f"/t/{tid}", "/kb", f"/kb/a/{article}"],
        ("agent", escalated["owner"]): ["/console", f"/t/{tid}", f"/t/{tid}/timeline"],
        ("supervisor", "sara"): ["/dashboard", f"/t/{tid}", "/audit/report", "/audit/sample?size=50"],
    }
    for (role, sub), paths in pages.items():
        page = await signed_in(browser, mesa, role, sub)
        for path in paths:
            await page.goto(base + path)
            await page.wait_for_load_state("load")
            assert await page.evaluate("window.__xss") is None, f"a script ran on {path} for {role}"
            assert await page.locator("script:not([src])").count() == 0, path  # no inline script at all
            if path.startswith(("/t/", "/kb/a/", "/portal", "/console")):
                assert "<script>window.__xss" in await page.locator("body").inner_text(), path
        await page.context.close()


async def test_a_day_in_the_workspace_search_bulk_tags_merge_conflicts_and_capacity(
    staffed: Mesa, browser: Browser
) -> None:
    """The console finds by order number and words, counts, sorts and acts in bulk; the ticket
    page tags, merges (the conversation follows), inserts an article, says who else has it open,
    tells a stale form apart, and warns before giving a full agent more."""
    mesa = staffed
    base = mesa.url("projections")
    ids = []
    async with client(timeout=10) as http:
        for i, (subject, description) in enumerate(
            [
                ("Devolución del pedido", "Quiero devolver el pedido: la talla no es."),
                ("Devolución duplicada", "Escribo otra vez por la devolución del pedido."),
                ("Factura sin IVA", "La factura del pedido viene sin IVA."),
            ]
        ):
            r = await http.post(
                f"{mesa.url('intake')}/tickets",
                json={
                    "subject": subject,
                    "description": description,
                    "category": "order_status",
                    **({"order_id": "PED-5555"} if i == 0 else {}),
                },
                headers=bearer("requester", "pilar@example.com"),
            )
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
    for tid in ids:
        await mesa.ticket_when(tid, lambda t: t["owner"] is not None, "an owner")
    first, dup, invoice = ids

    sara = await signed_in(browser, mesa, "supervisor", "sara")
    await sara.goto(f"{base}/console?scope=all&q=PED-5555")
    await expect(sara.locator("#count")).to_have_text("1 tickets")
    await expect(sara.locator(f"a[href='/t/{first}']")).to_be_visible()
    await sara.goto(f"{base}/console?scope=all&q=devolución")
    await expect(sara.locator("#count")).to_have_text("2 tickets")
    await sara.click("th a:has-text('Número')")  # sort by number
    await expect(sara.locator("th[aria-sort=ascending]")).to_contain_text("Número")
    await shot(sara, "08-console-search")
    for tid in (first, dup):
        await sara.check(f"input[name=ticket][value='{tid}']")
    await sara.select_option("#bulk-action", "tag")
    await sara.fill("#bulk-value", "campaña_navidad")
    await sara.click("#bulk button[type=submit]")
    await expect(sara.locator("#bulk-result")).to_contain_text("Hecho en: 2")
    for tid in (first, dup):
        await mesa.ticket_when(tid, lambda t: "campaña_navidad" in t["tags"], "tagged in bulk")

    # the owner works the first ticket while the supervisor has it open too
    owner = (await mesa.get_ticket(first) or {})["owner"]
    agent = await signed_in(browser, mesa, "agent", owner)
    await agent.goto(f"{base}/t/{first}")
    await sara.goto(f"{base}/t/{first}")
    await expect(agent.locator("#presence")).to_contain_text("sara", timeout=15_000)
    await expect(agent.locator("#tags")).to_contain_text("campaña_navidad")
    # a knowledge-base article goes into the answer as its title, excerpt and link
    await agent.select_option("#kb-pick", label="Cómo pedir la devolución de un pedido")
    await expect(agent.locator("#composer-body")).to_have_value(
        re.compile(r"Cómo pedir la devolución.*\n.*/kb/a/\d+", re.S)
    )
    await agent.fill("#composer-body", "Te mandamos la etiqueta de devolución hoy.")
    # meanwhile the supervisor tags it: the agent's form, typed into, is now stale
    await sara.click("summary:has-text('Más acciones')")
    await sara.fill("#tags-add", "talla")
    await sara.click("#form-tags button[type=submit]")
    await expect(sara.locator("#done-note")).to_contain_text("Etiquetas guardadas")
    await agent.click("#send")
    await expect(agent.locator("p.error")).to_contain_text("cambió mientras lo editabas")
    await expect(agent.locator("#composer-body")).to_have_value("Te mandamos la etiqueta de devolución hoy.")
    await agent.click("#send")  # now drawn at the current version: it goes
    await expect(agent.locator("#done-note")).to_contain_text("Respuesta enviada al cliente")

    # the duplicate is merged into the first: its conversation shows there
    await sara.goto(f"{base}/t/{dup}")
    await sara.click("summary:has-text('Más acciones')")
    await sara.fill("#merge-into", first)
    await sara.click("#form-merge button[type=submit]")
    await expect(sara.locator("#done-note")).to_contain_text("Ticket fusionado")
    await expect(sara.locator("#merged-note a")).to_have_text(first)
    await sara.goto(f"{base}/t/{first}")
    await expect(sara.locator(f"#merged-{dup}")).to_be_visible()
    await expect(sara.locator(".merged-from")).to_contain_text("Escribo otra vez por la devolución")
    await expect(sara.locator("#requester-tickets")).to_contain_text(invoice)
    await shot(sara, "09-ticket-merged-tags")

    # reassigning to someone already full is said before it is done
    await register_roster(
        mesa,
        [{"id": "tina", "name": "Tina", "email": "tina@soporte.test", "skills": ["other"], "level": 1, "capacity": 1}],
    )
    async with client("supervisor", "sara", timeout=10) as http:
        r = await http.post(
            f"{mesa.url('routing')}/tickets/{invoice}/assign", json={"agent_id": "tina", "reason": "prueba"}
        )
        assert r.status_code < 300, r.text
    await mesa.ticket_when(invoice, lambda t: t["owner"] == "tina", "Tina owns the invoice ticket")

    async def tina_full() -> bool:
        async with client(timeout=10) as http:
            agents = (await http.get(f"{base}/agents")).json()
        return any(a["id"] == "tina" and a["load"] >= a["capacity"] for a in agents)

    await eventually(tina_full, timeout=30, what="Tina at her capacity")
    await sara.goto(f"{base}/t/{first}")
    await sara.click("summary:has-text('Más acciones')")
    await expect(sara.locator("#agent option[value=tina]")).to_contain_text("al completo")
    await sara.select_option("#agent", "tina")
    await sara.fill("#assign-reason", "Conoce el caso")
    await sara.click("#form-assign button[type=submit]")
    await expect(sara.locator("#over-capacity")).to_contain_text("Tina ya tiene 1 de 1")
    assert (await mesa.get_ticket(first) or {})["owner"] != "tina"  # nothing done yet
    await sara.check("#over-capacity-ok")
    await sara.click("#form-assign button[type=submit]")
    await expect(sara.locator("#done-note")).to_contain_text("Reasignación pedida")
    await mesa.ticket_when(first, lambda t: t["owner"] == "tina", "given to Tina, as the supervisor confirmed")

    # a macro from the picker, and a custom field from its form
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/macros",
            json={"id": "factura_revisada", "name": "Factura revisada", "text_es": "Hola {{requester.name}}, "
                  "revisamos la factura de {{ticket.id}}.", "actions": {"add_tags": ["facturas"]}},
            headers=bearer("supervisor", "sara"),
        )  # fmt: skip
        assert r.status_code == 201, r.text
        r = await http.post(
            f"{mesa.url('intake')}/fields",
            json={"id": "motivo", "label_es": "Motivo", "label_en": "Reason", "kind": "list",
                  "options": ["talla", "defecto", "otro"]},
            headers=bearer("admin", "root"),
        )  # fmt: skip
        assert r.status_code == 201, r.text

    async def macro_listed() -> bool:
        async with client("supervisor", "sara", timeout=10) as http:
            return any(m["macro_id"] == "factura_revisada" for m in (await http.get(f"{base}/macros")).json())

    await eventually(macro_listed, timeout=30, what="the macro in the views")
    await sara.goto(f"{base}/t/{invoice}")
    await sara.select_option("#macro", "factura_revisada")
    await sara.click("#form-macro button[type=submit]")
    await expect(sara.locator("#done-note")).to_contain_text("Macro aplicada")
    await expect(sara.locator(".timeline")).to_contain_text("Hola Pilar, revisamos la factura de " + invoice)
    await expect(sara.locator("#tags")).to_contain_text("facturas")
    await sara.click("summary:has-text('Más acciones')")
    await sara.select_option("#f-motivo", "defecto")
    await sara.click("#form-fields button[type=submit]")
    await expect(sara.locator("#done-note")).to_contain_text("Campos guardados")
    await expect(sara.locator("dd.field")).to_have_text("defecto")
    await shot(sara, "10-macro-and-field")

    # an agent keeps macros of their own on the macros page; the shared ones are not theirs to remove
    await agent.goto(f"{base}/macros/edit")
    await expect(agent.locator("#macros")).to_contain_text("Factura revisada")
    await expect(agent.locator("#m-shared")).to_have_count(0)  # sharing is for supervisors and admins
    await agent.fill("#m-id", "saludo_propio")
    await agent.fill("#m-name", "Mi saludo")
    await agent.fill("#m-es", "Hola {{requester.name}}, soy {{agent.name}}.")
    await agent.click("#form-macro-edit button[type=submit]")
    await expect(agent.locator("#done-note")).to_contain_text("Macros guardadas")
    await expect(agent.locator("#macros")).to_contain_text("Mi saludo")
    await agent.fill("#m-id", "mala")
    await agent.fill("#m-name", "Mala")
    await agent.fill("#m-es", "Hola {{ requester.email }}")
    await agent.click("#form-macro-edit button[type=submit]")
    await expect(agent.locator("p.error")).to_contain_text("requester.email")

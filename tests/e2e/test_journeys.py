"""The three people who use Mesa, on a 390 px phone, in Spanish and in English, with axe-core
(the accessibility engine, v4.12) run on every page they reach: 0 violations of any of its
rules, WCAG 2.1 A/AA and best practices.

A customer opens a ticket about a late order and follows it; the agent who gets it asks a
question from the ticket's page and resolves it; the customer answers live, confirms and rates;
a supervisor goes from the dashboard's counts to the tickets, the audits and the report. On
every page: no sideways scrolling, a header of at most two short rows, list rows as cards whose
values say what they are. Screenshots: .local/test-output/journeys/."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, FilePayload, Page, ViewportSize, async_playwright, expect

from tests.e2e.a11y import violations
from tests.e2e.conftest import Mesa, register_roster
from tests.e2e.test_web import CHROMIUM_ARGS, PNG
from tests.support import ROOT, as_actor, bearer, client

pytestmark = pytest.mark.timeout(300)
EXTRA_ENV = {"MESA_DEV_LOGIN": "1"}
SHOTS = ROOT / ".local" / "test-output" / "journeys"
PHONE = ViewportSize(width=390, height=844)
WORDS = {
    "es": {
        "portal": "Mis tickets",
        "received": "Hemos recibido tu ticket",
        "waiting_you": "esperando tu respuesta",
        "closed": "cerrado",
        "thanks": "Gracias por tu valoración",
        "dashboard": "Panel de supervisión",
        "audits": "Auditorías y mejora",
    },
    "en": {
        "portal": "My tickets",
        "received": "We have received your ticket",
        "waiting_you": "waiting for you",
        "closed": "closed",
        "thanks": "Thank you for your rating",
        "dashboard": "Supervisor dashboard",
        "audits": "Audits and improvement",
    },
}


@pytest.fixture(scope="module")
async def staffed(mesa: Mesa) -> Mesa:
    await register_roster(mesa)
    async with client("supervisor", "sara", timeout=10) as http:  # so the macros page has a table
        r = await http.post(
            f"{mesa.url('intake')}/macros",
            json={"id": "pedido_en_camino", "name": "Pedido en camino", "text_es": "Tu pedido va en camino."},
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


class Walk:
    """One person's phone: each page they reach is checked (axe, width, header) and kept."""

    def __init__(self, page: Page, name: str, lang: str, problems: list[str]) -> None:
        self.page, self.name, self.lang, self.problems = page, name, lang, problems
        self.shots = 0

    async def check(self, what: str) -> None:
        where = f"{self.lang} {self.name} {what}"
        self.problems += await violations(self.page, where)
        width = await self.page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            self.problems.append(f"{where}: {width} px wide, scrolls sideways")
        header = await self.page.evaluate("document.querySelector('header.top').getBoundingClientRect().height")
        if header > 100:
            self.problems.append(f"{where}: the header takes {header:.0f} px")
        self.shots += 1
        await self.page.screenshot(
            path=str(SHOTS / f"{self.lang}-{self.name}-{self.shots:02d}-{what}.png"), full_page=True
        )


async def on_a_phone(browser: Browser, mesa: Mesa, role: str, sub: str, lang: str, problems: list[str]) -> Walk:
    context = await browser.new_context(
        locale="es-ES" if lang == "es" else "en-GB", viewport=PHONE, is_mobile=True, has_touch=True
    )
    page = await context.new_page()
    page.set_default_timeout(15_000)
    base = mesa.url("projections")
    await page.goto(f"{base}/login?lang={lang}")
    walk = Walk(page, role, lang, problems)
    await walk.check("login")
    await page.fill("#token", bearer(role, sub)["Authorization"].removeprefix("Bearer "))  # type: ignore[arg-type]
    await page.click("form.card button[type=submit]")
    await page.wait_for_load_state()
    return walk


async def labelled_cards(page: Page) -> None:
    """On a phone a list row is a card, and each value says what it is."""
    first = page.locator("table.list tbody tr").first
    await expect(first).to_be_visible()
    assert await first.evaluate("r => getComputedStyle(r).display") == "block"
    label = await page.evaluate(
        "getComputedStyle(document.querySelector('table.list tbody td[data-label]'), '::before').content"
    )
    assert label not in ("none", "normal", '""'), label


@pytest.mark.parametrize("lang", ["es", "en"])
async def test_customer_agent_and_supervisor_on_a_phone(staffed: Mesa, browser: Browser, lang: str) -> None:
    mesa, words = staffed, WORDS[lang]
    problems: list[str] = []
    base = mesa.url("projections")
    lucia = await on_a_phone(browser, mesa, "requester", f"lucia.{lang}@example.com", lang, problems)
    page = lucia.page
    await expect(page.locator("h1")).to_have_text(words["portal"])
    await lucia.check("portal")

    await page.goto(f"{base}/portal/new")
    await page.fill("#subject", "Mi pedido no ha llegado" if lang == "es" else "My order has not arrived")
    await page.fill("#description", "Lo pedí hace diez días." if lang == "es" else "I ordered it ten days ago.")
    await page.fill("#order_id", f"PED-{lang}-77")
    await page.check("input[name=impact][value=high]")
    await page.set_input_files(
        "#screenshots", files=[FilePayload(name="tracking.png", mimeType="image/png", buffer=PNG)]
    )
    await lucia.check("new-ticket")
    await page.click("#new-ticket button[type=submit]")
    await page.wait_for_url(f"{base}/t/*")
    tid = page.url.rsplit("/", 1)[1].split("?")[0]
    await expect(page.locator("#done-note")).to_contain_text(words["received"])
    await expect(page.locator("body")).to_contain_text(f"PED-{lang}-77")  # the order number she gave
    await lucia.check("ticket-opened")

    ticket = await mesa.ticket_when(tid, lambda t: t["owner"] is not None, "an owner")
    agent = await on_a_phone(browser, mesa, "agent", ticket["owner"], lang, problems)
    await expect(agent.page).to_have_url(f"{base}/console")
    await labelled_cards(agent.page)
    await agent.check("queue")
    await agent.page.click(f"a[href='/t/{tid}']")
    await expect(agent.page.locator("body")).to_contain_text(f"PED-{lang}-77")  # the agent sees it too
    await agent.check("ticket")
    question = "¿Qué número de seguimiento te dieron?" if lang == "es" else "Which tracking number were you given?"
    await agent.page.fill("#composer-body", question)
    await agent.page.click("#send-wait")
    await expect(agent.page.locator("#done-note")).to_be_visible()
    await agent.check("asked")

    await expect(page.locator("#pending-question")).to_have_text(question, timeout=20_000)  # live, no reload
    await expect(page.locator("#status")).to_have_text(words["waiting_you"])
    await lucia.check("question")
    await page.fill("#reply-body", "SEUR 123456")
    await page.click("#form-reply button[type=submit]")
    await expect(page.locator(".timeline")).to_contain_text("SEUR 123456")

    await agent.page.reload()
    await agent.page.fill("#composer-body", "Llega mañana." if lang == "es" else "It arrives tomorrow.")
    await agent.page.click("#send-resolve")
    await expect(agent.page.locator("#done-note")).to_be_visible()

    await page.reload()
    await lucia.check("resolved")
    await page.click("#form-confirm button")
    await expect(page.locator("#status")).to_have_text(words["closed"])
    await page.check("#form-feedback input[name=rating][value='4']")
    await page.click("#form-feedback button[type=submit]")
    await expect(page.locator("body")).to_contain_text(words["thanks"])
    await lucia.check("rated")
    async with client(timeout=10) as http:  # another one, still open when the supervisor looks
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            json={"subject": "Factura duplicada", "description": "Me cobraron dos veces.", "category": "payment"},
            headers=as_actor(f"requester:lucia.{lang}@example.com"),
        )
        assert r.status_code == 201, r.text
    await mesa.ticket_when(r.json()["id"], lambda t: t["owner"] is not None, "the second one assigned")
    await page.goto(f"{base}/portal")
    await labelled_cards(page)
    await lucia.check("portal-after")
    await page.goto(f"{base}/kb")
    await lucia.check("kb")

    sara = await on_a_phone(browser, mesa, "supervisor", "sara", lang, problems)
    await expect(sara.page.locator("h1")).to_have_text(words["dashboard"])
    await sara.check("dashboard")
    await sara.page.locator("table.mini a.drill").first.click()  # the open tickets by status
    await labelled_cards(sara.page)
    await sara.check("drilled")
    await sara.page.goto(f"{base}/t/{tid}")
    await sara.check("ticket")
    await sara.page.goto(f"{base}/audits")
    await expect(sara.page.locator("h1")).to_have_text(words["audits"])
    await sara.check("audits")
    await sara.page.goto(f"{base}/audit/report")
    await sara.check("report")
    await sara.page.goto(f"{base}/macros/edit")
    await labelled_cards(sara.page)
    await sara.check("macros")

    assert not problems, "\n".join(problems)


async def test_the_accessibility_check_can_fail(browser: Browser) -> None:
    """axe really runs in these pages' browser: a page with known faults is reported."""
    page = await browser.new_page()
    await page.set_content(
        '<html><body><img src="x.png"><input type="text"><a href="/x"></a>'
        "<table><tr><th></th></tr><tr><td>1</td></tr></table></body></html>"
    )
    found = " ".join(await violations(page, "faulty"))
    for rule in ("image-alt", "label", "link-name", "html-has-lang", "empty-table-header"):
        assert f": {rule} (" in found, found
    await page.close()


async def test_a_chosen_zone_and_language_follow_the_person_to_another_device(staffed: Mesa, browser: Browser) -> None:
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    problems: list[str] = []
    bea = await on_a_phone(browser, staffed, "agent", "bea", "es", problems)
    await bea.page.click("header a.who")
    await bea.page.select_option("#p-tz", "America/Mexico_City")
    await bea.page.select_option("#p-lang", "en")
    await bea.page.click("#form-profile button[type=submit]")
    await expect(bea.page.locator("#done-note")).to_contain_text("Saved")
    await bea.check("profile")

    # another device, whose browser says Tokyo: her choices come back when she signs in there
    context = await browser.new_context(locale="es-ES", timezone_id="Asia/Tokyo", viewport=PHONE)
    page = await context.new_page()
    base = staffed.url("projections")
    await page.goto(f"{base}/login")
    await page.fill("#token", bearer("agent", "bea")["Authorization"].removeprefix("Bearer "))
    await page.click("form.card button[type=submit]")
    await expect(page.locator("h1")).to_have_text("My queue")  # English, as she chose
    await page.goto(f"{base}/profile")
    await expect(page.locator("#p-tz")).to_have_value("America/Mexico_City")
    now = datetime.now(UTC)
    hours = {(now + timedelta(minutes=m)).astimezone(ZoneInfo("America/Mexico_City")).strftime("%H:") for m in (0, 1)}
    shown = await page.locator("#form-profile .help").inner_text()
    assert any(h in shown for h in hours), (shown, hours)  # Mexico's time, not Tokyo's nor Madrid's
    await context.close()
    assert not problems, "\n".join(problems)

"""The support policy's letter, end to end on the running system.

Clause 7 (closed only when resolved and the customer satisfied): an order's resolution nobody
confirms closes by itself after its category's wait and is recorded and counted as unconfirmed; a
hardware resolution (`never` in the policy) waits for the customer.

Clause 12 (periodic audits, and changes made from them): the schedule opens the last month's
audit once and mails it to supervisors and auditors; in the browser a supervisor opens one by hand
for today, with today's closed tickets as its sample and the unconfirmed close among its figures,
records a finding, gives an agent an improvement action (who is mailed), and the agent marks it
done, after which its effect on the figures is shown. Screenshots: .local/test-output/policy/."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from services.projections import audits
from tests.e2e.a11y import violations
from tests.e2e.conftest import Mesa, body_of, register_roster
from tests.e2e.test_web import CHROMIUM_ARGS, signed_in
from tests.support import ROOT, as_actor, bearer, client

pytestmark = pytest.mark.timeout(300)
AUDITORS = "auditoria@soporte.test"
EXTRA_ENV = {
    "MESA_SLA_POLICY": str(ROOT / "tests" / "e2e" / "data" / "closing-policy.yaml"),
    "MESA_AUDIT_CHECK_INTERVAL_S": "1",
    "NOTIFY_AUDITORS": AUDITORS,
    "MESA_DEV_LOGIN": "1",
}
SHOTS = ROOT / ".local" / "test-output" / "policy"
MADRID = ZoneInfo("Europe/Madrid")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        await b.close()


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    found = await violations(page, name)
    assert not found, "\n".join(found)


async def opened(mesa: Mesa, requester: str, category: str, subject: str) -> dict[str, Any]:
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            json={"subject": subject, "description": subject + ".", "category": category},
            headers=as_actor(f"requester:{requester}"),
        )
    assert r.status_code == 201, r.text
    t: dict[str, Any] = await mesa.ticket_when(r.json()["id"], lambda t: t["owner"] is not None, "an owner")
    return t


async def resolve(mesa: Mesa, t: dict[str, Any]) -> None:
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets/{t['id']}/resolve",
            json={"summary": "Hecho."},
            headers=as_actor(f"agent:{t['owner']}"),
        )
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
async def closed_apart(mesa: Mesa) -> dict[str, dict[str, Any]]:
    """Clause 7 on the log: the order ticket closes by itself, the hardware one waits."""
    await register_roster(mesa)
    hardware = await opened(mesa, "hugo@example.com", "hardware", "El portátil no enciende")
    order = await opened(mesa, "olivia@example.com", "order_status", "Mi pedido no llega")
    await resolve(mesa, hardware)
    await resolve(mesa, order)
    order = await mesa.ticket_when(order["id"], lambda t: t["status"] == "closed", "the order to close by itself")
    hardware = await mesa.ticket_when(hardware["id"], lambda t: t["status"] == "resolved", "the hardware one")
    return {"order": order, "hardware": hardware}


async def test_an_unconfirmed_resolution_closes_after_its_categorys_wait_recorded_as_such(
    mesa: Mesa, closed_apart: dict[str, dict[str, Any]]
) -> None:
    order, hardware = closed_apart["order"], closed_apart["hardware"]
    [closing] = [e for e in order["timeline"] if e["type"] == "ticket.closed"]
    assert closing["data"]["reason"] == "auto" and closing["data"]["by"] == "system"
    assert order["confirmed"] is not True
    # resolved before the order was, and still waiting for its customer: hardware never closes alone
    resolved_at = {
        t["id"]: next(e["time"] for e in t["timeline"] if e["type"] == "ticket.resolved") for t in (order, hardware)
    }
    assert resolved_at[hardware["id"]] <= resolved_at[order["id"]] <= closing["time"]
    hardware = await mesa.get_ticket(hardware["id"]) or {}
    assert hardware["status"] == "resolved"
    # counted apart in the report
    today = datetime.now(MADRID).date().isoformat()
    async with client("auditor", "auditoria", timeout=20) as http:
        http.cookies.set("mesa_session", bearer("auditor", "auditoria")["Authorization"].removeprefix("Bearer "))
        r = await http.get(
            f"{mesa.url('projections')}/audit/report", params={"from": today, "to": today, "format": "json"}
        )
    assert r.status_code == 200, r.text[:300]
    assert r.json()["closing"]["auto"] == 1 and r.json()["closing"]["confirmed"] == 0


async def test_the_schedule_opens_last_months_audit_once_and_mails_it(mesa: Mesa) -> None:
    # the schedule turned on once everything runs: notify mails what happens after it first
    # started, not history (a review opened before notify ever ran would be history to it)
    mesa.procs["projections"].stop()
    mesa.extra_env["MESA_AUDIT_SCHEDULE"] = "monthly"
    await mesa.start("projections")
    due = audits.due_period(datetime.now(UTC), "monthly", "Europe/Madrid", 7)
    assert due is not None

    def the_audit(to: str) -> Any:
        return lambda m: m["X-Mesa-Template"] == "audit_review" and to in str(m["To"]) and due.review_id in m["Subject"]

    for to in ("supervision@soporte.mesa.local", AUDITORS):
        m = await mesa.mail_when(the_audit(to), f"the audit mailed to {to}")
        body = body_of(m)
        assert "Resolución a tiempo" in body and f"/audits/{due.review_id}" in body
    # once per period, whoever asks again
    async with client(timeout=20) as http:
        r = await http.post(
            f"{mesa.url('intake')}/reviews",
            json={
                "review_id": due.review_id,
                "period_from": due.first.isoformat(),
                "period_to": due.last.isoformat(),
                "seed": 1,
                "figures": {"tickets": 0},
            },
        )
        assert r.status_code == 409 and due.review_id in r.json()["message"]
        # and only the schedule opens one: its figures are the read model's, never typed
        r = await http.post(
            f"{mesa.url('intake')}/reviews",
            json={
                "review_id": "2020-01",
                "period_from": "2020-01-01",
                "period_to": "2020-01-31",
                "seed": 1,
                "figures": {"tickets": 999},
            },
            headers=bearer("supervisor", "sara"),
        )
        assert r.status_code == 403
    assert sum(the_audit("supervision@")(m) for m in mesa.mails()) == 1


async def test_an_audit_by_hand_a_finding_and_an_action_followed_to_done_in_the_browser(
    mesa: Mesa, closed_apart: dict[str, dict[str, Any]], browser: Browser
) -> None:
    order = closed_apart["order"]
    today = datetime.now(MADRID).date()
    sara = await signed_in(browser, mesa, "supervisor", "sara")
    await sara.goto(f"{mesa.url('projections')}/audits")
    await expect(sara.locator("h1")).to_have_text("Auditorías y mejora")
    await sara.fill("#r-from", (today - timedelta(days=1)).isoformat())
    await sara.fill("#r-to", today.isoformat())
    await sara.click("#form-open-review button[type=submit]")
    review_id = f"{(today - timedelta(days=1)).isoformat()}_{today.isoformat()}"
    await expect(sara).to_have_url(f"{mesa.url('projections')}/audits/{review_id}")
    await expect(sara.locator(f"ul.sample a[href='/t/{order['id']}']")).to_be_visible()
    unconfirmed = sara.locator("table.figures tr", has_text="sin confirmación del cliente")
    await expect(unconfirmed.locator("td").last).to_have_text("1")
    await shot(sara, "audit-review")

    await sara.fill("#f-text", "Los pedidos se resuelven sin que el cliente confirme: falta pedírselo.")
    await sara.fill("#f-tickets", order["id"])
    await sara.click("#form-finding button[type=submit]")
    await expect(sara.locator("ul.findings li")).to_contain_text("falta pedírselo")

    due = today + timedelta(days=7)
    await sara.select_option("#a-finding", index=1)
    await sara.fill("#a-what", "Añadir a la plantilla de resolución la pregunta de confirmación.")
    await sara.select_option("#a-owner", "ana")
    await sara.fill("#a-due", due.isoformat())
    await sara.click("#form-action button[type=submit]")
    action = sara.locator("ul.actions li.action")
    await expect(action).to_contain_text("plantilla de resolución")
    await expect(action.locator(".state")).to_have_text("pendiente")
    action_id = await action.get_attribute("id")
    assert action_id and action_id.startswith("A-")
    mail = await mesa.mail_when(
        lambda m: m["X-Mesa-Template"] == "action_assigned" and "ana@" in str(m["To"]), "the owner told"
    )
    assert due.isoformat() in mail["Subject"] and f"/audits#{action_id}" in body_of(mail)

    # the owner follows it to done from the audits page, which shows her actions only
    ana = await signed_in(browser, mesa, "agent", "ana")
    await ana.goto(f"{mesa.url('projections')}/audits")
    await expect(ana.locator("h2#h-actions")).to_have_text("Mis acciones de mejora")
    await expect(ana.locator("#h-reviews")).to_have_count(0)
    await ana.select_option(f"#st-{action_id}", "done")
    await ana.fill(f"#note-{action_id}", "Plantilla cambiada.")
    await ana.click(f"li#{action_id} form button[type=submit]")
    mine = ana.locator(f"li#{action_id}")
    await expect(mine.locator(".state")).to_have_text("hecha")
    await expect(mine.locator("ol.notes")).to_contain_text("Plantilla cambiada.")
    await expect(ana.locator(".effect h3")).to_have_text("Efecto en las cifras")
    await shot(ana, "audit-action-done")

    # an agent may not open audits, nor move an action that is not theirs
    async with client("agent", "bea", timeout=10) as http:
        r = await http.post(f"{mesa.url('intake')}/actions/{action_id}/status", json={"status": "open"})
        assert r.status_code == 403
        r = await http.post(f"{mesa.url('intake')}/findings", json={"text": "x"})
        assert r.status_code == 403
    bea = await signed_in(browser, mesa, "agent", "bea")
    response = await bea.goto(f"{mesa.url('projections')}/audits/{review_id}")
    assert response is not None and response.status == 403

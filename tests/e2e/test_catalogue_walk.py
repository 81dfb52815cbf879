"""Every page, as each role, in Spanish and in English, after a ticket has lived through most of
what can happen to one: no label left in the other language, no text key or event type shown raw
("ticket.sla_paused", "info_requested"), no untranslated code of a status, category or mail; and
the same pages in Chromium, held to every rule of axe-core.

What counts as the other language: the catalogue's own phrases (every text of the pages, the
statuses, categories, close reasons, mail and routing words, timeline headlines) that differ
between the two; people's words (subjects, comments) are theirs and are not judged."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.projections.web import texts
from services.projections.web.timeline import CRITERION, TEMPLATE, TIMELINE
from shared.domain.events import catalogue as ev
from shared.domain.i18n import Texts
from tests.e2e.conftest import Mesa, register_roster
from tests.support import as_actor, bearer, client, eventually

pytestmark = pytest.mark.timeout(300)
EXTRA_ENV = {"MESA_AUDIT_SCHEDULE": "monthly", "MESA_AUDIT_CHECK_INTERVAL_S": "1"}
LUCIA = "lucia@example.com"
# A text key left raw, or a code: two or more lower-case words joined by "_".
SNAKE = re.compile(r"(?<![\w@./:#=-])[a-z]+(?:_[a-z0-9]+)+(?![\w@.-])")
EVENT_TYPE = re.compile(
    r"\b(?:" + "|".join(sorted({re.escape(t) for t in ev.known_types()}, key=len, reverse=True)) + r")\b"
)


class Visible(HTMLParser):
    """The text a person reads or hears: text nodes outside scripts and styles, and the labels
    of controls and images."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "template"):
            self._hidden += 1
        for name, value in attrs:
            if name in ("title", "aria-label", "placeholder", "alt") and value:
                self.parts.append(value)
            if tag == "input" and name == "value" and value and ("type", "submit") in attrs:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.parts.append(data.strip())


def visible(html: str) -> str:
    parser = Visible()
    parser.feed(html)
    return "\n".join(parser.parts)


def phrases() -> dict[str, set[str]]:
    """The catalogue's phrases by language, those that differ between the two, long enough to
    be telling (placeholders cut: each piece is checked)."""
    books: list[Texts] = [texts.TEXTS, texts.STATUS, texts.CATEGORY, texts.CLOSE_REASON, TEMPLATE, CRITERION]
    pairs = [(b[k].es, b[k].en) for b in books for k in b if k != "language"]
    pairs += [(e.headline.es, e.headline.en) for e in TIMELINE.values()]
    out: dict[str, set[str]] = {"es": set(), "en": set()}
    for es, en in pairs:
        if es == en:
            continue
        for lang, words in (("es", es), ("en", en)):
            for piece in re.split(r"\{[^}]*\}", words):
                piece = piece.strip(" .,:;·—-()«»'\"")
                if len(piece) >= 12 and " " in piece:
                    out[lang].add(piece)
    shared = out["es"] & out["en"]
    return {lang: found - shared for lang, found in out.items()}


async def walk_a_ticket(mesa: Mesa) -> dict[str, str]:
    """A ticket through questions, answers, escalation, resolution, rejection, reopening and
    closing; a second one merged into it, a third one linked."""
    await register_roster(mesa)

    async def open_(subject: str, **extra: Any) -> str:
        async with client(timeout=10) as http:
            r = await http.post(
                f"{mesa.url('intake')}/tickets",
                json={"subject": subject, "description": subject + ", por favor.", "category": "order_status", **extra},
                headers=as_actor(f"requester:{LUCIA}"),
            )
        assert r.status_code == 201, r.text
        t = await mesa.ticket_when(r.json()["id"], lambda t: t["owner"] is not None, "an owner")
        return str(t["id"])

    async def act(tid: str, command: str, actor: str, body: dict[str, Any], then: str) -> None:
        async with client(timeout=10) as http:
            r = await http.post(f"{mesa.url('intake')}/tickets/{tid}/{command}", json=body, headers=as_actor(actor))
        assert r.status_code == 200, (command, r.text)
        await mesa.ticket_when(tid, lambda t: t["status"] in then.split("|"), f"{command}: {then}")

    main = await open_("Mi pedido no llega", order_id="PED-1001", impact="high", urgency="high")
    owner = f"agent:{(await mesa.get_ticket(main) or {})['owner']}"
    await act(main, "comment", owner, {"body": "Lo miro con el transportista."}, "in_progress")
    await act(main, "comment", owner, {"body": "SEUR lo tiene en reparto.", "internal": True}, "in_progress")
    await act(main, "request-info", owner, {"question": "¿Cuál es tu código postal?"}, "waiting_on_customer")
    await act(main, "reply", f"requester:{LUCIA}", {"body": "28001"}, "in_progress")
    await act(main, "tags", owner, {"add": ["transporte"]}, "in_progress")
    await act(main, "escalate", owner, {"reason": "Necesito al transportista."}, "in_progress")
    current = "supervisor:sara"  # level 2 has nobody for orders: it waits in the queue
    await act(main, "resolve", current, {"summary": "Entregado mañana."}, "resolved")
    await act(main, "reject", f"requester:{LUCIA}", {"reason": "No ha llegado."}, "in_progress")
    await act(main, "resolve", current, {"summary": "Entregado hoy."}, "resolved")
    await act(main, "confirm", f"requester:{LUCIA}", {}, "closed")
    await act(main, "feedback", f"requester:{LUCIA}", {"rating": 2, "comment": "Tardó mucho."}, "closed")
    duplicate = await open_("Pedido PED-1001 otra vez")
    await act(duplicate, "merge", current, {"into": await open_("Sigue sin llegar")}, "closed|merged")
    return {"main": main, "duplicate": duplicate}


@pytest.fixture(scope="module")
async def lived(mesa: Mesa) -> dict[str, str]:
    return await walk_a_ticket(mesa)


def pages(tickets: dict[str, str], review: str) -> dict[str, list[str]]:
    today = datetime.now(ZoneInfo("Europe/Madrid")).date()
    since = (today - timedelta(days=1)).isoformat()
    ticket_pages = [f"/t/{tickets['main']}", f"/t/{tickets['duplicate']}"]
    return {
        "requester": ["/portal", "/portal/new", *ticket_pages, f"/t/{tickets['main']}?masked=1", "/kb", "/profile"],
        "agent": ["/console", *ticket_pages, "/macros/edit", "/kb", "/audits", "/profile"],
        "supervisor": [
            "/console",
            "/dashboard",
            *ticket_pages,
            f"/audit/report?from={since}",
            f"/audit/sample?from={since}",
            "/audits",
            f"/audits/{review}",
            "/macros/edit",
        ],
        "auditor": ["/dashboard", f"/audit/report?from={since}", "/audits", f"/audits/{review}"],
        "admin": ["/console", "/kb/new"],
    }


SUBS = {"requester": LUCIA, "agent": "ana", "supervisor": "sara", "auditor": "auditoria", "admin": "root"}


@pytest.mark.parametrize("lang", ["es", "en"])
async def test_every_page_speaks_one_language_and_shows_no_raw_code(
    mesa: Mesa, lived: dict[str, str], lang: str
) -> None:
    review = await _a_review(mesa)
    other = phrases()["en" if lang == "es" else "es"]
    problems: list[str] = []
    walked = 0
    for role, paths in pages(lived, review).items():
        token = bearer(role, SUBS[role])["Authorization"].removeprefix("Bearer ")  # type: ignore[arg-type]
        async with client(timeout=20, cookies={"mesa_session": token}) as http:
            for path in [*paths, "/login", "/t/T-00000000"]:
                r = await http.get(f"{mesa.url('projections')}{path}", params={"lang": lang})
                assert r.status_code in (200, 404), (role, path, r.status_code)
                assert "text/html" in r.headers["content-type"], (role, path)
                walked += 1
                words = visible(r.text)
                where = f"{role} {path} [{lang}]"
                problems += [f"{where}: raw code {m!r}" for m in sorted(set(SNAKE.findall(words)))]
                problems += [f"{where}: event type {m!r}" for m in sorted(set(EVENT_TYPE.findall(words)))]
                problems += [f"{where}: other language {p!r}" for p in sorted(other) if p in words]
    assert walked >= 30
    assert not problems, "\n".join(problems)


async def _a_review(mesa: Mesa) -> str:
    """The review the schedule opened for last month (its page is walked too)."""
    token = bearer("auditor", "auditoria")["Authorization"].removeprefix("Bearer ")

    async def opened() -> str | None:
        async with client("auditor", "auditoria", timeout=10, cookies={"mesa_session": token}) as h:
            r = await h.get(f"{mesa.url('projections')}/audits")
        found = re.search(r'href="/audits/([0-9_-]+)"', r.text)
        return found.group(1) if found else None

    review: str = await eventually(opened, what="the scheduled audit")
    return review


async def test_every_page_passes_axe_in_the_browser(mesa: Mesa, lived: dict[str, str]) -> None:
    from playwright.async_api import async_playwright

    from tests.e2e.a11y import violations
    from tests.e2e.test_web import CHROMIUM_ARGS

    review = await _a_review(mesa)
    base = mesa.url("projections")
    found: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for role, paths in pages(lived, review).items():
            token = bearer(role, SUBS[role])["Authorization"].removeprefix("Bearer ")  # type: ignore[arg-type]
            context = await browser.new_context(locale="es-ES")
            await context.add_cookies([{"name": "mesa_session", "value": token, "url": base}])
            page = await context.new_page()
            for path in paths:
                response = await page.goto(f"{base}{path}")
                assert response is not None and response.status in (200, 404), (role, path)
                assert "/login" not in page.url, (role, path)  # the page itself, signed in
                found += await violations(page, f"{role} {path}")
            await context.close()
        await browser.close()
    assert not found, "\n".join(found)

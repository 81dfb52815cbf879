"""axe-core (v4.12, bundled by axe-playwright-python) inside the browser tests: every rule it has,
WCAG 2.1 A/AA and its best practices (empty-table-header, image-redundant-alt, ...)."""

from __future__ import annotations

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page

RULES = {"resultTypes": ["violations"]}


async def violations(page: Page, where: str) -> list[str]:
    """What axe finds wrong on the page as it is now, one line per rule."""
    await page.wait_for_load_state("networkidle")
    results = await Axe().run(page, options=RULES)
    return [
        f"{where}: {v['id']} ({v['impact']}) at {', '.join(str(n['target']) for n in v['nodes'][:3])}"
        for v in results.response["violations"]
    ]

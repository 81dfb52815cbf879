"""Plots of `bench.e2e` results as PNG (for docs/benchmarks.md): latency and throughput against
offered load, one panel per run. SVG by the web's own chart code, rendered by Chromium.

    .venv/bin/python -m bench.plot docs/bench/e2e-1.json docs/bench/e2e-2.json --out docs/bench/e2e.png
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from playwright.async_api import async_playwright

from services.projections.web.charts import bars

STYLE = """
body { font: 13px sans-serif; margin: 12px 12px 12px 20px; width: 1310px; } svg { overflow: visible; }
.row { display: flex; gap: 16px; } .row > div { flex: 1; }
.chart .bar { fill: #3b6ea5; } .chart .axis { stroke: #444; } .chart .target { stroke: #c0392b; stroke-dasharray: 4 3; }
.chart .tick { font-size: 11px; fill: #333; }
h2 { font-size: 14px; margin: 8px 0 2px; }
"""


def panel(run: dict[str, object]) -> str:
    steps = run["steps"]
    assert isinstance(steps, list)
    label = run.get("label") or f"{run['instances']} instance(s) of routing, sla, projections; {run['intake']} intake"
    charts = [
        ("open -> assigned p50 (ms)", [(f"{s['offered']:g}/s", round(s["p50_ms"])) for s in steps], 250.0),
        ("open -> assigned p99 (ms)", [(f"{s['offered']:g}/s", round(s["p99_ms"])) for s in steps], 250.0),
        ("tickets done per second", [(f"{s['offered']:g}/s", round(s["done"])) for s in steps], None),
    ]
    cells = "".join(
        f"<div><h2>{title}</h2>{bars(points, title=title, target=target, width=420, height=200)}</div>"
        for title, points, target in charts
    )
    return f"<h2>{label}</h2><div class='row'>{cells}</div>"


async def render(runs: list[Path], out: Path) -> None:
    html = f"<html><head><style>{STYLE}</style></head><body>"
    html += "".join(panel(json.loads(p.read_text())) for p in runs) + "</body></html>"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium")
        page = await browser.new_page(viewport={"width": 1344, "height": 300})
        await page.set_content(html)
        await page.screenshot(path=str(out), full_page=True)
        await browser.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(render(args.runs, args.out))

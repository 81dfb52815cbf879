"""The report as HTML: the charts, and a whole standalone document for `mesa audit report`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.projections.web import charts
from services.projections.web.texts import CATEGORY, STATUS, label, text

HERE = Path(__file__).parent


def report_charts(report: dict[str, Any], lang: str) -> dict[str, str]:
    fr = [(p, v["first_response_met_pct"]) for p, v in report["by_priority"].items()]
    csat = [(k, float(n)) for k, n in report["csat"]["distribution"].items()]
    return {
        "fr": charts.bars(fr, title=text("frt_by_priority", lang), target=90, max_value=100, unit="%"),
        "csat": charts.bars(csat, title="CSAT"),
    }


def document(report: dict[str, Any], lang: str) -> str:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    env.globals.update(STATUS=STATUS, CATEGORY=CATEGORY, label=label)
    css = (HERE / "static" / "mesa.css").read_text()
    return env.get_template("report_document.html").render(
        r=report, charts=report_charts(report, lang), lang=lang, _=lambda key: text(key, lang), css=css
    )

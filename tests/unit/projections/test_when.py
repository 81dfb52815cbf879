"""Times in the viewer's zone and words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.projections.web.when import human, relative, zone

NOW = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)


def test_a_moment_reads_in_the_zone_and_language_of_the_viewer() -> None:
    due = "2026-11-30T11:00:00Z"
    assert human(due, "es", "Europe/Madrid", NOW) == "lunes 30 nov, 12:00"
    assert human(due, "en", "Europe/Madrid", NOW) == "Monday 30 Nov, 12:00"
    assert human(due, "es", "America/Mexico_City", NOW) == "lunes 30 nov, 05:00"
    assert human("2025-03-01T10:00:00+00:00", "es", "Europe/Madrid", NOW).endswith("2025, 11:00")  # another year
    assert human(None, "es", "Europe/Madrid", NOW) == "" and human("no es una fecha", "es", "UTC", NOW) == ""


def test_how_far_it_is_is_said_in_words() -> None:
    assert relative(NOW + timedelta(hours=3), "es", NOW) == "dentro de 3 h"
    assert relative(NOW - timedelta(days=2), "es", NOW) == "hace 2 d"
    assert "ago" in relative(NOW - timedelta(hours=3), "en", NOW)


@given(st.text(max_size=80))
def test_a_zone_from_a_cookie_is_a_real_zone_or_the_default(asked: str) -> None:
    got = zone(asked, "Europe/Madrid")
    assert got == "Europe/Madrid" or got == asked
    assert zone("Europe/Lisbon", "Europe/Madrid") == "Europe/Lisbon"
    assert zone("../../etc/passwd", "Europe/Madrid") == "Europe/Madrid"


def test_a_knowledge_base_excerpt_reads_as_text_not_markdown() -> None:
    from services.projections.kb import excerpt

    text = excerpt("Tienes **30 días** para [devolverlo](https://x.example).\n\n* gratis")
    assert "**" not in text and "](" not in text and "30 días" in text and "devolverlo" in text
    long = excerpt("palabra " * 100, limit=50)
    assert len(long) <= 50 and long.endswith("…") and "palabr…" not in long

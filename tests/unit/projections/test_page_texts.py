"""Every text a page asks for by its key exists in both languages: a key typed wrong would show
itself raw ("this_period") on the page. Keys built at run time ('action_' ~ status) are checked
by the walk over the running pages (tests/e2e/test_catalogue_walk.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.projections.web import texts

WEB = Path(texts.__file__).parent
LITERAL_KEY = re.compile(r"""\b_\(\s*'([a-z0-9_]+)'""")
CALLED_KEY = re.compile(r"""\btext\(\s*"([a-z0-9_]+)\"""")
TEMPLATES = sorted((WEB / "templates").glob("*.html"))


def known(key: str) -> bool:
    return any(key in book for book in (texts.TEXTS, texts.STATUS, texts.CATEGORY))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_every_key_a_template_asks_for_exists(template: Path) -> None:
    keys = {k for k in LITERAL_KEY.findall(template.read_text()) if not k.endswith("_")}  # '_' ~ code: the walk
    missing = sorted(k for k in keys if not known(k))
    assert not missing, f"{template.name}: no text for {missing}"


def test_every_key_the_code_asks_for_exists() -> None:
    keys = {k for f in WEB.glob("*.py") for k in CALLED_KEY.findall(f.read_text())}
    assert keys, "the pattern finds the calls"
    assert not sorted(k for k in keys if not known(k))


@pytest.mark.parametrize("book", ["TEXTS", "STATUS", "STAFF_STATUS", "CLOSE_REASON", "CATEGORY", "LEVEL"])
def test_every_text_has_both_languages(book: str) -> None:
    entries = getattr(texts, book)
    for key in entries:
        say = entries[key]
        assert say.es.strip() and say.en.strip(), f"{book}.{key}"

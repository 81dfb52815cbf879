"""The knowledge base on the real PostgreSQL: full-text search by stem in each article's language,
safe Markdown, one vote per person, deflections counted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from services.projections import kb
from shared.domain.events.catalogue import Category
from shared.platform import db
from tests.conftest import Isolated


@pytest.fixture(scope="module")
async def pool(isolated: Isolated) -> AsyncIterator[asyncpg.Pool]:
    p = await db.create_pool(isolated.settings.database_url, kb.SCHEMA)
    await db.migrate(p, kb.SCHEMA, Path(kb.__file__).parent / "kb_migrations")
    for article in (
        kb.ArticleIn(
            title="Cómo pedir la devolución de un pedido",
            body="La devolución es gratuita durante 30 días. Entra en *Mis pedidos*.",
            category=Category.order_status,
            tags=["reembolso"],
        ),
        kb.ArticleIn(
            title="Restablecer la contraseña",
            body="Usa el enlace «¿Olvidaste tu contraseña?». <script>alert(1)</script> [x](javascript:alert(1))"
            " Nunca te pediremos tu contraseña.",
            category=Category.account,
        ),
        kb.ArticleIn(
            title="Dónde está mi pedido: seguimiento del envío",
            body="El número de seguimiento está en el correo de envío y en *Mis pedidos*.",
            category=Category.order_status,
        ),
        kb.ArticleIn(
            title="Returning an order",
            body="Returns are free within 30 days: open My orders and press Return.",
            category=Category.order_status,
            language="en",
        ),
    ):
        await kb.create(p, article, "ana")
    yield p
    await p.close()


async def titles(pool: asyncpg.Pool, q: str, **kw: object) -> list[str]:
    return [a["title"] for a in await kb.search(pool, q, **kw)]  # type: ignore[arg-type]


async def test_spanish_words_are_found_by_their_stem(pool: asyncpg.Pool) -> None:
    assert await titles(pool, "devoluciones") == ["Cómo pedir la devolución de un pedido"]
    assert await titles(pool, "pedidos devolución") == ["Cómo pedir la devolución de un pedido"]
    assert await titles(pool, "contraseñas") == ["Restablecer la contraseña"]
    assert await titles(pool, "reembolsos") == ["Cómo pedir la devolución de un pedido"]  # tags count too


async def test_english_articles_use_english_stems(pool: asyncpg.Pool) -> None:
    assert await titles(pool, "returned orders") == ["Returning an order"]
    assert await titles(pool, "returned orders", language="es") == []
    assert await titles(pool, "", category="account") == ["Restablecer la contraseña"]


async def test_suggestions_match_any_word_of_a_sentence(pool: asyncpg.Pool) -> None:
    sentence = "Hola, quiero hacer una devolución porque el paquete llegó roto"
    assert await titles(pool, sentence) == []  # a search box wants every word
    assert await titles(pool, sentence, any_word=True) == ["Cómo pedir la devolución de un pedido"]


async def test_suggestions_for_a_late_order_are_about_orders(pool: asyncpg.Pool) -> None:
    late = "Mi pedido no ha llegado todavía, lo pedí hace diez días"
    # one stem in common ("pedí", "te pediremos") was enough to suggest the password article
    assert "Restablecer la contraseña" in await titles(pool, late, any_word=True)
    found = await titles(pool, late, any_word=True, prefer="order_status")
    assert found[:1] == ["Dónde está mi pedido: seguimiento del envío"] or found[0].startswith("Cómo pedir")
    assert "Restablecer la contraseña" not in found and len(found) == 2
    # an article of another category still comes when it shares enough with the question
    mixed = await titles(pool, "olvidé la contraseña, no puedo ver mi pedido", any_word=True, prefer="order_status")
    assert mixed[-1:] == ["Restablecer la contraseña"]


async def test_markdown_is_rendered_without_raw_html_or_script_links(pool: asyncpg.Pool) -> None:
    [found] = await kb.search(pool, "contraseña")
    article = await kb.get(pool, found["id"])
    assert article is not None
    assert "<script>" not in article["html"] and "&lt;script&gt;" in article["html"]
    assert 'href="javascript:' not in article["html"]  # left as text, never a link
    assert article["views"] == 1
    again = await kb.get(pool, found["id"])
    assert again is not None and again["views"] == 2


async def test_one_vote_per_person_and_deflections_counted(pool: asyncpg.Pool) -> None:
    [found] = await kb.search(pool, "devoluciones")
    aid = found["id"]
    assert await kb.vote(pool, aid, "requester:a@example.com", True)
    assert await kb.vote(pool, aid, "requester:a@example.com", True)  # the same person again
    assert await kb.vote(pool, aid, "requester:b@example.com", False)
    article = await kb.get(pool, aid, count_view=False)
    assert article is not None and (article["helpful"], article["not_helpful"]) == (1, 1)
    assert await kb.vote(pool, aid, "requester:b@example.com", True)  # changed their mind
    article = await kb.get(pool, aid, count_view=False)
    assert article is not None and (article["helpful"], article["not_helpful"]) == (2, 0)
    assert not await kb.vote(pool, 999_999, "requester:a@example.com", True)
    assert await kb.deflect(pool, aid, "requester:a@example.com", "devolución")
    assert await kb.deflect(pool, aid, "requester:c@example.com", "devolver")
    assert not await kb.deflect(pool, 999_999, "requester:a@example.com", "x")
    assert await kb.deflections(pool) == [{"id": aid, "title": found["title"], "deflections": 2}]

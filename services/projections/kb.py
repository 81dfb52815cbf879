"""The knowledge base: articles in PostgreSQL, found by full-text search in their own language
(Spanish or English stemming), rendered from Markdown without raw HTML; views, votes and
deflections ("this solved it" before a ticket was opened) counted."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Annotated, Any

import asyncpg
from markdown_it import MarkdownIt
from pydantic import AfterValidator, ConfigDict, Field

from shared.domain.events.catalogue import Category, StorableModel, one_line

SCHEMA = "kb"
# CommonMark with raw HTML off: `<script>` in an article is shown as text, and markdown-it
# refuses javascript:/vbscript:/data: links by itself.
_MD = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
_QUERY = (
    "CASE a.language WHEN 'en' THEN websearch_to_tsquery('english', $1) ELSE websearch_to_tsquery('spanish', $1) END"
)
# How many of the question's distinct words (stems) an article has.
_MATCHED = (
    "cardinality(ARRAY(SELECT unnest(tsvector_to_array(a.search)) INTERSECT SELECT unnest(tsvector_to_array("
    "CASE a.language WHEN 'en' THEN to_tsvector('english', $1) ELSE to_tsvector('spanish', $1) END))))"
)
# Suggestions while someone types a whole sentence: any of its words, best-covered first.
_ANY_WORD = (
    "CASE a.language WHEN 'en' THEN replace(plainto_tsquery('english', $1)::text, '&', '|')::tsquery"
    " ELSE replace(plainto_tsquery('spanish', $1)::text, '&', '|')::tsquery END"
)


class ArticleIn(StorableModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    title: Annotated[str, Field(min_length=3, max_length=200), AfterValidator(one_line)]
    body: Annotated[str, Field(min_length=10, max_length=50_000)]
    category: Category
    tags: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(default_factory=list, max_length=20)
    language: Annotated[str, Field(pattern=r"^(es|en)$")] = "es"


def render(markdown: str) -> str:
    return str(_MD.render(markdown))


class _Text(HTMLParser):
    """The words of rendered Markdown, without its marks (an excerpt reads as text, not `**30 días**`)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def excerpt(markdown: str, limit: int = 200) -> str:
    reader = _Text()
    reader.feed(render(markdown))
    words = " ".join(" ".join(reader.parts).split())
    return words if len(words) <= limit else words[: limit - 1].rsplit(" ", 1)[0] + "…"


def _row(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": r["id"],
        "title": r["title"],
        "category": r["category"],
        "tags": list(r["tags"]),
        "language": r["language"],
        "author": r["author"],
        "updated_at": r["updated_at"].isoformat(),
        "views": r["views"],
        "helpful": r["helpful"],
        "not_helpful": r["not_helpful"],
        "excerpt": excerpt(r["body"]),
    }


async def create(pool: asyncpg.Pool, article: ArticleIn, author: str) -> int:
    article_id: int = await pool.fetchval(
        "INSERT INTO articles(title, body, category, tags, tags_text, language, author)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        article.title,
        article.body,
        article.category.value,
        article.tags,
        " ".join(article.tags),
        article.language,
        author,
    )
    return article_id


async def search(
    pool: asyncpg.Pool,
    q: str = "",
    *,
    language: str | None = None,
    category: str | None = None,
    limit: int = 20,
    any_word: bool = False,
    prefer: str | None = None,
) -> list[dict[str, Any]]:
    """Best matches first; with no words, the most helpful articles. `any_word`: match any of
    the words (suggestions from free text) instead of all of them (a search box). `prefer`: the
    category the question seems to be about (suggestions): its articles come first, and an
    article of another category is suggested only when it shares two words with the question,
    so one stem in common ("pedí" and "te pediremos") does not put a password article under a
    late order."""
    query = _ANY_WORD if any_word else _QUERY
    words = q.replace("\x00", " ").encode("utf-8", "ignore").decode().strip()[:300]
    where: list[str] = ["true"]
    args: list[Any] = []
    if words:
        args.append(words)  # $1, as _QUERY expects
        where.append(f"a.search @@ {query}")
    if language:
        args.append(language)
        where.append(f"a.language = ${len(args)}")
    if category:
        args.append(category)
        where.append(f"a.category = ${len(args)}")
    order = f"ts_rank(a.search, {query}) DESC, a.helpful DESC, a.id" if words else "a.helpful DESC, a.id"
    if words and prefer:
        args.append(prefer)
        same = f"a.category = ${len(args)}"
        where.append(f"({same} OR {_MATCHED} >= 2)")
        order = f"{same} DESC, {_MATCHED} DESC, {order}"
    rows = await pool.fetch(
        f"SELECT a.* FROM articles a WHERE {' AND '.join(where)} ORDER BY {order} LIMIT {int(limit)}", *args
    )
    return [_row(r) for r in rows]


async def get(pool: asyncpg.Pool, article_id: int, *, count_view: bool = True) -> dict[str, Any] | None:
    sql = (
        "UPDATE articles SET views = views + 1 WHERE id = $1 RETURNING *"
        if count_view
        else "SELECT * FROM articles WHERE id = $1"
    )
    r = await pool.fetchrow(sql, article_id)
    if r is None:
        return None
    return _row(r) | {"body": r["body"], "html": render(r["body"])}


async def vote(pool: asyncpg.Pool, article_id: int, who: str, helpful: bool) -> bool:
    """One vote per person (a second one replaces the first). False when there is no such article."""
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT 1 FROM articles WHERE id = $1 FOR UPDATE", article_id):
            return False
        await conn.execute(
            "INSERT INTO votes(article_id, who, helpful) VALUES ($1, $2, $3)"
            " ON CONFLICT (article_id, who) DO UPDATE SET helpful = $3",
            article_id,
            who,
            helpful,
        )
        await conn.execute(
            "UPDATE articles SET helpful = (SELECT count(*) FROM votes WHERE article_id = $1 AND helpful),"
            " not_helpful = (SELECT count(*) FROM votes WHERE article_id = $1 AND NOT helpful) WHERE id = $1",
            article_id,
        )
    return True


async def deflect(pool: asyncpg.Pool, article_id: int, who: str, query: str) -> bool:
    if not await pool.fetchval("SELECT 1 FROM articles WHERE id = $1", article_id):
        return False
    await pool.execute(
        "INSERT INTO deflections(article_id, who, query) VALUES ($1, $2, $3)", article_id, who, query[:500]
    )
    return True


async def deflections(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT a.id, a.title, count(d.id) AS n FROM articles a JOIN deflections d ON d.article_id = a.id"
        " GROUP BY a.id ORDER BY n DESC, a.id"
    )
    return [{"id": r["id"], "title": r["title"], "deflections": r["n"]} for r in rows]


PRESENT_FOR = 20  # seconds: a page polls every 3, so a viewer gone for longer has left


async def here(pool: asyncpg.Pool, ticket_id: str, viewer: str, name: str) -> list[str]:
    """`viewer` has the ticket open now; the names of the others who have it open too."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO presence VALUES ($1, $2, $3, now()) ON CONFLICT (ticket_id, viewer)"
            " DO UPDATE SET seen_at = now(), name = $3",
            ticket_id,
            viewer,
            name,
        )
        await conn.execute("DELETE FROM presence WHERE seen_at < now() - interval '1 hour'")
        rows = await conn.fetch(
            "SELECT name FROM presence WHERE ticket_id = $1 AND viewer <> $2"
            f" AND seen_at > now() - interval '{PRESENT_FOR} seconds' ORDER BY name",
            ticket_id,
            viewer,
        )
    return [r["name"] for r in rows]

"""The knowledge base: its pages (search, articles, votes, what deflected a ticket, new
articles) and, as JSON, its API for other systems and scripts (`api`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from services.projections import kb
from services.projections.web.site import PageError, Site, lang_of
from services.projections.web.texts import text
from shared.domain.categories import guess_category
from shared.domain.events.catalogue import Category
from shared.domain.masking import mask
from shared.domain.principal import Principal
from shared.platform.auth import requires

KB_WRITERS = ("agent", "supervisor", "admin", "service")
Writer = Annotated[Principal, Depends(requires(*KB_WRITERS))]
router = APIRouter(include_in_schema=False)


@router.get("/kb")
async def kb_index(web: Site, request: Request, q: str = "", category: str = "") -> Response:
    articles = await kb.search(web.kb_pool, q, category=category or None)
    return web.render(request, "kb_index.html", articles=articles, q=q, category=category)


@router.get("/kb/a/{article_id}")
async def kb_article(web: Site, request: Request, article_id: int, voted: str = "") -> Response:
    article = await kb.get(web.kb_pool, article_id)
    if article is None:
        raise PageError(404, "not_found")
    return web.render(request, "kb_article.html", a=article, voted=voted)


@router.post("/kb/a/{article_id}/vote")
async def kb_vote(web: Site, request: Request, article_id: int) -> Response:
    who = web.need(request)
    form = await web.form(request)
    if not await kb.vote(web.kb_pool, article_id, web.voter(who), form.get("helpful") == "yes"):
        raise PageError(404, "not_found")
    return RedirectResponse(f"/kb/a/{article_id}?voted=1", 303)


@router.post("/kb/a/{article_id}/deflect")
async def kb_deflect(web: Site, request: Request, article_id: int) -> Response:
    who = web.need(request)
    form = await web.form(request)
    if not await kb.deflect(web.kb_pool, article_id, web.voter(who), mask(str(form.get("q", ""))).text):
        return JSONResponse({"error": "not_found"}, 404)
    return JSONResponse({"deflected": article_id, "message": text("glad", lang_of(request))})


@router.get("/kb/suggest")
async def kb_suggest(web: Site, request: Request, q: str = "") -> Response:
    if len(q.strip()) < 3:
        return JSONResponse([])
    # in the reader's language, the articles of what the question is about first
    about = guess_category(q)
    found = await kb.search(
        web.kb_pool,
        q,
        language=lang_of(request),
        limit=5,
        any_word=True,
        prefer=None if about is Category.other else about.value,
    )
    return JSONResponse([{"id": a["id"], "title": a["title"], "excerpt": a["excerpt"]} for a in found])


@router.get("/kb/new")
async def kb_new_page(web: Site, request: Request) -> Response:
    web.need(request, "agent", "supervisor", "admin")
    return web.render(request, "kb_new.html", values={}, error=None)


@router.post("/kb/new")
async def kb_new(web: Site, request: Request) -> Response:
    who = web.need(request, "agent", "supervisor", "admin")
    form = await web.form(request)
    values = {k: str(form.get(k, "")) for k in ("title", "body", "category", "tags", "language")}
    try:
        article = kb.ArticleIn(
            title=values["title"],
            body=values["body"],
            category=values["category"],
            tags=[x.strip() for x in values["tags"].split(",") if x.strip()],
            language=values["language"] or "es",
        )
    except ValidationError as exc:
        error = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return web.render(request, "kb_new.html", 422, values=values, error=error)
    article_id = await kb.create(web.kb_pool, article, who.sub)
    return RedirectResponse(f"/kb/a/{article_id}", 303)


api = APIRouter(prefix="/kb/articles", tags=["knowledge base"])


@api.get("")
async def kb_list(
    web: Site,
    q: str = "",
    language: str | None = None,
    category: Category | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> JSONResponse:
    """Search (full text in each article's language); without `q`, the most helpful first."""
    found = await kb.search(
        web.kb_pool, q, language=language, category=category.value if category else None, limit=limit
    )
    return JSONResponse(found)


@api.get("/{article_id}")
async def kb_one(web: Site, article_id: int) -> JSONResponse:
    article = await kb.get(web.kb_pool, article_id)
    if article is None:
        return JSONResponse({"error": "not_found", "message": "artículo no encontrado / article not found"}, 404)
    return JSONResponse(article)


@api.post("", status_code=201)
async def kb_publish(
    web: Site, body: kb.ArticleIn, who: Annotated[Principal, Depends(requires(*KB_WRITERS))]
) -> JSONResponse:
    article_id = await kb.create(web.kb_pool, body, who.sub)
    return JSONResponse({"id": article_id, "url": f"{web.settings.public_url}/kb/a/{article_id}"}, 201)

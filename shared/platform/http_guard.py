"""What every service's HTTP side does with hostile or broken input, in one place:

- a body larger than the limit is refused with 413 before it is read (by its Content-Length) or
  as soon as it passes the limit (a chunked upload): memory stays bounded whatever is sent;
- security headers on every response; HSTS when the public address is https;
- an unexpected error answers a plain JSON 500, never a stack trace;
- `BoundedHttpTools`: a request's head (its line and headers) past `MAX_HEAD_BYTES` is a 400
  before it is all read, as h11 did: the C parser alone would hold whatever is sent;
- `InFlightLimit`: past a number of requests in progress, 503 with Retry-After at once;
- `RateLimiter`: a token bucket per caller (429 with Retry-After);
- `read_json`: a body read by hand is parsed so that hostile input is a 400 with a reason, never
  a 500: not UTF-8, nested past `MAX_JSON_DEPTH`, numbers past `MAX_NUMBER_DIGITS` digits;
- nothing a caller sent is ever logged: an unexpected error is logged by its type and the place
  it was raised, not its message (which may quote the body).
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared.domain.i18n import pick_language, t
from shared.platform.logging import get_logger
from shared.platform.settings import Settings

log = get_logger(__name__)
Headers = Sequence[tuple[bytes, bytes]]


class BodyLimit:
    """ASGI middleware: at most `limit` bytes of request body, for every route."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lang = _scope_language(scope)
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send, lang)
            return
        seen = 0

        async def counted() -> Message:
            # a body without a length (chunked) is counted as it arrives; the reader gets a 413
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, detail=t("too_large", lang, limit_mb=self.limit // 2**20))
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, send: Send, lang: str) -> None:
        await _send_error(send, 413, "too_large", t("too_large", lang, limit_mb=self.limit // 2**20))


MAX_HEAD_BYTES = 16 * 1024  # h11's bound under uvicorn, kept when the parser changed (issue 22)
HEAD_TOO_LARGE = "Request head too large."


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on the request head it holds.

    httptools (llhttp) parses in C, several times cheaper than h11, but keeps no limit of its
    own: a head sent in pieces (16 MB of headers, one endless header) is gathered in memory and
    handed to the app. A head still unfinished after `MAX_HEAD_BYTES` of reads is refused with
    400 and the connection closed. A head that arrives in one read is never counted: only what
    waits for more is held."""

    _in_head = False
    _held = 0

    def on_message_begin(self) -> None:
        self._in_head, self._held = True, 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._held += len(data)
            if self._held > MAX_HEAD_BYTES:
                self.send_400_response(HEAD_TOO_LARGE)


def _scope_language(scope: Scope) -> str:
    return pick_language(dict(scope.get("headers") or ()).get(b"accept-language", b"").decode() or None)


async def _send_error(send: Send, status: int, code: str, message: str, headers: Headers = ()) -> None:
    """A JSON error answered straight from a middleware, before the app reads anything."""
    body = json.dumps({"error": code, "message": message}, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


SHED = Counter("mesa_http_shed_total", "Requests refused with 503 because too many were in progress")
RETRY_AFTER_S = 1
# probes and metrics answer even when the service is busy: that is when they are wanted
_ALWAYS = ("/healthz", "/readyz", "/metrics")


class InFlightLimit:
    """ASGI middleware: at most `limit` requests in progress; the next ones are refused at once
    (503, Retry-After) rather than queued. On a sale day's flood a client then retries against
    another instance or a moment later, and the requests being worked on keep their latency,
    instead of every request waiting behind a queue that grows as long as the flood lasts."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limit <= 0 or scope.get("path", "") in _ALWAYS:
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            SHED.inc()
            message = t("overloaded", _scope_language(scope), seconds=RETRY_AFTER_S)
            await _send_error(send, 503, "overloaded", message, [(b"retry-after", str(RETRY_AFTER_S).encode())])
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


REQUESTS = Counter(
    "mesa_http_requests_total", "HTTP requests answered, by route template and status", ["method", "route", "status"]
)
LATENCY = Histogram(
    "mesa_http_request_seconds",
    "Time to answer an HTTP request, by route template",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    """ASGI middleware: every answer counted by its route's template (never the path a client
    made up: an unknown one is "other", so nobody can grow the metrics by asking), outermost,
    so a request refused before any work is counted too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "") in _ALWAYS:
            await self.app(scope, receive, send)
            return
        status = 500  # unless the app answers
        started = time.perf_counter()

        async def counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            route = getattr(scope.get("route"), "path", None) or "other"
            method = scope.get("method", "")
            REQUESTS.labels(method if method in _METHODS else "other", route, str(status)).inc()
            LATENCY.labels(route).observe(time.perf_counter() - started)


# Pages: our own files only, no inline script (user text can never become code), no framing.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self';"
    " frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
# FastAPI's interactive docs load their script from a CDN: no CSP there (they show no user data).
_NO_CSP = ("/docs", "/redoc")


class SecurityHeaders:
    """ASGI middleware (not BaseHTTPMiddleware: that one reads request bodies in a task of its
    own, which would turn BodyLimit's 413 into a 500)."""

    def __init__(self, app: ASGIApp, hsts: bool) -> None:
        self.app, self.hsts = app, hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")

                def add(name: bytes, value: str) -> None:
                    if name not in present:
                        headers.append((name, value.encode()))

                add(b"x-content-type-options", "nosniff")
                add(b"referrer-policy", "same-origin")
                add(b"x-frame-options", "DENY")
                if not path.startswith(_NO_CSP):
                    add(b"content-security-policy", PAGE_CSP if ctype.startswith(b"text/html") else API_CSP)
                if self.hsts:
                    add(b"strict-transport-security", "max-age=31536000; includeSubDomains")
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def harden(app: FastAPI, settings: Settings) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = {413: "too_large", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "message": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # which field and why, in the caller's language; never the value it was given
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in exc.errors()[:10]
        )
        lang = pick_language(request.headers.get("accept-language"))
        return JSONResponse({"error": "invalid_request", "message": t("invalid_request", lang, detail=detail)}, 422)

    @app.exception_handler(asyncpg.DataError)
    async def bad_data(request: Request, exc: asyncpg.DataError) -> JSONResponse:
        # a parameter PostgreSQL cannot hold (a NUL in a query string, a number out of range):
        # the database's own words stay in the log (they may quote the value), not in the answer
        log.info("value refused by the database", path=request.url.path, error=type(exc).__name__)
        lang = pick_language(request.headers.get("accept-language"))
        detail = "a value that cannot be stored (a NUL character, or a number out of range)"
        return JSONResponse({"error": "invalid_request", "message": t("invalid_request", lang, detail=detail)}, 422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", path=request.url.path, error=type(exc).__name__, where=raised_at(exc))
        lang = pick_language(request.headers.get("accept-language"))
        return JSONResponse({"error": "internal", "message": t("internal", lang)}, status_code=500)

    app.add_middleware(SecurityHeaders, hsts=settings.public_url.startswith("https://"))
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(InFlightLimit, limit=settings.http_max_in_flight)  # refuses before any work
    app.add_middleware(RequestMetrics)  # outermost: counts what InFlightLimit refused too


MAX_JSON_DEPTH = 32  # Mesa's deepest body is 3 levels; anything near this is an attack
MAX_NUMBER_DIGITS = 40


class BadBody(ValueError):
    """A request body that is not the JSON it should be; `reason` never quotes it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _number(text: str) -> int | float:
    if len(text) > MAX_NUMBER_DIGITS:
        raise BadBody(f"a number longer than {MAX_NUMBER_DIGITS} digits")
    return float(text) if any(c in text for c in ".eE") else int(text)


def _not_a_number(text: str) -> float:
    raise BadBody(f"{text[:10]} is not a JSON number")


def _depth(value: Any) -> int:
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                break
            todo += [(v, depth + 1) for v in (item.values() if isinstance(item, dict) else item)]
    return deepest


def read_json(raw: bytes) -> Any:
    """`raw` as JSON, or `BadBody` with a reason that does not quote it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBody(f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_int=_number, parse_float=_number, parse_constant=_not_a_number)
    except BadBody:
        raise
    except RecursionError:
        raise BadBody(f"the body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise BadBody(f"the body is not JSON ({exc.msg} at character {exc.pos})") from None
    except ValueError:
        raise BadBody("the body is not JSON") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise BadBody(f"the body is nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def raised_at(exc: BaseException) -> str:
    """file:line in function, where `exc` was raised: enough to find it, nothing of the input."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f"{last.filename.rsplit('/', 2)[-1]}:{last.lineno} in {last.name}"


@dataclass
class RateLimiter:
    """Token buckets per key: `rate` per minute, bursts of `burst`. In-process (each instance
    counts its own callers: behind a load balancer a caller gets up to n times the rate)."""

    rate_per_minute: float
    burst: int
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, key: str, now: float | None = None) -> float:
        """0 when allowed (a token is spent); otherwise the seconds until one is available."""
        now = time.monotonic() if now is None else now
        per_second = self.rate_per_minute / 60
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - last) * per_second)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return math.ceil((1 - tokens) / per_second)

"""Who is asking: bearer JWTs (pyjwt) turned into a `Principal`, and the rules of what each role may do.

Development signs HS256 tokens with `MESA_JWT_SECRET` (`mesa token` prints one); a company's
identity provider is used by setting `MESA_JWT_JWKS_URL` (RS256/ES256 keys fetched and cached by
pyjwt's `PyJWKClient`) plus the issuer and audience it writes. The role is read from the claim
named by `MESA_JWT_ROLE_CLAIM` (a string, or a list whose first known role wins).

The web pages carry the same token in an HttpOnly cookie; APIs read `Authorization: Bearer`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from functools import cached_property
from pathlib import Path
from typing import Annotated, cast
from urllib.parse import urlsplit

import jwt
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from shared.domain.i18n import pick_language, t
from shared.domain.principal import ROLES, SCOPES, AuthError, Principal, Role
from shared.domain.privacy import is_ref
from shared.platform.http_guard import RateLimiter
from shared.platform.logging import get_logger
from shared.platform.settings import Settings

SESSION_COOKIE = "mesa_session"


log = get_logger(__name__)
LEEWAY_S = 30  # clock skew allowed on `exp`, `iat` and `nbf`


def _refused(why: str) -> AuthError:
    """A 401 that says no more than that the token was refused; why goes to the log."""
    log.info("token refused", reason=why)
    return AuthError(401, "unauthenticated", reason="token refused")


# Verifying a token (HMAC or RSA, claims) took a sixth of intake's time per request; a service or
# a browser session presents the same token again and again, so a verified token is remembered
# until it expires (tokens are stateless: nothing revokes one earlier anyway).
VERIFIED_KEPT = 10_000


class Authenticator:
    def __init__(self, settings: Settings, *, now: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.secret = settings.jwt_secret
        self.algorithms = [a.strip() for a in settings.jwt_algorithms.split(",") if a.strip()]
        self._now = now
        # token -> (who, valid until), oldest first: an OrderedDict, whose oldest goes in O(1)
        # (a dict finds its first key by skipping the slots of every key popped before it)
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        rate, service_rate = settings.write_rate_per_minute, settings.service_write_rate_per_minute
        self._writes = RateLimiter(rate, burst=max(1, int(rate // 4)))
        self._service_writes = RateLimiter(service_rate, burst=max(1, int(service_rate // 4)))

    @cached_property
    def _jwks(self) -> jwt.PyJWKClient | None:
        url = self.settings.jwt_jwks_url
        return jwt.PyJWKClient(url, cache_keys=True, lifespan=3600) if url else None

    def issue(
        self, role: Role, sub: str, *, name: str | None = None, ttl_s: int = 8 * 3600, scopes: Iterable[str] = ()
    ) -> str:
        """A development token (HS256 with the configured secret); `scopes` for a service."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        now = int(self._now())
        claims: dict[str, object] = {
            "sub": sub,
            self.settings.jwt_role_claim: role,
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
            "iat": now,
            "exp": now + ttl_s,
        }
        if name:
            claims["name"] = name
        unknown = set(scopes) - set(SCOPES)
        if unknown:
            raise ValueError(f"unknown scope(s) {', '.join(sorted(unknown))}; known: {', '.join(SCOPES)}")
        if scopes:
            claims["scope"] = " ".join(scopes)
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def verify(self, token: str) -> Principal:
        known = self._verified.get(token)
        if known is not None and self._now() <= known[1]:
            return known[0]
        principal, until = self._verify(token)
        if len(self._verified) >= VERIFIED_KEPT:
            self._verified.popitem(last=False)
        self._verified[token] = (principal, until)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        """(who, until when) of a token, checked in full."""
        try:
            if self._jwks is not None:
                key: object = self._jwks.get_signing_key_from_jwt(token).key
            else:
                key = self.secret
            claims = jwt.decode(
                token,
                key,  # type: ignore[arg-type]
                algorithms=self.algorithms,
                issuer=self.settings.jwt_issuer,
                audience=self.settings.jwt_audience,
                # the times are checked below against this authenticator's clock, as the cache is
                options={"require": ["exp", "sub"], "verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError as exc:
            raise _refused(type(exc).__name__) from None
        now = self._now()
        exp, iat, nbf = (_seconds(claims.get(name, now)) for name in ("exp", "iat", "nbf"))
        if now > exp + LEEWAY_S:
            raise _refused("expired")
        if now < max(iat, nbf) - LEEWAY_S:  # issued, or valid, only in the future
            raise _refused("not yet valid")
        raw = claims.get(self.settings.jwt_role_claim)
        candidates = raw if isinstance(raw, list) else [raw]
        role = next((r for r in candidates if r in ROLES), None)
        sub = claims.get("sub")
        if role is None or not isinstance(sub, str) or not sub or len(sub) > 120:
            raise _refused("no known role or subject")
        longest = self.settings.jwt_max_lifetime_h.get(role, 12) * 3600
        if exp - min(iat, nbf, now) > longest + LEEWAY_S:
            raise _refused(f"lives longer than a {role} token may ({longest / 3600:g} h)")
        if role == "requester" and is_ref(sub):
            # a pseudonym names a requester inside the log only; as a sign-in id it would act as them
            raise _refused("a requester's subject cannot be a pseudonym")
        name = claims.get("name")
        raw_scope = claims.get("scope")
        scopes = frozenset(raw_scope.split()) & set(SCOPES) if isinstance(raw_scope, str) else frozenset()
        who = Principal(cast(Role, role), sub, name if isinstance(name, str) else None, scopes)
        return who, exp + LEEWAY_S

    def token_of(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return request.cookies.get(SESSION_COOKIE) or None

    def principal(self, request: Request) -> Principal:
        """The caller, or AuthError(401). A change asked with the session cookie must come from
        Mesa's own pages (`same_origin`): a browser sends the cookie to any site's form or fetch
        aimed at us, and SameSite=Lax does not cover other ports or subdomains."""
        token = self.token_of(request)
        if token is None:
            raise AuthError(401, "unauthenticated", reason="no token")
        writes = request.method not in SAFE_METHODS
        from_cookie = not request.headers.get("authorization")
        if from_cookie and writes and not self.same_origin(request):
            raise AuthError(403, "cross_origin")
        who = self.verify(token)
        if writes:  # every change, per principal: a flood of commands is refused early, not queued
            limiter = self._service_writes if who.role == "service" else self._writes
            wait = limiter.take(f"{who.role}:{who.sub}")
            if wait:
                raise AuthError(429, "write_rate_limited", seconds=int(wait))
        return who

    def same_origin(self, request: Request) -> bool:
        """Whether a browser's request comes from Mesa's public address (or this service's own):
        its `Origin`, else its `Referer`. Neither (a browser always sends one with a POST): no."""
        sent = request.headers.get("origin") or request.headers.get("referer") or ""
        origin = _origin(sent)
        own = {_origin(self.settings.public_url), f"{request.url.scheme}://{request.headers.get('host', '')}"}
        return bool(origin) and origin in own

    def csrf_token(self, session_token: str) -> str:
        """A form token bound to the session (double-submit by derivation: nothing stored)."""
        return hmac.new(self.secret.encode(), b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()[:32]


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _origin(url: str) -> str:
    """scheme://host[:port] of a URL ("" when it has none)."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def _seconds(value: object) -> float:
    """A NumericDate claim (`exp` was required by the decode; `iat`, `nbf` default to now)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _refused("a time claim is not a number")
    return float(value)


def install(app: FastAPI, auth: Authenticator) -> None:
    """Keep `auth` for the dependencies below and answer AuthError as JSON (WWW-Authenticate on 401)."""
    app.state.auth = auth

    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> JSONResponse:
        lang = pick_language(request.headers.get("accept-language"))
        headers = {"WWW-Authenticate": 'Bearer realm="mesa"'} if exc.status == 401 else None
        if exc.status == 429:
            headers = {"Retry-After": str(exc.params.get("seconds", 1))}
        return JSONResponse(
            {"error": exc.code, "message": t(exc.code, lang, **exc.params)}, status_code=exc.status, headers=headers
        )


async def _caller(request: Request) -> Principal:
    auth: Authenticator = request.app.state.auth
    return auth.principal(request)


def requires(*roles: Role, scope: str | None = None) -> Callable[[Request], Awaitable[Principal]]:
    """One of `roles`; a service also needs `scope`."""

    async def dependency(request: Request) -> Principal:
        who = (await _caller(request)).require(*roles)
        return who.need(scope) if scope else who

    return dependency


# FastAPI parameter types (module-level: FastAPI resolves annotations in the module's namespace).
Caller = Annotated[Principal, Depends(_caller)]


def dev_sign_ins(people_file: Path) -> list[dict[str, str]]:
    """Who one can be with the development sign-in: the demo's agents, plus its listed requesters and staff."""
    data = json.loads(people_file.read_text())
    agents = [{"role": "agent", "sub": a["id"], "name": a["name"]} for a in data["agents"]]
    users: list[dict[str, str]] = data.get("users", [])
    return [*users[:2], *agents, *users[2:]]

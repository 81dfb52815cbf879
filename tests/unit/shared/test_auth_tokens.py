"""Token verification: what a remembered token still has to pass."""

from __future__ import annotations

import httpx
import jwt
import pytest
from fastapi import FastAPI

from shared.domain.principal import AuthError
from shared.platform.auth import LEEWAY_S, VERIFIED_KEPT, Authenticator, Caller, install
from shared.platform.settings import Settings

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def test_a_remembered_token_stops_working_when_it_expires() -> None:
    clock = Clock()
    auth = Authenticator(Settings(), now=clock)
    token = auth.issue("agent", "ana", ttl_s=600)
    assert auth.verify(token).sub == "ana"
    clock.t = T0 + 600 + LEEWAY_S
    assert auth.verify(token).sub == "ana"  # the skew allowed
    clock.t += 1
    with pytest.raises(AuthError) as refused:
        auth.verify(token)
    assert refused.value.status == 401


def test_a_token_expired_before_it_is_first_seen_is_refused() -> None:
    clock = Clock()
    token = Authenticator(Settings(), now=clock).issue("agent", "ana", ttl_s=60)
    clock.t = T0 + 60 + LEEWAY_S + 1
    with pytest.raises(AuthError):
        Authenticator(Settings(), now=clock).verify(token)


def test_a_forged_token_is_refused_even_after_the_real_one_was_remembered() -> None:
    auth = Authenticator(Settings())
    real = auth.issue("agent", "ana")
    auth.verify(real)
    claims = jwt.decode(real, options={"verify_signature": False})
    forged = jwt.encode({**claims, "role": "admin"}, "not-the-secret-but-just-as-long-as-one", algorithm="HS256")
    with pytest.raises(AuthError):
        auth.verify(forged)


def test_the_memory_is_bounded() -> None:
    auth = Authenticator(Settings())
    tokens = [auth.issue("requester", f"c{i}@example.com") for i in range(VERIFIED_KEPT + 5)]
    for token in tokens:
        auth.verify(token)
    assert len(auth._verified) == VERIFIED_KEPT
    assert auth.verify(tokens[0]).sub == "c0@example.com"  # forgotten, so verified again in full


def _token(auth: Authenticator, **claims: object) -> str:
    base: dict[str, object] = {"sub": "ana", "role": "agent", "iss": "mesa", "aud": "mesa", "iat": T0, "exp": T0 + 3600}
    merged = {k: v for k, v in (base | claims).items() if v is not None}  # None: leave the claim out
    return jwt.encode(merged, auth.secret, algorithm="HS256")


def test_tokens_from_the_future_are_refused() -> None:
    auth = Authenticator(Settings(), now=Clock())
    for claims in ({"nbf": T0 + 86_400}, {"iat": T0 + 3600, "exp": T0 + 7200}, {"nbf": T0 + LEEWAY_S + 1}):
        with pytest.raises(AuthError) as refused:
            auth.verify(_token(auth, **claims))
        assert refused.value.status == 401
    assert auth.verify(_token(auth, nbf=T0 + LEEWAY_S)).sub == "ana"  # within the allowed skew


def test_each_role_has_a_longest_lifetime() -> None:
    auth = Authenticator(Settings(), now=Clock())
    assert auth.verify(_token(auth, exp=T0 + 12 * 3600)).sub == "ana"
    with pytest.raises(AuthError):
        auth.verify(_token(auth, exp=T0 + 13 * 3600))  # an agent's token lives at most 12 h
    with pytest.raises(AuthError):  # without iat the lifetime counts from now
        auth.verify(_token(auth, iat=None, exp=T0 + 400 * 24 * 3600))
    service = _token(auth, role="service", sub="erp", exp=T0 + 29 * 24 * 3600)
    assert auth.verify(service).role == "service"
    shorter = Authenticator(Settings.model_validate({"MESA_JWT_MAX_LIFETIME_H": {"agent": 1}}), now=Clock())
    with pytest.raises(AuthError):
        shorter.verify(_token(shorter, exp=T0 + 7200))


def test_a_requester_cannot_sign_in_as_a_pseudonym_and_refusals_say_no_more() -> None:
    auth = Authenticator(Settings(), now=Clock())
    with pytest.raises(AuthError) as refused:
        auth.verify(_token(auth, role="requester", sub="R-0123456789ABCDEF"))
    assert refused.value.params == {"reason": "token refused"}
    with pytest.raises(AuthError) as garbled:
        auth.verify("not.a.token")
    assert "Error" not in str(garbled.value.params)  # no library's exception names in answers


async def test_writes_are_limited_per_principal_and_services_have_their_own_quota() -> None:
    settings = Settings.model_validate({"MESA_WRITE_RATE_PER_MINUTE": 8, "MESA_SERVICE_WRITE_RATE_PER_MINUTE": 40})
    auth = Authenticator(settings)
    app = FastAPI()
    install(app, auth)

    @app.post("/do")
    async def do(who: Caller) -> dict[str, str]:
        return {"sub": who.sub}

    @app.get("/see")
    async def see(who: Caller) -> dict[str, str]:
        return {"sub": who.sub}

    def as_(role: str, sub: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {auth.issue(role, sub)}"}  # type: ignore[arg-type]

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        ana = [(await http.post("/do", headers=as_("agent", "ana"))).status_code for _ in range(3)]
        assert ana == [200, 200, 429]  # a burst of a quarter of 8 a minute
        refused = await http.post("/do", headers=as_("agent", "ana"))
        assert refused.json()["error"] == "write_rate_limited" and int(refused.headers["Retry-After"]) >= 1
        assert (await http.get("/see", headers=as_("agent", "ana"))).status_code == 200  # reads are not limited
        assert (await http.post("/do", headers=as_("agent", "bea"))).status_code == 200  # per principal
        erp = [(await http.post("/do", headers=as_("service", "erp"))).status_code for _ in range(10)]
        assert erp == [200] * 10

"""Token verification: what a remembered token still has to pass."""

from __future__ import annotations

import jwt
import pytest

from shared.auth import LEEWAY_S, VERIFIED_KEPT, Authenticator, AuthError
from shared.settings import Settings

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

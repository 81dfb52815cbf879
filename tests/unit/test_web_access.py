"""Pure parts of the web and its access rules: who reads what, the requester's public timeline,
tokens, charts."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.projections.access import PUBLIC_FIELDS, may_read, public_event, timeline_for
from services.projections.web import charts
from shared.domain.principal import ROLES, AuthError, Principal
from shared.platform.auth import Authenticator
from shared.platform.settings import Settings

AUTH = Authenticator(Settings())


def event(type_: str, **data: Any) -> dict[str, Any]:
    return {
        "seq": 1,
        "id": "e1",
        "type": type_,
        "time": "2026-11-26T00:00:00Z",
        "source": "x",
        "actor": "a",
        "data": data,
    }


def test_requesters_read_only_their_own_tickets() -> None:
    laura = Principal("requester", "laura@example.com")
    assert may_read(laura, "laura@example.com", "ana")
    assert not may_read(laura, "omar@example.com", "ana")
    assert not may_read(laura, "omar@example.com", None)


def test_agents_read_their_queue_their_teams_and_unassigned_tickets() -> None:
    ana = Principal("agent", "ana")
    assert may_read(ana, "x@example.com", "ana")
    assert may_read(ana, "x@example.com", None)
    assert may_read(ana, "x@example.com", "elena", teammates=["elena", "ana"])
    assert not may_read(ana, "x@example.com", "bruno", teammates=["elena"])


@pytest.mark.parametrize("role", ["supervisor", "auditor", "admin", "service"])
def test_overseers_read_everything(role: str) -> None:
    assert may_read(Principal(role, "z"), "x@example.com", "bruno")  # type: ignore[arg-type]


def test_internal_notes_and_staff_only_events_are_not_public() -> None:
    assert public_event(event("ticket.commented", body="x", internal=True)) is None
    assert public_event(event("ticket.sla_warning", target="resolution")) is None
    assert public_event(event("notification.sent", recipient="ana@soporte")) is None
    assigned = public_event(event("ticket.assigned", agent_id="ana", level=1, reason="load 3/12", candidates=[1]))
    assert assigned is not None and assigned["data"] == {"agent_id": "ana", "level": 1}
    assert "actor" not in assigned and "source" not in assigned


@given(
    st.sampled_from(sorted(PUBLIC_FIELDS)),
    st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=5), max_size=6),
)
def test_a_public_event_never_carries_a_field_not_listed(type_: str, extra: dict[str, str]) -> None:
    shown = public_event(event(type_, **extra))
    if shown is not None:
        assert set(shown["data"]) <= set(PUBLIC_FIELDS[type_])


def test_staff_see_the_whole_timeline() -> None:
    events = [event("ticket.commented", body="x", internal=True), event("ticket.sla_warning")]
    assert len(timeline_for(Principal("agent", "ana"), events)) == 2
    assert timeline_for(Principal("requester", "l@example.com"), events) == []


def test_tokens_round_trip_and_map_to_command_actors() -> None:
    for role in ROLES:
        who = AUTH.verify(AUTH.issue(role, "someone", name="Alguien"))
        assert (who.role, who.sub, who.display) == (role, "someone", "Alguien")
    assert str(AUTH.verify(AUTH.issue("admin", "root")).actor()) == "supervisor:root"
    assert str(AUTH.verify(AUTH.issue("service", "erp")).actor()) == "system:erp"
    with pytest.raises(AuthError) as refused:
        AUTH.verify(AUTH.issue("auditor", "ines")).actor()
    assert refused.value.status == 403


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "x", "role": "admin", "exp": int(time.time()) - 3600, "iss": "mesa", "aud": "mesa"},  # expired
        {"sub": "x", "role": "admin", "exp": int(time.time()) + 60, "iss": "other", "aud": "mesa"},  # issuer
        {"sub": "x", "role": "admin", "exp": int(time.time()) + 60, "iss": "mesa", "aud": "elsewhere"},  # audience
        {"sub": "x", "role": "root", "exp": int(time.time()) + 60, "iss": "mesa", "aud": "mesa"},  # unknown role
        {"role": "admin", "exp": int(time.time()) + 60, "iss": "mesa", "aud": "mesa"},  # no subject
    ],
)
def test_bad_tokens_are_refused(claims: dict[str, Any]) -> None:
    with pytest.raises(AuthError) as refused:
        AUTH.verify(jwt.encode(claims, Settings().jwt_secret, algorithm="HS256"))
    assert refused.value.status == 401


def test_a_token_signed_with_another_secret_or_none_algorithm_is_refused() -> None:
    claims = {"sub": "x", "role": "admin", "exp": int(time.time()) + 60, "iss": "mesa", "aud": "mesa"}
    for token in (
        jwt.encode(claims, "another-secret-of-the-recommended-length!", algorithm="HS256"),
        jwt.encode(claims, None, algorithm="none"),  # type: ignore[arg-type]
    ):
        with pytest.raises(AuthError):
            AUTH.verify(token)


def test_a_role_list_claim_takes_the_first_known_role() -> None:
    claims = {"sub": "x", "role": ["viewer", "auditor"], "exp": int(time.time()) + 60, "iss": "mesa", "aud": "mesa"}
    assert AUTH.verify(jwt.encode(claims, Settings().jwt_secret, algorithm="HS256")).role == "auditor"


def test_csrf_tokens_are_bound_to_the_session() -> None:
    a, b = AUTH.issue("requester", "a@example.com"), AUTH.issue("requester", "b@example.com")
    assert AUTH.csrf_token(a) == AUTH.csrf_token(a) != AUTH.csrf_token(b)


def test_charts_escape_their_labels_and_draw_a_bar_per_value() -> None:
    svg = charts.bars([("<b>1</b>", 3.0), ("2", None), ("3", 1.0)], title='x"><script>', target=2)
    assert "<script>" not in svg and "<b>" not in svg
    assert svg.count("<rect") == 2 and 'class="target"' in svg


def test_the_digest_is_due_from_its_local_hour() -> None:
    from datetime import UTC, date, datetime

    from services.notify.audience import digest_day

    assert digest_day(datetime(2026, 11, 26, 6, 59, tzinfo=UTC), 8, "Europe/Madrid") is None  # 07:59 in Madrid
    assert digest_day(datetime(2026, 11, 26, 7, 0, tzinfo=UTC), 8, "Europe/Madrid") == date(2026, 11, 26)
    assert digest_day(datetime(2026, 11, 26, 22, 59, tzinfo=UTC), 8, "Europe/Madrid") == date(2026, 11, 26)
    assert digest_day(datetime(2026, 11, 26, 23, 30, tzinfo=UTC), 8, "Europe/Madrid") is None  # 00:30 next day


def test_a_company_identity_provider_is_trusted_through_its_jwks() -> None:
    """RS256 tokens checked against keys fetched from a JWKS URL (served here by a real HTTP server)."""
    import http.server
    import json as _json
    import threading

    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = _json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk |= {"kid": "idp-1", "use": "sig", "alg": "RS256"}
    body = _json.dumps({"keys": [jwk]}).encode()

    class Keys(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = Settings.model_validate(
            {
                "MESA_JWT_JWKS_URL": f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json",
                "MESA_JWT_ALGORITHMS": "RS256",
                "MESA_JWT_ISSUER": "https://idp.tienda.example",
                "MESA_JWT_AUDIENCE": "mesa-prod",
                "MESA_JWT_ROLE_CLAIM": "roles",
            }
        )
        auth = Authenticator(settings)
        claims = {
            "sub": "ana",
            "roles": ["employee", "agent"],
            "iss": "https://idp.tienda.example",
            "aud": "mesa-prod",
            "exp": int(time.time()) + 300,
        }
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "idp-1"})
        who = auth.verify(token)
        assert (who.role, who.sub) == ("agent", "ana")
        # the development secret is no key here: an HS256 token is refused
        with pytest.raises(AuthError):
            auth.verify(jwt.encode(claims, Settings().jwt_secret, algorithm="HS256"))
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with pytest.raises(AuthError):
            auth.verify(jwt.encode(claims, other, algorithm="RS256", headers={"kid": "idp-1"}))
    finally:
        server.shutdown()

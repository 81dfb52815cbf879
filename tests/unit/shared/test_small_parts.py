"""Settings, clock, fault points and how consumers fetch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.platform.bus import make_consumer
from shared.platform.clock import ManualClock, SystemClock
from shared.platform.db import check_ident
from shared.platform.faults import _parse
from shared.platform.settings import Settings


def test_settings_map_logical_topics_and_groups() -> None:
    s = Settings.model_validate({"MESA_TOPIC_PREFIX": "t1.", "KAFKA_BOOTSTRAP_SERVERS": "h:1"})
    assert s.topic("ticket.events") == "t1.ticket.events"
    assert s.group("routing") == "t1.mesa.routing.main"
    assert s.kafka_bootstrap_servers == "h:1"


def test_manual_clock_moves_only_when_told() -> None:
    c = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    assert c.now() == c.now()
    assert c.advance(timedelta(hours=2)) == datetime(2026, 1, 1, 2, tzinfo=UTC)
    with pytest.raises(ValueError):
        ManualClock(datetime(2026, 1, 1))
    assert SystemClock().now().tzinfo is not None


def test_fault_plan_parsing() -> None:
    assert _parse("") == {}
    assert _parse("a=3, b") == {"a": 3, "b": 1}


@pytest.mark.parametrize("name", ["intake", "sla_2", "_x"])
def test_plain_schema_names_pass(name: str) -> None:
    assert check_ident(name) == name


@pytest.mark.parametrize("name", ["Intake", "a;drop", "1x", "", "a" * 64])
def test_other_schema_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        check_ident(name)


def test_one_line_fields_refuse_line_breaks_and_control_characters() -> None:
    import pytest
    from pydantic import ValidationError

    from shared.domain.commands import Categorize, Close, OpenTicket

    good = {"requester": "lucia@example.com", "subject": "Pedido 9086\tno llega", "description": "a\nb"}
    assert OpenTicket.model_validate(good).description == "a\nb"  # text fields keep their lines
    for bad in ("Pedido\r\nBcc: all@example.com", "Pedido\nretrasado", "a\x0bb", "a\u2028b", "a\x1bb"):
        with pytest.raises(ValidationError, match="one line"):
            OpenTicket.model_validate(good | {"subject": bad})
        with pytest.raises(ValidationError, match="one line"):
            OpenTicket.model_validate(good | {"requester": f"lucia@example.com{bad}"})
        with pytest.raises(ValidationError, match="one line"):
            Close.model_validate({"reason": bad})
        with pytest.raises(ValidationError, match="one line"):
            Categorize.model_validate({"reason": bad})


def test_production_refuses_development_conveniences() -> None:
    from shared.platform.settings import Settings

    assert Settings.model_validate({"MESA_ENV": "development"}).production_problems() == []
    problems = " ".join(Settings.model_validate({"MESA_DEV_LOGIN": "1"}).production_problems())
    for named in ("MESA_JWT_SECRET", "MESA_DEV_LOGIN", "MESA_MASTER_KEY", "MESA_AUDIT_SIGNING_KEY"):
        assert named in problems
    ready = Settings.model_validate(
        {
            "MESA_JWT_SECRET": "x" * 40,
            "MESA_MASTER_KEY": "A" * 44,
            "MESA_AUDIT_SIGNING_KEY": "ab" * 32,
        }
    )
    assert ready.env == "production" and ready.production_problems() == []


def test_a_service_started_outside_development_with_built_in_secrets_does_not_start() -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("MESA_")} | {"MESA_ENV": "production"}
    done = subprocess.run(
        [sys.executable, "-m", "services.sla"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert "refusing to start in production" in done.stderr and "MESA_JWT_SECRET" in done.stderr


@pytest.mark.parametrize(
    ("linger_ms", "held_ms", "min_bytes"),
    [(0, 2_000, 1), (15, 2_000, 1), (100, 500, 1), (999, 500, 1), (1000, 500, 1 << 20)],
)
async def test_a_consumer_nobody_waits_on_lets_the_broker_gather_its_fetch(
    linger_ms: int, held_ms: int, min_bytes: int
) -> None:
    """Those who wait on a consumer get records as they come; the auditor's broker holds its
    fetch (up to the hold) until a batch's worth is there."""
    consumer = make_consumer(Settings(), "g", "c", linger_ms=linger_ms)
    assert (consumer._fetch_max_wait_ms, consumer._fetch_min_bytes) == (held_ms, min_bytes)

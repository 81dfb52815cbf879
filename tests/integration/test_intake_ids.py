"""Ticket ids are drawn at random: a drawn id that is taken is never reused, nothing is half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

import services.intake.handlers as intake_handlers
from services.intake.handlers import Intake
from shared import db
from shared.clock import SystemClock
from shared.commands import Actor, OpenTicket
from shared.keyring import Keyring
from tests.conftest import Isolated

MIGRATIONS = Path(intake_handlers.__file__).parent / "migrations"


async def test_a_clashing_id_is_drawn_again_and_the_existing_ticket_is_untouched(
    isolated: Isolated, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = await db.create_pool(isolated.settings.database_url, "intake")
    try:
        await db.migrate(pool, "intake", MIGRATIONS)
        intake = Intake(isolated.settings, pool, SystemClock(), await Keyring.open(pool, isolated.settings))
        ana = Actor("requester", "ana@example.com")
        first, _ = await intake.open(OpenTicket(requester="ana@example.com", subject="Primero", description="uno"), ana)
        draws = iter([first.ticket.id, first.ticket.id, "T-SEGUNDO"])
        monkeypatch.setattr(intake_handlers, "new_ticket_id", lambda: next(draws))
        second, created = await intake.open(
            OpenTicket(requester="luis@example.com", subject="Segundo", description="dos"), ana
        )
        assert created and second.ticket.id == "T-SEGUNDO"
        assert [e.subject for e in second.events] == ["T-SEGUNDO"]
        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT id, version FROM tickets ORDER BY id")
            assert [(r["id"], r["version"]) for r in rows] == sorted([(first.ticket.id, 1), ("T-SEGUNDO", 1)])
            outbox = await conn.fetch("SELECT key FROM outbox ORDER BY id")
            assert [bytes(r["key"]).decode() for r in outbox] == [first.ticket.id, "T-SEGUNDO"]
    finally:
        await pool.close()

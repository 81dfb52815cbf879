"""Ticket ids are drawn at random: a drawn id that is taken is never reused, nothing is half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

import services.intake.handlers as intake_handlers
from services.intake.handlers import Intake
from shared.domain.commands import Actor, OpenTicket
from shared.platform import db
from shared.platform.clock import SystemClock
from shared.platform.keyring import Keyring
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


async def test_files_no_ticket_shows_are_swept_after_an_hour(isolated: Isolated) -> None:
    from datetime import UTC, datetime, timedelta

    from services.intake.store import store_attachment, sweep_orphans

    pool = await db.create_pool(isolated.settings.database_url, "intake")
    try:
        await db.migrate(pool, "intake", MIGRATIONS)
        for sha in ("a" * 64, "b" * 64, "c" * 64):
            await store_attachment(pool, sha, "text/plain", sha.encode())
        await pool.execute(
            "INSERT INTO attachment_refs(ticket_id, sha256, internal) VALUES ('T-X', $1, false)", "a" * 64
        )
        await pool.execute(
            "UPDATE attachments SET created_at = now() - interval '2 hours' WHERE sha256 <> $1", "c" * 64
        )
        assert await sweep_orphans(pool, datetime.now(UTC)) == 1  # b: old and shown by no ticket
        left = {r["sha256"] for r in await pool.fetch("SELECT sha256 FROM attachments")}
        assert left == {"a" * 64, "c" * 64}  # a ticket shows a; c may still be on its way to one
        assert await sweep_orphans(pool, datetime.now(UTC) + timedelta(hours=2)) == 1
    finally:
        await pool.close()

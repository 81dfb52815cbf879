"""A service's keyring caches each requester's key for `ttl_s`: an erasure made by another
instance is honoured by this one once that time is up, on its injected clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.domain import privacy as pv
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.platform import db
from shared.platform.keyring import Keyring, master_key
from tests.conftest import Isolated

pytestmark = pytest.mark.timeout(60)


async def test_a_key_erased_by_another_instance_is_forgotten_here_once_its_cache_time_is_up(
    isolated: Isolated,
) -> None:
    s = isolated.settings
    pool = await db.create_pool(s.database_url, "keyring_cache", max_size=2)
    try:
        other = await Keyring.open(pool, s)  # migrates the keys' schema
        clock = [1_000.0]
        mine = Keyring(pool, master_key(s), ttl_s=300, now=lambda: clock[0])
        ref = await other.ref_for("ana@example.com", create=True)
        assert ref is not None
        opened = ev.TicketOpened(
            ticket_id="T-KEYRING",
            requester=ref,
            subject="Pedido sin noticias",
            description="El seguimiento no cambia",
            category="order_status",
            impact="medium",
            urgency="medium",
            priority="P3",
        )
        sealed = await other.seal_payload(opened, ref)
        env = Envelope.new(sealed, source="test", subject="T-KEYRING", time=datetime(2026, 11, 2, 9, tzinfo=UTC))
        assert isinstance(env.data, ev.TicketOpened) and pv.is_sealed(env.data.description)

        async def read() -> tuple[str, str]:
            [seen] = await mine.open_envelopes([env])
            assert isinstance(seen.data, ev.TicketOpened)
            return seen.data.requester, seen.data.description

        assert await read() == ("ana@example.com", "El seguimiento no cambia")
        assert await other.erase(None, ref, by="admin:dpo", reason="ARCO-1", tickets=["T-KEYRING"])
        clock[0] += 299.9  # still cached: this instance has not asked since
        assert await read() == ("ana@example.com", "El seguimiento no cambia")
        clock[0] += 0.1  # its time is up: asked again, gone
        assert await read() == (ref, pv.ERASED)
    finally:
        await pool.close()

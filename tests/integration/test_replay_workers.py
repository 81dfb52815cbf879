"""A replay worker that cannot do its job fails the replay with its own words, never hangs it."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition

from ops.replay_workers import Crew, WorkerFailed
from shared.platform.settings import Settings


async def test_a_worker_that_dies_fails_the_replay_with_its_error() -> None:
    with pytest.raises(WorkerFailed, match="unknown service 'nonesuch'") as failed:
        async with Crew.start(Settings(), "nonesuch", "nonesuch_shadow", 2) as crew:
            await crew.replay("tickets", {TopicPartition("ticket.events", 0): 10}, None)
    assert "exited with 1" in str(failed.value)

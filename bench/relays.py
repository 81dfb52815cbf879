"""The log as the owners' relays write it: each owner's events signed in batches (one signature
over a batch's Merkle root, `shared.platform.signing`), not one signature per record. Benchmarks
that publish events use it, so consumers verify what they verify in production."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer

from shared.domain.events import Envelope
from shared.domain.events.catalogue import owners_of
from shared.platform.settings import Settings
from shared.platform.signing import Signer, load_signer
from shared.platform.topics import TICKET_EVENTS

RELAY_BATCH = 100  # events written between two signatures of each owner (a relay takes up to 500)
Record = tuple[bytes, bytes, list[tuple[str, bytes]]]
Owned = tuple[str, Record]  # (the service that owns the event's type, the record)


def sign_as_relays(chunk: list[Owned], signers: dict[str, Signer], settings: Settings | None = None) -> list[Record]:
    """A chunk of the log signed as the owners' relays publish it under load: each owner's events
    with one signature; the chunk keeps its order (each ticket's history in order). Signers
    missing from `signers` are loaded from `settings`' signing folder."""
    headers: dict[int, list[tuple[str, bytes]]] = {}
    for service in {owner for owner, _ in chunk}:
        if service not in signers:
            assert settings is not None, f"no signer for {service}"
            signers[service] = load_signer(settings.signing_folder / f"{service}.key", service)
        mine = [i for i, (owner, _) in enumerate(chunk) if owner == service]
        for i, h in zip(mine, signers[service].sign_batch([chunk[i][1] for i in mine]), strict=True):
            headers[i] = h
    return [(k, v, headers[i]) for i, (_, (k, v, _h)) in enumerate(chunk)]


async def write(settings: Settings, events: Iterable[Envelope]) -> float:
    """Publish `events` to ticket.events as their owners' relays would: signed in batches."""
    producer = AIOKafkaProducer(
        **settings.kafka(),
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    start = time.perf_counter()
    try:
        topic = settings.topic(TICKET_EVENTS)
        pending = []
        signers: dict[str, Signer] = {}
        chunk: list[Owned] = []

        async def flush() -> None:
            for k, v, h in sign_as_relays(chunk, signers, settings):
                pending.append(await producer.send(topic, v, key=k, headers=h))
            chunk.clear()

        for e in events:
            chunk.append((min(owners_of(e.type)), e.to_kafka()))
            if len(chunk) >= RELAY_BATCH:
                await flush()
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await flush()
        await producer.flush()
    finally:
        await producer.stop()
    return time.perf_counter() - start

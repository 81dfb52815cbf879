"""Other systems on ticket.requests, and routing killed while tickets pour in."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared.domain.events.catalogue import Priority
from shared.domain.ticket import PRIORITY_WEIGHT
from shared.platform.topics import TICKET_EVENTS, TICKET_REQUESTS
from tests.e2e.conftest import Mesa, register_roster
from tests.kafka_tools import header, read_all
from tests.support import bearer, client, eventually, every_ticket

pytestmark = pytest.mark.timeout(400)
PARTITIONS = 6


def ce_headers(ce_type: str, subject: str | None = None, actor: str | None = None) -> list[tuple[str, bytes]]:
    attrs = {
        "ce_specversion": "1.0",
        "ce_id": str(uuid.uuid4()),
        "ce_type": ce_type,
        "ce_source": "erp://pedidos",
        "ce_time": datetime.now(UTC).isoformat(),
        "content-type": "application/json",
    }
    if subject:
        attrs["ce_subject"] = subject
    if actor:
        attrs["ce_actor"] = actor
    return [(k, v.encode()) for k, v in attrs.items()] + ERP


# the ERP's service identity: requests on Kafka are signed by a service token
ERP = [("authorization", bearer("service", "erp")["Authorization"].encode())]


@pytest.fixture(scope="module")
async def staffed(mesa: Mesa) -> Mesa:
    await register_roster(mesa)
    return mesa


async def find_by_requester(mesa: Mesa, requester: str) -> list[dict]:  # type: ignore[type-arg]
    async with client(timeout=5) as http:
        r = await http.get(f"{mesa.url('projections')}/tickets", params={"requester": requester})
    items: list[dict] = r.json()["items"]  # type: ignore[type-arg]
    return items


async def test_a_plain_kafka_client_opens_and_comments_and_bad_records_are_dead_lettered(
    staffed: Mesa,
) -> None:
    mesa = staffed
    topic = mesa.iso.settings.topic(TICKET_REQUESTS)
    producer = AIOKafkaProducer(**mesa.iso.settings.kafka())
    await producer.start()
    try:
        open_body = {
            "requester": "tienda-norte@example.com",
            "subject": "Pago rechazado en caja",
            "description": "El terminal rechaza todas las tarjetas desde las 9:00.",
            "impact": "high",
            "urgency": "high",
            "channel": "erp",
        }
        await producer.send_and_wait(
            topic, json.dumps(open_body).encode(), key=b"tienda-norte", headers=ce_headers("ticket.open")
        )
        await producer.send_and_wait(topic, b"\x00not json", key=b"tienda-norte", headers=ce_headers("ticket.open"))
        await producer.send_and_wait(
            topic, b'{"requester": "x"}', key=b"tienda-norte", headers=ce_headers("ticket.open")
        )
        await producer.send_and_wait(topic, b"{}", key=b"x", headers=ce_headers("ticket.explode"))
        second = {
            **open_body,
            "subject": "Segundo aviso: sigue sin cobrar",
            "requester": "tienda-sur@example.com",
        }
        structured = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "type": "ticket.open",
            "source": "erp://pedidos",
            "data": second,
        }
        await producer.send_and_wait(
            topic,
            json.dumps(structured).encode(),
            key=b"tienda-sur",
            headers=[("content-type", b"application/cloudevents+json"), *ERP],
        )
    finally:
        await producer.stop()

    [north] = await eventually(lambda: find_by_requester(mesa, "tienda-norte@example.com"), what="the ERP ticket")
    await eventually(lambda: find_by_requester(mesa, "tienda-sur@example.com"), what="the structured-mode ticket")
    assert north["priority"] == "P1" and north["category"] == "payment"

    # a command on the ticket, from the same system (it acts as itself: system:erp)
    producer = AIOKafkaProducer(**mesa.iso.settings.kafka())
    await producer.start()
    try:
        await producer.send_and_wait(
            topic,
            json.dumps({"body": "Terminal reiniciado por el ERP"}).encode(),
            key=north["id"].encode(),
            headers=ce_headers("ticket.comment", subject=north["id"]),
        )
        await producer.send_and_wait(  # refused by the domain: nothing to confirm yet
            topic, b"{}", key=north["id"].encode(), headers=ce_headers("ticket.confirm", subject=north["id"])
        )
        await producer.send_and_wait(  # the ERP's token does not make it Ana
            topic,
            json.dumps({"body": "soy Ana"}).encode(),
            key=north["id"].encode(),
            headers=ce_headers("ticket.comment", subject=north["id"], actor="agent:ana"),
        )
        unsigned = [h for h in ce_headers("ticket.comment", subject=north["id"]) if h[0] != "authorization"]
        await producer.send_and_wait(topic, json.dumps({"body": "anónimo"}).encode(), key=b"x", headers=unsigned)
        huge = json.dumps({"body": "x" * 300_000}).encode()
        await producer.send_and_wait(topic, huge, key=b"x", headers=ce_headers("ticket.comment", subject=north["id"]))
    finally:
        await producer.stop()
    t = await mesa.ticket_when(
        north["id"], lambda t: any(e["type"] == "ticket.commented" for e in t["timeline"]), "the ERP comment"
    )
    assert t["timeline"][0]["data"]["channel"] == "erp"

    async def dead() -> list:  # type: ignore[type-arg]
        recs = await read_all(mesa.iso.settings, topic + ".dlq")
        return recs if len(recs) >= 7 else []

    letters = await eventually(dead, what="seven dead letters")
    codes = Counter(header(r, "dlq_code") for r in letters)
    assert codes == Counter(
        {
            "malformed": 1,
            "invalid_payload": 1,
            "unknown_type": 1,
            "not_allowed_in_status": 1,
            "forged_actor": 1,
            "unauthenticated": 1,
            "oversized": 1,
        }
    )
    reasons = " | ".join(header(r, "dlq_reason") or "" for r in letters)
    assert "not JSON" in reasons and "subject: Field required" in reasons and "ticket.explode" in reasons
    assert "No se puede «confirm»" in reasons
    assert all(mesa.procs[s].alive() for s in ("intake", "routing", "projections"))

    # after the cause is gone (the ticket is resolved now), the refused confirmation is re-driven
    listing = await mesa.cli("dlq", "list", "--topic", "ticket.requests")
    assert "forged_actor" in listing and "7 letters" in listing
    # the listing read at the start may predate the assignment: ask for the owner now
    owner = (await mesa.ticket_when(north["id"], lambda t: t["owner"], "an owner"))["owner"]
    async with client("agent", owner, timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets/{north['id']}/resolve", json={"summary": "Terminal cambiado"}
        )
        assert r.status_code == 200, r.text
    await mesa.ticket_when(north["id"], lambda t: t["status"] == "resolved", "the resolution")
    out = await mesa.cli("dlq", "redrive", "--code", "not_allowed_in_status")
    assert "1 letters re-driven" in out
    closed = await mesa.ticket_when(north["id"], lambda t: t["status"] == "closed", "the re-driven confirmation")
    assert closed["confirmed"] is True


async def test_two_hundred_tickets_while_routing_is_killed(staffed: Mesa) -> None:
    mesa = staffed
    sem = asyncio.Semaphore(8)
    categories = ["hardware", "software", "network", "order_status", "payment"]

    async def open_one(http: httpx.AsyncClient, i: int) -> str:
        async with sem:
            r = await http.post(
                f"{mesa.url('intake')}/tickets",
                json={
                    "requester": f"carga{i}@example.com",
                    "subject": f"Incidencia {i}",
                    "description": "Prueba de carga con caída de routing",
                    "category": categories[i % 5],
                    "impact": ["high", "medium", "low"][i % 3],
                    "urgency": ["low", "medium", "high"][i % 3],
                },
            )
            assert r.status_code == 201, r.text
            return str(r.json()["id"])

    opened: list[str] = []

    async def chaos() -> None:
        # SIGKILL routing while tickets keep pouring in, then bring it back mid-stream
        await eventually(lambda: _at_least(opened, 60), timeout=60, what="60 tickets opened")
        mesa.procs["routing"].kill()
        await eventually(lambda: _at_least(opened, 130), timeout=60, what="130 tickets opened")
        await mesa.start("routing")

    async def pour(http: httpx.AsyncClient, i: int) -> None:
        opened.append(await open_one(http, i))

    async with client(timeout=20) as http:
        await asyncio.gather(chaos(), *(pour(http, i) for i in range(200)))
    ids = set(opened)
    assert len(ids) == 200

    async def all_assigned() -> bool:
        async with client(timeout=10) as http:
            got = [t["id"] for t in await every_ticket(http, mesa.url("projections"), status="assigned")]
        return ids <= set(got)

    await eventually(all_assigned, timeout=120, interval=0.5, what="200 tickets assigned")

    records = await read_all(mesa.iso.settings, mesa.iso.settings.topic(TICKET_EVENTS))
    assignments: dict[str, set[str]] = defaultdict(set)
    for r in records:
        if header(r, "ce_type") == "ticket.assigned":
            assignments[header(r, "ce_subject") or ""].add(header(r, "ce_id") or "")
    assert all(len(assignments[t]) == 1 for t in ids), {t: assignments[t] for t in ids if len(assignments[t]) != 1}

    async with client(timeout=10) as http:
        routed = {
            a["id"]: (a["load"], a["open_count"]) for a in (await http.get(f"{mesa.url('routing')}/agents")).json()
        }
        view = {
            a["id"]: (a["load"], a["open_tickets"])
            for a in (await http.get(f"{mesa.url('projections')}/agents")).json()
        }
        recount: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for t in await every_ticket(http, mesa.url("projections")):
            if t["status"] not in ("resolved", "closed", "merged") and t["owner"]:
                recount[t["owner"]][0] += PRIORITY_WEIGHT[Priority(t["priority"])]
                recount[t["owner"]][1] += 1
    assert routed == view == {a: tuple(recount.get(a, [0, 0])) for a in view}
    assert sum(n for _, n in view.values()) >= 200


async def _at_least(items: list[str], n: int) -> bool:
    return len(items) >= n

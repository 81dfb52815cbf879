"""Only Mesa writes its log, tried as an attacker on the same network would, against the running
services: anonymous clients are refused by the broker; a principal is refused the topics it may
not write; a service that may write ticket.events cannot speak for another service; a sealed
text moved to another ticket is never shown; dead letters keep no credentials and no personal
text in clear, and an erasure shreds them; other systems' CloudEvents ids are theirs."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.v1.event import CloudEvent
from pydantic import SecretStr

from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.domain.privacy import is_sealed
from shared.platform.letters import open_letter
from shared.platform.settings import LOCAL, Settings
from shared.platform.topics import TICKET_EVENTS, TICKET_REQUESTS
from tests.e2e.conftest import Mesa, body_of, register_roster
from tests.kafka_tools import RawRecord, header, read_all, signed
from tests.support import bearer, client, eventually

pytestmark = pytest.mark.timeout(300)
ALICE = "alice.trust@example.com"
BOB = "bob.trust@example.com"
BOB_SECRET = "Mi contrasena del banco es Bob-1234"


def as_principal(mesa: Mesa, principal: str) -> Settings:
    return mesa.iso.settings.model_copy(update={"kafka_principal": principal})


async def send(settings: Settings, topic: str, value: bytes | None, key: bytes | None, headers: Any) -> None:
    producer = AIOKafkaProducer(**settings.kafka(), acks="all", request_timeout_ms=10_000)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def open_ticket(mesa: Mesa, who: str, subject: str, description: str) -> str:
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            json={"subject": subject, "description": description, "category": "order_status"},
            headers=bearer("requester", who),
        )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def letters(mesa: Mesa, topic: str, code: str, n: int = 1) -> list[Any]:
    async def probe() -> list[Any]:
        found = [r for r in await read_all(mesa.iso.settings, topic + ".dlq") if header(r, "dlq_code") == code]
        return found if len(found) >= n else []

    result: list[Any] = await eventually(probe, timeout=60, what=f"{n} dead letter(s) {code}")
    return result


@pytest.fixture(scope="module")
async def staffed(mesa: Mesa) -> Mesa:
    await register_roster(mesa)
    return mesa


async def test_anonymous_clients_are_refused_by_the_broker(staffed: Mesa) -> None:
    anonymous = AIOKafkaProducer(
        bootstrap_servers=staffed.iso.settings.kafka_bootstrap_servers, request_timeout_ms=5000
    )
    with pytest.raises(KafkaConnectionError):
        await anonymous.start()
    await anonymous.stop()
    wrong = staffed.iso.settings.model_copy(
        update={"kafka_sasl_username": "orders", "kafka_sasl_password": SecretStr("not-the-password")}
    )
    impostor = AIOKafkaProducer(**wrong.kafka(), request_timeout_ms=5000)
    with pytest.raises(KafkaConnectionError):
        await impostor.start()
    await impostor.stop()


def _librdkafka(principal: str, extra: dict[str, str]) -> dict[str, str]:
    """A principal's client file as kcat reads it (`kcat -F`), for librdkafka (confluent-kafka)."""
    path = Settings().kafka_credentials or (LOCAL / "kafka")
    lines = (path / f"{principal}.properties").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#")) | extra


def _librdkafka_tries(topic: str, group: str) -> tuple[str | None, int, str | None]:
    """With the files as they are: orders producing to ticket.events (the error), the auditor
    reading it (records seen), the auditor producing to it (the error)."""
    from confluent_kafka import Consumer, KafkaError, Producer

    errors: list[KafkaError | None] = []
    orders = Producer(_librdkafka("orders", {}))
    orders.produce(topic, b"{}", on_delivery=lambda e, _m: errors.append(e))
    orders.flush(15)
    reader = Consumer(_librdkafka("auditor", {"group.id": group, "auto.offset.reset": "earliest"}))
    reader.subscribe([topic])
    seen = 0
    for _ in range(20):
        seen += len([m for m in reader.consume(100, timeout=1) if m.error() is None])
        if seen:
            break
    reader.close()
    auditor = Producer(_librdkafka("auditor", {}))
    auditor.produce(topic, b"{}", on_delivery=lambda e, _m: errors.append(e))
    auditor.flush(15)
    return (errors[0].name() if errors[0] else None), seen, (errors[1].name() if errors[1] else None)


async def test_the_principal_files_work_as_they_are_with_librdkafka(staffed: Mesa) -> None:
    mesa = staffed
    await open_ticket(mesa, ALICE, "Pedido", "Algo que leer")
    topic = mesa.iso.settings.topic(TICKET_EVENTS)
    group = mesa.iso.settings.topic("auditor.kcat")
    refused, seen, auditor_refused = await asyncio.to_thread(_librdkafka_tries, topic, group)
    assert refused == auditor_refused == "TOPIC_AUTHORIZATION_FAILED"
    assert seen > 0


async def test_orders_may_ask_on_ticket_requests_but_not_tell_on_ticket_events(staffed: Mesa) -> None:
    mesa = staffed
    orders = as_principal(mesa, "orders")
    forged = Envelope.new(
        ev.TicketResolved(ticket_id="T-00000000", agent_id="ana", summary="resuelto"),
        source="intake",
        subject="T-00000000",
        time=datetime.now(UTC),
    )
    with pytest.raises(TopicAuthorizationFailedError):
        await send(orders, mesa.iso.settings.topic(TICKET_EVENTS), *_record(forged.to_kafka()))
    body = {"requester": "pedido-9086@example.com", "subject": "Pedido 9086", "description": "No llega el pedido"}
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"order-9086-1"),
        ("ce_source", b"orders://tienda"),
        ("ce_type", b"ticket.open"),
        ("content-type", b"application/json"),
        ("authorization", bearer("service", "orders")["Authorization"].encode()),
    ]
    topic = mesa.iso.settings.topic(TICKET_REQUESTS)
    await send(orders, topic, json.dumps(body).encode(), b"9086", headers)
    # the same (source, id) again is the same request; the same id from another source is not
    await send(orders, topic, json.dumps(body).encode(), b"9086", headers)
    other = [(k, b"erp://otro" if k == "ce_source" else v) for k, v in headers]
    await send(orders, topic, json.dumps(body | {"subject": "Pedido 9086 (ERP)"}).encode(), b"9086", other)

    async def tickets() -> list[dict[str, Any]] | None:
        async with client(timeout=5) as http:
            r = await http.get(f"{mesa.url('projections')}/tickets", params={"requester": body["requester"]})
        items: list[dict[str, Any]] = r.json()["items"]
        # one partition (one key), in order: once the other source's is in, the repeat was settled
        return items if any(t["subject"] == "Pedido 9086 (ERP)" for t in items) else None

    found = await eventually(tickets, what="the orders system's tickets")
    assert sorted(t["subject"] for t in found) == ["Pedido 9086", "Pedido 9086 (ERP)"]

    # a token that does not grant opening tickets opens none, whoever carries it to the broker
    reader = [
        (k, bearer("service", "orders", scopes=("tickets:read",))["Authorization"].encode())
        if k == "authorization"
        else (k, b"order-9086-2" if k == "ce_id" else v)
        for k, v in headers
    ]
    await send(orders, topic, json.dumps(body | {"subject": "Sin permiso"}).encode(), b"9086", reader)
    [refused] = await letters(mesa, topic, "forbidden")
    assert "does not grant tickets:open" in (header(refused, "dlq_reason") or "")
    assert header(refused, "dlq_sender_scopes") == "tickets:read"


def _record(kv: RawRecord) -> RawRecord:
    """(key, value, headers) in `send`'s order: (value, key, headers)."""
    key, value, headers = kv
    return value, key, headers


async def test_a_service_that_may_write_the_log_cannot_speak_for_another(staffed: Mesa) -> None:
    mesa = staffed
    ticket = await open_ticket(mesa, ALICE, "Pedido retrasado", "Mi pedido no llega")
    await mesa.ticket_when(ticket, lambda t: t["owner"], "an owner")
    topic = mesa.iso.settings.topic(TICKET_EVENTS)
    now = datetime.now(UTC)
    comment = Envelope.new(
        ev.TicketCommented(ticket_id=ticket, author="ana", author_role="agent", body="paga la tasa en evil.example"),
        source="intake",
        subject=ticket,
        time=now,
        actor="agent:ana",
    )
    resolved = Envelope.new(
        ev.TicketResolved(ticket_id=ticket, agent_id="ana", summary="listo"),
        source="intake",
        subject=ticket,
        time=now,
        actor="agent:ana",
    )
    routing = as_principal(mesa, "routing")  # may write ticket.events: it owns assignments
    key, value, headers = signed(mesa.iso.settings, comment, as_service="routing")
    await send(routing, topic, value, key, headers)
    key, value, headers = resolved.to_kafka()  # and not signed at all
    await send(routing, topic, value, key, headers)

    consumers = {"intake-events", "routing-tickets", "sla-tickets", "notify-tickets", "projections-tickets"}
    # routing never acts on a comment: it passes the forged one over unread (`wants`); every
    # consumer that would read a record refuses it
    readers = {"not_owner": consumers - {"routing-tickets"}, "unsigned": consumers}

    async def refused_by_all() -> list[Any]:
        dead = await read_all(mesa.iso.settings, topic + ".dlq")
        by = {(header(r, "dlq_consumer"), header(r, "dlq_code")) for r in dead}
        want = {(c, code) for code, cs in readers.items() for c in cs}
        return dead if want <= by else []

    dead = await eventually(refused_by_all, timeout=60, what="every consumer that reads them to refuse both records")
    assert ("routing-tickets", "not_owner") not in {(header(r, "dlq_consumer"), header(r, "dlq_code")) for r in dead}
    reason = next(header(r, "dlq_reason") for r in dead if header(r, "dlq_code") == "not_owner")
    assert reason == "ticket.commented signed by routing; only intake may write it"
    after = await mesa.get_ticket(ticket)
    assert after is not None and after["status"] != "resolved"
    assert "evil.example" not in json.dumps(after, ensure_ascii=False)
    assert not any("evil.example" in body_of(m) for m in mesa.mails())

    offsets = {header(r, "dlq_offset") for r in dead}
    code, out = await mesa.cli_status("audit", "verify")
    assert code == 1, out
    assert "signed by routing; only intake may write it" in out and "is not signed" in out
    assert all(f"offset {o}" in out for o in offsets), out


async def test_a_sealed_text_moved_to_another_ticket_is_never_shown(staffed: Mesa) -> None:
    mesa = staffed
    alice = await open_ticket(mesa, ALICE, "Devolución", "Quiero devolver un producto")
    bob = await open_ticket(mesa, BOB, "Acceso", BOB_SECRET)
    await mesa.ticket_when(alice, lambda t: t["owner"], "Alice's ticket assigned")
    topic = mesa.iso.settings.topic(TICKET_EVENTS)
    records = await read_all(mesa.iso.settings, topic)
    [opened] = [r for r in records if header(r, "ce_subject") == bob and header(r, "ce_type") == "ticket.opened"]
    bobs_text = json.loads(opened.value)["description"]
    assert is_sealed(bobs_text) and "Bob-1234" not in bobs_text
    # even signed with intake's own key (a bug, a stolen key): the text does not open there
    moved = Envelope.new(
        ev.TicketCommented(ticket_id=alice, author="ana", author_role="agent", body=bobs_text),
        source="intake",
        subject=alice,
        time=datetime.now(UTC),
        actor="agent:ana",
    )
    await send(as_principal(mesa, "intake"), topic, *_record(signed(mesa.iso.settings, moved)))

    letters_ = await letters(mesa, topic, "seal_mismatch", 2)
    assert {header(r, "dlq_consumer") for r in letters_} >= {"projections-tickets", "notify-tickets"}
    timeline = json.dumps(await mesa.get_ticket(alice), ensure_ascii=False)
    assert "Bob-1234" not in timeline
    assert not any("Bob-1234" in body_of(m) for m in mesa.mails() if ALICE in str(m["To"]))


async def test_dead_letters_keep_no_credentials_nor_clear_text_and_erasure_shreds_them(staffed: Mesa) -> None:
    mesa = staffed
    who = "carla.dlq@example.com"
    ticket = await open_ticket(mesa, who, "Factura", "Necesito la factura de mi pedido")
    topic = mesa.iso.settings.topic(TICKET_REQUESTS)
    token = bearer("service", "orders")["Authorization"]
    refused = {"body": "Llamame al 600123123, soy Carla Dlq", "internal": "maybe"}  # invalid: internal
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_source", b"orders://tienda"),
        ("ce_type", b"ticket.comment"),
        ("ce_subject", ticket.encode()),
        ("content-type", b"application/json"),
        ("authorization", token.encode()),
        ("cookie", b"mesa_session=abc"),
        ("x-api-key", b"k-123"),
    ]
    await send(as_principal(mesa, "orders"), topic, json.dumps(refused).encode(), ticket.encode(), headers)
    [letter] = await letters(mesa, topic, "invalid_payload")
    names = {k for k, _ in letter.headers}
    assert not names & {"authorization", "cookie", "x-api-key"}
    raw = letter.value + b"".join(v for _, v in letter.headers)
    assert b"600123123" not in raw and b"Carla" not in raw and token.encode() not in raw
    assert header(letter, "dlq_sealed") != "dlq" and header(letter, "dlq_sender") == "orders"
    ref = f"{letter.topic}/{letter.partition}/{letter.offset}"
    code, shown = await mesa.cli_status("dlq", "show", ref)
    assert code == 0 and "600123123" in shown and "k-123" not in shown and "Bearer" not in shown, shown

    code, out = await mesa.cli_status("erase", "requester", who, "--reason", "RGPD-77")
    assert code == 0, out
    code, shown = await mesa.cli_status("dlq", "show", ref)
    assert code == 0 and "[erased]" in shown and "600123123" not in shown, shown
    with pytest.raises(ValueError):  # not with the DLQ key either: only her key opened it
        from shared.platform.keyring import master_key
        from shared.platform.letters import dlq_key

        open_letter(letter.value, list(letter.headers), dlq_key(master_key(mesa.iso.settings)))


async def test_cloudevents_made_by_the_official_sdk_open_tickets(staffed: Mesa) -> None:
    mesa = staffed
    topic = mesa.iso.settings.topic(TICKET_REQUESTS)
    token = bearer("service", "orders")["Authorization"].encode()
    for mode, convert in (("binary", ce_kafka.to_binary_event), ("structured", ce_kafka.to_structured_event)):
        event = CloudEvent(
            attributes={
                "id": f"sdk-{mode}-1",
                "source": "orders://sdk",
                "type": "ticket.open",
                "datacontenttype": "application/json",
            },
            data={
                "requester": f"sdk.{mode}@example.com",
                "subject": f"Pedido por SDK ({mode})",
                "description": "Hecho con el SDK oficial de CloudEvents",
            },
        )
        message = convert(event)
        headers = [*message.headers.items(), ("authorization", token)]
        await send(as_principal(mesa, "orders"), topic, message.value, b"sdk", headers)

    async def both() -> bool:
        async with client(timeout=5) as http:
            found = []
            for mode in ("binary", "structured"):
                r = await http.get(
                    f"{mesa.url('projections')}/tickets", params={"requester": f"sdk.{mode}@example.com"}
                )
                found += r.json()["items"]
        return len(found) == 2

    await eventually(both, what="a ticket from each SDK-made record")

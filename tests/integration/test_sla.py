"""SLA with an injected clock, on the real broker and database: warnings, breaches, escalation
re-routed by a real routing process, exact pause credit, and timers that survive a restart."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import AIOKafkaProducer

from services.sla import store
from services.sla.handlers import CONSUMER, Sla
from services.sla.policy import DEFAULT_POLICY, Lifecycle, Policy
from services.sla.service import MIGRATIONS
from shared.domain.events import Envelope, Payload
from shared.domain.events import catalogue as ev
from shared.platform import db
from shared.platform.bus import start_producer
from shared.platform.clock import ManualClock
from shared.platform.consumer import InboxConsumer, verified_events
from shared.platform.keyring import Keyring
from shared.platform.letters import Letters
from shared.platform.outbox import OutboxRelay
from shared.platform.signing import Trust
from shared.platform.topics import AGENT_EVENTS, TICKET_EVENTS
from tests.conftest import Isolated
from tests.kafka_tools import header, inbox_caught_up, produce, read_all, signer_of
from tests.support import Proc, client, eventually, free_port

pytestmark = pytest.mark.timeout(180)
T0 = datetime.now(UTC).replace(microsecond=0)


def small_policy() -> Policy:
    doc = yaml.safe_load(DEFAULT_POLICY.read_text())
    doc["priorities"]["P1"] = {"first_response": 120, "next_response": 60, "resolution": 300, "calendar": "24x7"}
    doc["escalation"] = [{"after_overdue": 0, "to_level": 2}, {"after_overdue": 60, "to_level": 3}]
    doc["lifecycle"] = {"waiting_reminder": "1m", "auto_resolve_after": "2m", "auto_close_after": "90s"}
    return Policy.model_validate(doc)


def envelope(payload: Payload, subject: str, at: datetime) -> Envelope:
    return Envelope.new(payload, source="test", subject=subject, time=at)


@dataclass
class SlaRig:
    iso: Isolated
    clock: ManualClock
    sla: Sla
    tasks: list[asyncio.Task[None]]

    async def settle(self) -> None:
        """Everything in ticket.events applied and SLA's outbox empty."""
        topic = self.iso.settings.topic(TICKET_EVENTS)

        async def quiet() -> bool:
            pending = await self.sla.pool.fetchval("SELECT count(*) FROM outbox")
            return pending == 0 and await inbox_caught_up(self.iso.settings, "sla", CONSUMER, [topic])

        await eventually(quiet, timeout=30, what="SLA to settle")

    async def at(self, seconds: float) -> int:
        self.clock.set(T0 + timedelta(seconds=seconds))
        fired = await self.sla.fire_due(self.clock.now())
        await self.settle()
        return fired

    async def emitted(self, ticket_id: str) -> list[Envelope]:
        records = await read_all(self.iso.settings, self.iso.settings.topic(TICKET_EVENTS))
        seen: set[str] = set()
        out = []
        for r in records:
            if (
                header(r, "ce_subject") == ticket_id
                and header(r, "ce_source") == "sla"
                and header(r, "ce_id") not in seen
            ):
                seen.add(header(r, "ce_id") or "")
                out.append(Envelope.from_kafka(r.key, r.value, list(r.headers)))
        return out


async def start_rig(iso: Isolated, clock: ManualClock) -> SlaRig:
    pool = await db.create_pool(iso.settings.database_url, "sla")
    await db.migrate(pool, "sla", MIGRATIONS)
    producer = await start_producer(iso.settings, "sla-test")
    sla = Sla(iso.settings, pool, clock, small_policy())
    consumer = InboxConsumer[Envelope](
        iso.settings,
        pool,
        name=CONSUMER,
        group_id=iso.settings.group("sla"),
        topics=[iso.settings.topic(TICKET_EVENTS)],
        batch_handler=sla.on_ticket_events,
        applied_by=CONSUMER,  # as services/sla/__main__.py wires it
        decode=verified_events(Trust.load(iso.settings.signing_folder)),
        letters=Letters(await Keyring.open(pool, iso.settings)),
    )
    relay = OutboxRelay(pool, producer, "sla", signer_of(iso.settings, "sla"), poll_seconds=0.2)
    tasks = [asyncio.create_task(consumer.run()), asyncio.create_task(relay.run())]
    await asyncio.wait_for(consumer.joined.wait(), 30)
    rig = SlaRig(iso, clock, sla, tasks)
    rig.stop_all = lambda: _stop(consumer, relay, producer, pool, tasks)  # type: ignore[attr-defined]
    return rig


async def _stop(
    consumer: Any, relay: Any, producer: AIOKafkaProducer, pool: Any, tasks: list[asyncio.Task[None]]
) -> None:
    consumer.stop()
    relay.stop()
    await asyncio.gather(*tasks, return_exceptions=True)
    await producer.stop()
    await pool.close()


@pytest.fixture
async def rig(fresh: Isolated) -> AsyncIterator[SlaRig]:
    r = await start_rig(fresh, ManualClock(T0))
    yield r
    await r.stop_all()  # type: ignore[attr-defined]


def opened(ticket_id: str, priority: str = "P1") -> ev.TicketOpened:
    return ev.TicketOpened(
        ticket_id=ticket_id,
        requester="r@example.com",
        subject="Caída total",
        description="Nada funciona",
        category="hardware",
        impact="high",
        urgency="high",
        priority=priority,
    )


async def test_p1_warns_breaches_and_escalates_twice_with_a_reason(rig: SlaRig) -> None:
    iso = rig.iso
    routing_port = free_port()
    routing = Proc(
        "services.routing", {**iso.env, "ROUTING_PORT": str(routing_port)}, iso.log_dir, "routing", routing_port
    )
    routing.start()
    try:
        await routing.ready()
        team = [
            ev.AgentRegistered(agent_id="ana", name="Ana", email="a@x", skills=("hardware",), level=1, capacity=10),
            ev.AgentRegistered(agent_id="leo", name="Leo", email="l@x", skills=("hardware",), level=2, capacity=10),
        ]
        await produce(iso.settings, iso.settings.topic(AGENT_EVENTS), [envelope(a, a.agent_id, T0) for a in team])
        await eventually(lambda: _roster_size(routing_port, 2), what="the roster")
        await produce(iso.settings, iso.settings.topic(TICKET_EVENTS), [envelope(opened("T-S1"), "T-S1", T0)])

        async def owned_by_ana() -> bool:
            return any(e.type == "ticket.assigned" for e in await _all(rig, "T-S1"))

        await eventually(owned_by_ana, what="the first assignment")
        await rig.settle()
        [targets] = [e for e in await rig.emitted("T-S1") if e.type == "ticket.sla_targets_set"]
        assert targets.data.first_response_due == T0 + timedelta(seconds=120)  # type: ignore[attr-defined]

        assert await rig.at(89) == 0
        assert await rig.at(90) == 1  # 75% of the first response
        assert await rig.at(119) == 1  # 90%
        assert await rig.at(120) == 1  # breach
        assert await rig.at(299) == 2  # the resolution warnings, late but in order
        assert await rig.at(300) == 2  # breach and the first escalation step
        got = [
            (e.type, getattr(e.data, "target", None), getattr(e.data, "fraction", None))
            for e in await rig.emitted("T-S1")
        ]
        assert got[:8] == [
            ("ticket.sla_targets_set", None, None),
            ("ticket.sla_warning", "first_response", 0.75),
            ("ticket.sla_warning", "first_response", 0.9),
            ("ticket.sla_breached", "first_response", None),
            ("ticket.sla_warning", "resolution", 0.75),
            ("ticket.sla_warning", "resolution", 0.9),
            ("ticket.sla_breached", "resolution", None),
            ("ticket.escalated", "resolution", None),
        ]
        escalated = next(e.data for e in await rig.emitted("T-S1") if e.type == "ticket.escalated")
        assert isinstance(escalated, ev.TicketEscalated)
        assert (escalated.from_level, escalated.to_level) == (1, 2)
        assert "Objetivo de resolución (P1) incumplido" in escalated.reason
        assert "Responsable: ana (nivel 1)" in escalated.reason
        assert "Owner: ana (level 1)" in escalated.reason_en

        async def leo_has_it() -> bool:
            assigned = [e for e in await _all(rig, "T-S1") if e.type == "ticket.assigned"]
            return len(assigned) == 2 and assigned[-1].data.agent_id == "leo"  # type: ignore[attr-defined]

        await eventually(leo_has_it, what="routing to re-route to the level-2 agent")
        await rig.settle()
        assert await rig.at(360) == 1  # the second step: level 3
        steps = [e.data for e in await rig.emitted("T-S1") if e.type == "ticket.escalated"]
        assert [(s.from_level, s.to_level) for s in steps] == [(1, 2), (2, 3)]  # type: ignore[attr-defined]
        assert "Responsable: leo (nivel 2)" in steps[1].reason  # type: ignore[attr-defined]
        assert await rig.at(3600) == 0  # nothing left to fire
    finally:
        routing.stop()


async def _all(rig: SlaRig, ticket_id: str) -> list[Envelope]:
    records = await read_all(rig.iso.settings, rig.iso.settings.topic(TICKET_EVENTS))
    return [
        Envelope.from_kafka(r.key, r.value, list(r.headers)) for r in records if header(r, "ce_subject") == ticket_id
    ]


async def _roster_size(port: int, n: int) -> bool:

    async with client(timeout=5) as http:
        return len((await http.get(f"http://127.0.0.1:{port}/agents")).json()) >= n


async def test_waiting_on_the_customer_never_breaches_and_the_pause_is_credited_exactly(rig: SlaRig) -> None:
    rig.sla.policy.lifecycle = Lifecycle()  # days, not minutes: an hour of waiting reminds nobody
    topic = rig.iso.settings.topic(TICKET_EVENTS)
    await produce(rig.iso.settings, topic, [envelope(opened("T-S2"), "T-S2", T0)])
    await rig.settle()
    ask = ev.TicketInfoRequested(ticket_id="T-S2", agent_id="ana", question="¿Modelo?")
    await produce(rig.iso.settings, topic, [envelope(ask, "T-S2", T0 + timedelta(seconds=100))])
    await rig.settle()
    assert await rig.at(3600) == 0  # an hour waiting: nothing fires
    reply = ev.TicketCustomerReplied(ticket_id="T-S2", requester="r@example.com", body="XJ-9")
    await produce(rig.iso.settings, topic, [envelope(reply, "T-S2", T0 + timedelta(seconds=3600))])
    await rig.settle()
    [resumed] = [e for e in await rig.emitted("T-S2") if e.type == "ticket.sla_resumed"]
    # 200 s of the 300 s resolution target were left when the question was asked
    assert resumed.data.resolution_due == T0 + timedelta(seconds=3600 + 200)  # type: ignore[attr-defined]
    types = [e.type for e in await rig.emitted("T-S2")]
    assert "ticket.sla_breached" not in types[: types.index("ticket.sla_resumed")]
    assert "ticket.sla_first_response_met" in types


async def test_a_due_timer_fires_once_after_a_restart_even_with_two_instances(fresh: Isolated) -> None:
    clock = ManualClock(T0)
    first = await start_rig(fresh, clock)
    await produce(fresh.settings, fresh.settings.topic(TICKET_EVENTS), [envelope(opened("T-S3"), "T-S3", T0)])
    await first.settle()
    await first.stop_all()  # type: ignore[attr-defined]
    clock.set(T0 + timedelta(seconds=130))  # the first-response warnings and breach came due while down
    a, b = await start_rig(fresh, clock), await start_rig(fresh, clock)
    try:
        fired = sum(await asyncio.gather(a.sla.fire_due(clock.now()), b.sla.fire_due(clock.now())))
        # a ticket one instance holds is skipped by the other and comes back on its next pass:
        # what is due fires once in all, over as many passes as the two need (bounded)
        for _ in range(10):
            more = sum(await asyncio.gather(a.sla.fire_due(clock.now()), b.sla.fire_due(clock.now())))
            fired += more
            if not more:
                break
        assert fired == 3
        await a.settle()
        kinds = [e.type for e in await a.emitted("T-S3")]
        assert kinds.count("ticket.sla_warning") == 2 and kinds.count("ticket.sla_breached") == 1
    finally:
        await a.stop_all()  # type: ignore[attr-defined]
        await b.stop_all()  # type: ignore[attr-defined]


async def test_a_priority_change_retargets_and_the_log_keeps_both(rig: SlaRig) -> None:
    topic = rig.iso.settings.topic(TICKET_EVENTS)
    await produce(rig.iso.settings, topic, [envelope(opened("T-S4", "P3"), "T-S4", T0)])
    await rig.settle()
    change = ev.TicketCategorized(
        ticket_id="T-S4", category="hardware", priority="P1", reason="Afecta a todas las cajas", urgency="high"
    )
    later = T0 + timedelta(seconds=60)
    await produce(rig.iso.settings, topic, [envelope(change, "T-S4", later)])
    await rig.settle()
    targets = [e.data for e in await rig.emitted("T-S4") if e.type == "ticket.sla_targets_set"]
    assert [t.priority for t in targets] == ["P3", "P1"]  # type: ignore[attr-defined]
    policy = small_policy()
    spent = policy.calendar(policy.priorities["P3"].calendar).elapsed(T0, later)  # type: ignore[index]
    assert targets[1].resolution_due == later + timedelta(seconds=300) - spent  # type: ignore[attr-defined]
    assert targets[1].first_response_due == T0 + timedelta(seconds=120)  # type: ignore[attr-defined]
    assert await rig.at(120) >= 1  # the P1 first-response breach (and warnings) now apply
    kinds = [e.type for e in await rig.emitted("T-S4")]
    assert "ticket.sla_breached" in kinds


async def test_silence_gets_a_reminder_then_an_automatic_resolution_then_an_automatic_close(rig: SlaRig) -> None:
    topic = rig.iso.settings.topic(TICKET_EVENTS)
    await produce(rig.iso.settings, topic, [envelope(opened("T-S5", "P4"), "T-S5", T0)])
    await rig.settle()
    asked = T0 + timedelta(seconds=10)
    question = ev.TicketInfoRequested(ticket_id="T-S5", agent_id="ana", question="¿Número de serie?")
    await produce(rig.iso.settings, topic, [envelope(question, "T-S5", asked)])
    await rig.settle()
    assert await rig.at(69) == 0
    assert await rig.at(70) == 1  # a minute of silence: remind
    assert await rig.at(129) == 0
    assert await rig.at(130) == 1  # two minutes: resolve, saying why
    assert await rig.at(219) == 0
    assert await rig.at(220) == 1  # resolved 90 s ago, neither confirmed nor rejected: close
    got = [
        e for e in await rig.emitted("T-S5") if e.type in ("ticket.info_reminder", "ticket.resolved", "ticket.closed")
    ]
    assert [e.type for e in got] == ["ticket.info_reminder", "ticket.resolved", "ticket.closed"]
    assert got[0].data.asked_at == asked  # type: ignore[attr-defined]
    assert "no recibimos respuesta a nuestra pregunta en 2 min" in got[1].data.summary  # type: ignore[attr-defined]
    assert got[2].data.reason == "auto"  # type: ignore[attr-defined]
    assert await rig.at(10_000) == 0


async def test_an_answer_cancels_the_reminder_and_a_confirmation_the_auto_close(rig: SlaRig) -> None:
    topic = rig.iso.settings.topic(TICKET_EVENTS)
    await produce(rig.iso.settings, topic, [envelope(opened("T-S6", "P4"), "T-S6", T0)])
    question = ev.TicketInfoRequested(ticket_id="T-S6", agent_id="ana", question="¿Modelo?")
    answer = ev.TicketCustomerReplied(ticket_id="T-S6", requester="r@example.com", body="XJ-9")
    await produce(
        rig.iso.settings,
        topic,
        [envelope(question, "T-S6", T0 + timedelta(seconds=5)), envelope(answer, "T-S6", T0 + timedelta(seconds=30))],
    )
    await rig.settle()
    resolved = ev.TicketResolved(ticket_id="T-S6", agent_id="ana", summary="Cambiado")
    closed = ev.TicketClosed(ticket_id="T-S6", by="r@example.com", reason="resolution confirmed")
    await produce(
        rig.iso.settings,
        topic,
        [envelope(resolved, "T-S6", T0 + timedelta(seconds=40)), envelope(closed, "T-S6", T0 + timedelta(seconds=50))],
    )
    await rig.settle()
    assert await rig.at(10_000) == 0
    kinds = [e.type for e in await rig.emitted("T-S6")]
    assert not {"ticket.info_reminder", "ticket.resolved", "ticket.closed"} & set(kinds)
    assert "ticket.sla_met" in kinds


async def test_once_answered_the_requester_hears_from_us_every_next_response_target(rig: SlaRig) -> None:
    topic = rig.iso.settings.topic(TICKET_EVENTS)
    await produce(rig.iso.settings, topic, [envelope(opened("T-S7"), "T-S7", T0)])
    answer = ev.TicketCommented(ticket_id="T-S7", author="ana", author_role="agent", body="Lo estamos mirando")
    await produce(rig.iso.settings, topic, [envelope(answer, "T-S7", T0 + timedelta(seconds=10))])
    await rig.settle()
    assert await rig.at(54) == 0
    assert await rig.at(55) == 1  # 75% of the 60 s next-response target
    assert await rig.at(70) == 2  # 90%, then the breach
    breach = [e.data for e in await rig.emitted("T-S7") if e.type == "ticket.sla_breached"]
    assert [(b.target, b.due) for b in breach] == [("next_response", T0 + timedelta(seconds=70))]  # type: ignore[attr-defined]
    # a new update starts a new cycle; a question pauses it with the time left
    again = ev.TicketCommented(ticket_id="T-S7", author="ana", author_role="agent", body="Sigue en curso")
    await produce(rig.iso.settings, topic, [envelope(again, "T-S7", T0 + timedelta(seconds=80))])
    await rig.settle()
    assert await rig.at(125) == 1  # 75% of the new cycle: due at 140
    question = ev.TicketInfoRequested(ticket_id="T-S7", agent_id="ana", question="¿Desde cuándo?")
    await produce(rig.iso.settings, topic, [envelope(question, "T-S7", T0 + timedelta(seconds=130))])
    await rig.settle()
    reply = ev.TicketCustomerReplied(ticket_id="T-S7", requester="r@example.com", body="Desde ayer")
    await produce(rig.iso.settings, topic, [envelope(reply, "T-S7", T0 + timedelta(seconds=1000))])
    await rig.settle()
    # the question itself was an update: a fresh 60 s, paused at once, resumed at the reply
    count = len([e for e in await rig.emitted("T-S7") if e.type == "ticket.sla_breached"])
    assert await rig.at(1059) == 2  # warnings of the resumed cycle (75% at 1045, 90% at 1054)
    assert await rig.at(1060) == 1  # and its breach
    assert len([e for e in await rig.emitted("T-S7") if e.type == "ticket.sla_breached"]) == count + 1


async def test_timers_kept_as_rows_move_onto_their_tickets_and_still_fire(fresh: Isolated, tmp_path: Path) -> None:
    """Migration 0005: a database from before it keeps every timer of a ticket SLA holds, the
    earliest as `next_due`; the loop then fires what is due from there."""
    before = tmp_path / "before"
    before.mkdir()
    for path in sorted(MIGRATIONS.glob("*.sql"))[:4]:
        shutil.copy(path, before / path.name)
    pool = await db.create_pool(fresh.settings.database_url, "sla", max_size=2)
    try:
        await db.migrate(pool, "sla", before)
        async with pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO tickets(id, last_event, last_event_at) VALUES ('T-M1', 'ticket.opened', $1),"
                " ('T-M2', 'ticket.opened', $1)",
                T0,
            )
            await conn.executemany(
                "INSERT INTO timers VALUES ($1, $2, $3)",
                [("T-M1", "warn:first_response:0.75", T0 + timedelta(hours=2)), ("T-M1", "breach:first_response", T0)],
            )
        await db.migrate(pool, "sla", MIGRATIONS)
        async with pool.acquire() as conn:
            rows = {r["id"]: r for r in await conn.fetch("SELECT id, timer_kinds, timer_dues, next_due FROM tickets")}
            assert await conn.fetchval("SELECT to_regclass('timers')") is None
            async with conn.transaction():
                due = await store.claim_due(conn, T0 + timedelta(seconds=1), 10)
    finally:
        await pool.close()
    assert rows["T-M1"]["timer_kinds"] == ["breach:first_response", "warn:first_response:0.75"]
    assert rows["T-M1"]["timer_dues"] == [T0, T0 + timedelta(hours=2)] and rows["T-M1"]["next_due"] == T0
    assert rows["T-M2"]["timer_kinds"] == [] and rows["T-M2"]["next_due"] is None
    assert due == {"T-M1": [("breach:first_response", T0)]}  # the later one waits for its moment

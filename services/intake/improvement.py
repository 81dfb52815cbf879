"""Clause 12, the commands: a period's audit opened (by the schedule, through the projections that
hold the figures), what it found, and the improvement actions that follow, each an event on
workspace.events written with intake's own copy in one transaction (the outbox).

Who may: a review is opened only by a service holding `audits:open` (the projections' schedule,
or a person's "open it now" there: the figures are computed from the read model, never typed);
supervisors, auditors and admins record findings; supervisors and admins plan actions; an
action's owner and supervisors move it on."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import asyncpg
from pydantic import Field

from services.intake.domain import CommandRejected
from services.intake.handlers import new_id
from shared.domain.events import Envelope, Payload
from shared.domain.events import catalogue as ev
from shared.domain.events.catalogue import LineId, StorableModel
from shared.domain.masking import mask
from shared.domain.principal import Principal
from shared.platform import outbox
from shared.platform.clock import Clock
from shared.platform.settings import Settings
from shared.platform.topics import WORKSPACE_EVENTS

FINDERS = ("supervisor", "auditor", "admin")
PLANNERS = ("supervisor", "admin")
Words = Annotated[str, Field(min_length=1, max_length=5_000)]


class ReviewIn(StorableModel):
    review_id: ev.ReviewId
    period_from: date
    period_to: date
    sample: Annotated[tuple[ev.TicketId, ...], Field(max_length=200)] = ()
    seed: int
    figures: ev.ReviewFigures
    scheduled: bool = True
    by: LineId = "schedule"  # the person who asked for it now, else the schedule


class FindingIn(StorableModel):
    review_id: ev.ReviewId | None = None
    text: Words
    tickets: ev.Tickets = ()


class ActionIn(StorableModel):
    finding_id: ev.FindingId | None = None
    what: Words
    owner: LineId
    due: date
    tickets: ev.Tickets = ()


class ActionUpdateIn(StorableModel):
    status: ev.ActionStatus
    note: Annotated[str, Field(max_length=5_000)] = ""


def _clean(text: str) -> str:
    """Staff text goes to the log in clear: a card number or password pasted into it is hidden
    first, as in every ticket's text."""
    return mask(text.strip()).text


def _actor(who: Principal) -> str:
    return f"{who.role}:{who.sub}"


class Improvement:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, clock: Clock) -> None:
        self.pool, self.clock = pool, clock
        self.topic = settings.topic(WORKSPACE_EVENTS)

    async def _publish(self, conn: asyncpg.Connection, payload: Payload, subject: str, who: Principal) -> None:
        env = Envelope.new(payload, source="intake", subject=subject, time=self.clock.now(), actor=_actor(who))
        await outbox.enqueue(conn, self.topic, env)

    async def _save(self, conn: asyncpg.Connection, kind: str, key: str, payload: Payload, **extra: Any) -> None:
        await conn.execute(
            "INSERT INTO improvements(kind, id, payload, owner, status) VALUES ($1, $2, $3::jsonb, $4, $5)"
            " ON CONFLICT (kind, id) DO UPDATE SET payload = excluded.payload, owner = excluded.owner,"
            " status = excluded.status",
            kind,
            key,
            payload.model_dump_json(),
            extra.get("owner"),
            extra.get("status"),
        )

    async def open_review(self, body: ReviewIn, who: Principal) -> ev.ReviewOpened:
        if who.role != "service":
            raise CommandRejected("forbidden_role", 403, role=who.role, allowed="service (audits:open)")
        who.need("audits:open")
        if body.period_to < body.period_from:
            raise CommandRejected("invalid_request", 422, detail="period_to is before period_from")
        opened = ev.ReviewOpened(
            review_id=body.review_id,
            period_from=body.period_from,
            period_to=body.period_to,
            sample=body.sample,
            seed=body.seed,
            figures=body.figures,
            scheduled=body.scheduled,
            by=body.by,
        )
        async with self.pool.acquire() as conn, conn.transaction():
            if await _exists(conn, "review", body.review_id):
                raise CommandRejected("review_exists", 409, review=body.review_id)
            await self._save(conn, "review", body.review_id, opened)
            await self._publish(conn, opened, body.review_id, who)
        return opened

    async def record_finding(self, body: FindingIn, who: Principal) -> ev.FindingRecorded:
        if who.role not in FINDERS:
            raise CommandRejected("forbidden_role", 403, role=who.role, allowed=", ".join(FINDERS))
        found = ev.FindingRecorded(
            finding_id=new_id("H-"),
            review_id=body.review_id,
            text=_clean(body.text),
            tickets=tuple(dict.fromkeys(body.tickets)),
            by=_actor(who),
        )
        async with self.pool.acquire() as conn, conn.transaction():
            if body.review_id and not await _exists(conn, "review", body.review_id):
                raise CommandRejected("review_unknown", 404, review=body.review_id)
            await self._save(conn, "finding", found.finding_id, found)
            await self._publish(conn, found, found.finding_id, who)
        return found

    async def plan_action(self, body: ActionIn, who: Principal) -> ev.ActionPlanned:
        if who.role not in PLANNERS:
            raise CommandRejected("forbidden_role", 403, role=who.role, allowed=", ".join(PLANNERS))
        if body.due < self.clock.now().date():
            raise CommandRejected("due_in_past", 422, due=body.due.isoformat())
        planned = ev.ActionPlanned(
            action_id=new_id("A-"),
            finding_id=body.finding_id,
            what=_clean(body.what),
            owner=body.owner,
            due=body.due,
            tickets=tuple(dict.fromkeys(body.tickets)),
            by=_actor(who),
        )
        async with self.pool.acquire() as conn, conn.transaction():
            if body.finding_id and not await _exists(conn, "finding", body.finding_id):
                raise CommandRejected("finding_unknown", 404, finding=body.finding_id)
            known = body.owner == who.sub or await conn.fetchval(
                "SELECT true FROM roster WHERE agent_id = $1", body.owner
            )
            if not known:
                raise CommandRejected("action_owner_unknown", 422, owner=body.owner)
            await self._save(conn, "action", planned.action_id, planned, owner=body.owner, status="open")
            await self._publish(conn, planned, planned.action_id, who)
        return planned

    async def update_action(self, action_id: str, body: ActionUpdateIn, who: Principal) -> ev.ActionUpdated:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT payload, owner, status FROM improvements WHERE kind = 'action' AND id = $1 FOR UPDATE",
                action_id,
            )
            if row is None:
                raise CommandRejected("action_unknown", 404, action=action_id)
            if who.role not in PLANNERS and row["owner"] != who.sub:
                raise CommandRejected("forbidden_role", 403, role=who.role, allowed=", ".join(PLANNERS))
            note = _clean(body.note)
            if body.status == row["status"] and not note:
                raise CommandRejected("action_unchanged", 409, action=action_id, status=body.status)
            updated = ev.ActionUpdated(action_id=action_id, status=body.status, note=note, by=_actor(who))
            await conn.execute(
                "UPDATE improvements SET status = $2 WHERE kind = 'action' AND id = $1", action_id, body.status
            )
            await self._publish(conn, updated, action_id, who)
        return updated


async def _exists(conn: asyncpg.Connection, kind: str, key: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM improvements WHERE kind = $1 AND id = $2", kind, key))

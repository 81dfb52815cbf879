"""Intake's handlers: load a ticket, ask the domain, append the events (outbox) and the new
state in one transaction. Used by the HTTP API and by the ticket.requests consumer alike."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.intake.domain import CommandRejected, decide, decide_open, mask_command
from shared.domain.access import may_read
from shared.domain.commands import Actor, Command, OpenTicket, Request
from shared.domain.events import Envelope, Headers, InvalidRecord
from shared.domain.events import catalogue as ev
from shared.domain.events.catalogue import Status
from shared.domain.events.envelope import parse_cloudevent
from shared.domain.principal import Principal
from shared.domain.privacy import REQUESTER_ROLE, is_ref
from shared.domain.ticket import OPEN_STATUSES, Ticket, evolve
from shared.platform import outbox
from shared.platform.clock import Clock
from shared.platform.consumer import Delivery
from shared.platform.keyring import Keyring
from shared.platform.settings import Settings
from shared.platform.topics import AUDIT_ACCESS, TICKET_EVENTS

NAME = "intake"
EVENTS_CONSUMER = "intake-events"
REQUESTS_CONSUMER = "intake-requests"
AGENTS_CONSUMER = "intake-agents"
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def new_ticket_id() -> str:
    n = secrets.randbits(40)
    return "T-" + "".join(_ALPHABET[(n >> (5 * i)) & 31] for i in reversed(range(8)))


@dataclass(frozen=True)
class Outcome:
    ticket: Ticket
    events: list[Envelope]
    masked: tuple[str, ...] = ()  # kinds of confidential data hidden before the events were written


@dataclass(frozen=True)
class Erasure:
    requester: str  # the pseudonym
    tickets: list[str]


class Intake:
    """Works in pseudonyms: a requester is their `R-...` pseudonym from the moment a command
    arrives (`keyring.ref_for`), and free text is sealed with their key as it is appended."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, clock: Clock, keyring: Keyring) -> None:
        self.settings = settings
        self.pool = pool
        self.clock = clock
        self.keyring = keyring
        self.topic = settings.topic(TICKET_EVENTS)

    async def pseudonym(self, actor: Actor, *, create: bool = False) -> Actor:
        """The actor as the log records it: a requester by pseudonym (one that matches nothing if
        they never opened a ticket)."""
        if actor.role != REQUESTER_ROLE or is_ref(actor.id):
            return actor
        ref = await self.keyring.ref_for(actor.id, create=create)
        return Actor(REQUESTER_ROLE, ref or "R-NONE")

    # -- commands ---------------------------------------------------------------------------

    async def open(
        self,
        cmd: OpenTicket,
        actor: Actor,
        *,
        conn: asyncpg.Connection | None = None,
        correlationid: str | None = None,
        causationid: str | None = None,
        idempotency_key: str | None = None,
        uploaded: frozenset[str] = frozenset(),
    ) -> tuple[Outcome, bool]:
        """Open a ticket; (outcome, created). With a known idempotency key, the first ticket (the
        key is the caller's: the API scopes it; the same key with another request is refused)."""
        if not is_ref(cmd.requester):
            ref = await self.keyring.ref_for(cmd.requester, create=True)
            assert ref is not None
            cmd = cmd.model_copy(update={"requester": ref})
            actor = await self.pseudonym(actor)
        if conn is None:
            async with self.pool.acquire() as own, own.transaction():
                return await self.open(
                    cmd,
                    actor,
                    conn=own,
                    correlationid=correlationid,
                    causationid=causationid,
                    idempotency_key=idempotency_key,
                    uploaded=uploaded,
                )
        request_hash = hashlib.sha256(cmd.model_dump_json().encode()).hexdigest() if idempotency_key else None
        if idempotency_key:
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"idem:{idempotency_key}")
            known = await conn.fetchrow(
                "SELECT ticket_id, request_hash FROM idempotency_keys WHERE key = $1", idempotency_key
            )
            if known:
                if known["request_hash"] not in (None, request_hash):  # (None: kept before hashes were)
                    raise CommandRejected("idempotency_key_reused", 422)
                ticket = await self._load(conn, known["ticket_id"], lock=False)
                assert ticket is not None
                return Outcome(ticket, []), False
        if any(a.sha256 not in uploaded for a in cmd.attachments):
            # a file is linked by whoever uploads it, with this request: a hash alone (seen in the
            # log, say) would hand another person's file to its sender
            raise CommandRejected("attachment_not_yours", 422)
        safe, masked = mask_command(cmd)
        assert isinstance(safe, OpenTicket)
        while True:  # ids are random (40 bits): on the rare clash, draw another
            ticket_id = new_ticket_id()
            payload = decide_open(safe, ticket_id, self.settings.default_language)
            created = await self._append(conn, None, [payload], actor, correlationid, causationid)
            if created is not None:
                break
        outcome = dataclasses.replace(created, masked=masked)
        if idempotency_key:
            await conn.execute(
                "INSERT INTO idempotency_keys(key, ticket_id, request_hash) VALUES ($1, $2, $3)",
                idempotency_key,
                ticket_id,
                request_hash,
            )
        return outcome, True

    async def command(
        self,
        ticket_id: str,
        cmd: Command,
        actor: Actor,
        *,
        expected_version: int | None = None,
        conn: asyncpg.Connection | None = None,
        correlationid: str | None = None,
        causationid: str | None = None,
    ) -> Outcome:
        if conn is None:
            async with self.pool.acquire() as own, own.transaction():
                return await self.command(
                    ticket_id,
                    cmd,
                    actor,
                    expected_version=expected_version,
                    conn=own,
                    correlationid=correlationid,
                    causationid=causationid,
                )
        actor = await self.pseudonym(actor)
        ticket = await self._load(conn, ticket_id, lock=True)
        if ticket is None:
            raise CommandRejected("not_found", 404, ticket_id=ticket_id)
        if expected_version is not None and expected_version != ticket.version:
            raise CommandRejected("version_conflict", 409, expected=expected_version, actual=ticket.version)
        await self._check_attachments(conn, ticket_id, cmd, actor)
        cmd, masked = mask_command(cmd)
        payloads = decide(cmd, ticket, actor)
        outcome = await self._append(conn, ticket, payloads, actor, correlationid, causationid)
        assert outcome is not None
        return dataclasses.replace(outcome, masked=masked)

    async def _append(
        self,
        conn: asyncpg.Connection,
        ticket: Ticket | None,
        payloads: list,  # type: ignore[type-arg]
        actor: Actor,
        correlationid: str | None,
        causationid: str | None,
    ) -> Outcome | None:
        """Append `payloads` to `ticket` (None: a new ticket); None when a new ticket's id is
        taken, before anything is written."""
        creating = ticket is None
        now = self.clock.now()
        envelopes = []
        correlation = correlationid
        for p in payloads:
            ref = ticket.requester if ticket is not None else str(getattr(p, "requester", ""))
            env = Envelope.new(
                await self.keyring.seal_payload(p, ref, conn=conn),
                source=NAME,
                subject=p.ticket_id,
                time=now,
                actor=str(actor),
                correlationid=correlation,
                causationid=causationid,
            )
            correlation = env.correlationid  # one correlation id for what one command did
            ticket = evolve(ticket, env)
            envelopes.append(env)
        assert ticket is not None
        if creating:
            if await conn.fetchval(_CREATE, *_save_args(ticket)) is None:
                return None
        else:
            await self._save(conn, ticket)
        refs = [ref for env in envelopes for ref in _refs_of(env)]
        if refs:
            await conn.executemany(_ADD_REF, refs)
        # applied now, so the copies read back from ticket.events are no-ops
        await outbox.enqueue_all(conn, [(self.topic, env) for env in envelopes], applied_by=EVENTS_CONSUMER)
        return Outcome(ticket, envelopes)

    async def _check_attachments(self, conn: asyncpg.Connection, ticket_id: str, cmd: Command, actor: Actor) -> None:
        """A command on a ticket may only show files this ticket already shows (to a requester:
        its public ones): no file reaches a ticket by its hash from anywhere else."""
        files = getattr(cmd, "attachments", ())
        if not files:
            return
        shown = {
            r["sha256"]
            for r in await conn.fetch(
                "SELECT sha256 FROM attachment_refs WHERE ticket_id = $1 AND sha256 = ANY($2::text[])"
                " AND (NOT internal OR $3)",
                ticket_id,
                [a.sha256 for a in files],
                actor.is_staff,
            )
        }
        if any(a.sha256 not in shown for a in files):
            raise CommandRejected("attachment_not_yours", 422)

    # -- state ------------------------------------------------------------------------------

    async def _load(self, conn: asyncpg.Connection, ticket_id: str, *, lock: bool) -> Ticket | None:
        sql = "SELECT state FROM tickets WHERE id = $1" + (" FOR UPDATE" if lock else "")
        raw = await conn.fetchval(sql, ticket_id)
        return Ticket.model_validate_json(raw) if raw else None

    async def _save(self, conn: asyncpg.Connection, ticket: Ticket) -> None:
        await conn.execute(_SAVE, *_save_args(ticket))

    async def erase(self, requester: str, by: Actor, reason: str) -> Erasure | None:
        """Erase a requester (sign-in id or pseudonym): close what is still open, record on each
        of their tickets that its personal data is gone, delete the files only they sent, and
        delete their key, in one transaction. None if there is nothing (left) to erase."""
        ref = requester if is_ref(requester) else await self.keyring.ref_for(requester, create=False)
        if ref is None:
            return None
        async with self.pool.acquire() as conn, conn.transaction():
            ids = [r["id"] for r in await conn.fetch("SELECT id FROM tickets WHERE requester = $1 ORDER BY id", ref)]
            for tid in ids:
                ticket = await self._load(conn, tid, lock=True)
                assert ticket is not None
                if ticket.erased:
                    continue
                payloads: list[ev.Payload] = []
                if ticket.status in OPEN_STATUSES or ticket.status == Status.resolved:
                    payloads.append(ev.TicketClosed(ticket_id=tid, by=by.id, reason="personal data erased"))
                payloads.append(ev.TicketRequesterErased(ticket_id=tid, requester=ref, by=by.id, reason=reason))
                await self._append(conn, ticket, payloads, by, None, None)
            await conn.execute(
                "DELETE FROM attachments a WHERE a.sha256 IN"
                " (SELECT sha256 FROM attachment_refs WHERE ticket_id = ANY($1::text[]))"
                " AND NOT EXISTS (SELECT 1 FROM attachment_refs r"
                " WHERE r.sha256 = a.sha256 AND NOT (r.ticket_id = ANY($1::text[])))",
                ids,
            )
            await conn.execute("DELETE FROM attachment_refs WHERE ticket_id = ANY($1::text[])", ids)
            if not await self.keyring.erase(conn, ref, by=str(by), reason=reason, tickets=ids):
                return None
        return Erasure(ref, ids)

    async def get(self, ticket_id: str) -> Ticket | None:
        async with self.pool.acquire() as conn:
            return await self._load(conn, ticket_id, lock=False)

    # -- consumers --------------------------------------------------------------------------

    async def fold_events(self, conn: asyncpg.Connection, items: list[tuple[Envelope, Delivery]]) -> None:
        """ticket.events written by others (and, on a replay, by intake itself), a partition's
        batch at once: each touched ticket read once, evolved in memory, written once."""
        ids = list(dict.fromkeys(env.subject for env, _ in items))
        rows = await conn.fetch("SELECT id, state FROM tickets WHERE id = ANY($1::text[]) FOR UPDATE", ids)
        tickets: dict[str, Ticket | None] = {r["id"]: Ticket.model_validate_json(r["state"]) for r in rows}
        changed: dict[str, Ticket] = {}
        refs: list[tuple[str, str, bool]] = []
        for env, _d in items:
            after = evolve(tickets.get(env.subject), env)
            if after is None:
                continue
            tickets[env.subject] = changed[env.subject] = after
            refs += _refs_of(env)
        if changed:
            await conn.executemany(_SAVE, [_save_args(t) for t in changed.values()])
        if refs:
            await conn.executemany(_ADD_REF, refs)

    async def on_agent_event(self, conn: asyncpg.Connection, env: Envelope, _d: Delivery) -> None:
        """The roster's teams, for the access rule (history and live alike: it is state)."""
        match env.data:
            case ev.AgentRegistered(agent_id=agent, teams=teams):
                await conn.execute(
                    "INSERT INTO roster(agent_id, teams) VALUES ($1, $2)"
                    " ON CONFLICT (agent_id) DO UPDATE SET teams = $2",
                    agent,
                    list(teams),
                )
            case ev.AgentUpdated(agent_id=agent, teams=teams) if teams is not None:
                await conn.execute("UPDATE roster SET teams = $2 WHERE agent_id = $1", agent, list(teams))
            case ev.AgentRemoved(agent_id=agent):
                await conn.execute("DELETE FROM roster WHERE agent_id = $1", agent)

    async def teammates(self, agent_id: str) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT DISTINCT b.agent_id FROM roster a JOIN roster b ON a.teams && b.teams WHERE a.agent_id = $1",
            agent_id,
        )
        return [r["agent_id"] for r in rows]

    async def readable(self, ticket_id: str, who: Principal) -> Ticket | None:
        """The ticket if `who` may read it (`shared.domain.access.may_read`), else None: the same answer
        as for a ticket that does not exist."""
        ticket = await self.get(ticket_id)
        if ticket is None or who.reads_all:
            return ticket
        requester = ticket.requester
        if who.role == "requester" and requester == await self.keyring.ref_for(who.sub, create=False):
            requester = who.sub
        team = await self.teammates(who.sub) if who.role == "agent" else []
        return ticket if may_read(who, requester, ticket.owner, team) else None

    async def record_download(self, ticket_id: str, who: Principal) -> None:
        """A file read by staff, an auditor or another system goes to the access log, as their
        reads through the query API and the pages do (a requester reading their own is not)."""
        if who.role == "requester":
            return
        read = ev.TicketRead(ticket_id=ticket_id, reader=f"{who.role}:{who.sub}", via="download")
        env = Envelope.new(read, source=NAME, subject=ticket_id, time=self.clock.now(), actor=read.reader)
        async with self.pool.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, self.settings.topic(AUDIT_ACCESS), env)

    async def on_request(self, conn: asyncpg.Connection, req: Request, delivery: Delivery) -> None:
        """A command from another system. History (a replay) is skipped: its effects are
        already in ticket.events. A refused command raises, and is dead-lettered with why."""
        if delivery.replaying:
            return
        try:
            if isinstance(req.command, OpenTicket):
                await self.open(
                    req.command, req.actor, conn=conn, correlationid=req.correlationid, causationid=str(req.id)
                )
            else:
                assert req.ticket_id is not None
                await self.command(
                    req.ticket_id,
                    req.command,
                    req.actor,
                    conn=conn,
                    correlationid=req.correlationid,
                    causationid=str(req.id),
                )
        except InvalidRecord as exc:
            exc.sender = req.actor.id  # the service its token proved it is, and what it may do
            exc.sender_scopes = req.granted
            raise

    async def letter_owner(
        self, conn: asyncpg.Connection | None, _key: bytes | None, value: bytes | None, headers: Headers
    ) -> str | None:
        """The requester a refused request concerns, so its dead letter is sealed with their key
        (and erasing them shreds it): the requester it names, else the ticket's."""
        try:
            attrs, data = parse_cloudevent(value, headers)
        except InvalidRecord:
            return None
        named = data.get("requester") if isinstance(data, dict) else None
        if isinstance(named, str) and named:
            if is_ref(named):
                return named
            if len(named) <= 254 and "@" in named and named.isprintable():
                return await self.keyring.ref_for(named.strip(), create=True)
        subject = attrs.get("subject")
        if subject:
            found = await (conn or self.pool).fetchval("SELECT requester FROM tickets WHERE id = $1", subject[:64])
            return str(found) if found else None
        return None


ORPHAN_AFTER = timedelta(hours=1)


async def sweep_orphans(pool: asyncpg.Pool, now: datetime) -> int:
    """Delete files no ticket shows that were stored over ORPHAN_AFTER ago (an open that failed
    between storing its files and its commit); return how many."""
    deleted: int = await pool.fetchval(
        "WITH gone AS (DELETE FROM attachments a WHERE a.created_at < $1"
        " AND NOT EXISTS (SELECT 1 FROM attachment_refs r WHERE r.sha256 = a.sha256) RETURNING 1)"
        " SELECT count(*) FROM gone",
        now - ORPHAN_AFTER,
    )
    return deleted


async def store_attachment(pool: asyncpg.Pool, sha256: str, content_type: str, content: bytes) -> None:
    await pool.execute(
        "INSERT INTO attachments(sha256, content_type, size, content) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (sha256) DO NOTHING",
        sha256,
        content_type,
        len(content),
        content,
    )


_INSERT = (
    "INSERT INTO tickets(id, requester, status, version, state, updated_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6)"
)
_SAVE = (
    _INSERT
    + " ON CONFLICT (id) DO UPDATE SET requester = $2, status = $3, version = $4, state = $5::jsonb, updated_at = $6"
)
# a new ticket: its id is drawn at random, so a clash yields nothing and another is drawn
_CREATE = _INSERT + " ON CONFLICT (id) DO NOTHING RETURNING 1"
_ADD_REF = "INSERT INTO attachment_refs(ticket_id, sha256, internal) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"


def _save_args(ticket: Ticket) -> tuple[object, ...]:
    return (
        ticket.id,
        ticket.requester,
        ticket.status.value,
        ticket.version,
        ticket.model_dump_json(),
        ticket.updated_at,
    )


def _refs_of(env: Envelope) -> list[tuple[str, str, bool]]:
    files = getattr(env.data, "attachments", ())
    internal = bool(getattr(env.data, "internal", False))
    return [(env.subject, a.sha256, internal) for a in files]


async def load_attachment(
    pool: asyncpg.Pool, ticket_id: str, sha256: str, *, public_only: bool
) -> tuple[str, bytes] | None:
    """The file if `ticket_id` shows it (in a public event when `public_only`)."""
    row = await pool.fetchrow(
        "SELECT a.content_type, a.content FROM attachments a JOIN attachment_refs r USING (sha256)"
        " WHERE r.ticket_id = $1 AND a.sha256 = $2 AND (NOT $3 OR NOT r.internal) LIMIT 1",
        ticket_id,
        sha256,
        public_only,
    )
    return (row["content_type"], bytes(row["content"])) if row else None

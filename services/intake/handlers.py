"""Intake's handlers: load a ticket, ask the domain, append the events (outbox) and the new
state in one transaction. Used by the HTTP API and by the ticket.requests consumer alike."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from services.intake import store, workspace
from services.intake.domain import CommandRejected, decide, decide_open, decide_write, mask_command, write_as_open
from shared.domain.access import may_read
from shared.domain.commands import OTHER_TICKET, Actor, ApplyMacro, Command, OpenTicket, Request, SetFields, Write
from shared.domain.events import Envelope, Headers, InvalidRecord, Payload
from shared.domain.events import catalogue as ev
from shared.domain.events.catalogue import Status
from shared.domain.events.envelope import parse_cloudevent
from shared.domain.principal import Principal
from shared.domain.privacy import REQUESTER_ROLE, is_ref
from shared.domain.ticket import OPEN_STATUSES, Ticket, evolve, stale
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
# Refusals that rest on what others change (routing the owner, SLA the level, a requester's
# reply the status): intake may not have read that yet when a command that follows it arrives.
STATE_REFUSALS = frozenset(
    {
        "not_allowed_in_status",
        "closed_use_reopen",
        "no_pending_question",
        "top_level",
        "version_conflict",
        "nothing_changes",
        "merge_into_closed",
    }
)
CATCH_UP_S = 5.0  # at most this long before refusing: under it a refusal is a stale one
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def new_id(prefix: str) -> str:
    """`prefix` and eight random characters of Crockford's base 32 (40 bits)."""
    n = secrets.randbits(40)
    return prefix + "".join(_ALPHABET[(n >> (5 * i)) & 31] for i in reversed(range(8)))


def new_ticket_id() -> str:
    return new_id("T-")


def _fingerprint(serialised: str) -> str:
    return hashlib.sha256(serialised.encode()).hexdigest()


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
        # set by the service: wait until ticket.events is folded here up to the log's end for a
        # ticket's partition (whether it got there); None: never wait
        self.catch_up: Callable[[str], Awaitable[bool]] | None = None

    async def _moved_on(self, ticket_id: str, seen: int | None) -> bool:
        """Whether the ticket has changed here since version `seen`, once intake has read its
        events to the log's end."""
        if self.catch_up is None or seen is None:
            return False
        await self.catch_up(ticket_id)
        now = await self.get(ticket_id)
        return now is not None and now.version != seen

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
        # what makes a request "the same": its fields other than those left at their defaults, so a
        # field added to the command later does not make a retry across an upgrade look different
        # (the whole command's hash, as kept before, still matches too)
        request_hash = _fingerprint(cmd.model_dump_json(exclude_defaults=True)) if idempotency_key else None
        if idempotency_key:
            known = await store.remembered(conn, idempotency_key)
            if known:
                same = (None, request_hash, _fingerprint(cmd.model_dump_json()))  # (None: kept before hashes were)
                if known[1] not in same:
                    raise CommandRejected("idempotency_key_reused", 422)
                ticket = await store.ticket(conn, known[0], lock=False)
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
            await store.remember(conn, idempotency_key, ticket_id, request_hash)
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
        uploaded: frozenset[str] = frozenset(),
    ) -> Outcome:
        """`uploaded`: the files the sender sent with this command (stored already, checked). On
        its own transaction (no `conn`), a refusal on the ticket's state is decided again once
        intake has read the ticket's events up to the log's end: the sender may have seen a newer
        state (its owner in the console) than intake had read."""
        if conn is None:
            for last in (False, True):
                try:
                    async with self.pool.acquire() as own, own.transaction():
                        return await self.command(
                            ticket_id,
                            cmd,
                            actor,
                            expected_version=expected_version,
                            conn=own,
                            correlationid=correlationid,
                            causationid=causationid,
                            uploaded=uploaded,
                        )
                except CommandRejected as exc:
                    if last or exc.code not in STATE_REFUSALS or not await self._moved_on(ticket_id, exc.version):
                        raise
            raise AssertionError("the second attempt returns or raises")
        actor = await self.pseudonym(actor)
        ticket = await store.ticket(conn, ticket_id, lock=True)
        if ticket is None:
            raise CommandRejected("not_found", 404, ticket_id=ticket_id)
        try:
            return await self._decide(conn, ticket, cmd, actor, expected_version, correlationid, causationid, uploaded)
        except CommandRejected as exc:
            exc.version = ticket.version
            raise

    async def _decide(
        self,
        conn: asyncpg.Connection,
        ticket: Ticket,
        cmd: Command,
        actor: Actor,
        expected_version: int | None,
        correlationid: str | None,
        causationid: str | None,
        uploaded: frozenset[str],
    ) -> Outcome:
        ticket_id = ticket.id
        if expected_version is not None and stale(ticket, expected_version):
            raise CommandRejected("version_conflict", 409, expected=expected_version, actual=ticket.version)
        await self._check_attachments(conn, ticket_id, cmd, actor, uploaded)
        cmd, masked = mask_command(cmd)
        named = getattr(cmd, OTHER_TICKET[type(cmd)]) if type(cmd) in OTHER_TICKET else None
        other = await store.ticket(conn, named, lock=False) if named and named != ticket_id else None
        if isinstance(cmd, ApplyMacro):
            payloads = await self._macro(conn, ticket, cmd, actor)
        elif isinstance(cmd, SetFields):
            payloads = await self._fields(conn, ticket, cmd, actor)
        else:
            payloads = decide(cmd, ticket, actor, other)
        outcome = await self._append(conn, ticket, payloads, actor, correlationid, causationid)
        assert outcome is not None
        return dataclasses.replace(outcome, masked=masked)

    async def _macro(self, conn: asyncpg.Connection, ticket: Ticket, cmd: ApplyMacro, actor: Actor) -> list[Payload]:
        found = await store.macro(conn, cmd.macro)
        if found is None or not actor.is_staff or found[0] not in (None, actor.id):
            raise CommandRejected("macro_unknown", 404, macro=cmd.macro)  # another's personal one: as missing
        macro = ev.MacroSaved.model_validate_json(found[1])
        entry = await self.keyring.entry(ticket.requester, conn=conn)
        who = workspace.Who(
            requester_name=workspace.name_from(entry[0]) if entry else "",
            agent_name=await store.agent_name(conn, actor.id) or actor.id,
        )
        return workspace.decide_macro(ticket, macro, actor, who)

    async def _fields(self, conn: asyncpg.Connection, ticket: Ticket, cmd: SetFields, actor: Actor) -> list[Payload]:
        definitions = [ev.FieldDefined.model_validate_json(raw) for raw in await store.field_defs(conn)]
        try:
            return workspace.decide_fields(
                ticket, {d.field_id: d for d in definitions}, cmd.values, list(cmd.clear), actor
            )
        except ValueError as exc:
            raise CommandRejected("invalid_request", 422, detail=str(exc)) from None

    async def write(
        self,
        ticket_id: str | None,
        cmd: Write,
        actor: Actor,
        *,
        conn: asyncpg.Connection | None = None,
        correlationid: str | None = None,
        causationid: str | None = None,
        uploaded: frozenset[str] = frozenset(),
    ) -> Outcome:
        """The requester writes (a mail): on their ticket as where it stands says, else a new one
        (domain.decide_write). The events are the requester's (`cmd.sender`, by pseudonym); the
        system that carried the words is their cause."""
        if conn is None:
            async with self.pool.acquire() as own, own.transaction():
                return await self.write(
                    ticket_id,
                    cmd,
                    actor,
                    conn=own,
                    correlationid=correlationid,
                    causationid=causationid,
                    uploaded=uploaded,
                )
        if (
            actor.role == REQUESTER_ROLE
            and actor.id != cmd.sender
            and actor.id != await self.keyring.ref_for(cmd.sender, create=False)
        ):
            raise CommandRejected("not_requester", 403, command="write")
        if actor.role not in (REQUESTER_ROLE, "system"):
            raise CommandRejected("requester_only", 403, command="write")
        ref = await self.keyring.ref_for(cmd.sender, create=True)
        assert ref is not None
        writer = Actor("requester", ref)
        ticket = await store.ticket(conn, ticket_id, lock=True) if ticket_id else None
        payloads = decide_write(cmd, ticket, ref)
        if payloads is None:
            follows = ticket.id if ticket is not None and ticket.requester == ref else None
            outcome, _created = await self.open(
                write_as_open(cmd, follows),
                writer,
                conn=conn,
                correlationid=correlationid,
                causationid=causationid,
                uploaded=uploaded,
            )
            return outcome
        assert ticket is not None
        safe, masked = mask_command(cmd)
        assert isinstance(safe, Write)
        await self._check_attachments(conn, ticket.id, safe, writer, uploaded)
        payloads = decide_write(safe, ticket, ref)
        assert payloads is not None
        appended = await self._append(conn, ticket, payloads, writer, correlationid, causationid)
        assert appended is not None
        return dataclasses.replace(appended, masked=masked)

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
            if not await store.create(conn, ticket):
                return None
        else:
            await store.save(conn, [ticket])
        await store.add_refs(conn, [ref for env in envelopes for ref in store.refs_of(env)])
        # applied now, so the copies read back from ticket.events are no-ops
        await outbox.enqueue_all(conn, [(self.topic, env) for env in envelopes], applied_by=EVENTS_CONSUMER)
        return Outcome(ticket, envelopes)

    async def _check_attachments(
        self, conn: asyncpg.Connection, ticket_id: str, cmd: Command, actor: Actor, uploaded: frozenset[str]
    ) -> None:
        """A command on a ticket may show the files its sender uploads with it, and files this
        ticket already shows (to a requester: its public ones): no file reaches a ticket by its
        hash from anywhere else."""
        files = [a.sha256 for a in getattr(cmd, "attachments", ()) if a.sha256 not in uploaded]
        if not files:
            return
        shown = await store.shown(conn, ticket_id, files, internal_too=actor.is_staff)
        if any(sha not in shown for sha in files):
            raise CommandRejected("attachment_not_yours", 422)

    # -- state ------------------------------------------------------------------------------

    async def erase(self, requester: str, by: Actor, reason: str) -> Erasure | None:
        """Erase a requester (sign-in id or pseudonym): close what is still open, record on each
        of their tickets that its personal data is gone, delete the files only they sent, and
        delete their key, in one transaction. None if there is nothing (left) to erase."""
        ref = requester if is_ref(requester) else await self.keyring.ref_for(requester, create=False)
        if ref is None:
            return None
        async with self.pool.acquire() as conn, conn.transaction():
            ids = await store.of_requester(conn, ref)
            for tid in ids:
                ticket = await store.ticket(conn, tid, lock=True)
                assert ticket is not None
                if ticket.erased:
                    continue
                payloads: list[ev.Payload] = []
                if ticket.status in OPEN_STATUSES or ticket.status == Status.resolved:
                    payloads.append(ev.TicketClosed(ticket_id=tid, by=by.id, reason="personal data erased"))
                payloads.append(ev.TicketRequesterErased(ticket_id=tid, requester=ref, by=by.id, reason=reason))
                await self._append(conn, ticket, payloads, by, None, None)
            await store.forget_files(conn, ids)
            if not self.keyring.apart and not await self.keyring.erase(
                conn, ref, by=str(by), reason=reason, tickets=ids
            ):
                return None
        # keys on a server of their own (KEYS_DATABASE_URL): deleted once the erasure is recorded;
        # if this fails, the same command again finishes it (the tickets are already erased)
        if self.keyring.apart and not await self.keyring.erase(None, ref, by=str(by), reason=reason, tickets=ids):
            return None
        return Erasure(ref, ids)

    async def get(self, ticket_id: str) -> Ticket | None:
        async with self.pool.acquire() as conn:
            return await store.ticket(conn, ticket_id, lock=False)

    # -- consumers --------------------------------------------------------------------------

    async def fold_events(self, conn: asyncpg.Connection, items: list[tuple[Envelope, Delivery]]) -> None:
        """ticket.events written by others (and, on a replay, by intake itself), a partition's
        batch at once: each touched ticket read once, evolved in memory, written once."""
        tickets: dict[str, Ticket | None] = {
            **await store.tickets(conn, list(dict.fromkeys(env.subject for env, _ in items)))
        }
        changed: dict[str, Ticket] = {}
        refs: list[tuple[str, str, bool]] = []
        for env, _d in items:
            after = evolve(tickets.get(env.subject), env)
            if after is None:
                continue
            tickets[env.subject] = changed[env.subject] = after
            refs += store.refs_of(env)
        await store.save(conn, list(changed.values()))
        await store.add_refs(conn, refs)

    async def on_agent_event(self, conn: asyncpg.Connection, env: Envelope, _d: Delivery) -> None:
        """The roster's teams, for the access rule (history and live alike: it is state)."""
        match env.data:
            case ev.AgentRegistered(agent_id=agent, teams=teams, name=name):
                await store.set_teams(conn, agent, list(teams), create=True, name=name)
            case ev.AgentUpdated(agent_id=agent, teams=teams) if teams is not None:
                await store.set_teams(conn, agent, list(teams), create=False)
            case ev.AgentRemoved(agent_id=agent):
                await store.remove_agent(conn, agent)

    async def readable(self, ticket_id: str, who: Principal) -> Ticket | None:
        """The ticket if `who` may read it (`shared.domain.access.may_read`), else None: the same answer
        as for a ticket that does not exist. An agent refused is asked again once intake has read
        the ticket's events to the log's end (they may have been assigned it a moment ago)."""
        ticket = await self.get(ticket_id)
        found = await self._readable_now(ticket, who)
        if found is not None or who.role != "agent":
            return found
        # (a missing ticket waits the same: how long a refusal takes says nothing of whether it exists)
        if await self._moved_on(ticket_id, ticket.version if ticket else 0):
            return await self._readable_now(await self.get(ticket_id), who)
        return found

    async def _readable_now(self, ticket: Ticket | None, who: Principal) -> Ticket | None:
        if ticket is None or who.reads_all:
            return ticket
        requester = ticket.requester
        if who.role == "requester" and requester == await self.keyring.ref_for(who.sub, create=False):
            requester = who.sub
        team = await store.teammates(self.pool, who.sub) if who.role == "agent" else []
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
            files = [a.sha256 for a in getattr(req.command, "attachments", ())]
            uploaded = await store.uploaded_by(conn, req.actor.id, files) if files else frozenset()
            if isinstance(req.command, OpenTicket):
                await self.open(
                    req.command,
                    req.actor,
                    conn=conn,
                    correlationid=req.correlationid,
                    causationid=str(req.id),
                    uploaded=uploaded,
                )
            elif isinstance(req.command, Write):
                await self.write(
                    req.ticket_id,
                    req.command,
                    req.actor,
                    conn=conn,
                    correlationid=req.correlationid,
                    causationid=str(req.id),
                    uploaded=uploaded,
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
            return await store.requester_of(conn or self.pool, subject)
        return None

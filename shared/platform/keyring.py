"""Requesters' data keys in PostgreSQL (schema `keys`), and sealing and opening events with them.

Intake seals what it appends (`seal_payload`, pseudonyms through `ref_for`); the services that
show or send text (projections, notify) open what they consume (`open_envelope`). Erasing a
requester deletes their row: from then on their pseudonym leads nowhere and their text opens as
`[erased]`, in the live views (which scrub on `ticket.requester_erased`) and in any rebuild.

Keys are cached for `ttl_s` after first use; an erasure drops them from the cache of whichever
instance folds the erasure event, and every other instance forgets them within `ttl_s`.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.domain import privacy as pv
from shared.domain.events import Envelope
from shared.domain.events.catalogue import Payload
from shared.domain.events.errors import SealMismatch
from shared.domain.models import replace
from shared.platform import db
from shared.platform.settings import Settings

SCHEMA = "keys"
MIGRATIONS = Path(__file__).parent / "keys_migrations"


def master_key(settings: Settings) -> bytes:
    if settings.master_key:
        key = base64.b64decode(settings.master_key)
        if len(key) != 32:
            raise ValueError("MESA_MASTER_KEY must be the base64 of 32 bytes (an AES-256 key)")
        return key
    return hashlib.sha256(b"mesa-master-key|" + settings.jwt_secret.encode()).digest()


def reply_key(settings: Settings) -> bytes:
    """The key of the reply tokens in Mesa's mail (shared.domain.reply_tokens): notify makes
    them, the inbound mail service checks them; derived, so there is no other secret to keep."""
    return hashlib.sha256(b"mesa-reply-tokens|" + master_key(settings)).digest()


@dataclass(frozen=True)
class _Entry:
    sub: str
    key: bytes
    until: float
    aead: AESGCM


class Keyring:
    def __init__(
        self,
        pool: asyncpg.Pool,
        master: bytes,
        *,
        ttl_s: float = 300.0,
        now: Callable[[], float] = time.monotonic,
        apart: bool = False,
    ) -> None:
        self.pool = pool
        # the keys live on another server than the caller's schema (KEYS_DATABASE_URL): a caller's
        # connection cannot see them, so reads go through this pool
        self.apart = apart
        self.master = master
        self.ttl_s = ttl_s
        self._now = now
        self._by_ref: dict[str, _Entry] = {}
        self._by_sub: dict[str, str] = {}

    @classmethod
    async def open(cls, pool: asyncpg.Pool, settings: Settings, *, apart: bool = False) -> Keyring:
        async with pool.acquire() as conn:
            await db.ensure_schema(conn, SCHEMA)
        await db.migrate(pool, SCHEMA, MIGRATIONS, shared=False)
        return cls(pool, master_key(settings), apart=apart)

    # -- pseudonyms and keys --------------------------------------------------------------------

    async def ref_for(self, sub: str, *, create: bool, conn: asyncpg.Connection | None = None) -> str | None:
        """The pseudonym of `sub` (a new one with a new key when `create` and none exists).

        A key is created in a statement of its own, never inside the caller's transaction: a
        rollback must not leave a cached key that was never stored (text sealed with it would
        be lost). Reads may go through the caller's `conn`, which sees only committed keys."""
        ref = self._by_sub.get(sub)
        if ref is not None and self._fresh(ref) and not create:
            return ref  # (a new ticket asks the table: another instance may have just erased them)
        row = None
        if create:
            new = pv.new_ref()
            # one round trip whether they are new or known (the insert yields nothing if known)
            row = await self.pool.fetchrow(
                f"WITH made AS (INSERT INTO {SCHEMA}.requesters(ref, sub, wrapped_key) VALUES ($1, $2, $3)"
                " ON CONFLICT (sub) DO NOTHING RETURNING ref, wrapped_key)"
                f" SELECT ref, wrapped_key FROM made UNION ALL"
                f" SELECT ref, wrapped_key FROM {SCHEMA}.requesters WHERE sub = $2 LIMIT 1",
                new,
                sub,
                pv.wrap(self.master, new, pv.new_data_key()),
            )
        if row is None:  # not creating, or a concurrent first ticket's row this snapshot missed
            row = await self._via(conn).fetchrow(
                f"SELECT ref, wrapped_key FROM {SCHEMA}.requesters WHERE sub = $1", sub
            )
        if row is None:
            return None
        self._remember(row["ref"], sub, bytes(row["wrapped_key"]))
        return str(row["ref"])

    async def entry(self, ref: str, *, conn: asyncpg.Connection | None = None) -> tuple[str, bytes] | None:
        """(sign-in id, data key) of a pseudonym; None once erased (or never known)."""
        if not self._fresh(ref):
            await self._load({ref}, conn)
        e = self._by_ref.get(ref)
        return (e.sub, e.key) if e is not None else None

    async def _load(self, refs: set[str], conn: asyncpg.Connection | None) -> None:
        """Cache the keys of `refs` in one query; forget those gone (erased here or by another
        instance: their text reads [erased])."""
        rows = await self._via(conn).fetch(
            f"SELECT ref, sub, wrapped_key FROM {SCHEMA}.requesters WHERE ref = ANY($1::text[])", list(refs)
        )
        for row in rows:
            self._remember(row["ref"], row["sub"], bytes(row["wrapped_key"]))
        for gone in refs - {row["ref"] for row in rows}:
            self.forget(gone)

    def _via(self, conn: asyncpg.Connection | None) -> asyncpg.Connection | asyncpg.Pool:
        return conn if conn is not None and not self.apart else self.pool

    def _fresh(self, ref: str) -> bool:
        e = self._by_ref.get(ref)
        return e is not None and e.until > self._now()  # open_envelopes asks the same of a batch

    def _remember(self, ref: str, sub: str, wrapped: bytes) -> _Entry:
        key = pv.unwrap(self.master, ref, wrapped)
        e = _Entry(sub, key, self._now() + self.ttl_s, AESGCM(key))
        self._by_ref[ref], self._by_sub[sub] = e, ref
        return e

    def forget(self, ref: str) -> None:
        e = self._by_ref.pop(ref, None)
        if e is not None:
            self._by_sub.pop(e.sub, None)

    # -- events ---------------------------------------------------------------------------------

    async def seal_payload(self, payload: Payload, ref: str, *, conn: asyncpg.Connection | None = None) -> Payload:
        """The payload with its free text sealed with `ref`'s key (unchanged if it has none)."""
        if not type(payload).privacy.sealed:
            return payload
        found = await self.entry(ref, conn=conn)
        if found is None:
            raise LookupError(f"no data key for {ref} (erased?)")
        key = found[1]
        return pv.rewrite(payload, text=lambda v, place: pv.seal(key, ref, v, place))

    async def open_envelope(self, env: Envelope, *, conn: asyncpg.Connection | None = None) -> Envelope:
        """The event as people read it: pseudonyms back to sign-in ids, sealed text opened; what
        belonged to an erased requester reads `[erased]` (and they stay a pseudonym). Sealed text
        that does not open where it stands raises `SealMismatch`: the record is dead-lettered."""
        [opened] = await self.open_envelopes([env], conn=conn)
        return opened

    async def open_envelopes(self, envs: list[Envelope], *, conn: asyncpg.Connection | None = None) -> list[Envelope]:
        """`open_envelope` for a batch: the keys it needs that are not cached come in one query."""
        touched = [_touched(env) for env in envs]
        by_ref, now = self._by_ref, self._now()  # one clock reading per batch, not per reference
        missing = {
            ref
            for env, t in zip(envs, touched, strict=True)
            if t
            for ref in _refs(env)
            if (e := by_ref.get(ref)) is None or e.until <= now
        }
        if missing:
            await self._load(missing, conn)
        return [self._open(env, by_ref) if t else env for env, t in zip(envs, touched, strict=True)]

    @staticmethod
    def _open(env: Envelope, known: dict[str, _Entry]) -> Envelope:
        def person(who: str) -> str:
            found = known.get(who)
            return found.sub if found else who

        def text(value: str, place: pv.Place) -> str:
            if not pv.is_sealed(value):
                return value  # written before sealing existed
            found = known.get(pv.sealed_ref(value))
            if found is None:
                return pv.ERASED
            try:
                return pv.unseal(found.aead, value, place)
            except pv.SealError as exc:  # moved here from another ticket, event or field: refuse it
                raise SealMismatch(str(exc)) from None

        return replace(
            env, {"data": pv.rewrite(env.data, text=text, person=person), "actor": pv.map_actor(env.actor, person)}
        )

    # -- erasure --------------------------------------------------------------------------------

    async def erase(
        self, conn: asyncpg.Connection | None, ref: str, *, by: str, reason: str, tickets: list[str]
    ) -> bool:
        """Delete `ref`'s key and pseudonym, in the caller's transaction (None, or keys `apart`: in
        one of their own, which the caller runs after committing what records the erasure, so
        that a failure in between leaves an erasure to finish, never text unreadable with no
        record of why); False if already gone."""
        if conn is None or self.apart:
            async with self.pool.acquire() as own, own.transaction():
                return await self._erase(own, ref, by=by, reason=reason, tickets=tickets)
        return await self._erase(conn, ref, by=by, reason=reason, tickets=tickets)

    async def _erase(self, conn: asyncpg.Connection, ref: str, *, by: str, reason: str, tickets: list[str]) -> bool:
        gone = await conn.fetchval(f"DELETE FROM {SCHEMA}.requesters WHERE ref = $1 RETURNING ref", ref)
        if gone is None:
            return False
        await conn.execute(
            f"INSERT INTO {SCHEMA}.erasures(ref, erased_at, erased_by, reason, tickets) VALUES ($1, now(), $2, $3, $4)"
            " ON CONFLICT (ref) DO NOTHING",
            ref,
            by,
            reason,
            tickets,
        )
        self.forget(ref)
        return True


def _actor_ref(env: Envelope) -> str:
    return env.actor.partition(":")[2] if env.actor.startswith(f"{pv.REQUESTER_ROLE}:") else ""


def _touched(env: Envelope) -> bool:
    return pv.touches(type(env.data)) or pv.is_ref(_actor_ref(env))


def _refs(env: Envelope) -> set[str]:
    """The pseudonyms whose keys open `env` (its sealed text's and the people it names)."""
    found = {pv.sealed_ref(v) if pv.is_sealed(v) else v for v in [*pv.values(env.data), _actor_ref(env)]}
    return {ref for ref in found if pv.is_ref(ref)}

"""Keeping macros and custom fields: who may, what is checked, and the event on workspace.events
written with intake's own copy in one transaction (the outbox), as every fact intake owns."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from pydantic import Field

from services.intake import store, workspace
from services.intake.domain import CommandRejected
from shared.domain.events import Envelope, Payload
from shared.domain.events import catalogue as ev
from shared.domain.events.catalogue import Category, Line, Slug, StorableModel
from shared.domain.principal import Principal
from shared.platform import outbox
from shared.platform.clock import Clock
from shared.platform.settings import Settings
from shared.platform.topics import WORKSPACE_EVENTS

KEEPERS = ("supervisor", "admin")  # who keeps the shared macros; admins define fields


class MacroIn(StorableModel):
    id: Slug
    name: Line
    shared: bool = True
    text_es: Annotated[str, Field(max_length=20_000)] = ""
    text_en: Annotated[str, Field(max_length=20_000)] = ""
    actions: ev.MacroActions = ev.MacroActions()


class FieldIn(StorableModel):
    id: Slug
    label_es: Line
    label_en: Line
    kind: ev.FieldKind
    options: Annotated[tuple[Line, ...], Field(max_length=100)] = ()
    categories: tuple[Category, ...] = ()


class Workspace:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, clock: Clock) -> None:
        self.pool, self.clock = pool, clock
        self.topic = settings.topic(WORKSPACE_EVENTS)

    async def _publish(self, conn: asyncpg.Connection, payload: Payload, subject: str, who: Principal) -> Envelope:
        env = Envelope.new(payload, source="intake", subject=subject, time=self.clock.now(), actor=_actor(who))
        await outbox.enqueue(conn, self.topic, env)
        return env

    async def save_macro(self, body: MacroIn, who: Principal) -> ev.MacroSaved:
        """A shared macro (supervisors and admins) or one's own (any agent)."""
        if who.role not in ("agent", *KEEPERS):
            raise CommandRejected("agents_only", 403, command="macros")
        if body.shared and who.role not in KEEPERS:
            raise CommandRejected("forbidden_role", 403, role=who.role, allowed=", ".join(KEEPERS))
        if not (body.text_es or body.text_en) and body.actions == ev.MacroActions():
            raise CommandRejected("invalid_request", 422, detail="a macro needs a text or an action")
        for text in (body.text_es, body.text_en):
            try:
                workspace.check_text(text)
            except ValueError as exc:
                raise CommandRejected("invalid_request", 422, detail=str(exc)) from None
        owner = None if body.shared else who.sub
        macro = ev.MacroSaved(
            macro_id=body.id,
            name=body.name,
            owner=owner,
            text_es=body.text_es,
            text_en=body.text_en,
            actions=body.actions,
            by=_actor(who),
        )
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await store.macro(conn, body.id)
            if existing is not None and not _may_change(existing[0], who):
                raise CommandRejected("invalid_request", 409, detail=f"the macro id {body.id} is taken")
            await store.save_macro(conn, body.id, owner, macro.model_dump_json())
            await self._publish(conn, macro, body.id, who)
        return macro

    async def remove_macro(self, macro_id: str, who: Principal) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await store.macro(conn, macro_id)
            if existing is None or not _may_change(existing[0], who):
                raise CommandRejected("macro_unknown", 404, macro=macro_id)
            await store.remove_macro(conn, macro_id)
            await self._publish(conn, ev.MacroRemoved(macro_id=macro_id, by=_actor(who)), macro_id, who)

    async def define_field(self, body: FieldIn, who: Principal) -> ev.FieldDefined:
        if who.role != "admin":
            raise CommandRejected("forbidden_role", 403, role=who.role, allowed="admin")
        if (body.kind == "list") != bool(body.options):
            raise CommandRejected("invalid_request", 422, detail="options: a list field's choices, and only a list's")
        defined = ev.FieldDefined(
            field_id=body.id,
            label_es=body.label_es,
            label_en=body.label_en,
            kind=body.kind,
            options=body.options,
            categories=body.categories,
            by=_actor(who),
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await store.save_field(conn, body.id, defined.model_dump_json())
            await self._publish(conn, defined, body.id, who)
        return defined

    async def remove_field(self, field_id: str, who: Principal) -> None:
        if who.role != "admin":
            raise CommandRejected("forbidden_role", 403, role=who.role, allowed="admin")
        async with self.pool.acquire() as conn, conn.transaction():
            if not await store.field_exists(conn, field_id):
                raise CommandRejected("invalid_request", 404, detail=f"no field {field_id}")
            await store.remove_field(conn, field_id)
            await self._publish(conn, ev.FieldRemoved(field_id=field_id, by=_actor(who)), field_id, who)


def _may_change(owner: str | None, who: Principal) -> bool:
    """A shared macro is its keepers'; a personal one its agent's."""
    return who.role in KEEPERS if owner is None else owner == who.sub


def _actor(who: Principal) -> str:
    return f"{who.role}:{who.sub}"

"""Routing's admin API: the roster, and moving a ticket by hand. Roster changes are published to
agent.events (through the outbox) and applied when consumed back, so the roster, too, is a fold
of its log. Who acts comes from the bearer token: supervisors, admins and services change the
roster and reassign; staff and auditors read it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field

from services.routing import store
from services.routing.handlers import NAME, Rejected, Routing
from shared.domain.events import Envelope, Payload
from shared.domain.events import catalogue as ev
from shared.domain.events.catalogue import Category, Line, Shift, StorableModel
from shared.domain.principal import Principal
from shared.platform import outbox
from shared.platform.auth import Authenticator, install, requires
from shared.platform.topics import AGENT_EVENTS

AgentId = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.@-]+$")]


class AgentIn(StorableModel):
    model_config = ConfigDict(extra="forbid")
    id: AgentId
    name: Line
    email: Annotated[str, Field(min_length=3, max_length=300, pattern=r"^[^\s@]+@[^\s@]+\.[^\s@]+$")]
    skills: Annotated[list[Category], Field(min_length=1)]
    proficiency: dict[Category, Annotated[int, Field(ge=1, le=5)]] = Field(default_factory=dict)
    level: Annotated[int, Field(ge=1, le=3)] = 1
    capacity: Annotated[int, Field(ge=1, le=200)] = 10
    availability: Literal["online", "away", "offline"] = "online"
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2}$")]] = Field(default_factory=lambda: ["es"])
    teams: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(default_factory=list)
    shift: Shift | None = None


class AgentPatch(StorableModel):
    model_config = ConfigDict(extra="forbid")
    skills: list[Category] | None = None
    proficiency: dict[Category, Annotated[int, Field(ge=1, le=5)]] | None = None
    level: Annotated[int, Field(ge=1, le=3)] | None = None
    capacity: Annotated[int, Field(ge=1, le=200)] | None = None
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2}$")]] | None = None
    teams: list[Annotated[str, Field(min_length=1, max_length=300)]] | None = None
    shift: Shift | None = None


class Availability(StorableModel):
    model_config = ConfigDict(extra="forbid")
    availability: Literal["online", "away", "offline"]
    reason: Annotated[str, Field(max_length=300)] = ""


class Removal(StorableModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(max_length=300)] = ""


class Reassign(StorableModel):
    model_config = ConfigDict(extra="forbid")
    agent_id: AgentId
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


Manager = Annotated[Principal, Depends(requires("supervisor", "admin", "service", scope="roster:write"))]
Reader = Annotated[Principal, Depends(requires("agent", "supervisor", "auditor", "admin", "service"))]


def create_app(routing: Routing, auth: Authenticator) -> FastAPI:
    app = FastAPI(title="Mesa routing", description="Plantilla y asignación. Roster and assignment.")
    install(app, auth)
    topic = routing.settings.topic(AGENT_EVENTS)

    async def publish(payload: Payload, agent_id: str, who: Principal) -> dict[str, str]:
        env = Envelope.new(payload, source=NAME, subject=agent_id, time=routing.clock.now(), actor=str(who.actor()))
        async with routing.pool.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, topic, env)
        return {"event_id": str(env.id), "type": env.type}

    async def known(agent_id: str) -> bool:
        return await store.on_roster(routing.pool, agent_id)

    def not_found(agent_id: str) -> JSONResponse:
        return _error(404, "not_found", f"El agente {agent_id} no existe. Agent {agent_id} does not exist.")

    @app.get("/agents", tags=["roster"])
    async def agents(_: Reader) -> list[dict[str, Any]]:
        return await store.roster(routing.pool)

    @app.post("/agents", status_code=202, tags=["roster"])
    async def register(body: AgentIn, who: Manager) -> dict[str, str]:
        payload = ev.AgentRegistered(
            agent_id=body.id,
            name=body.name,
            email=body.email,
            skills=tuple(body.skills),
            proficiency=body.proficiency,
            level=body.level,
            capacity=body.capacity,
            availability=body.availability,
            languages=tuple(body.languages),
            teams=tuple(body.teams),
            shift=body.shift,
        )
        return await publish(payload, body.id, who)

    @app.patch("/agents/{agent_id}", status_code=202, tags=["roster"])
    async def update(agent_id: str, body: AgentPatch, who: Manager) -> JSONResponse:
        if not await known(agent_id):
            return not_found(agent_id)
        payload = ev.AgentUpdated(
            agent_id=agent_id,
            skills=tuple(body.skills) if body.skills is not None else None,
            proficiency=body.proficiency,
            level=body.level,
            capacity=body.capacity,
            languages=tuple(body.languages) if body.languages is not None else None,
            teams=tuple(body.teams) if body.teams is not None else None,
            shift=body.shift,
        )
        return JSONResponse(await publish(payload, agent_id, who), 202)

    @app.post("/agents/{agent_id}/availability", status_code=202, tags=["roster"])
    async def availability(agent_id: str, body: Availability, who: Manager) -> JSONResponse:
        if not await known(agent_id):
            return not_found(agent_id)
        payload = ev.AgentAvailabilityChanged(agent_id=agent_id, availability=body.availability, reason=body.reason)
        return JSONResponse(await publish(payload, agent_id, who), 202)

    @app.delete("/agents/{agent_id}", status_code=202, tags=["roster"])
    async def remove(agent_id: str, who: Manager) -> JSONResponse:
        if not await known(agent_id):
            return not_found(agent_id)
        return JSONResponse(await publish(ev.AgentRemoved(agent_id=agent_id), agent_id, who), 202)

    @app.post("/tickets/{ticket_id}/assign", tags=["assignment"])
    async def assign(ticket_id: str, body: Reassign, who: Manager) -> JSONResponse:
        """A supervisor moves a ticket to a chosen agent."""
        try:
            env = await routing.reassign(ticket_id, body.agent_id, body.reason, str(who.actor()))
        except Rejected as exc:
            return _error(409, "rejected", str(exc))
        return JSONResponse({"event_id": str(env.id), "type": env.type, "agent_id": body.agent_id})

    return app

"""Routing's admin API: the roster. Changes are published to agent.events (through the outbox)
and applied when consumed back, so the roster, too, is a fold of its log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.routing.handlers import NAME, Routing
from shared import outbox
from shared.events import Envelope, Payload
from shared.events import catalogue as ev
from shared.events.catalogue import Category
from shared.topics import AGENT_EVENTS


class AgentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.@-]+$")]
    name: Annotated[str, Field(min_length=1, max_length=300)]
    email: Annotated[str, Field(min_length=3, max_length=300)]
    skills: Annotated[list[Category], Field(min_length=1)]
    level: Annotated[int, Field(ge=1, le=3)] = 1
    capacity: Annotated[int, Field(ge=1, le=200)] = 10
    available: bool = True


class AgentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    skills: list[Category] | None = None
    level: Annotated[int, Field(ge=1, le=3)] | None = None
    capacity: Annotated[int, Field(ge=1, le=200)] | None = None


class Availability(BaseModel):
    model_config = ConfigDict(extra="forbid")
    available: bool
    reason: Annotated[str, Field(max_length=300)] = ""


def create_app(routing: Routing) -> FastAPI:
    app = FastAPI(title="Mesa routing", description="Roster and assignment. Plantilla y asignación.")
    topic = routing.settings.topic(AGENT_EVENTS)

    async def publish(payload: Payload, agent_id: str, actor: str | None) -> dict[str, str]:
        env = Envelope.new(
            payload, source=NAME, subject=agent_id, time=routing.clock.now(), actor=actor or "system:admin"
        )
        async with routing.pool.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, topic, env)
        return {"event_id": str(env.id), "type": env.type}

    @app.get("/agents", tags=["roster"])
    async def agents() -> list[dict[str, Any]]:
        return await routing.roster()

    @app.post("/agents", status_code=202, tags=["roster"])
    async def register(body: AgentIn, x_mesa_actor: Annotated[str | None, Header()] = None) -> dict[str, str]:
        payload = ev.AgentRegistered(
            agent_id=body.id,
            name=body.name,
            email=body.email,
            skills=tuple(body.skills),
            level=body.level,
            capacity=body.capacity,
            available=body.available,
        )
        return await publish(payload, body.id, x_mesa_actor)

    @app.patch("/agents/{agent_id}", status_code=202, tags=["roster"])
    async def update(
        agent_id: str, body: AgentPatch, x_mesa_actor: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        if not await routing.pool.fetchval("SELECT 1 FROM agents WHERE id = $1", agent_id):
            return JSONResponse({"error": "not_found", "message": f"agente {agent_id} no existe"}, 404)
        payload = ev.AgentUpdated(
            agent_id=agent_id,
            skills=tuple(body.skills) if body.skills is not None else None,
            level=body.level,
            capacity=body.capacity,
        )
        return JSONResponse(await publish(payload, agent_id, x_mesa_actor), 202)

    @app.post("/agents/{agent_id}/availability", status_code=202, tags=["roster"])
    async def availability(
        agent_id: str, body: Availability, x_mesa_actor: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        if not await routing.pool.fetchval("SELECT 1 FROM agents WHERE id = $1", agent_id):
            return JSONResponse({"error": "not_found", "message": f"agente {agent_id} no existe"}, 404)
        payload = ev.AgentAvailabilityChanged(agent_id=agent_id, available=body.available, reason=body.reason)
        return JSONResponse(await publish(payload, agent_id, x_mesa_actor), 202)

    return app

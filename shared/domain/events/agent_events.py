"""agent.events: the roster (routing writes it; intake, notify and the projections fold it)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from shared.domain.events.marks import Operational, Plain
from shared.domain.events.registry import Payload, event, upcaster
from shared.domain.events.vocabulary import Availability, Category, Id, Language, Proficiency, Shift, Short


@event("agent.registered", version=2, owner="routing", audience="staff")
class AgentRegistered(Payload):
    agent_id: Id
    name: Annotated[Short, Plain]  # staff: who handles tickets is not sealed
    email: Annotated[Short, Plain]
    skills: tuple[Category, ...]
    proficiency: dict[Category, Proficiency] = Field(default_factory=dict)  # 3 when not given
    level: Annotated[int, Field(ge=1, le=3)]
    capacity: Annotated[int, Field(ge=1, le=200)]  # the most weighted load the agent takes
    availability: Availability = "online"
    languages: tuple[Language, ...] = ("es",)
    teams: tuple[Short, ...] = ()
    shift: Shift | None = None


@upcaster("agent.registered", 1)
def _registered_v1(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k != "available"}
    out["availability"] = "online" if data.get("available", True) else "offline"
    return out


@event("agent.updated", owner="routing", audience="staff")
class AgentUpdated(Payload):
    """Only the fields given change."""

    agent_id: Id
    skills: tuple[Category, ...] | None = None
    proficiency: dict[Category, Proficiency] | None = None
    level: Annotated[int, Field(ge=1, le=3)] | None = None
    capacity: Annotated[int, Field(ge=1, le=200)] | None = None
    languages: tuple[Language, ...] | None = None
    teams: tuple[Short, ...] | None = None
    shift: Shift | None = None


@event("agent.availability_changed", version=2, owner="routing", audience="staff")
class AgentAvailabilityChanged(Payload):
    agent_id: Id
    availability: Availability
    reason: Annotated[str, Field(max_length=300), Operational] = ""


@upcaster("agent.availability_changed", 1)
def _availability_v1(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k != "available"}
    out["availability"] = "online" if data.get("available") else "offline"
    return out


@event("agent.removed", owner="routing", audience="staff")
class AgentRemoved(Payload):
    agent_id: Id
    reason: Annotated[str, Field(max_length=300), Operational] = ""

"""Notify's admin API: webhook subscriptions for other internal systems."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field, HttpUrl

from services.notify import ledger
from services.notify.audience import Preferences
from services.notify.handlers import Notify
from services.notify.targets import TargetRefused, check_target
from shared.domain.events import known_types
from shared.domain.events.catalogue import LineId, StorableModel
from shared.domain.principal import AuthError, Principal
from shared.platform.auth import Authenticator, Caller, install, requires


class SubscriptionIn(StorableModel):
    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.-]+$")]
    url: HttpUrl
    secret: Annotated[str, Field(min_length=16, max_length=200)]
    event_types: Annotated[list[str], Field(min_length=1)]


class PreferencesIn(StorableModel):
    model_config = ConfigDict(extra="forbid")
    language: Annotated[str, Field(pattern=r"^(es|en)$")] | None = None
    periodic_updates: bool = True


Integrator = Annotated[Principal, Depends(requires("admin", "service", scope="webhooks:write"))]
BounceReporter = Annotated[Principal, Depends(requires("service", scope="mail:bounces"))]


class BounceIn(StorableModel):
    model_config = ConfigDict(extra="forbid")
    event_id: UUID
    address: LineId
    reason: Annotated[str, Field(max_length=1000)] = "bounced"


def create_app(notify: Notify, auth: Authenticator) -> FastAPI:
    app = FastAPI(title="Mesa notify", description="Webhooks: suscripciones de otros sistemas. Subscriptions.")
    install(app, auth)

    def may_set(who: Principal, requester: str) -> None:
        who.need("tickets:act-for-requester")
        if not (who.role in ("admin", "service", "supervisor") or (who.role == "requester" and who.sub == requester)):
            raise AuthError(403, "forbidden_role", role=who.role, allowed="the requester themself, admin, service")

    @app.get("/webhooks", tags=["webhooks"])
    async def subscriptions(_: Integrator) -> list[dict[str, Any]]:
        return await ledger.subscriptions(notify.pool)

    @app.post("/webhooks", status_code=201, tags=["webhooks"])
    async def subscribe(body: SubscriptionIn, _: Integrator) -> JSONResponse:
        unknown = [t for t in body.event_types if t != "*" and t not in known_types()]
        if unknown:
            message = f"tipos de evento desconocidos / unknown event types: {', '.join(unknown)}"
            return JSONResponse({"error": "unknown_event_type", "message": message}, 422)
        try:
            await check_target(str(body.url), notify.webhook_hosts)
        except TargetRefused as exc:
            return JSONResponse(
                {"error": "webhook_target", "message": f"destino no permitido / target refused: {exc}"}, 422
            )
        await ledger.subscribe(notify.pool, body.id, str(body.url), body.secret, body.event_types)
        return JSONResponse({"id": body.id, "active": True}, 201)

    @app.post("/webhooks/{subscription_id}/resume", tags=["webhooks"])
    async def resume(subscription_id: str, _: Integrator) -> JSONResponse:
        if not await ledger.resume(notify.pool, subscription_id):
            return JSONResponse({"error": "not_found", "message": f"no subscription {subscription_id}"}, 404)
        return JSONResponse({"id": subscription_id, "active": True})

    @app.post("/bounces", tags=["mail"], status_code=202)
    async def bounce(body: BounceIn, _: BounceReporter) -> JSONResponse:
        """A mail Mesa sent came back (the inbound mail service read the delivery report): it is
        recorded as failed and the ticket's owner (else the supervisors) hears of it."""
        if not await notify.deliverer.bounced(body.event_id, body.address, body.reason):
            return JSONResponse({"error": "not_found", "message": "no such mail sent / no se envió ese correo"}, 404)
        return JSONResponse({"event_id": str(body.event_id), "status": "failed"}, 202)

    @app.put("/preferences/{requester}", tags=["preferences"])
    async def set_preferences(requester: str, body: PreferencesIn, who: Caller) -> dict[str, Any]:
        """A requester's language for messages and whether they want periodic status updates."""
        may_set(who, requester)
        await ledger.set_preferences(notify.pool, requester, body.language, body.periodic_updates)
        return {"requester": requester, "language": body.language, "periodic_updates": body.periodic_updates}

    @app.get("/preferences/{requester}", tags=["preferences"])
    async def get_preferences(requester: str, who: Caller) -> dict[str, Any]:
        if not (who.reads_all or who.sub == requester):
            raise AuthError(403, "forbidden_role", role=who.role, allowed="the requester themself, admin, service")
        async with notify.pool.acquire() as conn:
            prefs = await ledger.preferences(conn, requester) or Preferences()
        return {"requester": requester, "language": prefs.language, "periodic_updates": prefs.periodic_updates}

    return app

"""Intake's HTTP API: `POST /tickets` and `POST /tickets/{id}/{command}`.

Who acts comes from the `X-Mesa-Actor: role:id` header (JWTs replace it with the security
work); the language of error messages from `Accept-Language` (Spanish unless English is asked).
Errors are `{"error": code, "message": text}` with 400/403/404/409/413/415/422.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from services.intake import attachments as att
from services.intake.domain import CommandRejected
from services.intake.handlers import Intake, Outcome, load_attachment, store_attachment
from shared.commands import TICKET_COMMANDS, Actor, OpenTicket
from shared.events.catalogue import Attachment
from shared.i18n import pick_language, t
from shared.ticket import Ticket


class ApiError(Exception):
    def __init__(self, status: int, code: str, **params: object) -> None:
        self.status, self.code, self.params = status, code, params


def _lang(request: Request) -> str:
    return pick_language(request.headers.get("accept-language"))


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


def _actor(raw: str | None, default: Actor | None = None) -> Actor:
    if not raw:
        if default is None:
            raise ApiError(400, "bad_actor")
        return default
    try:
        return Actor.parse(raw)
    except ValueError:
        raise ApiError(400, "bad_actor") from None


def _version(if_match: str | None) -> int | None:
    if not if_match or if_match.strip() == "*":
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "invalid_request", detail=f"If-Match {if_match!r} is not a ticket version") from None


def ticket_body(ticket: Ticket, outcome: Outcome | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": ticket.id,
        "status": ticket.status.value,
        "category": ticket.category.value,
        "priority": ticket.priority.value,
        "owner": ticket.owner,
        "level": ticket.level,
        "version": ticket.version,
    }
    if outcome is not None:
        body["events"] = [{"id": str(e.id), "type": e.type} for e in outcome.events]
    return body


def create_app(intake: Intake, public_url: str) -> FastAPI:
    app = FastAPI(
        title="Mesa intake",
        description="Abrir tickets y actuar sobre ellos. Open tickets and act on them.",
        version="1",
    )

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, t(exc.code, _lang(request), **exc.params))

    @app.exception_handler(CommandRejected)
    async def rejected(request: Request, exc: CommandRejected) -> JSONResponse:
        return _error(exc.http_status, exc.code, exc.message(_lang(request)))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in exc.errors()[:10]
        )
        return _error(422, "invalid_request", t("invalid_request", _lang(request), detail=detail))

    @app.post("/tickets", status_code=201, tags=["tickets"])
    async def open_ticket(
        request: Request,
        x_mesa_actor: Annotated[str | None, Header()] = None,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> Response:
        """Open a ticket: JSON, or multipart/form-data with the same fields and `screenshots` files."""
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            fields, files = await _read_form(request)
            fields["attachments"] = [a.model_dump() for a in await _store_files(intake, files)]
        else:
            try:
                fields = json.loads(await request.body() or b"null")
            except json.JSONDecodeError as exc:
                raise ApiError(400, "invalid_request", detail=f"body is not JSON: {exc}") from None
            if not isinstance(fields, dict):
                raise ApiError(400, "invalid_request", detail="body must be a JSON object")
        try:
            cmd = OpenTicket.model_validate(fields)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        actor = _actor(x_mesa_actor, Actor("requester", cmd.requester))
        outcome, created = await intake.open(cmd, actor, idempotency_key=idempotency_key)
        body = ticket_body(outcome.ticket, outcome)
        body["category_guessed"] = cmd.category is None
        location = f"{public_url}/tickets/{outcome.ticket.id}"
        return JSONResponse(
            body,
            status_code=201 if created else 200,
            headers={"Location": location, "ETag": f'"{outcome.ticket.version}"'},
        )

    @app.post("/tickets/{ticket_id}/{command}", tags=["tickets"])
    async def run_command(
        ticket_id: str,
        command: str,
        request: Request,
        x_mesa_actor: Annotated[str | None, Header()] = None,
        if_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        """Comment, request-info, reply, resolve, confirm, reject, reopen, close, feedback, escalate."""
        model = TICKET_COMMANDS.get(command)
        if model is None:
            raise ApiError(404, "unknown_command", command=command, valid=", ".join(TICKET_COMMANDS))
        raw = await request.body()
        try:
            data = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            raise ApiError(400, "invalid_request", detail=f"body is not JSON: {exc}") from None
        try:
            cmd = model.model_validate(data)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        actor = _actor(x_mesa_actor)
        outcome = await intake.command(ticket_id, cmd, actor, expected_version=_version(if_match))
        return JSONResponse(ticket_body(outcome.ticket, outcome), headers={"ETag": f'"{outcome.ticket.version}"'})

    @app.get("/attachments/{sha256}", tags=["tickets"])
    async def attachment(sha256: str) -> Response:
        found = await load_attachment(intake.pool, sha256)
        if found is None:
            return _error(404, "not_found", "attachment not found")
        ctype, content = found
        return Response(content, media_type=ctype, headers={"X-Content-Type-Options": "nosniff"})

    return app


async def _read_form(request: Request) -> tuple[dict[str, Any], list[UploadFile]]:
    form = await request.form(max_files=att.MAX_FILES, max_fields=50)
    fields: dict[str, Any] = {}
    files: list[UploadFile] = []
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields[key] = value
        elif key in ("screenshots", "attachments", "files"):
            files.append(value)
    return fields, files


async def _store_files(intake: Intake, files: list[UploadFile]) -> list[Attachment]:
    out = []
    for f in files:
        content = await f.read(att.MAX_BYTES + 1)
        name = (f.filename or "archivo")[:300]
        if len(content) > att.MAX_BYTES:
            raise ApiError(413, "attachment_too_large", filename=name, limit_mb=att.MAX_BYTES // 2**20)
        ctype = att.sniff(content)
        if ctype is None:
            raise ApiError(415, "attachment_type", filename=name)
        sha = att.digest(content)
        await store_attachment(intake.pool, sha, ctype, content)
        out.append(Attachment(sha256=sha, filename=name, content_type=ctype, size=len(content)))
    return out

"""Intake's HTTP API: `POST /tickets` and `POST /tickets/{id}/{command}`.

Who acts comes from the bearer token (`shared.platform.auth`): a requester opens and acts on their own
tickets, staff work them, a `service` token acts for any requester (named in the body), auditors
only read. The language of error messages comes from `Accept-Language` (Spanish unless English
is asked). Errors are `{"error": code, "message": text}` with 400/401/403/404/409/413/415/422.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from services.intake import attachments as att
from services.intake.domain import CommandRejected
from services.intake.handlers import Intake, Outcome
from services.intake.improvement import ActionIn, ActionUpdateIn, FindingIn, Improvement, ReviewIn
from services.intake.store import load_attachment, record_upload, store_attachment
from services.intake.workspace_admin import FieldIn, MacroIn, Workspace
from shared.domain.commands import OTHER_TICKET, TICKET_COMMANDS, WITH_FILES, Actor, OpenTicket, Write
from shared.domain.events.catalogue import Attachment, Id, Short, StorableModel
from shared.domain.i18n import pick_language, t
from shared.domain.principal import AuthError, Principal, command_scope
from shared.domain.ticket import Ticket
from shared.platform.auth import Authenticator, Caller, install, requires
from shared.platform.http_guard import BadBody, RateLimiter, read_json


class ApiError(Exception):
    def __init__(self, status: int, code: str, **params: object) -> None:
        self.status, self.code, self.params = status, code, params


def _lang(request: Request) -> str:
    return pick_language(request.headers.get("accept-language"))


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


def _version(if_match: str | None) -> int | None:
    if not if_match or if_match.strip() == "*":
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "invalid_request", detail=f"If-Match {if_match!r} is not a ticket version") from None


class ErasureRequest(StorableModel):
    requester: Id  # their sign-in id (email) or pseudonym (R-...)
    reason: Short  # e.g. the request's reference: kept with the erasure for auditors


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
        body["masked"] = list(outcome.masked)
    return body


def create_app(intake: Intake, public_url: str, auth: Authenticator) -> FastAPI:
    app = FastAPI(
        title="Mesa intake",
        description="Abrir tickets y actuar sobre ellos. Open tickets and act on them.",
        version="1",
    )
    install(app, auth)
    limiter = RateLimiter(
        intake.settings.open_rate_per_minute, burst=max(1, int(2 * intake.settings.open_rate_per_minute))
    )

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, t(exc.code, _lang(request), **exc.params))

    @app.exception_handler(CommandRejected)
    async def rejected(request: Request, exc: CommandRejected) -> JSONResponse:
        return _error(exc.http_status, exc.code, exc.message(_lang(request)))

    open_schema = OpenTicket.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = open_schema.pop("$defs", {})

    @app.post(
        "/tickets",
        status_code=201,
        tags=["tickets"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": open_schema},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                **open_schema["properties"],
                                "screenshots": {"type": "array", "items": {"type": "string", "format": "binary"}},
                            },
                            "required": ["subject", "description"],
                        }
                    },
                },
            }
        },
    )
    async def open_ticket(
        request: Request,
        who: Caller,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> Response:
        """Open a ticket: JSON, or multipart/form-data with the same fields and `screenshots` files.

        A requester's ticket is in their own name (`requester` may be left out); staff and
        services open on someone's behalf and must name them."""
        actor = who.need(command_scope("open")).actor()  # auditors are refused before anything is stored
        if who.role != "service":  # other systems open in bulk; people are limited
            wait = limiter.take(f"{who.role}:{who.sub}")
            if wait:
                lang = _lang(request)
                return JSONResponse(
                    {"error": "rate_limited", "message": t("rate_limited", lang, seconds=int(wait))},
                    status_code=429,
                    headers={"Retry-After": str(int(wait))},
                )
        ctype = request.headers.get("content-type", "")
        uploads: list[tuple[Attachment, bytes]] = []
        if ctype.startswith("multipart/form-data"):
            fields, files = await _read_form(request)
            uploads = await _read_files(files)
            fields["attachments"] = [a.model_dump() for a, _ in uploads]
        else:
            try:
                fields = read_json(await request.body() or b"null")
            except BadBody as exc:
                raise ApiError(400, "invalid_request", detail=exc.reason) from None
            if not isinstance(fields, dict):
                raise ApiError(400, "invalid_request", detail="body must be a JSON object")
        if who.role == "requester" and fields.setdefault("requester", who.sub) != who.sub:
            raise AuthError(403, "requester_mismatch", sub=who.sub)
        try:
            cmd = OpenTicket.model_validate(fields)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        # a key is the caller's own: another caller's same key is another key
        scoped = f"{who.role}:{who.sub}\n{idempotency_key}" if idempotency_key else None
        for attachment, content in uploads:  # stored only once the command is valid
            await store_attachment(intake.pool, attachment.sha256, attachment.content_type, content)
        outcome, created = await intake.open(
            cmd, actor, idempotency_key=scoped, uploaded=frozenset(a.sha256 for a, _ in uploads)
        )
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
        who: Caller,
        if_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        """Comment, request-info, reply, resolve, confirm, reject, reopen, close, feedback, escalate.

        JSON, or (comment, reply, reopen) multipart/form-data with the same fields and files
        (`screenshots`), checked as at opening."""
        model = TICKET_COMMANDS.get(command)
        if model is None:
            raise ApiError(404, "unknown_command", command=command, valid=", ".join(TICKET_COMMANDS))
        who.need(command_scope(command))
        uploads: list[tuple[Attachment, bytes]] = []
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            # a screenshot with a comment, an answer or a reopening: the same checks as at opening
            data, files = await _read_form(request)
            if files and command not in WITH_FILES:
                raise ApiError(422, "no_files_here", command=command, valid=", ".join(sorted(WITH_FILES)))
            uploads = await _read_files(files)
            if uploads:
                data["attachments"] = [a.model_dump() for a, _ in uploads]
        else:
            raw = await request.body()
            try:
                data = read_json(raw) if raw.strip() else {}
            except BadBody as exc:
                raise ApiError(400, "invalid_request", detail=exc.reason) from None
        try:
            cmd = model.model_validate(data)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        actor = who.actor()
        await _readable(intake, ticket_id, who)
        if (field := OTHER_TICKET.get(type(cmd))) is not None:  # a link or a merge: the other one too
            await _readable(intake, getattr(cmd, field), who)
        for attachment, content in uploads:  # stored only once the command is valid and allowed
            await store_attachment(intake.pool, attachment.sha256, attachment.content_type, content)
        uploaded = frozenset(a.sha256 for a, _ in uploads)
        if isinstance(cmd, Write):  # where the ticket stands decides what the words are
            outcome = await intake.write(ticket_id, cmd, actor, uploaded=uploaded)
        else:
            outcome = await intake.command(
                ticket_id, cmd, actor, expected_version=_version(if_match), uploaded=uploaded
            )
        return JSONResponse(ticket_body(outcome.ticket, outcome), headers={"ETag": f'"{outcome.ticket.version}"'})

    @app.post("/uploads", tags=["tickets"], status_code=201)
    async def upload(request: Request, who: Caller) -> JSONResponse:
        """Files another system sends ahead of the command that shows them (a mail's attachments:
        mailin), multipart `screenshots`, checked as any upload. Only that system may show them on
        a ticket, within an hour; a file no ticket shows by then is deleted."""
        if who.role != "service":
            raise AuthError(403, "forbidden_role", role=who.role, allowed="service")
        if not ({"tickets:open", "tickets:act-for-requester"} & who.scopes):
            raise AuthError(403, "missing_scope", scope="tickets:open")
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise ApiError(415, "invalid_request", detail="multipart/form-data with files")
        _fields, files = await _read_form(request)
        uploads = await _read_files(files)
        for attachment, content in uploads:
            await store_attachment(intake.pool, attachment.sha256, attachment.content_type, content)
            await record_upload(intake.pool, attachment.sha256, who.sub)
        return JSONResponse({"files": [a.model_dump() for a, _ in uploads]}, 201)

    @app.get("/tickets/{ticket_id}/attachments/{sha256}", tags=["tickets"])
    async def attachment(ticket_id: str, sha256: str, who: Caller) -> Response:
        """A file shown on the ticket, to whoever may read the ticket (requesters: not internal notes')."""
        who.need("tickets:read")
        await _readable(intake, ticket_id, who)
        found = await load_attachment(
            intake.pool, ticket_id, sha256, public_only=not who.is_staff and not who.reads_all
        )
        if found is None:
            raise ApiError(404, "attachment_not_found")
        await intake.record_download(ticket_id, who)
        ctype, content = found
        # never rendered as a page of ours (an <img> still shows an image): no stored script runs
        return Response(
            content,
            media_type=ctype,
            headers={
                "X-Content-Type-Options": "nosniff",
                "Content-Disposition": f'attachment; filename="{sha256[:16]}"',
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "private, max-age=3600",
            },
        )

    @app.post("/erasures", tags=["privacy"], status_code=200)
    async def erase(body: ErasureRequest, who: Annotated[Principal, Depends(requires("admin"))]) -> dict[str, Any]:
        """Erase a requester's personal data (right to erasure): their data key is deleted, so the
        text sealed with it cannot be read in any copy of the log; their open tickets are closed
        and each of their tickets records `ticket.requester_erased`. Administrators only."""
        done = await intake.erase(body.requester, Actor("supervisor", who.sub), body.reason)
        if done is None:
            raise ApiError(404, "erasure_unknown", requester=body.requester)
        return {"requester": done.requester, "tickets": done.tickets}

    workspace = Workspace(intake.settings, intake.pool, intake.clock)

    @app.post("/macros", tags=["workspace"], status_code=201)
    async def save_macro(body: MacroIn, who: Caller) -> dict[str, Any]:
        """Create or change a macro: shared (supervisors and admins) or your own (`"shared":
        false`, any agent). Text in Spanish and English with {{requester.name}}, {{ticket.id}},
        {{ticket.order_id}}, {{agent.name}}; `actions` may make it an internal note, ask and wait
        for the customer or resolve, and set category, impact, urgency and tags."""
        who.need("tickets:act")
        macro = await workspace.save_macro(body, who)
        return {"id": macro.macro_id, "shared": macro.owner is None}

    @app.delete("/macros/{macro_id}", tags=["workspace"], status_code=204)
    async def remove_macro(macro_id: str, who: Caller) -> Response:
        who.need("tickets:act")
        await workspace.remove_macro(macro_id[:40], who)
        return Response(status_code=204)

    @app.post("/fields", tags=["workspace"], status_code=201)
    async def define_field(body: FieldIn, who: Caller) -> dict[str, Any]:
        """Define (or change) a custom field for tickets of some categories (all, when none):
        text, number, date, list (with `options`) or order number. Administrators only."""
        defined = await workspace.define_field(body, who)
        return {"id": defined.field_id}

    @app.delete("/fields/{field_id}", tags=["workspace"], status_code=204)
    async def remove_field(field_id: str, who: Caller) -> Response:
        await workspace.remove_field(field_id[:40], who)
        return Response(status_code=204)

    improvement = Improvement(intake.settings, intake.pool, intake.clock)

    @app.post("/reviews", tags=["improvement"], status_code=201)
    async def open_review(body: ReviewIn, who: Caller) -> dict[str, Any]:
        """Open a period's audit with its sample and figures (clause 12). Only the projections'
        schedule (a service token with `audits:open`) opens one: the figures are the read
        model's, never typed. Once per review id (409 after)."""
        opened = await improvement.open_review(body, who)
        return {"id": opened.review_id}

    @app.post("/findings", tags=["improvement"], status_code=201)
    async def record_finding(body: FindingIn, who: Caller) -> dict[str, Any]:
        """Record what an audit found (`review_id`, optional), about these tickets. Supervisors,
        auditors and admins."""
        found = await improvement.record_finding(body, who)
        return {"id": found.finding_id}

    @app.post("/actions", tags=["improvement"], status_code=201)
    async def plan_action(body: ActionIn, who: Caller) -> dict[str, Any]:
        """Plan an improvement action: what, its owner (someone of the team), its due date, the
        finding and tickets it answers. Supervisors and admins."""
        planned = await improvement.plan_action(body, who)
        return {"id": planned.action_id, "status": "open"}

    @app.post("/actions/{action_id}/status", tags=["improvement"])
    async def update_action(action_id: str, body: ActionUpdateIn, who: Caller) -> dict[str, Any]:
        """Move an action on (open, in_progress, done, dropped), with a note. Its owner,
        supervisors and admins."""
        updated = await improvement.update_action(action_id[:20], body, who)
        return {"id": updated.action_id, "status": updated.status}

    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        # the request body above refers to these by #/components/schemas/<name>
        doc = base_openapi()
        doc.setdefault("components", {}).setdefault("schemas", {}).update(
            {k: v for k, v in defs.items() if k not in doc["components"]["schemas"]}
        )
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
    return app


async def _readable(intake: Intake, ticket_id: str, who: Principal) -> None:
    """What one cannot read one cannot change nor download (the one access rule): it answers as a
    missing ticket, so nobody learns that it exists, who owns it, or its priority."""
    if await intake.readable(ticket_id, who) is None:
        raise CommandRejected("not_found", 404, ticket_id=ticket_id)


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


async def _read_files(files: list[UploadFile]) -> list[tuple[Attachment, bytes]]:
    """Each uploaded file checked (size, type by content) and cleaned (metadata removed); not
    stored yet."""
    out = []
    for f in files:
        content = await f.read(att.MAX_BYTES + 1)
        # only the last part of a name: "../../etc/passwd.png" is just "passwd.png" (nothing is ever
        # written to disk by name, but names are shown and downloaded)
        name = PurePosixPath((f.filename or "").replace("\\", "/")).name.strip()[:300] or "archivo"
        if len(content) > att.MAX_BYTES:
            raise ApiError(413, "attachment_too_large", filename=name, limit_mb=att.MAX_BYTES // 2**20)
        ctype = att.sniff(content)
        if ctype is None:
            raise ApiError(415, "attachment_type", filename=name)
        try:
            content = att.strip_metadata(content, ctype)
        except ValueError:
            raise ApiError(415, "attachment_type", filename=name) from None
        sha = att.digest(content)
        out.append((Attachment(sha256=sha, filename=name, content_type=ctype, size=len(content)), content))
    return out

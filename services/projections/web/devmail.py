"""The development mailbox: what the dev mail sink received, for staff only, with the dev login."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.projections.web.site import PageError, Site, Web

DEV_MAIL_READERS = ("agent", "supervisor", "admin")
router = APIRouter(include_in_schema=False)


def mails(web: Web) -> list[tuple[str, EmailMessage]]:
    if not (web.settings.dev_login and web.mail_dir and web.mail_dir.is_dir()):
        raise PageError(404, "not_found")
    found = []
    for p in sorted(web.mail_dir.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True)[:300]:
        msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        found.append((p.stem, msg))
    return found


@router.get("/dev/correo")
async def dev_mail(web: Site, request: Request) -> Response:
    web.need(request, *DEV_MAIL_READERS)  # every mail of every person: staff only, even here
    rows = [
        {"name": name, "to": m["To"], "subject": m["Subject"], "date": m["Date"], "ticket": m["X-Mesa-Ticket"]}
        for name, m in mails(web)
    ]
    return web.render(request, "dev_mail.html", rows=rows, message=None)


@router.get("/dev/correo/{name}")
async def dev_mail_one(web: Site, request: Request, name: str) -> Response:
    web.need(request, *DEV_MAIL_READERS)
    found = dict(mails(web)).get(name)
    if found is None:
        raise PageError(404, "not_found")
    part = found.get_body(preferencelist=("plain",))
    body = part.get_content() if part is not None else ""
    message = {"to": found["To"], "subject": found["Subject"], "date": found["Date"], "body": body}
    return web.render(request, "dev_mail.html", rows=[], message=message)

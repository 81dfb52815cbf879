"""Where a customer's mail goes, pure: the ticket its reply token names, else the ticket a Mesa
thread it answers names, else a new ticket. Intake decides what the words are on that ticket (an
answer, a comment, a reopening) and whether the sender may write there at all (a stranger in
someone else's thread starts a ticket of their own)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.mailin.parse import Mail
from shared.domain.reply_tokens import ticket_of


@dataclass(frozen=True)
class Open:
    """A new ticket from this mail."""


@dataclass(frozen=True)
class WriteTo:
    ticket_id: str
    by: str  # what joined it: the reply token, or the thread (References)


Route = Open | WriteTo


def route(mail: Mail, support: str, key: bytes, mail_domain: str) -> Route:
    for address in mail.recipients:
        if (ticket_id := ticket_of(address, support, key)) is not None:
            return WriteTo(ticket_id, "reply token")
    thread = re.compile(rf"<ticket\.(T-[0-9A-HJKMNP-TV-Z]{{8}})@{re.escape(mail_domain)}>", re.IGNORECASE)
    for ref in reversed(mail.references):  # the most recent message answered first
        if (m := thread.fullmatch(ref)) is not None:
            return WriteTo(m.group(1).upper(), "thread")
    return Open()


def request_id(mail: Mail, raw_digest: str) -> str:
    """The request's CloudEvents id: the mail's Message-ID (an MTA's retry is the same mail), else
    the hash of its bytes."""
    return (mail.message_id or f"<sha256:{raw_digest}>")[:256]

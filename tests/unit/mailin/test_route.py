"""Where a mail goes: the ticket its reply token names, else the Mesa thread it answers, else a
new ticket."""

from __future__ import annotations

from services.mailin.domain import Open, WriteTo, request_id, route
from services.mailin.parse import Mail
from shared.domain.reply_tokens import reply_address

KEY = b"k" * 32
SUPPORT = "soporte@mesa.local"


def a_mail(recipients: tuple[str, ...] = (SUPPORT,), references: tuple[str, ...] = (), message_id: str = "") -> Mail:
    return Mail("laura@example.com", recipients, "s", "t", message_id, references, "es")


def test_the_reply_token_decides() -> None:
    token = reply_address(SUPPORT, "T-0123ABCD", KEY)
    assert route(a_mail((SUPPORT, token)), SUPPORT, KEY, "mesa.local") == WriteTo("T-0123ABCD", "reply token")


def test_without_a_token_the_thread_decides_and_a_forged_token_opens_a_ticket() -> None:
    thread = ("<a@x>", "<ticket.T-0123ABCD@mesa.local>", "<ticket.T-9999ZZZZ@mesa.local>")
    assert route(a_mail(references=thread), SUPPORT, KEY, "mesa.local") == WriteTo("T-9999ZZZZ", "thread")
    assert route(a_mail(references=("<ticket.T-0123ABCD@evil.example>",)), SUPPORT, KEY, "mesa.local") == Open()
    forged = "soporte+T-0123ABCD.aaaaaaaaaaaa@mesa.local"
    assert route(a_mail((forged,)), SUPPORT, KEY, "mesa.local") == Open()


def test_the_request_id_is_the_message_id_else_the_mails_hash() -> None:
    assert request_id(a_mail(message_id="<m1@example.com>"), "abc") == "<m1@example.com>"
    assert request_id(a_mail(), "abc") == "<sha256:abc>"

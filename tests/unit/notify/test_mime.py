"""Mail bytes written by hand (services/notify/mime.py), read back by the standard parser: the
same headers, the same words, and no header a customer's text could add."""

from __future__ import annotations

import email
import email.policy

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from services.notify.mime import alternative, header

CONTROLS = "".join(chr(c) for c in [*range(0, 9), *range(10, 32), 127])
words = st.text(st.characters(blacklist_characters=CONTROLS, blacklist_categories=["Cs"]), max_size=400)


def read(raw: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


@given(subject=words, text=words, html=words)
@example(subject="Pedido 123 sin noticias", text="Hola,\n\n.\nUn punto solo en su línea", html="<p>ñ</p>")
@example(subject="ñ" * 300, text="", html="")
@example(subject="x" * 1200, text="a\r\nb", html="")
def test_what_is_written_is_what_a_mail_client_reads(subject: str, text: str, html: str) -> None:
    raw = alternative([("From", "Soporte Mesa <soporte@mesa.local>"), ("Subject", subject)], text, html)
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    msg = read(raw)
    assert " ".join(str(msg["Subject"]).split()) == " ".join(subject.split())
    assert msg["From"].addresses[0].addr_spec == "soporte@mesa.local"
    plain, rich = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and rich is not None
    assert plain.get_content() == text and rich.get_content() == html
    assert msg.get_content_type() == "multipart/alternative"


@given(before=words, after=words, brk=st.sampled_from(["\r\n", "\n", "\r", "\x00", "\x0b", "\x1b", "\x7f"]))
def test_a_line_break_or_control_character_in_a_header_is_refused(before: str, after: str, brk: str) -> None:
    with pytest.raises(ValueError, match="Subject"):
        header("Subject", f"{before}{brk}{after}")


def test_no_injected_header_reaches_the_message() -> None:
    with pytest.raises(ValueError):
        alternative([("Subject", "hola\r\nBcc: todos@example.com")], "", "")

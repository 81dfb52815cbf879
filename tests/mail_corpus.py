"""Mails as real clients write them (tests/data/mail/*.eml): Gmail, Outlook and Apple Mail
replies in Spanish and English, HTML-only, inline images, forwards, Latin-1 with RFC 2231 names,
an out-of-office. The parser's unit tests and the SMTP conversations into mailin read the same
files, so what is proven in one is what the other sends.

Each file is a `string.Template`: the headers name `${sender}`, `${to}`, `${message_id}` and, for
replies, `${subject}`, `${in_reply_to}` and `${references}` of the Mesa mail answered."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Literal

CORPUS = Path(__file__).parent / "data" / "mail"


@dataclass(frozen=True)
class Shape:
    name: str
    kind: Literal["new", "reply", "ignored"]
    starts: str = ""  # the new words the text must begin with
    never: tuple[str, ...] = ()  # words that must not be in the text (quoted history, signatures)
    subject: str = ""  # for new mails: the subject as read
    files: tuple[tuple[str, str], ...] = ()  # (file name, content type) in order
    language: str = "es"
    has: tuple[str, ...] = field(default_factory=tuple)  # words that must be in the text as well

    def render(self, **fields: str) -> bytes:
        text = (CORPUS / f"{self.name}.eml").read_text(encoding="utf-8")
        return Template(text).substitute(fields).replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


QUESTION = ("modelo es?", "Which model", "Soporte Mesa", "Mesa Support", "escribió", "wrote:")

SHAPES = (
    Shape("gmail_reply_es", "reply", starts="Es el modelo X1 de 64 GB, lo compré en octubre.", never=QUESTION),
    Shape(
        "gmail_reply_en",
        "reply",
        starts="It is the X1 model, 64 GB. I bought it in October.",
        never=QUESTION,
        language="en",
    ),
    Shape(
        "outlook_reply_es",
        "reply",
        starts="Buenos días, es el modelo X1. La compré en la tienda de Sevilla.",
        never=(*QUESTION, "Enviado:", "Asunto:"),
    ),
    Shape(
        "outlook_reply_en_with_screenshot",
        "reply",
        starts="Here is the screenshot of the error.",
        never=("Original Message", "Could you send", "Sent:"),
        files=(("image001.png", "image/png"),),
        language="en",
    ),
    Shape(
        "apple_reply_es",
        "reply",
        starts="Sí, es el modelo X1. Lo compré en octubre.",
        never=(*QUESTION, "Enviado desde mi iPhone"),
    ),
    Shape("apple_reply_en", "reply", starts="It is the X1 model, bought in October.", never=QUESTION, language="en"),
    Shape(
        "html_only_new",
        "new",
        subject="Pedido no entregado",
        has=("**pedido 4512**", "«entregado»"),
        never=("<", "alert(1)", "margin"),
    ),
    Shape(
        "inline_image_new",
        "new",
        subject="Error al pagar",
        starts="Al pagar sale esto:",
        has=("¿Qué hago?",),
        files=(("image.png", "image/png"),),
    ),
    Shape(
        "forwarded_new",
        "new",
        subject="Fwd: Su factura del pedido 4512",
        starts="Os reenvío la factura: el importe está mal, me cobrasteis dos veces el envío.",
        # a forward is not quoted history: what was forwarded is what support has to read
        has=("Adjuntamos la factura de su pedido 4512.",),
        files=(("factura-4512.pdf", "application/pdf"),),
    ),
    Shape(
        "latin1_rfc2231_new",
        "new",
        subject="Devolución del cargador",
        starts="El cargador no funciona desde el miércoles, ¿qué hago?",
        files=(("factura año.pdf", "application/pdf"),),
    ),
    Shape("out_of_office", "ignored"),
)


def shape(name: str) -> Shape:
    [found] = [s for s in SHAPES if s.name == name]
    return found

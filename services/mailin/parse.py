"""A mail as Mesa reads it, with the libraries that know mail: the standard `email` package with
`policy.default` (RFC 2047 and 2231 names, any declared charset), `html2text` for HTML-only mail,
and `mail-parser-reply` to cut quoted history and signatures in Spanish and English clients.
Pure: bytes in, a `Mail` (or why it is not one of ours to act on) out.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr

import html2text
from mailparser_reply import EmailReplyParser
from mailparser_reply.constants import MAIL_LANGUAGES, QUOTED_MATCH_INCLUDE

# mail-parser-reply's Spanish "El ... escribió:" wants two spaces before "escribió" (Gmail and
# Apple Mail write one): the library's table takes one more entry, the same line with one or none.
MAIL_LANGUAGES.setdefault("es_clients", {"wrote_header": r"^(" + QUOTED_MATCH_INCLUDE + r"El\s.+\s?escribi[óo]:)$"})
_REPLY_LANGUAGES = ["es", "es_clients", "en"]

MAX_FILES = 5
# A forward is not quoted history: what was forwarded (an invoice, a shop's mail) is what support
# has to read, so nothing of it is cut. Known by its subject or by the line clients put above it.
_FORWARD_SUBJECT = re.compile(r"^\s*(fwd?|rv|reenv(iado)?|tr|wg)\s*:", re.IGNORECASE)
_FORWARD_MARK = re.compile(
    r"^\s*(-{2,}\s*(forwarded message|mensaje reenviado)\s*-{2,}"
    r"|begin forwarded message:|inicio del mensaje reenviado:)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
# A signature stays (a name, a phone support may need); the device's "Enviado desde mi iPhone" goes.
_SENT_FROM = re.compile(
    r"\n\s*(?:" + MAIL_LANGUAGES["es"]["sent_from"] + "|" + MAIL_LANGUAGES["en"]["sent_from"] + r")[^\n]*\s*\Z",
    re.IGNORECASE,
)
# Auto-replies never become tickets or messages (RFC 3834 and the headers clients use instead).
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?(\s|-)?repl(y|ies)|respuesta autom[aá]tica|out of (the )?office|fuera de la oficina"
    r"|ausente|vacaciones|absence|abwesenheit|autoreply)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class File:
    filename: str
    content: bytes
    declared_type: str  # what the mail says; intake decides by the content


@dataclass(frozen=True)
class Mail:
    sender: str  # the From address, lower-cased
    recipients: tuple[str, ...]  # To, Cc and Delivered-To
    subject: str
    text: str  # the new words: quoted history and signatures cut
    message_id: str
    references: tuple[str, ...]  # In-Reply-To and References, in order
    language: str  # es or en, from the words
    files: tuple[File, ...] = field(default_factory=tuple)
    too_many_files: bool = False


@dataclass(frozen=True)
class Ignored:
    """Not a person writing to support: an auto-reply, a bulk or list mail, or a bounce."""

    why: str
    bounce_of: tuple[str, ...] = ()  # a delivery report: the addresses it says failed
    bounced_event: str = ""  # and the Mesa message it returns (its X-Mesa-Event), when it says


class Unreadable(ValueError):
    """A mail that cannot be parsed into words: kept (a dead letter) with this reason."""


def parse(raw: bytes) -> Mail | Ignored:
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception as exc:  # the parser is lenient; what it still refuses is kept, not lost
        raise Unreadable(f"not a mail: {type(exc).__name__}") from None
    assert isinstance(msg, EmailMessage)
    if (why := _automatic(msg)) is not None:
        return why
    sender = parseaddr(_header(msg, "From"))[1].lower()
    if "@" not in sender:
        raise Unreadable("no sender address (From)")
    recipients = tuple(
        a.lower()
        for _, a in getaddresses([_header(msg, h) for h in ("To", "Cc", "Delivered-To", "X-Original-To")])
        if "@" in a
    )
    subject = " ".join(_header(msg, "Subject").split())[:300]
    text = _text(msg, forwarded=bool(_FORWARD_SUBJECT.match(subject)))
    files, too_many = _files(msg)
    if not text.strip() and not files:
        raise Unreadable("no text and no files")
    references = tuple(re.findall(r"<[^<>\s]+>", f"{_header(msg, 'In-Reply-To')} {_header(msg, 'References')}"))
    return Mail(
        sender=sender,
        recipients=recipients,
        subject=subject,
        text=text,
        message_id=_header(msg, "Message-ID").strip(),
        references=references,
        language=language_of(f"{subject}\n{text}"),
        files=files,
        too_many_files=too_many,
    )


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a header the policy cannot parse reads as missing
        return ""
    return str(value) if value is not None else ""


def _automatic(msg: EmailMessage) -> Ignored | None:
    if msg.get_content_type() == "multipart/report" or msg.get_param("report-type") == "delivery-status":
        failed = tuple(
            a.lower()
            for part in msg.walk()
            if part.get_content_type() == "message/delivery-status"
            for a in re.findall(r"(?im)^final-recipient:\s*rfc822;\s*(\S+@\S+)\s*$", _payload_text(part))
        )
        returned = re.search(r"(?im)^x-mesa-event:\s*([0-9a-f-]{36})\s*$", _returned_headers(msg))
        return Ignored("delivery report (bounce)", failed, returned.group(1) if returned else "")
    auto = _header(msg, "Auto-Submitted").strip().lower()
    if auto and auto != "no":
        return Ignored(f"Auto-Submitted: {auto}")
    if _header(msg, "Precedence").strip().lower() in ("bulk", "junk", "list"):
        return Ignored(f"Precedence: {_header(msg, 'Precedence').strip().lower()}")
    for flag in ("X-Autoreply", "X-Autorespond"):
        if _header(msg, flag):
            return Ignored(f"{flag} present")
    if _header(msg, "List-Id") or _header(msg, "List-Unsubscribe"):
        return Ignored("a mailing list")
    sender = parseaddr(_header(msg, "From"))[1].lower()
    if sender.split("@")[0] in ("mailer-daemon", "postmaster", "noreply", "no-reply"):
        return Ignored(f"sent by {sender.split('@')[0]}")
    if _AUTO_SUBJECT.match(_header(msg, "Subject")):
        return Ignored("an out-of-office or automatic reply (by its subject)")
    return None


def _returned_headers(msg: EmailMessage) -> str:
    """The headers of the message a delivery report returns (message/rfc822 or text/rfc822-headers)."""
    for part in msg.walk():
        if part.get_content_type() == "text/rfc822-headers":
            return _payload_text(part)
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return "\n".join(f"{k}: {v}" for k, v in inner[0].items())
    return ""


def _payload_text(part: Message) -> str:
    payload = part.get_payload()
    if isinstance(payload, list):  # message/delivery-status holds header blocks as messages
        return "\n".join(str(p) for p in payload)
    return str(payload)


def _text(msg: EmailMessage, *, forwarded: bool) -> str:
    """The body's new words: the plain part (else the HTML one, as text), quoted history cut
    (not in a forward: there the history is the point)."""
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError):  # an unknown or lying charset: keep what decodes
        raw = part.get_payload(decode=True)
        content = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
    if not isinstance(content, str):
        return ""
    if part.get_content_type() == "text/html":
        converter = html2text.HTML2Text()
        converter.ignore_images = True
        converter.body_width = 0
        content = converter.handle(content)
    content = content.replace("\r\n", "\n")
    if forwarded or _FORWARD_MARK.search(content):
        return content.strip()
    new = EmailReplyParser(languages=_REPLY_LANGUAGES).parse_reply(text=content) or content
    return _SENT_FROM.sub("", new.strip()).strip()


def _files(msg: EmailMessage) -> tuple[tuple[File, ...], bool]:
    """Attachments and inline images (multipart/related), in order; at most MAX_FILES."""
    found: list[File] = []
    for part in msg.iter_attachments() if msg.is_multipart() else ():
        found += _files_of(part)
    for part in msg.walk():  # inline images in multipart/related are not "attachments"
        if part.get_content_maintype() == "image" and part.get("Content-ID") and part.get_filename() is None:
            data = part.get_payload(decode=True)
            if isinstance(data, bytes) and data:
                found.append(
                    File(f"imagen-{len(found) + 1}.{part.get_content_subtype()}", data, part.get_content_type())
                )
    unique = list({f.content: f for f in found}.values())
    return tuple(unique[:MAX_FILES]), len(unique) > MAX_FILES


def _files_of(part: Message) -> list[File]:
    if part.get_content_type() == "message/rfc822":  # a forwarded mail: its own files come along
        inner = part.get_payload()
        nested = inner[0] if isinstance(inner, list) and inner else None
        if isinstance(nested, EmailMessage) and nested.is_multipart():
            return [f for p in nested.iter_attachments() for f in _files_of(p)]
        return []
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes) or not data:
        return []
    name = part.get_filename() or f"adjunto.{part.get_content_subtype()}"
    return [File(name, data, part.get_content_type())]


_ES = {"el", "la", "de", "que", "y", "en", "no", "por", "mi", "es", "una", "con", "para", "hola", "gracias", "pedido"}
_EN = {"the", "and", "to", "of", "is", "my", "it", "not", "for", "with", "hello", "hi", "thanks", "order", "please"}


def language_of(text: str) -> str:
    """es or en, by the commonest words (Spanish when it cannot tell: the shop's language)."""
    words = re.findall(r"[a-záéíóúñü]+", text.lower())
    es = sum(w in _ES for w in words) + 2 * sum(c in "ñáéíóú¿¡" for c in text.lower())
    en = sum(w in _EN for w in words)
    return "en" if en > es else "es"

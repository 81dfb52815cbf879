"""Mails as customers' clients write them, read into their new words, files and thread."""

from __future__ import annotations

from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from services.mailin.parse import Ignored, Mail, Unreadable, language_of, parse
from tests.mail_corpus import SHAPES, Shape

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


def plain(body: str, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = headers.pop("From", "Laura Gómez <Laura@Example.com>")
    msg["To"] = headers.pop("To", "soporte@mesa.local")
    msg["Subject"] = headers.pop("Subject", "La tablet no enciende")
    msg["Message-ID"] = headers.pop("Message_ID", "<abc@example.com>")
    for k, v in headers.items():
        msg[k.replace("_", "-")] = v
    msg.set_content(body)
    return msg.as_bytes()


def read(raw: bytes) -> Mail:
    mail = parse(raw)
    assert isinstance(mail, Mail), mail
    return mail


def test_a_new_mail_with_a_png() -> None:
    msg = EmailMessage()
    msg["From"] = "laura@example.com"
    msg["To"] = "Soporte <soporte@mesa.local>"
    msg["Subject"] = "No puedo pagar mi pedido"
    msg["Message-ID"] = "<1@example.com>"
    msg.set_content("Hola, al pagar el pedido 1234 sale un error. Adjunto captura.")
    msg.add_attachment(PNG, maintype="image", subtype="png", filename="captura.png")
    mail = read(msg.as_bytes())
    assert mail.sender == "laura@example.com" and mail.recipients == ("soporte@mesa.local",)
    assert mail.text.startswith("Hola, al pagar") and mail.language == "es"
    assert [(f.filename, f.content) for f in mail.files] == [("captura.png", PNG)]
    assert mail.message_id == "<1@example.com>"


@pytest.mark.parametrize(
    ("history", "lang"),
    [
        ("El lun, 30 nov 2026 a las 10:00, Soporte Mesa <soporte@mesa.local> escribió:\n> ¿Qué modelo es?\n", "es"),
        ("El 30 nov 2026, a las 10:00, Soporte Mesa <soporte@mesa.local> escribió:\n\n> ¿Qué modelo es?\n", "es"),
        ("On Mon, Nov 30, 2026 at 10:00 AM Mesa Support <soporte@mesa.local> wrote:\n> Which model is it?\n", "en"),
        (
            "De: Soporte Mesa <soporte@mesa.local>\nEnviado: lunes, 30 de noviembre de 2026 10:00\n"
            "Para: laura@example.com\nAsunto: [T-0123ABCD] Necesitamos más información\n\n¿Qué modelo es?\n",
            "es",
        ),
        (
            "From: Mesa Support <soporte@mesa.local>\nSent: Monday, November 30, 2026 10:00 AM\n"
            "To: peter@example.com\nSubject: RE: [T-0123ABCD] We need more information\n\nWhich model?\n",
            "en",
        ),
    ],
)
def test_replies_keep_only_the_new_words(history: str, lang: str) -> None:
    new = "Es el modelo X1, gracias." if lang == "es" else "It is the X1 model, thanks."
    mail = read(
        plain(
            f"{new}\n\n{history}",
            In_Reply_To="<k1@mesa.local>",
            References="<ticket.T-0123ABCD@mesa.local> <k1@mesa.local>",
        )
    )
    assert mail.text == new
    assert mail.language == lang
    assert mail.references == ("<k1@mesa.local>", "<ticket.T-0123ABCD@mesa.local>", "<k1@mesa.local>")


def test_html_only_mail_becomes_text() -> None:
    msg = EmailMessage()
    msg["From"] = "ana@example.com"
    msg["To"] = "soporte@mesa.local"
    msg["Subject"] = "Pedido"
    msg.set_content(
        "<html><body><p>Mi <b>pedido</b> no ha llegado.</p><script>x()</script></body></html>", subtype="html"
    )
    mail = read(msg.as_bytes())
    assert "Mi **pedido** no ha llegado." in mail.text and "<" not in mail.text


def test_an_inline_image_in_multipart_related_comes_as_a_file() -> None:
    related = MIMEMultipart("related")
    related.attach(MIMEText('<p>Así se ve:</p><img src="cid:shot1">', "html", "utf-8"))
    image = MIMEImage(PNG, "png")
    image.add_header("Content-ID", "<shot1>")
    related.attach(image)
    related["From"] = "ana@example.com"
    related["To"] = "soporte@mesa.local"
    related["Subject"] = "Pantalla"
    mail = read(related.as_bytes())
    assert "Así se ve" in mail.text
    assert [f.content for f in mail.files] == [PNG]


def test_iso_8859_1_body_and_rfc_2231_file_name() -> None:
    outer = MIMEMultipart()
    outer["From"] = "=?iso-8859-1?q?Jos=E9?= <jose@example.com>"
    outer["To"] = "soporte@mesa.local"
    outer["Subject"] = "=?iso-8859-1?q?Devoluci=F3n?="
    outer.attach(MIMEText("El cargador no funciona, ¿qué hago?", "plain", "iso-8859-1"))
    doc = MIMEApplication(b"%PDF-1.4\n%%EOF\n", "pdf")
    doc.add_header("Content-Disposition", "attachment", filename=("utf-8", "", "factura año.pdf"))
    outer.attach(doc)
    mail = read(outer.as_bytes())
    assert mail.subject == "Devolución" and "¿qué hago?" in mail.text
    assert [f.filename for f in mail.files] == ["factura año.pdf"]


def test_a_forwarded_mail_brings_its_files() -> None:
    inner = EmailMessage()
    inner["From"] = "tienda@example.com"
    inner["Subject"] = "Su factura"
    inner.set_content("Adjuntamos la factura.")
    inner.add_attachment(b"%PDF-1.4\n%%EOF\n", maintype="application", subtype="pdf", filename="factura.pdf")
    outer = EmailMessage()
    outer["From"] = "laura@example.com"
    outer["To"] = "soporte@mesa.local"
    outer["Subject"] = "Fwd: Su factura"
    outer.set_content("Os reenvío la factura: el importe está mal.")
    outer.add_attachment(inner)
    mail = read(outer.as_bytes())
    assert "el importe está mal" in mail.text and [f.filename for f in mail.files] == ["factura.pdf"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"X_Autoreply": "yes"},
        {"Subject": "Respuesta automática: La tablet no enciende"},
        {"Subject": "Out of Office: your ticket"},
        {"From": "MAILER-DAEMON@mx.example.com"},
        {"List_Id": "<ofertas.example.com>"},
    ],
)
def test_automatic_mail_is_never_a_message(headers: dict[str, str]) -> None:
    assert isinstance(parse(plain("Estoy fuera hasta el lunes.", **headers)), Ignored)


BOUNCE = b"""From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
To: soporte@mesa.local
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain

The mail could not be delivered.

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; nadie@example.com
Action: failed
Status: 5.1.1

--b1--
"""


def test_a_bounce_says_which_address_failed_and_which_mesa_mail_it_returns() -> None:
    result = parse(BOUNCE.replace(b"\n", b"\r\n"))
    assert isinstance(result, Ignored) and result.bounce_of == ("nadie@example.com",)
    assert result.bounced_event == ""  # this report returns no headers
    returned = BOUNCE.replace(
        b"--b1--",
        b"--b1\nContent-Type: text/rfc822-headers\n\nMessage-ID: <k@mesa.local>\n"
        b"X-Mesa-Event: 0192f0c4-7d2a-7e1f-9c5b-3a6d8e2f1c47\n\n--b1--",
    )
    result = parse(returned.replace(b"\n", b"\r\n"))
    assert isinstance(result, Ignored) and result.bounced_event == "0192f0c4-7d2a-7e1f-9c5b-3a6d8e2f1c47"


def test_malformed_or_empty_mail_is_kept_with_why() -> None:
    with pytest.raises(Unreadable, match="sender"):
        parse(b"Subject: hola\r\n\r\nsin remitente\r\n")
    with pytest.raises(Unreadable, match="no text"):
        parse(plain(""))


def test_more_files_than_allowed_are_cut_and_said() -> None:
    msg = EmailMessage()
    msg["From"] = "laura@example.com"
    msg["To"] = "soporte@mesa.local"
    msg["Subject"] = "fotos"
    msg.set_content("Van fotos")
    for i in range(7):
        msg.add_attachment(PNG + bytes([i]), maintype="image", subtype="png", filename=f"f{i}.png")
    mail = read(msg.as_bytes())
    assert len(mail.files) == 5 and mail.too_many_files


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Hola, mi pedido no ha llegado", "es"),
        ("Hello, my order has not arrived", "en"),
        ("12345", "es"),
        ("¿Dónde?", "es"),
    ],
)
def test_the_language_is_read_from_the_words(text: str, lang: str) -> None:
    assert language_of(text) == lang


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_the_corpus_of_real_clients_reads_as_the_customer_wrote_it(shape: Shape) -> None:
    raw = shape.render(
        sender="Laura Gomez <laura@example.com>",
        to="soporte+T-0123ABCD.abcdef0123456789@mesa.local",
        message_id="<c1@example.com>",
        subject="[T-0123ABCD] Necesitamos informacion",
        in_reply_to="<k1@mesa.local>",
        references="<ticket.T-0123ABCD@mesa.local> <k1@mesa.local>",
    )
    result = parse(raw)
    if shape.kind == "ignored":
        assert isinstance(result, Ignored), result
        return
    assert isinstance(result, Mail), result
    assert result.text.startswith(shape.starts), result.text
    for words in shape.has:
        assert words in result.text, result.text
    for words in shape.never:
        assert words not in result.text, result.text
    assert [(f.filename, f.declared_type) for f in result.files] == list(shape.files)
    assert result.language == shape.language
    if shape.kind == "new":
        assert result.subject == shape.subject and result.references == ()
    else:
        assert result.references[0] == "<k1@mesa.local>"

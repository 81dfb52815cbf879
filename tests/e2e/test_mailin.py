"""Customers write to the support mailbox: real SMTP conversations into mailin, each mail checked
for the right ticket, the right words, nothing duplicated and nothing lost."""

from __future__ import annotations

import asyncio
import os
import re
import smtplib
import subprocess
from collections.abc import Iterator
from email.header import Header
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from shared.domain.reply_tokens import reply_address
from shared.platform.auth import SESSION_COOKIE
from shared.platform.keyring import reply_key
from shared.platform.topics import TICKET_EVENTS
from tests.e2e.conftest import Mesa, register_roster
from tests.kafka_tools import inbox_caught_up
from tests.mail_corpus import SHAPES, Shape, shape
from tests.support import ROOT, as_actor, bearer, client, eventually, free_port

pytestmark = pytest.mark.timeout(300)
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture(scope="module")
async def staffed(mesa: Mesa) -> Mesa:
    await register_roster(mesa)
    return mesa


def mail(sender: str, subject: str, body: str, *, to: str = "soporte@mesa.local", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    for k, v in headers.items():
        msg[k.replace("_", "-")] = v
    msg.set_content(body)
    return msg


async def send(mesa: Mesa, msg: EmailMessage) -> None:
    def go() -> None:
        with smtplib.SMTP("127.0.0.1", mesa.mailin_smtp, timeout=30) as smtp:
            smtp.send_message(msg)

    await asyncio.to_thread(go)


async def send_raw(mesa: Mesa, sender: str, raw: bytes) -> None:
    """A mail exactly as its client wrote it (8-bit where it is: mailin says 8BITMIME)."""

    def go() -> None:
        with smtplib.SMTP("127.0.0.1", mesa.mailin_smtp, timeout=30) as smtp:
            smtp.sendmail(sender, ["soporte@mesa.local"], raw)

    await asyncio.to_thread(go)


async def tickets_of(mesa: Mesa, requester: str) -> list[dict[str, Any]]:
    async with client(timeout=10) as http:
        r = await http.get(f"{mesa.url('projections')}/tickets", params={"requester": requester})
    r.raise_for_status()
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def the_ticket_of(mesa: Mesa, requester: str, count: int = 1) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        found = await tickets_of(mesa, requester)
        return found if len(found) >= count else None

    found: list[dict[str, Any]] = await eventually(probe, timeout=30, what=f"{count} ticket(s) of {requester}")
    return found


async def test_a_new_mail_with_a_screenshot_opens_a_ticket_and_a_reply_answers_it(staffed: Mesa) -> None:
    mesa = staffed
    first = mail(
        "Marta Ruiz <marta@example.com>",
        "No puedo pagar mi pedido",
        "Hola, al pagar el pedido 4512 la web da un error. Adjunto la captura.",
        Message_ID="<m1@example.com>",
    )
    first.add_attachment(PNG, maintype="image", subtype="png", filename="error al pagar.png")
    await send(mesa, first)
    await send(mesa, first)  # an MTA that delivers it again: still one ticket
    [summary] = await the_ticket_of(mesa, "marta@example.com")
    tid = summary["id"]
    t = await mesa.ticket_when(tid, lambda t: t["owner"] is not None, "the mailed ticket's owner")
    opened = t["timeline"][0]["data"]
    assert opened["channel"] == "email" and t["language"] == "es"
    assert opened["description"].startswith("Hola, al pagar el pedido 4512")
    [shot] = opened["attachments"]
    assert shot["content_type"] == "image/png" and shot["filename"] == "error al pagar.png"
    async with client(timeout=10) as http:
        got = await http.get(f"{mesa.url('intake')}/tickets/{tid}/attachments/{shot['sha256']}")
    assert got.content == PNG

    # the agent asks; the customer answers the mail, quoting it: only her new words are the answer
    owner = t["owner"]
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets/{tid}/request-info",
            json={"question": "¿Con qué tarjeta pagaste?"},
            headers=as_actor(f"agent:{owner}"),
        )
    assert r.status_code == 200, r.text
    asked = await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "info_requested", "the question by mail"
    )
    answer = mail(
        "marta@example.com",
        f"Re: {asked['Subject']}",
        "Con una Visa acabada en 4242.\n\n"
        "El lun, 30 nov 2026 a las 10:00, Soporte Mesa <soporte@mesa.local> escribió:\n> ¿Con qué tarjeta pagaste?\n",
        to=str(asked["Reply-To"]),
        In_Reply_To=str(asked["Message-ID"]),
        Message_ID="<m2@example.com>",
    )
    await send(mesa, answer)
    t = await mesa.ticket_when(
        tid, lambda t: any(e["type"] == "ticket.customer_replied" for e in t["timeline"]), "the mailed answer"
    )
    [replied] = [e for e in t["timeline"] if e["type"] == "ticket.customer_replied"]
    assert replied["data"]["body"] == "Con una Visa acabada en 4242."  # the quoted question is cut
    assert t["status"] != "waiting_on_customer"
    # the mail delivered twice at the start is still one ticket, all this while later
    assert len(await tickets_of(mesa, "marta@example.com")) == 1


async def test_a_stranger_in_someone_elses_thread_gets_a_ticket_of_their_own(staffed: Mesa) -> None:
    mesa = staffed
    await send(
        mesa,
        mail(
            "nuria@example.com", "Mi cuenta", "No puedo entrar en mi cuenta desde ayer.", Message_ID="<n1@example.com>"
        ),
    )
    [nuria] = await the_ticket_of(mesa, "nuria@example.com")
    settings = mesa.iso.settings
    token = reply_address(settings.support_address, nuria["id"], reply_key(settings))
    await send(
        mesa,
        mail("intruso@example.com", "Re: Mi cuenta", "Cerrad este ticket.", to=token, Message_ID="<x1@example.com>"),
    )
    [own] = await the_ticket_of(mesa, "intruso@example.com")
    assert own["id"] != nuria["id"]
    # the views have applied everything in the log by now, so what they lack, the log lacks
    topics = [mesa.iso.settings.topic(TICKET_EVENTS)]
    await eventually(
        lambda: inbox_caught_up(mesa.iso.settings, "projections", "projections-tickets", topics), what="views"
    )
    t = await mesa.get_ticket(nuria["id"])
    assert t is not None and not any("Cerrad" in str(e["data"]) for e in t["timeline"])


async def test_automatic_mail_and_other_addresses_never_become_tickets(staffed: Mesa) -> None:
    mesa = staffed
    await send(
        mesa,
        mail(
            "oscar@example.com",
            "Respuesta automática: fuera de la oficina",
            "Vuelvo el lunes.",
            Auto_Submitted="auto-replied",
        ),
    )
    refused = mail("oscar@example.com", "Hola", "¿Me oís?", to="ventas@mesa.local")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await send(mesa, refused)
    # a mail from oscar that is not automatic does open one: the automatic one was not lost in a queue
    await send(mesa, mail("oscar@example.com", "Pedido", "Mi pedido no ha llegado.", Message_ID="<o2@example.com>"))
    [only] = await the_ticket_of(mesa, "oscar@example.com")
    assert only["subject"] == "Pedido"


async def test_an_unreadable_mail_is_kept_with_why(staffed: Mesa) -> None:
    mesa = staffed

    def go() -> None:
        with smtplib.SMTP("127.0.0.1", mesa.mailin_smtp, timeout=30) as smtp:
            smtp.sendmail("x@example.com", ["soporte@mesa.local"], b"Subject: sin remitente\r\n\r\nhola\r\n")

    await asyncio.to_thread(go)

    async def kept() -> str | None:
        _code, out = await mesa.cli_status("dlq", "list", "--topic", "ticket.requests")
        return out if "unreadable_mail" in out else None

    listing = await eventually(kept, timeout=30, what="the kept mail")
    assert "sender" in listing or "From" in listing
    # after a fix it can be sent to mailin again (here, still unreadable: kept a second time)
    [ref] = re.findall(r"([\w.-]*ticket\.requests\.dlq/\d+/\d+)", listing)
    assert "1 letters re-driven" in await mesa.cli("dlq", "redrive", ref)

    async def kept_twice() -> bool:
        _code, out = await mesa.cli_status("dlq", "list", "--topic", "ticket.requests")
        return out.count("unreadable_mail") == 2

    await eventually(kept_twice, timeout=30, what="the re-driven mail, read again")
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(f"{mesa.url('mailin')}/readyz")).status_code == 200


async def test_a_bounce_marks_the_mail_failed_and_the_owner_hears_of_it(staffed: Mesa) -> None:
    mesa = staffed
    await send(mesa, mail("pablo@example.com", "Factura", "No me llega la factura del pedido 88.", Message_ID="<p1@x>"))
    [summary] = await the_ticket_of(mesa, "pablo@example.com")
    tid = summary["id"]
    received = await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "received", "the acknowledgement"
    )
    event = str(received["X-Mesa-Event"])
    await mesa.ticket_when(
        tid,
        lambda t: any(e["type"] == "notification.sent" and e["data"]["about_event_id"] == event for e in t["timeline"]),
        "the acknowledgement recorded as sent",
    )
    report = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: soporte@mesa.local\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
        "Final-Recipient: rfc822; pablo@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"--b1\r\nContent-Type: text/rfc822-headers\r\n\r\nX-Mesa-Event: {event}\r\n\r\n--b1--\r\n"
    ).encode()

    def go() -> None:
        with smtplib.SMTP("127.0.0.1", mesa.mailin_smtp, timeout=30) as smtp:
            smtp.sendmail("", ["soporte@mesa.local"], report)

    await asyncio.to_thread(go)
    t = await mesa.ticket_when(
        tid,
        lambda t: any(
            e["type"] == "notification.failed" and e["data"]["about_event_id"] == event for e in t["timeline"]
        ),
        "the bounce recorded",
    )
    assert not any(
        x["requester"] == "mailer-daemon@mx.example.com" for x in await tickets_of(mesa, "mailer-daemon@mx.example.com")
    )
    told = await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "delivery_failed", "the owner told"
    )
    assert t["owner"] is None or str(told["To"]) != "pablo@example.com"


async def test_too_big_or_broken_mail_is_refused_or_kept_never_lost(staffed: Mesa) -> None:
    mesa = staffed
    # over the SMTP size limit: refused in the conversation (552), so the sender's server tells them
    huge = mail("rosa@example.com", "Vídeo", "Os mando el vídeo del fallo.", Message_ID="<r1@x>")
    huge.add_attachment(b"\0" * (36 * 2**20), maintype="video", subtype="mp4", filename="fallo.mp4")
    with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as refused:
        await send(mesa, huge)
    assert refused.value.smtp_code == 552
    # a file intake does not take: the ticket opens, and says which file stayed out
    odd = mail("rosa@example.com", "Factura", "Adjunto la factura del pedido 77.", Message_ID="<r2@x>")
    odd.add_attachment(b"MZ\x90\x00" + b"\0" * 64, maintype="application", subtype="octet-stream", filename="f.exe")
    await send(mesa, odd)
    [ticket] = await the_ticket_of(mesa, "rosa@example.com")
    t = await mesa.ticket_when(ticket["id"], lambda t: bool(t["timeline"]), "the ticket")
    opened = t["timeline"][0]["data"]
    assert opened["attachments"] == [] and "f.exe" in opened["description"]
    # broken MIME (a multipart without its parts): kept with why, never dropped
    broken = (
        b"From: rosa@example.com\r\nTo: soporte@mesa.local\r\nSubject: roto\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="nunca"\r\n\r\nsin partes\r\n'
    )

    async def kept_letters() -> int:
        _code, out = await mesa.cli_status("dlq", "list", "--topic", "ticket.requests")
        return out.count("unreadable_mail")

    before = await kept_letters()

    def go() -> None:
        with smtplib.SMTP("127.0.0.1", mesa.mailin_smtp, timeout=30) as smtp:
            smtp.sendmail("rosa@example.com", ["soporte@mesa.local"], broken)

    await asyncio.to_thread(go)

    async def kept_or_opened() -> bool:
        opened = "roto" in str(await tickets_of(mesa, "rosa@example.com"))
        return opened or await kept_letters() == before + 1

    await eventually(kept_or_opened, timeout=30, what="the broken mail kept or opened")


async def waiting_for_an_answer(mesa: Mesa, sender: str, name: str) -> tuple[str, Any]:
    """A ticket `sender` opened by mail, its owner's question, and the mail that asked it."""
    await send(mesa, mail(sender, "La tablet no carga", "Mi tablet no carga desde ayer.", Message_ID=f"<{name}@x>"))
    [summary] = await the_ticket_of(mesa, sender)
    tid = summary["id"]
    t = await mesa.ticket_when(tid, lambda t: t["owner"] is not None, "the mailed ticket's owner")
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets/{tid}/request-info",
            json={"question": "¿Qué modelo es?"},
            headers=as_actor(f"agent:{t['owner']}"),
        )
    assert r.status_code == 200, r.text
    asked = await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "info_requested", "the question by mail"
    )
    return tid, asked


def answering(asked: Any, sender: str, message_id: str) -> dict[str, str]:
    """The headers a client writes when it answers `asked`."""
    return {
        "sender": sender,
        "to": str(asked["Reply-To"]),
        "message_id": message_id,
        "subject": Header(str(asked["Subject"]), "utf-8").encode(),
        "in_reply_to": str(asked["Message-ID"]),
        "references": f"{asked.get('References', '')} {asked['Message-ID']}".strip(),
    }


def assert_reads_as(text: str, shape: Shape) -> None:
    assert text.startswith(shape.starts), text
    for words in shape.has:
        assert words in text, text
    for words in shape.never:
        assert words not in text, text


@pytest.mark.parametrize("shape", [s for s in SHAPES if s.kind == "reply"], ids=lambda s: s.name)
async def test_replies_from_real_clients_answer_with_only_the_new_words(staffed: Mesa, shape: Shape) -> None:
    mesa = staffed
    sender = f"{shape.name.replace('_', '.')}@example.com"
    tid, asked = await waiting_for_an_answer(mesa, sender, f"{shape.name}.0")
    raw = shape.render(**answering(asked, sender, f"<{shape.name}.1@example.com>"))
    await send_raw(mesa, sender, raw)
    await send_raw(mesa, sender, raw)  # delivered twice: still one answer
    t = await mesa.ticket_when(
        tid, lambda t: any(e["type"] == "ticket.customer_replied" for e in t["timeline"]), "the mailed answer"
    )
    [replied] = [e for e in t["timeline"] if e["type"] == "ticket.customer_replied"]
    assert_reads_as(replied["data"]["body"], shape)
    assert [(f["filename"], f["content_type"]) for f in replied["data"]["attachments"]] == list(shape.files)
    assert t["status"] != "waiting_on_customer"
    # the owner hears of it, once; and nothing became a ticket of its own
    await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "customer_replied", "the owner told"
    )
    assert len(await tickets_of(mesa, sender)) == 1
    again = await mesa.get_ticket(tid)
    assert again is not None and sum(e["type"] == "ticket.customer_replied" for e in again["timeline"]) == 1


@pytest.mark.parametrize("shape", [s for s in SHAPES if s.kind == "new"], ids=lambda s: s.name)
async def test_new_mail_from_real_clients_opens_one_ticket_with_its_words_and_files(
    staffed: Mesa, shape: Shape
) -> None:
    mesa = staffed
    sender = f"{shape.name.replace('_', '.')}@example.com"
    raw = shape.render(sender=f"Cliente <{sender}>", to="soporte@mesa.local", message_id=f"<{shape.name}@example.com>")
    await send_raw(mesa, sender, raw)
    await send_raw(mesa, sender, raw)
    [summary] = await the_ticket_of(mesa, sender)
    t = await mesa.ticket_when(summary["id"], lambda t: t["owner"] is not None, "the mailed ticket's owner")
    opened = t["timeline"][0]["data"]
    assert t["subject"] == shape.subject and t["language"] == shape.language
    assert_reads_as(opened["description"], shape)
    assert [(f["filename"], f["content_type"]) for f in opened["attachments"]] == list(shape.files)
    for f in opened["attachments"]:  # every file can be fetched back whole
        async with client(timeout=10) as http:
            got = await http.get(f"{mesa.url('intake')}/tickets/{t['id']}/attachments/{f['sha256']}")
        assert got.status_code == 200 and len(got.content) == f["size"]
    assert len(await tickets_of(mesa, sender)) == 1


async def test_an_out_of_office_in_the_thread_is_neither_an_answer_nor_a_ticket(staffed: Mesa) -> None:
    mesa = staffed
    sender = "fuera.de.oficina@example.com"
    tid, asked = await waiting_for_an_answer(mesa, sender, "ooo.0")
    await send_raw(mesa, sender, shape("out_of_office").render(**answering(asked, sender, "<ooo.1@example.com>")))
    # her real answer, after it: once that is on the ticket, the auto-reply has had its turn
    real = shape("gmail_reply_es")
    await send_raw(mesa, sender, real.render(**answering(asked, sender, "<ooo.2@example.com>")))
    t = await mesa.ticket_when(
        tid, lambda t: any(e["type"] == "ticket.customer_replied" for e in t["timeline"]), "the real answer"
    )
    [replied] = [e for e in t["timeline"] if e["type"] == "ticket.customer_replied"]
    assert replied["data"]["body"].startswith(real.starts)
    assert not any("fuera de la oficina" in str(e["data"]).lower() for e in t["timeline"])
    assert len(await tickets_of(mesa, sender)) == 1


@pytest.fixture(scope="module")
def postfix(staffed: Mesa) -> Iterator[int]:
    """Debian's Postfix, configured by deploy/postfix.sh as the README tells ops to, relaying
    the support address to this module's mailin. Its port."""
    port = free_port()
    env = {
        **os.environ,
        "MESA_POSTFIX_DIR": str(ROOT / ".local" / f"postfix-e2e-{port}"),
        "MESA_POSTFIX_PORT": str(port),
        "MESA_MAILIN_PORT": str(staffed.mailin_smtp),
    }
    script = str(ROOT / "deploy" / "postfix.sh")
    subprocess.run(["bash", script, "start"], env=env, check=True, timeout=120)
    yield port
    subprocess.run(["bash", script, "clean"], env=env, check=False, timeout=60)


async def test_a_real_postfix_relays_new_mail_and_plus_addressed_replies_to_mailin(staffed: Mesa, postfix: int) -> None:
    mesa = staffed

    async def through_postfix(sender: str, to: str, raw: bytes) -> None:
        def go() -> None:
            with smtplib.SMTP("127.0.0.1", postfix, timeout=30) as smtp:
                smtp.sendmail(sender, [to], raw)

        await asyncio.to_thread(go)

    sender = "postfix.relay@example.com"
    first = mail(sender, "Pedido 7781", "Mi pedido 7781 llegó roto.", Message_ID="<pf1@example.com>")
    await through_postfix(sender, "soporte@mesa.local", first.as_bytes())
    [summary] = await the_ticket_of(mesa, sender)
    tid = summary["id"]
    t = await mesa.ticket_when(tid, lambda t: t["owner"] is not None, "the relayed ticket's owner")
    assert t["timeline"][0]["data"]["description"] == "Mi pedido 7781 llegó roto."
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets/{tid}/request-info",
            json={"question": "¿Puede enviarnos una foto?"},
            headers=as_actor(f"agent:{t['owner']}"),
        )
    assert r.status_code == 200, r.text
    asked = await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "info_requested", "the question by mail"
    )
    # the answer goes to soporte+T-...@: Postfix's recipient_delimiter brings it to the same mailbox
    reply_to = re.search(r"[\w.+-]+@[\w.-]+", str(asked["Reply-To"]))
    assert reply_to is not None and "+" in reply_to.group(0)
    answer = shape("outlook_reply_en_with_screenshot")
    await through_postfix(sender, reply_to.group(0), answer.render(**answering(asked, sender, "<pf2@example.com>")))
    t = await mesa.ticket_when(
        tid, lambda t: any(e["type"] == "ticket.customer_replied" for e in t["timeline"]), "the relayed answer"
    )
    [replied] = [e for e in t["timeline"] if e["type"] == "ticket.customer_replied"]
    assert_reads_as(replied["data"]["body"], answer)
    assert [f["filename"] for f in replied["data"]["attachments"]] == ["image001.png"]
    # any other address at the domain is refused by Postfix itself, before a byte reaches mailin
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await through_postfix(sender, "ventas@mesa.local", first.as_bytes())
    assert len(await tickets_of(mesa, sender)) == 1


async def test_mail_reopens_a_resolved_ticket_and_starts_a_linked_one_after_closing(staffed: Mesa) -> None:
    mesa = staffed
    sender = "reabre@example.com"
    await send(mesa, mail(sender, "Auriculares", "El auricular izquierdo no suena.", Message_ID="<ra0@x>"))
    [summary] = await the_ticket_of(mesa, sender)
    tid = summary["id"]
    t = await mesa.ticket_when(tid, lambda t: t["owner"] is not None, "the mailed ticket's owner")
    owner = f"agent:{t['owner']}"
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets/{tid}/resolve", json={"summary": "Cambio enviado."}, headers=as_actor(owner)
        )
    assert r.status_code == 200, r.text
    resolved = await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "resolved", "the resolution mail"
    )
    # "it is not solved": an answer to the resolution mail reopens the ticket, as Zendesk does
    again = mail(
        sender,
        f"Re: {resolved['Subject']}",
        "El cambio tampoco suena.",
        to=str(resolved["Reply-To"]),
        In_Reply_To=str(resolved["Message-ID"]),
        Message_ID="<ra1@x>",
    )
    await send(mesa, again)
    t = await mesa.ticket_when(
        tid, lambda t: any(e["type"] == "ticket.reopened" for e in t["timeline"]), "the reopening by mail"
    )
    [reopened] = [e for e in t["timeline"] if e["type"] == "ticket.reopened"]
    assert reopened["data"]["reason"] == "El cambio tampoco suena." and t["status"] != "resolved"
    await mesa.mail_when(
        lambda m: m["X-Mesa-Ticket"] == tid and m["X-Mesa-Template"] == "reopened_owner", "the owner told"
    )
    # resolved again and closed by the customer: a later mail in the thread starts a new ticket that
    # names the old one, and the old one stays closed
    t = await mesa.ticket_when(tid, lambda t: t["owner"] is not None, "an owner again")
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets/{tid}/resolve",
            json={"summary": "Segundo cambio."},
            headers=as_actor(f"agent:{t['owner']}"),
        )
        assert r.status_code == 200, r.text
        await mesa.ticket_when(tid, lambda t: t["status"] == "resolved", "resolved again")
        r = await http.post(
            f"{mesa.url('intake')}/tickets/{tid}/confirm", json={}, headers=as_actor(f"requester:{sender}")
        )
        assert r.status_code == 200, r.text
    await mesa.ticket_when(tid, lambda t: t["status"] == "closed", "closed")
    later = mail(
        sender,
        f"Re: {resolved['Subject']}",
        "Ahora falla el derecho.",
        to=str(resolved["Reply-To"]),
        In_Reply_To=str(resolved["Message-ID"]),
        Message_ID="<ra2@x>",
    )
    await send(mesa, later)
    both = await the_ticket_of(mesa, sender, count=2)
    [new] = [s for s in both if s["id"] != tid]
    fresh = await mesa.ticket_when(new["id"], lambda t: True, "the new ticket")
    assert fresh["timeline"][0]["data"]["follows"] == tid
    assert fresh["timeline"][0]["data"]["description"] == "Ahora falla el derecho."
    old = await mesa.get_ticket(tid)
    assert old is not None and old["status"] == "closed"
    # the new ticket's page says which ticket it goes on from, with a link
    session = bearer("requester", sender)["Authorization"].removeprefix("Bearer ")
    async with httpx.AsyncClient(timeout=10, cookies={SESSION_COOKIE: session}) as http:
        page = await http.get(f"{mesa.url('projections')}/t/{new['id']}")
    assert page.status_code == 200 and f'href="/t/{tid}"' in page.text and "Continúa el ticket cerrado" in page.text

"""Benchmark: customers' mails into tickets, through mailin and intake, next to the raw SMTP
round trip to a sink that keeps nothing (the baseline), measured in the same run.

    .venv/bin/python -m bench.mailin [--mails 1000] [--senders 8] [--files 0]

On a private topic prefix and database: starts intake and mailin as their own processes; `--senders`
threads send `--mails` new mails (each from its own customer, `--files` PNGs each) over SMTP; a
ticket is in when intake has it (its `tickets` table). Prints mails/s accepted over SMTP, tickets/s
into intake, and the raw SMTP rate. Needs `make infra`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import smtplib
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path

import asyncpg
from aiosmtpd.controller import Controller

from bench.corner import private_corner
from tests.support import Proc, free_port

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


def a_mail(n: int, files: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"cliente{n}@example.com"
    msg["To"] = "soporte@mesa.local"
    msg["Subject"] = f"Pedido {n} sin noticias"
    msg["Message-ID"] = f"<bench-{n}@example.com>"
    msg.set_content(f"Hola, el pedido {n} no ha llegado y el seguimiento no se actualiza desde el lunes.")
    for i in range(files):
        msg.add_attachment(PNG + bytes([n % 256, i]), maintype="image", subtype="png", filename=f"captura{i}.png")
    return msg


def send_all(port: int, mails: list[EmailMessage], senders: int) -> float:
    """Every mail over SMTP, `senders` connections side by side; the seconds it took."""
    chunks = [mails[i::senders] for i in range(senders)]

    def one(chunk: list[EmailMessage]) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            for m in chunk:
                smtp.send_message(m)

    start = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(one, chunks))
    return time.perf_counter() - start


class Nothing:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


async def main(mails: int, senders: int, files: int) -> None:
    async with private_corner("mailin") as (settings, env):
        logs = Path(tempfile.mkdtemp(prefix="bench-mailin-"))
        intake_port, http_port, smtp_port = free_port(), free_port(), free_port()
        env = env | {"INTAKE_PORT": str(intake_port), "MAILIN_PORT": str(http_port), "MESA_MAILIN_PORT": str(smtp_port)}
        env |= {"MESA_MAILIN_PER_SENDER_PER_HOUR": "100000"}
        procs = [
            Proc("services.intake", env, logs, "intake", intake_port).start(),
            Proc("services.mailin", env, logs, "mailin", http_port).start(),
        ]
        try:
            for p in procs:
                await p.ready(90)
            batch = [a_mail(n, files) for n in range(mails)]
            start = time.perf_counter()
            smtp_s = await asyncio.to_thread(send_all, smtp_port, batch, senders)
            conn = await asyncpg.connect(settings.database_url)
            try:
                while await conn.fetchval("SELECT count(*) FROM intake.tickets") < mails:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
            finally:
                await conn.close()
            total = time.perf_counter() - start
            sink_port = free_port()
            sink = Controller(Nothing(), hostname="127.0.0.1", port=sink_port)
            sink.start()
            try:
                raw_s = await asyncio.to_thread(send_all, sink_port, batch, senders)
            finally:
                sink.stop()
            machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores"
            print(f"machine: {machine}, Python {platform.python_version()}")
            print(f"{mails} mails, {files} file(s) each, {senders} SMTP connections")
            print(f"  accepted over SMTP by mailin: {mails / smtp_s:,.0f} mails/s")
            print(f"  into intake as tickets: {mails / total:,.0f} tickets/s (all in after {total:.1f} s)")
            print(f"  raw SMTP to a sink that keeps nothing: {mails / raw_s:,.0f} mails/s")
        finally:
            for p in procs:
                p.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--files", type=int, default=0)
    a = parser.parse_args()
    asyncio.run(main(a.mails, a.senders, a.files))

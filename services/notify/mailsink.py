"""A development SMTP server that keeps every message as an .eml file (`make up` starts it).

`python -m services.notify.mailsink [--dir .local/mail] [--port 8025]`. A message is stored
under the hash of its Message-ID, so a message re-sent after a crash is stored once.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import signal
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import uvloop
from aiosmtpd.controller import Controller


class EmlHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        # kept open, a line a write: opening it for every message was a third of the sink's calls
        self.receipts = (directory / "received.log").open("a", buffering=1)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content
        msg = BytesHeaderParser().parsebytes(raw)  # the headers are all it reads: the body is kept as sent
        key = msg.get("Message-ID") or hashlib.sha256(raw).hexdigest()
        name = hashlib.sha256(key.encode()).hexdigest()[:32] + ".eml"
        tmp = self.directory / (name + ".tmp")
        tmp.write_bytes(raw)
        os.replace(tmp, self.directory / name)  # atomic: readers never see half a message
        # every acceptance, even of a message already kept: a test counts real sends here
        # Message-ID, To, ticket, template: the last field stays the template for readers
        fields = (key, msg.get("To", ""), msg.get("X-Mesa-Ticket", ""), msg.get("X-Mesa-Template", ""))
        self.receipts.write("\t".join(fields) + "\n")
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default=os.environ.get("MESA_MAIL_DIR", ".local/mail"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("NOTIFY_SMTP_PORT", "8025")))
    args = parser.parse_args()
    # the SMTP side on uvloop, as every service runs (its own thread's loop, as aiosmtpd wants)
    controller = Controller(
        EmlHandler(Path(args.dir)), hostname=args.host, port=args.port, loop=uvloop.new_event_loop()
    )
    controller.start()
    print(f"mailsink on {args.host}:{args.port}, writing to {args.dir}", flush=True)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()

"""Mailin's SMTP side (aiosmtpd), in the service's own event loop: mail for the support addresses
only (and their plus-addressed variants), at most MAX_BYTES, each handed to `Mailin.receive`."""

from __future__ import annotations

import asyncio
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from services.mailin.handlers import Mailin
from shared.domain.reply_tokens import is_support
from shared.platform.logging import get_logger

log = get_logger(__name__)
MAX_BYTES = 35 * 2**20  # five 10 MB files, base64-encoded, and the words


class Support:
    def __init__(self, mailin: Mailin) -> None:
        self.mailin = mailin

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if not is_support(address, self.mailin.settings.support_address):
            return "550 5.1.1 not a support address here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):
            return "554 5.6.0 no content"
        try:
            return (await self.mailin.receive(raw)).line()
        except Exception as exc:  # the MTA keeps the mail and tries again: nothing is lost
            log.error("mail not taken, the sender retries", error=type(exc).__name__)
            return "451 4.3.0 try again later"


async def serve_smtp(mailin: Mailin, host: str, port: int) -> None:
    """Listen until cancelled."""
    loop = asyncio.get_running_loop()

    def protocol() -> Any:
        return SMTP(Support(mailin), data_size_limit=MAX_BYTES, enable_SMTPUTF8=True, hostname="mesa-mailin")

    server = await loop.create_server(protocol, host=host, port=port)
    log.info("smtp listening", host=host, port=port)
    try:
        await asyncio.Event().wait()
    finally:
        server.close()
        await server.wait_closed()

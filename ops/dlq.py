"""Dead letters: list them, look at one, re-drive them to where they came from after a fix.

Letters are sealed (shared.platform.letters): `show` and `redrive` open them with the key they name,
and a letter whose requester was erased opens no more (it is skipped, and says so).

A re-driven record is the original (key, value, headers; secrets were never kept) with
`dlq_redriven_from` naming the letter and `dlq_redriven_for` the consumer that refused it, the
only one to apply it (the others applied the original). An event Mesa signed goes back as it
was, signature and id included. A
request gets a new CloudEvents id (intake took the old one), and, when the letter names the
service a verified token proved it came from (`dlq_sender`), a fresh token of that service: the
operator re-sends what that service asked, never more.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import uuid
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.domain.principal import SCOPES
from shared.platform import db
from shared.platform.auth import Authenticator
from shared.platform.bus import partitions_of
from shared.platform.keyring import Keyring, master_key
from shared.platform.letters import REDRIVEN_FOR, SEALED, SENDER, SENDER_SCOPES, LetterError, Letters, open_letter
from shared.platform.settings import Settings
from shared.platform.signing import SIG
from shared.platform.topics import DLQ_SUFFIX, topic_specs


@dataclass(frozen=True)
class Letter:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    def header(self, name: str) -> str:
        return next((v.decode("utf-8", "replace") for k, v in self.headers if k == name), "")

    @property
    def ref(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


def dlq_topics(settings: Settings) -> list[str]:
    return [s.name for s in topic_specs(settings) if s.name.endswith(DLQ_SUFFIX)]


async def read(settings: Settings, topics: list[str] | None = None) -> list[Letter]:
    reader = AIOKafkaConsumer(**settings.kafka(), group_id=None)
    await reader.start()
    letters: list[Letter] = []
    try:
        for topic in topics or dlq_topics(settings):
            tps = [TopicPartition(topic, p) for p in await partitions_of(reader, topic)]
            ends = await reader.end_offsets(tps) if tps else {}
            todo = {tp for tp in tps if ends[tp] > 0}
            if not todo:
                continue
            reader.assign(list(todo))
            await reader.seek_to_beginning(*todo)
            while todo:
                batch = await reader.getmany(*todo, timeout_ms=1000)
                for tp, records in batch.items():
                    letters += [
                        Letter(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value, list(r.headers or ()))
                        for r in records
                        if r.offset < ends[tp]
                    ]
                for tp in list(todo):
                    if await reader.position(tp) >= ends[tp]:
                        todo.discard(tp)
    finally:
        await reader.stop()
    return sorted(letters, key=lambda letter: letter.timestamp)


class NotRedrivable(Exception):
    pass


@dataclass(frozen=True)
class Opened:
    """A letter's original record: value and headers (None: its key is gone, erased)."""

    value: bytes | None
    headers: list[tuple[str, bytes]]
    readable: bool


async def open_all(settings: Settings, letters: list[Letter]) -> dict[str, Opened]:
    """Each letter's original record, by `ref`, opened with the key it names."""
    pool = await db.create_pool(settings.database_url_for("keys"), "keys", max_size=2)
    try:
        sealer = Letters(Keyring(pool, master_key(settings)))
        out = {}
        for letter in letters:
            sealed_by = letter.header(SEALED)
            if not sealed_by:  # written before letters were sealed
                out[letter.ref] = Opened(letter.value, letter.headers, True)
                continue
            key = await sealer.key_of(sealed_by)
            try:
                if key is None:
                    raise LetterError("erased")
                value, headers = open_letter(letter.value or b"", letter.headers, key)
                out[letter.ref] = Opened(value, headers, True)
            except LetterError:
                out[letter.ref] = Opened(None, [], False)
        return out
    finally:
        await pool.close()


def redriven(
    letter: Letter, opened: Opened, auth: Authenticator | None = None
) -> tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]:
    """(topic, key, value, headers) to publish again. Only what a consumer refused goes back (a
    message notify gave up on is not a record of any topic: it is re-sent from notify)."""
    origin = letter.header("dlq_topic")
    if not origin:
        raise NotRedrivable(f"{letter.ref} ({letter.header('dlq_code')}) did not come from a topic")
    if not opened.readable:
        raise NotRedrivable(f"{letter.ref}: its requester was erased; nothing left to re-drive")
    headers = [(k, v) for k, v in opened.headers if not k.startswith("dlq_")]
    value = opened.value
    redrive_marks = [("dlq_redriven_from", letter.ref.encode()), (REDRIVEN_FOR, letter.header("dlq_consumer").encode())]
    if any(k == SIG for k, _ in headers):  # an event as its owner signed it: back as it was
        return origin, letter.key, value, headers + redrive_marks
    new_id = str(uuid.uuid4())
    headers = [(k, v) for k, v in headers if k != "ce_id"]
    structured = any(k == "content-type" and v.startswith(b"application/cloudevents+json") for k, v in headers)
    if structured and value:
        try:
            doc = json.loads(value)
            if isinstance(doc, dict):
                doc["id"] = new_id
                value = json.dumps(doc).encode()
        except ValueError:
            pass  # not JSON: it goes back as it was, and is refused again with the same reason
    else:
        headers.append(("ce_id", new_id.encode()))
    sender = letter.header(SENDER)
    if sender and auth is not None:  # as the service it was, with no more than its token granted
        scopes = [s for s in letter.header(SENDER_SCOPES).split() if s in SCOPES]
        token = auth.issue("service", sender, ttl_s=600, scopes=scopes)
        headers.append(("authorization", f"Bearer {token}".encode()))
    return origin, letter.key, value, headers + redrive_marks


MAILIN = "mailin"  # letters of mails mailin could not read go back to mailin, over SMTP


def remail(settings: Settings, raw: bytes) -> None:
    """A kept mail, to mailin again (after a fix to what could not read it): the same bytes."""
    with smtplib.SMTP(settings.mailin_host, settings.mailin_port, timeout=30) as smtp:
        smtp.sendmail("", [settings.support_address], raw)


def redrivable(letter: Letter) -> bool:
    return bool(letter.header("dlq_topic")) or letter.header("dlq_consumer") == MAILIN


async def redrive(settings: Settings, letters: list[Letter]) -> tuple[int, list[str]]:
    """Publish `letters` again (a kept mail: to mailin); (how many went, why the others did not)."""
    opened = await open_all(settings, letters)
    auth = Authenticator(settings)
    producer = AIOKafkaProducer(**settings.kafka(), acks="all", enable_idempotence=True)
    await producer.start()
    sent, skipped = 0, []
    try:
        for letter in letters:
            if letter.header("dlq_consumer") == MAILIN and not letter.header("dlq_topic"):
                mail = opened[letter.ref]
                if not mail.readable or not mail.value:
                    skipped.append(f"{letter.ref}: its requester was erased; nothing left to re-drive")
                    continue
                await asyncio.to_thread(remail, settings, mail.value)
                sent += 1
                continue
            try:
                topic, key, value, headers = redriven(letter, opened[letter.ref], auth)
            except NotRedrivable as exc:
                skipped.append(str(exc))
                continue
            await producer.send(topic, value, key=key, headers=headers)
            sent += 1
        await producer.flush()
    finally:
        await producer.stop()
    return sent, skipped

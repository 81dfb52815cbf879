"""Which batches a consumer passes over without a claim (`nothing_to_read`): live ones whose
records are all of types it never reads (`wants`) or its own decisions read back (`own`). History,
another record of a wanted type, one with no type and a re-driven letter each make the batch one
to claim."""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord
from hypothesis import given
from hypothesis import strategies as st

from shared.platform.consumer import nothing_to_read
from shared.platform.letters import REDRIVEN_FOR

WANTS = frozenset({b"ticket.opened", b"ticket.closed"})
TYPES = ["ticket.opened", "ticket.closed", "notification.sent", "ticket.sla_met", None]


def record(
    offset: int, kind: str | None, *, redriven: bool = False, event_id: str | None = None
) -> ConsumerRecord[bytes, bytes]:
    headers: list[tuple[str, bytes]] = [("content-type", b"application/json")]
    if kind is not None:
        headers.append(("ce_type", kind.encode()))
    headers.append(("ce_id", (event_id or f"e{offset}").encode()))
    if redriven:
        headers.append((REDRIVEN_FOR, b"routing-tickets"))
    return ConsumerRecord(
        topic="ticket.events",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"T-1",
        value=b"{}",
        checksum=None,
        serialized_key_size=3,
        serialized_value_size=2,
        headers=headers,
    )


def test_a_live_batch_of_unwanted_types_is_passed_over() -> None:
    batch = [record(10, "notification.sent"), record(11, "ticket.sla_met")]
    assert nothing_to_read(batch, history_end=10, wants=WANTS)


def test_history_is_always_claimed() -> None:
    assert not nothing_to_read([record(9, "notification.sent"), record(10, "notification.sent")], 10, WANTS)


def test_one_wanted_untyped_or_redriven_record_makes_a_claim() -> None:
    assert not nothing_to_read([record(10, "notification.sent"), record(11, "ticket.closed")], 0, WANTS)
    assert not nothing_to_read([record(10, "notification.sent"), record(11, None)], 0, WANTS)
    assert not nothing_to_read([record(10, "notification.sent", redriven=True)], 0, WANTS)


def test_a_consumer_that_reads_every_type_passes_nothing_over() -> None:
    assert not nothing_to_read([record(10, "notification.sent")], 0, None)
    assert not nothing_to_read([], 0, WANTS)


@given(
    kinds=st.lists(st.sampled_from(TYPES), min_size=1, max_size=8),
    first=st.integers(0, 20),
    history_end=st.integers(0, 20),
)
def test_passed_over_exactly_when_live_and_nothing_is_read(
    kinds: list[str | None], first: int, history_end: int
) -> None:
    batch = [record(first + i, k) for i, k in enumerate(kinds)]
    read_any = any(k is None or k.encode() in WANTS for k in kinds)
    assert nothing_to_read(batch, history_end, WANTS) == (first >= history_end and not read_any)


OWN = {b"mine-1": None, b"mine-2": None}


def test_own_decisions_read_back_live_are_passed_over() -> None:
    assert nothing_to_read([record(10, "ticket.opened", event_id="mine-1")], 10, WANTS, OWN)
    batch = [record(10, "ticket.closed", event_id="mine-2"), record(11, "notification.sent")]
    assert nothing_to_read(batch, 10, WANTS, OWN)
    assert nothing_to_read([record(10, "ticket.opened", event_id="mine-1")], 0, None, OWN)  # reads every type


def test_own_decisions_are_claimed_in_history_beside_others_or_redriven() -> None:
    assert not nothing_to_read([record(9, "ticket.opened", event_id="mine-1")], 10, WANTS, OWN)
    batch = [record(10, "ticket.opened", event_id="mine-1"), record(11, "ticket.opened", event_id="theirs")]
    assert not nothing_to_read(batch, 10, WANTS, OWN)
    assert not nothing_to_read([record(10, "ticket.opened", event_id="mine-1", redriven=True)], 0, WANTS, OWN)
    assert not nothing_to_read([record(10, "ticket.opened", event_id="theirs")], 0, None, OWN)
    assert not nothing_to_read([record(10, "ticket.opened", event_id="mine-1")], 0, None, {})


@given(
    kinds=st.lists(st.tuples(st.sampled_from(TYPES), st.booleans()), min_size=1, max_size=8),
    first=st.integers(0, 20),
    history_end=st.integers(0, 20),
    every_type=st.booleans(),
)
def test_passed_over_exactly_when_live_and_nothing_but_own_decisions_is_read(
    kinds: list[tuple[str | None, bool]], first: int, history_end: int, every_type: bool
) -> None:
    wants = None if every_type else WANTS
    batch = [record(first + i, k, event_id="mine-1" if mine else f"e{i}") for i, (k, mine) in enumerate(kinds)]
    read_any = any(k is None or ((wants is None or k.encode() in wants) and not mine) for k, mine in kinds)
    assert nothing_to_read(batch, history_end, wants, OWN) == (first >= history_end and not read_any)

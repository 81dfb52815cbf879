"""How a delivery batch is split over SMTP connections: nothing lost or doubled, a ticket's
messages on one connection in the order they were claimed."""

from __future__ import annotations

from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from services.notify.delivery import lanes_of
from services.notify.ledger import Delivery


def delivery(ticket: str, recipient: str) -> Delivery:
    return Delivery(uuid4(), recipient, "email", ticket, "received", "s", "b", 0, None)


rows = st.lists(
    st.tuples(st.sampled_from(["", "T-1", "T-2", "T-3", "T-4"]), st.sampled_from(["ana", "bea", "carlos"])),
    max_size=60,
).map(lambda pairs: [delivery(t, r) for t, r in pairs])


@given(rows, st.integers(min_value=1, max_value=16))
def test_every_row_goes_once_on_at_most_the_lanes_asked(batch: list[Delivery], lanes: int) -> None:
    split = lanes_of(batch, lanes)
    assert len(split) <= lanes
    assert all(split)
    assert sorted(d.event_id for lane in split for d in lane) == sorted(d.event_id for d in batch)


@given(rows, st.integers(min_value=1, max_value=16))
def test_a_tickets_messages_share_a_lane_in_order(batch: list[Delivery], lanes: int) -> None:
    split = lanes_of(batch, lanes)
    for key in {d.ticket_id or d.recipient for d in batch}:
        holding = [lane for lane in split if any((d.ticket_id or d.recipient) == key for d in lane)]
        assert len(holding) == 1
        assert [d for d in holding[0] if (d.ticket_id or d.recipient) == key] == [
            d for d in batch if (d.ticket_id or d.recipient) == key
        ]


def test_many_tickets_use_every_lane() -> None:
    split = lanes_of([delivery(f"T-{i}", "ana") for i in range(200)], 8)
    assert len(split) == 8


@given(rows, st.integers(min_value=1, max_value=16))
def test_the_lanes_end_together(batch: list[Delivery], lanes: int) -> None:
    """A batch lasts as long as its longest lane: no lane carries more than the shortest one plus
    one ticket's messages (which must stay on one lane)."""
    split = lanes_of(batch, lanes)
    sizes: dict[str, int] = {}
    for d in batch:
        sizes[d.ticket_id or d.recipient] = sizes.get(d.ticket_id or d.recipient, 0) + 1
    if split:
        assert max(map(len, split)) <= min(map(len, split)) + max(sizes.values())
        assert len(split) == min(lanes, len(sizes))  # as many lanes as there are groups to share them


def test_one_busy_ticket_does_not_hold_back_the_others() -> None:
    batch = [delivery("T-busy", "ana") for _ in range(20)] + [delivery(f"T-{i}", "bea") for i in range(20)]
    split = sorted(lanes_of(batch, 4), key=len, reverse=True)
    assert [len(lane) for lane in split] == [20, 7, 7, 6]

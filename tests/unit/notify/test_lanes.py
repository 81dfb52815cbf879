"""How claimed messages are shared over SMTP connections (services/notify/lanes.py), with claims
and settlements interleaved as they are while mail flows: nothing lost or doubled, a ticket's
messages on one connection in the order they were claimed, and the lanes kept even."""

from __future__ import annotations

from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from services.notify.lanes import Lanes, group_of
from services.notify.ledger import Delivery


def delivery(ticket: str, recipient: str) -> Delivery:
    return Delivery(uuid4(), recipient, "email", ticket, "received", "s", "b", 0, None)


rows = st.lists(
    st.tuples(st.sampled_from(["", "T-1", "T-2", "T-3", "T-4"]), st.sampled_from(["ana", "bea", "carlos"])),
    max_size=40,
).map(lambda pairs: [delivery(t, r) for t, r in pairs])

# a run: claims (a batch of rows) and settlements (the lane, modulo the lanes, settles its message)
steps = st.lists(st.one_of(rows.map(lambda b: ("claim", b)), st.integers(0, 15).map(lambda i: ("settle", i))))


@given(st.integers(min_value=1, max_value=8), steps)
def test_claims_and_settlements_interleaved(count: int, run: list[tuple[str, object]]) -> None:
    lanes = Lanes(count)
    claimed: list[Delivery] = []
    sent: list[Delivery] = []
    on_lane: dict[str, int] = {}  # group -> the lane its unsettled messages are on
    for kind, what in run:
        if kind == "claim":
            assert isinstance(what, list)
            before = lanes.in_flight
            given_to = lanes.add(what)
            claimed += what
            assert lanes.in_flight == before + len(what)
            assert given_to == {i for i, q in enumerate(lanes.queues) if any(d in q for d in what)}
        else:
            assert isinstance(what, int)
            lane = what % count
            if lanes.next(lane) is None:
                continue
            current = lanes.next(lane)
            assert lanes.done(lane) is current
            sent.append(current)
        for i, queue in enumerate(lanes.queues):
            for d in queue:  # every group's unsettled messages share one lane
                assert on_lane.setdefault(group_of(d), i) == i
        on_lane = {g: i for g, i in on_lane.items() if any(group_of(d) == g for q in lanes.queues for d in q)}
    left = [d for q in lanes.queues for d in q]
    assert sorted(d.event_id for d in sent + left) == sorted(d.event_id for d in claimed)  # none lost, none twice
    for key in {group_of(d) for d in claimed}:  # each group sent in the order it was claimed
        order = [d for d in claimed if group_of(d) == key]
        assert [d for d in sent if group_of(d) == key] == order[: len([d for d in sent if group_of(d) == key])]


def test_many_tickets_use_every_lane() -> None:
    lanes = Lanes(8)
    assert lanes.add([delivery(f"T-{i}", "ana") for i in range(200)]) == set(range(8))
    assert [len(q) for q in lanes.queues] == [25] * 8


def test_a_ticket_with_mail_on_its_way_gets_its_next_mail_on_the_same_lane() -> None:
    lanes = Lanes(4)
    lanes.add([delivery("T-busy", "ana") for _ in range(5)])
    busy = next(i for i, q in enumerate(lanes.queues) if q)
    lanes.add([delivery(f"T-{i}", "bea") for i in range(9)])
    assert lanes.add([delivery("T-busy", "ana")]) == {busy}  # although its lane has the most to do


def test_a_ticket_whose_mail_has_all_gone_goes_to_the_emptiest_lane() -> None:
    lanes = Lanes(2)
    lanes.add([delivery("T-1", "ana")])
    lanes.add([delivery("T-2", "bea") for _ in range(3)])  # lane 1 holds T-2's three, lane 0 holds T-1
    assert lanes.done(0).ticket_id == "T-1"
    lanes.add([delivery("T-x", "bea") for _ in range(2)])
    assert lanes.add([delivery("T-1", "ana")]) == {0}
    assert [len(q) for q in lanes.queues] == [3, 3]


def test_one_busy_ticket_does_not_hold_back_the_others() -> None:
    lanes = Lanes(4)
    lanes.add([delivery("T-busy", "ana") for _ in range(20)] + [delivery(f"T-{i}", "bea") for i in range(20)])
    assert sorted(len(q) for q in lanes.queues) == [6, 7, 7, 20]

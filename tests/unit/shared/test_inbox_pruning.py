"""The pure parts of inbox pruning and of re-driving (the I/O is in tests/integration)."""

from __future__ import annotations

from aiokafka import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from ops.dlq import Letter, Opened, redriven
from shared.platform.inbox_pruning import caught_up
from shared.platform.letters import REDRIVEN_FOR
from shared.platform.signing import SIG

TPS = st.builds(TopicPartition, st.sampled_from(["a", "b"]), st.integers(0, 3))
OFFSETS = st.dictionaries(TPS, st.integers(0, 1000), max_size=8)


@given(OFFSETS, OFFSETS)
def test_caught_up_means_at_or_past_every_end(
    ends: dict[TopicPartition, int], positions: dict[TopicPartition, int]
) -> None:
    expected = all(positions.get(tp, 0) >= end for tp, end in ends.items())
    assert caught_up(ends, positions) is expected
    assert caught_up(ends, {tp: end + 1 for tp, end in ends.items()})  # past every end
    behind = {tp: end - 1 for tp, end in ends.items() if end > 0}
    assert caught_up(ends, behind) is (len(behind) == 0)


def _letter(headers: list[tuple[str, bytes]]) -> Letter:
    return Letter("t.events.dlq", 0, 7, 0, b"T-1", b"sealed", headers)


def test_a_redriven_record_names_the_consumer_that_refused_it() -> None:
    letter = _letter([("dlq_topic", b"t.events"), ("dlq_consumer", b"routing.tickets")])
    signed = Opened(b"{}", [("ce_id", b"e1"), (SIG, b"sig")], True)
    topic, _key, _value, headers = redriven(letter, signed)
    assert topic == "t.events"
    assert (REDRIVEN_FOR, b"routing.tickets") in headers
    assert ("dlq_redriven_from", b"t.events.dlq/0/7") in headers
    request = Opened(b"{}", [("ce_id", b"r1")], True)  # a request: a new id, and the same mark
    _topic, _key, _value, headers = redriven(letter, request)
    assert (REDRIVEN_FOR, b"routing.tickets") in headers
    assert ("ce_id", b"r1") not in headers

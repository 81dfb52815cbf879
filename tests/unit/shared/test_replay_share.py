"""How a replay deals a consumer's partitions to its worker processes."""

from __future__ import annotations

from aiokafka import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from ops.replay_workers import share

partitions = st.dictionaries(
    st.builds(TopicPartition, st.sampled_from(["ticket.events", "agent.events"]), st.integers(0, 63)),
    st.integers(0, 10**9),
    max_size=100,
)


@given(partitions, st.integers(1, 8))
def test_every_partition_goes_to_exactly_one_worker_with_its_end(targets: dict[TopicPartition, int], n: int) -> None:
    shares = share(targets, n)
    assert len(shares) == n
    dealt = [tp for part in shares for tp in part]
    assert sorted(dealt) == sorted(targets)
    assert {tp: end for part in shares for tp, end in part.items()} == targets


@given(partitions, st.integers(1, 8))
def test_shares_differ_by_at_most_one_partition_and_do_not_depend_on_order(
    targets: dict[TopicPartition, int], n: int
) -> None:
    sizes = [len(part) for part in share(targets, n)]
    assert max(sizes) - min(sizes) <= 1
    assert share(dict(reversed(list(targets.items()))), n) == share(targets, n)


def test_twelve_partitions_two_workers_alternate() -> None:
    targets = {TopicPartition("t", p): 100 + p for p in range(12)}
    first, second = share(targets, 2)
    assert [tp.partition for tp in first] == [0, 2, 4, 6, 8, 10]
    assert [tp.partition for tp in second] == [1, 3, 5, 7, 9, 11]

"""Lists that scale, without PostgreSQL: what a query asks and how a cursor carries a page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.projections import listing
from services.projections.listing import BadQuery, Query


@given(
    st.one_of(st.datetimes(timezones=st.just(UTC)), st.sampled_from(["P1", "P4", "infinity"])),
    st.from_regex(r"T-[0-9A-Z]{8}", fullmatch=True),
)
def test_a_cursor_carries_its_place_whole(value: Any, ticket_id: str) -> None:
    raw, tid = listing.decode_cursor(listing.encode_cursor(value, ticket_id))
    assert tid == ticket_id
    assert raw == (value.isoformat() if isinstance(value, datetime) else value)


@pytest.mark.parametrize("cursor", ["", "!!!", "bm90IGpzb24", "WzEsMl0", "WyJ4IiwgIlQtMSIsIDNd", "eyJhIjogMX0"])
def test_a_cursor_that_is_not_ours_is_a_clear_error(cursor: str) -> None:
    with pytest.raises(BadQuery, match="cursor"):
        listing.decode_cursor(cursor)


def test_an_unknown_sort_is_a_clear_error() -> None:
    with pytest.raises(BadQuery, match="sort"):
        Query(sort="-password").order()
    assert Query(sort="priority").order() == ("t.priority", "text", "ASC")
    assert Query().order()[2] == "DESC"


def test_a_requesters_words_are_looked_up_only_in_what_they_may_read() -> None:
    args: list[Any] = ["lucia@example.com"]
    clause = listing.where(Query(words="devolución"), "requester = $1", args, requester=True)
    assert "search_public" in clause and "search_all" not in clause
    assert args == ["lucia@example.com", "devolución"]
    staff_args: list[Any] = []
    assert "search_all" in listing.where(Query(words="x"), "true", staff_args, requester=False)


def test_every_value_is_an_argument_never_sql() -> None:
    hostile = "x'); DROP TABLE tickets; --"
    args: list[Any] = []
    q = Query(
        filters={"requester": hostile, "order_id": hostile},
        status=("new", "merged"),
        tags=(hostile,),
        words=hostile,
        unassigned=True,
        cursor=listing.encode_cursor(hostile[:40], "T-00000001"),
    )
    clause = listing.where(q, "true", args, requester=False)
    tail, after = listing.page(q, clause, args)
    assert hostile not in clause + tail + after
    assert args.count(hostile) == 4 and hostile[:40] in args
    assert "t.merged_into IS NOT NULL" in clause and "t.owner IS NULL" in clause
    assert tail.endswith(f"LIMIT {q.limit + 1}") and after.startswith("(t.updated_at, t.id) <")

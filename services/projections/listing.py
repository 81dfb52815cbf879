"""Lists of tickets that scale: filters, words (PostgreSQL full text, Spanish and English stems),
a sort, and a cursor for the next page (keyset: page 200 costs what page 1 costs). Pure: what
to ask, as SQL and arguments; `store.listing` asks it.

What a person may list is the one access rule's (`store.visibility`); a requester's words are
looked up only in what they may read (`search_public`: never in internal notes)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

# sort name -> (SQL expression, its cast for the cursor's value)
SORTS: dict[str, tuple[str, str]] = {
    "updated": ("t.updated_at", "timestamptz"),
    "opened": ("t.opened_at", "timestamptz"),
    "priority": ("t.priority", "text"),
    "due": ("coalesce(t.resolution_due, 'infinity'::timestamptz)", "timestamptz"),
    "id": ("t.id", "text"),
    # what falls due next: the first response until it is given, then the resolution
    "next_due": ("t.next_due_at", "timestamptz"),
}
FILTER_COLUMNS = ("requester", "owner", "category", "priority", "order_id")
COUNT_UP_TO = (
    10_000  # past this, a list says "10,000 or more": counting every match of a broad search costs more than the page
)


class BadQuery(ValueError):
    """A sort or a cursor that is not one of ours: a 422, never a 500."""


@dataclass(frozen=True)
class Query:
    filters: dict[str, str] = field(default_factory=dict)  # column -> value (FILTER_COLUMNS)
    status: tuple[str, ...] = ()  # any of these (`merged`: closed as a duplicate)
    tags: tuple[str, ...] = ()  # all of these
    words: str = ""  # full text, an order number or a ticket id
    unassigned: bool = False
    owners: tuple[str, ...] | None = None  # owned by any of these (a team)
    fields: tuple[tuple[str, str], ...] = ()  # custom field = value, all of them
    sort: str = "-updated"  # a SORTS name; "-" first: descending
    limit: int = 50
    cursor: str | None = None

    def order(self) -> tuple[str, str, str]:
        """(expression, cast, direction)."""
        name, descending = self.sort.removeprefix("-"), self.sort.startswith("-")
        if name not in SORTS:
            raise BadQuery(f"sort: one of {', '.join(SORTS)}, with '-' for descending")
        expr, cast = SORTS[name]
        return expr, cast, "DESC" if descending else "ASC"


def encode_cursor(value: Any, ticket_id: str) -> str:
    raw = value.isoformat() if hasattr(value, "isoformat") else value
    return base64.urlsafe_b64encode(json.dumps([raw, ticket_id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        value, ticket_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise BadQuery("cursor: not one this API gave") from None
    if not isinstance(value, str) or not isinstance(ticket_id, str) or len(value) > 64 or len(ticket_id) > 64:
        raise BadQuery("cursor: not one this API gave")
    return value, ticket_id


def where(q: Query, seen: str, args: list[Any], *, requester: bool) -> str:
    """The WHERE of `q` after the visibility condition `seen` (whose arguments `args` holds);
    appends `q`'s own arguments to `args`."""

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    parts = [seen]
    for column in FILTER_COLUMNS:
        if (value := q.filters.get(column)) is not None:
            parts.append(f"t.{column} = {arg(value)}")
    if q.status:
        real = [s for s in q.status if s != "merged"]
        either = [f"(t.status = ANY({arg(real)}::text[]) AND t.merged_into IS NULL)"] if real else []
        either += ["t.merged_into IS NOT NULL"] if "merged" in q.status else []
        parts.append(f"({' OR '.join(either)})")
    if q.tags:
        parts.append(f"t.tags @> {arg(list(q.tags))}::text[]")
    if q.unassigned:
        parts.append("t.owner IS NULL")
    for name, value in q.fields:
        parts.append(
            f"EXISTS (SELECT 1 FROM ticket_fields f WHERE f.ticket_id = t.id AND f.field = {arg(name)}"
            f" AND f.value = {arg(value)})"
        )
    if q.owners is not None:
        parts.append(f"t.owner = ANY({arg(list(q.owners))}::text[])")
    if words := q.words.strip():
        index = "w.search_public" if requester else "w.search_all"
        w = arg(words)
        parts.append(
            f"(EXISTS (SELECT 1 FROM ticket_words w WHERE w.ticket_id = t.id AND {index} @@"
            f" (websearch_to_tsquery('spanish', {w}) || websearch_to_tsquery('english', {w})))"
            f" OR t.order_id = {w} OR t.id = upper({w}))"
        )
    return " AND ".join(parts)


def page(q: Query, clause: str, args: list[Any]) -> tuple[str, str]:
    """(the page's ORDER BY ... LIMIT, the keyset condition to AND to `clause`, or "")."""
    expr, cast, direction = q.order()
    after = ""
    if q.cursor:
        value, ticket_id = decode_cursor(q.cursor)
        args += [value, ticket_id]
        op = "<" if direction == "DESC" else ">"
        # the value travels as text (a date, or "infinity" for none) and PostgreSQL reads it
        after = f"({expr}, t.id) {op} ((${len(args) - 1}::text)::{cast}, ${len(args)})"
    return f"ORDER BY {expr} {direction}, t.id {direction} LIMIT {int(q.limit) + 1}", after


def sort_value(q: Query, row: Any) -> Any:
    """The value of the sort expression of `row`, as the cursor carries it."""
    name = q.sort.removeprefix("-")
    if name == "due":
        return row["resolution_due"] or "infinity"
    if name == "next_due":
        return row["next_due_at"]
    return row[{"updated": "updated_at", "opened": "opened_at"}.get(name, name)]

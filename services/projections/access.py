"""Who may read which ticket, and what of its timeline a requester sees. Pure: no I/O.

- Requesters read only their own tickets (another's answers as missing) and only the public part
  of the timeline: internal notes, routing's reasoning, SLA bookkeeping and mail deliveries are
  for staff. What is public is an allow-list per event type, field by field (`Public` marks on the
  events), so a field added to an event later stays private until someone marks it.
- Who reads which ticket at all is `shared.domain.access.may_read`, the one rule (intake applies it to
  every command and file too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.domain.access import may_read as may_read  # the one rule, shared with intake
from shared.domain.events import catalogue as ev
from shared.domain.principal import Principal

# Per event type the requester sees, the fields they see: the events' `Public` marks.
PUBLIC_FIELDS: Mapping[str, tuple[str, ...]] = {
    t: m.privacy.public for t, m in ev.models().items() if m.audience == "requester"
}


def public_event(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The requester's view of one timeline entry, or None when it is not theirs to see."""
    fields = PUBLIC_FIELDS.get(event["type"])
    data = event["data"]
    if fields is None or (event["type"] == "ticket.commented" and data.get("internal")):
        return None
    return {
        "seq": event["seq"],
        "id": event["id"],
        "type": event["type"],
        "time": event["time"],
        "data": {k: data[k] for k in fields if k in data},
    }


def timeline_for(who: Principal, events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if who.role != "requester":
        return [dict(e) for e in events]
    return [p for p in (public_event(e) for e in events) if p is not None]

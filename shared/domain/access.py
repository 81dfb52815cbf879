"""The one access rule: who may read a ticket. Pure. Whatever a person cannot read they cannot
change either (intake asks the same question before every command and file), and the answer to
either is the same as for a ticket that does not exist.

- Requesters read only their own tickets.
- Agents read their own queue, their teams' tickets (owned by someone sharing a team with them)
  and the unassigned ones (they pick work).
- Supervisors, auditors, admins and services read everything (auditors change nothing).
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.domain.principal import Principal


def may_read(who: Principal, requester: str, owner: str | None, teammates: Iterable[str] = ()) -> bool:
    """`requester` as `who` names people: their sign-in id when it is them."""
    if who.reads_all:
        return True
    if who.role == "requester":
        return requester == who.sub
    if who.role == "agent":
        return owner is None or owner == who.sub or owner in set(teammates)
    return False

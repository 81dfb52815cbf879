"""Named crash points, for the delivery-contract tests.

`MESA_FAULTS="after_state_commit=3"` makes the process SIGKILL itself the third time it reaches
`fault_point("after_state_commit")`. Unset (always, outside tests), a point costs one dict lookup.
A real SIGKILL, not an exception: no `finally`, no flush, exactly what a crashed machine does.
"""

from __future__ import annotations

import os
import signal


def _parse(spec: str) -> dict[str, int]:
    plan: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, count = part.partition("=")
        plan[name] = int(count or "1")
    return plan


_plan = _parse(os.environ.get("MESA_FAULTS", ""))
_hits: dict[str, int] = {}


def fault_point(name: str) -> None:
    if name not in _plan:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= _plan[name]:
        os.kill(os.getpid(), signal.SIGKILL)

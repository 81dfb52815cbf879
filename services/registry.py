"""Every Mesa service's spec, in the order of shared.platform.topology: what the operators' tools
(replay, `mesa services`), `deploy/services.sh` and the tests iterate over.

Importing this imports every service's code; a service process imports only its own.
"""

from __future__ import annotations

from services.audit.service import SPEC as AUDIT
from services.intake.service import SPEC as INTAKE
from services.mailin.service import SPEC as MAILIN
from services.notify.service import SPEC as NOTIFY
from services.projections.service import SPEC as PROJECTIONS
from services.routing.service import SPEC as ROUTING
from services.sla.service import SPEC as SLA
from shared.platform.runtime import ServiceSpec
from shared.platform.topology import STATIONS

SPECS: dict[str, ServiceSpec] = {s.name: s for s in (PROJECTIONS, INTAKE, ROUTING, SLA, NOTIFY, AUDIT, MAILIN)}
assert tuple(SPECS) == tuple(s.name for s in STATIONS), "services.registry and topology list the same services"
REPLAYABLE = tuple(name for name, s in SPECS.items() if s.replayable)


def spec(name: str) -> ServiceSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise ValueError(f"unknown service {name!r}; one of {', '.join(SPECS)}") from None

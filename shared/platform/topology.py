"""Which services Mesa has and where each listens: the one list the platform, the operators'
tools, `deploy/services.sh`, the tests and docker-compose.yml read.

A service's code facts (its migrations, its `build`, what a replay compares) are in its own
`service.py` as a `ServiceSpec` that names its entry here; `services.registry` gathers them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Station:
    """One service as deployed: its name (also its schema, broker principal and signing key)."""

    name: str
    port: int
    summary: str  # what `make up` says it is, Spanish / English

    @property
    def module(self) -> str:
        """What `python -m` runs."""
        return f"services.{self.name}"

    @property
    def port_variable(self) -> str:
        return f"{self.name.upper()}_PORT"


PROJECTIONS = Station("projections", 8080, "consultas y web / queries and web")
INTAKE = Station("intake", 8081, "alta de tickets / ticket intake")
ROUTING = Station("routing", 8082, "asignación / assignment")
SLA = Station("sla", 8083, "plazos y escalados / targets and escalations")
NOTIFY = Station("notify", 8084, "notificaciones / notifications")
AUDIT = Station("audit", 8085, "auditoría / audit chain")
MAILIN = Station("mailin", 8086, "correo entrante / inbound mail (SMTP)")

STATIONS: tuple[Station, ...] = (PROJECTIONS, INTAKE, ROUTING, SLA, NOTIFY, AUDIT, MAILIN)
BY_NAME = {s.name: s for s in STATIONS}


def station(name: str) -> Station:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown service {name!r}; one of {', '.join(BY_NAME)}") from None


if __name__ == "__main__":  # `deploy/services.sh` reads the list this way: name port summary, a line each
    for s in STATIONS:
        print(s.name, s.port, s.summary, sep="\t")

"""The one access rule, over HTTP, as a generated matrix: every relation to a ticket (the
requester, another requester, its owner, a teammate of the owner, an agent of another team,
supervisor, auditor, admin, service) x every way to read or change it (the query API, each
command, its file). Whoever may not read it gets, for every operation, the same 404 as for a
ticket that does not exist; whoever may read it never gets that 404."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.domain.access import may_read
from shared.domain.principal import Principal
from tests.e2e.conftest import Mesa, register_roster
from tests.e2e.test_access import PNG
from tests.support import bearer, client, eventually

pytestmark = pytest.mark.timeout(300)
SERVICES = ("projections", "intake", "routing", "sla")
TEAM = [  # olga owns the tickets (the only one with the skill), pablo shares her team, quim does not
    {
        "id": "olga",
        "name": "Olga",
        "email": "olga@soporte.test",
        "skills": ["hardware"],
        "level": 1,
        "capacity": 200,
        "teams": ["almacen"],
    },
    {
        "id": "pablo",
        "name": "Pablo",
        "email": "pablo@soporte.test",
        "skills": ["payment"],
        "level": 1,
        "capacity": 200,
        "teams": ["almacen", "caja"],
    },
    {
        "id": "quim",
        "name": "Quim",
        "email": "quim@soporte.test",
        "skills": ["network"],
        "level": 1,
        "capacity": 200,
        "teams": ["redes"],
    },
]
RELATIONS: dict[str, tuple[str, str]] = {
    "requester": ("requester", "rosa@example.com"),
    "another requester": ("requester", "sergio@example.com"),
    "owner": ("agent", "olga"),
    "teammate": ("agent", "pablo"),
    "another team": ("agent", "quim"),
    "supervisor": ("supervisor", "sara"),
    "auditor": ("auditor", "auditoria"),
    "admin": ("admin", "root"),
    "service": ("service", "erp"),
}
COMMANDS: dict[str, dict[str, Any]] = {
    "comment": {"body": "Nota", "internal": True},
    "request-info": {"question": "¿Modelo?"},
    "reply": {"body": "Es el modelo X"},
    "categorize": {"category": "software", "reason": "reclasificado"},
    "escalate": {"reason": "necesita nivel 2"},
    "resolve": {"summary": "Cambiado"},
    "reject": {"reason": "sigue igual"},
    "reopen": {"reason": "vuelve a fallar"},
    "confirm": {},
    "feedback": {"rating": 4},
    "close": {"reason": "cerrado"},
}


@pytest.fixture(scope="module")
async def ticket(mesa: Mesa) -> dict[str, str]:
    await register_roster(mesa, TEAM)
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            data={"subject": "La báscula no pesa", "description": "Error de hardware", "category": "hardware"},
            files={"screenshots": ("bascula.png", PNG, "image/png")},
            headers=bearer("requester", "rosa@example.com"),
        )
        assert r.status_code == 201, r.text
    tid = r.json()["id"]
    t = await mesa.ticket_when(tid, lambda t: t["owner"] == "olga", "olga to own the ticket")

    async def intake_knows_the_teams() -> bool:  # intake folds the roster from agent.events
        async with client("agent", "pablo", timeout=5) as http:
            r = await http.get(f"{mesa.url('intake')}/tickets/{tid}/attachments/{sha}")
        return r.status_code == 200

    sha = t["timeline"][0]["data"]["attachments"][0]["sha256"]
    await eventually(intake_knows_the_teams, what="intake to know olga's team")
    return {"id": tid, "sha": sha}


async def _operations(mesa: Mesa, tid: str, sha: str, headers: dict[str, str]) -> dict[str, int]:
    out = {}
    async with httpx.AsyncClient(timeout=10, headers=headers) as http:
        out["read"] = (await http.get(f"{mesa.url('projections')}/tickets/{tid}")).status_code
        out["file"] = (await http.get(f"{mesa.url('intake')}/tickets/{tid}/attachments/{sha}")).status_code
        for name, body in COMMANDS.items():
            out[name] = (await http.post(f"{mesa.url('intake')}/tickets/{tid}/{name}", json=body)).status_code
    return out


async def test_what_one_cannot_read_one_cannot_change_and_it_answers_as_missing(
    mesa: Mesa, ticket: dict[str, str]
) -> None:
    mismatches = []

    def readable(relation: str) -> bool:
        role, sub = RELATIONS[relation]
        return may_read(Principal(role, sub), "rosa@example.com", "olga", ["olga"] if sub == "pablo" else [])  # type: ignore[arg-type]

    # those who may not read it go first: the readers' commands change the ticket (an escalation
    # leaves it unassigned, which agents of any team may read)
    for relation in sorted(RELATIONS, key=readable):
        role, sub = RELATIONS[relation]
        readable_ = readable(relation)
        # the non-readers act on a missing ticket too: the answers must not differ
        missing = await _operations(mesa, "T-00000000", ticket["sha"], bearer(role, sub))  # type: ignore[arg-type]
        seen = await _operations(mesa, ticket["id"], ticket["sha"], bearer(role, sub))  # type: ignore[arg-type]
        for operation, status in seen.items():
            if readable_ and status == 404:
                mismatches.append((relation, operation, status, "readable yet 404"))
            if not readable_ and status != missing[operation]:
                mismatches.append((relation, operation, status, f"a missing ticket gives {missing[operation]}"))
            if not readable_ and status != 404:
                mismatches.append((relation, operation, status, "not readable yet not 404"))
        if readable_:
            assert seen["file"] == 200, (relation, seen["file"])
    assert not mismatches, mismatches
    assert [r for r in RELATIONS if not readable(r)] == ["another requester", "another team"]

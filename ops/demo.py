"""Demo data through the public APIs, as a person or another system would enter it.

Idempotent: agents are re-registered with the same facts, tickets carry an Idempotency-Key."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

DEMO_FILE = Path(__file__).parent / "demo.json"


async def _until(probe: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def load(data: dict[str, Any], intake: str, routing: str, query: str, token: str) -> list[dict[str, Any]]:
    """`token`: a service token (it registers the roster and opens tickets for the requesters)."""
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {token}"}) as http:
        known = {a["id"] for a in (await http.get(f"{routing}/agents")).json()}
        for agent in data["agents"]:
            if agent["id"] not in known:
                r = await http.post(f"{routing}/agents", json=agent)
                r.raise_for_status()

        async def roster_ready() -> bool:
            got = {a["id"] for a in (await http.get(f"{query}/agents")).json()}
            return got >= {a["id"] for a in data["agents"]}

        await _until(roster_ready, "the roster to reach the projections")
        published = {a["title"] for a in (await http.get(f"{query}/kb/articles", params={"limit": 200})).json()}
        for article in data.get("articles", []):
            if article["title"] not in published:
                (await http.post(f"{query}/kb/articles", json=article)).raise_for_status()
        ids = []
        for ticket in data["tickets"]:
            body = {k: v for k, v in ticket.items() if k != "key"}
            r = await http.post(f"{intake}/tickets", json=body, headers={"Idempotency-Key": ticket["key"]})
            if r.status_code == 422 and r.json().get("error") == "idempotency_key_reused":
                # loaded by an earlier version of Mesa, whose request read differently: it is there
                ids.append(await _loaded_before(http, query, body))
                continue
            r.raise_for_status()
            ids.append(r.json()["id"])

        async def assigned() -> list[dict[str, Any]] | None:
            rows = []
            for tid in ids:
                r = await http.get(f"{query}/tickets/{tid}")
                if r.status_code != 200 or not r.json()["owner"]:
                    return None
                rows.append(r.json())
            return rows

        result: list[dict[str, Any]] = await _until(assigned, "the demo tickets to be assigned")
        return result


async def _loaded_before(http: httpx.AsyncClient, query: str, body: dict[str, Any]) -> str:
    r = await http.get(
        f"{query}/tickets",
        params={
            "requester": body["requester"],
            "status": ["new", "assigned", "in_progress", "waiting_on_customer", "resolved", "closed"],
            "limit": 200,
        },
    )
    r.raise_for_status()
    found = [t["id"] for t in r.json()["items"] if t["subject"] == body["subject"]]
    if not found:
        raise RuntimeError(f"demo ticket {body['subject']!r} was loaded before but is not found")
    return str(found[-1])

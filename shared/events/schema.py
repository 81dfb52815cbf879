"""The catalogue, published: a JSON Schema per event type and an AsyncAPI 3.0 document.

Other internal systems read these to publish and consume Mesa's records without our code;
`mesa catalogue export` writes them to docs/catalogue/, and a test keeps them current.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.commands import REQUEST_TYPES
from shared.events.catalogue import known_types, model_for
from shared.topics import AGENT_EVENTS, TICKET_EVENTS, TICKET_REQUESTS

HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0, Kafka binary mode: attributes as ce_* headers",
    "required": ["ce_id", "ce_type", "ce_source", "ce_specversion", "ce_time"],
    "properties": {
        "ce_id": {"type": "string", "description": "UUIDv7"},
        "ce_type": {"type": "string"},
        "ce_source": {"type": "string"},
        "ce_subject": {"type": "string", "description": "ticket id (agent id on agent.events)"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_specversion": {"const": "1.0"},
        "ce_correlationid": {"type": "string"},
        "ce_causationid": {"type": "string"},
        "ce_actor": {"type": "string", "description": "role:id"},
        "ce_traceparent": {"type": "string"},
        "ce_dataversion": {"type": "string", "description": "payload schema version"},
        "content-type": {"const": "application/json"},
    },
}


def event_schemas() -> dict[str, dict[str, Any]]:
    """`<type>.v<version>` -> JSON Schema of the payload."""
    out = {}
    for t in known_types():
        if t.startswith("test."):
            continue
        model = model_for(t)
        schema = model.model_json_schema()
        schema["title"] = t
        schema["x-version"] = model.version
        out[f"{t}.v{model.version}"] = schema
    return out


def request_schemas() -> dict[str, dict[str, Any]]:
    out = {}
    for t, model in sorted(REQUEST_TYPES.items()):
        schema = model.model_json_schema()
        schema["title"] = t
        out[t] = schema
    return out


def asyncapi() -> dict[str, Any]:
    events = event_schemas()
    requests = request_schemas()
    messages: dict[str, Any] = {}
    for name, schema in {**events, **requests}.items():
        messages[name.replace(".", "_")] = {
            "name": name,
            "title": schema["title"],
            "headers": HEADERS_SCHEMA,
            "payload": {"$ref": f"events/{name}.json" if name in events else f"requests/{name}.json"},
        }

    def refs(names: list[str]) -> dict[str, Any]:
        return {n.replace(".", "_"): {"$ref": f"#/components/messages/{n.replace('.', '_')}"} for n in names}

    ticket = [n for n in events if n.startswith(("ticket.", "notification."))]
    agent = [n for n in events if n.startswith("agent.")]
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Mesa ticket events",
            "version": "1",
            "description": "Kafka topics of Mesa. Keys: ticket id (ticket.*), agent id (agent.events). "
            "Undecodable records are copied to <topic>.dlq with dlq_reason/dlq_code headers.",
        },
        "channels": {
            "ticketEvents": {"address": TICKET_EVENTS, "messages": refs(ticket)},
            "ticketRequests": {"address": TICKET_REQUESTS, "messages": refs(list(requests))},
            "agentEvents": {"address": AGENT_EVENTS, "messages": refs(agent)},
        },
        "components": {"messages": messages},
    }


def catalogue_files() -> dict[str, str]:
    """Relative path -> file text, deterministic (sorted keys, trailing newline)."""

    def dump(doc: dict[str, Any]) -> str:
        return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    files = {f"events/{n}.json": dump(s) for n, s in event_schemas().items()}
    files |= {f"requests/{n}.json": dump(s) for n, s in request_schemas().items()}
    files["asyncapi.json"] = dump(asyncapi())
    return files


def write_catalogue(out: Path) -> list[Path]:
    """Write the catalogue, removing files of types or versions that are no longer current."""
    for old in out.rglob("*.json") if out.exists() else ():
        old.unlink()
    written = []
    for rel, text in catalogue_files().items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written

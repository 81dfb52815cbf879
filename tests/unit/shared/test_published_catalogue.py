"""docs/catalogue/ is what other systems read: it must match the code (run `mesa catalogue export`)."""

from __future__ import annotations

import json

import jsonschema
import yaml

from ops.catalogue import asyncapi, asyncapi_yaml, catalogue_files
from tests.support import ROOT


def test_committed_catalogue_matches_the_code() -> None:
    folder = ROOT / "docs" / "catalogue"
    expected = catalogue_files()
    on_disk = {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*.json")}
    assert on_disk.keys() == expected.keys(), "run: .venv/bin/mesa catalogue export"
    stale = [name for name, text in expected.items() if on_disk[name] != text]
    assert not stale, f"stale files (run `mesa catalogue export`): {stale}"
    published = ROOT / "docs" / "asyncapi.yaml"
    assert published.read_text() == asyncapi_yaml(), "docs/asyncapi.yaml is stale: run `mesa catalogue export`"
    assert yaml.safe_load(published.read_text()) == json.loads(json.dumps(asyncapi()))


def test_schemas_are_valid_and_describe_real_payloads() -> None:
    files = catalogue_files()
    opened = __import__("json").loads(files["events/ticket.opened.v1.json"])
    jsonschema.Draft202012Validator.check_schema(opened)
    good = {
        "ticket_id": "T-1",
        "requester": "a",
        "subject": "s",
        "description": "d",
        "category": "hardware",
        "impact": "low",
        "urgency": "low",
        "priority": "P4",
    }
    jsonschema.validate(good, opened)
    bad = dict(good, priority="P9")
    assert not jsonschema.Draft202012Validator(opened).is_valid(bad)
    doc = asyncapi()
    assert set(doc["channels"]) == {"ticketEvents", "ticketRequests", "agentEvents", "workspaceEvents", "auditAccess"}
    assert "ticket_open" in doc["channels"]["ticketRequests"]["messages"]

"""Fuzzing the envelope and payload parsers (hypothesis): whatever bytes and headers arrive, the
parser returns an event or raises a typed InvalidRecord (a dead letter with a reason), never
anything else (which a consumer would take for a transient failure and retry forever)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.commands import decode_request, request_uuid
from shared.domain.events import Envelope, InvalidRecord, MalformedRecord, known_types

TYPES = [*known_types(), "ticket.open", "ticket.comment", "ticket.explode", ""]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=20,
)
header_values = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=40).map(str.encode),
    st.sampled_from([b"1.0", b"2", b"application/json", str(uuid.uuid4()).encode(), b"2026-11-26T10:00:00Z"]),
)
header_names = st.sampled_from(
    [
        "ce_id",
        "ce_type",
        "ce_source",
        "ce_subject",
        "ce_time",
        "ce_specversion",
        "ce_dataversion",
        "ce_actor",
        "content-type",
        "x-other",
    ]
)


def plausible_headers(ce_type: str) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_type", ce_type.encode()),
        ("ce_source", b"fuzz"),
        ("ce_subject", b"T-FUZZ"),
        ("ce_time", b"2026-11-26T10:00:00Z"),
        ("content-type", b"application/json"),
    ]


def parse_both(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
    for parse in (Envelope.from_kafka, decode_request):
        try:
            parse(key, value, headers)
        except InvalidRecord as exc:
            assert exc.reason and exc.code


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.none(), st.binary(max_size=200)), st.lists(st.tuples(header_names, header_values), max_size=10))
def test_random_bytes_and_headers(value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
    parse_both(b"k", value, headers)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TYPES), json_values, st.sampled_from([None, "1", "2", "0", "x", "-1", "99"]))
def test_plausible_records_with_random_payloads(ce_type: str, payload: Any, version: str | None) -> None:
    headers = plausible_headers(ce_type)
    if version is not None:
        headers.append(("ce_dataversion", version.encode()))
    parse_both(b"T-FUZZ", json.dumps(payload).encode(), headers)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TYPES), json_values, st.dictionaries(st.text(max_size=12), json_values, max_size=8))
def test_structured_mode_documents(ce_type: str, data: Any, extra: dict[str, Any]) -> None:
    doc = {"specversion": "1.0", "id": str(uuid.uuid4()), "type": ce_type, "source": "fuzz", "data": data, **extra}
    parse_both(b"T-FUZZ", json.dumps(doc).encode(), [("content-type", b"application/cloudevents+json")])


def _open_request(ce_id: str, source: str = "orders://tienda") -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", ce_id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", b"ticket.open"),
        ("content-type", b"application/json"),
    ]


OPEN = json.dumps({"requester": "a@example.com", "subject": "Pedido", "description": "No llega"}).encode()


@given(st.text(min_size=1, max_size=256).filter(lambda s: s.isprintable()), st.text(min_size=1, max_size=60))
def test_any_cloudevents_id_is_a_request_and_its_identity_is_source_plus_id(ce_id: str, source: str) -> None:
    source = "orders://" + "".join(c for c in source if c.isalnum())
    first = decode_request(None, OPEN, _open_request(ce_id, source))
    again = decode_request(None, OPEN, _open_request(ce_id, source))
    elsewhere = decode_request(None, OPEN, _open_request(ce_id, source + "-otro"))
    assert first.id == again.id == request_uuid(source, ce_id)
    assert elsewhere.id != first.id
    assert first.correlationid == ce_id


def test_an_order_systems_id_is_taken_and_an_empty_or_huge_one_is_not() -> None:
    assert decode_request(None, OPEN, _open_request("order-9086-1")).id == request_uuid(
        "orders://tienda", "order-9086-1"
    )
    with pytest.raises(MalformedRecord, match="missing CloudEvents attribute: id"):
        decode_request(None, OPEN, _open_request(""))
    with pytest.raises(MalformedRecord, match="longer than 256"):
        decode_request(None, OPEN, _open_request("x" * 257))

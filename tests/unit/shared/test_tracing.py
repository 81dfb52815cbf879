"""Tracing's decisions (shared.platform.tracing), pure: what starts a trace, what a caller's
`traceparent` may decide, and what the relay writes into a record."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind

from shared.platform import tracing

TRACE = "0af7651916cd43dd8448eb211c80319c"


def test_sampled_reads_the_flag_of_a_well_formed_traceparent_only() -> None:
    assert tracing.sampled(f"00-{TRACE}-b7ad6b7169203331-01")
    assert not tracing.sampled(f"00-{TRACE}-b7ad6b7169203331-00")
    assert not tracing.sampled(None) and not tracing.sampled("")
    assert not tracing.sampled("00-xyz-b7ad6b7169203331-01")  # not hex
    assert not tracing.sampled(f"00-{TRACE}-b7ad6b7169203331-01-extra")


def test_only_a_request_from_outside_starts_a_trace() -> None:
    roots = tracing._RootsFromOutside(1.0)
    assert (
        roots.should_sample(None, int(TRACE, 16), "GET /tickets", SpanKind.SERVER).decision
        == Decision.RECORD_AND_SAMPLE
    )
    for kind in (SpanKind.CLIENT, SpanKind.INTERNAL, SpanKind.CONSUMER, SpanKind.PRODUCER):
        # a statement of a background loop, say: never a trace of its own
        assert roots.should_sample(None, int(TRACE, 16), "SELECT", kind).decision == Decision.DROP
    assert tracing._RootsFromOutside(0.0).should_sample(None, 1, "x", SpanKind.SERVER).decision == Decision.DROP


def _provider(rate: float) -> TracerProvider:
    return TracerProvider(
        sampler=ParentBased(
            root=tracing._RootsFromOutside(rate),
            remote_parent_sampled=TraceIdRatioBased(rate),
            remote_parent_not_sampled=TraceIdRatioBased(rate),
        )
    )


def test_a_callers_sampled_flag_does_not_decide_and_every_hop_decides_alike() -> None:
    never = _provider(0.0).get_tracer("t")
    forced = never.start_span(
        "POST /tickets", context=tracing.parent_context(f"00-{TRACE}-b7ad6b7169203331-01"), kind=SpanKind.SERVER
    )
    assert not forced.is_recording()  # the caller asked; the rate here is 0
    always = _provider(1.0).get_tracer("t")
    asked_not = always.start_span(
        "POST /tickets", context=tracing.parent_context(f"00-{TRACE}-b7ad6b7169203331-00"), kind=SpanKind.SERVER
    )
    assert asked_not.is_recording()
    # the same trace id gets the same answer at every hop (the ratio is a function of the id)
    half = _provider(0.5).get_tracer("t")
    answers = {
        half.start_span(
            "hop", context=tracing.parent_context(f"00-{TRACE}-{i:016x}-01"), kind=SpanKind.CONSUMER
        ).is_recording()
        for i in range(1, 20)
    }
    assert len(answers) == 1


def test_the_relay_names_its_producer_span_in_the_record_and_keeps_every_other_header() -> None:
    tracer = _provider(1.0).get_tracer("t")
    span = tracer.start_span("publish", context=tracing.parent_context(f"00-{TRACE}-b7ad6b7169203331-01"))
    headers = [("ce_id", b"1"), ("ce_traceparent", f"00-{TRACE}-b7ad6b7169203331-01".encode()), ("content-type", b"x")]
    out = tracing.with_traceparent(headers, span)
    assert [k for k, _ in out] == [k for k, _ in headers]
    assert dict(out)["ce_traceparent"] == (tracing.traceparent_of(span) or "").encode()
    assert dict(out)["ce_traceparent"].decode().split("-")[1] == TRACE  # the same trace, a new parent
    assert dict(out)["ce_id"] == b"1"
    assert tracing.header(out, "ce_traceparent") == tracing.traceparent_of(span)


def test_a_span_keeps_no_query_string_address_or_browser() -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = _provider(1.0)
    kept = InMemorySpanExporter()
    provider.add_span_processor(tracing._Scrub())
    provider.add_span_processor(SimpleSpanProcessor(kept))
    span = provider.get_tracer("t").start_span(
        "GET /tickets",
        kind=SpanKind.SERVER,
        attributes={
            "http.url": "http://127.0.0.1:8080/tickets?requester=ana%40example.com&q=factura",
            "http.target": "/tickets?requester=ana%40example.com",
            "url.query": "requester=ana%40example.com",
            "net.peer.ip": "10.0.0.7",
            "http.user_agent": "Mozilla/5.0",
            "http.route": "/tickets",
        },
    )
    span.end()
    [done] = kept.get_finished_spans()
    attributes = dict(done.attributes or {})
    assert attributes["http.url"] == "http://127.0.0.1:8080/tickets" and attributes["http.target"] == "/tickets"
    assert attributes["url.query"] == attributes["net.peer.ip"] == attributes["http.user_agent"] == "-"
    assert attributes["http.route"] == "/tickets"
    assert "ana" not in repr(attributes) and "10.0.0.7" not in repr(attributes)


async def test_a_request_not_sampled_runs_quiet_and_a_sampled_one_does_not() -> None:
    seen: list[bool] = []

    async def endpoint(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(is_instrumentation_enabled())  # what the asyncpg instrumentation asks first

    quiet = tracing.QuietUnlessSampled(endpoint)
    for rate in (0.0, 1.0):
        server = _provider(rate).get_tracer("t").start_span("POST /tickets", kind=SpanKind.SERVER)
        with trace.use_span(server, end_on_exit=True):
            await quiet({"type": "http"}, None, None)
        assert is_instrumentation_enabled()  # the quiet ends with its request
    await quiet({"type": "lifespan"}, None, None)  # not a request: untouched
    assert seen == [False, True, True]

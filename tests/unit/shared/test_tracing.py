"""Tracing's decisions (shared.platform.tracing), pure: what starts a trace, what a caller's
`traceparent` may decide, and what the relay writes into a record."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult, TraceIdRatioBased
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


@given(st.integers(min_value=1, max_value=2**128 - 1), st.sampled_from([0.0, 0.01, 0.1, 0.5, 1.0]), st.booleans())
def test_a_request_is_traced_exactly_when_the_sampler_would_record_it(trace_id: int, rate: float, flag: bool) -> None:
    """The gate decides before any span: it must agree with the sampler every hop uses."""
    header = f"00-{trace_id:032x}-b7ad6b7169203331-{'01' if flag else '00'}"
    sampled, root = tracing.request_trace(header, rate)
    expected = TraceIdRatioBased(rate).should_sample(None, trace_id, "x").decision == Decision.RECORD_AND_SAMPLE
    assert (sampled, root) == (expected, None)  # the caller's trace id: none drawn


def test_a_request_without_a_usable_traceparent_draws_its_own_trace_id() -> None:
    for header in (None, "", "00-xyz-b7ad6b7169203331-01", f"00-{'0' * 32}-b7ad6b7169203331-01"):
        assert tracing.request_trace(header, 0.0) == (False, None)
        sampled, root = tracing.request_trace(header, 1.0)
        assert sampled and root is not None
    draws = [tracing.request_trace(None, 0.25) for _ in range(2000)]
    assert 350 < sum(s for s, _ in draws) < 650  # a quarter, give or take (binomial, 2,000 draws)
    for sampled, root in draws:
        if sampled:
            assert root is not None
            assert TraceIdRatioBased(0.25).should_sample(None, root, "x").decision == Decision.RECORD_AND_SAMPLE


class _Asked(Sampler):
    """A sampler that counts the spans it was asked about (one per instrumented request)."""

    def __init__(self, inner: Sampler) -> None:
        self.inner = inner
        self.asked = 0

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        self.asked += 1
        return self.inner.should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return f"Asked({self.inner.get_description()})"


async def test_only_sampled_requests_meet_the_instrumentation_and_every_request_meets_the_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FastAPI instrumented as services are, with a provider of the test's own: a request the gate
    samples is recorded under the trace id decided for it, any other leaves no span, and both go
    through the app's own middleware."""
    from fastapi import FastAPI, Request, Response
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    monkeypatch.setattr(tracing, "_rate", 0.5)
    sampler = _Asked(
        ParentBased(
            root=tracing._RootsFromOutside(0.5),
            remote_parent_sampled=TraceIdRatioBased(0.5),
            remote_parent_not_sampled=TraceIdRatioBased(0.5),
        )
    )
    provider = TracerProvider(id_generator=tracing._GatedIds(), sampler=sampler)
    kept = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(kept))
    app = FastAPI()

    @app.middleware("http")
    async def stamp(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["x-app-middleware"] = "1"
        return response

    @app.get("/tickets/{tid}")
    async def ticket(tid: str) -> dict[str, str]:
        return {"id": tid}

    tracing.instrument_app(app, tracer_provider=provider)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mesa") as client:
        for i in range(200):
            r = await client.get(f"/tickets/T-{i}")
            assert r.status_code == 200 and r.headers["x-app-middleware"] == "1"
        servers = [s for s in kept.get_finished_spans() if s.kind == SpanKind.SERVER]
        assert 60 < len(servers) < 140  # about half (binomial, 200 requests)
        assert sampler.asked == len(servers)  # the others never reached the instrumentation
        for span in servers:
            assert span.context is not None and span.context.trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < (
                TraceIdRatioBased.get_bound_for_rate(0.5)
            )
        kept.clear()
        low = f"00-{1:032x}-b7ad6b7169203331-00"  # under the bound: traced, whatever its flag says
        high = f"00-{2**128 - 1:032x}-b7ad6b7169203331-01"  # over it: not, though it asks
        assert (await client.get("/tickets/T-x", headers={"traceparent": low})).headers["x-app-middleware"] == "1"
        assert (await client.get("/tickets/T-y", headers={"traceparent": high})).headers["x-app-middleware"] == "1"
        [span] = [s for s in kept.get_finished_spans() if s.kind == SpanKind.SERVER]
        assert span.context is not None and span.context.trace_id == 1
        assert span.parent is not None and span.parent.span_id == 0xB7AD6B7169203331

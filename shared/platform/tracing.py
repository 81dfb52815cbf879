"""Traces (OpenTelemetry): one per command, across every service the command's events reach.

The W3C `traceparent` travels in the envelope (`ce_traceparent`, shared.domain.events.envelope):
- an HTTP request is a SERVER span (FastAPI's instrumentation; a caller's own `traceparent`
  header is honoured), and the events its transaction puts in the outbox carry it
  (`outbox.enqueue_all` stamps an envelope that has none);
- the relay publishes each such event in a PRODUCER span, child of it, and the record carries the
  producer span instead (written before the batch is signed, so the signature covers it);
- each consumer applies a record in a CONSUMER span, child of the producer span, starting when
  the record reached the log (so the time it waited for the consumer shows), and the events the
  consumer emits in reaction carry that span.
History and replays make no spans: they are not live (`Delivery.replaying`).

Sampling (`MESA_TRACE_SAMPLE`, a fraction of commands) is a function of the trace id, the same
on every hop, so a trace is whole or absent; a caller's `traceparent` names the trace, but its
"sampled" flag does not oblige us (a client could otherwise have every request traced). Spans
nobody asked for are never made: database statements become spans only under a sampled span
(a request that is not sampled runs with the instrumentation quiet, `QuietUnlessSampled`), and a
statement outside any (a relay's poll, a consumer's claim) makes no trace of its own.

Why not OpenTelemetry's aiokafka instrumentation: it adds a `traceparent` header to a record after
Mesa's relay has signed it, and it makes one span per poll, which cannot say which of a batch's
records a consumer applied or skipped. The spans here follow its conventions (`messaging.*`).
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from opentelemetry import context, trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

from shared.platform.logging import get_logger

log = get_logger(__name__)

TRACER = trace.get_tracer("mesa")
_PROPAGATOR = TraceContextTextMapPropagator()
_TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
# What makes a root span: a request from outside. Anything else with no parent (a statement of
# a background loop, say) is dropped, never a trace of its own.
_ROOT_KINDS = (SpanKind.SERVER,)


class _RootsFromOutside(Sampler):
    """The root decision: a fraction of requests; nothing else starts a trace."""

    def __init__(self, rate: float) -> None:
        self._ratio = TraceIdRatioBased(rate)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if kind not in _ROOT_KINDS:
            return SamplingResult(Decision.DROP)
        return self._ratio.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"RootsFromOutside({self._ratio.get_description()})"


# What a span may not keep: a query string (search words, a requester's address), who is
# calling from where (an address, a browser). Routes and ticket ids are operational.
_QUERY_BEARING = ("http.url", "url.full", "http.target")
_PERSONAL = ("url.query", "net.peer.ip", "client.address", "http.client_ip", "http.user_agent", "user_agent.original")


class _Scrub(SpanProcessor):
    """Drops what is personal from a span as it starts, whatever instrumentation made it."""

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        attributes = span.attributes or {}
        for key in _QUERY_BEARING:
            value = attributes.get(key)
            if isinstance(value, str) and "?" in value:
                span.set_attribute(key, value.split("?", 1)[0])
        for key in _PERSONAL:
            if key in attributes:
                span.set_attribute(key, "-")

    def on_end(self, span: ReadableSpan) -> None:
        pass


def configure_tracing(service: str, instance: str, endpoint: str, sample: float) -> TracerProvider | None:
    """Export this process's spans over OTLP/HTTP to `endpoint` (Jaeger's collector, say); none
    when `endpoint` is empty. Returns the provider, to flush and shut down on exit."""
    if not endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": service, "service.namespace": "mesa", "service.instance.id": instance}
        ),
        # a caller's `traceparent` names the trace but does not decide: its flag is ignored, the
        # decision is made here from the trace id, the same way on every hop (so a client cannot
        # have every request it sends traced)
        sampler=ParentBased(
            root=_RootsFromOutside(sample),
            remote_parent_sampled=TraceIdRatioBased(sample),
            remote_parent_not_sampled=TraceIdRatioBased(sample),
        ),
    )
    provider.add_span_processor(_Scrub())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")))
    trace.set_tracer_provider(provider)  # TRACER, a proxy until now, follows it
    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    log.info("tracing on", endpoint=endpoint, sample=sample)
    return provider


def instrument_app(app: Any) -> None:
    """Make every request to `app` a SERVER span (when tracing is on); not the probes'."""
    if not enabled():
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    app.add_middleware(QuietUnlessSampled)  # inside the instrumentation's: its span is current
    # one span per request: not one more for each ASGI message it receives and sends
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="/healthz,/readyz,/metrics", exclude_spans=["receive", "send"]
    )


class QuietUnlessSampled:
    """A request that is not traced runs quiet: its statements make no spans. The asyncpg
    instrumentation would otherwise build each one's name, attributes and a span that records
    nothing: 32 us of CPU per statement on the development VM, 46 us the statement itself."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or trace.get_current_span().is_recording():
            await self.app(scope, receive, send)
            return
        token = context.attach(context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            await self.app(scope, receive, send)
        finally:
            context.detach(token)


def enabled() -> bool:
    """Whether this process exports spans (`configure_tracing` was given an endpoint)."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def quiet_context() -> contextvars.Context:
    """A context for a background task (a consumer, the relay, a loop): its statements become
    spans only under a span of its own (`heard`). Give each task a copy."""
    ctx = contextvars.copy_context()
    ctx.run(context.attach, context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
    return ctx


@contextlib.contextmanager
def heard() -> Iterator[None]:
    """Inside a recording span of a quiet task: its statements are spans again."""
    token = context.attach(context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, False))
    try:
        yield
    finally:
        context.detach(token)


def traceparent_of(span: trace.Span) -> str | None:
    """A span's W3C `traceparent`, or None for a span that is no span (tracing off)."""
    c = span.get_span_context()
    if not c.is_valid:
        return None
    return f"00-{c.trace_id:032x}-{c.span_id:016x}-{int(c.trace_flags):02x}"


def current_traceparent() -> str | None:
    return traceparent_of(trace.get_current_span())


def sampled(traceparent: str | None) -> bool:
    """Whether a `traceparent` asks its receivers to record (its flags' last bit)."""
    if traceparent is None or _TRACEPARENT.match(traceparent) is None:
        return False
    return int(traceparent[-2:], 16) & 1 == 1


def parent_context(traceparent: str) -> Context:
    return _PROPAGATOR.extract({"traceparent": traceparent})


def header(headers: Sequence[tuple[str, bytes]] | None, name: str) -> str | None:
    for k, v in headers or ():
        if k == name:
            return v.decode("ascii", "replace")
    return None


def start_consume(
    consumer: str,
    topic: str,
    partition: int,
    offset: int,
    appended_ms: int,
    headers: Sequence[tuple[str, bytes]] | None,
    event_id: Callable[[], str],
) -> trace.Span | None:
    """The CONSUMER span of one live record, when its `traceparent` is sampled: it starts when the
    record reached the log (`appended_ms`), so a wait for the consumer shows as the gap before
    its "applying" event; the caller ends it (`finish`). `event_id` is asked only then (some
    consumers' ids are made on demand)."""
    parent = header(headers, "ce_traceparent")
    if not sampled(parent):
        return None
    assert parent is not None
    event_type = header(headers, "ce_type") or "record"
    span = TRACER.start_span(
        f"process {event_type}",
        context=parent_context(parent),
        kind=SpanKind.CONSUMER,
        # the log's timestamp is in whole milliseconds: the end of that millisecond, so the span
        # never seems to start before the producer span that sent it (capped at now)
        start_time=min((appended_ms + 1) * 1_000_000, time.time_ns()),
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": topic,
            "messaging.destination.partition.id": str(partition),
            "messaging.kafka.offset": offset,
            "messaging.consumer.group.name": consumer,
            "messaging.message.id": event_id(),
            "mesa.event_type": event_type,
        },
    )
    span.add_event("applying")
    return span


def start_publish(topic: str, event_id: str, headers: Sequence[tuple[str, bytes]]) -> trace.Span | None:
    """The PRODUCER span of one outbox row whose event carries a sampled `traceparent`."""
    parent = header(headers, "ce_traceparent")
    if not sampled(parent):
        return None
    assert parent is not None
    event_type = header(headers, "ce_type") or "record"
    return TRACER.start_span(
        f"publish {event_type}",
        context=parent_context(parent),
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.destination.name": topic,
            "messaging.message.id": event_id,
            "mesa.event_type": event_type,
        },
    )


def with_traceparent(headers: list[tuple[str, bytes]], span: trace.Span) -> list[tuple[str, bytes]]:
    """`headers` with `ce_traceparent` naming `span` (the record's receivers become its children)."""
    value = (traceparent_of(span) or "").encode()
    return [(k, value if k == "ce_traceparent" else v) for k, v in headers]


def finish(spans: Iterable[trace.Span], error: BaseException | None = None) -> None:
    for span in spans:
        if error is not None:
            span.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))
        span.end()

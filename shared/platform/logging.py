"""Structured logs (structlog): JSON lines by default, readable lines with MESA_LOG_FORMAT=console."""

from __future__ import annotations

import logging
import sys

import structlog
from opentelemetry import trace


def _trace_ids(_logger: object, _method: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """A line logged under a sampled span names it: the line leads to its trace in Jaeger."""
    c = trace.get_current_span().get_span_context()
    if c.is_valid and c.trace_flags.sampled:
        event["trace_id"] = f"{c.trace_id:032x}"
        event["span_id"] = f"{c.span_id:016x}"
    return event


def configure_logging(level: str = "INFO", fmt: str = "json", service: str | None = None) -> None:
    lvl = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=False) if fmt == "console" else structlog.processors.JSONRenderer()
    )
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        _trace_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    if service:
        structlog.contextvars.bind_contextvars(service=service)
    logging.basicConfig(level=max(lvl, logging.WARNING), stream=sys.stderr)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]

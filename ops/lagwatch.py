"""`python -m ops.lagwatch`: every consumer group's lag, from the broker, on /metrics.

A consumer that is down, stuck or frozen cannot say how far behind it is, so its lag is measured
from outside, as KEDA's Kafka scaler and Burrow do: the group's committed offsets (each Mesa
consumer commits at most a second behind what it applied) against the log's ends, every
`MESA_LAG_INTERVAL_S`. It runs as the `monitor` principal, which may describe topics and
groups and read nothing (shared/platform/acls.py). Exports, per group, topic and partition:

- `mesa_consumer_lag_records`: records on the log the group has not processed;
- `mesa_consumer_lag_seconds`: how long the oldest of them has waited (ops.lag);
and `mesa_lagwatch_last_sample_timestamp_seconds`, so a watcher that stopped sampling shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import REGISTRY, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import Field

from ops.lag import EndHistory, Lag, lag_of
from shared.platform.logging import configure_logging, get_logger
from shared.platform.settings import Settings

log = get_logger(__name__)

PRINCIPAL = "monitor"


class WatchSettings(Settings):
    lag_interval_s: float = Field(default=5.0, gt=0, validation_alias="MESA_LAG_INTERVAL_S")
    lagwatch_port: int = Field(default=8089, validation_alias="MESA_LAGWATCH_PORT")


class LagWatch:
    """Samples every Mesa consumer group's lag (`sample`); the latest sample is what it exports."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._histories: dict[TopicPartition, EndHistory] = {}
        self.latest: dict[tuple[str, str, int], Lag] = {}
        self.sampled_at = 0.0
        self._admin: AIOKafkaAdminClient | None = None
        self._reader: AIOKafkaConsumer | None = None

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        """Kept between samples (a sign-in per sample would cost the broker a SCRAM exchange)."""
        if self._admin is None or self._reader is None:
            kafka = self._settings.kafka()
            admin = AIOKafkaAdminClient(**kafka)
            reader = AIOKafkaConsumer(**kafka, group_id=None, enable_auto_commit=False)
            await admin.start()
            try:
                await reader.start()
            except BaseException:
                await admin.close()
                raise
            self._admin, self._reader = admin, reader
        return self._admin, self._reader

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.stop()
        if self._admin is not None:
            await self._admin.close()
        self._admin = self._reader = None

    async def sample(self) -> dict[tuple[str, str, int], Lag]:
        try:
            admin, reader = await self._clients()
            prefix = self._settings.topic("mesa.")
            groups = sorted(g for g, *_ in await admin.list_consumer_groups() if g.startswith(prefix))
            committed = {g: await admin.list_consumer_group_offsets(g) for g in groups}
            topics = {tp.topic for offsets in committed.values() for tp in offsets}
            described = await admin.describe_topics(sorted(topics)) if topics else []
            partitions = sorted(
                TopicPartition(d["topic"], p["partition"])
                for d in described
                if not d["error_code"]
                for p in d["partitions"]
            )
            ends = await reader.end_offsets(partitions) if partitions else {}
            begins = await reader.beginning_offsets(partitions) if partitions else {}
        except BaseException:
            with contextlib.suppress(Exception):
                await self.close()  # the next sample signs in again
            raise
        now = time.time()
        for tp, end in ends.items():
            self._histories.setdefault(tp, EndHistory()).observe(end, now)
        out: dict[tuple[str, str, int], Lag] = {}
        for g, offsets in committed.items():
            mine = {tp.topic for tp in offsets}
            for tp in partitions:
                if tp.topic not in mine:
                    continue
                at = offsets.get(tp)
                out[(g, tp.topic, tp.partition)] = lag_of(
                    self._histories[tp], begins[tp], ends[tp], at.offset if at is not None else None, now
                )
        self.latest, self.sampled_at = out, now
        return out


class _Exported(Collector):
    def __init__(self, watch: LagWatch) -> None:
        self._watch = watch

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["group", "topic", "partition"]
        records = GaugeMetricFamily("mesa_consumer_lag_records", "Records the group has not processed", labels=labels)
        seconds = GaugeMetricFamily(
            "mesa_consumer_lag_seconds",
            "How long the oldest record the group has not processed has waited",
            labels=labels,
        )
        for (g, t, p), lag in sorted(self._watch.latest.items()):
            records.add_metric([g, t, str(p)], lag.records)
            seconds.add_metric([g, t, str(p)], lag.seconds)
        yield records
        yield seconds
        yield GaugeMetricFamily(
            "mesa_lagwatch_last_sample_timestamp_seconds", "When the lag was last sampled", value=self._watch.sampled_at
        )


async def watch(settings: WatchSettings) -> None:
    lagwatch = LagWatch(settings)
    REGISTRY.register(_Exported(lagwatch))
    start_http_server(settings.lagwatch_port, addr=settings.http_host)
    log.info("lag watch started", port=settings.lagwatch_port, interval=settings.lag_interval_s)
    while True:
        try:
            await lagwatch.sample()
        except Exception as exc:  # the broker away for a moment: the timestamp stops moving
            log.warning("lag sample failed", error=type(exc).__name__)
        await asyncio.sleep(settings.lag_interval_s)


def main() -> None:
    settings = WatchSettings()
    if settings.kafka_principal is None:
        settings = settings.model_copy(update={"kafka_principal": PRINCIPAL})
    configure_logging(settings.log_level, settings.log_format, service="lagwatch")
    asyncio.run(watch(settings))


if __name__ == "__main__":
    main()

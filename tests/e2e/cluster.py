"""A three-node Kafka cluster of the tests' own, started by the project's script (deploy/kafka.sh,
KAFKA_BROKERS=3) on ports from MESA_TEST_CLUSTER_PORT (default 19092..19097, ten more per pytest
worker) with its data in a
temporary folder: the suite's broker goes on serving the other modules. Also the second
PostgreSQL server (deploy/postgres.sh, PG_SERVERS=2)."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from shared.platform.settings import Settings
from shared.platform.topics import TICKET_EVENTS, cluster_state
from tests.support import ROOT, eventually, worker_number

# pytest's workers (`make test` runs two) may each start a cluster: ten ports apart
BASE_PORT = int(os.environ.get("MESA_TEST_CLUSTER_PORT", "19092")) + 10 * worker_number()
NODES = (1, 2, 3)


@dataclass
class Cluster:
    """Three Kafka nodes started by the project's script, in a folder of their own."""

    local: Path
    env: dict[str, str]

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{BASE_PORT + 2 * (i - 1)}" for i in NODES)

    @property
    def credentials(self) -> Path:
        return self.local / "kafka"

    def pid(self, node: int) -> int | None:
        try:
            pid = int((self.local / "kafka" / "nodes" / str(node) / "kafka.pid").read_text())
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ProcessLookupError, ValueError):
            return None

    async def script(self, *args: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            "bash", str(ROOT / "deploy" / "kafka.sh"), *args, env={**os.environ, **self.env}
        )
        assert await proc.wait() == 0, f"deploy/kafka.sh {' '.join(args)}"

    async def kill(self, node: int) -> None:
        """SIGKILL: the node's process dies with what it held, as in a power cut."""
        pid = self.pid(node)
        assert pid is not None, f"node {node} is not running"
        os.kill(pid, signal.SIGKILL)

        async def gone() -> bool:
            return self.pid(node) is None

        await eventually(gone, timeout=10, what=f"node {node} to die")


def new_cluster(local: Path) -> Cluster:
    env = {
        "MESA_LOCAL": str(local),
        "KAFKA_BROKERS": "3",
        "KAFKA_PORT": str(BASE_PORT),
        "KAFKA_HEAP": "-Xms128m -Xmx384m",
    }
    return Cluster(local, env)


async def leader_of_busiest(settings: Settings) -> int:
    """The node leading ticket.events' partition 0 (every partition of it is as busy)."""
    state = await cluster_state(settings, [settings.topic(TICKET_EVENTS)])
    leader = next(p.leader for p in state.partitions if p.partition == 0)
    assert leader > 0, state
    return leader


async def all_in_sync(settings: Settings) -> bool:
    try:
        state = await cluster_state(settings)
    except Exception:  # a node still joining: its metadata can be short for a moment
        return False
    return len(state.nodes) == len(NODES) and all(p.leader > 0 and not p.under_replicated for p in state.partitions)


SECOND_PG = "postgresql://mesa:mesa@127.0.0.1:{port}/mesa"


async def second_postgres() -> str | None:
    """The second server of `PG_SERVERS=2` (started if this checkout runs the first); its URL,
    or None when the first is not this checkout's (someone else's server)."""
    if not (ROOT / ".local" / "pg" / "data").exists():
        return None
    proc = await asyncio.create_subprocess_exec(
        "bash", str(ROOT / "deploy" / "postgres.sh"), "start", env={**os.environ, "PG_SERVERS": "2"}
    )
    assert await proc.wait() == 0, "deploy/postgres.sh start (PG_SERVERS=2)"
    return SECOND_PG.format(port=int(os.environ.get("PG_PORT", "15432")) + 1)

"""Helpers for tests that run real processes against the real broker and database."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from shared.domain.principal import SCOPES, Role
from shared.platform.auth import Authenticator
from shared.platform.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
_AUTH = Authenticator(Settings())  # the services under test run with the same (default) secret


def bearer(role: Role = "service", sub: str = "tests", scopes: tuple[str, ...] | None = None) -> dict[str, str]:
    """A token's header; a service gets every scope unless `scopes` says otherwise (the tests
    stand in for a fully trusted system)."""
    granted = (SCOPES if role == "service" else ()) if scopes is None else scopes
    return {"Authorization": f"Bearer {_AUTH.issue(role, sub, scopes=granted)}"}


def as_actor(actor: str) -> dict[str, str]:
    """The token of a command actor `role:id` (`system:x` is a service)."""
    role, _, sub = actor.partition(":")
    return bearer("service" if role == "system" else role, sub)  # type: ignore[arg-type]


def client(role: Role = "service", sub: str = "tests", **kwargs: Any) -> httpx.AsyncClient:
    """An HTTP client signed in (by default as a service: reads everything, acts for anyone)."""
    return httpx.AsyncClient(headers=bearer(role, sub), **kwargs)


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Poll `probe` until it returns something truthy; fail with the last value at the deadline."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = await probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")
        await asyncio.sleep(interval)


def worker_number() -> int:
    """Which of pytest's workers runs this (`make test` runs two; 0 without workers): a fixed port
    a test needs is offset by it, so two workers never ask for the same one."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


PORTS_PER_WORKER = 2_000


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def _port_block() -> range:
    """This worker's ports: below the range the kernel hands out for outgoing connections, so
    neither the other worker nor any client socket (to Kafka, PostgreSQL ...) can take one between
    the moment it is chosen and the moment a service binds it. A port the kernel chose (bind to 0)
    could be, and a service then died on "address already in use"."""
    top = _ephemeral_low() - PORTS_PER_WORKER * worker_number()
    return range(top - PORTS_PER_WORKER, top)


_next_port = 0


def free_port() -> int:
    """A port nobody listens on now, from this worker's block, each at most once per 2,000 asks."""
    global _next_port
    block = _port_block()
    for _ in range(len(block)):
        port = block[_next_port % len(block)]
        _next_port += 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {block}")


class Proc:
    """A service started as its own OS process, its output kept in a log file."""

    def __init__(
        self,
        module: str,
        env: dict[str, str],
        log_dir: Path,
        name: str | None = None,
        port: int | None = None,
    ) -> None:
        self.module = module
        self.port = port
        self.name = name or module.rsplit(".", 1)[-1]
        self.env = {**os.environ, **env}
        self.log_path = log_dir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, **extra_env: str) -> Proc:
        env = {**self.env, **extra_env}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush, as if the machine died."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def pause(self) -> None:
        """SIGSTOP: frozen, as a process stuck in a long GC or a VM paused by its host."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def stop(self, timeout: float = 20) -> int | None:
        if self.proc is None:
            return None
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    async def wait_exit(self, timeout: float = 60) -> int:
        assert self.proc is not None
        proc = self.proc
        await eventually(lambda: _done(proc), timeout=timeout, what=f"{self.name} to exit")
        return int(proc.returncode)

    async def ready(self, timeout: float = 60) -> Proc:
        """Wait until the service answers /readyz with 200 (connected, migrated, joined)."""

        async def probe() -> bool:
            assert self.alive(), f"{self.name} died:\n{self.log_tail()}"
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    r = await client.get(f"http://127.0.0.1:{self.port}/readyz")
                return r.status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(probe, timeout=timeout, interval=0.2, what=f"{self.name} to be ready")
        return self

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


async def _done(proc: subprocess.Popen[bytes]) -> bool:
    return proc.poll() is not None


async def every_ticket(http: httpx.AsyncClient, projections: str, **params: Any) -> list[dict[str, Any]]:
    """Every ticket `GET /tickets` lists with `params`, page after page (its `next` cursor)."""
    out: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        r = await http.get(
            f"{projections}/tickets", params={**params, "limit": 200, **({"cursor": cursor} if cursor else {})}
        )
        r.raise_for_status()
        body = r.json()
        out += body["items"]
        cursor = body["next"]
        if cursor is None:
            return out


async def holding_every_partition(consumer: Any, settings: Settings, topics: int = 1, timeout: float = 30.0) -> None:
    """Until `consumer` (an `InboxConsumer`) holds every partition of its topics. Its `joined` is
    set by any assignment, an empty one too (a group's first generation may come before the
    broker's metadata names a topic just made): a record produced then would be history to the
    assignment that follows, whose history ends at the log's end as it finds it."""
    expected = settings.topic_partitions * topics

    async def held() -> bool:
        return len(consumer.assigned) == expected

    await eventually(held, timeout=timeout, interval=0.05, what=f"{expected} partitions held")

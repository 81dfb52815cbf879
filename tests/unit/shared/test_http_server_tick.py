"""The services' HTTP server looks at the time once a second rather than ten times (an idle
service's CPU, issue 22), and still stops at once when asked: by the watchdog, or by SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import pytest
import uvicorn

from shared.platform import runtime


async def _nothing(scope: object, receive: object, send: object) -> None:
    return None


def _server() -> runtime._Server:
    config = uvicorn.Config(_nothing, log_config=None)
    config.load()
    return runtime._Server(config)


@pytest.mark.parametrize(
    "ask",
    [
        pytest.param(lambda s: s.ask_to_stop(), id="watchdog"),
        pytest.param(lambda s: s.handle_exit(signal.SIGTERM, None), id="sigterm"),
    ],
)
async def test_a_stop_is_seen_at_once_not_at_the_next_tick(
    monkeypatch: pytest.MonkeyPatch, ask: Callable[[runtime._Server], None]
) -> None:
    monkeypatch.setattr(runtime, "TICK_S", 3600.0)  # the next tick would be an hour away
    server = _server()
    looks = 0
    on_tick = server.on_tick

    async def counted(counter: int) -> bool:
        nonlocal looks
        looks += 1
        return await on_tick(counter)

    monkeypatch.setattr(server, "on_tick", counted)
    loop = asyncio.create_task(server.main_loop())
    await asyncio.sleep(0.35)  # a window to look in: uvicorn's own loop would look four times
    assert (looks, loop.done()) == (1, False)
    ask(server)
    await asyncio.wait_for(loop, timeout=30)
    assert server.should_exit


async def test_the_date_header_is_renewed_at_every_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "TICK_S", 0.01)
    server = _server()
    loop = asyncio.create_task(server.main_loop())
    renewed: list[object] = []

    async def three_renewals() -> None:
        while len(renewed) < 3:
            headers = server.server_state.default_headers
            if not renewed or headers is not renewed[-1]:
                renewed.append(headers)
            await asyncio.sleep(0.001)

    await asyncio.wait_for(three_renewals(), timeout=30)
    assert all(any(k == b"date" for k, _ in headers) for headers in renewed)  # type: ignore[attr-defined]
    server.ask_to_stop()
    await asyncio.wait_for(loop, timeout=30)

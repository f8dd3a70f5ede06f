"""The webhook server under slow and many clients (issue 12): a real aiohttp server on
loopback, as ``returns-desk run --webhook`` starts it (``webhook.start_server``), on SQLite and
PostgreSQL. 200 slow-loris connections (a partial header, then nothing) neither stop a real
update from being answered and stored nor stay open, and a flood of refused requests costs a
line or two of log, not one per request."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.logs import RepeatFilter
from bot.receiving import webhook
from core.clock import FixedClock
from core.services.context import CoreContext
from tests.core.factories import NOW, make_context

SECRET = "s3cret-for-the-test"
PATH = "/telegram/hook"
SLOW = 200
CAP = 50


class _Lines(logging.Handler):
    """The log as it would be written: what passes the handler's filters, one per line."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []
        self.addFilter(RepeatFilter(60.0))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.extend(self.format(record).splitlines())


@pytest.fixture
async def server(
    engine: AsyncEngine, tmp_path: Path
) -> AsyncIterator[tuple[CoreContext, str, web.AppRunner]]:
    core = make_context(engine, tmp_path / "evidence", FixedClock(NOW))
    app = webhook.make_app(core, path=PATH, secret=SECRET, recorded=lambda: None)
    runner = await webhook.start_server(
        app, "127.0.0.1", 0, header_timeout=1.0, max_connections=CAP
    )
    try:
        host, port = runner.addresses[0][:2]
        yield core, f"http://{host}:{port}", runner
    finally:
        await runner.cleanup()


def _update(update_id: int) -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 1764000000,
            "chat": {"id": 501001, "type": "private", "first_name": "Ana"},
            "from": {"id": 501001, "is_bot": False, "first_name": "Ana"},
            "text": "hello",
        },
    }


async def test_slow_loris_connections_neither_block_a_real_update_nor_stay_open(
    server: tuple[CoreContext, str, web.AppRunner],
) -> None:
    core, base, runner = server
    lines = _Lines()
    root = logging.getLogger()
    root.addHandler(lines)
    slow: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        host, port = base.removeprefix("http://").split(":")
        for _ in range(SLOW):  # a partial header, then nothing
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(f"POST {PATH} HTTP/1.1\r\nHost: bot\r\nX-Slow: ".encode())
            await writer.drain()
            slow.append((reader, writer))
        await asyncio.sleep(0.2)  # let the server accept them all
        assert len(runner.server.connections) <= CAP  # the oldest idle ones made room

        async with aiohttp.ClientSession() as http:
            for n in range(200):  # a scanner without the secret: refused, one line of log
                async with http.post(f"{base}{PATH}", json=_update(n)) as refused:
                    assert refused.status == 403
            async with asyncio.timeout(5):  # answered at once, not after the slow ones
                async with http.post(
                    f"{base}{PATH}",
                    data=json.dumps(_update(77001)),
                    headers={webhook.SECRET_HEADER: SECRET, "Content-Type": "application/json"},
                ) as answer:
                    assert answer.status == 200

        async with core.unit_of_work() as uow:
            stored = await uow.inbox.get(77001)
        assert stored is not None  # stored before the 200

        # every slow connection is closed by the server: the header time is bounded
        async with asyncio.timeout(10):
            ends = await asyncio.gather(*(reader.read() for reader, _ in slow))
        assert all(end == b"" for end in ends)
    finally:
        root.removeHandler(lines)
        for _, writer in slow:
            writer.close()
    assert len(lines.lines) <= 4, lines.lines  # not one per request or connection
    assert any("without the right secret" in line for line in lines.lines)


async def test_a_body_sent_too_slowly_is_refused_and_the_server_goes_on(
    server: tuple[CoreContext, str, web.AppRunner], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook, "BODY_TIMEOUT", 0.5)
    _core, base, _ = server
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            (
                f"POST {PATH} HTTP/1.1\r\nHost: bot\r\n{webhook.SECRET_HEADER}: {SECRET}\r\n"
                "Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{"
            ).encode()
        )
        await writer.drain()
        async with asyncio.timeout(5):
            status_line = await reader.readline()
    finally:
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 408")
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}{PATH}",
            json=_update(77002),
            headers={webhook.SECRET_HEADER: SECRET},
        ) as answer:
            assert answer.status == 200


def test_a_repeated_warning_is_one_line_a_minute_then_says_how_many_were_held_back() -> None:
    now = [0.0]
    lines = _Lines()
    lines.filters.clear()
    lines.addFilter(RepeatFilter(60.0, clock=lambda: now[0]))
    log = logging.getLogger("returns_desk.webhook.test")
    log.addHandler(lines)
    log.propagate = False
    try:
        for n in range(1000):
            log.warning("webhook request from %s without the right secret: refused", f"10.0.0.{n}")
        log.error("a different message")
        now[0] = 61.0
        log.warning("webhook request from %s without the right secret: refused", "10.0.0.1")
    finally:
        log.removeHandler(lines)
        log.propagate = True
    assert lines.lines == [
        "webhook request from 10.0.0.0 without the right secret: refused",
        "a different message",
        "webhook request from 10.0.0.1 without the right secret: refused "
        "[999 similar messages suppressed]",
    ]

"""Outages and crashes of the real bot process (over HTTP, against the fake Bot API server)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.persistence.engine import create_engine
from tests.e2e.conftest import E2E
from tests.e2e.test_crash_safety import (
    CASE_NUMBER,
    NoWait,
    exit_code,
    lamp_case_up_to_confirm,
)
from tests.e2e.test_scale_out import scaled  # noqa: F401 (the fixture)
from tests.e2e.test_three_sides import LUCIA, eventually
from tests.support import Person


async def test_a_crash_between_the_answer_and_the_done_mark_tells_the_case_number_once(
    e2e: E2E,
) -> None:
    await crash_after_the_answer(e2e, rerun_at_start=True)


async def test_the_same_crash_on_postgresql_and_redis_tells_the_case_number_once(
    scaled: tuple[E2E, dict[str, str]],  # noqa: F811
) -> None:
    # Several processes may share PostgreSQL: the dead one's claim is taken over only when its
    # lease expires, so within this test the update may still wait; it is never said twice.
    await crash_after_the_answer(scaled[0], rerun_at_start=False)


async def inbox_status(e2e: E2E, update_id: int) -> str | None:
    async def read(uow: Any) -> str | None:
        found = await uow.session.execute(
            text("SELECT status FROM inbox_updates WHERE update_id = :id"), {"id": update_id}
        )
        return found.scalar_one_or_none()

    return await e2e._read(read)


async def crash_after_the_answer(e2e: E2E, *, rerun_at_start: bool) -> None:
    await e2e.start_bot(crash_at="after_answer")
    lucia = await lamp_case_up_to_confirm(e2e)
    hasty = Person(e2e.fake, NoWait(), LUCIA, "Lucía", "es")
    await hasty.press("Confirmar")
    confirm = e2e.fake.update_log[-1]["update_id"]
    assert await exit_code(e2e, within=20) == -signal.SIGKILL
    [case] = await e2e.cases_of(LUCIA)
    told = [text for text in lucia.seen() if case.number in text]
    assert len(told) == 1  # the answer went out before the process died

    assert await inbox_status(e2e, confirm) != "done"  # killed before its done-mark

    await e2e.start_bot()  # a new process runs the Confirm press again
    await e2e.driver.deliver()
    if rerun_at_start:  # one process per SQLite database: the new one frees the dead claims
        for _ in range(100):  # it did run again, in the new process, which marked it done
            if await inbox_status(e2e, confirm) == "done":
                break
            await asyncio.sleep(0.1)
        assert await inbox_status(e2e, confirm) == "done"
    assert [text for text in lucia.seen() if case.number in text] == told  # and said it once
    assert len(await e2e.cases_of(LUCIA)) == 1
    assert not any(CASE_NUMBER.search(t) and t not in told for t in lucia.seen())
    assert e2e.bots.errors() == []


# --- the fault test: Redis stopped for 90 s and PostgreSQL restarted, mid-conversation --------

OUTAGE = float(os.environ.get("TEST_REDIS_OUTAGE_SECONDS", "90"))
SORRY = ("Sorry, something went wrong", "Lo siento")


class Proxy:
    """A TCP proxy on loopback in front of a real server: ``stop()`` refuses new connections
    and cuts the open ones (as a stopped or restarting server does), ``start()`` listens again
    on the same port. The machine's real PostgreSQL and Redis keep running for the others."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._open.discard(writer)
        self._open.discard(up_writer)


async def parked_and_done(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT status, count(*) FROM inbox_updates GROUP BY status")
            )
            return {status: count for status, count in rows.all()}
    finally:
        await engine.dispose()


# Mostly waiting (the outage): it runs beside the other end-to-end tests, on a Redis
# database of its own (tests/conftest.py).
@pytest.mark.own_redis_db(14)
async def test_a_conversation_through_a_redis_outage_and_a_postgresql_restart(
    scaled: tuple[E2E, dict[str, str]],  # noqa: F811
) -> None:
    e2e, settings = scaled
    database = make_url(settings["DATABASE_URL"])
    redis = urlsplit(settings["REDIS_URL"])
    pg_proxy = Proxy(database.host or "127.0.0.1", database.port or 5432)
    redis_proxy = Proxy(redis.hostname or "127.0.0.1", redis.port or 6379)
    await pg_proxy.start()
    await redis_proxy.start()
    e2e.bots.settings.update(
        DATABASE_URL=database.set(host="127.0.0.1", port=pg_proxy.port).render_as_string(
            hide_password=False
        ),
        REDIS_URL=redis._replace(netloc=f"127.0.0.1:{redis_proxy.port}").geturl(),
    )
    try:
        await e2e.start_bot()
        lucia = e2e.person(LUCIA, "Lucía", "es")
        await lucia.send("/start")
        assert lucia.last().startswith("¡Hola, Lucía!")

        buyers = [Person(e2e.fake, NoWait(), 930100 + n, f"Buyer{n}", "en") for n in range(3)]
        await redis_proxy.stop()  # Redis is away for OUTAGE seconds
        for buyer in buyers:
            await buyer.send("/start")
        await asyncio.sleep(OUTAGE / 3)
        await pg_proxy.stop()  # and PostgreSQL restarts meanwhile: every connection is cut
        await asyncio.sleep(3)
        await pg_proxy.start()
        hasty = Person(e2e.fake, NoWait(), LUCIA, "Lucía", "es")
        await hasty.send("/help")
        await asyncio.sleep(OUTAGE * 2 / 3 - 3)
        assert not any(buyer.seen() for buyer in buyers)  # waiting, not told "sorry"
        await redis_proxy.start()

        for buyer in buyers:
            assert await eventually(lambda b=buyer: len(b.seen()) >= 1, within=40), e2e.bots.log()
        await asyncio.sleep(1)
        for buyer in buyers:
            [greeting] = buyer.seen()  # answered once
            assert greeting.startswith(f"Hello, {buyer.first_name}!")
        assert await eventually(lambda: len(lucia.seen()) >= 2, within=20)
        assert not any(
            part in text for b in (*buyers, lucia) for text in b.seen() for part in SORRY
        )
        counts = await parked_and_done(settings["DATABASE_URL"])
        assert not counts.get("parked"), counts
        log = e2e.bots.log()
        assert "does not answer: updates wait" in log and "answers again" in log
    finally:
        await redis_proxy.stop()
        await pg_proxy.stop()


async def test_a_stop_within_the_unit_s_limit_gives_back_the_update_and_it_resumes_there(
    e2e: E2E,
) -> None:
    await e2e.start_bot()
    lucia = await lamp_case_up_to_confirm(e2e)
    seen = len(lucia.seen())
    # the Confirm handler hangs on Telegram (very slow) for longer than the 20 s grace
    e2e.fake.delay(25, method="answerCallbackQuery")
    hasty = Person(e2e.fake, NoWait(), LUCIA, "Lucía", "es")
    await hasty.press("Confirmar")
    assert await eventually(lambda: e2e.fake.in_flight > 0, within=10)
    e2e.bots.current.send_signal(signal.SIGTERM)
    # gone before systemd's TimeoutStopSec=45 would kill it (20 s grace + the rest)
    assert await exit_code(e2e, within=40) == 0, e2e.bots.log()
    assert "cut short by the stop will run again" in e2e.bots.log()

    e2e.fake.delay(0, method="answerCallbackQuery")
    await e2e.start_bot()
    await e2e.driver.deliver()

    async def opened() -> bool:
        return len(await e2e.cases_of(LUCIA)) == 1

    for _ in range(200):
        if await opened() and lucia.seen()[seen:]:
            break
        await asyncio.sleep(0.1)
    await e2e.fake.wait_idle(quiet=0.5, timeout=15)
    [case] = await e2e.cases_of(LUCIA)
    told = [text for text in lucia.seen()[seen:] if case.number in text]
    assert told == [lucia.last()]  # the re-run took up the same step: the case, said once
    assert not any("No te entendí" in t or "did not catch" in t for t in lucia.seen())

"""Beyond one machine, on the CI machine's real PostgreSQL and Redis (skipped where absent):
the same bot with DATABASE_URL and REDIS_URL switched over; two processes in webhook mode
behind one load balancer with no duplicate case or notification; PostgreSQL restarted in the
middle of a conversation with nothing lost."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.demo import sample_png
from bot.testing.balancer import RoundRobinBalancer
from bot.testing.postgres import fresh_schema
from core.persistence.engine import create_engine
from tests.conftest import _postgres_url, postgres_in_use, redis_url
from tests.e2e.conftest import (
    E2E,
    BotDriver,
    BotProcesses,
    add_staff,
    clean_env,
    lamp_return_up_to_confirm,
    outbox_of,
)
from tests.e2e.test_three_sides import (
    AURORA_STAFF_CHAT,
    LUCIA,
    eventually,
    texts_in,
)
from tests.support import FakeTelegram, FakeTelegramServer

# Buyers with an Aurora order each (orders.sample.json), for cases opened at the same time.
AURORA_BUYERS = {930021: ("AUR-10021", "es"), 930029: ("AUR-10029", "ja")}  # ja: English


def _about(text: str, number: str) -> bool:
    """An alert about this case: named in its first line (another case's alert may name it
    too, as the case whose photo looks the same)."""
    return number in text.split("\n", 1)[0]


@pytest.fixture
async def scaled(
    tmp_path: Path, imported_data: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[E2E, dict[str, str]]]:
    """An E2E world whose bots use a fresh PostgreSQL schema (migrated and loaded with the
    sample orders by the real CLI) and a Redis database (its own with ``own_redis_db``).
    A test marked ``restarts_postgres`` holds the server alone (``postgres_in_use``)."""
    alone = request.node.get_closest_marker("restarts_postgres") is not None
    if alone:
        can_restart_postgresql()  # else skipped now, before holding the others up
        await checkpoint()  # the long part of a restart, while the others go on
    async with postgres_in_use(alone=alone):
        async with _scaled_world(tmp_path, imported_data, request) as world:
            yield world


@contextlib.asynccontextmanager
async def _scaled_world(
    tmp_path: Path, imported_data: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[E2E, dict[str, str]]]:
    base = await _postgres_url()
    own = request.node.get_closest_marker("own_redis_db")
    redis = await redis_url(own.args[0] if own else None)
    async with fresh_schema(base, "e2e") as database_url:
        async with _world_on(tmp_path, imported_data, database_url, redis) as world:
            yield world


@contextlib.asynccontextmanager
async def _world_on(
    tmp_path: Path, imported_data: Path, database_url: str, redis: str
) -> AsyncIterator[tuple[E2E, dict[str, str]]]:
    settings = {"DATABASE_URL": database_url, "REDIS_URL": redis}
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for command in (
        ["db", "upgrade"],
        ["import-orders", "--quiet", str(imported_data.parent / "orders.shifted.json")],
    ):
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bot", *command],
            cwd=tmp_path,
            env=clean_env(DATA_DIR=str(data_dir), **settings),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    fake = FakeTelegram(bot_id=4242, token="4242:E2E" + "x" * 32, allow_http_webhooks=True)
    add_staff(fake)
    async with FakeTelegramServer(fake) as server:
        bots = BotProcesses(fake, server.url, data_dir, tmp_path, settings)
        try:
            yield E2E(fake, server.url, data_dir, bots, BotDriver(fake, bots)), settings
        finally:
            bots.stop_all()


async def test_the_return_case_end_to_end_on_postgresql_and_redis(
    scaled: tuple[E2E, dict[str, str]],
) -> None:
    e2e, settings = scaled
    await e2e.start_bot()
    lucia = e2e.person(LUCIA, "Lucía", "es")
    photos = [sample_png(seed) for seed in (61, 62, 63)]
    from redis.asyncio import Redis

    client = Redis.from_url(settings["REDIS_URL"])
    midway_keys: list[bytes] = []

    async def state_is_in_redis() -> None:
        """Half-way, the conversation state lives in Redis, with an expiry."""
        midway_keys.extend([key async for key in client.scan_iter("fsm:*")])
        assert midway_keys, "no conversation state in Redis"
        expiries = [await client.ttl(key) for key in midway_keys]
        assert all(0 < ttl <= 30 * 86400 for ttl in expiries), expiries

    try:
        await lamp_return_up_to_confirm(lucia, "AUR-10021", photos, state_is_in_redis)
        await lucia.press("Confirmar")
        assert any(b"930021" in key for key in midway_keys)
    finally:
        await client.aclose()
    [case] = await e2e.cases_of(LUCIA)  # read from PostgreSQL
    assert case.number in lucia.last() and len(case.evidence) == 3
    assert await eventually(
        lambda: [t for t in texts_in(e2e, AURORA_STAFF_CHAT) if case.number in t]
    )
    assert e2e.bots.errors() == []


async def test_two_webhook_processes_share_the_load_with_no_duplicate(
    scaled: tuple[E2E, dict[str, str]], unused_tcp_port_factory
) -> None:
    e2e, _ = scaled
    ports = [unused_tcp_port_factory(), unused_tcp_port_factory()]
    targets = [f"http://127.0.0.1:{port}" for port in ports]
    async with RoundRobinBalancer(targets) as balancer:
        hook_url = f"{balancer.url}/telegram"
        for port in ports:  # the secret is generated once and shared through the database
            await e2e.bots.start(
                webhook={"WEBHOOK_URL": hook_url, "WEBHOOK_LISTEN": f"127.0.0.1:{port}"}
            )
        assert e2e.fake.webhook["url"] == hook_url
        assert len(e2e.fake.webhook["secret_token"]) >= 32

        people = {
            user: e2e.person(user, f"Buyer {user}", language)
            for user, (_, language) in AURORA_BUYERS.items()
        }
        photos = {user: [sample_png(user % 1000 + n) for n in range(3)] for user in people}

        async def one(user: int) -> None:
            order, language = AURORA_BUYERS[user]
            yes = "Confirmar" if language == "es" else "Confirm"
            await lamp_return_up_to_confirm(people[user], order, photos[user])
            await people[user].press(yes)

        await asyncio.gather(*(one(user) for user in people))
        await e2e.driver.deliver()

        assert all(count > 0 for count in balancer.forwarded.values()), balancer.forwarded
        handled = e2e.bots.handled()
        assert handled and set(handled.values()) == {1}  # each update ran once, somewhere
        for user, person in people.items():
            [case] = await e2e.cases_of(user)
            assert case.number in person.last()
            assert sum(case.number in text for text in person.seen()) == 1
            assert await eventually(
                lambda number=case.number: (
                    len([t for t in texts_in(e2e, AURORA_STAFF_CHAT) if _about(t, number)]) == 1
                )
            )
            for _ in range(100):
                rows = await outbox_of(e2e, case)
                if all(row.status == "sent" for row in rows):
                    break
                await asyncio.sleep(0.1)
            assert rows and all(row.status == "sent" for row in rows), rows
        await asyncio.sleep(1.5)  # anything sent twice would show by now
        for user in people:
            [case] = await e2e.cases_of(user)
            assert len([t for t in texts_in(e2e, AURORA_STAFF_CHAT) if _about(t, case.number)]) == 1
        # a request without the secret is refused and stored nowhere
        import aiohttp

        async with aiohttp.ClientSession() as http:
            async with http.post(hook_url, json={"update_id": 999999}) as answer:
                assert answer.status == 403
    assert e2e.bots.errors() == []


def can_restart_postgresql() -> str:
    """pg_ctlcluster's path; the test is skipped where it cannot restart the server."""
    clusters = shutil.which("pg_ctlcluster")
    if clusters is None or os.geteuid() != 0 or not Path("/etc/postgresql").is_dir():
        pytest.skip("cannot restart PostgreSQL here (needs pg_ctlcluster as root)")
    return clusters


async def checkpoint() -> None:
    """A PostgreSQL checkpoint, waited for. A restart's shutdown makes one, and flushes every
    file the suite's per-test schemas made since the last (37,454 files and 3 minutes once,
    in a timed checkpoint it had to wait for): done first, while the other workers still use
    the server, it leaves the restart itself little to do within its time limit."""
    admin = create_engine(await _postgres_url())
    try:
        async with admin.connect() as conn:
            await conn.execute(text("CHECKPOINT"))
    finally:
        await admin.dispose()


def restart_postgresql() -> None:
    clusters = can_restart_postgresql()
    [version] = [p.name for p in Path("/etc/postgresql").iterdir()][:1]
    subprocess.run(
        [clusters, "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.restarts_postgres
async def test_postgresql_restarted_in_the_middle_of_a_conversation_loses_nothing(
    scaled: tuple[E2E, dict[str, str]],
) -> None:
    e2e, _ = scaled
    await e2e.start_bot()
    lucia = e2e.person(LUCIA, "Lucía", "es")

    async def restart() -> None:  # every connection the bot holds is gone
        await checkpoint()  # little left since the fixture's: the restart fits its limit
        await asyncio.to_thread(restart_postgresql)

    photos = [sample_png(seed) for seed in (71, 72, 73)]
    await lamp_return_up_to_confirm(lucia, "AUR-10021", photos, midway=restart)
    await lucia.press("Confirmar")
    [case] = await e2e.cases_of(LUCIA)
    assert case.number in lucia.last() and len(case.evidence) == 3
    assert not any("Lo siento" in text for text in lucia.seen())
    assert await eventually(
        lambda: [t for t in texts_in(e2e, AURORA_STAFF_CHAT) if case.number in t]
    )

"""Conversation state in Redis (several processes): driven through the inbox worker and the
real dispatcher on a real Redis. An update reads its chat once and writes its changes once,
with its done-mark; Redis away at that moment leaves the update unfinished, not forgotten;
the keys are aiogram's own, so conversations stored before keep going."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import update

from bot.factory import create_dispatcher
from bot.receiving import inbox
from bot.receiving.inbox import InboxWorker
from bot.receiving.redis_storage import RedisConversations
from bot.testing.fake_session import create_fake_bot
from core.persistence.tables import inbox_updates
from tests.conftest import redis_url
from tests.telegram.conftest import CATALOGS, World
from tests.telegram.test_inbox_worker import APOLOGY, InboxDriver

EMILY = 930_401
TTL = timedelta(days=30)


# One worker runs them, one after another, on a Redis database of their own (the end-to-end
# tests flush theirs, 14 and 15; the load benchmark uses 13).
pytestmark = pytest.mark.xdist_group("redis_conversations")
DATABASE = 11


@pytest.fixture(name="redis_url")
async def redis_database() -> str:
    """The test Redis server (TEST_REDIS_URL, else the local default), database 11, flushed."""
    return await redis_url(DATABASE)


class Counted:
    """The Redis round trips a storage makes: commands, and pipelines as one each."""

    def __init__(self, storage: RedisConversations, monkeypatch: pytest.MonkeyPatch) -> None:
        self.trips: list[str] = []
        self.down = False
        client = storage.redis
        command = client.execute_command

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.trips.append(str(args[0]))
            return await command(*args, **kwargs)

        execute = Pipeline.execute

        async def pipeline(pipe: Pipeline, *args: Any, **kwargs: Any) -> Any:
            self.trips.append("pipeline")
            if self.down:
                await pipe.reset()
                raise RedisConnectionError("Error 111 connecting to Redis. Connection refused.")
            return await execute(pipe, *args, **kwargs)

        async def ping() -> None:
            if self.down:
                raise RedisConnectionError("Error 111 connecting to Redis. Connection refused.")

        monkeypatch.setattr(client, "execute_command", counted)
        monkeypatch.setattr(Pipeline, "execute", pipeline)
        self.ping = ping


class Rig:
    def __init__(self, world: World, storage: RedisConversations, redis: Counted) -> None:
        self.world, self.storage, self.redis = world, storage, redis


@pytest.fixture
async def rig(world: World, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    storage = RedisConversations.connect(redis_url, ttl=TTL)
    counted = Counted(storage, monkeypatch)
    bot = create_fake_bot(world.fake)
    dispatcher = create_dispatcher(world.core, CATALOGS, storage=storage, inbox=True)
    worker = InboxWorker(
        world.core,
        dispatcher,
        bot,
        retry_delays=(0, 0, 0, 0),
        idle=0.02,
        pause=0.05,
        probes={"Redis (REDIS_URL)": counted.ping},
    )
    world.driver = InboxDriver(world, worker)  # type: ignore[attr-defined]
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, grace=2))
    try:
        yield Rig(world, storage, counted)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await bot.session.close()
        await storage.close()


def emily(rig: Rig) -> Any:
    person = rig.world.person(EMILY, "Emily", "en")
    person.driver = rig.world.driver  # type: ignore[attr-defined]
    return person


async def stored(rig: Rig, redis_url: str) -> tuple[str | None, dict[str, Any]]:
    """What aiogram's own RedisStorage reads for Emily's chat (as before this storage)."""
    plain = RedisStorage(
        Redis.from_url(redis_url), key_builder=DefaultKeyBuilder(with_destiny=True)
    )
    try:
        return await plain.get_state(emily_key(rig)), await plain.get_data(emily_key(rig))
    finally:
        await plain.close()


def emily_key(rig: Rig) -> StorageKey:
    bot_id = int(rig.world.fake.token.split(":")[0])
    return StorageKey(bot_id=bot_id, chat_id=EMILY, user_id=EMILY)


async def test_each_update_reads_its_chat_once_and_writes_its_changes_once(
    rig: Rig, redis_url: str
) -> None:
    buyer = emily(rig)
    await buyer.send("/start")
    rig.redis.trips.clear()
    await buyer.press("Return or refund")
    assert "type your order number" in buyer.last()
    # one read (state and data together), one write, no lock: the inbox orders the chat
    assert rig.redis.trips == ["MGET", "pipeline"]

    rig.redis.trips.clear()
    await buyer.send("AUR-10025")
    assert rig.redis.trips == ["MGET", "pipeline"]
    state, data = await stored(rig, redis_url)
    assert state is not None and state.startswith("OpenCase:")
    assert data.get("typed_number")  # the conversation's data, in aiogram's own keys
    await buyer.send("Emily.Carter@example.com")
    assert "Poor quality / not as described" in " ".join(buyer.buttons())


async def test_a_conversation_stored_by_aiogram_s_own_redis_storage_goes_on(
    rig: Rig, redis_url: str
) -> None:
    buyer = emily(rig)
    await buyer.send("/start")
    await buyer.press("Return or refund")
    state, data = await stored(rig, redis_url)
    assert state is not None
    # as a bot before this storage left it: written by aiogram's RedisStorage, one by one
    await rig.storage.redis.flushdb()
    plain = RedisStorage(
        Redis.from_url(redis_url), key_builder=DefaultKeyBuilder(with_destiny=True)
    )
    await plain.set_state(emily_key(rig), state)
    await plain.set_data(emily_key(rig), data)
    await plain.close()
    await buyer.send("AUR-10025")
    assert (await stored(rig, redis_url))[1].get("typed_number")  # the step went on
    await buyer.send("Emily.Carter@example.com")
    assert "Poor quality / not as described" in " ".join(buyer.buttons())


async def test_redis_away_at_the_done_mark_leaves_the_update_unfinished_then_writes_it(
    rig: Rig, redis_url: str
) -> None:
    buyer = emily(rig)
    await buyer.send("/start")
    rig.redis.down = True  # the answer goes out; the change cannot be written with the mark
    buyer.driver = RecordAndWake(rig.world.driver)  # type: ignore[attr-defined]
    await buyer.press("Return or refund")
    for _ in range(500):  # answered, then the done-mark waits for Redis
        if "type your order number" in buyer.last():
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # the worker looks at Redis again and again meanwhile
    assert "type your order number" in buyer.last()
    async with rig.world.core.unit_of_work() as uow:
        counts = await uow.inbox.counts()
    assert counts.get("done") == 1 and not counts.get("parked")  # the /start only
    assert (await stored(rig, redis_url))[0] is None  # not written

    rig.redis.down = False
    buyer.driver = rig.world.driver  # type: ignore[attr-defined]
    await buyer.driver.deliver()
    async with rig.world.core.unit_of_work() as uow:
        assert await uow.inbox.counts() == {"done": 2}
    state, _ = await stored(rig, redis_url)
    assert state is not None and state.startswith("OpenCase:")
    assert [t for t in buyer.seen() if "type your order number" in t] == [buyer.last()]  # said once
    assert not any(APOLOGY in text for text in buyer.seen())
    await buyer.send("AUR-10025")  # the next step reads the state written
    assert "type your order number" not in buyer.last()


async def test_an_update_another_process_took_over_meanwhile_is_not_written_over(
    rig: Rig, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis away at the done-mark for longer than the lease: another process claims the
    update and runs it. This one's result, older, must not overwrite that process's."""
    buyer = emily(rig)
    await buyer.send("/start")
    rig.redis.down = True
    buyer.driver = RecordAndWake(rig.world.driver)  # type: ignore[attr-defined]
    await buyer.press("Return or refund")
    for _ in range(500):
        if "type your order number" in buyer.last():
            break
        await asyncio.sleep(0.02)
    [update_id] = [u["update_id"] for u in rig.world.fake.update_log[-1:]]
    async with rig.world.core.unit_of_work() as uow:  # the other process's claim
        await uow.session.execute(
            update(inbox_updates)
            .where(inbox_updates.c.update_id == update_id)
            .values(lease_owner="other-host:1:abc")
        )
        await uow.commit()
    rig.redis.down = False
    with caplog.at_level(logging.WARNING, logger="returns_desk.inbox"):
        for _ in range(500):
            if any("taken over" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.02)
    assert any(f"update {update_id} was taken over" in r.getMessage() for r in caplog.records)
    async with rig.world.core.unit_of_work() as uow:
        row = await uow.inbox.get(update_id)
    assert row is not None and row.status == "processing"  # the other process's to finish
    assert (await stored(rig, redis_url))[0] is None  # nothing written over its result


class RecordAndWake:
    """Stores what the person sent and wakes the worker, without waiting for it."""

    def __init__(self, driver: InboxDriver) -> None:
        self.driver = driver

    async def deliver(self, *, concurrent: bool | None = None) -> None:
        await inbox.record(self.driver.world.core, self.driver.world.fake.take_updates())
        self.driver.worker.wake()


async def test_without_the_inbox_each_change_is_written_at_once(redis_url: str) -> None:
    storage = RedisConversations.connect(redis_url, ttl=TTL)
    key = StorageKey(bot_id=int(uuid.uuid4().int % 10**9), chat_id=5, user_id=5)
    try:
        await storage.set_state(key, "OpenCase:reason")
        await storage.set_data(key, {"order_id": 7})
        plain = RedisStorage(storage.redis, key_builder=DefaultKeyBuilder(with_destiny=True))
        assert await plain.get_state(key) == "OpenCase:reason"
        assert await plain.get_data(key) == {"order_id": 7}
        ttl = await storage.redis.ttl(DefaultKeyBuilder(with_destiny=True).build(key, "data"))
        assert TTL.total_seconds() - 60 < ttl <= TTL.total_seconds()
        await storage.set_state(key, None)
        await storage.set_data(key, {})
        assert await plain.get_state(key) is None and await plain.get_data(key) == {}
        keys = DefaultKeyBuilder(with_destiny=True)
        assert await storage.redis.exists(keys.build(key, "state"), keys.build(key, "data")) == 0
    finally:
        await storage.close()

"""Long polling into the inbox (bot/receiving/polling.py), over HTTP with the production bot:
updates are stored as Telegram sent them, confirmed only once stored, and one that aiogram
cannot read is parked by the inbox with the reason instead of stopping the polling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from tests.support.fake_server import FakeTelegramServer

from bot.factory import create_bot, create_dispatcher
from bot.receiving.inbox import InboxWorker
from bot.receiving.polling import poll
from core.persistence.repositories.inbox import InboxUpdate
from tests.telegram.conftest import CATALOGS, World

ANA = 7101


@dataclass
class Polling:
    worker: InboxWorker
    woken: list[int]


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
    """Polling and the worker run in the background: wait for what they do to show."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "it did not happen in time"
        await asyncio.sleep(0.02)


@pytest.fixture
async def polling(world: World) -> AsyncIterator[Polling]:
    world.fake.add_user(ANA, "Ana", "es")
    async with FakeTelegramServer(world.fake) as server:
        bot = create_bot(world.fake.token, api_url=server.url)  # the production bot
        worker = InboxWorker(
            world.core, create_dispatcher(world.core, CATALOGS, inbox=True), bot, idle=0.02
        )
        woken: list[int] = []

        def recorded() -> None:
            woken.append(len(woken) + 1)
            worker.wake()

        stop = asyncio.Event()
        task = asyncio.create_task(
            poll(bot, world.core, stop, allowed_updates=None, recorded=recorded, poll_timeout=1)
        )
        try:
            yield Polling(worker, woken)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await bot.session.close()


async def stored(world: World, update_id: int) -> InboxUpdate | None:
    async with world.core.unit_of_work() as uow:
        return await uow.inbox.get(update_id)


async def test_updates_are_stored_as_telegram_sent_them_then_confirmed(
    world: World, polling: Polling
) -> None:
    first = world.fake.user_message(ANA, "Mi pedido <#1001> & 🎁 llegó roto")
    second = world.fake.user_message(ANA, "/start")

    await until(lambda: _stored_both(world, first, second))
    await until(lambda: _none_queued(world))  # the next getUpdates confirmed them

    for update in (first, second):
        row = await stored(world, update["update_id"])
        assert row is not None and row.payload == update  # as sent, not as aiogram re-wrote it
    assert polling.woken  # the worker heard of them


@pytest.mark.parametrize(
    "payload",
    [
        {"message_id": 5, "date": "yesterday", "chat": {"id": ANA, "type": "private"}},
        {"message_id": 5, "date": 1765000000, "chat": {"id": "abc", "type": "private"}},
    ],
    ids=["a date that is not one", "a chat id that is not a number"],
)
async def test_an_update_aiogram_cannot_read_is_parked_and_the_polling_goes_on(
    world: World, polling: Polling, payload: dict[str, object]
) -> None:
    odd = world.fake.odd_update("message", payload)
    after = world.fake.user_message(ANA, "/start")
    stop = asyncio.Event()
    running = asyncio.create_task(polling.worker.run(stop, grace=2))
    try:
        await until(lambda: _parked(world, odd["update_id"]))
        await until(lambda: _answered(world))
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)

    row = await stored(world, odd["update_id"])
    assert row is not None and row.payload == odd
    assert row.last_error is not None and "ValidationError" in row.last_error
    assert (await stored(world, after["update_id"])) is not None
    assert world.fake.queued == 0


async def _stored_both(world: World, *updates: dict[str, object]) -> bool:
    rows = [await stored(world, int(str(u["update_id"]))) for u in updates]
    return all(row is not None for row in rows)


async def _none_queued(world: World) -> bool:
    return world.fake.queued == 0


async def _parked(world: World, update_id: int) -> bool:
    async with world.core.unit_of_work() as uow:
        return update_id in [row.update_id for row in await uow.inbox.parked()]


async def _answered(world: World) -> bool:
    return bool(world.fake.messages_to(ANA))

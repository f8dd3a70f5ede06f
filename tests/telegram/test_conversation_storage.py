"""Conversation state on the embedded database with the in-memory cache (one process per
SQLite file): reads come from memory, an update's changes are written once when it is done,
a restart reads back exactly what was written, and a failed write takes the memory back to
what the database holds (the update then runs again from there)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiogram.fsm.storage.base import StorageKey

from bot.receiving.storage import DatabaseStorage
from core.persistence.engine import create_engine, create_session_factory
from core.persistence.migrate import upgrade
from core.persistence.unit_of_work import UnitOfWork

BOT_ID = 4242


def key(chat: int) -> StorageKey:
    return StorageKey(bot_id=BOT_ID, chat_id=chat, user_id=chat)


@pytest.fixture
async def units(tmp_path: Path) -> AsyncIterator[Callable[[], UnitOfWork]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/state.sqlite3")
    await upgrade(engine)
    sessions = create_session_factory(engine)
    yield lambda: UnitOfWork(sessions)
    await engine.dispose()


async def stored(units: Callable[[], UnitOfWork], chat: int) -> tuple[str | None, dict]:
    """The row as a restarted process would read it."""
    name = DatabaseStorage(units)._key(key(chat))
    async with units() as uow:
        return await uow.conversations.get(name)


async def test_changes_are_written_once_the_update_is_done_and_survive_a_restart(
    units: Callable[[], UnitOfWork],
) -> None:
    storage = DatabaseStorage(units, cache=True)
    await storage.set_state(key(1), "OpenCase:reason")
    await storage.set_data(key(1), {"order_id": 7, "evidence": [{"kind": "photo"}]})
    assert await storage.get_state(key(1)) == "OpenCase:reason"
    assert await stored(units, 1) == (None, {})  # not yet: the update is still running
    await storage.flush()
    assert await stored(units, 1) == (
        "OpenCase:reason",
        {"order_id": 7, "evidence": [{"kind": "photo"}]},
    )

    # a handler that changes what it read changes nothing stored
    data = await storage.get_data(key(1))
    data["evidence"].append({"kind": "video"})
    assert (await storage.get_data(key(1)))["evidence"] == [{"kind": "photo"}]

    restarted = DatabaseStorage(units, cache=True)
    assert await restarted.get_state(key(1)) == "OpenCase:reason"
    assert await restarted.get_data(key(1)) == {"order_id": 7, "evidence": [{"kind": "photo"}]}

    await restarted.set_state(key(1), None)
    await restarted.set_data(key(1), {})
    await restarted.flush()
    async with units() as uow:
        assert await uow.conversations.count() == 0  # a finished conversation keeps no row


async def test_a_failed_write_takes_memory_back_to_the_database(
    units: Callable[[], UnitOfWork],
) -> None:
    storage = DatabaseStorage(units, cache=True)
    await storage.set_state(key(2), "OpenCase:order")
    await storage.flush()

    await storage.set_state(key(2), "OpenCase:reason")
    await storage.set_data(key(2), {"order_id": 9})
    broken = DatabaseStorage(lambda: _failing_unit(), cache=True)
    storage._uow = broken._uow  # the database goes away for this write
    with pytest.raises(ConnectionError):
        await storage.flush()
    storage._uow = units
    # the update failed: it runs again from what the database holds, not from memory
    assert await storage.get_state(key(2)) == "OpenCase:order"
    assert await storage.get_data(key(2)) == {}


async def test_each_update_writes_its_own_changes_only(units: Callable[[], UnitOfWork]) -> None:
    storage = DatabaseStorage(units, cache=True)
    started, finish = asyncio.Event(), asyncio.Event()

    async def slow_update() -> None:
        await storage.set_state(key(3), "OpenCase:description")
        started.set()
        await finish.wait()  # still running when the other update is done

    async def quick_update() -> None:
        await started.wait()
        await storage.set_state(key(4), "OpenCase:evidence")
        await storage.flush()

    slow = asyncio.create_task(slow_update())
    await quick_update()
    assert await stored(units, 4) == ("OpenCase:evidence", {})
    assert await stored(units, 3) == (None, {})  # the slow update's change is not written yet
    finish.set()
    await slow


class _failing_unit:
    async def __aenter__(self) -> _failing_unit:
        raise ConnectionError("database is gone")

    async def __aexit__(self, *exc: object) -> None:
        return None

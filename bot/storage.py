"""Conversation state that survives a restart: aiogram FSM storage on the product's database,
and per-chat locks that are freed when the chat goes quiet."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import (
    BaseEventIsolation,
    BaseStorage,
    DefaultKeyBuilder,
    StateType,
    StorageKey,
)

from core.clock import Clock, SystemClock
from core.persistence.unit_of_work import UnitOfWork


class DatabaseStorage(BaseStorage):
    """FSM state and data as JSON rows in ``conversation_states`` (SQLite or PostgreSQL)."""

    def __init__(self, unit_of_work: Callable[[], UnitOfWork], clock: Clock | None = None) -> None:
        self._uow = unit_of_work
        self._clock = clock or SystemClock()
        self._keys = DefaultKeyBuilder(with_destiny=True)

    def _key(self, key: StorageKey) -> str:
        return self._keys.build(key)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        async with self._uow() as uow:
            await uow.conversations.set_state(self._key(key), value, self._clock.now())
            await uow.commit()

    async def get_state(self, key: StorageKey) -> str | None:
        async with self._uow() as uow:
            state, _ = await uow.conversations.get(self._key(key))
        return state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        async with self._uow() as uow:
            await uow.conversations.set_data(self._key(key), dict(data), self._clock.now())
            await uow.commit()

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self._uow() as uow:
            _, data = await uow.conversations.get(self._key(key))
        return data

    async def close(self) -> None:
        return None


class ChatLocks(BaseEventIsolation):
    """One update at a time per chat, in one process. Unlike aiogram's SimpleEventIsolation,
    a lock is dropped as soon as nobody holds or waits for it, so memory does not grow with
    every buyer who ever wrote."""

    def __init__(self) -> None:
        self._locks: dict[StorageKey, tuple[asyncio.Lock, list[int]]] = {}

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                self._locks.pop(key, None)

    @property
    def held(self) -> int:
        return len(self._locks)

    async def close(self) -> None:
        self._locks.clear()

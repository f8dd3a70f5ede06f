"""Conversation state that survives a restart: aiogram FSM storage on the product's database,
and per-chat locks that are freed when the chat goes quiet."""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import (
    BaseEventIsolation,
    BaseStorage,
    DefaultKeyBuilder,
    StateType,
    StorageKey,
)
from aiogram.types import TelegramObject

from core import fast_json
from core.clock import Clock, SystemClock
from core.persistence.unit_of_work import UnitOfWork

# (key, state, data as JSON text): the conversation changes of one update
Writes = list[tuple[str, str | None, str]]


@dataclass(slots=True)
class UpdateScope:
    """One update's conversation changes (``writes``: handed to the inbox worker) and what it
    read or changed so far, per key (``seen``: read once per update)."""

    writes: Writes = field(default_factory=list)
    seen: dict[str, tuple[str | None, str]] = field(default_factory=dict)

    def note(self, key: str, state: str | None, data: str) -> None:
        """A change: the last one of each key is written."""
        self.seen[key] = (state, data)
        for index, (written, _, _) in enumerate(self.writes):
            if written == key:
                self.writes[index] = (key, state, data)
                return
        self.writes.append((key, state, data))


# Set by the inbox worker around an update it runs: the update's conversation changes are
# handed to it and written with the update's done-mark, so the conversation and "this update
# is done" are stored together (a crash before that re-runs the update from the step the
# person was at) and an update costs one transaction fewer.
_deferred: ContextVar[UpdateScope | None] = ContextVar("deferred_conversation_writes", default=None)


def defer_writes() -> Writes:
    """Collect this task's conversation changes instead of writing them (the inbox worker
    writes them with the done-mark: :meth:`InboxWritten.write`)."""
    scope = UpdateScope()
    _deferred.set(scope)
    return scope.writes


def current_update() -> UpdateScope | None:
    """The update this task runs for the inbox, if any."""
    return _deferred.get()


class InboxWritten(BaseStorage):
    """A storage whose changes the inbox worker writes with each update's done-mark. The four
    FSM calls are written once, here, over a chat's name (aiogram's ``DefaultKeyBuilder``
    with destiny) and two operations a storage provides: read a chat's state and data (as
    JSON text), and change them."""

    _keys = DefaultKeyBuilder(with_destiny=True)

    def _key(self, key: StorageKey) -> str:
        return self._keys.build(key)

    @abstractmethod
    async def _read(self, name: str) -> tuple[str | None, str]:
        """The chat's state and data (JSON text; ``{}`` when none)."""

    @abstractmethod
    async def _write(self, name: str, state: str | None, data: str) -> None:
        """Change the chat's state and data (data as JSON text)."""

    @abstractmethod
    async def write(self, uow: UnitOfWork, writes: Writes) -> None:
        """Write an update's changes, before the caller commits its done-mark."""

    @abstractmethod
    def written(self, writes: Writes) -> None:
        """The done-mark is committed: these changes are stored."""

    @abstractmethod
    def forget(self, writes: Writes) -> None:
        """These changes will not be written (the update did not finish)."""

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        name = self._key(key)
        _, data = await self._read(name)
        await self._write(name, value, data)

    async def get_state(self, key: StorageKey) -> str | None:
        state, _ = await self._read(self._key(key))
        return state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        name = self._key(key)
        state, _ = await self._read(name)
        await self._write(name, state, fast_json.dumps(dict(data)))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        _, data = await self._read(self._key(key))
        return dict(fast_json.loads(data))


class DatabaseStorage(InboxWritten):
    """FSM state and data as JSON rows in ``conversation_states`` (SQLite or PostgreSQL).

    With ``cache`` (the embedded SQLite database, which only one process uses) the chats seen
    lately are kept in memory and the changes an update makes are written once, together,
    when the update is done (:meth:`flush`, called by :class:`FlushConversations`): reading
    costs nothing and each update writes one row. If that write fails, the update fails and
    is run again from the state written before it, so memory never runs ahead of the
    database. Processes that share a database must not cache (each would miss the others'
    changes): for an update the inbox runs they read a chat once and hand the update's
    changes to the done-mark (:func:`defer_writes`); Redis is the faster place for them
    (bot/receiving/redis_storage.py)."""

    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Clock | None = None,
        *,
        cache: bool = False,
        cache_size: int = 5_000,
    ) -> None:
        self._uow = unit_of_work
        self._clock = clock or SystemClock()
        # key → (state, data as JSON text: every reader gets its own copy)
        self._cache: OrderedDict[str, tuple[str | None, str]] | None = (
            OrderedDict() if cache else None
        )
        self._cache_size = cache_size
        self._dirty: dict[str, tuple[str | None, str]] = {}
        # the keys this update (this task) changed: its flush writes those and no others
        self._touched: ContextVar[set[str] | None] = ContextVar("touched", default=None)

    async def _read(self, key: str) -> tuple[str | None, str]:
        scope = None
        if self._cache is not None:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        else:
            scope = _deferred.get()
            if scope is not None and key in scope.seen:
                return scope.seen[key]
        async with self._uow() as uow:
            state, data = await uow.conversations.get(key)
        found = (state, fast_json.dumps(data))
        if scope is not None:
            scope.seen[key] = found
        self._remember(key, found)
        return found

    def _remember(self, key: str, value: tuple[str | None, str]) -> None:
        if self._cache is None:
            return
        self._cache[key] = value
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:  # the quietest chat is read again if needed
            quiet, _ = self._cache.popitem(last=False)
            if quiet in self._dirty:  # not written yet: keep it until it is
                self._cache[quiet] = self._dirty[quiet]
                break

    async def _write(self, key: str, state: str | None, data: str) -> None:
        if self._cache is not None:
            self._remember(key, (state, data))
            self._dirty[key] = (state, data)
            touched = self._touched.get()
            if touched is None:
                touched = set()
                self._touched.set(touched)
            touched.add(key)
            return
        scope = _deferred.get()
        if scope is not None:  # written with the inbox's done-mark
            scope.note(key, state, data)
            return
        async with self._uow() as uow:
            await uow.conversations.put(key, state, fast_json.loads(data), self._clock.now())
            await uow.commit()

    async def flush(self) -> None:
        """Write what this update changed, in one transaction."""
        touched = self._touched.get()
        if not touched:
            return
        self._touched.set(None)
        pending = {key: self._dirty[key] for key in touched if key in self._dirty}
        if not pending:
            return
        scope = _deferred.get()
        if scope is not None:  # written with the inbox's done-mark (see defer_writes)
            scope.writes.extend((key, state, data) for key, (state, data) in pending.items())
            return
        try:
            async with self._uow() as uow:
                now = self._clock.now()
                for key, (state, data) in pending.items():
                    await uow.conversations.put(key, state, fast_json.loads(data), now)
                await uow.commit()
        except BaseException:
            for key in pending:  # back to what the database holds, read again when needed
                self._dirty.pop(key, None)
                if self._cache is not None:
                    self._cache.pop(key, None)
            raise
        for key, value in pending.items():
            if self._dirty.get(key) == value:  # not changed again meanwhile
                del self._dirty[key]

    async def write(self, uow: UnitOfWork, writes: Writes) -> None:
        """Write deferred changes in the caller's transaction (the caller commits, then
        calls :meth:`written`)."""
        await uow.conversations.put_many(
            ((key, state, fast_json.loads(data)) for key, state, data in writes), self._clock.now()
        )

    def written(self, writes: Writes) -> None:
        """Deferred changes are in the database: the cache may let them go."""
        for key, state, data in writes:
            if self._dirty.get(key) == (state, data):  # not changed again meanwhile
                del self._dirty[key]

    def forget(self, writes: Writes) -> None:
        """Deferred changes that will not be written (the update did not finish): the
        cache goes back to what the database holds."""
        for key, _, _ in writes:
            self._dirty.pop(key, None)
            if self._cache is not None:
                self._cache.pop(key, None)

    def discard(self) -> None:
        """Forget what this update changed (it failed, or a stop cut it short): it runs again
        from the state written before it, so a re-run starts where the person was, not one
        step further ("I did not catch that")."""
        touched = self._touched.get()
        self._touched.set(None)
        for key in touched or ():
            self._dirty.pop(key, None)
            if self._cache is not None:
                self._cache.pop(key, None)

    async def close(self) -> None:
        await self.flush()


class FlushConversations(BaseMiddleware):
    """Writes the conversation changes of an update when its handlers are done (see
    :class:`DatabaseStorage`); a failed write fails the update, which is then run again. An
    update that fails or is cut short by a stop writes nothing: its re-run starts from the
    same step."""

    def __init__(self, storage: DatabaseStorage) -> None:
        self.storage = storage

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        try:
            result = await handler(event, data)
        except BaseException:
            self.storage.discard()  # not written: the update runs again from where it was
            raise
        await self.storage.flush()
        return result


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

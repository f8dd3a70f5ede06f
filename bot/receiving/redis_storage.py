"""Conversation state in Redis, for several processes: read once and written once per update.

aiogram's ``RedisStorage`` makes a round trip for every ``get_state``, ``get_data``,
``set_state`` and ``set_data``: about nine per update of a return (counted under load,
benchmarks/README.md, sixth round), plus two for ``RedisEventIsolation``'s lock. Here the first
read of an update fetches the state and the data in one ``MGET`` and later reads are answered
from it; the update's changes are handed to the inbox worker, which writes them in one
pipeline just before it commits the update's done-mark. If Redis does not answer then, the
done-mark is not committed: the worker waits the outage out and writes both again, so a
finished step is never forgotten. (Before, each change was written while the handler ran: a
failure after it ran the update again one step further on.)

No lock: the inbox runs one update of a chat at a time, across every process (its claim takes
only the oldest unfinished update of a chat), which is what the lock was for.

The keys and values are aiogram's own (``DefaultKeyBuilder``, ``<key>:state`` and
``<key>:data`` with the same expiry), so conversations stored before this module keep going."""

from __future__ import annotations

from datetime import timedelta

from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio.client import Redis
from redis.asyncio.connection import ConnectionPool

from bot.receiving.storage import InboxWritten, Writes, current_update
from core import fast_json
from core.persistence.unit_of_work import UnitOfWork

EMPTY = "{}"


class RedisConversations(InboxWritten, RedisStorage):  # InboxWritten's FSM calls first
    """FSM state and data in Redis, each expiring ``ttl`` after its last change."""

    def __init__(self, redis: Redis, *, ttl: timedelta) -> None:
        RedisStorage.__init__(
            self,
            redis,
            key_builder=self._keys,
            state_ttl=ttl,
            data_ttl=ttl,
            json_loads=fast_json.loads,
            json_dumps=fast_json.dumps,
        )

    @classmethod
    def connect(cls, url: str, *, ttl: timedelta) -> RedisConversations:
        return cls(Redis(connection_pool=ConnectionPool.from_url(url)), ttl=ttl)

    def _part(self, name: str, part: str) -> str:
        return f"{name}{self._keys.separator}{part}"  # DefaultKeyBuilder.build(key, part)

    async def _read(self, name: str) -> tuple[str | None, str]:
        scope = current_update()
        if scope is not None and name in scope.seen:
            return scope.seen[name]
        state, data = await self.redis.mget(self._part(name, "state"), self._part(name, "data"))
        found = (
            state.decode() if isinstance(state, bytes) else state,
            data.decode() if isinstance(data, bytes) else (data or EMPTY),
        )
        if scope is not None:
            scope.seen[name] = found
        return found

    async def _write(self, name: str, state: str | None, data: str) -> None:
        scope = current_update()
        if scope is None:  # not run by the inbox (a test feeding updates in): at once
            await self._put([(name, state, data)])
        else:
            scope.note(name, state, data)

    async def _put(self, writes: Writes) -> None:
        """One round trip, all or nothing (MULTI/EXEC): each state and data set with the
        expiry, or deleted when empty."""
        pipe = self.redis.pipeline(transaction=True)
        for name, state, data in writes:
            if state is None:
                pipe.delete(self._part(name, "state"))
            else:
                pipe.set(self._part(name, "state"), state, ex=self.state_ttl)
            if data == EMPTY:
                pipe.delete(self._part(name, "data"))
            else:
                pipe.set(self._part(name, "data"), data, ex=self.data_ttl)
        await pipe.execute()

    async def write(self, uow: UnitOfWork, writes: Writes) -> None:
        """Before the done-mark's commit: a failure here keeps the update unfinished."""
        await self._put(writes)

    def written(self, writes: Writes) -> None:
        """Nothing is kept between updates."""

    def forget(self, writes: Writes) -> None:
        """Nothing was written before the done-mark."""

"""Writes that come one by one, in shared transactions.

Under load many tasks each want one small write at about the same time: a webhook request its
update stored, a handler the note of a message it sent. Each in a transaction of its own costs
a unit of work and a commit per write (on PostgreSQL three round trips). Here, while one
batch is being written, the writes that come meanwhile wait and go in the next, one statement
and one commit for all of them; a write that comes alone is written at once. On SQLite, whose
statements run on the event loop, a batch is what the loop's tasks asked for before the writer
ran: the tasks woken by the same network read.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class WriteTogether(Generic[T]):
    """``await add(item)`` returns once ``item`` is written, or raises the write's error.

    ``write(items)`` writes a batch in one transaction. When a batch fails, its items are
    written one by one, so that one the database refuses does not fail the others (that is
    also a second try for a batch that lost a deadlock). ``timeout``: how long a batch, with
    its one-by-one pass, may take before its callers get ``TimeoutError``; a database that
    hangs then holds up the writes that come after it for that long, not for ever. A caller
    that is cancelled leaves its item in the batch: the others' write goes on."""

    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        name: str,
        *,
        timeout: float | None = None,
    ) -> None:
        self._write_batch = write
        self._name = name
        self._timeout = timeout
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._in_flight: list[tuple[T, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, item: T) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_retrieved)  # its caller may have left
        self._waiting.append((item, done))
        if self._writer is None or self._writer.done():
            # a fresh context: the writer serves every caller, not the one that started it
            self._writer = asyncio.create_task(
                self._write(), name=self._name, context=contextvars.Context()
            )
            self._writer.add_done_callback(self._stopped)
        await asyncio.shield(done)  # a caller that leaves does not cancel the others' write

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            self._in_flight = batch
            try:
                async with asyncio.timeout(self._timeout):
                    await self._write_together(batch)
            except TimeoutError as exc:
                _settle(batch, exc)
            self._in_flight = []

    async def _write_together(self, batch: list[tuple[T, asyncio.Future[None]]]) -> None:
        try:
            await self._write_batch([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch, exc)
                return
            for one in batch:  # one the database refuses fails its caller alone
                try:
                    await self._write_batch([one[0]])
                except Exception as alone:
                    _settle([one], alone)
                else:
                    _settle([one], None)
        else:
            _settle(batch, None)

    def _stopped(self, writer: asyncio.Task[None]) -> None:
        """Nobody waits for ever for a write that never came: the writer was cancelled (the
        process stops), even before it started, or failed."""
        if writer is not self._writer:
            return  # a newer writer serves the callers since
        self._writer = None
        if writer.cancelled() or writer.exception() is not None:
            left = [*self._in_flight, *self._waiting]
            self._in_flight, self._waiting = [], []
            for _, done in left:
                if not done.done():
                    done.set_exception(RuntimeError("stopping: not stored"))


def _settle(batch: list[tuple[T, asyncio.Future[None]]], error: BaseException | None) -> None:
    for _, done in batch:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


def _retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()  # read, so that an error nobody awaited is not logged as lost

"""Nothing lost, nothing doubled: incoming updates go through the database.

Receivers (long polling, the webhook) only *record* updates, and Telegram is told an update
arrived only after that commit. The :class:`InboxWorker` claims recorded updates, each the
oldest unfinished one of its chat, runs them through the dispatcher, and marks them done; a
handler that fails is tried again a few times with a pause, then parked (logged, listed by
``returns-desk updates parked``) and the person gets an apology. Several processes can share
one inbox: claims are leases renewed while the handler runs, so the updates of a process that
died are taken over once its leases run out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update

from core.persistence.repositories.inbox import InboxUpdate
from core.services.context import CoreContext

log = logging.getLogger("returns_desk.inbox")

# failed attempts before an update is parked, and the pause before each new attempt
RETRY_DELAYS = (1.0, 3.0, 10.0, 30.0)
PARSED_KEPT = 2_000  # updates received here kept parsed until claimed (saves a re-parse)


def process_name() -> str:
    """Who holds a claim or a lease: readable in the database, unique per process start."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def chat_key(update: Mapping[str, Any]) -> int:
    """The chat an update belongs to (its order key), from the raw JSON: the chat of a
    message or of a pressed button's message, else the user; 0 when it has neither."""
    for field, event in update.items():
        if field == "update_id" or not isinstance(event, Mapping):
            continue
        chat = event.get("chat")
        if chat is None and isinstance(event.get("message"), Mapping):
            chat = event["message"].get("chat")  # a callback query's message
        if isinstance(chat, Mapping) and "id" in chat:
            return int(chat["id"])
        user = event.get("from") or event.get("user")
        if isinstance(user, Mapping) and "id" in user:
            return int(user["id"])
    return 0


def raw_update(update: Update) -> dict[str, Any]:
    """An update as Telegram sent it (aliases like ``from``), to store and parse again."""
    return update.model_dump(mode="json", by_alias=True, exclude_none=True)


async def record(core: CoreContext, updates: Iterable[Mapping[str, Any]]) -> int:
    """Store raw updates; returns how many were new. Raises if the database fails, and then
    the caller must not confirm them to Telegram."""
    rows = [(int(u["update_id"]), chat_key(u), dict(u)) for u in updates]
    if not rows:
        return 0
    async with core.unit_of_work() as uow:
        new = await uow.inbox.record(rows, core.now())
        await uow.commit()
    return new


class InboxWorker:
    """Runs recorded updates through the dispatcher, up to ``concurrency`` chats at a time."""

    def __init__(
        self,
        core: CoreContext,
        dispatcher: Dispatcher,
        bot: Bot,
        *,
        owner: str | None = None,
        concurrency: int = 64,
        lease: float = 30.0,
        handler_timeout: float = 120.0,
        idle: float = 0.5,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        self.core = core
        self.dispatcher = dispatcher
        self.bot = bot
        self.owner = owner or process_name()
        self.concurrency = concurrency
        self.lease = lease
        self.handler_timeout = handler_timeout
        self.idle = idle
        self.retry_delays = retry_delays
        self._wake = asyncio.Event()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._done: list[int] = []  # finished, to be marked in the next write
        self._failed: list[tuple[InboxUpdate, str]] = []
        self._parsed: dict[int, Update] = {}  # updates this process received, already parsed

    def wake(self, parsed: Iterable[Update] = ()) -> None:
        """New updates were recorded (by this process: keep their parsed form)."""
        for update in parsed:
            self._parsed[update.update_id] = update
        while len(self._parsed) > PARSED_KEPT:  # claimed by another process: forget the oldest
            del self._parsed[next(iter(self._parsed))]
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def run(self, stop: asyncio.Event, *, grace: float = 30.0) -> None:
        """Process until ``stop``; then let the handlers in flight finish (up to ``grace``
        seconds), give back what could not finish, and return."""
        renew_every = self.lease / 3
        loop = asyncio.get_running_loop()
        next_renewal = loop.time() + renew_every
        while not stop.is_set():
            self._wake.clear()
            try:
                await self._write_results()
                claimed = await self._claim()
                if loop.time() >= next_renewal and self._running:
                    await self._renew()
                    next_renewal = loop.time() + renew_every
            except Exception:  # the database is away: keep results in memory, try again
                log.exception("the inbox pass failed; trying again")
                claimed = 0
                await _sleep_or(stop, 1.0)
                continue
            if claimed:
                continue  # there may be more
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait(
                {waiter, stopper},
                timeout=min(self.idle, renew_every),
                return_when=asyncio.FIRST_COMPLETED,
            )
            waiter.cancel()
            stopper.cancel()
        await self._drain(grace)

    async def _claim(self) -> int:
        free = self.concurrency - len(self._running)
        if free <= 0:
            return 0
        now = self.core.now()
        async with self.core.unit_of_work() as uow:
            claimed = await uow.inbox.claim(
                owner=self.owner,
                now=now,
                lease_until=now + timedelta(seconds=self.lease),
                limit=free,
            )
            await uow.commit()
        for item in claimed:
            self._running[item.update_id] = asyncio.create_task(
                self._process(item), name=f"update-{item.update_id}"
            )
        return len(claimed)

    async def _process(self, item: InboxUpdate) -> None:
        final = item.attempts + 1 >= len(self.retry_delays) + 1
        try:
            update = self._parsed.pop(item.update_id, None) or Update.model_validate(
                item.payload, context={"bot": self.bot}
            )
            await asyncio.wait_for(
                self.dispatcher.feed_update(
                    self.bot,
                    update,
                    inbox_attempt=item.attempts + 1,
                    inbox_final_attempt=final,
                ),
                self.handler_timeout,
            )
        except asyncio.CancelledError:
            raise  # a stop that ran out of time: the claim is given back
        except Exception as exc:
            self._failed.append((item, f"{type(exc).__name__}: {exc}"))
        else:
            self._done.append(item.update_id)
        finally:
            self._running.pop(item.update_id, None)
            self._wake.set()

    async def _write_results(self) -> None:
        if not self._done and not self._failed:
            return
        done, failed = list(self._done), list(self._failed)
        now = self.core.now()
        async with self.core.unit_of_work() as uow:
            await uow.inbox.mark_done(done, now)
            for item, error in failed:
                attempt = item.attempts + 1
                retry_at = None
                if attempt <= len(self.retry_delays):
                    retry_at = now + timedelta(seconds=self.retry_delays[attempt - 1])
                await uow.inbox.mark_failed(item.update_id, error, retry_at=retry_at, at=now)
                if retry_at is None:
                    log.error(
                        "update %s (chat %s) failed %s times and is parked: %s; "
                        "see `returns-desk updates parked`",
                        item.update_id,
                        item.chat_key,
                        attempt,
                        error,
                    )
                else:
                    log.warning(
                        "update %s failed (attempt %s of %s), trying again in %ss: %s",
                        item.update_id,
                        attempt,
                        len(self.retry_delays) + 1,
                        self.retry_delays[attempt - 1],
                        error,
                    )
            await uow.commit()
        # only what was written is forgotten: results added meanwhile stay for the next write
        del self._done[: len(done)]
        del self._failed[: len(failed)]

    async def _renew(self) -> None:
        async with self.core.unit_of_work() as uow:
            await uow.inbox.renew(self.owner, self.core.now() + timedelta(seconds=self.lease))
            await uow.commit()

    async def _drain(self, grace: float) -> None:
        if self._running:
            log.info("waiting for %s update(s) in flight", len(self._running))
            _, late = await asyncio.wait(set(self._running.values()), timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.gather(*late, return_exceptions=True)
        for attempt in range(3):
            try:
                await self._write_results()
                async with self.core.unit_of_work() as uow:  # what was cut short runs again
                    released = await uow.inbox.release(owner=self.owner)
                    await uow.commit()
                if released:
                    log.warning("%s update(s) cut short by the stop will run again", released)
                return
            except Exception:
                log.exception("could not write the last results (attempt %s)", attempt + 1)
                await asyncio.sleep(1.0)


async def _sleep_or(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)

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
import hashlib
import logging
import os
import socket
import uuid
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from sqlalchemy import text

from bot.conversations.errors import failed_where
from bot.delivery import retries
from bot.receiving import replay
from bot.receiving.storage import InboxWritten, Writes, defer_writes
from bot.receiving.together import WriteTogether
from core.persistence.repositories.inbox import InboxUpdate
from core.persistence.sqlite_driver import on_the_loop
from core.persistence.unit_of_work import UnitOfWork
from core.services.context import CoreContext

log = logging.getLogger("returns_desk.inbox")

Probe = Callable[[], Awaitable[object]]  # raises when what it looks at does not answer

# failed attempts before an update is parked, and the pause before each new attempt
RETRY_DELAYS = (1.0, 3.0, 10.0, 30.0)


def process_name() -> str:
    """Who holds a claim or a lease: readable in the database, unique per process start."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


TOPIC_KEYS = 1 << 62  # topic keys are at or above this; Telegram's chat ids stay far below


def topic_key(chat_id: int, thread_id: int) -> int:
    """A stable 63-bit order key for one topic of a forum supergroup: the same on every
    process and every run, and never equal to a chat id (those are below 2**53)."""
    digest = hashlib.blake2b(f"{chat_id}:{thread_id}".encode(), digest_size=8).digest()
    return TOPIC_KEYS | (int.from_bytes(digest, "big") & (TOPIC_KEYS - 1))


def chat_key(update: Mapping[str, Any]) -> int:
    """The order key of an update, from the raw JSON: updates with the same key run one at a
    time, in order; different keys run side by side.

    The key is the chat of a message or of a pressed button's message, else the user; 0 when
    it has neither. In a forum supergroup (the agents' group) each topic is its own key
    (:func:`topic_key`): a reply in one topic does not wait behind another topic's updates,
    and the updates of one topic (messages, edits, service messages, buttons pressed on its
    messages, which carry the topic's thread id) stay in order. The forum's General topic and
    every other chat keep the chat id. An id that is not a 64-bit integer counts as none: the
    update is stored all the same, and parked when it cannot be read."""
    return _checked(_chat_key, update)


def _checked(find: Callable[[Mapping[str, Any]], int], update: Mapping[str, Any]) -> int:
    try:
        key = find(update)
    except (TypeError, ValueError):  # "id": null, "abc"…: an odd update, stored as it is
        return 0
    return key if -(2**63) <= key < 2**63 else 0


def _chat_key(update: Mapping[str, Any]) -> int:
    for field, event in update.items():
        if field == "update_id" or not isinstance(event, Mapping):
            continue
        message = event
        chat = event.get("chat")
        if chat is None and isinstance(event.get("message"), Mapping):
            message = event["message"]  # a callback query's message
            chat = message.get("chat")
        if isinstance(chat, Mapping) and "id" in chat:
            thread = message.get("message_thread_id")
            if chat.get("is_forum") and message.get("is_topic_message") and thread is not None:
                return topic_key(int(chat["id"]), int(thread))
            return int(chat["id"])
        user = event.get("from") or event.get("user")
        if isinstance(user, Mapping) and "id" in user:
            return int(user["id"])
    return 0


def chat_of(update: Mapping[str, Any]) -> int:
    """The chat (or user) an update came from, for people reading the logs: unlike
    :func:`chat_key`, never a topic's hashed key."""
    return _checked(_chat_of, update)


def _chat_of(update: Mapping[str, Any]) -> int:
    for field, event in update.items():
        if field == "update_id" or not isinstance(event, Mapping):
            continue
        chat = event.get("chat")
        if chat is None and isinstance(event.get("message"), Mapping):
            chat = event["message"].get("chat")
        if isinstance(chat, Mapping) and "id" in chat:
            return int(chat["id"])
        user = event.get("from") or event.get("user")
        if isinstance(user, Mapping) and "id" in user:
            return int(user["id"])
    return 0


async def record(core: CoreContext, updates: Iterable[Mapping[str, Any]]) -> int:
    """Store raw updates; returns how many were new. Raises if the database fails, and then
    the caller must not confirm them to Telegram."""
    rows = [(int(u["update_id"]), chat_key(u), dict(u)) for u in updates]
    if not rows:
        return 0
    with on_the_loop():  # a few short inserts, from polling or the webhook
        async with core.unit_of_work() as uow:
            if uow.inbox.records_in_one_statement(len(rows)):
                await uow.one_statement()  # Telegram waits for it: no BEGIN and COMMIT trips
            new = await uow.inbox.record(rows, core.now())
            await uow.commit()
    return new


class RecordTogether:
    """Stores updates that arrive one by one (webhook requests) in shared transactions
    (:class:`~bot.receiving.together.WriteTogether`): one insert and one commit for the
    updates that come while a batch is being written. Each caller returns once its update is
    stored, or gets the error (then its request answers 503 and Telegram sends the update
    again). Under load on PostgreSQL an update cost a transaction of its own, three round
    trips (benchmarks/README.md, sixth round)."""

    def __init__(self, core: CoreContext) -> None:
        async def write(updates: list[Mapping[str, Any]]) -> None:
            await record(core, updates)

        self._together = WriteTogether(write, "inbox-record")

    async def record(self, update: Mapping[str, Any]) -> None:
        await self._together.add(update)


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
        probes: Mapping[str, Probe] | None = None,
        pause: float = 1.0,
    ) -> None:
        """``probes``: besides the database, what else must answer for handlers to work
        (Redis, Telegram), each a coroutine that raises when it does not; ``pause``: the
        first wait between two looks during an outage (doubled up to 15 s)."""
        self.core = core
        self.pause = pause
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
        # finished, to be marked in the next write, with their conversation changes
        self._done: list[tuple[int, int, Writes]] = []  # update id, chat key, conversation
        # failed, with whether another attempt may help (not for an update it cannot read)
        self._failed: list[tuple[InboxUpdate, str, bool]] = []
        # whether a claim is due: after arrivals, when the last claim was full, and after an
        # idle wait. A pass that marks something done also looks for what became ready (a
        # finished update's chat may have another one waiting, received here or by another
        # process): on PostgreSQL by claiming in the marks' statement, on SQLite by a look
        self._claim_soon = True
        # updates cut short by an outage: given back (lease freed, attempt not counted)
        self._given_back: list[int] = []
        self._outage: str | None = None  # what does not answer, while it does not
        self._outage_since = 0.0
        self.probes: dict[str, Probe] = {"the database (DATABASE_URL)": self._database_answers}
        self.probes.update(probes or {})

    def wake(self) -> None:
        """New updates were recorded."""
        self._claim_soon = True  # also when it comes during a claim: that claim keeps it
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def run(self, stop: asyncio.Event, *, grace: float = 30.0) -> None:
        """Process until ``stop``; then let the handlers in flight finish (up to ``grace``
        seconds), give back what could not finish, and return. SQLite statements of the
        worker and of the handlers run on the event loop's thread (the updates' statements
        are short; core/persistence/sqlite_driver.py)."""
        with on_the_loop():
            await self._run(stop, grace)

    async def _run(self, stop: asyncio.Event, grace: float) -> None:
        renew_every = self.lease / 3
        loop = asyncio.get_running_loop()
        next_renewal = loop.time() + renew_every
        waited_idle = True
        while not stop.is_set():
            self._wake.clear()
            if self._outage is not None:
                await self._wait_out(stop)
                self._claim_soon = True  # what was given back
                continue
            try:
                claimed = await self._pass(claim=self._claim_soon or waited_idle)
                if loop.time() >= next_renewal and self._running:
                    await self._renew()
                    next_renewal = loop.time() + renew_every
            except Exception as exc:  # the database is away: keep results in memory
                self._claim_soon = True  # the claim may not have run
                await self._check(exc)
                if self._outage is None:  # it answers: a fault of this pass, logged
                    log.exception("the inbox pass failed; trying again")
                    await _sleep_or(stop, 1.0)
                continue
            if claimed and self._claim_soon:
                continue  # the claim was full, or more came meanwhile
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            woken, _ = await asyncio.wait(
                {waiter, stopper},
                timeout=min(self.idle, renew_every),
                return_when=asyncio.FIRST_COMPLETED,
            )
            waited_idle = not woken  # retries due, another process's updates, expired leases
            waiter.cancel()
            stopper.cancel()
        await self._drain(grace)

    async def _process(self, item: InboxUpdate) -> None:
        final = item.attempts + 1 >= len(self.retry_delays) + 1
        timeout = asyncio.timeout(self.handler_timeout)
        writes: Writes = []
        update: Update | None = None
        try:
            update = Update.model_validate(item.payload, context={"bot": self.bot})
            replay.begin(item.update_id, item.answers)  # a re-run says nothing twice
            writes = defer_writes()  # the conversation is stored with the done-mark
            async with timeout:
                await self.dispatcher.feed_update(
                    self.bot,
                    update,
                    inbox_attempt=item.attempts + 1,
                    inbox_final_attempt=final,
                    inbox_healthy=self.healthy,
                )
        except asyncio.CancelledError:
            self._forget(writes)
            raise  # a stop that ran out of time: the claim is given back
        except Exception as exc:
            self._forget(writes)
            if update is None:  # stored as Telegram sent it: no attempt reads it better
                self._failed.append((item, _explain(exc), False))
            elif timeout.expired():  # the handler hung on a system that answers: its fault
                self._failed.append(
                    (
                        item,
                        f"TimeoutError in {failed_where(exc)}: the handler "
                        f"took over {self.handler_timeout:g} s",
                        True,
                    )
                )
            elif await self._check(exc):  # infrastructure away: not the handler's fault
                self._given_back.append(item.update_id)
            else:
                self._failed.append((item, _explain(exc), True))
        else:
            self._done.append((item.update_id, item.chat_key, writes))
        finally:
            self._running.pop(item.update_id, None)
            self._wake.set()

    @property
    def _storage(self) -> InboxWritten | None:
        storage = self.dispatcher.storage
        return storage if isinstance(storage, InboxWritten) else None

    def _forget(self, writes: Writes) -> None:
        if writes and self._storage is not None:
            self._storage.forget(writes)

    async def healthy(self) -> bool:
        """Whether everything the handlers need answers (an outage is noted when not)."""
        return not await self._check(None)

    async def _database_answers(self) -> None:
        async with self.core.unit_of_work() as uow:
            await uow.session.execute(text("SELECT 1"))

    async def _check(self, exc: BaseException | None) -> bool:
        """After a failure: True (and the worker pauses) when something the handlers need
        does not answer. A Telegram transport fault (a proxy's 502 page, a reset) counts as
        an outage too; an error of a handler on a working system does not."""
        if self._outage is not None:
            return True
        down: str | None = None
        if exc is not None and retries.is_transient(exc):
            down = f"Telegram (BOT_API_URL): {retries.describe(exc)}"
        for name, probe in self.probes.items():
            if down is not None:
                break
            try:
                async with asyncio.timeout(5.0):
                    await probe()
            except Exception as failure:
                down = f"{name}: {type(failure).__name__}"
        if down is None:
            return False
        if self._outage is None:
            self._outage = down
            self._outage_since = asyncio.get_running_loop().time()
            log.error("%s does not answer: updates wait (none is parked) until it is back", down)
        return True

    async def _wait_out(self, stop: asyncio.Event) -> None:
        """During an outage: look again now and then (no log line per look); once everything
        answers, give back the updates cut short and go on."""
        pause = self.pause
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            self._wake.clear()  # a new update is a reason to look again sooner
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=pause, return_when=FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
            if stop.is_set():
                return
            pause = min(pause * 2, 15.0)
            failing = None
            for name, probe in self.probes.items():
                try:
                    async with asyncio.timeout(5.0):
                        await probe()
                except Exception:
                    failing = name
                    break
            if failing is None:
                try:
                    await self._give_back()
                except Exception:
                    continue
                log.warning(
                    "%s answers again after %.0f s: taking updates again",
                    self._outage,
                    loop.time() - self._outage_since,
                )
                self._outage = None
                return

    async def _give_back(self) -> None:
        if not self._given_back:
            return
        ids = list(self._given_back)
        async with self.core.unit_of_work() as uow:
            await uow.inbox.release(owner=self.owner, update_ids=ids)
            await uow.commit()
        del self._given_back[: len(ids)]

    async def _write_results(self) -> None:
        """Write what finished, claiming nothing (the stop)."""
        await self._pass(claim=False, may_claim=False)

    async def _pass(self, *, claim: bool, may_claim: bool = True) -> int:
        """What finished (failed attempts, then done-marks with their conversations) and, with
        ``claim`` or after done-marks, as many ready updates as there is room for (the claim
        sees the marks just made). Returns how many it claimed.

        As few round trips as it can: every statement of the worker waits for a turn of an
        event loop busy with the handlers (on PostgreSQL a round trip; under load a turn is
        many milliseconds), and every update waits for a pass (benchmarks/README.md, tenth
        and fourteenth rounds). So the claim shares the marks' transaction, on PostgreSQL
        their statement too, and a pass that writes no conversation is that one statement,
        committed by itself. Conversations are written last, before the commit: nothing of
        the pass may fail between them and their marks (Redis commits on its own)."""
        done, failed = list(self._done), list(self._failed)
        free = self.concurrency - len(self._running)
        if free <= 0 and (claim or done):
            self._claim_soon = True  # once one finishes
        claim = claim and may_claim and free > 0
        # a finished update's chat may have its next update waiting (received here or by
        # another process): look for it, unless a claim is due anyway
        look = may_claim and not claim and bool(done) and free > 0
        if not (done or failed or claim):
            return 0
        if claim:
            self._claim_soon = False  # until an arrival (wake) or a done-mark says otherwise
        now = self.core.now()
        claimed: list[InboxUpdate] = []
        together = False
        storage = self._storage
        done_ids = [update_id for update_id, _, _ in done]
        done_chats = {chat for _, chat, _ in done}
        async with self.core.unit_of_work() as uow:
            if claim or look:
                together = await uow.inbox.claims_see_marks()
            await self._record_failures(uow, failed, now)  # first: the claim sees them
            if together:
                if not failed and (storage is None or not any(ws for _, _, ws in done)):
                    await uow.one_statement()  # the pass is one statement: no BEGIN, no COMMIT
                marked, claimed = await uow.inbox.mark_done_and_claim(
                    done_ids,
                    now,
                    owner=self.owner,
                    now=now,
                    lease_until=now + timedelta(seconds=self.lease),
                    limit=free,
                    only_if_waiting_in=None if claim else done_chats,
                )
            else:
                marked = await uow.inbox.mark_done(done_ids, now, owner=self.owner)
                if look:
                    claim = await uow.inbox.any_unfinished_in(done_chats)
            writes, lost = self._written_and_lost(done, marked)
            # each update's conversation with its mark, last: nothing of this pass may fail
            # between the two (a store outside the database, Redis, commits on its own)
            if writes and storage is not None:
                await storage.write(uow, writes)
            await uow.commit()
        self._start(claimed)  # first: nothing may stand between a claim and its task
        if writes and storage is not None:
            storage.written(writes)
        for update_id, _, update_writes in lost:
            self._forget(update_writes)
            log.warning(
                "update %s was taken over by another process while this one could not write "
                "its result: that process's result stands",
                update_id,
            )
        # only what was written is forgotten: results added meanwhile stay for the next pass
        del self._done[: len(done)]
        del self._failed[: len(failed)]
        if claim and not together:  # a transaction of its own, after the marks
            async with self.core.unit_of_work() as uow:
                claimed = await self._take(uow, now, free)
                await uow.commit()
            self._start(claimed)
        if (claim or look) and len(claimed) == free:  # there may be more than it could take
            self._claim_soon = True
        return len(claimed)

    async def _take(self, uow: UnitOfWork, now: datetime, free: int) -> list[InboxUpdate]:
        return await uow.inbox.claim(
            owner=self.owner,
            now=now,
            lease_until=now + timedelta(seconds=self.lease),
            limit=free,
        )

    def _start(self, claimed: list[InboxUpdate]) -> None:
        # an update waiting behind one of its chat in flight is claimed in the pass that
        # writes that one's done-mark
        for item in claimed:
            self._running[item.update_id] = asyncio.create_task(
                self._process(item), name=f"update-{item.update_id}"
            )

    @staticmethod
    def _written_and_lost(
        done: list[tuple[int, int, Writes]], marked: set[int]
    ) -> tuple[Writes, list[tuple[int, int, Writes]]]:
        """The conversations to write with the done-marks, and the updates another process
        took over (this one's lease ran out during an outage): that process's to write."""
        lost = [entry for entry in done if entry[0] not in marked]
        writes = [w for update_id, _, ws in done if update_id in marked for w in ws]
        return writes, lost

    async def _record_failures(
        self, uow: UnitOfWork, failed: list[tuple[InboxUpdate, str, bool]], now: datetime
    ) -> None:
        """The failed attempts: tried again later, or parked."""
        for item, error, may_retry in failed:
            attempt = item.attempts + 1
            retry_at = None
            if may_retry and attempt <= len(self.retry_delays):
                retry_at = now + timedelta(seconds=self.retry_delays[attempt - 1])
            if not await uow.inbox.mark_failed(
                item.update_id, error, retry_at=retry_at, at=now, owner=self.owner
            ):
                log.warning(
                    "update %s was taken over by another process while this one could not "
                    "write its failed attempt: that process's attempt stands",
                    item.update_id,
                )
                continue
            if retry_at is None:
                log.error(
                    "update %s (chat %s) failed (attempt %s) and is parked: %s; "
                    "see `returns-desk updates parked`",
                    item.update_id,
                    chat_of(item.payload),
                    attempt,
                    error.split(":", 1)[0],  # the type only: its text may quote the buyer
                )
            else:
                log.warning(
                    "update %s failed (attempt %s of %s), trying again in %ss: %s",
                    item.update_id,
                    attempt,
                    len(self.retry_delays) + 1,
                    self.retry_delays[attempt - 1],
                    error.split(":", 1)[0],  # the type only: its text may quote the buyer
                )

    async def _renew(self) -> None:
        """The leases of the updates this process runs, or ran and has not written yet."""
        held = [*self._running, *(update_id for update_id, _, _ in self._done)]
        held += [item.update_id for item, _, _ in self._failed]
        async with self.core.unit_of_work() as uow:
            await uow.inbox.renew(
                self.owner, self.core.now() + timedelta(seconds=self.lease), update_ids=held
            )
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


async def _sleep_or(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep unless stopped; True when stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
        return True
    return False


def _explain(exc: BaseException) -> str:
    """What a parked update says: the exception's type, the handler it came from, its text."""
    return f"{type(exc).__name__} in {failed_where(exc)}: {exc}"

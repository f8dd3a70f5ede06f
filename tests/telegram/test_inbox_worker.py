"""The inbox worker with the real dispatcher: updates are recorded first, then processed in
order per chat; a handler that fails is tried again (the buyer only sees the answer that
worked), and one that keeps failing is parked with one apology, then retried on demand."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.factory import create_dispatcher
from bot.receiving import inbox
from bot.receiving.inbox import InboxWorker
from core.persistence.engine import create_engine
from core.persistence.repositories import inbox as inbox_repository
from core.persistence.tables import inbox_updates
from core.services import people
from tests.support import create_fake_bot
from tests.telegram.conftest import CATALOGS, World, world_on

APOLOGY = "Sorry, something went wrong on our side"


class InboxDriver:
    """Takes the fake's updates as a receiver would (record them, nothing else) and waits
    until the worker has finished everything recorded."""

    def __init__(self, world: World, worker: InboxWorker) -> None:
        self.world = world
        self.worker = worker

    async def deliver(self, *, concurrent: bool | None = None) -> None:
        updates = self.world.fake.take_updates()
        await inbox.record(self.world.core, updates)
        self.worker.wake()
        for _ in range(500):
            async with self.world.core.unit_of_work() as uow:
                counts = await uow.inbox.counts()
            if not counts.get("pending") and not counts.get("processing"):
                break
            await asyncio.sleep(0.01)
        await self.world.fake.wait_idle(timeout=5)


@pytest.fixture
async def worker(world: World) -> AsyncIterator[InboxWorker]:
    async with running_worker(world, retry_delays=(0, 0, 0, 0), idle=0.02) as worker:
        yield worker


@contextlib.asynccontextmanager
async def running_worker(world: World, **options: Any) -> AsyncIterator[InboxWorker]:
    """A worker running on the world's inbox (``options`` for ``InboxWorker``), stopped after."""
    bot = create_fake_bot(world.fake)
    dispatcher = create_dispatcher(world.core, CATALOGS, inbox=True)
    worker = InboxWorker(world.core, dispatcher, bot, **options)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, grace=2))
    try:
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await bot.session.close()


def rarely_idle_worker(world: World) -> contextlib.AbstractAsyncContextManager[InboxWorker]:
    """A worker whose idle pass (60 s) never comes in a test: it claims only when told."""
    return running_worker(world, idle=60)


def flaky(monkeypatch: pytest.MonkeyPatch, failures: int) -> list[int]:
    """``people.remember`` (first thing every update does) fails ``failures`` times as a
    database that restarts would; returns the list of calls made."""
    calls: list[int] = []
    remember = people.remember

    async def sometimes(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= failures:
            raise OperationalError("SELECT", {}, ConnectionRefusedError("database restarting"))
        return await remember(*args, **kwargs)

    monkeypatch.setattr(people, "remember", sometimes)
    return calls


async def test_updates_from_the_inbox_get_the_same_answers(
    world: World, worker: InboxWorker
) -> None:
    ana = world.person(910001, "Ana", "es")
    ana.driver = InboxDriver(world, worker)
    await ana.send("/start")
    assert ana.last().startswith("¡Hola, Ana! Soy el asistente de atención al cliente.")
    assert "🚚 ¿Dónde está mi pedido?" in ana.buttons()
    [update] = world.fake.update_log
    async with world.core.unit_of_work() as uow:
        assert await uow.inbox.counts() == {"done": 1}
        stored = await uow.inbox.get(update["update_id"])
    assert stored is not None and stored.payload == update and stored.chat_key == ana.id


async def test_a_passing_failure_is_retried_and_the_buyer_never_sees_it(
    world: World, worker: InboxWorker, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    ana = world.person(910002, "Ana", "es")
    ana.driver = InboxDriver(world, worker)
    calls = flaky(monkeypatch, failures=2)
    with caplog.at_level(logging.WARNING, logger="returns_desk.inbox"):
        await ana.send("/start")
    assert len(calls) == 3
    assert not any(APOLOGY in text or "Lo siento" in text for text in ana.seen())
    assert len(ana.seen()) == 1  # the greeting, once
    [update_id] = [u["update_id"] for u in world.fake.update_log]
    async with world.core.unit_of_work() as uow:
        row = await uow.inbox.get(update_id)
    assert row is not None and (row.status, row.attempts) == ("done", 2)
    assert sum("trying again" in r.getMessage() for r in caplog.records) == 2


async def test_an_update_that_keeps_failing_is_parked_with_one_apology_then_retried(
    world: World, worker: InboxWorker, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    ana = world.person(910003, "Ana", "en")
    ana.driver = InboxDriver(world, worker)
    calls = flaky(monkeypatch, failures=5)
    with caplog.at_level(logging.WARNING):
        await ana.send("/start")
    assert len(calls) == 5
    assert [text for text in ana.seen() if APOLOGY in text] == [ana.last()]  # one apology
    [update_id] = [u["update_id"] for u in world.fake.update_log]
    async with world.core.unit_of_work() as uow:
        [parked] = await uow.inbox.parked()
    assert parked.update_id == update_id and parked.attempts == 5
    assert "database restarting" in (parked.last_error or "")
    assert any("is parked" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)

    # the database is back; an operator retries the parked update
    async with world.core.unit_of_work() as uow:
        assert await uow.inbox.retry_parked([update_id], world.core.now()) == 1
        await uow.commit()
    worker.wake()
    await ana.driver.deliver()
    assert len(calls) == 6
    assert "Return or refund" in " ".join(ana.buttons())


async def test_a_buyer_s_quick_messages_run_one_at_a_time_in_order(
    world: World, worker: InboxWorker
) -> None:
    """Many chats at once, but never two updates of one chat: each buyer's texts reach the
    handlers in the order they were sent, each answered."""
    handled: dict[int, list[str]] = {}
    running: set[int] = set()
    overlaps: list[int] = []
    chats_at_once = 0

    async def watch(handler: Any, event: Any, data: dict[str, Any]) -> Any:
        nonlocal chats_at_once
        chat = event.message.chat.id
        if chat in running:
            overlaps.append(chat)
        running.add(chat)
        chats_at_once = max(chats_at_once, len(running))
        handled.setdefault(chat, []).append(event.message.text)
        try:
            await asyncio.sleep(0.005)  # long enough for another update of the chat to slip in
            return await handler(event, data)
        finally:
            running.discard(chat)

    worker.dispatcher.update.outer_middleware(watch)
    buyers = [world.person(920000 + n, f"B{n}", "en") for n in range(8)]
    driver = InboxDriver(world, worker)
    for round_ in range(4):
        for buyer in buyers:
            world.fake.user_message(buyer.id, f"{buyer.id}-{round_}")
    await driver.deliver()
    assert overlaps == []
    assert chats_at_once > 1  # the chats did run side by side
    async with world.core.unit_of_work() as uow:
        assert await uow.inbox.counts() == {"done": 32}
    for buyer in buyers:
        assert handled[buyer.id] == [f"{buyer.id}-{r}" for r in range(4)]
        assert len(world.fake.messages_to(buyer.id)) == 4  # one answer each


async def test_a_stop_gives_back_what_it_could_not_finish(world: World) -> None:
    bot = create_fake_bot(world.fake)
    dispatcher = create_dispatcher(world.core, CATALOGS, inbox=True)
    worker = InboxWorker(world.core, dispatcher, bot, idle=0.02)
    world.person(930001, "Ana", "en")
    world.fake.delay(5.0, method="sendMessage")  # the handler hangs on Telegram
    world.fake.user_message(930001, "/start")
    await inbox.record(world.core, world.fake.take_updates())
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, grace=0.3))
    for _ in range(200):
        if worker.in_flight:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 5)
    async with world.core.unit_of_work() as uow:
        assert await uow.inbox.counts() == {"pending": 1}  # runs again at the next start
    with contextlib.suppress(Exception):
        await bot.session.close()


async def test_each_topic_of_a_forum_group_is_ordered_on_its_own(world: World) -> None:
    """In the agents' forum group the order key is the topic: the oldest update of each topic
    (and of the General topic) can be claimed at once, while one topic's updates (messages,
    an edit, a button pressed under one of its messages) stay in order. Private chats keep
    the chat's id."""
    forum = -1007770009
    world.fake.add_group(forum, "Returns Desk agents", is_forum=True)
    sam, kim = world.person(700001, "Sam"), world.person(700002, "Kim")
    first, second = world.fake.add_topic(forum, "R-1"), world.fake.add_topic(forum, "R-2")
    a1 = world.fake.user_message_in(forum, sam.id, "a1", first)
    world.fake.user_message_in(forum, kim.id, "b1", second)
    world.fake.user_edit(forum, a1["message"]["message_id"], "a1, corrected")
    world.fake.user_message_in(forum, kim.id, "in General")
    world.fake.user_message_in(sam.id, sam.id, "private")
    updates = world.fake.take_updates()
    pressed = {  # a button under a message of the first topic, as Telegram sends it
        "update_id": updates[-1]["update_id"] + 1,
        "callback_query": {
            "id": "1",
            "from": {"id": kim.id, "is_bot": False, "first_name": "Kim"},
            "chat_instance": "1",
            "data": "x",
            "message": {**a1["message"], "from": world.fake.bot_user},
        },
    }
    keys = [inbox.chat_key(u) for u in [*updates, pressed]]
    a1_key, b1_key, edit_key, general_key, private_key, press_key = keys
    assert a1_key == edit_key == press_key  # one topic: one order
    assert len({a1_key, b1_key, general_key}) == 3  # topics apart, and apart from General
    assert general_key == forum and private_key == sam.id
    assert min(a1_key, b1_key) >= inbox.TOPIC_KEYS > abs(forum)  # never a real chat's id
    assert inbox.topic_key(forum, first) == a1_key  # stable: the same on every process

    await inbox.record(world.core, [*updates, pressed])
    ids = [u["update_id"] for u in [*updates, pressed]]
    now = world.core.now()
    lease = now + timedelta(seconds=30)
    async with world.core.unit_of_work() as uow:
        claimed = await uow.inbox.claim(owner="a", now=now, lease_until=lease, limit=10)
        await uow.commit()
    # a1, b1, General and private together: the edit and the press wait behind a1
    assert [item.update_id for item in claimed] == [ids[0], ids[1], ids[3], ids[4]]
    async with world.core.unit_of_work() as uow:
        await uow.inbox.mark_done([ids[0]], now)
        again = await uow.inbox.claim(owner="a", now=now, lease_until=lease, limit=10)
        await uow.commit()
    assert [item.update_id for item in again] == [ids[2]]  # then the edit, then the press


async def test_each_update_costs_one_claim_and_one_waiting_behind_its_chat_is_not_late(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker claims when something may be there (an arrival, the next update of a
    finished one's chat), not after every finished update; with no idle pass in the test's
    time (idle=60), a buyer's three quick messages still run one after the other."""
    claims: list[int] = []
    claim = inbox_repository.InboxRepository.claim

    async def counted(self: Any, **kwargs: Any) -> Any:
        taken = await claim(self, **kwargs)
        claims.append(len(taken))
        return taken

    monkeypatch.setattr(inbox_repository.InboxRepository, "claim", counted)
    async with rarely_idle_worker(world) as worker:
        for _ in range(500):  # the first pass at start, before anything arrived
            if claims:
                break
            await asyncio.sleep(0.01)
        assert claims == [0]
        claims.clear()
        ana = world.person(910031, "Ana", "en")
        ana.driver = InboxDriver(world, worker)
        await ana.send("/start")
        assert ana.last().startswith("Hello, Ana!")
        await asyncio.sleep(0.2)  # time for any needless claim after the update finished
        assert claims == [1]

        claims.clear()
        for text in ("one", "two", "three"):
            world.fake.user_message(ana.id, text)
        started = asyncio.get_running_loop().time()
        await ana.driver.deliver()  # gives up after 5 s: far from the 60 s of an idle pass
        async with world.core.unit_of_work() as uow:
            assert await uow.inbox.counts() == {"done": 4}
        assert asyncio.get_running_loop().time() - started < 10
        assert len(world.fake.messages_to(ana.id)) == 4  # each of the three answered
        await asyncio.sleep(0.2)
        assert claims == [1, 1, 1]  # each taken once the one before it was done


async def test_a_chat_s_next_update_received_by_another_process_is_claimed_when_it_may_run(
    world: World,
) -> None:
    """Two processes on one inbox (PostgreSQL behind a balancer): the buyer's first message
    reached one, the second the other while the first still ran. The second runs once the
    first is done, not at the next idle pass (60 s here): the process that finished the
    first sees the chat's next update waiting and claims it."""
    ran: list[tuple[str, str]] = []

    def watching(name: str, pause: float) -> Any:
        async def watch(handler: Any, event: Any, data: dict[str, Any]) -> Any:
            ran.append((name, event.message.text))
            await asyncio.sleep(pause)  # still in flight when the second message arrives
            return await handler(event, data)

        return watch

    workers, tasks, bots = [], [], []
    stop = asyncio.Event()
    for name, pause in (("first", 0.5), ("second", 0.0)):
        bot = create_fake_bot(world.fake)
        dispatcher = create_dispatcher(world.core, CATALOGS, inbox=True)
        dispatcher.update.outer_middleware(watching(name, pause))
        worker = InboxWorker(world.core, dispatcher, bot, owner=name, idle=60)
        workers.append(worker)
        bots.append(bot)
        tasks.append(asyncio.create_task(worker.run(stop, grace=2)))
    first, second = workers
    try:
        await asyncio.sleep(0.2)  # both made their first pass
        ana = world.person(910041, "Ana", "en")
        world.fake.user_message(ana.id, "one")
        await inbox.record(world.core, world.fake.take_updates())
        first.wake()
        for _ in range(200):
            if ran:
                break
            await asyncio.sleep(0.01)
        assert ran == [("first", "one")]
        world.fake.user_message(ana.id, "two")
        await inbox.record(world.core, world.fake.take_updates())
        second.wake()  # its claim finds the chat busy: nothing to take yet
        started = asyncio.get_running_loop().time()
        for _ in range(1000):
            async with world.core.unit_of_work() as uow:
                if await uow.inbox.counts() == {"done": 2}:
                    break
            await asyncio.sleep(0.01)
        assert [text for _, text in ran] == ["one", "two"]
        assert asyncio.get_running_loop().time() - started < 5  # not the 60 s idle pass
    finally:
        stop.set()
        await asyncio.gather(*(asyncio.wait_for(task, 10) for task in tasks))
        for bot in bots:
            await bot.session.close()


async def test_at_serializable_a_chat_s_updates_still_run_one_after_the_other(
    database_url: str, tmp_path: Path
) -> None:
    """On a PostgreSQL server set to serializable the worker claims in a transaction of its
    own, after the done-marks: a buyer's quick messages all run, in order, none parked."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: its claims always share the marks'")
    engine = create_engine(database_url, isolation_level="SERIALIZABLE")
    async with world_on(engine, tmp_path) as world, rarely_idle_worker(world) as worker:
        ana = world.person(910041, "Ana", "en")
        ana.driver = InboxDriver(world, worker)
        await ana.send("/start")
        for text in ("one", "two", "three"):
            world.fake.user_message(ana.id, text)
        await ana.driver.deliver()  # gives up after 5 s: an idle pass is 60 s away
        async with world.core.unit_of_work() as uow:
            assert await uow.inbox.counts() == {"done": 4}
        answers = world.fake.messages_to(ana.id)
        assert len(answers) == 4 and answers[0]["text"].startswith("Hello, Ana!")


async def test_a_pass_hands_a_chat_s_next_update_over_and_is_one_statement_where_nothing_changed(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's pass: a claim alone, and done-marks with the claim after them when no
    conversation changed, commit by themselves on PostgreSQL (one round trip; under load each
    waits for a turn of a busy loop); with conversation changes the marks, the claim and the
    changes are one transaction. A chat's next update is claimed in the pass that marks the
    one before it done."""
    from bot.receiving.storage import DatabaseStorage
    from tests.conftest import count_postgres_begins

    engine = create_engine(database_url)
    async with world_on(engine, tmp_path) as world:
        storage = DatabaseStorage(world.core.unit_of_work, world.clock, cache=False)
        dispatcher = create_dispatcher(world.core, CATALOGS, inbox=True, storage=storage)
        worker = InboxWorker(world.core, dispatcher, create_fake_bot(world.fake))
        started: list[int] = []
        monkeypatch.setattr(
            worker, "_start", lambda claimed: started.extend(item.update_id for item in claimed)
        )
        first, second, third = await messages_in_the_inbox(world, 910050, "one", "two", "three")
        chat = first.chat_key
        begins = count_postgres_begins(monkeypatch)

        assert await worker._pass(claim=True) == 1  # the chat's oldest only
        worker._done.append((first.update_id, chat, []))
        assert await worker._pass(claim=False) == 1  # marked, and the next one claimed
        assert started == [first.update_id, second.update_id]
        postgresql = database_url.startswith("postgresql")
        if postgresql:
            assert begins == []  # each pass one statement, committed by itself

        change = ("fsm:910050:910050:default", "OpenCase:order", "{}")
        worker._done.append((second.update_id, chat, [change]))
        assert await worker._pass(claim=False) == 1
        if postgresql:
            assert begins == [1]  # the change, with its mark
        assert started[-1] == third.update_id
        async with world.core.unit_of_work() as uow:
            statuses = [(await uow.inbox.get(item.update_id)) for item in (first, second, third)]
            stored = await uow.conversations.get(change[0])
        assert [row.status for row in statuses if row] == ["done", "done", "processing"]
        assert stored is not None and stored[0] == "OpenCase:order"


async def test_a_pass_whose_conversation_write_fails_marks_and_claims_nothing(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The done-mark, the claim after it and the conversation change are one transaction:
    when the write fails (Redis away, say) the update stays unfinished and its chat's next
    one unclaimed, and a later pass writes all of it."""
    from bot.receiving.storage import DatabaseStorage

    engine = create_engine(database_url)
    async with world_on(engine, tmp_path) as world:
        storage = DatabaseStorage(world.core.unit_of_work, world.clock, cache=False)
        dispatcher = create_dispatcher(world.core, CATALOGS, inbox=True, storage=storage)
        worker = InboxWorker(world.core, dispatcher, create_fake_bot(world.fake))
        monkeypatch.setattr(worker, "_start", lambda claimed: None)
        first, second = await messages_in_the_inbox(world, 910051, "one", "two")
        assert await worker._pass(claim=True) == 1
        change = ("fsm:910051:910051:default", "OpenCase:order", "{}")
        worker._done.append((first.update_id, first.chat_key, [change]))
        write = storage.write

        async def away(*_: Any) -> None:
            raise ConnectionError("the store is away")

        monkeypatch.setattr(storage, "write", away)
        with pytest.raises(ConnectionError):
            await worker._pass(claim=False)
        async with world.core.unit_of_work() as uow:
            statuses = [await uow.inbox.get(item.update_id) for item in (first, second)]
            assert (await uow.conversations.get(change[0]))[0] is None
        assert [row.status for row in statuses if row] == ["processing", "pending"]

        monkeypatch.setattr(storage, "write", write)
        assert await worker._pass(claim=False) == 1  # written, and the next one claimed
        async with world.core.unit_of_work() as uow:
            statuses = [await uow.inbox.get(item.update_id) for item in (first, second)]
            assert (await uow.conversations.get(change[0]))[0] == "OpenCase:order"
        assert [row.status for row in statuses if row] == ["done", "processing"]


async def test_a_parked_update_frees_its_chat_in_the_pass_that_parks_it(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed last attempt is written before the pass's claim: the chat's next update is
    claimed in that pass, not one later."""
    engine = create_engine(database_url)
    async with world_on(engine, tmp_path) as world:
        dispatcher = create_dispatcher(world.core, CATALOGS, inbox=True)
        worker = InboxWorker(world.core, dispatcher, create_fake_bot(world.fake), retry_delays=())
        started: list[int] = []
        monkeypatch.setattr(
            worker, "_start", lambda claimed: started.extend(item.update_id for item in claimed)
        )
        first, second = await messages_in_the_inbox(world, 910052, "one", "two")
        assert await worker._pass(claim=True) == 1
        worker._failed.append((first, "RuntimeError in a handler: broken", False))
        assert await worker._pass(claim=True) == 1
        assert started == [first.update_id, second.update_id]
        async with world.core.unit_of_work() as uow:
            parked = await uow.inbox.get(first.update_id)
        assert parked is not None and parked.status == "parked"


async def messages_in_the_inbox(
    world: World, user_id: int, *texts: str
) -> list[inbox_repository.InboxUpdate]:
    """A person's messages, recorded as a receiver would (no worker runs them)."""
    world.person(user_id, "Ana")  # known to the fake Telegram
    for text in texts:
        world.fake.user_message(user_id, text)
    await inbox.record(world.core, world.fake.take_updates())
    async with world.core.unit_of_work() as uow:
        rows = await uow.session.execute(
            select(inbox_updates.c.update_id).order_by(inbox_updates.c.update_id)
        )
        found = [await uow.inbox.get(update_id) for (update_id,) in rows.all()]
    return [item for item in found if item is not None]

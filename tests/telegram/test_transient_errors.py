"""Outages are waited out, not parked: a proxy's HTML 502 page, Telegram saying "already so",
Redis or the database not answering, and a clock stepped back. Driven through the inbox
worker and the real dispatcher, with the production bot (its request middlewares) on the
fake Telegram."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiogram import Bot
from aiogram.methods import TelegramMethod
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import text

from bot.delivery.notifier import Notifier, SendLimits
from bot.factory import create_bot, create_dispatcher
from bot.receiving import inbox, replay
from bot.receiving.inbox import InboxWorker
from bot.receiving.storage import DatabaseStorage
from bot.testing.fake_session import FakeSession
from core.persistence.repositories.inbox import InboxRepository, InboxUpdate
from core.services import people
from tests.support import FakeTelegram, Person
from tests.telegram.conftest import CATALOGS, World
from tests.telegram.test_inbox_worker import APOLOGY, InboxDriver
from tests.telegram.test_staff import NOVA_SELLER, NOVA_SELLER_2, earbud_case

NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class BehindNginx(FakeSession):
    """The fake Telegram behind an nginx that answers its HTML 502 page to the next
    ``pages`` calls (getUpdates aside): aiogram raises ClientDecodeError on it."""

    def __init__(self, fake: FakeTelegram) -> None:
        super().__init__(fake)
        self.pages = 0

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109 (aiogram's signature)
    ) -> Any:
        if self.pages > 0 and method.__api_method__ != "getUpdates":
            self.pages -= 1
            self.check_response(bot=bot, method=method, status_code=502, content=NGINX_502)
        return await super().make_request(bot, method, timeout)


class Switch:
    """Something the handlers need (Redis): up or down."""

    def __init__(self) -> None:
        self.up = True

    async def ping(self) -> None:
        if not self.up:
            raise RedisConnectionError(
                "Error 111 connecting to 127.0.0.1:6379. Connection refused."
            )


class Rig:
    def __init__(self, world: World, session: BehindNginx, worker: InboxWorker) -> None:
        self.world, self.session, self.worker = world, session, worker

    def person(self, user_id: int, name: str, language: str = "en") -> Person:
        person = self.world.person(user_id, name, language)
        person.driver = InboxDriver(self.world, self.worker)
        return person


@pytest.fixture
async def redis() -> Switch:
    return Switch()


@pytest.fixture
async def rig(world: World, redis: Switch) -> AsyncIterator[Rig]:
    session = BehindNginx(world.fake)
    bot = create_bot(world.fake.token, session=session)  # the production bot: with retries
    dispatcher = create_dispatcher(world.core, CATALOGS, inbox=True)
    worker = InboxWorker(
        world.core,
        dispatcher,
        bot,
        retry_delays=(0, 0, 0, 0),
        idle=0.02,
        pause=0.05,
        probes={"Redis (REDIS_URL)": redis.ping},
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, grace=2))
    try:
        yield Rig(world, session, worker)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await bot.session.close()


async def inbox_rows(world: World) -> dict[str, int]:
    async with world.core.unit_of_work() as uow:
        return await uow.inbox.counts()


async def test_a_seller_s_approval_whose_confirmation_hit_nginx_502_pages_gets_it(
    world: World, rig: Rig
) -> None:
    sender = create_bot(world.fake.token, session=FakeSession(world.fake))
    notifier = Notifier(
        sender,
        world.core,
        CATALOGS,
        limits=SendLimits(per_second=1e6, private_interval=0, group_interval=0),
    )
    seller = rig.person(NOVA_SELLER, "Wang")
    number = await earbud_case(world)
    await notifier.send_due()
    await sender.session.close()

    # more 502 pages than one call's retries: the handler fails, the update waits and runs
    # again, without counting as a failed attempt
    rig.session.pages = 6
    await seller.press("Approve: Replacement")
    assert rig.session.pages == 0
    assert number in seller.last() and APOLOGY not in " ".join(seller.seen())
    assert await inbox_rows(world) == {"done": 1}
    async with world.core.unit_of_work() as uow:
        [row] = [await uow.inbox.get(u["update_id"]) for u in world.fake.update_log[-1:]]
        case = await uow.cases.get_by_number(number)
    assert row is not None and row.attempts == 0  # waited out, not counted as a failure
    assert case is not None and case.status.value == "awaiting_return"


async def test_the_sender_retries_an_alert_that_met_an_nginx_502_page(world: World) -> None:
    session = BehindNginx(world.fake)
    bot = create_bot(world.fake.token, session=session)
    notifier = Notifier(
        bot,
        world.core,
        CATALOGS,
        limits=SendLimits(per_second=1e6, private_interval=0, group_interval=0),
    )
    world.person(NOVA_SELLER, "Wang")
    number = await earbud_case(world)
    session.pages = 40  # every retry of the first pass meets the page
    await notifier.send_due()
    async with world.core.unit_of_work() as uow:
        sending = await uow.outbox.count_by_status()
    assert not sending.get("failed") and not sending.get("unreachable")
    assert not any(number in (m.get("text") or "") for m in world.fake.messages_to(NOVA_SELLER))

    session.pages = 0
    world.clock.advance(minutes=10)
    await notifier.send_due()
    await bot.session.close()
    assert any(
        number in (m.get("caption") or m.get("text") or "")
        for m in world.fake.messages_to(NOVA_SELLER)
    )


async def test_a_double_tap_on_a_stale_button_is_done_and_the_next_command_answered_at_once(
    world: World, rig: Rig
) -> None:
    sender = create_bot(world.fake.token, session=FakeSession(world.fake))
    notifier = Notifier(
        sender,
        world.core,
        CATALOGS,
        limits=SendLimits(per_second=1e6, private_interval=0, group_interval=0),
    )
    first, second = rig.person(NOVA_SELLER, "Wang"), rig.person(NOVA_SELLER_2, "Li")
    number = await earbud_case(world)
    await notifier.send_due()
    await sender.session.close()
    await first.press("Approve: Replacement")
    # Li's second tap reaches Telegram as it answers a press delivered twice: the message
    # already shows the case as it stands, and the press is too old to answer
    world.fake.fail_next(
        "editMessageText",
        status=400,
        description="Bad Request: message is not modified: specified new message content "
        "and reply markup are exactly the same as a current content and reply markup of the "
        "message",
    )
    world.fake.fail_next(
        "answerCallbackQuery",
        status=400,
        description="Bad Request: query is too old and response timeout expired or query ID "
        "is invalid",
    )
    seen = len(second.seen())
    await second.press("Approve: Refund")
    assert world.fake._failures == {"editmessagetext": [], "answercallbackquery": []}
    assert await inbox_rows(world) == {"done": 2}  # nothing failed, nothing parked
    # nothing sent: no apology, and no second copy of a card the message already shows
    assert second.seen()[seen:] == []

    await second.send("/cases")
    assert number in second.last()
    async with world.core.unit_of_work() as uow:
        [row] = [
            r
            for r in [await uow.inbox.get(u["update_id"]) for u in world.fake.update_log]
            if r and r.payload.get("message", {}).get("text") == "/cases"
        ]
    assert row.status == "done" and row.attempts == 0


async def test_redis_down_pauses_the_worker_and_nobody_is_parked_or_told_sorry(
    world: World, rig: Rig, redis: Switch, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    remember = people.remember

    async def needs_redis(*args: Any, **kwargs: Any) -> Any:
        await redis.ping()  # as the FSM storage would
        return await remember(*args, **kwargs)

    monkeypatch.setattr(people, "remember", needs_redis)
    ana, bo = rig.person(930001, "Ana"), rig.person(930002, "Bo")
    redis.up = False
    with caplog.at_level(logging.INFO, logger="returns_desk.inbox"):
        await ana.send("/start")  # recorded and tried while Redis is down
        await bo.send("/start")
        await asyncio.sleep(0.5)  # many looks at Redis meanwhile
        rows = await inbox_rows(world)
        assert not rows.get("parked") and not rows.get("done")
        assert not ana.seen() and not bo.seen()  # no "Sorry": nothing at all yet
        async with world.core.unit_of_work() as uow:
            attempts = [
                (await uow.inbox.get(u["update_id"])).attempts  # type: ignore[union-attr]
                for u in world.fake.update_log
            ]
        assert set(attempts) == {0}

        redis.up = True
        rig.worker.wake()
        await ana.driver.deliver()
    assert await inbox_rows(world) == {"done": 2}
    assert len(ana.seen()) == 1 and len(bo.seen()) == 1  # each answered once
    assert APOLOGY not in ana.last() and APOLOGY not in bo.last()
    lines = [r.getMessage() for r in caplog.records]
    assert sum("does not answer" in line for line in lines) == 1, lines
    assert sum("answers again" in line for line in lines) == 1, lines
    assert any("Redis (REDIS_URL)" in line for line in lines)


async def test_a_handler_failing_on_a_working_system_is_parked_saying_why(
    world: World, rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("no such thing")

    monkeypatch.setattr(people, "remember", broken)
    ana = rig.person(930003, "Ana")
    await ana.send("/start")
    async with world.core.unit_of_work() as uow:
        [parked] = await uow.inbox.parked()
    assert parked.attempts == 5
    assert (parked.last_error or "").startswith("KeyError in bot.receiving.middlewares.")
    assert [text for text in ana.seen() if APOLOGY in text] == [ana.last()]


class RecordOnly:
    """A receiver that stores what arrives; nothing is processed yet."""

    def __init__(self, world: World) -> None:
        self.world = world

    async def deliver(self, *, concurrent: bool | None = None) -> None:
        await inbox.record(self.world.core, self.world.fake.take_updates())


async def test_a_clock_stepped_back_does_not_hold_updates_recorded_in_the_future(
    world: World, rig: Rig
) -> None:
    ana = rig.person(930004, "Ana")
    ana.driver = RecordOnly(world)  # type: ignore[assignment]
    world.clock.advance(hours=3)  # the clock ran 3 hours ahead when the update came...
    await ana.send("/start")
    world.clock.advance(hours=-3)  # ...then NTP stepped it back
    ana.driver = InboxDriver(world, rig.worker)
    rig.worker.wake()
    await ana.driver.deliver()
    assert await inbox_rows(world) == {"done": 1}
    assert ana.last().startswith("Hello, Ana!")


async def test_claims_after_a_clock_step_back_ignore_pauses_and_leases_from_the_future(
    world: World,
) -> None:
    now = world.clock.now()
    payload = {"update_id": 1, "message": {"chat": {"id": 7}, "text": "x"}}
    async with world.core.unit_of_work() as uow:
        await uow.inbox.record(
            [(1, 7, payload), (2, 8, {**payload, "update_id": 2})], now + timedelta(hours=2)
        )
        await uow.inbox.claim(
            owner="dead",
            now=now + timedelta(hours=2),
            lease_until=now + timedelta(hours=2, seconds=30),
            limit=1,
        )
        await uow.inbox.mark_failed(
            2, "X", retry_at=now + timedelta(hours=2, seconds=3), at=now + timedelta(hours=2)
        )
        await uow.commit()
    async with world.core.unit_of_work() as uow:  # the clock is back two hours
        claimed = await uow.inbox.claim(
            owner="alive", now=now, lease_until=now + timedelta(seconds=30), limit=10
        )
        await uow.commit()
    assert sorted(item.update_id for item in claimed) == [1, 2]


def no_done_marks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Updates are claimed and run, but no done-mark is written: as if the process died
    before each (its conversation changes, written with the mark, are not written either)."""
    claim_only = InboxRepository.mark_done_and_claim

    async def marks_nothing(self: InboxRepository, *_: Any, **__: Any) -> set[int]:
        return set()

    async def claims_only(
        self: InboxRepository, update_ids: Any, *args: Any, **kwargs: Any
    ) -> tuple[set[int], list[InboxUpdate]]:
        _, claimed = await claim_only(self, [], *args, **{**kwargs, "only_if_waiting_in": None})
        return set(), claimed

    monkeypatch.setattr(InboxRepository, "mark_done", marks_nothing)
    monkeypatch.setattr(InboxRepository, "mark_done_and_claim", claims_only)


async def test_an_update_run_again_after_a_crash_says_what_it_said_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = replay.install(create_bot(world.fake.token, session=FakeSession(world.fake)), world.core)
    dispatcher = create_dispatcher(world.core, CATALOGS, inbox=True)
    ana = world.person(930005, "Ana")
    ana.driver = RecordOnly(world)  # type: ignore[assignment]
    await ana.send("/start")

    dying = InboxWorker(world.core, dispatcher, bot, idle=0.02)
    no_done_marks(monkeypatch)  # the process dies before the done-mark
    task = asyncio.create_task(dying.run(asyncio.Event()))
    for _ in range(500):
        if ana.seen():
            break
        await asyncio.sleep(0.01)
    await world.fake.wait_idle()
    task.cancel()  # killed: no drain, the claim stays
    await asyncio.gather(task, return_exceptions=True)
    monkeypatch.undo()  # the next process writes its done-marks
    greeting = ana.last()
    assert greeting.startswith("Hello, Ana!") and len(ana.seen()) == 1
    async with world.core.unit_of_work() as uow:
        assert await uow.inbox.counts() == {"processing": 1}
        await uow.inbox.release()  # the next start takes it up again
        await uow.commit()

    worker = InboxWorker(
        world.core, create_dispatcher(world.core, CATALOGS, inbox=True), bot, idle=0.02
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, grace=2))
    ana.driver = InboxDriver(world, worker)
    await ana.driver.deliver()
    stop.set()
    await asyncio.wait_for(task, 10)
    await bot.session.close()
    assert ana.seen() == [greeting]  # the re-run did run, and said nothing twice
    async with world.core.unit_of_work() as uow:
        assert await uow.inbox.counts() == {"done": 1}
        [update] = world.fake.update_log
        row = await uow.inbox.get(update["update_id"])
        assert row is not None and row.answers is None  # the done-mark forgot the notes


async def conversation_rows(world: World) -> dict[str, str | None]:
    async with world.core.unit_of_work() as uow:
        found = await uow.session.execute(text("SELECT key, state FROM conversation_states"))
        return {key: state for key, state in found.all()}


async def run_until_seen(worker: InboxWorker, person: Person, count: int) -> asyncio.Task[None]:
    task = asyncio.create_task(worker.run(asyncio.Event()))
    for _ in range(500):
        if len(person.seen()) >= count:
            break
        await asyncio.sleep(0.01)
    return task


async def test_the_conversation_is_stored_with_the_done_mark_so_a_crash_reruns_the_same_step(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the embedded database's conversations are cached and written with the inbox's done-mark
    def dispatcher_of_a_new_process() -> Any:
        storage = DatabaseStorage(world.core.unit_of_work, world.clock, cache=True)
        return create_dispatcher(world.core, CATALOGS, inbox=True, storage=storage)

    bot = replay.install(create_bot(world.fake.token, session=FakeSession(world.fake)), world.core)
    ana = world.person(930012, "Ana")
    first = InboxWorker(world.core, dispatcher_of_a_new_process(), bot, idle=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(first.run(stop, grace=2))
    ana.driver = InboxDriver(world, first)
    await ana.send("/start")
    await ana.press("📦 Return or refund")
    stop.set()
    await asyncio.wait_for(task, 10)
    asked = ana.last()
    before = await conversation_rows(world)
    assert list(before.values()) != [None]  # the question's step is stored

    ana.driver = RecordOnly(world)  # type: ignore[assignment]
    await ana.send("/cancel")
    dying = InboxWorker(world.core, dispatcher_of_a_new_process(), bot, idle=0.02)
    no_done_marks(monkeypatch)  # the process dies before the done-mark: no conversation
    seen = len(ana.seen())
    task = await run_until_seen(dying, ana, seen + 1)
    await world.fake.wait_idle()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    monkeypatch.undo()  # the next process writes its done-marks
    cancelled = ana.seen()[seen:]
    assert cancelled and cancelled[0] != asked
    assert await conversation_rows(world) == before  # not stored without its done-mark

    async with world.core.unit_of_work() as uow:
        await uow.inbox.release()  # the next start takes it up again
        await uow.commit()
    worker = InboxWorker(world.core, dispatcher_of_a_new_process(), bot, idle=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, grace=2))
    ana.driver = InboxDriver(world, worker)
    await ana.driver.deliver()
    stop.set()
    await asyncio.wait_for(task, 10)
    await bot.session.close()
    assert ana.seen()[seen:] == cancelled  # run again from the same step, said once
    assert await conversation_rows(world) != before  # and now stored, with its done-mark
    assert await inbox_rows(world) == {"done": 3}


async def test_a_background_lease_taken_before_the_clock_stepped_back_does_not_hold(
    world: World,
) -> None:
    now = world.clock.now()
    ahead = now + timedelta(hours=2)
    async with world.core.unit_of_work() as uow:
        assert await uow.leases.acquire(
            "background", "dead", now=ahead, until=ahead + timedelta(seconds=30)
        )
        await uow.commit()
    async with world.core.unit_of_work() as uow:  # two hours back: the dead holder's lease
        taken = await uow.leases.acquire(
            "background", "alive", now=now, until=now + timedelta(seconds=30)
        )
        await uow.commit()
    assert taken
    async with world.core.unit_of_work() as uow:  # a live holder's lease still holds
        assert not await uow.leases.acquire(
            "background", "other", now=now, until=now + timedelta(seconds=30)
        )


async def test_alerts_queued_before_the_clock_stepped_back_are_sent_at_once(
    world: World, notifier: Notifier
) -> None:
    """The seller's alert was queued while the clock ran two hours ahead (the sender was
    running and saw that time); NTP stepped it back. Waiting for the clock to catch up would
    hold the alert (and that chat) for two hours."""
    world.person(NOVA_SELLER, "Wang", "en")
    world.person(NOVA_SELLER_2, "Li", "en")
    world.clock.advance(hours=2)
    await notifier.send_due()  # the sender's pass at that time: nothing yet
    number = await earbud_case(world)
    world.clock.advance(hours=-2)

    await notifier.send_due()

    told = [m.get("text", "") for m in world.fake.messages_to(NOVA_SELLER)]
    assert any(number in text for text in told)
    async with world.core.unit_of_work() as uow:  # nothing left for the seller
        left = await uow.outbox.pending(now=world.clock.now() + timedelta(hours=3))
    assert [m for m in left if m.chat_id == NOVA_SELLER] == []

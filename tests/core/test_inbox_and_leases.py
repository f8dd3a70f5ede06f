"""The inbox, leases and outbox claims on SQLite and PostgreSQL: what several processes rely on
to process each update once, in order per chat, and to send each notification once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import FixedClock
from core.persistence.engine import create_engine, create_session_factory
from core.persistence.repositories.inbox import InboxRepository
from core.persistence.unit_of_work import UnitOfWork
from core.services import housekeeping
from core.services.context import CoreContext
from tests.core.factories import NOW

LEASE = NOW + timedelta(seconds=30)


def update(update_id: int, chat: int, text: str = "hi") -> tuple[int, int, dict[str, object]]:
    message = {"chat": {"id": chat}, "text": text}
    return update_id, chat, {"update_id": update_id, "message": message}


async def record(ctx: CoreContext, *updates: tuple[int, int, dict[str, object]]) -> int:
    async with ctx.unit_of_work() as uow:
        new = await uow.inbox.record(list(updates), NOW)
        await uow.commit()
    return new


async def claim(ctx: CoreContext, owner: str = "a", limit: int = 10, now=NOW) -> list[int]:
    async with ctx.unit_of_work() as uow:
        claimed = await uow.inbox.claim(
            owner=owner, now=now, lease_until=now + timedelta(seconds=30), limit=limit
        )
        await uow.commit()
    return [item.update_id for item in claimed]


async def done(ctx: CoreContext, *ids: int) -> None:
    async with ctx.unit_of_work() as uow:
        await uow.inbox.mark_done(ids, NOW)
        await uow.commit()


async def test_an_update_recorded_twice_is_kept_once(empty_ctx: CoreContext) -> None:
    assert await record(empty_ctx, update(1, 100), update(2, 200)) == 2
    assert await record(empty_ctx, update(2, 200, "copy"), update(3, 100)) == 1
    async with empty_ctx.unit_of_work() as uow:
        assert await uow.inbox.counts() == {"pending": 3}
        kept = await uow.inbox.get(2)
    assert kept is not None and kept.payload["message"]["text"] == "hi"  # the first copy


async def test_one_update_per_chat_at_a_time_in_order(empty_ctx: CoreContext) -> None:
    await record(empty_ctx, update(1, 100), update(2, 100), update(3, 200), update(4, 100))
    assert await claim(empty_ctx) == [1, 3]  # the oldest of each chat
    assert await claim(empty_ctx, "b") == []  # 2 waits for 1, 4 for 2; 3 is taken
    await done(empty_ctx, 1)
    assert await claim(empty_ctx, "b") == [2]
    await done(empty_ctx, 2, 3)
    assert await claim(empty_ctx) == [4]


async def test_forum_topics_keys_order_each_topic_on_its_own(empty_ctx: CoreContext) -> None:
    """The agents' forum group is keyed per topic with 63-bit keys (at or above 2**62, see
    bot.receiving.inbox.topic_key): stored and compared like any chat's, on every database."""
    group, topic_a, topic_b = -1007770001, 2**62 + 12_345, 2**63 - 1
    await record(
        empty_ctx,
        update(1, topic_a),
        update(2, topic_a),
        update(3, topic_b),
        update(4, group),  # the General topic
        update(5, topic_b),
    )
    assert await claim(empty_ctx) == [1, 3, 4]  # the topics run side by side
    await done(empty_ctx, 3)
    assert await claim(empty_ctx, "b") == [5]  # topic B went on while A's first still runs
    await done(empty_ctx, 1)
    assert await claim(empty_ctx, "b") == [2]  # A kept its order
    async with empty_ctx.unit_of_work() as uow:
        kept = await uow.inbox.get(5)
    assert kept is not None and kept.chat_key == topic_b


async def test_a_failed_update_waits_then_is_parked_and_blocks_nothing(
    empty_ctx: CoreContext,
) -> None:
    await record(empty_ctx, update(1, 100), update(2, 100))
    assert await claim(empty_ctx) == [1]
    async with empty_ctx.unit_of_work() as uow:
        await uow.inbox.mark_failed(1, "boom", retry_at=NOW + timedelta(seconds=5), at=NOW)
        await uow.commit()
    assert await claim(empty_ctx) == []  # not due yet, and 2 keeps the chat's order
    later = NOW + timedelta(seconds=5)
    assert await claim(empty_ctx, now=later) == [1]
    async with empty_ctx.unit_of_work() as uow:
        await uow.inbox.mark_failed(1, "boom again", retry_at=None, at=later)
        await uow.commit()
    assert await claim(empty_ctx, now=later) == [2]  # a parked update no longer holds its chat
    async with empty_ctx.unit_of_work() as uow:
        [parked] = await uow.inbox.parked()
        assert (parked.update_id, parked.attempts, parked.last_error) == (1, 2, "boom again")
        assert await uow.inbox.retry_parked(None, later) == 1
        await uow.commit()
    async with empty_ctx.unit_of_work() as uow:
        again = await uow.inbox.get(1)
    assert again is not None and (again.status, again.attempts) == ("pending", 0)


async def test_a_dead_process_claims_come_back_when_the_lease_expires(
    empty_ctx: CoreContext,
) -> None:
    await record(empty_ctx, update(1, 100))
    assert await claim(empty_ctx, "dead") == [1]
    assert await claim(empty_ctx, "alive", now=NOW + timedelta(seconds=29)) == []
    assert await claim(empty_ctx, "alive", now=NOW + timedelta(seconds=31)) == [1]


async def test_a_living_process_renews_its_claims(empty_ctx: CoreContext) -> None:
    await record(empty_ctx, update(1, 100))
    assert await claim(empty_ctx, "slow") == [1]
    async with empty_ctx.unit_of_work() as uow:
        await uow.inbox.renew("slow", NOW + timedelta(seconds=60), update_ids=[1])
        await uow.commit()
    assert await claim(empty_ctx, "other", now=NOW + timedelta(seconds=45)) == []


async def test_a_failed_attempt_is_written_only_by_the_process_that_holds_the_update(
    empty_ctx: CoreContext,
) -> None:
    """An update whose lease ran out while its process could not write (an outage) and that
    another process took over: the first process's failed attempt does not undo the second's
    claim (which would let a third run it alongside)."""
    await record(empty_ctx, update(1, 100))
    assert await claim(empty_ctx, "stalled") == [1]
    assert await claim(empty_ctx, "other", now=NOW + timedelta(seconds=31)) == [1]
    async with empty_ctx.unit_of_work() as uow:
        assert not await uow.inbox.mark_failed(
            1, "boom", retry_at=NOW + timedelta(seconds=5), at=NOW, owner="stalled"
        )
        await uow.commit()
    async with empty_ctx.unit_of_work() as uow:
        row = await uow.inbox.get(1)
    assert row is not None and (row.status, row.attempts, row.last_error) == ("processing", 0, None)
    async with empty_ctx.unit_of_work() as uow:
        assert await uow.inbox.mark_failed(1, "boom", retry_at=None, at=NOW, owner="other")
        await uow.commit()
    async with empty_ctx.unit_of_work() as uow:
        row = await uow.inbox.get(1)
    assert row is not None and (row.status, row.attempts) == ("parked", 1)


async def test_a_living_process_renews_only_what_it_runs(empty_ctx: CoreContext) -> None:
    """A claim whose answer was lost (the connection dropped after the server ran it) holds
    updates the process never started: it renews only those it runs, so the lost claim's
    leases run out and the updates are claimed again."""
    await record(empty_ctx, update(1, 100), update(2, 200))
    assert await claim(empty_ctx, "slow") == [1, 2]  # 2's answer, say, never came back
    async with empty_ctx.unit_of_work() as uow:
        await uow.inbox.renew("slow", NOW + timedelta(seconds=60), update_ids=[1])
        await uow.commit()
    assert await claim(empty_ctx, "other", now=NOW + timedelta(seconds=45)) == [2]


async def test_the_only_process_frees_everything_at_start(empty_ctx: CoreContext) -> None:
    await record(empty_ctx, update(1, 100))
    assert await claim(empty_ctx, "before the crash") == [1]
    async with empty_ctx.unit_of_work() as uow:
        assert await uow.leases.acquire("background", "before the crash", now=NOW, until=LEASE)
        await uow.outbox.enqueue(
            kind="k",
            recipient_role="buyer",
            chat_id=100,
            shop=None,
            case_id=None,
            payload={},
            dedupe_key="d1",
            at=NOW,
        )
        [message] = await uow.outbox.pending(now=NOW)
        assert await uow.outbox.claim(message.id, now=NOW, until=LEASE)
        await uow.commit()
    freed = await housekeeping.recover_alone(empty_ctx)
    assert freed == {"updates": 1, "messages": 1, "leases": 1}
    assert await claim(empty_ctx, "after") == [1]
    async with empty_ctx.unit_of_work() as uow:
        assert [m.id for m in await uow.outbox.pending(now=NOW)] == [message.id]
        assert await uow.leases.acquire("background", "after", now=NOW, until=LEASE)


async def test_processed_updates_are_forgotten_after_two_days(
    empty_ctx: CoreContext, clock: FixedClock
) -> None:
    await record(empty_ctx, update(1, 100), update(2, 200))
    await claim(empty_ctx)
    await done(empty_ctx, 1)
    clock.advance(hours=49)
    assert (await housekeeping.purge(empty_ctx))["updates_forgotten"] == 1
    async with empty_ctx.unit_of_work() as uow:
        assert await uow.inbox.get(1) is None
        assert await uow.inbox.get(2) is not None  # still in progress: kept


async def test_a_lease_has_one_holder_until_it_expires(empty_ctx: CoreContext) -> None:
    async with empty_ctx.unit_of_work() as uow:
        assert await uow.leases.acquire("background", "a", now=NOW, until=LEASE)
        assert not await uow.leases.acquire("background", "b", now=NOW, until=LEASE)
        assert await uow.leases.acquire("background", "a", now=NOW, until=LEASE)  # renewal
        assert await uow.leases.holder("background", NOW) == "a"
        later = LEASE + timedelta(seconds=1)
        assert await uow.leases.acquire("background", "b", now=later, until=later)
        assert not await uow.leases.acquire("background", "a", now=later, until=later)
        await uow.leases.release("background", "b")
        assert await uow.leases.holder("background", later) is None
        await uow.commit()


async def test_a_runtime_value_is_made_once(empty_ctx: CoreContext) -> None:
    async with empty_ctx.unit_of_work() as uow:
        assert await uow.runtime_values.get_or_create("webhook_secret", "first") == "first"
        assert await uow.runtime_values.get_or_create("webhook_secret", "second") == "first"
        await uow.commit()


async def test_an_outbox_message_is_claimed_by_one_sender(empty_ctx: CoreContext) -> None:
    async with empty_ctx.unit_of_work() as uow:
        await uow.outbox.enqueue(
            kind="k",
            recipient_role="buyer",
            chat_id=1,
            shop=None,
            case_id=None,
            payload={},
            dedupe_key="once",
            at=NOW,
        )
        [message] = await uow.outbox.pending(now=NOW)
        assert await uow.outbox.claim(message.id, now=NOW, until=LEASE)
        assert not await uow.outbox.claim(message.id, now=NOW, until=LEASE)
        assert await uow.outbox.pending(now=NOW) == []
        # the sender died: once its claim expires the message is due again
        assert [m.id for m in await uow.outbox.pending(now=LEASE)] == [message.id]
        await uow.commit()


@pytest.mark.parametrize("processes", [4])
async def test_processes_claiming_at_once_never_share_an_update_or_a_chat(
    database_url: str, engine: AsyncEngine, processes: int
) -> None:
    """Several engines (as several processes would have) claim and finish concurrently:
    every update is processed exactly once, and each chat's updates in order."""
    if engine.dialect.name == "sqlite":
        pytest.skip("one process per SQLite database")
    from core.persistence.migrate import upgrade

    await upgrade(engine)
    factory = create_session_factory(engine)
    async with UnitOfWork(factory) as uow:
        chats = [1000 + n for n in range(20)]
        rows = [update(i, chats[i % len(chats)]) for i in range(1, 401)]
        await uow.inbox.record(rows, NOW)
        await uow.commit()
    processed: list[tuple[str, int, int]] = []
    in_flight: dict[int, str] = {}
    overlaps: list[int] = []

    async def worker(name: str) -> None:
        own = create_engine(database_url)
        try:
            sessions = create_session_factory(own)
            idle = 0
            while idle < 5:
                async with UnitOfWork(sessions) as uow:
                    claimed = await uow.inbox.claim(owner=name, now=NOW, lease_until=LEASE, limit=5)
                    await uow.commit()
                if not claimed:
                    idle += 1
                    await asyncio.sleep(0.01)
                    continue
                idle = 0
                for item in claimed:
                    if item.chat_key in in_flight:
                        overlaps.append(item.chat_key)
                    in_flight[item.chat_key] = name
                await asyncio.sleep(0)  # let the others try the same rows
                for item in claimed:
                    processed.append((name, item.chat_key, item.update_id))
                    in_flight.pop(item.chat_key, None)
                async with UnitOfWork(sessions) as uow:
                    await uow.inbox.mark_done([item.update_id for item in claimed], NOW)
                    await uow.commit()
        finally:
            await own.dispose()

    await asyncio.gather(*(worker(f"p{n}") for n in range(processes)))
    ids = [update_id for _, _, update_id in processed]
    assert sorted(ids) == list(range(1, 401))  # each exactly once
    assert overlaps == []
    for chat in {chat for _, chat, _ in processed}:
        order = [u for _, c, u in processed if c == chat]
        assert order == sorted(order)
    assert len({name for name, _, _ in processed}) > 1  # the work was shared


async def test_the_claim_shares_the_marks_transaction_only_where_each_statement_reads_afresh(
    database_url: str,
) -> None:
    """At PostgreSQL's read committed (and on SQLite, one writer at a time) the worker's
    claim runs in the transaction of its done-marks; at serializable it takes one of its own,
    or its snapshot, taken at the first mark, would fail on rows other processes changed."""
    usual = create_engine(database_url)
    strict = create_engine(database_url, isolation_level="SERIALIZABLE")
    try:
        async with usual.connect() as connection:
            assert await InboxRepository(connection).claims_see_marks()
        async with strict.connect() as connection:
            sees = await InboxRepository(connection).claims_see_marks()
            assert sees is (usual.dialect.name == "sqlite")
    finally:
        await usual.dispose()
        await strict.dispose()


async def test_a_claim_is_one_statement_of_its_unit_of_work_and_undone_with_it(
    empty_ctx: CoreContext,
) -> None:
    """The claim (one statement: the ready rows locked and leased) takes the oldest first, no
    more than asked, and belongs to its unit of work: undone with the writes after it (on
    SQLite too, where a statement starting with WITH would have committed by itself)."""
    await record(empty_ctx, update(1, 100), update(2, 200), update(3, 300), update(4, 100))
    async with empty_ctx.unit_of_work() as uow:
        claimed = await uow.inbox.claim(owner="a", now=NOW, lease_until=LEASE, limit=2)
        assert [(item.update_id, item.status) for item in claimed] == [
            (1, "processing"),
            (2, "processing"),
        ]
        await uow.users.touch(701, "Lucía", "es", NOW)
        await uow.rollback()
    async with empty_ctx.unit_of_work() as uow:
        assert await uow.inbox.counts() == {"pending": 4}
        assert await uow.users.get(701) is None
    assert await claim(empty_ctx, limit=10) == [1, 2, 3]  # 4 waits behind 1, of its chat


async def test_a_batch_past_one_insert_is_stored_whole_or_not_at_all(
    empty_ctx: CoreContext,
) -> None:
    """Updates stored as Telegram sends them (bot/receiving/inbox.record): a batch larger than
    one INSERT is one transaction, so when a row of its last INSERT is refused none is kept,
    and Telegram, told nothing, sends them all again."""
    from bot.receiving import inbox as receiving

    async with empty_ctx.unit_of_work() as uow:
        one_insert = uow.session.dialect.insertmanyvalues_page_size
        assert uow.inbox.records_in_one_statement(one_insert)
        assert not uow.inbox.records_in_one_statement(one_insert + 1)
    batch = [{"update_id": n, "message": {"chat": {"id": n}}} for n in range(1, one_insert + 1)]
    batch.append({"update_id": 2**63, "message": {"chat": {"id": 7}}})  # past BIGINT: refused
    with pytest.raises(Exception):  # noqa: B017 - each driver words it its own way
        await receiving.record(empty_ctx, batch)
    async with empty_ctx.unit_of_work() as uow:
        assert await uow.inbox.counts() == {}
    assert await receiving.record(empty_ctx, batch[:-1]) == one_insert


async def test_done_marks_and_the_claim_after_them_see_each_other(
    empty_ctx: CoreContext, statements: list[str]
) -> None:
    """The worker's pass marks what finished and claims what is ready in one call (on
    PostgreSQL one statement, whose parts share a snapshot): a finished update's chat hands
    its next update over at once; an update another process took over is neither marked nor
    claimed; one marked after its lease ran out is not claimed again; a rollback undoes all."""
    await record(empty_ctx, update(6, 400))
    assert await claim(empty_ctx, owner="a", now=NOW - timedelta(minutes=1)) == [6]  # lease over
    await record(
        empty_ctx, update(1, 100), update(2, 100), update(3, 200), update(4, 300), update(5, 200)
    )
    assert await claim(empty_ctx, owner="a", limit=2) == [1, 3]
    assert await claim(empty_ctx, owner="b", limit=1) == [4]  # 2 and 5 wait behind 1 and 3

    async def mark_and_claim(ids: list[int], uow: UnitOfWork) -> tuple[set[int], list[int]]:
        marked, claimed = await uow.inbox.mark_done_and_claim(
            ids, NOW, owner="a", now=NOW, lease_until=LEASE, limit=10
        )
        return marked, [item.update_id for item in claimed]

    async with empty_ctx.unit_of_work() as uow:
        assert await mark_and_claim([1, 3, 4, 6], uow) == ({1, 3, 6}, [2, 5])
        await uow.rollback()
    async with empty_ctx.unit_of_work() as uow:
        assert await uow.inbox.counts() == {"processing": 4, "pending": 2}
        statements.clear()
        assert await mark_and_claim([1, 3, 4, 6], uow) == ({1, 3, 6}, [2, 5])
        await uow.commit()
    if uow.session.dialect.name == "postgresql":
        assert len(statements) == 1  # a round trip, where each waits for a turn of a busy loop
    async with empty_ctx.unit_of_work() as uow:
        rows = {n: await uow.inbox.get(n) for n in range(1, 7)}
    assert {n: row.status for n, row in rows.items() if row} == {
        1: "done",
        2: "processing",
        3: "done",
        4: "processing",  # b's, whose lease runs
        5: "processing",
        6: "done",
    }
    async with empty_ctx.unit_of_work() as uow:
        assert await mark_and_claim([], uow) == (set(), [])  # nothing else is ready
        assert await uow.inbox.counts() == {"done": 3, "processing": 3}


async def test_after_done_marks_sqlite_looks_before_it_claims_and_postgresql_just_claims(
    empty_ctx: CoreContext,
) -> None:
    """``only_if_waiting_in``: with the marks, claim only if one of these chats has an update
    waiting. SQLite looks first (a look costs less than a claim there); PostgreSQL's claim is
    part of the marks' statement and costs nothing more, so it takes whatever is ready."""
    await record(empty_ctx, update(1, 100), update(2, 200))
    assert await claim(empty_ctx, limit=1) == [1]
    async with empty_ctx.unit_of_work() as uow:
        marked, claimed = await uow.inbox.mark_done_and_claim(
            [1], NOW, owner="a", now=NOW, lease_until=LEASE, limit=10, only_if_waiting_in={100}
        )
        await uow.commit()
    postgresql = uow.session.dialect.name == "postgresql"
    assert marked == {1}
    assert [item.update_id for item in claimed] == ([2] if postgresql else [])

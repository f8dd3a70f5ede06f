"""The SQLite driver (core/persistence/sqlite_driver.py): where statements run, and how a
busy database is waited for without stopping the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.asyncio import engine as asyncio_engine
from sqlalchemy.ext.asyncio.exc import AsyncMethodRequired

from core.persistence import sqlite_driver
from core.persistence.engine import create_engine
from core.persistence.sqlite_driver import long_statements, off_the_loop, on_the_loop


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    try:
        yield engine
    finally:
        await engine.dispose()


async def thread_of_statements(engine: AsyncEngine) -> int:
    """The thread that ran a statement (a SQL function SQLite calls where it runs)."""
    async with engine.connect() as conn:
        raw: Any = await conn.get_raw_connection()
        sqlite: sqlite3.Connection = raw.driver_connection._connection
        sqlite.create_function("thread_id", 0, threading.get_ident)
        return int((await conn.execute(text("SELECT thread_id()"))).scalar_one())


async def test_statements_run_on_the_loop_inside_on_the_loop_and_on_aiosqlites_thread_else(
    engine: AsyncEngine,
) -> None:
    loop_thread = threading.get_ident()
    assert await thread_of_statements(engine) != loop_thread
    with on_the_loop():
        assert await thread_of_statements(engine) == loop_thread
        with off_the_loop():
            assert await thread_of_statements(engine) != loop_thread
        assert await thread_of_statements(engine) == loop_thread

    @long_statements
    async def figures() -> int:
        return await thread_of_statements(engine)

    with on_the_loop():
        assert await figures() != loop_thread  # a long service goes back to the thread


async def test_a_task_started_on_the_loop_keeps_running_its_statements_there(
    engine: AsyncEngine,
) -> None:
    with on_the_loop():
        task = asyncio.create_task(thread_of_statements(engine))
    assert await task == threading.get_ident()


@pytest.mark.parametrize("inline", [True, False])
async def test_a_write_waits_for_another_writer_and_the_loop_goes_on_meanwhile(
    engine: AsyncEngine, tmp_path: Path, inline: bool
) -> None:
    other = sqlite3.connect(tmp_path / "bot.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def release() -> None:
        await asyncio.sleep(0.4)
        other.execute("INSERT INTO notes (body) VALUES ('theirs')")
        other.execute("COMMIT")

    ticker, releaser = asyncio.create_task(tick()), asyncio.create_task(release())
    try:
        with on_the_loop() if inline else off_the_loop():
            async with engine.connect() as conn:
                await conn.execute(text("INSERT INTO notes (body) VALUES ('ours')"))
                await conn.commit()
        ticks_while_waiting = ticks
    finally:
        ticker.cancel()
        await releaser
        other.close()
    assert ticks_while_waiting >= 5  # the loop was not stopped for the 0.4 s wait
    async with engine.connect() as conn:
        bodies = (await conn.execute(text("SELECT body FROM notes ORDER BY id"))).scalars()
        assert list(bodies) == ["theirs", "ours"]  # ours went in once the lock was free


@pytest.mark.parametrize("inline", [True, False])
async def test_a_lock_held_past_the_busy_wait_is_an_error_and_writes_nothing(
    engine: AsyncEngine, tmp_path: Path, inline: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_driver, "BUSY_WAIT", 0.2)
    other = sqlite3.connect(tmp_path / "bot.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with on_the_loop() if inline else off_the_loop(), pytest.raises(Exception) as raised:
            async with engine.connect() as conn:
                await conn.execute(text("INSERT INTO notes (body) VALUES ('ours')"))
                await conn.commit()
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert "database is locked" in str(raised.value)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 0


async def test_a_unit_of_work_that_only_read_ends_without_a_trip_to_the_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips: list[str] = []
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await real(self, fn, *args, **kwargs)

    async with engine.connect() as conn:  # the pool's connection exists before counting
        await conn.execute(text("SELECT 1"))
    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 0
        await conn.commit()  # nothing written: nothing to commit
    assert trips == ["_run"]  # the statement; no commit, no rollback on close
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO notes (body) VALUES ('x')"))
        await conn.commit()
    assert trips == ["_run", "_run", "_waited_on_the_thread"]  # a write, committed there
    with on_the_loop():
        async with engine.connect() as conn:
            await conn.execute(text("INSERT INTO notes (body) VALUES ('y')"))
            await conn.commit()
    assert len(trips) == 3  # on the loop: no trip at all
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 2


async def test_an_in_memory_database_works_on_the_loop_by_staying_on_its_thread() -> None:
    # its connection refuses any other thread (check_same_thread): on_the_loop must not matter
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    try:
        with on_the_loop():
            async with engine.connect() as conn:
                await conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY)"))
                await conn.execute(text("INSERT INTO notes DEFAULT VALUES"))
                await conn.commit()
            async with engine.connect() as conn:  # inline, SQLite would refuse: ProgrammingError
                assert (await conn.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_the_log_is_checkpointed_on_a_thread_not_inside_a_commit(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_driver, "CHECKPOINT_EVERY", 10)
    database = tmp_path / "bot.sqlite3"
    checkpoints = sqlite_driver.checkpoints_of(str(database))
    monkeypatch.setattr(sqlite_driver, "SQLITE_AUTOCHECKPOINT", 5)  # pages, as if a big log
    size_before = database.stat().st_size
    with on_the_loop():
        for n in range(25):
            async with engine.connect() as conn:
                await conn.execute(
                    text("INSERT INTO notes (body) VALUES (:body)"), {"body": f"{n:04d}" * 1000}
                )
                await conn.commit()
            if checkpoints.running is not None:
                await checkpoints.running
    assert checkpoints.done == 2  # after the 10th and the 20th commit, none in a commit
    # what the checkpoints copied is in the database file, ~4 KB a row: not only in the log
    assert database.stat().st_size >= size_before + 15 * 4000


async def test_a_commit_on_the_loop_never_checkpoints_and_one_on_the_thread_still_does(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_driver, "CHECKPOINT_EVERY", 1_000_000)  # no background one
    monkeypatch.setattr(sqlite_driver, "SQLITE_AUTOCHECKPOINT", 5)  # pages
    database = tmp_path / "bot.sqlite3"

    async def insert(n: int) -> None:
        async with engine.connect() as conn:
            await conn.execute(
                text("INSERT INTO notes (body) VALUES (:body)"), {"body": f"{n:04d}" * 1000}
            )
            await conn.commit()

    async with engine.connect() as conn:  # SQLite's own threshold, for thread commits
        await conn.exec_driver_sql("PRAGMA wal_autocheckpoint=5")
    size_before = database.stat().st_size
    with on_the_loop():
        for n in range(20):
            await insert(n)
    assert database.stat().st_size == size_before  # all of it still in the log only
    await insert(99)  # on aiosqlite's thread: SQLite checkpoints inside this commit
    assert database.stat().st_size >= size_before + 15 * 4000


async def test_a_checkpoint_that_meets_a_locked_file_waits_on_its_thread_then_runs(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """Under load a checkpoint's connection can meet the file locked for a moment (a writer
    resetting the log): it waits on its worker thread, not failing with "database is
    locked" and a warning, and the loop goes on meanwhile."""
    monkeypatch.setattr(sqlite_driver, "CHECKPOINT_EVERY", 1)
    database = tmp_path / "bot.sqlite3"
    checkpoints = sqlite_driver.checkpoints_of(str(database))
    await engine.dispose()  # no other connection open: the holder's lock is then exclusive
    holder = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")  # nobody else may even read the file meanwhile

    async def let_go() -> None:
        await asyncio.sleep(0.4)
        holder.execute("COMMIT")
        holder.execute("PRAGMA locking_mode=NORMAL")
        holder.execute("SELECT count(*) FROM notes").fetchall()  # gives up the lock
        holder.close()

    releasing = asyncio.create_task(let_go())
    checkpoints.committed()  # as after a commit on the loop: a checkpoint starts
    running = checkpoints.running
    assert running is not None
    ticks = 0
    while not running.done():
        await asyncio.sleep(0.01)
        ticks += 1
    await releasing
    assert checkpoints.done == 1
    assert "WAL checkpoint" not in caplog.text
    assert ticks >= 20  # it waited for the lock, and the loop went on meanwhile


@pytest.fixture
def greenlets(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What SQLAlchemy's asyncio layer ran in a greenlet of its own (the usual way)."""
    spawned: list[str] = []
    real = asyncio_engine.greenlet_spawn

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        spawned.append(getattr(fn, "__name__", repr(fn)))
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(asyncio_engine, "greenlet_spawn", counted)
    return spawned


async def unit_of_work(engine: AsyncEngine, body: str) -> list[str]:
    """As the repositories' units of work: start, write, read, commit, close."""
    conn = await engine.connect().start()
    try:
        await conn.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": body})
        bodies = list((await conn.scalars(text("SELECT body FROM notes ORDER BY id"))).all())
        await conn.commit()
        return bodies
    finally:
        await conn.close()


async def test_on_the_loop_a_unit_of_work_calls_sqlalchemy_directly_without_a_greenlet(
    engine: AsyncEngine, greenlets: list[str]
) -> None:
    assert await unit_of_work(engine, "thread") == ["thread"]  # the pool now holds one
    assert greenlets == ["connect", "execute", "execute", "commit", "close"]
    greenlets.clear()
    with on_the_loop():
        assert await unit_of_work(engine, "loop") == ["thread", "loop"]
        assert greenlets == []
        conn = await engine.connect().start()
        await conn.execute(text("INSERT INTO notes (body) VALUES ('dropped')"))
        await conn.rollback()
        await conn.close()
        assert greenlets == []
    async with engine.connect() as conn:  # what each committed is stored, the rest is not
        assert list(await conn.scalars(text("SELECT body FROM notes"))) == ["thread", "loop"]


async def test_a_statement_that_fails_on_the_loop_raises_as_usual_and_the_unit_goes_on(
    engine: AsyncEngine,
) -> None:
    with on_the_loop():
        conn = await engine.connect().start()
        try:
            await conn.execute(text("INSERT INTO notes (id, body) VALUES (1, 'first')"))
            with pytest.raises(IntegrityError, match="UNIQUE constraint failed"):
                await conn.execute(text("INSERT INTO notes (id, body) VALUES (1, 'again')"))
            await conn.execute(text("INSERT INTO notes (id, body) VALUES (2, 'second')"))
            await conn.commit()
        finally:
            await conn.close()
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id, body FROM notes ORDER BY id"))).all()
        assert [tuple(row) for row in rows] == [(1, "first"), (2, "second")]


def connection_threads() -> int:
    """aiosqlite connections open: each has a thread."""
    return sum("_connection_worker_thread" in thread.name for thread in threading.enumerate())


async def test_on_the_loop_connections_past_the_pools_size_are_closed_not_leaked(
    tmp_path: Path, greenlets: list[str], caplog: Any
) -> None:
    engine = create_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'pool.sqlite3'}", pool_size=2, max_overflow=4
    )
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
        threads_before = connection_threads()  # this engine's one idle connection, and others'
        greenlets.clear()
        with on_the_loop():
            connections = [await engine.connect().start() for _ in range(5)]
            for n, conn in enumerate(connections):
                await conn.execute(text("INSERT INTO notes (body) VALUES (:n)"), {"n": str(n)})
                await conn.commit()
            for conn in connections:
                await conn.close()
        pool: Any = engine.sync_engine.pool
        assert pool.checkedin() == 2 and pool.checkedout() == 0
        # four opened (one was idle), the three past the pool's two closed: on their threads
        assert greenlets.count("connect") == 4 and greenlets.count("close") == 3
        for _ in range(100):  # each closed connection's thread ends soon after
            if connection_threads() <= threads_before + 1:
                break
            await asyncio.sleep(0.01)
        assert connection_threads() <= threads_before + 1  # the pool's two: none left open
        assert "Exception closing" not in caplog.text
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 5
    finally:
        await engine.dispose()


async def test_on_the_loop_an_idle_connection_that_must_be_opened_again_is_opened_as_usual(
    engine: AsyncEngine, greenlets: list[str]
) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO notes (body) VALUES ('before')"))
        await conn.commit()
        await conn.invalidate()  # dropped (as after a lost connection): back to the pool empty
    greenlets.clear()
    with on_the_loop():
        assert await unit_of_work(engine, "after") == ["before", "after"]
    assert greenlets[0] == "connect"  # opened again on aiosqlite's thread, then directly
    assert "execute" not in greenlets


async def test_on_the_loop_a_savepoint_begins_and_ends_directly_and_keeps_its_unit_of_work(
    engine: AsyncEngine, greenlets: list[str]
) -> None:
    async with engine.connect() as conn:  # the pool now holds one
        await conn.execute(text("INSERT INTO notes (id, body) VALUES (1, 'first')"))
        await conn.commit()
    greenlets.clear()
    with on_the_loop():
        conn = await engine.connect().start()
        try:
            await conn.execute(text("INSERT INTO notes (id, body) VALUES (2, 'kept')"))
            with pytest.raises(IntegrityError):
                async with conn.begin_nested():  # as CaseRepository.add: undone alone
                    await conn.execute(text("INSERT INTO notes (id, body) VALUES (3, 'undone')"))
                    await conn.execute(text("INSERT INTO notes (id, body) VALUES (1, 'clash')"))
            async with conn.begin_nested():
                await conn.execute(text("INSERT INTO notes (id, body) VALUES (4, 'released')"))
            await conn.commit()
            async with conn.begin_nested():  # first in its transaction: BEGIN before it
                await conn.execute(text("INSERT INTO notes (id, body) VALUES (5, 'rolled back')"))
            await conn.rollback()  # the released savepoint goes with its unit of work
        finally:
            await conn.close()
    assert greenlets == []
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id, body FROM notes ORDER BY id"))).all()
        assert [tuple(row) for row in rows] == [(1, "first"), (2, "kept"), (4, "released")]


async def test_on_the_loop_a_connection_with_its_own_isolation_level_goes_back_reset(
    engine: AsyncEngine, greenlets: list[str]
) -> None:
    """Its reset at check-in runs on aiosqlite's thread: given back the usual way, not lost."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    pool: Any = engine.sync_engine.pool
    assert pool.checkedin() == 1
    with on_the_loop():
        conn = await engine.connect().start()
        await conn.execution_options(isolation_level="SERIALIZABLE")
        await conn.execute(text("INSERT INTO notes (body) VALUES ('serializable')"))
        await conn.commit()
        greenlets.clear()
        await conn.close()
    assert greenlets == ["close"]
    assert pool.checkedin() == 1 and pool.checkedout() == 0
    async with engine.connect() as conn:
        assert list(await conn.scalars(text("SELECT body FROM notes"))) == ["serializable"]


async def test_on_the_loop_a_database_not_in_wal_mode_goes_the_usual_way(
    tmp_path: Path, greenlets: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the write-ahead log a commit may wait for readers: not on the loop's thread."""
    from core.persistence import engine as engine_module

    pragmas = tuple(p for p in engine_module.SQLITE_PRAGMAS if "journal_mode" not in p)
    monkeypatch.setattr(engine_module, "SQLITE_PRAGMAS", (*pragmas, "PRAGMA journal_mode=DELETE"))
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'journal.sqlite3'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
        greenlets.clear()
        with on_the_loop():
            assert await unit_of_work(engine, "journal") == ["journal"]
        assert greenlets == [
            "execute",
            "execute",
            "commit",
            "close",
        ]  # taken from the pool directly
    finally:
        await engine.dispose()


async def test_on_the_loop_a_streamed_statement_is_refused_as_sqlalchemy_refuses_it(
    engine: AsyncEngine,
) -> None:
    streamed = text("SELECT body FROM notes").execution_options(stream_results=True)
    with on_the_loop():
        async with engine.connect() as conn:
            with pytest.raises(AsyncMethodRequired):
                await conn.execute(streamed)
            assert list(await conn.scalars(text("SELECT count(*) FROM notes"))) == [0]
        async with engine.connect() as conn:  # asked of the whole connection: the same
            await conn.execution_options(stream_results=True)
            with pytest.raises(AsyncMethodRequired):
                await conn.execute(text("SELECT body FROM notes"))

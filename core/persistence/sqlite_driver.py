"""SQLite through aiosqlite in one thread round trip per statement.

aiosqlite runs the sqlite3 connection on a thread of its own, and SQLAlchemy's adapter
awaits it once to make a cursor, once to execute, once to fetch the rows and once to close
the cursor: four hand-overs between the event loop and that thread for a statement SQLite
answers in microseconds. On the bot's hot path (eight statements an update) those hand-overs
cost more than SQLite does. This cursor does the four steps in one function on the thread,
so a statement is one hand-over, and the end of a transaction that wrote nothing is none
(:class:`OneTripConnection`). Everything else (connections, transactions, errors, the
dialect) is SQLAlchemy's own ``sqlite+aiosqlite``; :func:`core.persistence.engine.create_engine`
passes this module as the engine's DBAPI (``module=``).

**On the event loop's own thread**, inside :func:`on_the_loop` (the inbox runs every update in
it): a hand-over to that thread and back costs about 0.2 ms of CPU, twenty times what SQLite
takes for an indexed statement, and an update made about nine. Inline, SQLite must never wait
in the loop's thread, so the driver waits for locks itself: connections get
``busy_timeout=0`` and a statement SQLite answers "busy" (another connection or process holds
the write lock) is tried again after an ``asyncio.sleep``, for up to :data:`BUSY_WAIT`
seconds, as SQLite's own busy handler would on aiosqlite's thread (which does the same there
with ``time.sleep``). Long statements (the figures of ``/stats``, exports, the board's lists)
go back to aiosqlite's thread inside :func:`off_the_loop`, so a scan of a million orders does
not stop every other chat.

**Without greenlets**, on the loop's thread: SQLAlchemy's ``AsyncConnection`` runs every
statement, commit, checkout and check-in in a greenlet of its own, so that the driver may
await deep inside; there, SQLite has nothing to await, and the greenlet cost more than the
statement. The engine's connections are :class:`InlineConnection`, which calls SQLAlchemy's
synchronous methods directly inside :func:`on_the_loop`, and the driver then calls sqlite3
directly too; whatever must wait (a busy database, a connection to open or close) goes the
usual way.

It leans on two internals of SQLAlchemy's asyncio adapter (``_execute_mutex``, the cursor's
``_rows``) and on aiosqlite's ``Connection._execute``; SQLAlchemy is pinned below 2.2 in
pyproject.toml, and tests/core/test_persistence.py runs on it.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, MissingGreenlet
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import EMPTY_DICT, await_

BUSY_WAIT = 5.0  # s a statement waits for another writer, as PRAGMA busy_timeout=5000 did
_BUSY_PAUSES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)  # then 0.1 s each
SQLITE_BUSY = 5
SQLITE_BUSY_SNAPSHOT = 517  # this transaction read what another has changed since: no wait cures it

log = logging.getLogger("returns_desk.sqlite")

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")

_inline: ContextVar[bool] = ContextVar("sqlite_on_the_loop", default=False)
# set by InlineConnection around a call it makes without a greenlet: the cursor and the
# connection then call sqlite3 directly instead of awaiting (there is nothing to await with)
_direct: ContextVar[bool] = ContextVar("sqlite_direct_call", default=False)


@contextmanager
def _statements_inline(inline: bool) -> Iterator[None]:
    token = _inline.set(inline)
    try:
        yield
    finally:
        _inline.reset(token)


def on_the_loop() -> AbstractContextManager[None]:
    """SQLite statements of this task (and the tasks it starts) run on the event loop's
    thread: short, indexed statements, as an update's."""
    return _statements_inline(True)


def off_the_loop() -> AbstractContextManager[None]:
    """Statements that may take long (scans, exports) go to aiosqlite's thread again, even
    inside :func:`on_the_loop`."""
    return _statements_inline(False)


def long_statements(function: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """A service whose statements may take long (figures over months, exports, purges):
    its SQLite statements run on aiosqlite's thread (:func:`off_the_loop`) wherever it is
    called from."""

    @functools.wraps(function)
    async def off(*args: P.args, **kwargs: P.kwargs) -> T:
        with off_the_loop():
            return await function(*args, **kwargs)

    return off


def _is_busy(error: sqlite3.OperationalError) -> bool:
    """Busy in a way waiting cures: the lock is held, or another connection is recovering
    the WAL (SQLITE_BUSY_RECOVERY); not a stale snapshot (SQLITE_BUSY_SNAPSHOT)."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == SQLITE_BUSY and code != SQLITE_BUSY_SNAPSHOT


def _waited_on_the_thread(call: Callable[[], R]) -> R:
    """On aiosqlite's thread: ``call()``, again after a pause while the database is busy
    (this thread may sleep), for up to :data:`BUSY_WAIT` seconds."""
    deadline = time.monotonic() + BUSY_WAIT
    attempt = 0
    while True:
        try:
            return call()
        except sqlite3.OperationalError as error:
            if not _is_busy(error) or time.monotonic() >= deadline:
                raise
        time.sleep(_pause(attempt))
        attempt += 1


async def _waited_on_the_loop(call: Callable[[], R]) -> R:
    """On the loop's thread: as :func:`_waited_on_the_thread`, but pausing with
    ``asyncio.sleep``, so that the loop (and the writer holding the lock) go on."""
    deadline = time.monotonic() + BUSY_WAIT
    attempt = 0
    while True:
        try:
            return call()
        except sqlite3.OperationalError as error:
            if not _is_busy(error) or time.monotonic() >= deadline:
                raise
        await asyncio.sleep(_pause(attempt))
        attempt += 1


def _statement(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> Callable[[], tuple[Any, list[Any], int, int | None]]:
    if many:
        parameters = list(parameters)  # tried again whole when busy
    return functools.partial(_once, connection, operation, parameters, many)


def _run(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> tuple[Any, list[Any], int, int | None]:
    """On aiosqlite's thread: the whole statement, with its rows."""
    return _waited_on_the_thread(_statement(connection, operation, parameters, many))


def _pause(attempt: int) -> float:
    return _BUSY_PAUSES[min(attempt, len(_BUSY_PAUSES) - 1)]


def _once(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> tuple[Any, list[Any], int, int | None]:
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:  # no cursor made in advance
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _run(self, operation: Any, parameters: Any, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            connection: Any = self._connection  # aiosqlite.Connection
            if _inline.get() and connection.returns_desk_inline:
                statement = _statement(connection._conn, operation, parameters, many)
                found = await _waited_on_the_loop(statement)
            else:
                found = await connection._execute(
                    _run, connection._conn, operation, parameters, many
                )
        self._take(found)

    def _take(self, found: tuple[Any, list[Any], int, int | None]) -> None:
        self._description, rows, self._rowcount, self._lastrowid = found
        self._rows = collections.deque(rows)

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        if _direct.get():  # a busy database raises here: InlineConnection waits, then again
            connection: Any = self._connection
            self._take(_once(connection._conn, operation, parameters, False))
            return None
        return super().execute(operation, parameters)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        if _direct.get():
            connection: Any = self._connection
            self._take(_once(connection._conn, operation, list(seq_of_parameters), True))
            return None
        return super().executemany(operation, seq_of_parameters)

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._run(operation, parameters, False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._run(operation, seq_of_parameters, True)

    async def _async_soft_close(self) -> None:
        return None  # the sqlite3 cursor is closed already

    def close(self) -> None:
        self._rows.clear()

    def nextset(self) -> None:
        self._rows.clear()

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None


def _committed_without_checkpoint(raw: sqlite3.Connection) -> Callable[[], None]:
    """A commit on the loop's thread that leaves the log's checkpoint to :class:`Checkpoints`
    (SQLite would run it inside the commit once the log passes 1,000 pages). Commits on
    aiosqlite's thread (the CLI's imports, long services) still checkpoint as SQLite does."""

    def commit() -> None:
        raw.execute("PRAGMA wal_autocheckpoint=0")
        try:
            raw.commit()
        finally:
            raw.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT}")

    return commit


CHECKPOINT_EVERY = 100  # commits on the loop's thread between two checkpoints of a file
CHECKPOINT_WAIT = 2.0  # seconds a checkpoint's connection waits for a busy file (its thread)
SQLITE_AUTOCHECKPOINT = 1000  # pages: SQLite's default, for every other commit


class Checkpoints:
    """WAL checkpoints of one database file, on a worker thread.

    SQLite copies the write-ahead log into the database file (and syncs it) inside whichever
    commit passes ``wal_autocheckpoint`` pages: on the event loop's thread, when the commit
    runs there, a pause of every chat. A commit on the loop's thread turns that off for
    itself, and every :data:`CHECKPOINT_EVERY` such commits a passive checkpoint runs on a
    thread of its own, with a connection of its own (passive: it neither waits for nor
    blocks anyone). Commits on aiosqlite's thread checkpoint as SQLite does, there.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.commits = 0
        self.running: asyncio.Future[None] | None = None
        self.done = 0  # checkpoints run, for the tests

    def committed(self) -> None:
        self.commits += 1
        if self.commits < CHECKPOINT_EVERY or self.running is not None:
            return
        self.commits = 0
        self.running = asyncio.get_running_loop().run_in_executor(None, self._checkpoint)
        self.running.add_done_callback(self._finished)

    def _checkpoint(self) -> None:
        # on a worker thread it may wait: opening the file and reading its log index can meet a
        # writer resetting the log (with no wait: "database is locked" now and then, under load)
        connection = sqlite3.connect(self.path, timeout=CHECKPOINT_WAIT, check_same_thread=False)
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            connection.close()

    def _finished(self, future: asyncio.Future[None]) -> None:
        self.running = None
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:  # the next one may do better; nothing is lost meanwhile
            log.warning("a WAL checkpoint of %s failed: %r", self.path, error)
        else:
            self.done += 1


_checkpoints: dict[str, Checkpoints] = {}


def checkpoints_of(path: str) -> Checkpoints:
    found = _checkpoints.get(path)
    if found is None:
        found = _checkpoints[path] = Checkpoints(path)
    return found


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor  # type: ignore[assignment]

    # A unit of work that only read ends with a rollback (SQLAlchemy's, on close) or a commit
    # that SQLite has nothing to do for: no transaction is open. Asked on this thread (a flag
    # of the sqlite3 connection, which no statement can be changing: this connection runs one
    # at a time, and none is running while SQLAlchemy ends the transaction), that saves a
    # round trip to aiosqlite's thread per read-only unit of work.

    def rollback(self) -> None:
        if self._open_transaction():
            self._end("rollback")

    def commit(self) -> None:
        if self._open_transaction():
            self._end("commit")

    def _end(self, how: str) -> None:
        connection: Any = self._connection  # aiosqlite.Connection
        end = getattr(connection._connection, how)
        try:
            if not (_direct.get() or (_inline.get() and connection.returns_desk_inline)):
                await_(connection._execute(_waited_on_the_thread, end))
                return
            # on the loop's thread: a commit leaves the log's checkpoint to Checkpoints
            checkpoints: Checkpoints | None = connection.returns_desk_checkpoints
            if how == "commit" and checkpoints is not None:
                end = _committed_without_checkpoint(connection._connection)
            if _direct.get():
                # InlineConnection's commit or rollback, with no greenlet to await in: a WAL
                # transaction that wrote holds the write lock, so its end does not meet
                # "busy"; should it, this waits as aiosqlite's thread would
                _waited_on_the_thread(end)
            else:
                await_(_waited_on_the_loop(end))
            if how == "commit" and checkpoints is not None:
                checkpoints.committed()
        except Exception as error:
            self._handle_exception(error)

    def _open_transaction(self) -> bool:
        raw: sqlite3.Connection | None = self._connection._connection
        return raw is not None and raw.in_transaction


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DBAPI adapter, with :class:`OneTripCursor` cursors."""

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        connection = super().connect(*arg, **kw)
        connection.__class__ = OneTripConnection  # same slots: only the cursor class differs
        # an in-memory database's connection refuses any thread but its own (SQLAlchemy
        # opens it with check_same_thread): its statements all go to aiosqlite's thread
        aiosqlite_connection: Any = connection._connection
        aiosqlite_connection.returns_desk_inline = kw.get("check_same_thread") is False
        aiosqlite_connection.returns_desk_wal = False  # until the engine's PRAGMA says it is
        file = arg[0] if arg else kw.get("database")
        checkpoints = None
        if isinstance(file, str) and file != ":memory:" and not kw.get("uri"):
            checkpoints = checkpoints_of(file)
        aiosqlite_connection.returns_desk_checkpoints = checkpoints
        return connection


def dbapi() -> OneTripDBAPI:
    return OneTripDBAPI(aiosqlite, sqlite3)


def connect_inline(engine: AsyncEngine) -> None:
    """The engine's connections are :class:`InlineConnection` (an engine of this driver)."""
    engine.__class__ = InlineEngine  # same slots: only the connection class differs


class InlineConnection(AsyncConnection):
    """SQLAlchemy's ``AsyncConnection`` whose statements, commits and rollbacks inside
    :func:`on_the_loop` are plain calls, with no greenlet.

    ``AsyncConnection.execute`` runs the synchronous ``Connection.execute`` in a new greenlet so
    that the driver can ``await`` deep inside it; on the loop's thread SQLite has nothing to
    await, and that greenlet, its switches and the driver's coroutine cost about 90 µs of CPU a
    statement, more than SQLAlchemy's own execution (benchmarks/README.md, ninth round). Here
    the synchronous call is made directly, with :data:`_direct` telling the driver to call
    sqlite3 directly. A statement that meets a busy database (another writer holds the lock)
    fails at once, before writing anything, and is run again the usual way, whose driver waits
    for the lock with ``asyncio.sleep``. Transactions and savepoints begin and end directly too
    (:class:`InlineTransaction`), and a connection is taken from the pool and given back
    directly when no connection has to be opened or closed for it. Whatever must wait goes
    SQLAlchemy's usual way: opening or closing a connection, off the loop, an in-memory
    database, a database not in WAL mode (a commit there may wait for readers), a streamed
    result.
    """

    __slots__ = ()

    def _direct_ok(self) -> bool:
        if not _inline.get():
            return False
        sync = self.sync_connection
        if sync is None or sync.invalidated:
            return False
        fairy = sync._dbapi_connection
        adapted: Any = fairy.dbapi_connection if fairy is not None else None
        if not isinstance(adapted, OneTripConnection):
            return False
        connection: Any = adapted._connection  # aiosqlite.Connection
        return (
            connection.returns_desk_inline
            and connection.returns_desk_wal  # a commit never waits for readers
            and not adapted._execute_mutex.locked()
        )

    async def execute(  # type: ignore[override]
        self,
        statement: Any,
        parameters: Any = None,
        *,
        execution_options: Any = None,
    ) -> Any:
        if (
            execution_options is None
            and self._direct_ok()
            and not _streams(statement)
            and not _streams(self.sync_connection)
        ):
            try:
                return _directly(self._synchronous().execute, statement, parameters)
            except DBAPIError as error:
                orig = error.orig
                if not (isinstance(orig, sqlite3.OperationalError) and _is_busy(orig)):
                    raise
        return await super().execute(statement, parameters, execution_options=execution_options)

    async def start(self, is_ctxmanager: bool = False) -> AsyncConnection:
        # a connection the pool holds idle is handed out without a statement: directly. One
        # the pool must open (or open again) needs aiosqlite's thread: the usual way
        pool = self.sync_engine.pool
        if (
            _inline.get()
            and self.sync_connection is None
            and isinstance(pool, QueuePool)
            and pool.checkedin() > 0
            and not pool._pre_ping  # a ping is a statement: on the connection's own terms
        ):
            try:
                connection = _directly(self.sync_engine.connect)
            except MissingGreenlet:  # the idle one was dropped and must be opened again
                pass
            else:
                self.sync_connection = self._assign_proxied(connection)
                return self
        return await super().start(is_ctxmanager)

    async def close(self) -> None:
        # back to the pool directly (its rollback too) when the pool has room for it and
        # nothing is to be reset on it (an isolation level set for this connection is, on
        # aiosqlite's thread); a connection past the pool's size is closed on that thread
        pool = self.sync_engine.pool
        if (
            self._direct_ok()
            and isinstance(pool, QueuePool)
            and pool.checkedin() < pool.size()
            and not self._synchronous()._dbapi_connection._connection_record.finalize_callback  # type: ignore[union-attr]
        ):
            _directly(self._synchronous().close)
        else:
            await super().close()

    async def commit(self) -> None:
        await _direct_or_usual(self._direct_ok(), self._synchronous, "commit", super().commit)

    async def rollback(self) -> None:
        await _direct_or_usual(self._direct_ok(), self._synchronous, "rollback", super().rollback)

    def begin(self) -> AsyncTransaction:
        return InlineTransaction(self)

    def begin_nested(self) -> AsyncTransaction:
        return InlineTransaction(self, nested=True)

    def _synchronous(self) -> Connection:
        assert self.sync_connection is not None  # _direct_ok() saw it
        return self.sync_connection


class InlineTransaction(AsyncTransaction):
    """An :class:`InlineConnection`'s transaction or savepoint, begun and ended directly on
    the loop's thread (``BEGIN``, ``SAVEPOINT``, ``RELEASE`` and their rollbacks never wait
    for a lock: only a transaction's first write does)."""

    __slots__ = ()

    connection: InlineConnection

    def _direct_ok(self) -> bool:
        return self.connection._direct_ok()

    async def start(self, is_ctxmanager: bool = False) -> AsyncTransaction:
        if not self._direct_ok():
            return await super().start(is_ctxmanager)
        connection = self.connection._proxied
        begin = connection.begin_nested if self.nested else connection.begin
        self.sync_transaction = self._assign_proxied(_directly(begin))
        if is_ctxmanager:
            self.sync_transaction.__enter__()
        return self

    async def commit(self) -> None:
        await _direct_or_usual(self._direct_ok(), self._sync, "commit", super().commit)

    async def rollback(self) -> None:
        await _direct_or_usual(self._direct_ok(), self._sync, "rollback", super().rollback)

    async def close(self) -> None:
        await _direct_or_usual(self._direct_ok(), self._sync, "close", super().close)

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        exiting = super().__aexit__
        await _direct_or_usual(
            self._direct_ok(), self._sync, "__exit__", exiting, type_, value, traceback
        )

    def _sync(self) -> Any:
        return self._proxied


def _streams(executable: Any) -> bool:
    """A statement (or a connection) asking for a server-side cursor: its rows are fetched
    as they are read, which SQLAlchemy's asyncio layer only allows through ``stream()``."""
    options: Any = getattr(executable, "_execution_options", None) or {}
    return "stream_results" in options or "yield_per" in options


async def _direct_or_usual(
    direct: bool,
    synchronous: Callable[[], Any],
    name: str,
    usual: Callable[..., Awaitable[None]],
    *args: Any,
) -> None:
    """The synchronous object's method ``name`` called directly, or SQLAlchemy's usual
    (greenlet) way."""
    if direct:
        _directly(getattr(synchronous(), name), *args)
    else:
        await usual(*args)


def _directly(call: Callable[..., R], *args: Any) -> R:
    """``call(*args)`` with the driver calling sqlite3 directly (:class:`InlineConnection`)."""
    token = _direct.set(True)
    try:
        return call(*args)
    finally:
        _direct.reset(token)


class InlineEngine(AsyncEngine):
    __slots__ = ()
    _connection_cls = InlineConnection

"""Engine and session factory: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) at scale.

SQLite transactions
-------------------
The sqlite3 driver (under aiosqlite) runs in its legacy transaction mode: it emits ``BEGIN``
itself before the first INSERT/UPDATE/DELETE of a transaction and runs earlier SELECTs in
autocommit. That is what keeps concurrent writers from failing with ``SQLITE_BUSY_SNAPSHOT``
(a read snapshot upgraded to a write after another connection committed): a writer only takes
the lock when it first writes, and waits for it up to ``busy_timeout``.

Its one flaw is ``SAVEPOINT``: emitted before any write, it starts a transaction of its own,
and ``RELEASE`` then commits it, outside the caller's unit of work. The ``savepoint`` listener
below emits ``BEGIN`` first when no transaction is open, so ``session.begin_nested()`` is a
true nested transaction on SQLite as on PostgreSQL.

Personal data
-------------
The SQLite file is created readable by its owner only (0600) whatever the umask, and every
connection tightens it and its ``-wal``/``-shm`` files again; SQLite creates those two lazily
with the database file's own mode, so they are 0600 too. A new directory for it is 0700.
Every engine hides SQL parameters from its errors and logs (``hide_parameters``): an
exception's text never carries a buyer's words or details.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from core import fast_json
from core.persistence import sqlite_driver

# SQLite's memory per connection, which grew with the database: with 10,000 conversations in
# progress SQLite held 12 MB of the bot's resident memory, 4 to 5 MB with these two, for the
# same CPU per update (benchmarks/README.md, twelfth round). Statements kept prepared: the
# buyers' path uses fewer than 32 in turn (16 cost 8 % more instructions per update, 32 none
# measurable; sqlite3 keeps 128, which the inbox's claims of every length fill).
SQLITE_PAGE_CACHE_KB = 1000
SQLITE_STATEMENTS = 32

SQLITE_PRAGMAS = (
    "PRAGMA foreign_keys=ON",
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA synchronous=NORMAL",
    # each connection's page cache at 1 MB rather than SQLite's 2 MB (see SQLITE_STATEMENTS)
    f"PRAGMA cache_size=-{SQLITE_PAGE_CACHE_KB}",
)


def create_engine(url: str | URL, *, schema: str | None = None, **kwargs: Any) -> AsyncEngine:
    """An async engine configured for this application.

    ``schema`` (PostgreSQL only) sets the connection's ``search_path``: tests isolate each run
    in a schema of its own. The URL may carry it too, as ``?search_path=<schema>`` (see
    :func:`with_search_path`), so a URL alone is enough to reach an isolated schema. Extra
    keyword arguments go to ``create_async_engine``.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    kwargs.setdefault("hide_parameters", True)
    # JSON columns (every update's payload in the inbox, conversations, outbox rows): orjson
    # when installed; the stdlib reads what it writes and the other way round
    kwargs.setdefault("json_serializer", fast_json.dumps)
    kwargs.setdefault("json_deserializer", fast_json.loads)
    if "search_path" in parsed.query:
        if backend != "postgresql":
            raise ValueError("search_path is only supported for PostgreSQL")
        url_schema = parsed.query["search_path"]
        schema = schema or (url_schema if isinstance(url_schema, str) else url_schema[0])
        parsed = parsed.difference_update_query(["search_path"])
    if backend == "sqlite":
        if schema is not None:
            raise ValueError("schema= is only supported for PostgreSQL")
        database = parsed.database
        path: Path | None = None
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database).expanduser()
            _private_file(path)
        # every unit of work ends its transaction itself (commit, or rollback on close): the
        # pool's extra rollback on each return would be one more thread round trip
        kwargs.setdefault("pool_reset_on_return", None)
        if "cached_statements" not in parsed.query:  # the URL's own setting stands
            connect_args = dict(kwargs.pop("connect_args", {}))
            connect_args.setdefault("cached_statements", SQLITE_STATEMENTS)
            kwargs["connect_args"] = connect_args
        if parsed.get_driver_name() == "aiosqlite":  # a statement in one thread round trip
            kwargs.setdefault("module", sqlite_driver.dbapi())
        if path is not None and "poolclass" not in kwargs:
            # The connection used last, first: SQLite drops a connection's page cache whenever
            # another connection wrote since its last transaction, so the bot's short units of
            # work, one after another, keep one connection's cache warm instead of rotating
            # through the pool and reading every page again (benchmarks/README.md, fifth round)
            kwargs.setdefault("pool_use_lifo", True)
        engine = create_async_engine(parsed, **kwargs)
        if isinstance(kwargs.get("module"), sqlite_driver.OneTripDBAPI):
            sqlite_driver.connect_inline(engine)
        _configure_sqlite(engine, path)
        return engine
    if backend == "postgresql":
        # here, not at the top: SQLAlchemy's PostgreSQL dialect is about 2 MB resident that a
        # process on SQLite never needs (benchmarks/README.md, twelfth round)
        from core.persistence import postgres_driver, tables

        tables.add_postgresql_options()
        # The connection used last, first (as on SQLite): a burst's extra connections go
        # back to the bottom of the pool and are the ones left idle, and pinged, later
        kwargs.setdefault("pool_use_lifo", True)
        if "poolclass" not in kwargs:
            # SQLAlchemy's 5 + 10 is below what the inbox keeps in flight (64 updates): under
            # load, connections past the pool's 5 were opened and closed again all the time,
            # 444 in a 2,730-update run, each a connect, a TLS offer, JSON codecs set up and
            # every statement prepared anew (benchmarks/README.md, sixth round)
            kwargs.setdefault("pool_size", POSTGRES_POOL)
            kwargs.setdefault("max_overflow", POSTGRES_OVERFLOW)
        lazy_begin = parsed.get_driver_name() == "asyncpg" and "module" not in kwargs
        if lazy_begin:  # a unit of work that only reads sends no BEGIN (postgres_driver)
            kwargs["module"] = postgres_driver.dbapi()
        ping_idle = "pool_pre_ping" not in kwargs
        if schema is not None:
            connect_args = dict(kwargs.pop("connect_args", {}))
            server_settings = dict(connect_args.get("server_settings", {}))
            server_settings["search_path"] = schema
            connect_args["server_settings"] = server_settings
            kwargs["connect_args"] = connect_args
        engine = create_async_engine(parsed, **kwargs)
        if ping_idle:
            ping_after_idle(engine, IDLE_BEFORE_PING)
        if lazy_begin:
            _tell_server_isolation(engine)
        return engine
    return create_async_engine(parsed, **kwargs)


# Connections a PostgreSQL engine keeps: 30 at most per process, so three bot processes and
# the CLI stay within PostgreSQL's default max_connections (100). Beyond that, a unit of work
# waits for a connection. All 30 are kept once opened, none "overflow": with 20 kept and 10
# more allowed, every burst past 20 opened connections and closed them again on return (460
# connections in one `benchmarks/load.py --config pg1 --quick` run, each a TLS offer, a login
# and every statement prepared anew; 35 with all kept: benchmarks/README.md, eleventh round).
POSTGRES_POOL = 30
POSTGRES_OVERFLOW = 0

# A pooled PostgreSQL connection idle this long is pinged before it is handed out again.
IDLE_BEFORE_PING = 2.0


def ping_after_idle(engine: AsyncEngine, idle: float) -> None:
    """Ping a pooled connection before use only when it sat idle for ``idle`` seconds.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: on asyncpg a ``BEGIN``, a ``;``
    and a ``ROLLBACK``, three round trips and about 0.28 ms of CPU before every unit of work
    (benchmarks/README.md, sixth round), where an update opens four or five. A connection
    in steady use has just proved itself; one that sat idle may have been cut (a database
    restart, a proxy's idle timeout) and is pinged; one that does not answer is replaced (the
    pool tries the next, up to three times). A disconnect met in a statement retires every
    connection of the pool opened before it (SQLAlchemy's own handling), so after a restart
    under load at most the units of work already running fail (the inbox runs their update
    again); the next ones connect afresh."""
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < idle:
            return  # new, or in steady use
        try:
            dbapi_connection.ping()
        except Exception as exc:
            raise DisconnectionError(f"the idle connection did not answer: {exc!r}") from exc


def _tell_server_isolation(engine: AsyncEngine) -> None:
    """Each new connection learns whether the server's default isolation (read by SQLAlchemy
    on the engine's first connection) gives every statement its own snapshot: only then may
    a read run outside a transaction when the engine names no isolation level. A server an
    administrator set to serializable keeps its transactions whole. Read once per engine: a
    default changed later (``ALTER ROLE … SET default_transaction_isolation``) is seen after
    a restart."""

    from core.persistence import postgres_driver  # a PostgreSQL engine's: loaded already

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        if isinstance(dbapi_connection, postgres_driver.LazyBeginConnection):
            default = engine.dialect.default_isolation_level
            dbapi_connection.server_reads_per_statement = default == "READ COMMITTED"


def with_search_path(url: str | URL, schema: str) -> str:
    """A PostgreSQL URL whose connections use ``schema`` (read back by :func:`create_engine`)."""
    parsed = make_url(url).update_query_dict({"search_path": schema})
    return parsed.render_as_string(hide_password=False)


Sessions = Callable[[], AsyncConnection]


def create_session_factory(engine: AsyncEngine) -> Sessions:
    """What a unit of work opens: a Core connection, not an ORM session. Every repository
    writes Core statements, so the ORM's identity map, flush and bulk-DML synchronisation
    were pure cost: about a quarter of the CPU of each statement on the hot path (measured
    in benchmarks/README.md). The caller's unit of work commits; closing rolls back."""
    return engine.connect


FILE_MODE = 0o600
DIR_MODE = 0o700


def _private_file(path: Path) -> None:
    """Create the database file (and a missing directory) for its owner only."""
    if not path.parent.exists():
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(path.parent, DIR_MODE)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE)
    os.close(fd)
    _tighten(path)


def _tighten(path: Path) -> None:
    """0600 on the database file and whichever of its -wal/-shm files exist."""
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            if name.stat().st_mode & 0o777 != FILE_MODE:
                os.chmod(name, FILE_MODE)
        except FileNotFoundError:
            continue


def _configure_sqlite(engine: AsyncEngine, path: Path | None = None) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # this module's driver waits for a busy database itself (sqlite_driver.BUSY_WAIT),
        # with asyncio.sleep when a statement runs on the event loop's thread: SQLite must
        # not wait there. First, so that journal_mode=WAL does not wait either.
        pragmas: tuple[str, ...] = SQLITE_PRAGMAS
        mode = None
        ours = isinstance(dbapi_connection, sqlite_driver.OneTripConnection)
        if ours:
            pragmas = ("PRAGMA busy_timeout=0",)
            pragmas += tuple(p for p in SQLITE_PRAGMAS if "busy_timeout" not in p)
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
                if "journal_mode" in pragma:
                    mode = cursor.fetchone()
        finally:
            cursor.close()
        if ours:
            # a file system without shared memory keeps the rollback journal: its commits
            # may wait for readers, so they go the usual way (sqlite_driver.InlineConnection)
            wal = mode is not None and str(mode[0]).lower() == "wal"
            dbapi_connection._connection.returns_desk_wal = wal
        if path is not None:
            _tighten(path)

    @event.listens_for(sync_engine, "savepoint")
    def _on_savepoint(conn: Connection, name: str | None) -> None:
        ensure_sqlite_transaction(conn)


def ensure_sqlite_transaction(conn: Connection) -> None:
    """Emit ``BEGIN`` on a SQLite connection unless the driver already opened a transaction."""
    if conn.dialect.name != "sqlite":
        return
    if not _sqlite_in_transaction(conn):
        conn.exec_driver_sql("BEGIN")


def _sqlite_in_transaction(conn: Connection) -> bool:
    dbapi_connection: Any = conn.connection.dbapi_connection
    raw = getattr(dbapi_connection, "_connection", dbapi_connection)  # aiosqlite's Connection
    return bool(raw.in_transaction)

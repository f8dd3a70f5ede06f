"""SQLite through aiosqlite in one thread round trip per statement.

aiosqlite runs the sqlite3 connection on a thread of its own, and SQLAlchemy's adapter
awaits it once to make a cursor, once to execute, once to fetch the rows and once to close
the cursor: four hand-overs between the event loop and that thread for a statement SQLite
answers in microseconds. On the bot's hot path (eight statements an update) those hand-overs
cost more than SQLite does. This cursor does the four steps in one function on the thread,
so a statement is one hand-over. Everything else (connections, transactions, errors, the
dialect) is SQLAlchemy's own ``sqlite+aiosqlite``; :func:`core.persistence.engine.create_engine`
passes this module as the engine's DBAPI (``module=``).

It leans on two internals of SQLAlchemy's asyncio adapter (``_execute_mutex``, the cursor's
``_rows``) and on aiosqlite's ``Connection._execute``; SQLAlchemy is pinned below 2.2 in
pyproject.toml, and tests/core/test_persistence.py runs on it.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT


def _run(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> tuple[Any, list[Any], int, int | None]:
    """On aiosqlite's thread: the whole statement, with its rows."""
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
            found = await connection._execute(_run, connection._conn, operation, parameters, many)
        self._description, rows, self._rowcount, self._lastrowid = found
        self._rows = collections.deque(rows)

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


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor  # type: ignore[assignment]


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DBAPI adapter, with :class:`OneTripCursor` cursors."""

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        connection = super().connect(*arg, **kw)
        connection.__class__ = OneTripConnection  # same slots: only the cursor class differs
        return connection


def dbapi() -> OneTripDBAPI:
    return OneTripDBAPI(aiosqlite, sqlite3)

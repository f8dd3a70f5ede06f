"""PostgreSQL through asyncpg, with a transaction begun by the first statement that writes.

SQLAlchemy's asyncpg adapter sends ``BEGIN`` before a unit of work's first statement, whatever
it is, and the unit of work ends with a ``COMMIT`` or a ``ROLLBACK``: two round trips more for
a unit of work that only reads. Most of the bot's do: who wrote, their order, their cases
(about 1.6 of an update's 3.1 units of work in the load benchmark). With this adapter a
statement that only reads (a plain ``SELECT``) runs outside a transaction, until the first
statement that may write (anything else: ``INSERT``, ``UPDATE``, ``DELETE``, ``SAVEPOINT``,
``SELECT … FOR UPDATE``, a ``WITH``) begins it. A unit of work that only read ends without a
round trip. This is what sqlite3's transaction mode does on SQLite (see
:mod:`core.persistence.engine`), so the two databases now behave alike.

A unit of work that is one write (an incoming update stored, a new user's row, a case
number) says so with ``UnitOfWork.one_statement()`` (:func:`run_next_statement_alone`): that
statement runs outside a transaction too and commits by itself, without the ``BEGIN`` and
``COMMIT`` round trips. Only the next statement: the flag is used up by it, and cleared by
the connection's commit or rollback (every unit of work's end), so it never reaches another
unit of work.

Nothing is lost by it: at read committed (PostgreSQL's default; the engine checks what the
server says on connect) every statement of a transaction takes a fresh snapshot, so a read
before ``BEGIN`` sees what it would have seen after it; its lock on the table (against a
concurrent ``ALTER``) lasts for the statement instead of the transaction.
Under another isolation level (repeatable read, serializable: one snapshot for the whole
transaction), in a read-only or deferrable transaction, and for server-side cursors, the
transaction begins at the first statement, as SQLAlchemy's adapter does. So does a SELECT
calling a function whose effect belongs to the transaction (an advisory lock, ``set_config``,
``pg_notify``). The check reads the statement's text: a SELECT of a user-defined function
that writes would run on its own; the application has none.

It leans on SQLAlchemy 2.1's adapter (the connection's ``_transaction`` and
``isolation_level``, the cursor's ``_prepare_and_execute``); pyproject.toml pins SQLAlchemy
to 2.1, and every PostgreSQL test runs on it.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from sqlalchemy.dialects.postgresql.asyncpg import (
    AsyncAdapt_asyncpg_connection,
    AsyncAdapt_asyncpg_cursor,
    AsyncAdapt_asyncpg_dbapi,
)
from sqlalchemy.util import await_

# SELECT … FOR UPDATE / NO KEY UPDATE / SHARE / KEY SHARE: row locks last as long as their
# transaction, so such a read must be in one
_LOCKING_READ = re.compile(r"\bFOR\s+(?:NO\s+KEY\s+)?(?:UPDATE|KEY\s+SHARE|SHARE)\b", re.I)

# functions whose effect lasts until the end of the transaction that called them
_TRANSACTIONAL_CALL = re.compile(
    r"\b(?:pg_advisory\w*|pg_try_advisory\w*|set_config|pg_notify)\s*\(", re.I
)

# the isolation level at which each statement reads a snapshot of its own
PER_STATEMENT_SNAPSHOTS = "read_committed"


@functools.lru_cache(maxsize=2048)
def only_reads(statement: str) -> bool:
    """A plain SELECT: no data-modifying part, no row lock, no transactional function."""
    return (
        statement.lstrip()[:6].upper() == "SELECT"
        and not _LOCKING_READ.search(statement)
        and not _TRANSACTIONAL_CALL.search(statement)
    )


class ReadsOutsideTransactions(AsyncAdapt_asyncpg_cursor):
    __slots__ = ()

    async def _executemany(self, operation: str, seq_of_parameters: Any) -> None:
        # several statements, in a transaction as ever: the flag was for the next statement
        connection = self._adapt_connection
        if isinstance(connection, LazyBeginConnection):
            connection.next_statement_alone = False
        await super()._executemany(operation, seq_of_parameters)

    async def _prepare_and_execute(self, operation: str, parameters: Any) -> None:
        connection = self._adapt_connection
        alone = False
        if isinstance(connection, LazyBeginConnection) and connection.next_statement_alone:
            alone, connection.next_statement_alone = True, False  # the next statement only
        if (
            connection._transaction is None
            and not self.server_side
            and isinstance(connection, LazyBeginConnection)
            and connection.reads_alone()
            and not connection.readonly
            and not connection.deferrable
            and (alone or only_reads(operation))
        ):
            # the adapter begins no transaction in autocommit: this one statement runs alone
            level = connection.isolation_level
            connection.isolation_level = "autocommit"
            try:
                await super()._prepare_and_execute(operation, parameters)
            finally:
                connection.isolation_level = level
            return
        await super()._prepare_and_execute(operation, parameters)


class LazyBeginConnection(AsyncAdapt_asyncpg_connection):
    __slots__ = ("next_statement_alone", "server_reads_per_statement")
    _cursor_cls = ReadsOutsideTransactions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # whether the server's default isolation is read committed: set on connect by
        # core.persistence.engine from what SQLAlchemy read of the server; until then, no
        self.server_reads_per_statement = False
        # the next statement is its unit of work's only one: it commits by itself
        self.next_statement_alone = False

    # a unit of work that ends before its one statement leaves nothing for the next one
    def commit(self) -> None:
        self.next_statement_alone = False
        super().commit()

    def rollback(self) -> None:
        self.next_statement_alone = False
        super().rollback()

    def reads_alone(self) -> bool:
        """Whether each statement reads a snapshot of its own here: read committed, named
        (an execution option, the engine's setting) or the server's default."""
        if self.isolation_level is None:
            return self.server_reads_per_statement
        return bool(self.isolation_level == PER_STATEMENT_SNAPSHOTS)


def reads_per_statement(dbapi_connection: Any) -> bool:
    """Whether each statement on this connection reads a snapshot of its own (read committed,
    named or the server's default); False for a connection of another driver (not known)."""
    return isinstance(dbapi_connection, LazyBeginConnection) and dbapi_connection.reads_alone()


def run_next_statement_alone(dbapi_connection: Any) -> None:
    """The next statement on this connection is its unit of work's only one: outside a
    transaction it runs alone and commits by itself, like a read (no ``BEGIN`` and no
    ``COMMIT``, two round trips fewer). At read committed only, where a statement alone and a
    transaction of that one statement are the same; otherwise, and inside a transaction, it
    runs as any other."""
    if isinstance(dbapi_connection, LazyBeginConnection):
        dbapi_connection.next_statement_alone = True


def has_written(dbapi_connection: Any) -> bool:
    """Whether a unit of work on this connection wrote (or locked rows) since its last commit:
    with this driver, whether it began a transaction."""
    return isinstance(dbapi_connection, LazyBeginConnection) and (
        dbapi_connection._transaction is not None
    )


class LazyBeginDBAPI(AsyncAdapt_asyncpg_dbapi):
    """SQLAlchemy's asyncpg DBAPI module, handing out :class:`LazyBeginConnection`."""

    def connect(self, *arg: Any, **kw: Any) -> LazyBeginConnection:
        # as AsyncAdapt_asyncpg_dbapi.connect, with this module's connection class
        creator_fn = kw.pop("async_creator_fn", self.asyncpg.connect)
        prepared_statement_cache_size = kw.pop("prepared_statement_cache_size", 100)
        prepared_statement_name_func = kw.pop("prepared_statement_name_func", None)
        return await_(  # type: ignore[no-any-return]
            LazyBeginConnection.create(
                self,
                creator_fn(*arg, **kw),
                prepared_statement_cache_size=prepared_statement_cache_size,
                prepared_statement_name_func=prepared_statement_name_func,
            )
        )


def dbapi() -> LazyBeginDBAPI:
    import asyncpg  # only where PostgreSQL is configured

    return LazyBeginDBAPI(asyncpg)

"""Helpers shared by the repositories (dialect-aware inserts, money columns)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Column, Table, insert
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.money import Money


def dialect_name(session: AsyncConnection) -> str:
    return session.dialect.name


ON_CONFLICT_DIALECTS = ("postgresql", "sqlite")  # the ones dialect_insert knows


def dialect_insert(session: AsyncConnection, table: Table) -> Any:
    """``INSERT`` with ``ON CONFLICT`` support for this session's dialect, or None."""
    name = dialect_name(session)
    if name == "postgresql":
        # loaded with the engine's dialect: a process on SQLite never loads it (about 2 MB)
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    return None


# (dialect, table, what) → an INSERT … ON CONFLICT statement, built once (conflict_insert)
_CONFLICT_INSERTS: dict[tuple[str, str, str], Any] = {}


def conflict_insert(
    session: AsyncConnection, table: Table, what: str, build: Callable[[Any], Any]
) -> Any:
    """``build(insert)`` for this session's dialect's ``INSERT`` on ``table`` (which has
    ``ON CONFLICT``), built once per dialect and ``what`` and then reused: on the hot path,
    building a statement costs more CPU than running it."""
    key = (dialect_name(session), table.name, what)
    stmt = _CONFLICT_INSERTS.get(key)
    if stmt is None:
        plain = dialect_insert(session, table)
        if plain is None:  # pragma: no cover - only SQLite and PostgreSQL are supported
            raise RuntimeError(f"{table.name} needs SQLite or PostgreSQL")
        stmt = _CONFLICT_INSERTS[key] = build(plain)
    return stmt


async def insert_ignore(
    session: AsyncConnection,
    table: Table,
    values: dict[str, Any],
    conflict_columns: Sequence[str],
) -> int | None:
    """Insert a row unless it collides on ``conflict_columns``: its id, or None if it existed.

    ``INSERT … ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL (no error, no savepoint; the
    transaction stays usable), a savepoint elsewhere. Other constraint violations (a foreign
    key) still raise.
    """
    id_column: Column[Any] = table.c.id
    if dialect_name(session) in ON_CONFLICT_DIALECTS:
        stmt = conflict_insert(  # the values are its parameters
            session,
            table,
            "ignore " + ",".join(conflict_columns),
            lambda insert: insert.on_conflict_do_nothing(
                index_elements=list(conflict_columns)
            ).returning(id_column),
        )
        return (await session.execute(stmt, values)).scalar_one_or_none()
    try:
        async with session.begin_nested():
            result = await session.execute(insert(table).values(**values).returning(id_column))
            return result.scalar_one()
    except IntegrityError:
        return None


def minor(amount: Money | None, currency: str | None = None) -> int | None:
    """The minor units of an amount, refusing one in another currency than the row's."""
    if amount is None:
        return None
    if currency is not None and amount.currency != currency:
        raise ValueError(f"amount in {amount.currency} on a row in {currency}")
    return amount.minor


def money(minor_units: int | None, currency: str) -> Money | None:
    return None if minor_units is None else Money(minor_units, currency)

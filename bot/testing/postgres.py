"""A fresh PostgreSQL schema for one test or benchmark run: the URL names it as
``?search_path=`` (``core.persistence.engine.with_search_path``), so every engine made from
that URL, in this process or another, sees only it. Dropped afterwards, with what is in it.
A benchmark takes a fresh database instead, where it may (``fresh_database``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from core.persistence.engine import create_engine, with_search_path


@asynccontextmanager
async def fresh_schema(base_url: str, prefix: str) -> AsyncIterator[str]:
    """Yield ``base_url`` on a new schema ``<prefix>_<hex>``; drop the schema afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url)
    try:
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        yield with_search_path(base_url, schema)
    finally:
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.dispose()


@asynccontextmanager
async def fresh_database(base_url: str, prefix: str) -> AsyncIterator[tuple[str, str]]:
    """Yield ``(url, what)``: ``base_url`` on a new database ``<prefix>_<hex>`` made from
    ``template0``, dropped afterwards; or, where the role may not create databases, on a fresh
    schema of the base database (``what`` says which).

    For benchmarks: each database has catalogs of its own. Every schema made and dropped in
    the base database leaves dead rows in its catalogs (``pg_class``, ``pg_attribute``, …),
    and where autovacuum is off, as on the test machines, thousands of test schemas made
    every new connection and statement there slower: PostgreSQL figures measured on a
    database the test suite had used came out a third lower (benchmarks/README.md, eleventh
    round)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        refused = None
        try:
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE template0')
        except DBAPIError as exc:
            refused = str(exc.orig).splitlines()[0]
        if refused is not None:
            async with fresh_schema(base_url, prefix) as url:
                yield url, f"a fresh schema (no database of its own: {refused})"
            return
        try:
            url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
            yield url, f"a fresh database, {name}"
        finally:
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()

"""fresh_database: a benchmark's PostgreSQL database of its own (catalogs with nothing of the
test suite's schemas in them), dropped afterwards; a fresh schema where the role may not
create databases."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.testing.postgres import fresh_database
from core.persistence.engine import create_engine
from tests.conftest import _postgres_url, postgres_in_use

pytestmark = pytest.mark.postgres


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    async with postgres_in_use():
        yield await _postgres_url()


async def _scalar(url: str, sql: str, **params: object) -> object:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar_one()
    finally:
        await engine.dispose()


async def test_a_run_gets_a_database_of_its_own_that_is_dropped_after(base_url: str) -> None:
    marker = f"marker_{uuid.uuid4().hex[:8]}"  # a schema of the base database's
    admin = create_engine(base_url)
    try:
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f'CREATE SCHEMA "{marker}"')
        async with fresh_database(base_url, "check") as (url, what):
            name = make_url(url).database
            assert name is not None and name.startswith("check_")
            assert what == f"a fresh database, {name}"
            assert await _scalar(url, "SELECT current_database()") == name
            # made from template0: nothing of the base database came along
            there = "SELECT count(*) FROM pg_namespace WHERE nspname = :marker"
            assert await _scalar(url, there, marker=marker) == 0
            assert await _scalar(base_url, there, marker=marker) == 1
    finally:
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{marker}"')
        await admin.dispose()
    gone = "SELECT count(*) FROM pg_database WHERE datname = :name"
    assert await _scalar(base_url, gone, name=name) == 0


async def test_without_the_right_to_create_databases_a_run_gets_a_schema(base_url: str) -> None:
    role = f"no_createdb_{uuid.uuid4().hex[:8]}"
    database = make_url(base_url).database
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
            await conn.exec_driver_sql(f'GRANT CREATE ON DATABASE "{database}" TO "{role}"')
        limited = make_url(base_url).set(username=role).render_as_string(hide_password=False)
        async with fresh_database(limited, "check") as (url, what):
            schema = make_url(url).query["search_path"]
            assert make_url(url).database == database
            assert what.startswith("a fresh schema (no database of its own: permission denied")
            assert await _scalar(url, "SELECT current_schema()") == schema
        left = "SELECT count(*) FROM pg_namespace WHERE nspname = :schema"
        assert await _scalar(base_url, left, schema=schema) == 0
    finally:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'REVOKE CREATE ON DATABASE "{database}" FROM "{role}"')
            await conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        await admin.dispose()

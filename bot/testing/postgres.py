"""A fresh PostgreSQL schema for one test or benchmark run: the URL names it as
``?search_path=`` (``core.persistence.engine.with_search_path``), so every engine made from
that URL, in this process or another, sees only it. Dropped afterwards, with what is in it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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

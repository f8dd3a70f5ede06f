"""Fixtures for the use-case tests: a core context on the test database (SQLite and
PostgreSQL, from the top-level ``engine`` fixture), with the clock pinned to the sample date."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import FixedClock
from core.services.context import CoreContext
from tests.core.factories import NOW, import_samples, make_context


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def empty_ctx(engine: AsyncEngine, tmp_path: Path, clock: FixedClock) -> CoreContext:
    """A core context on an empty order book."""
    return make_context(engine, tmp_path / "evidence", clock)


@pytest.fixture
async def ctx(empty_ctx: CoreContext) -> CoreContext:
    """A core context with the 17 sample orders imported through the import service."""
    await import_samples(empty_ctx)
    return empty_ctx


@pytest.fixture
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every statement the test database runs from now on (the text sent to the driver)."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine.sync_engine, "before_cursor_execute", record)

"""Fixtures for the use-case tests: a core context on the test database (SQLite and
PostgreSQL, from the top-level ``engine`` fixture), with the clock pinned to the sample date."""

from __future__ import annotations

from pathlib import Path

import pytest
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

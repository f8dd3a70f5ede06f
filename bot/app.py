"""Composition: settings → configuration, database, evidence store → the core context.

The same wiring serves the CLI, the bot, the demo and the tests.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from core.clock import Clock, SystemClock
from core.persistence.engine import create_engine, create_session_factory
from core.persistence.migrate import upgrade
from core.persistence.unit_of_work import UnitOfWork
from core.policy.config import Config, load_config
from core.services.context import CoreContext
from core.services.evidence_store import EvidenceStore


@dataclass
class App:
    settings: Settings
    config: Config
    engine: AsyncEngine
    core: CoreContext


@asynccontextmanager
async def open_app(
    settings: Settings, *, clock: Clock | None = None, migrate: bool | None = None
) -> AsyncIterator[App]:
    """Everything the product needs, opened and closed together.

    The embedded SQLite database is created and migrated on first use; a PostgreSQL database
    is migrated with ``returns-desk db upgrade`` (one process migrates, not every worker).
    """
    config = load_config(settings.config_file)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(str(settings.database_url))
    try:
        if migrate if migrate is not None else settings.is_sqlite:
            await upgrade(engine)
        session_factory = create_session_factory(engine)
        core = CoreContext(
            config=config,
            unit_of_work=lambda: UnitOfWork(session_factory),
            evidence=EvidenceStore(
                settings.evidence_dir, max_bytes=config.deployment.evidence_max_bytes
            ),
            clock=clock or SystemClock(),
            # one process per SQLite database: it may remember who it talked to
            known_users=OrderedDict() if settings.is_sqlite else None,
        )
        yield App(settings, config, engine, core)
    finally:
        await engine.dispose()

"""Composition: settings → configuration, database, evidence store → the core context.

The same wiring serves the CLI, the bot, the demo and the tests.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings, sqlite_path
from core.clock import Clock, SystemClock
from core.persistence.engine import create_engine, create_session_factory
from core.persistence.migrate import upgrade
from core.persistence.unit_of_work import UnitOfWork
from core.policy.config import SAMPLE_CONFIG, Config, load_config
from core.services.context import CoreContext
from core.services.evidence_store import EvidenceStore


@dataclass
class App:
    settings: Settings
    config: Config
    engine: AsyncEngine
    core: CoreContext


class NoDatabase(LookupError):
    """A command that only reads found no database: it creates none."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            f"No database yet: {sqlite_path(settings)} is not there (data directory "
            f"{settings.data_dir.resolve()}). `returns-desk db upgrade` or `import-orders` "
            "creates it; or run this where DATA_DIR / DATABASE_URL point at yours."
        )


def database_exists(settings: Settings) -> bool:
    """False only for an embedded SQLite database whose file is not there yet."""
    path = sqlite_path(settings)
    return path is None or path.exists()


@asynccontextmanager
async def open_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    migrate: bool | None = None,
    create: bool = True,
    config: Config | None = None,
) -> AsyncIterator[App]:
    """Everything the product needs, opened and closed together.

    The embedded SQLite database is created and migrated on first use; a PostgreSQL database
    is migrated with ``returns-desk db upgrade`` (one process migrates, not every worker).
    With ``create=False`` (commands that only read) nothing is created or migrated: a missing
    SQLite database raises :class:`NoDatabase`. ``config``: already loaded, else read here.
    """
    config = config if config is not None else load_config(settings.config_file)
    if not create:
        if not database_exists(settings):
            raise NoDatabase(settings)
        migrate = False
    else:
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


def core_without_database(settings: Settings, config: Config | None = None) -> CoreContext:
    """The core for a command that needs the configuration only (signing an invitation):
    no database is opened, or created."""

    def no_unit_of_work() -> UnitOfWork:
        raise RuntimeError("this command has no database")

    config = config if config is not None else load_config(settings.config_file)
    return CoreContext(
        config=config,
        unit_of_work=no_unit_of_work,
        evidence=EvidenceStore(
            settings.evidence_dir, max_bytes=config.deployment.evidence_max_bytes
        ),
    )


@cache
def _sample() -> Config:
    return load_config(SAMPLE_CONFIG)


def sample_values(config: Config) -> tuple[list[str], str | None]:
    """What ``config`` keeps of the bundled sample's published values: the shops whose
    ``link_secret`` is one of the sample's (or still says change-me), and the sample's
    ``bot_username`` when it is the same. A copy of the sample is found as well as the
    sample itself."""
    sample = _sample()
    published = {shop.link_secret for shop in sample.shops.values()}
    shops = [
        shop_id
        for shop_id, shop in config.shops.items()
        if shop.link_secret in published or "change-me" in shop.link_secret.lower()
    ]
    name = config.deployment.bot_username.lstrip("@")
    same_name = name.lower() == sample.deployment.bot_username.lower()
    return shops, (name if same_name else None)

"""Run the Alembic migrations programmatically (no alembic.ini needed).

    await upgrade(engine)               # to head
    await downgrade(engine, "base")
    await current_revision(engine)      # "0001" or None

The sync Alembic command runs inside ``AsyncConnection.run_sync``; ``migrations/env.py`` takes
the connection from ``config.attributes["connection"]``.

On SQLite the migration runs in one transaction (SQLite has transactional DDL; the driver
just does not open the transaction by itself), with foreign keys off so that batch mode's
"copy the table, drop the old one" cannot cascade deletes; ``PRAGMA foreign_key_check`` runs
before the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from core.persistence.engine import create_engine, ensure_sqlite_transaction

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config built in code; ``url`` only matters for the ``alembic`` CLI path."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade(engine_or_url: AsyncEngine | str | URL, revision: str = "head") -> None:
    await _run(engine_or_url, lambda config: command.upgrade(config, revision))


async def downgrade(engine_or_url: AsyncEngine | str | URL, revision: str) -> None:
    await _run(engine_or_url, lambda config: command.downgrade(config, revision))


async def current_revision(engine_or_url: AsyncEngine | str | URL) -> str | None:
    engine, owned = _engine(engine_or_url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
            )
    finally:
        if owned:
            await engine.dispose()


def _engine(engine_or_url: AsyncEngine | str | URL) -> tuple[AsyncEngine, bool]:
    if isinstance(engine_or_url, AsyncEngine):
        return engine_or_url, False
    return create_engine(engine_or_url), True


async def _run(engine_or_url: AsyncEngine | str | URL, step: Callable[[Config], None]) -> None:
    engine, owned = _engine(engine_or_url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run_sync, step)
    finally:
        if owned:
            await engine.dispose()


def _run_sync(conn: Connection, step: Callable[[Config], None]) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    sqlite = conn.dialect.name == "sqlite"
    if not sqlite:
        step(config)
        conn.commit()
        return
    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: do it first
    try:
        ensure_sqlite_transaction(conn)
        step(config)
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"migration left rows violating foreign keys: {broken[:5]}")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        conn.commit()

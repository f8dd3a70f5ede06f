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

Alembic is imported only when a migration has to run. A process that opens a database
already at the head (every start of the bot after the first, every CLI command) compares
the ``alembic_version`` row with the head read from the revision files' own ``revision`` /
``down_revision`` assignments (parsed with ``ast``, not run), without importing Alembic and
its migration scripts: about 12 MB of memory and a third of a second per start
(benchmarks/README.md).
"""

from __future__ import annotations

import ast
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from core.persistence.engine import create_engine, ensure_sqlite_transaction

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Alembic's "setup plugin …" lines as it is imported (now after logging is set up) tell a
# seller nothing; its "Running upgrade …" lines stay
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
VERSION_TABLE = "alembic_version"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config built in code; ``url`` only matters for the ``alembic`` CLI path."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@functools.cache
def head_revision() -> str | None:
    """The newest revision, read from the revision files (see the module); Alembic's own
    answer when they do not form one line (tests/core/test_migrations.py holds them equal)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = _assigned(path, ("revision", "down_revision"))
        revision, down = found.get("revision"), found.get("down_revision", "missing")
        if not isinstance(revision, str) or not (down is None or isinstance(down, str)):
            return alembic_head_revision()  # a merge (a tuple), or not plainly written
        revisions.add(revision)
        if down is not None:
            parents.add(down)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else alembic_head_revision()


def _assigned(path: Path, names: tuple[str, ...]) -> dict[str, object]:
    """The constant values a module assigns to ``names`` at its top level (``x = "…"`` or
    ``x: str = "…"``), read with ``ast``: nothing is imported or run."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets: list[ast.expr]
        if isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in names and value is not None:
                try:
                    found[target.id] = ast.literal_eval(value)
                except ValueError:
                    found[target.id] = value  # not a constant: the caller falls back
    return found


def alembic_head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade(engine_or_url: AsyncEngine | str | URL, revision: str = "head") -> None:
    engine, owned = _engine(engine_or_url)
    try:
        if revision == "head" and await current_revision(engine) == head_revision():
            return  # nothing to do: Alembic stays unimported
        from alembic import command

        await _run(engine, lambda config: command.upgrade(config, revision))
    finally:
        if owned:
            await engine.dispose()


async def downgrade(engine_or_url: AsyncEngine | str | URL, revision: str) -> None:
    from alembic import command

    await _run(engine_or_url, lambda config: command.downgrade(config, revision))


async def current_revision(engine_or_url: AsyncEngine | str | URL) -> str | None:
    """The database's revision, or None before the first migration."""
    engine, owned = _engine(engine_or_url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_current_revision)
    finally:
        if owned:
            await engine.dispose()


def _current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:  # branches merged in one database: Alembic says which is current
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(conn).get_current_revision()
    return rows[0] if rows else None


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

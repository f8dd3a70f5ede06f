"""The Alembic migrations run up, down and up again, and build exactly the ORM's schema."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from core.persistence.engine import create_engine
from core.persistence.migrate import (
    _assigned,
    alembic_config,
    alembic_head_revision,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from core.persistence.tables import metadata

ROOT = Path(__file__).resolve().parents[2]


def _schema_diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    return compare_metadata(context, metadata)


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_migrations_run_up_down_up_and_match_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()

        await downgrade(engine, "base")
        assert await current_revision(engine) is None
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) <= {"alembic_version"}

        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) >= set(metadata.tables)
            assert await conn.run_sync(_schema_diff) == []
    finally:
        await engine.dispose()


def test_the_head_read_from_the_revision_files_is_alembic_s() -> None:
    assert head_revision() == alembic_head_revision() is not None


async def test_a_database_at_the_head_is_opened_without_importing_alembic(
    database_url: str, tmp_path: Path
) -> None:
    """The bot and every command open the database through ``upgrade``: once it is at the
    head, that is one SELECT, and Alembic (12 MB, a third of a second) stays unimported."""
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    script = (
        "import asyncio, sys\n"
        "from core.persistence.migrate import upgrade, current_revision\n"
        f"asyncio.run(upgrade({database_url!r}))\n"
        f"print(asyncio.run(current_revision({database_url!r})))\n"
        "print('alembic' in sys.modules)\n"
    )
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [head_revision(), "False"]


async def test_every_revision_steps_down_and_up_again(database_url: str) -> None:
    """The "stairway": each revision's downgrade undoes exactly its upgrade."""
    script = ScriptDirectory.from_config(alembic_config())
    revisions = list(reversed(list(script.walk_revisions())))
    assert revisions, "no migrations found"
    engine = create_engine(database_url)
    try:
        for revision in revisions:
            await upgrade(engine, revision.revision)
            await downgrade(engine, revision.down_revision or "base")
            await upgrade(engine, revision.revision)
            assert await current_revision(engine) == revision.revision
    finally:
        await engine.dispose()


async def test_open_case_lines_have_a_partial_unique_index(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("case_lines"))
        (index,) = [i for i in indexes if i["name"] == "uq_case_lines_open_order_line_id"]
        assert index["unique"]
        assert index["column_names"] == ["order_line_id"]
        where = index.get("dialect_options", {})
        assert any("is_open" in str(value) for key, value in where.items() if "where" in key)
    finally:
        await engine.dispose()


async def test_upgrade_accepts_a_url_and_creates_the_sqlite_directory(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'dir' / 'bot.db'}"
    await upgrade(url)
    assert (tmp_path / "nested" / "dir" / "bot.db").exists()
    assert await current_revision(url) == head_revision()


def test_revision_lines_are_read_as_python_not_as_text(tmp_path: Path) -> None:
    """Either spelling Alembic's templates used, a docstring that quotes one, and a merge
    (a tuple: ``head_revision`` then asks Alembic)."""
    plain = tmp_path / "a.py"
    plain.write_text('"""revision = "nope"\n\nrevision: x = "bad"\n"""\nrevision = "0013"\n')
    annotated = tmp_path / "b.py"
    annotated.write_text('revision: str = "0014"\ndown_revision: str | None = (\n    "0013"\n)\n')
    merge = tmp_path / "c.py"
    merge.write_text('revision = "0015"\ndown_revision = ("0013", "0014")\n')
    names = ("revision", "down_revision")
    assert _assigned(plain, names) == {"revision": "0013"}
    assert _assigned(annotated, names) == {"revision": "0014", "down_revision": "0013"}
    assert _assigned(merge, names) == {"revision": "0015", "down_revision": ("0013", "0014")}

"""``returns-desk claims list|export`` through the real command line (click's runner,
in-process) on an embedded SQLite database with the sample orders and one approved case."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.__main__ import cli
from core.clock import FixedClock
from core.persistence.engine import create_engine
from core.persistence.migrate import upgrade
from tests.core.factories import NOW, damaged_lamp, import_samples, make_context


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    data = tmp_path / "data"
    data.mkdir()

    async def prepare() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{data / 'returns-desk.sqlite3'}")
        try:
            await upgrade(engine)
            ctx = make_context(engine, data / "evidence", FixedClock(NOW))
            await import_samples(ctx)
            await damaged_lamp(ctx)  # approved at once: a claim on sz-bright
        finally:
            await engine.dispose()

    asyncio.run(prepare())
    return {"DATA_DIR": str(data)}


def _run(env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_claims_list_and_export_write_the_suppliers_zip(
    env: dict[str, str], tmp_path: Path
) -> None:
    listed = _run(env, "claims", "list")
    assert listed.exit_code == 0, listed.output
    [line] = [row for row in listed.stdout.splitlines() if "R-2611-0001" in row]
    assert "sz-bright\tdraft\t39.90 EUR" in line and "deadline 2026-11-27" in line

    out = tmp_path / "claims.zip"
    # the command line runs on today's clock: the sample case is older than a week
    exported = _run(env, "claims", "export", "sz-bright", "--days", "366", "--out", str(out))
    assert exported.exit_code == 0, exported.output
    assert "Wrote 1 claim(s) for sz-bright" in exported.stdout
    names = zipfile.ZipFile(io.BytesIO(out.read_bytes())).namelist()
    assert {"message-zh.txt", "message-en.txt", "claims.csv", "manifest.json"} <= set(names)

    nothing = _run(env, "claims", "export", "yw-textile", "--days", "366", "--out", str(out))
    assert nothing.exit_code == 2 and "error" in nothing.stderr
    other = _run(env, "claims", "list", "--shop", "nowhere")
    assert other.exit_code == 2

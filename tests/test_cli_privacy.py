"""`returns-desk privacy export | erase | report` as the shop runs them (a real subprocess on a
database prepared through the core), the database and evidence files readable by their owner
only whatever the umask, and `config check` never printing a password."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

from core.clock import FixedClock
from core.persistence.engine import create_engine
from core.persistence.migrate import upgrade
from core.services.privacy import personal_data
from tests.core.factories import (
    DMITRI,
    LUCIA,
    NOW,
    earbud_for_seller,
    import_samples,
    link,
    make_context,
)

DB_NAME = "returns-desk.sqlite3"


def _command() -> list[str]:
    script = Path(sys.executable).parent / "returns-desk"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ)
    environ["DATA_DIR"] = str(tmp_path / "data")
    environ.update(env)
    return subprocess.run(
        [*_command(), *args],
        cwd=tmp_path,
        env=environ,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


async def _prepare(tmp_path: Path) -> str:
    """The sample orders; Dmitri's open earbud case; Lucia linked to AUR-10021, no case."""
    data = tmp_path / "data"
    engine = create_engine(f"sqlite+aiosqlite:///{data / DB_NAME}")
    try:
        await upgrade(engine)
        ctx = make_context(engine, data / "evidence", FixedClock(NOW))
        await import_samples(ctx)
        case = await earbud_for_seller(ctx, DMITRI)
        await link(ctx, LUCIA, "AUR-10021")
        return case.number
    finally:
        await engine.dispose()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_export_erase_and_report_through_the_cli(tmp_path: Path) -> None:
    number = await _prepare(tmp_path)
    out = tmp_path / "dmitri.zip"

    exported = cli(tmp_path, "privacy", "export", "--telegram-id", str(DMITRI), "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    archive = zipfile.ZipFile(io.BytesIO(out.read_bytes()))
    case = json.loads(archive.read(f"cases/{number}.json"))
    assert case["description"] == "The left earbud does not turn on"
    assert _mode(out) == 0o600

    refused = cli(tmp_path, "privacy", "erase", "--telegram-id", str(DMITRI))
    assert refused.returncode != 0 and "--yes" in refused.stderr

    held = cli(tmp_path, "privacy", "erase", "--telegram-id", str(DMITRI), "--yes")
    assert held.returncode == 0, held.stderr
    assert f"case {number} is open" in held.stdout

    by_email = cli(tmp_path, "privacy", "erase", "--order", "AUR-10021", "--yes")
    assert by_email.returncode == 0, by_email.stderr
    assert f"{LUCIA}: erased." in by_email.stdout

    report = cli(tmp_path, "privacy", "report")
    assert report.returncode == 0, report.stderr
    assert "Pending erasures: 1" in report.stdout
    assert f"{DMITRI}: due" in report.stdout and f"open_case {number}" in report.stdout
    assert "orders (buyer details):" in report.stdout and "Next purge removes:" in report.stdout

    db = sqlite3.connect(tmp_path / "data" / DB_NAME)
    try:
        rows = db.execute(
            "SELECT telegram_id, requested_by, done_at FROM erasure_requests"
        ).fetchall()
        lucia = db.execute(
            "SELECT buyer_name, buyer_email FROM orders WHERE number = 'AUR-10021'"
        ).fetchone()
        description = db.execute("SELECT description FROM cases").fetchone()[0]
    finally:
        db.close()
    assert {(r[0], r[1], r[2] is None) for r in rows} == {
        (DMITRI, "shop", True),
        (LUCIA, "shop", False),
    }
    assert lucia == ("erased", None)
    assert description == "The left earbud does not turn on"  # held: the case is open


async def test_the_database_and_evidence_are_private_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        data = tmp_path / "data"
        engine = create_engine(f"sqlite+aiosqlite:///{data / DB_NAME}")
        try:
            await upgrade(engine)
            ctx = make_context(engine, data / "evidence", FixedClock(NOW))
            await import_samples(ctx)  # writes: the WAL and shared-memory files exist now
            stored = ctx.evidence.put_bytes(b"a photo of a broken lamp")
            await personal_data(ctx, ctx_actor(), DMITRI)
            assert (data / f"{DB_NAME}-wal").exists() and (data / f"{DB_NAME}-shm").exists()
            for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm"):
                assert _mode(data / name) == 0o600, name
        finally:
            await engine.dispose()
        assert _mode(data / "evidence") == 0o700
        assert _mode(stored.path) == 0o600
        assert _mode(stored.path.parent) == 0o700 and _mode(stored.path.parent.parent) == 0o700
    finally:
        os.umask(previous)


def ctx_actor():
    from core.cases.model import Actor

    return Actor.system()


def test_config_check_masks_passwords(tmp_path: Path) -> None:
    result = cli(
        tmp_path,
        "config",
        "check",
        DATABASE_URL="postgresql+asyncpg://desk:s3cret-pw@db.example:5432/returns",
        REDIS_URL="redis://:r3dis-pw@cache.example:6379/0",
    )

    assert result.returncode == 0, result.stderr
    shown = result.stdout + result.stderr
    assert "s3cret-pw" not in shown and "r3dis-pw" not in shown
    assert "desk:***@db.example" in shown and ":***@cache.example" in shown

"""The ``returns-desk`` command as a user runs it: a real subprocess per command.

Each test has its own ``DATA_DIR`` under ``tmp_path``, a clean environment (none of the
developer's settings leak in) and runs in ``tmp_path`` (no ``.env`` is picked up). The tests
check what the user sees (stdout, stderr, exit code) and what was stored (the SQLite file,
opened with :mod:`sqlite3` afterwards). Independent commands run side by side to keep the file
fast (each process starts in about 0.7 s).
"""

from __future__ import annotations

import csv
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from core.persistence.migrate import head_revision
from core.policy.config import load_config
from core.services.link_tokens import verify_order_token

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "core" / "sample"
SAMPLE_JSON = SAMPLE / "orders.sample.json"
SAMPLE_CSV = SAMPLE / "orders.sample.csv"
SAMPLE_SHOPIFY = SAMPLE / "shopify-orders-export.sample.csv"
SAMPLE_CONFIG = SAMPLE / "shops.toml"
DB_NAME = "returns-desk.sqlite3"


def _command() -> list[str]:
    script = Path(sys.executable).parent / "returns-desk"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "bot"]


COMMAND = _command()


class Run:
    """One command: its arguments, and where and with what settings it runs."""

    def __init__(self, tmp_path: Path, args: Sequence[str | Path], **env: str) -> None:
        self.args = [*COMMAND, *(str(a) for a in args)]
        self.cwd = tmp_path
        self.env = dict(os.environ)  # no setting of the developer's: tests/conftest.py
        self.env["DATA_DIR"] = str(tmp_path / "data")
        self.env.update(env)

    def start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.args,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )


class Result:
    def __init__(self, args: list[str], code: int, out: str, err: str) -> None:
        self.args, self.code, self.out, self.err = args, code, out, err

    def __repr__(self) -> str:  # shown when an assertion fails
        command = " ".join(self.args[1:])
        return f"<{command}: exit {self.code}\nstdout: {self.out}\nstderr: {self.err}>"


def run_all(*runs: Run) -> list[Result]:
    """Run independent commands concurrently; results in the given order."""
    processes = [(run, run.start()) for run in runs]
    results = []
    for run, process in processes:
        try:
            out, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
        results.append(Result(run.args, process.returncode, out, err))
    for result in results:
        assert "Traceback" not in result.err, result
    return results


def cli(tmp_path: Path, *args: str | Path, **env: str) -> Result:
    (result,) = run_all(Run(tmp_path, args, **env))
    return result


def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / DB_NAME


def query(tmp_path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    path = db_path(tmp_path)
    assert path.exists(), f"no database at {path}"
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def order_count(tmp_path: Path) -> int:
    return int(query(tmp_path, "SELECT count(*) FROM orders")[0][0])  # type: ignore[call-overload]


def tables(tmp_path: Path) -> set[str]:
    rows = query(tmp_path, "SELECT name FROM sqlite_master WHERE type = 'table'")
    return {str(name) for (name,) in rows}


# --- the database ---------------------------------------------------------------------------


def test_first_run_creates_and_migrates_the_database_and_reimport_changes_nothing(
    tmp_path: Path,
) -> None:
    assert not (tmp_path / "data").exists()

    first = cli(tmp_path, "import-orders", SAMPLE_JSON, "--quiet")
    assert first.code == 0, first
    assert "17 new, 0 updated, 0 unchanged" in first.out, first
    assert db_path(tmp_path).is_file()

    current, again = run_all(
        Run(tmp_path, ["db", "current"]),
        Run(tmp_path, ["import-orders", SAMPLE_JSON, "--quiet"]),
    )
    assert current.code == 0, current
    assert current.out.strip() == head_revision()
    assert again.code == 0, again
    assert "Imported 17 orders" in again.out
    assert "0 new, 0 updated, 17 unchanged" in again.out, again

    assert order_count(tmp_path) == 17
    assert query(tmp_path, "SELECT count(*) FROM import_runs")[0][0] == 2


def test_db_downgrade_to_base_then_upgrade(tmp_path: Path) -> None:
    up = cli(tmp_path, "db", "upgrade")
    assert up.code == 0, up
    assert f"revision {head_revision()}" in up.out
    assert "orders" in tables(tmp_path)

    down = cli(tmp_path, "db", "downgrade", "base", "--yes")
    assert down.code == 0, down
    assert "base" in down.out and "None" not in down.out, down
    assert tables(tmp_path) <= {"alembic_version"}

    again = cli(tmp_path, "db", "upgrade")
    assert again.code == 0, again
    assert f"revision {head_revision()}" in again.out
    assert order_count(tmp_path) == 0

    unknown = cli(tmp_path, "db", "downgrade", "0042", "--yes")
    assert unknown.code == 2, unknown
    assert unknown.err.splitlines()[-1].startswith("error:") and "0042" in unknown.err, unknown
    assert order_count(tmp_path) == 0  # still at head


# --- importing ------------------------------------------------------------------------------


def test_shopify_export_needs_a_shop(tmp_path: Path) -> None:
    refused = cli(tmp_path, "import-orders", SAMPLE_SHOPIFY, "--quiet")
    assert refused.code == 2, refused
    assert SAMPLE_SHOPIFY.name in refused.err
    assert "--shop" in refused.err, refused
    assert refused.out == ""

    imported = cli(tmp_path, "import-orders", SAMPLE_SHOPIFY, "--shop", "lumen", "--quiet")
    assert imported.code == 0, imported
    assert "[shopify-csv]" in imported.out
    assert "5 new, 0 updated, 0 unchanged" in imported.out, imported
    assert query(tmp_path, "SELECT shop, count(*) FROM orders GROUP BY shop") == [("lumen", 5)]


def _broken_copy(tmp_path: Path, *, bad_row: int) -> tuple[Path, int]:
    """The sample CSV with every order renumbered (so all of it would be new) and one bad
    price on data row ``bad_row``; returns the file and the physical line of the bad row."""
    with SAMPLE_CSV.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == len(SAMPLE_CSV.read_text(encoding="utf-8").splitlines())  # 1 row/line
    header = rows[0]
    number, price = header.index("number"), header.index("unit_price")
    for row in rows[1:]:
        row[number] = "X" + row[number]
    rows[bad_row][price] = "12.3x"
    path = tmp_path / "broken-orders.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return path, bad_row + 1


def test_native_csv_imports_and_a_broken_copy_is_refused_whole(tmp_path: Path) -> None:
    imported = cli(tmp_path, "import-orders", SAMPLE_CSV, "--quiet")
    assert imported.code == 0, imported
    assert "[native-csv]" in imported.out
    assert "17 new" in imported.out, imported
    assert order_count(tmp_path) == 17

    broken, line = _broken_copy(tmp_path, bad_row=10)
    refused = cli(tmp_path, "import-orders", broken, "--quiet")
    assert refused.code == 2, refused
    assert refused.out == ""
    assert broken.name in refused.err
    assert f"line {line}" in refused.err
    assert "unit_price" in refused.err
    assert "12.3x" in refused.err
    # Nothing of the file was kept: not the good rows before the bad one, not the import run.
    assert order_count(tmp_path) == 17
    assert query(tmp_path, "SELECT count(*) FROM orders WHERE number LIKE 'X%'")[0][0] == 0
    assert query(tmp_path, "SELECT count(*) FROM import_runs")[0][0] == 1


# --- links ----------------------------------------------------------------------------------


def test_link_prints_a_deep_link_and_refuses_an_unknown_order(tmp_path: Path) -> None:
    imported = cli(tmp_path, "import-orders", SAMPLE_JSON, "--quiet")
    assert imported.code == 0, imported

    link, unknown = run_all(
        Run(tmp_path, ["link", "AUR-10021"]),
        Run(tmp_path, ["link", "AUR-99999"]),
    )
    assert link.code == 0, link
    match = re.fullmatch(r"https://t\.me/ReturnsDeskBot\?start=(\S+)", link.out.strip())
    assert match, link
    payload = match.group(1)
    assert len(payload) <= 64
    assert re.fullmatch(r"[A-Za-z0-9_-]+", payload)  # what Telegram accepts in /start
    config = load_config(None)
    shop, key = verify_order_token(payload, lambda s: config.shops[s].link_secret)
    assert (shop, key) == ("aurora", "AUR10021")

    assert unknown.code == 2, unknown
    assert unknown.out == ""
    assert "AUR-99999" in unknown.err and "no such order" in unknown.err, unknown


# --- configuration and settings -------------------------------------------------------------


def test_config_check_on_the_sample_and_a_misspelt_key(tmp_path: Path) -> None:
    misspelt = tmp_path / "my-shops.toml"
    text = SAMPLE_CONFIG.read_text(encoding="utf-8")
    assert "\ncase_prefix = " in text
    misspelt.write_text(text.replace("\ncase_prefix = ", "\ncase_prefx = "), encoding="utf-8")

    sample, bad_check, bad_import = run_all(
        Run(tmp_path, ["config", "check"]),
        Run(tmp_path, ["config", "check"], CONFIG_FILE=str(misspelt)),
        Run(tmp_path, ["import-orders", SAMPLE_JSON, "--quiet"], CONFIG_FILE=str(misspelt)),
    )
    assert sample.code == 0, sample
    shops = [line for line in sample.out.splitlines() if line.startswith("- ")]
    assert [line.split(":")[0] for line in shops] == ["- aurora", "- nova", "- lumen"], sample
    assert "Aurora Home & Living" in sample.out and "Lumen Beauty" in sample.out

    for result in (bad_check, bad_import):
        assert result.code == 2, result
        assert "my-shops.toml" in result.err
        assert "case_prefx" in result.err, result
    assert not db_path(tmp_path).exists()  # a bad configuration stops before the database


WRONG_SETTINGS = [
    ("DATABASE_URL", "mysql://x", ["db", "current"]),
    ("LOG_LEVEL", "LOUD", ["db", "current"]),
    ("BOT_TOKEN", "abc", ["config", "check"]),
    ("WEBHOOK_SECRET", "short", ["config", "check"]),
    ("WEBHOOK_LISTEN", "nowhere", ["config", "check"]),
    ("WEBHOOK_URL", "bot.example.com", ["config", "check"]),
]


def test_wrong_settings_and_database_trouble_are_one_clean_line(tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    corrupt = tmp_path / "corrupt"
    db_path(corrupt).parent.mkdir(parents=True)
    db_path(corrupt).write_bytes(b"these are not the bytes of a SQLite database\n" * 50)
    *wrong, leak, not_a_db, unreachable = run_all(
        *(Run(tmp_path, command, **{name: value}) for name, value, command in WRONG_SETTINGS),
        Run(clean, ["config", "check"]),
        Run(corrupt, ["link", "AUR-10021"]),
        Run(tmp_path, ["db", "current"], DATABASE_URL="postgresql+asyncpg://u@127.0.0.1:1/x"),
    )
    for (name, _, _), result in zip(WRONG_SETTINGS, wrong, strict=True):
        assert result.code == 2, result
        assert result.out == ""
        assert result.err.startswith(f"error: {name}:"), result
        assert len(result.err.strip().splitlines()) == 1, result
    assert leak.code == 0, leak
    assert f"Database: sqlite+aiosqlite:///{db_path(clean).resolve()}" in leak.out, leak

    # Database trouble is one line and exit 2 too, not a traceback.
    assert not_a_db.code == 2, not_a_db
    assert not_a_db.err.splitlines()[0].startswith("Database: SQLite"), not_a_db  # then:
    last = not_a_db.err.splitlines()[-1]
    assert last.startswith("error: database") and "not a database" in last, not_a_db
    assert unreachable.code == 2, unreachable
    assert "cannot connect to the database (DATABASE_URL)" in unreachable.err, unreachable


# --- running, and the inbox of updates --------------------------------------------------------

TOKEN = "4242:" + "x" * 35


def test_run_refuses_what_it_cannot_work_with_in_one_line(tmp_path: Path) -> None:
    no_hook, no_redis = run_all(
        Run(tmp_path, ["run", "--webhook"], BOT_TOKEN=TOKEN),
        Run(
            tmp_path,
            ["run", "--sample-config"],
            BOT_TOKEN=TOKEN,
            REDIS_URL="redis://127.0.0.1:1/0",
        ),
    )
    assert no_hook.code == 2 and no_hook.err.startswith("error: WEBHOOK_URL: required"), no_hook
    assert no_redis.code == 2, no_redis  # after the start-up log lines, one clear line
    assert no_redis.err.strip().splitlines()[-1].startswith("error: REDIS_URL: cannot connect")


def test_parked_updates_are_listed_and_queued_again(tmp_path: Path) -> None:
    assert cli(tmp_path, "db", "upgrade").code == 0
    update = '{"update_id": 77, "message": {"chat": {"id": 5}, "text": "/start"}}'
    conn = sqlite3.connect(db_path(tmp_path))
    with conn:
        conn.execute(
            "INSERT INTO inbox_updates (update_id, chat_key, payload, status, attempts,"
            " received_at, next_attempt_at, finished_at, last_error) VALUES"
            " (77, 5, ?, 'parked', 5, '2026-11-22 10:00:00', '2026-11-22 10:00:00',"
            " '2026-11-22 10:01:00', 'OperationalError: database is locked')",
            (update,),
        )
    conn.close()
    before = cli(tmp_path, "updates", "status")
    assert before.out.splitlines()[0] == "pending: 0, processing: 0, done: 0, parked: 1", before
    listed = cli(tmp_path, "updates", "parked")
    assert listed.code == 0
    assert "77  2026-11-22 10:00  chat 5  message  attempts 5  OperationalError" in listed.out
    nothing = cli(tmp_path, "updates", "retry")
    assert nothing.code == 2 and "--all" in nothing.err
    again = cli(tmp_path, "updates", "retry", "--all")
    assert again.out.strip() == "1 update(s) queued again.", again
    assert query(tmp_path, "SELECT status, attempts FROM inbox_updates") == [("pending", 0)]
    assert cli(tmp_path, "updates", "parked").out.strip() == "No parked updates."

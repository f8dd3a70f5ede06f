"""``returns-desk stats``, ``import-costs`` and ``cost record`` through the real command line
(click's runner, in-process) on an embedded SQLite database holding the generated book."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.__main__ import cli
from core.persistence.engine import create_engine
from core.persistence.migrate import upgrade
from tests.stats.book import build, make_context

CONFIG_TOML = """
[deployment]
bot_username = "StatsTestBot"

[suppliers.sup-a]
name = "Supplier A"
accepts = "defects"
window_days = 30
settlement = "goods_back"
return_address = "Supplier A returns, Shenzhen"

[suppliers.sup-b]
name = "Supplier B"
accepts = "any"
window_days = 10
settlement = "credit"

[shops.alpha]
name = "Alpha Home"
currency = "EUR"
sellers = [610001]
link_secret = "alpha-secret-for-tests-0001"
return_address = "Alpha returns, Berlin"

[shops.beta]
name = "Beta Gadgets"
currency = "USD"
sellers = [610002]
link_secret = "beta-secret-for-tests-00001"
return_address = "Beta returns, Austin"
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    data = tmp_path / "data"
    data.mkdir()
    config = tmp_path / "shops.toml"
    config.write_text(CONFIG_TOML, encoding="utf-8")

    async def prepare() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{data / 'returns-desk.sqlite3'}")
        try:
            await upgrade(engine)
            await build(make_context(engine, tmp_path, clock=_clock()))
        finally:
            await engine.dispose()

    asyncio.run(prepare())
    return {"DATA_DIR": str(data), "CONFIG_FILE": str(config)}


def _clock():
    from datetime import UTC, datetime

    from core.clock import FixedClock

    # the command line uses the real clock: the book is written for 2026-11-22
    return FixedClock(datetime(2026, 11, 22, 12, 0, tzinfo=UTC))


def _run(env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_stats_as_json_has_every_figure(env: dict[str, str]) -> None:
    result = _run(env, "stats", "--shop", "alpha", "--until", "2026-11-22", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["shops"] == ["alpha"]
    months = {m["month"]: (m["orders"], m["claims"]) for m in data["claims_per_100_orders"]}
    assert months == {"2026-10": (4, 2), "2026-11": (6, 4)}
    assert {m["currency"] for m in data["cost_of_returns"]} == {"EUR", "USD"}
    assert data["automation"] == {"decided": 5, "automatic": 1, "share": "0.2000"}
    lamp = [p for p in data["priority"] if p["sku"] == "LAMP"]
    assert lamp[0]["trend"] == "up" and lamp[0]["previous_rate"] == "0.1000"


def test_stats_as_csv_is_formula_safe_tidy_rows(env: dict[str, str]) -> None:
    result = _run(env, "stats", "--shop", "alpha", "--until", "2026-11-22", "--format", "csv")
    assert result.exit_code == 0, result.output
    raw = result.stdout_bytes
    assert raw.startswith("\ufeff".encode())  # spreadsheets read it as UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0].keys() >= {"figure", "measure", "value", "currency"}
    net = {(r["currency"], r["value"]) for r in rows if r["measure"] == "net_loss"}
    assert net == {("EUR", "110.00"), ("USD", "12.00")}  # refunds only: no cost recorded


def test_stats_as_a_table_and_a_bad_period(env: dict[str, str]) -> None:
    result = _run(env, "stats", "--shop", "alpha", "--period", "90d", "--until", "2026-11-22")
    assert result.exit_code == 0, result.output
    assert "Supplier recovery gap" in result.stdout
    assert "GHOST" in result.stdout and "no sales" in result.stdout
    bad = _run(env, "stats", "--period", "forever")
    assert bad.exit_code == 2
    assert "--period" in bad.stderr
    unknown = _run(env, "stats", "--shop", "nowhere")
    assert unknown.exit_code == 2 and "unknown shop" in unknown.stderr


def test_cost_record_stores_and_audits(env: dict[str, str], tmp_path: Path) -> None:
    result = _run(
        env, "cost", "record", "r-2611-0003", "supplier-credit", "16.00", "--note", "CN-9"
    )
    assert result.exit_code == 0, result.output
    assert "Recorded supplier_credit of 16.00 EUR on case R-2611-0003." in result.stdout
    in_cny = _run(env, "cost", "record", "R-2611-0004", "reship_postage", "35", "--currency", "CNY")
    assert in_cny.exit_code == 0, in_cny.output
    wrong = _run(env, "cost", "record", "R-2611-0003", "bribe", "1")
    assert wrong.exit_code == 2 and "supplier_credit" in wrong.stderr
    nothing = _run(env, "cost", "record", "R-2611-0099", "refund", "1")
    assert nothing.exit_code == 2
    db = sqlite3.connect(Path(env["DATA_DIR"]) / "returns-desk.sqlite3")
    try:
        costs = db.execute(
            "SELECT kind, amount_minor, currency, note, recorded_by_role FROM case_costs "
            "ORDER BY id"
        ).fetchall()
        audited = db.execute(
            "SELECT count(*) FROM audit_events WHERE action = 'cost_recorded'"
        ).fetchone()
    finally:
        db.close()
    assert costs == [
        ("supplier_credit", 1600, "EUR", "CN-9", "system"),
        ("reship_postage", 3500, "CNY", None, "system"),
    ]
    assert audited == (2,)


def test_import_costs_names_the_bad_line_and_imports_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    good = tmp_path / "costs.csv"
    good.write_text(
        "shop,sku,supplier,unit_cost,currency,valid_from\n"
        "alpha,LAMP,sup-a,17.50,EUR,2026-12-01\n"
        "alpha,MUG,sup-b,31,CNY,2026-12-01\n",
        encoding="utf-8",
    )
    result = _run(env, "import-costs", str(good))
    assert result.exit_code == 0, result.output
    assert "Imported 2 unit costs" in result.stdout and "2 new, 0 replaced" in result.stdout
    again = _run(env, "import-costs", str(good))
    assert "0 new, 2 replaced" in again.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "shop,sku,supplier,unit_cost,currency,valid_from\n"
        "alpha,VASE,sup-a,3.00,EUR,2026-12-01\n"
        "alpha,LAMP,sup-a,twelve,EUR,2026-12-01\n",
        encoding="utf-8",
    )
    failed = _run(env, "import-costs", str(bad))
    assert failed.exit_code == 2
    assert "bad.csv, line 3" in failed.stderr and "unit_cost" in failed.stderr
    db = sqlite3.connect(Path(env["DATA_DIR"]) / "returns-desk.sqlite3")
    try:
        skus = {r[0] for r in db.execute("SELECT sku FROM sku_costs")}
    finally:
        db.close()
    assert "VASE" not in skus

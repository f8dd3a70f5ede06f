"""``returns-desk csat`` through the real command line (click's runner, in-process) on an
embedded SQLite database: the sample orders, two cases and their surveys."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.__main__ import cli
from core.clock import FixedClock
from core.persistence.engine import create_engine
from core.persistence.migrate import upgrade
from tests.core.factories import (
    AGENT,
    NOW,
    damaged_lamp,
    earbud_for_seller,
    import_samples,
    make_context,
)

SAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "core" / "sample" / "shops.toml"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    data = tmp_path / "data"
    data.mkdir()

    async def prepare() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{data / 'returns-desk.sqlite3'}")
        try:
            await upgrade(engine)
            ctx = make_context(engine, tmp_path / "evidence", FixedClock(NOW))
            await import_samples(ctx)
            lamp, earbud = await damaged_lamp(ctx), await earbud_for_seller(ctx)
            async with ctx.unit_of_work() as uow:
                for case_id, shop, agent, score in (
                    (lamp.id, "aurora", AGENT, 5),
                    (lamp.id, "aurora", None, 2),
                    (lamp.id, "aurora", None, None),
                    (earbud.id, "nova", AGENT, 4),
                ):
                    assert case_id is not None
                    sid = await uow.surveys.schedule(
                        case_id=case_id, shop=shop, buyer_id=1, agent_id=agent, due_at=NOW
                    )
                    assert sid is not None and await uow.surveys.mark_asked(sid, NOW)
                    if score is not None:
                        await uow.surveys.answer(sid, score, NOW + timedelta(hours=1))
                await uow.commit()
        finally:
            await engine.dispose()

    asyncio.run(prepare())
    return {"DATA_DIR": str(data), "CONFIG_FILE": str(SAMPLE_CONFIG)}


def _run(env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_csat_as_json_counts_exactly(env: dict[str, str]) -> None:
    result = _run(env, "csat", "--until", "2026-11-22", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{") :])
    assert data["total"] == {
        "key": None,
        "asked": 4,
        "answered": 3,
        "rated_4_or_5": 2,
        "share_4_or_5": "0.6667",
        "response_rate": "0.7500",
    }
    assert [(r["key"], r["asked"], r["answered"]) for r in data["by_shop"]] == [
        ("aurora", 3, 2),
        ("nova", 1, 1),
    ]
    assert [(r["key"], r["rated_4_or_5"]) for r in data["by_agent"]] == [(AGENT, 2), (None, 0)]


def test_csat_as_a_table_for_one_shop_and_a_bad_period(env: dict[str, str]) -> None:
    result = _run(env, "csat", "--shop", "nova", "--until", "2026-11-22")
    assert result.exit_code == 0, result.output
    assert "1 asked, 1 answered, 100.0% rated 4 or 5, response rate 100.0%" in result.output
    assert "does_not_work" in result.output and "damaged" not in result.output

    bad = _run(env, "csat", "--period", "forever")
    assert bad.exit_code == 2 and "--period" in bad.output
    unknown = _run(env, "csat", "--shop", "nowhere")
    assert unknown.exit_code == 2 and "nowhere" in unknown.output


def test_stats_carries_the_satisfaction_figures(env: dict[str, str]) -> None:
    result = _run(env, "stats", "--until", "2026-11-22", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["satisfaction"]["total"]["answered"] == 3
    assert [(r["key"], r["asked"]) for r in data["satisfaction"]["by_reason"]] == [
        ("damaged", 3),
        ("does_not_work", 1),
    ]
    table = _run(env, "stats", "--shop", "aurora", "--until", "2026-11-22")
    assert table.exit_code == 0, table.output
    assert "Satisfaction by agent" in table.stdout
    assert "3 asked, 2 answered, 50.0% rated 4 or 5, response rate 66.7%" in table.stdout

"""The CPU of one unit of work on PostgreSQL (asyncpg through SQLAlchemy), the way the bot
opens them: a connection from the pool, one statement, commit or close. Compares the pool
pinging every connection it hands out (SQLAlchemy's ``pool_pre_ping``, the bot's setting
before the sixth round of issue 19) with the bot's engine now (a connection is pinged only
after it sat idle, core/persistence/engine.py; since the seventh round a read begins no
transaction, core/persistence/postgres_driver.py), and the same units in autocommit.
Prints µs of CPU and of wall time per unit of work, two rounds.

    .venv/bin/python benchmarks/postgres_units.py [--units 2000] [--postgres-url URL]

The URL defaults to ``TEST_POSTGRES_URL``, else postgresql+asyncpg://postgres@127.0.0.1:5432/test;
a table ``bench_units_<hex>`` is made there and dropped."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.event_loop import loop_factory
from core.persistence.engine import create_engine

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


async def units(engine: AsyncEngine, sql: str, count: int, *, commit: bool) -> tuple[float, float]:
    statement = text(sql)
    cpu, wall = time.thread_time(), time.perf_counter()
    for n in range(count):
        async with engine.connect() as conn:
            await conn.execute(statement, {"v": str(n)})
            if commit:
                await conn.commit()
    return (time.thread_time() - cpu) / count * 1e6, (time.perf_counter() - wall) / count * 1e6


async def main(url: str, count: int) -> None:
    table = f"bench_units_{uuid.uuid4().hex[:8]}"
    engines = {
        "ping at every checkout": create_engine(url, pool_pre_ping=True),
        "ping after 2 s idle (the bot)": create_engine(url),
    }
    engines["the bot's, autocommit"] = engines["ping after 2 s idle (the bot)"].execution_options(
        isolation_level="AUTOCOMMIT"
    )
    setup = engines["ping after 2 s idle (the bot)"]
    async with setup.connect() as conn:
        await conn.execute(text(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)"))
        await conn.execute(text(f"INSERT INTO {table} VALUES (1, '')"))
        await conn.commit()
    read, write = (
        f"SELECT v FROM {table} WHERE id = 1 AND v <> :v",
        f"UPDATE {table} SET v = :v WHERE id = 1",
    )
    try:
        print(f"{count:,} units of work each, one statement; µs per unit of work (CPU / wall)")
        for round_ in (1, 2):
            for name, engine in engines.items():
                r_cpu, r_wall = await units(engine, read, count, commit=False)
                w_cpu, w_wall = await units(engine, write, count, commit=True)
                print(
                    f"  round {round_}  {name:32} read {r_cpu:6.0f} / {r_wall:6.0f}"
                    f"   write {w_cpu:6.0f} / {w_wall:6.0f}"
                )
    finally:
        async with setup.connect() as conn:
            await conn.execute(text(f"DROP TABLE {table}"))
            await conn.commit()
        for engine in engines.values():
            await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--postgres-url", default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_URL))
    args = parser.parse_args()
    factory, name = loop_factory()
    print(f"event loop: {name}")
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main(args.postgres_url, args.units))

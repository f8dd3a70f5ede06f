"""The CPU of one SQLite statement and of one unit of work on the event loop's thread, as an
update's run (core/persistence/sqlite_driver.py), against the floors under them: sqlite3 alone
and SQLAlchemy's synchronous engine. Compare two checkouts with it (run each checkout's copy).

    .venv/bin/python benchmarks/statements.py [--statements 5000] [--rounds 3]

A table of 1,000 rows in a fresh SQLite file; the statement is a primary-key ``SELECT`` of three
columns with a bind parameter (compiled once, then from SQLAlchemy's cache), its rows fetched.
A unit of work is what a repository's is: a connection taken from the pool, that statement, a
close. Each figure is µs of this thread's CPU per statement or per unit of work, per round;
the garbage collector is settled first as the bot's is (bot.event_loop).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, insert, select
from sqlalchemy import create_engine as create_sync_engine

from bot.event_loop import loop_factory, settle_garbage_collector
from core.persistence.engine import create_engine
from core.persistence.sqlite_driver import on_the_loop

metadata = MetaData()
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("body", String),
    Column("n", Integer),
)
BY_ID = select(notes.c.id, notes.c.body, notes.c.n).where(notes.c.id == bindparam("id"))
ROWS = 1000


def per_call(started: float, calls: int) -> float:
    return (time.process_time() - started) / calls * 1e6


def floors(path: Path, statements: int) -> tuple[float, float]:
    raw = sqlite3.connect(path)
    started = time.process_time()
    for number in range(statements):
        raw.execute("SELECT id, body, n FROM notes WHERE id = ?", (number % ROWS,)).fetchall()
    sqlite = per_call(started, statements)
    raw.close()
    engine = create_sync_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.execute(BY_ID, {"id": 0}).all()
        started = time.process_time()
        for number in range(statements):
            conn.execute(BY_ID, {"id": number % ROWS}).all()
        synchronous = per_call(started, statements)
    engine.dispose()
    return sqlite, synchronous


async def on_the_loop_figures(path: Path, statements: int) -> tuple[float, float]:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        with on_the_loop():
            conn = await engine.connect().start()
            try:
                for number in range(100):
                    (await conn.execute(BY_ID, {"id": number})).all()
                started = time.process_time()
                for number in range(statements):
                    (await conn.execute(BY_ID, {"id": number % ROWS})).all()
                statement = per_call(started, statements)
            finally:
                await conn.close()
            units = statements // 2
            started = time.process_time()
            for number in range(units):
                conn = await engine.connect().start()
                try:
                    (await conn.execute(BY_ID, {"id": number % ROWS})).all()
                finally:
                    await conn.close()
            unit = per_call(started, units)
        return statement, unit
    finally:
        await engine.dispose()


async def main(statements: int, rounds: int) -> None:
    settle_garbage_collector()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "statements.sqlite3"
        engine = create_sync_engine(f"sqlite:///{path}")
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(
                insert(notes), [{"id": n, "body": f"note {n}", "n": n} for n in range(ROWS)]
            )
        engine.dispose()
        print(f"µs of CPU, {statements:,} statements and {statements // 2:,} units of work a round")
        print("  round   sqlite3   SQLAlchemy sync   on the loop: statement   unit of work")
        for number in range(1, rounds + 1):
            sqlite, synchronous = floors(path, statements)
            statement, unit = await on_the_loop_figures(path, statements)
            figures = f"{sqlite:7.1f}   {synchronous:15.1f}   {statement:22.1f}   {unit:12.1f}"
            print(f"  {number:5}   {figures}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--statements", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    factory, _ = loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main(arguments.statements, arguments.rounds))

"""The core's side of "✅ Confirm and send": the CPU of opening one case (``open_case``: the
buyer's order and proof, the policy's decision, the abuse signals, the case number, the case,
its lines and photos, the trail, the supplier claim, the alerts in the outbox), without
Telegram. The slowest step of ``load.py``'s return, in the core alone, where the machine's
noise is smaller than in a whole bot under load: compare two checkouts with it.

    .venv/bin/python benchmarks/case_opening.py [--cases 300] [--rounds 3] [--postgres-url URL]

Each round opens ``--cases`` cases, one per synthetic order of ``load.py``'s book (a damaged
lamp, three photos, a refund: approved on the spot), by as many buyers linked to their order,
in a fresh SQLite file, then in a fresh PostgreSQL schema when PostgreSQL answers (the URL
defaults to ``TEST_POSTGRES_URL``, else postgresql+asyncpg://postgres@127.0.0.1:5432/test; the
schema ``bench_cases_<hex>`` is dropped afterwards). Prints µs of CPU (this thread's, which is
the event loop's: the statements run on it, as an update's do, see
core/persistence/sqlite_driver.py) and of wall
time per case, per round; the first round pays for the compiled statements."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import write_orders  # the load's order book: the same orders, the same decisions
from sqlalchemy import text

from core.cases.model import Actor, Evidence, EvidenceKind
from core.cases.reasons import Reason, Resolution
from core.clock import FixedClock
from core.orders.numbers import normalize_order_number
from core.persistence.engine import create_engine, create_session_factory
from core.persistence.sqlite_driver import on_the_loop
from core.persistence.tables import metadata
from core.persistence.unit_of_work import UnitOfWork
from core.policy.config import load_config
from core.policy.decision import Claim
from core.services import cases as case_service
from core.services.context import CoreContext
from core.services.evidence_store import EvidenceStore
from core.services.orders import import_orders

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
SAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "core" / "sample" / "shops.toml"
FIRST_BUYER = 8_000_000


async def one_round(url: str, directory: Path, count: int, *, schema: str | None) -> list[float]:
    """Open ``count`` cases in a fresh database; (CPU µs, wall µs) per case."""
    engine = create_engine(url, schema=schema) if schema else create_engine(url)
    try:
        if schema:
            async with engine.connect() as conn:
                await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
                await conn.commit()
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        now = datetime.now(UTC).replace(microsecond=0)
        config = load_config(SAMPLE_CONFIG)
        sessions = create_session_factory(engine)
        ctx = CoreContext(
            config=config,
            unit_of_work=lambda: UnitOfWork(sessions),
            evidence=EvidenceStore(directory / "evidence", max_bytes=10_000_000),
            clock=FixedClock(now),
        )
        book = directory / "orders.json"
        numbers = write_orders(book, count, now)
        await import_orders(ctx, book)
        async with ctx.unit_of_work() as uow:
            order_ids = []
            for index, number in enumerate(numbers):
                order = await uow.orders.get_by_key("aurora", normalize_order_number(number))
                assert order is not None and order.id is not None, number
                await uow.links.link(order.id, FIRST_BUYER + index, "token", now)
                order_ids.append(order.id)
            await uow.commit()
        # as the bot runs an update: SQLite statements on the event loop's thread
        with on_the_loop():
            return await _open_cases(ctx, order_ids)
    finally:
        if schema:
            async with engine.connect() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                await conn.commit()
        await engine.dispose()


async def _open_cases(ctx: CoreContext, order_ids: list[int]) -> list[float]:
    count = len(order_ids)
    cpu, wall = time.thread_time(), time.perf_counter()
    for index, order_id in enumerate(order_ids):
        opened = await case_service.open_case(
            ctx,
            Actor.buyer(FIRST_BUYER + index),
            case_service.NewCase(
                order_id=order_id,
                claims=(Claim(1, 1),),
                reason=Reason.DAMAGED,
                description="The glass shade arrived cracked in two places",
                evidence=tuple(
                    Evidence(EvidenceKind.PHOTO, f"u{index}-{n}", file_id=f"f{index}-{n}")
                    for n in range(3)
                ),
                preferred_resolution=Resolution.REFUND,
            ),
        )
        assert opened.case.id is not None
    return [
        (time.thread_time() - cpu) / count * 1e6,
        (time.perf_counter() - wall) / count * 1e6,
    ]


async def postgres_answers(url: str) -> bool:
    engine = create_engine(url)
    try:
        async with asyncio.timeout(3), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        await engine.dispose()


async def main(args: argparse.Namespace) -> None:
    print(f"open_case, {args.cases} cases per round, {args.rounds} rounds (µs per case)")
    databases = ["sqlite"]
    if await postgres_answers(args.postgres_url):
        databases.append("postgresql")
    else:
        print("  PostgreSQL does not answer at the URL: SQLite only")
    for database in databases:
        cpu_figures = []
        for round_no in range(1, args.rounds + 1):
            with tempfile.TemporaryDirectory(prefix="bench-cases-") as tmp:
                directory = Path(tmp)
                if database == "sqlite":
                    url, schema = f"sqlite+aiosqlite:///{directory / 'bench.db'}", None
                else:
                    url, schema = args.postgres_url, f"bench_cases_{uuid.uuid4().hex[:8]}"
                cpu, wall = await one_round(url, directory, args.cases, schema=schema)
            cpu_figures.append(cpu)
            print(f"  {database:10} round {round_no}: CPU {cpu:8,.0f}  wall {wall:8,.0f}")
        later = cpu_figures[1:] or cpu_figures
        print(f"  {database:10} median CPU after the first round: {statistics.median(later):,.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres-url", default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_URL))
    from bot.event_loop import loop_factory

    factory, _ = loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main(parser.parse_args()))

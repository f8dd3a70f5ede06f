"""How long ``/stats`` takes on a big shop: 1,000,000 orders and 100,000 cases in SQLite.

Builds a SQLite database through the real schema (the Alembic migrations) and fills it fast
with SQLAlchemy Core ``executemany`` on a sync engine: ``--orders`` orders of one shop (the
worst case: every order is the seller's) placed over the last year, 1-3 lines each, most with
a parcel, their ids following the order date as an import makes them; ``--cases`` cases on
random orders with their lines and audit events (opened, decided by a seller or
automatically, most closed), some costs recorded, unit costs per SKU. Then times
``core.services.stats.figures`` (every figure ``/stats`` shows) for a ``--days`` period
(default 90), as a seller, ``--runs`` times, and the charts drawn from it once. Prints the
median against the target (under 2 s), the CPU time, and PASS or FAIL.

    .venv/bin/python benchmarks/stats.py                       # 1,000,000 orders (~2 min)
    .venv/bin/python benchmarks/stats.py --orders 50000 --cases 5000   # quick run
    .venv/bin/python benchmarks/stats.py --db /tmp/stats-1m.sqlite3    # keep / reuse the file
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from core.cases.model import Actor  # noqa: E402
from core.clock import FixedClock  # noqa: E402
from core.persistence.engine import create_engine, create_session_factory  # noqa: E402
from core.persistence.migrate import upgrade  # noqa: E402
from core.persistence.tables import (  # noqa: E402
    audit_events,
    case_costs,
    case_lines,
    cases,
    order_lines,
    orders,
    shipments,
    sku_costs,
)
from core.persistence.unit_of_work import UnitOfWork  # noqa: E402
from core.policy.config import load_config  # noqa: E402
from core.services import stats  # noqa: E402
from core.services.context import CoreContext  # noqa: E402
from core.services.evidence_store import EvidenceStore  # noqa: E402

TARGET_SECONDS = 2.0
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SHOP, SELLER = "aurora", 600001  # the sample configuration's shop and seller
PRODUCTS = (
    ("LMP-NORD-01", "sz-bright", 3990, 1450),
    ("DUV-LIN-200", "yw-textile", 4900, 1900),
    ("PAN-CER-28", "gz-kitchen", 2950, 900),
    ("EAR-TWS-5", "sz-volt", 3499, 1100),
    ("CBL-USBC-2", "dg-case", 899, 150),
    ("VC-SER-30", "lumen-labs", 2490, 600),
    ("SLK-MSK-CH", "yiwu-silk-co", 895, 200),
)
CARRIERS = ("Cainiao", "YunExpress", "4PX", "China Post")
COUNTRIES = ("ES", "FR", "DE", "US", "CN", "AE", "RU", "BR")
REASONS = ("damaged", "wrong_item", "not_as_described", "does_not_work", "not_received",
           "changed_mind", "missing_part")  # fmt: skip


def fill(path: Path, count: int, case_count: int, *, batch: int, seed: int) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    rng = random.Random(seed)
    year = 365 * 24 * 60
    line_ids: list[tuple[int, int, int]] = []  # (order id, line id, quantity): for the cases
    placed_of: dict[int, datetime] = {}
    line_id = 0
    started = time.perf_counter()
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA synchronous=OFF")
        conn.exec_driver_sql("PRAGMA cache_size=-262144")
        conn.commit()
        case_orders = set(rng.sample(range(1, count + 1), min(case_count, count)))
        for start in range(0, count, batch):
            order_rows: list[dict[str, Any]] = []
            line_rows: list[dict[str, Any]] = []
            ship_rows: list[dict[str, Any]] = []
            for order_id in range(start + 1, min(start + batch, count) + 1):
                # imported as shops export them: ids follow the order date (a few hours' jitter)
                placed = NOW - timedelta(
                    minutes=max(year * (count - order_id) // count + rng.randrange(-240, 240), 1)
                )
                country = rng.choice(COUNTRIES)
                order_rows.append(
                    {
                        "id": order_id,
                        "shop": SHOP,
                        "number": f"AUR-{order_id}",
                        "number_key": f"AUR{order_id}",
                        "placed_at": placed,
                        "status": "delivered",
                        "currency": "EUR" if order_id % 10 else "USD",
                        "buyer_name": "Buyer",
                        "ship_country": country,
                        "created_at": placed,
                        "updated_at": placed,
                    }
                )
                for line_no, (sku, supplier, price, _) in enumerate(
                    rng.sample(PRODUCTS, rng.choice((1, 1, 2, 3))), start=1
                ):
                    line_id += 1
                    quantity = rng.choice((1, 1, 2, 3))
                    line_rows.append(
                        {
                            "id": line_id,
                            "order_id": order_id,
                            "line_no": line_no,
                            "sku": sku,
                            "title": sku,
                            "supplier": supplier,
                            "quantity": quantity,
                            "unit_price_minor": price,
                            "refunded_quantity": 0,
                        }
                    )
                    if order_id in case_orders and line_no == 1:
                        line_ids.append((order_id, line_id, quantity))
                        placed_of[order_id] = placed
                if rng.random() < 0.9:
                    shipped = placed + timedelta(days=rng.randint(1, 4))
                    delivered = shipped + timedelta(days=rng.randint(6, 30))
                    ship_rows.append(
                        {
                            "order_id": order_id,
                            "seq": 1,
                            "carrier": rng.choice(CARRIERS),
                            "registered": True,
                            "shipped_at": shipped,
                            "delivered_at": delivered if delivered < NOW else None,
                            "est_max_days": 25,
                            "events": [],
                        }
                    )
            with conn.begin():
                conn.execute(insert(orders), order_rows)
                conn.execute(insert(order_lines), line_rows)
                conn.execute(insert(shipments), ship_rows)
        case_rows, case_line_rows, audit_rows, cost_rows = [], [], [], []
        for case_id, (order_id, order_line_id, quantity) in enumerate(line_ids, start=1):
            opened = min(placed_of[order_id] + timedelta(days=rng.randint(5, 40)), NOW)
            decided = rng.random() < 0.7
            closed = opened + timedelta(hours=rng.randint(2, 200)) if rng.random() < 0.6 else None
            automatic = decided and rng.random() < 0.3
            case_rows.append(
                {
                    "id": case_id,
                    "number": f"R-{case_id:07d}",
                    "shop": SHOP,
                    "order_id": order_id,
                    "buyer_id": 10**9 + case_id,
                    "reason": rng.choice(REASONS),
                    "status": "resolved" if closed else "awaiting_seller",
                    "resolution": "refund" if decided else None,
                    "decided_by": ("system" if automatic else "seller") if decided else None,
                    "currency": "EUR",
                    "refunded_minor": rng.randint(500, 9000) if closed and decided else None,
                    "return_required": False,
                    "goods": "not_required",
                    "money": "none",
                    "owner": "bot",
                    "escalated": False,
                    "decision": {"version": 1},
                    "opened_at": opened,
                    "updated_at": opened,
                    "closed_at": closed,
                    "version": 1,
                }
            )
            case_line_rows.append(
                {
                    "case_id": case_id,
                    "order_line_id": order_line_id,
                    "line_no": 1,
                    "quantity": quantity,
                    "is_open": closed is None,
                }
            )
            audit_rows.append(
                {
                    "case_id": case_id,
                    "at": opened,
                    "actor_role": "buyer",
                    "action": "open",
                    "data": {},
                }
            )
            if decided:
                audit_rows.append(
                    {
                        "case_id": case_id,
                        "at": opened + timedelta(hours=0 if automatic else rng.randint(1, 48)),
                        "actor_role": "system" if automatic else "seller",
                        "action": "approve",
                        "data": {},
                    }
                )
            if closed and rng.random() < 0.3:
                cost_rows.append(
                    {
                        "case_id": case_id,
                        "kind": rng.choice(("supplier_credit", "return_label", "reship_postage")),
                        "amount_minor": rng.randint(100, 3000),
                        "currency": "EUR",
                        "recorded_at": closed,
                        "recorded_by_role": "seller",
                    }
                )
        with conn.begin():
            for table, rows in (
                (cases, case_rows),
                (case_lines, case_line_rows),
                (audit_events, audit_rows),
                (case_costs, cost_rows),
            ):
                for chunk in range(0, len(rows), batch):
                    conn.execute(insert(table), rows[chunk : chunk + batch])
            conn.execute(
                insert(sku_costs),
                [
                    {
                        "shop": SHOP,
                        "sku": sku,
                        "supplier": supplier,
                        "unit_cost_minor": cost,
                        "currency": "EUR",
                        "valid_from": NOW - timedelta(days=400),
                        "imported_at": NOW,
                    }
                    for sku, supplier, _, cost in PRODUCTS
                ],
            )
        conn.commit()  # no ANALYZE: a real database has none either
    engine.dispose()
    print(f"filled {count:,} orders and {len(case_rows):,} cases in "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip


async def measure(path: Path, days: int, runs: int) -> tuple[list[float], float, Any]:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(engine)
        sessions = create_session_factory(engine)
        config = load_config()
        core = CoreContext(
            config=config,
            unit_of_work=lambda: UnitOfWork(sessions),
            evidence=EvidenceStore(Path(tempfile.gettempdir()) / "rd-stats-bench"),
            clock=FixedClock(NOW),
        )
        async with core.unit_of_work() as uow:
            have = (await uow.session.execute(select(func.count()).select_from(orders))).scalar()
        print(f"{have:,} orders in {path}")
        times: list[float] = []
        cpus: list[float] = []
        figures = None
        for _ in range(runs):
            started, cpu = time.perf_counter(), time.process_time()
            figures = await stats.figures(core, Actor.seller(SELLER), days=days)
            times.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu)
        from bot.views import charts
        from bot.views.i18n import Catalogs

        started = time.perf_counter()
        charts.album(Catalogs().get("en"), figures, "sku")
        drawn = time.perf_counter() - started
        print(f"CPU time of the figures (every thread): median {statistics.median(cpus):.3f} s")
        return times, drawn, figures
    finally:
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rd-stats-") as tmp:
        path = args.db or Path(tmp) / "stats.sqlite3"
        fresh = not path.exists()
        if fresh:
            asyncio.run(_create(path))
            fill(path, args.orders, args.cases, batch=args.batch, seed=args.seed)
        times, drawn, figures = asyncio.run(measure(path, args.days, args.runs))
    median = statistics.median(times)
    print(
        f"/stats over {args.days} days: {figures.orders:,} orders, {figures.claims:,} claims "
        f"in the period"
    )
    print(
        f"figures: median {median:.3f} s, best {min(times):.3f} s, worst {max(times):.3f} s "
        f"({len(times)} runs); charts: {drawn:.3f} s; target under {TARGET_SECONDS:.0f} s"
    )
    verdict = "PASS" if median < TARGET_SECONDS else "FAIL"
    print(verdict)
    return 0 if verdict == "PASS" else 1


async def _create(path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    sys.exit(main())

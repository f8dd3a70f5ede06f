"""How fast the bot finds an order when a buyer types its number, in a large SQLite order book.

Builds a SQLite database through the real schema (the Alembic migration) holding ``--orders``
orders (default 1,000,000; 1-3 lines each, most with a tracked parcel), filled fast with
SQLAlchemy Core ``executemany`` on the mapped tables in large transactions. Then times the two
repository calls behind "type your order number":

* ``OrderRepository.find_by_key(key)``: the order in every shop (what the buyer's chat uses);
* ``OrderRepository.get_by_key(shop, key)``: the whole domain Order (lines and shipments)
  of one shop;

each in its own unit of work (a fresh session, as a bot handler does), for ``--lookups``
random existing keys and ``--missing`` keys that are not in the book, and prints the median,
p95 and p99 against the target (median under 2 ms), and the size of the database file.

    .venv/bin/python benchmarks/order_lookup.py                    # 1,000,000 orders
    .venv/bin/python benchmarks/order_lookup.py --orders 50000     # quick run
    .venv/bin/python benchmarks/order_lookup.py --db /tmp/big.sqlite3   # keep / reuse it
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from core.orders.numbers import normalize_order_number  # noqa: E402
from core.persistence.engine import create_engine, create_session_factory  # noqa: E402
from core.persistence.migrate import upgrade  # noqa: E402
from core.persistence.tables import order_lines, orders, shipments  # noqa: E402
from core.persistence.unit_of_work import UnitOfWork  # noqa: E402

TARGET_MEDIAN_MS = 2.0

# (shop, currency, how its order numbers look, first number)
SHOPS = (
    ("aurora", "EUR", "AUR-{}", 10001),
    ("nova", "USD", "NV-{}", 5001),
    ("lumen", "USD", "#{}", 1001),
)
PRODUCTS = (
    ("LMP-NORD-01", "Nordic oak table lamp", "lighting", "sz-bright", 3990),
    ("DUV-LIN-200", "Linen duvet cover 200x200, sage", "bedding", "yw-textile", 4900),
    ("PAN-CER-28", "Ceramic frying pan 28 cm", "kitchen", "gz-kitchen", 2950),
    ("EAR-TWS-5", "Wireless earbuds TWS-5", "audio", "sz-volt", 3499),
    ("CBL-USBC-2", "USB-C cable 2 m, braided", "cables", "dg-case", 899),
    ("VC-SER-30", "Vitamin C serum 30ml", "cosmetics", "lumen-labs", 2490),
    ("SLK-MSK-CH", "Silk sleep mask - Champagne", "accessories", "yiwu-silk-co", 895),
)
BUYERS = (
    (
        "Lucía Fernández",
        "lucia.fernandez@example.es",
        "+34 612 345 678",
        "ES",
        "es",
        "Calle de Colón 12, 3ºB",
        "Valencia",
        "46004",
    ),
    (
        "Marie Dubois",
        "marie.dubois@example.fr",
        "+33 6 12 34 56 78",
        "FR",
        "fr",
        "8 rue des Lilas",
        "Lyon",
        "69003",
    ),
    (
        "Дмитрий Кузнецов",
        "dmitri.k@example.ru",
        "+7 912 345 67 89",
        "RU",
        "ru",
        "ул. Ленина 10, кв. 5",
        "Казань",
        "420111",
    ),
    (
        "Emily Carter",
        "emily.carter@example.com",
        "+1 415 555 0199",
        "US",
        "en",
        "742 Valencia St",
        "San Francisco",
        "94110",
    ),
    (
        "王芳",
        "wang.fang@example.cn",
        "+86 138 0013 8000",
        "CN",
        "zh",
        "朝阳区建国路 88 号",
        "北京",
        "100022",
    ),
)
CARRIERS = ("Cainiao", "YunExpress", "4PX", "China Post")
# 60 % delivered, 20 % shipped, 10 % paid, 6 % cancelled, 4 % pending
STATUSES = (
    ("delivered",) * 60 + ("shipped",) * 20 + ("paid",) * 10 + ("cancelled",) * 6 + ("pending",) * 4
)
_START = datetime(2025, 1, 1, tzinfo=UTC)


def shop_and_number(index: int) -> tuple[str, str, str]:
    """Order ``index`` (0-based): its shop, currency and number as the shop writes it."""
    shop, currency, pattern, first = SHOPS[index % len(SHOPS)]
    return shop, currency, pattern.format(first + index // len(SHOPS))


def order_rows(
    rng: random.Random, start: int, stop: int, now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows for orders ``start``..``stop`` (ids start+1..stop), their lines and shipments."""
    order_batch: list[dict[str, Any]] = []
    line_batch: list[dict[str, Any]] = []
    shipment_batch: list[dict[str, Any]] = []
    for index in range(start, stop):
        order_id = index + 1
        shop, currency, number = shop_and_number(index)
        name, email, phone, country, language, line1, city, postal = rng.choice(BUYERS)
        placed = _START + timedelta(minutes=rng.randrange(700 * 24 * 60))
        status = rng.choice(STATUSES)
        order_batch.append(
            {
                "id": order_id,
                "shop": shop,
                "number": number,
                "number_key": normalize_order_number(number),
                "placed_at": placed,
                "status": status,
                "currency": currency,
                "buyer_name": name,
                "buyer_email": email,
                "buyer_phone": phone,
                "buyer_country": country,
                "buyer_language": language,
                "buyer_telegram_id": rng.randrange(10**8, 10**10) if rng.random() < 0.1 else None,
                "ship_line1": line1,
                "ship_line2": None,
                "ship_city": city,
                "ship_postal_code": postal,
                "ship_region": None,
                "ship_country": country,
                "shipping_cost_minor": rng.choice((0, 390, 700)),
                "cancelled_at": placed + timedelta(hours=3) if status == "cancelled" else None,
                "refunded_minor": None,
                "external_id": None,
                "created_at": now,
                "updated_at": now,
            }
        )
        for line_no, (sku, title, category, supplier, price) in enumerate(
            rng.sample(PRODUCTS, rng.choice((1, 1, 1, 2, 2, 3))), start=1
        ):
            line_batch.append(
                {
                    "order_id": order_id,
                    "line_no": line_no,
                    "sku": sku,
                    "title": title,
                    "category": category,
                    "supplier": supplier,
                    "quantity": rng.choice((1, 1, 1, 2, 3)),
                    "unit_price_minor": price,
                    "refunded_quantity": 0,
                }
            )
        if status in ("shipped", "delivered"):
            shipped = placed + timedelta(days=rng.randint(1, 4))
            delivered = shipped + timedelta(days=rng.randint(8, 30))
            events = [
                {
                    "at": shipped.isoformat(),
                    "status": "accepted",
                    "location": "Shenzhen",
                    "description": "Accepted by carrier",
                },
                {
                    "at": (shipped + timedelta(days=2)).isoformat(),
                    "status": "in_transit",
                    "location": "Hong Kong",
                    "description": "Departed from transit hub",
                },
            ]
            if status == "delivered":
                events.append(
                    {
                        "at": delivered.isoformat(),
                        "status": "delivered",
                        "location": city,
                        "description": "Delivered",
                    }
                )
            shipment_batch.append(
                {
                    "order_id": order_id,
                    "seq": 1,
                    "carrier": rng.choice(CARRIERS),
                    "tracking_number": f"LP{order_id:011d}CN",
                    "registered": True,
                    "shipped_at": shipped,
                    "delivered_at": delivered if status == "delivered" else None,
                    "est_min_days": 10,
                    "est_max_days": 25,
                    "skus": None,
                    "events": events,
                }
            )
    return order_batch, line_batch, shipment_batch


def fill(path: Path, count: int, *, batch: int, seed: int) -> dict[str, int]:
    """Insert ``count`` orders with SQLAlchemy Core on a sync engine; returns row counts."""
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    rng = random.Random(seed)
    now = datetime.now(UTC)
    totals = {"orders": 0, "order_lines": 0, "shipments": 0}
    started = time.perf_counter()
    with engine.connect() as conn:
        # Only while filling: nothing here is worth an fsync, and a big page cache helps.
        conn.exec_driver_sql("PRAGMA synchronous=OFF")
        conn.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MB
        conn.commit()
        for start in range(0, count, batch):
            stop = min(start + batch, count)
            order_batch, line_batch, shipment_batch = order_rows(rng, start, stop, now)
            with conn.begin():
                conn.execute(insert(orders), order_batch)
                conn.execute(insert(order_lines), line_batch)
                if shipment_batch:
                    conn.execute(insert(shipments), shipment_batch)
            totals["orders"] += len(order_batch)
            totals["order_lines"] += len(line_batch)
            totals["shipments"] += len(shipment_batch)
            elapsed = time.perf_counter() - started
            print(
                f"\r  {stop:,} / {count:,} orders  ({stop / elapsed:,.0f} orders/s)",
                end="",
                flush=True,
            )
        print()
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.commit()
    engine.dispose()
    return totals


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


async def measure(
    plan: list[tuple[str, Callable[[UnitOfWork, Any], Awaitable[Any]], Any, bool]],
    factory: Callable[[], UnitOfWork],
) -> dict[str, list[float]]:
    """Time each (label, call, key, expect_found) of ``plan`` in a fresh unit of work."""
    timings: dict[str, list[float]] = {}
    for label, call, key, expect_found in plan:
        started = time.perf_counter()
        async with factory() as uow:
            found = await call(uow, key)
        timings.setdefault(label, []).append((time.perf_counter() - started) * 1000)
        if bool(found) != expect_found:
            raise SystemExit(f"{label}: {key!r} {'not ' if expect_found else ''}found")
    return timings


def summarize(label: str, timings: list[float]) -> float:
    timings = sorted(timings)
    median = statistics.median(timings)
    print(
        f"  {label:<34} n={len(timings):>5}  median {median:6.3f} ms   "
        f"p95 {percentile(timings, 95):6.3f} ms   p99 {percentile(timings, 99):6.3f} ms   "
        f"max {timings[-1]:6.2f} ms"
    )
    return median


def raw_sqlite_reference(path: Path, keys: list[str]) -> list[float]:
    """The same three statements as find_by_key with the stdlib sqlite3 module: what SQLite
    itself costs, without SQLAlchemy, aiosqlite's thread hop or the domain mapping."""
    conn = sqlite3.connect(path)
    timings = []
    try:
        for key in keys:
            started = time.perf_counter()
            rows = conn.execute(
                "SELECT * FROM orders WHERE number_key = ? ORDER BY id", (key,)
            ).fetchall()
            ids = [row[0] for row in rows]
            marks = ",".join("?" * len(ids))
            conn.execute(
                f"SELECT * FROM order_lines WHERE order_id IN ({marks}) ORDER BY line_no", ids
            ).fetchall()
            conn.execute(
                f"SELECT * FROM shipments WHERE order_id IN ({marks}) ORDER BY seq", ids
            ).fetchall()
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        conn.close()
    return timings


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="order-lookup-") as tmp:
        path = args.db or Path(tmp) / "orders.sqlite3"
        args.db_path = path
        url = f"sqlite+aiosqlite:///{path.resolve()}"
        engine = create_engine(url)
        try:
            await upgrade(engine)
            async with engine.connect() as conn:
                have = (await conn.execute(select(func.count()).select_from(orders))).scalar_one()
            if have == 0:
                print(f"Filling {path} with {args.orders:,} orders (batches of {args.batch:,})")
                started = time.perf_counter()
                totals = await asyncio.to_thread(
                    fill, path, args.orders, batch=args.batch, seed=args.seed
                )
                seconds = time.perf_counter() - started
                print(
                    f"Fill: {totals['orders']:,} orders, {totals['order_lines']:,} lines, "
                    f"{totals['shipments']:,} shipments in {seconds:.1f} s "
                    f"({totals['orders'] / seconds:,.0f} orders/s)"
                )
            else:
                print(f"Reusing {path}: {have:,} orders already there (no fill)")
            await measure_lookups(engine, args)
        finally:
            await engine.dispose()
        size = sum(
            p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
        )
        print(f"Database file: {size / 2**20:,.1f} MiB ({path.name}, with -wal/-shm)")


async def measure_lookups(engine: Any, args: argparse.Namespace) -> None:
    rng = random.Random(args.seed + 1)
    async with engine.connect() as conn:
        max_id = (await conn.execute(select(func.max(orders.c.id)))).scalar_one()
        ids = rng.sample(range(1, max_id + 1), min(args.lookups, max_id))
        existing: list[tuple[str, str, str]] = []
        for start in range(0, len(ids), 500):
            result = await conn.execute(
                select(orders.c.shop, orders.c.number, orders.c.number_key).where(
                    orders.c.id.in_(ids[start : start + 500])
                )
            )
            existing.extend((shop, number, key) for shop, number, key in result)
        rng.shuffle(existing)
        # Missing: numbers past each shop's last one, as a buyer with a typo would type them.
        missing: list[tuple[str, str]] = []
        while len(missing) < args.missing:
            index = max_id + rng.randrange(1, 10 * max_id + 10)
            shop, _, number = shop_and_number(index)
            key = normalize_order_number(number)
            hit = await conn.execute(select(orders.c.id).where(orders.c.number_key == key))
            if hit.first() is None:
                missing.append((shop, key))

    factory = create_session_factory(engine)

    def uow() -> UnitOfWork:
        return UnitOfWork(factory)

    async def find(u: UnitOfWork, key: str) -> Any:
        return await u.orders.find_by_key(key)

    async def get(u: UnitOfWork, shop_key: tuple[str, str]) -> Any:
        return await u.orders.get_by_key(*shop_key)

    # Warm up the connection pool and the statement caches (not timed).
    for shop, _, key in existing[:50]:
        async with uow() as u:
            await u.orders.get_by_key(shop, key)
            await u.orders.find_by_key(key)

    find_existing = "find_by_key(key), existing"
    find_missing = "find_by_key(key), missing"
    get_existing = "get_by_key(shop, key), existing"
    get_missing = "get_by_key(shop, key), missing"
    plan: list[tuple[str, Callable[[UnitOfWork, Any], Awaitable[Any]], Any, bool]] = [
        *((find_existing, find, key, True) for _, _, key in existing),
        *((find_missing, find, key, False) for _, key in missing),
        *((get_existing, get, (shop, key), True) for shop, _, key in existing),
        *((get_missing, get, (shop, key), False) for shop, key in missing),
    ]
    rng.shuffle(plan)  # interleaved: a slow moment of the machine hits every series alike
    print(
        f"Lookups ({len(existing):,} existing and {len(missing):,} missing keys, the four "
        "series interleaved; each lookup in a fresh unit of work, as a bot handler does it):"
    )
    timings = await measure(plan, uow)
    medians = {
        label: summarize(label, timings[label])
        for label in (find_existing, find_missing, get_existing, get_missing)
    }
    reference = await asyncio.to_thread(
        raw_sqlite_reference, args.db_path, [key for _, _, key in existing]
    )
    print("Reference, not a target: the same 3 SELECTs with the stdlib sqlite3 module:")
    summarize("raw sqlite3, existing", reference)
    worst_label, worst = max(medians.items(), key=lambda item: item[1])
    verdict = "PASS" if worst < TARGET_MEDIAN_MS else "MISS"
    print(
        f"target: median under {TARGET_MEDIAN_MS:g} ms: {verdict} "
        f"(slowest median {worst:.3f} ms, {worst_label})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders to fill")
    parser.add_argument("--lookups", type=int, default=2000, help="existing keys to look up")
    parser.add_argument("--missing", type=int, default=500, help="missing keys to look up")
    parser.add_argument("--db", type=Path, help="database file to fill, or reuse if it has orders")
    parser.add_argument("--batch", type=int, default=50_000, help="orders per fill transaction")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.db is not None:
        args.db.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

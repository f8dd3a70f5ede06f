"""The normalized e-mail and phone stored on each order (``buyer_email_key``,
``buyer_phone_key``), which the abuse signals' "same person" look-up reads through an index:
filled for older rows by migration 0012, kept in step by imports, cleared by erasure.
On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select

from core.clock import FixedClock
from core.persistence.engine import create_engine
from core.persistence.migrate import upgrade
from core.persistence.tables import orders
from core.services import privacy
from core.services.context import CoreContext
from core.services.orders import import_orders
from tests.core.factories import LUCIA, SAMPLE_JSON, get_order, link

PLACED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

# orders as revision 0011 knew them: no key columns
_orders_0011 = sa.table(
    "orders",
    sa.column("id", sa.Integer),
    sa.column("shop", sa.String),
    sa.column("number", sa.String),
    sa.column("number_key", sa.String),
    sa.column("placed_at", sa.DateTime(timezone=True)),
    sa.column("status", sa.String),
    sa.column("currency", sa.String),
    sa.column("buyer_name", sa.String),
    sa.column("buyer_email", sa.String),
    sa.column("buyer_phone", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def _old_order(number: int, email: str | None, phone: str | None) -> dict[str, Any]:
    return {
        "id": number,
        "shop": "aurora",
        "number": f"AUR-{number}",
        "number_key": f"AUR{number}",
        "placed_at": PLACED,
        "status": "paid",
        "currency": "EUR",
        "buyer_name": "Buyer",
        "buyer_email": email,
        "buyer_phone": phone,
        "created_at": PLACED,
        "updated_at": PLACED,
    }


async def _keys(ctx_or_engine: Any, *where: Any) -> dict[str, tuple[str | None, str | None]]:
    query = select(orders.c.number, orders.c.buyer_email_key, orders.c.buyer_phone_key).where(
        *where
    )
    if isinstance(ctx_or_engine, CoreContext):
        async with ctx_or_engine.unit_of_work() as uow:
            rows = list(await uow.session.execute(query))
    else:
        async with ctx_or_engine.connect() as conn:
            rows = list(await conn.execute(query))
    return {number: (email_key, phone_key) for number, email_key, phone_key in rows}


async def test_the_migration_fills_the_keys_of_existing_orders(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine, "0011")
        rows = [
            _old_order(1, " Ana@Example.com ", "+34 (600) 12-34-56"),
            _old_order(2, "no e-mail here", "12-34"),  # neither names anyone
            _old_order(3, None, None),
        ]
        # more orders than one batch of the migration, so the last ones need a later batch
        rows += [_old_order(n, f"buyer{n}@example.org", f"+1 555 {n:06d}") for n in range(10, 2510)]
        async with engine.begin() as conn:
            await conn.execute(sa.insert(_orders_0011), rows)

        await upgrade(engine)

        keys = await _keys(engine)
        assert keys["AUR-1"] == ("ana@example.com", "34600123456")
        assert keys["AUR-2"] == (None, None)
        assert keys["AUR-3"] == (None, None)
        assert keys["AUR-2509"] == ("buyer2509@example.org", "1555002509")
        assert sum(1 for email_key, _ in keys.values() if email_key) == 2501
    finally:
        await engine.dispose()


def _with_buyer(tmp_path: Path, number: str, **buyer: Any) -> Path:
    book = json.loads(SAMPLE_JSON.read_text(encoding="utf-8"))
    [order] = [o for o in book["orders"] if o["number"] == number]
    changed = {**order, "buyer": {**order["buyer"], **buyer}}
    path = tmp_path / f"{number}.json"
    path.write_text(json.dumps({**book, "orders": [changed]}), encoding="utf-8")
    return path


async def test_a_re_import_with_a_new_phone_moves_the_order_to_that_phone(
    ctx: CoreContext, tmp_path: Path
) -> None:
    lucia = await get_order(ctx, "aurora", "AUR-10021")
    olga = await get_order(ctx, "aurora", "AUR-10027")  # +7 916 123-45-67
    assert lucia.id is not None and olga.id is not None
    async with ctx.unit_of_work() as uow:
        before = await uow.signals.person("aurora", lucia.id, None)
    assert before.orders == {lucia.id}

    # the shop corrects Lucía's phone: Olga's number, written another way
    report = await import_orders(ctx, _with_buyer(tmp_path, "AUR-10021", phone="+7 (916) 1234567"))

    assert report.orders_updated == 1
    assert (await _keys(ctx, orders.c.number == "AUR-10021"))["AUR-10021"] == (
        "lucia.fernandez@example.es",
        "79161234567",
    )
    async with ctx.unit_of_work() as uow:
        after = await uow.signals.person("aurora", lucia.id, None)
        from_olga = await uow.signals.person("aurora", olga.id, None)
    assert after.orders == from_olga.orders == {lucia.id, olga.id}

    # and without a phone in the file the order leaves the number again
    await import_orders(ctx, _with_buyer(tmp_path, "AUR-10021", phone=None))
    async with ctx.unit_of_work() as uow:
        assert (await uow.signals.person("aurora", olga.id, None)).orders == {olga.id}


async def test_erasing_an_orders_buyer_clears_its_keys(ctx: CoreContext, clock: FixedClock) -> None:
    order = await link(ctx, LUCIA, "AUR-10021")
    clock.advance(days=366)

    assert (await privacy.purge(ctx))["orders_erased"] >= 1

    assert (await _keys(ctx, orders.c.id == order.id))["AUR-10021"] == (None, None)


async def test_a_value_on_exactly_shared_limit_orders_still_joins_them(ctx: CoreContext) -> None:
    # Marie's two orders share her e-mail and her phone
    first = await get_order(ctx, "aurora", "AUR-10022")
    second = await get_order(ctx, "aurora", "AUR-10031")
    assert first.id is not None and second.id is not None
    async with ctx.unit_of_work() as uow:
        at_limit = await uow.signals.person("aurora", first.id, None, shared_limit=2)
        over_limit = await uow.signals.person("aurora", first.id, None, shared_limit=1)

    assert at_limit.orders == {first.id, second.id}
    assert over_limit.orders == {first.id}

"""Importing the order book: native JSON/CSV or a Shopify export, streamed, all or nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from core.orders.formats.detect import detect_format, iter_orders
from core.orders.formats.errors import ImportFileError
from core.orders.model import Order, too_long_fields
from core.orders.numbers import normalize_order_number
from core.services.context import CoreContext

BATCH = 1000


@dataclass
class ImportReport:
    file: str
    format: str
    orders_read: int = 0
    orders_created: int = 0
    orders_updated: int = 0  # changed by this import; the rest were already up to date
    lines: int = 0
    seconds: float = 0.0
    shops: set[str] = field(default_factory=set)
    unknown_suppliers: set[str] = field(default_factory=set)

    @property
    def orders_unchanged(self) -> int:
        return self.orders_read - self.orders_created - self.orders_updated


async def import_orders(
    ctx: CoreContext,
    path: Path,
    *,
    fmt: str | None = None,
    shop: str | None = None,
    progress: Callable[[int], None] | None = None,
    transform: Callable[[Order], Order] | None = None,
) -> ImportReport:
    """Import a file in one transaction: a bad row anywhere imports nothing and says where.

    ``transform`` adjusts each order before it is stored (the demo moves sample dates)."""
    started = time.perf_counter()
    if shop is not None and shop not in ctx.config.shops:
        known = ", ".join(sorted(ctx.config.shops))
        raise ImportFileError(
            str(path), f"unknown shop {shop!r} (configured: {known})", field="--shop"
        )
    fmt = fmt or detect_format(path)
    report = ImportReport(file=str(path), format=fmt)
    linked: list[tuple[str, str, int]] = []
    async with ctx.unit_of_work() as uow:
        run_id = await uow.import_runs.start(
            file=str(path)[-500:], format=fmt, shop=shop, at=ctx.now()
        )
        batch: list[tuple[Order, str]] = []
        for parsed in iter_orders(path, fmt=fmt, shop=shop, progress=progress):
            _check_order(ctx, path, parsed, report)
            order = _with_categories(ctx, parsed)
            if transform is not None:
                order = transform(order)
            key = normalize_order_number(order.number)
            batch.append((order, key))
            if order.buyer.telegram_id is not None:
                linked.append((order.shop, key, order.buyer.telegram_id))
            if len(batch) >= BATCH:
                await _flush(uow, batch, report, ctx.now())
        now = ctx.now()
        await _flush(uow, batch, report, now)
        for shop_id, key, telegram_id in linked:  # the store already knows their Telegram
            stored = await uow.orders.get_by_key(shop_id, key)
            if stored is not None and stored.id is not None:
                await uow.links.link(stored.id, telegram_id, "import", now)
        await uow.import_runs.finish(
            run_id,
            at=now,
            created=report.orders_created,
            updated=report.orders_updated,
            rows=report.lines,
        )
        await uow.commit()
    report.seconds = time.perf_counter() - started
    return report


def _check_order(ctx: CoreContext, path: Path, order: Order, report: ImportReport) -> None:
    if order.shop not in ctx.config.shops:
        known = ", ".join(sorted(ctx.config.shops))
        raise ImportFileError(
            path.name,
            f"unknown shop {order.shop!r} (configured: {known})",
            order=order.number,
            field="shop",
        )
    if not normalize_order_number(order.number):
        raise ImportFileError(
            path.name,
            "the order number is empty once spaces and '#' are removed",
            order=order.number,
            field="number",
        )
    for name, limit in too_long_fields(order):
        raise ImportFileError(
            path.name, f"longer than {limit} characters", order=order.number, field=name
        )
    report.orders_read += 1
    report.shops.add(order.shop)
    report.lines += len(order.lines)
    for line in order.lines:
        if line.supplier and line.supplier not in ctx.config.suppliers:
            report.unknown_suppliers.add(line.supplier)


def _with_categories(ctx: CoreContext, order: Order) -> Order:
    """Fill categories the file lacks from the shop's SKU-prefix table."""
    shop = ctx.config.shop(order.shop)
    if not shop.categories_by_sku_prefix or all(line.category for line in order.lines):
        return order
    lines = tuple(
        line if line.category else replace(line, category=shop.category_for_sku(line.sku))
        for line in order.lines
    )
    return replace(order, lines=lines)


async def _flush(uow, batch: list[tuple[Order, str]], report: ImportReport, at: datetime) -> None:
    if not batch:
        return
    created, updated = await uow.orders.upsert_many(batch, at=at)
    report.orders_created += created
    report.orders_updated += updated
    batch.clear()


async def find_order(ctx: CoreContext, shop: str, number: str) -> Order | None:
    """Staff look-up by shop and number as typed (`#1001`, `aur 10021`)."""
    async with ctx.unit_of_work() as uow:
        return await uow.orders.get_by_key(shop, normalize_order_number(number))

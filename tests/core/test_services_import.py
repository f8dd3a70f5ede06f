"""Importing the order book through core.services.orders, on a real database.

An import is all or nothing, idempotent, and says exactly where a file is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.orders.formats.errors import ImportFileError
from core.orders.model import OrderStatus
from core.persistence.tables import import_runs, order_lines, orders, shipments
from core.services import orders as order_service
from core.services.context import CoreContext
from core.services.orders import find_order, import_orders
from tests.core.factories import (
    NOW,
    SAMPLE_CSV,
    SAMPLE_JSON,
    SAMPLE_ORDER_COUNT,
    SHOPIFY_CSV,
    get_order,
)


async def table_rows(ctx: CoreContext) -> dict[str, list[dict[str, Any]]]:
    """Every row of the order book, to compare before and after."""
    found: dict[str, list[dict[str, Any]]] = {}
    async with ctx.unit_of_work() as uow:
        for table in (orders, order_lines, shipments):
            result = await uow.session.execute(select(table).order_by(table.c.id))
            found[table.name] = [dict(row) for row in result.mappings()]
    return found


async def count(ctx: CoreContext, table: Any = orders) -> int:
    async with ctx.unit_of_work() as uow:
        result = await uow.session.execute(select(func.count()).select_from(table))
        return int(result.scalar_one())


def write_sample_json(tmp_path: Path, name: str, change: Callable[[dict[str, Any]], None]) -> Path:
    document = json.loads(SAMPLE_JSON.read_text(encoding="utf-8"))
    change(document)
    path = tmp_path / name
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def sample_order(document: dict[str, Any], number: str) -> dict[str, Any]:
    return next(o for o in document["orders"] if o["number"] == number)


async def test_importing_the_sample_twice_changes_nothing_the_second_time(
    empty_ctx: CoreContext, clock
) -> None:
    first = await import_orders(empty_ctx, SAMPLE_JSON)
    rows = await table_rows(empty_ctx)
    clock.advance(hours=1)

    second = await import_orders(empty_ctx, SAMPLE_JSON)

    assert (first.orders_created, first.orders_updated, first.orders_unchanged) == (17, 0, 0)
    assert first.format == "native-json" and first.shops == {"aurora", "nova"}
    assert first.lines == 19 and first.unknown_suppliers == set()
    assert (second.orders_created, second.orders_updated, second.orders_unchanged) == (0, 0, 17)
    assert await table_rows(empty_ctx) == rows
    assert len(rows["orders"]) == SAMPLE_ORDER_COUNT
    assert await count(empty_ctx, import_runs) == 2


async def test_imported_orders_carry_the_clock_of_the_import(empty_ctx: CoreContext) -> None:
    await import_orders(empty_ctx, SAMPLE_JSON)

    rows = (await table_rows(empty_ctx))["orders"]

    assert {row["created_at"].replace(tzinfo=None) for row in rows} == {NOW.replace(tzinfo=None)}
    assert {row["updated_at"].replace(tzinfo=None) for row in rows} == {NOW.replace(tzinfo=None)}


async def test_the_csv_form_of_the_sample_adds_nothing_to_the_json_import(
    ctx: CoreContext,
) -> None:
    rows = await table_rows(ctx)

    report = await import_orders(ctx, SAMPLE_CSV)

    assert report.format == "native-csv"
    assert (report.orders_created, report.orders_updated, report.orders_unchanged) == (0, 0, 17)
    assert await table_rows(ctx) == rows  # the CSV has no tracking events: none are lost


async def test_shopify_export_imports_into_the_named_shop_with_categories_from_skus(
    ctx: CoreContext,
) -> None:
    report = await import_orders(ctx, SHOPIFY_CSV, shop="lumen")

    assert report.format == "shopify-csv"
    assert (report.orders_created, report.orders_updated) == (5, 0)
    assert report.shops == {"lumen"}
    assert await count(ctx) == SAMPLE_ORDER_COUNT + 5
    serum = await get_order(ctx, "lumen", "#1001")
    assert [(line.sku, line.category) for line in serum.lines] == [
        ("VC-SER-30", "cosmetics"),
        ("SLK-MSK-CH", "accessories"),
    ]
    dryer = await get_order(ctx, "lumen", "1005")
    assert {line.sku: line.category for line in dryer.lines} == {
        "HDR-ION-18": "appliances",
        "SCR-SAT-3": "hair-accessories",
    }
    refunded = await find_order(ctx, "lumen", "#1004")
    assert refunded is not None and refunded.status is OrderStatus.CANCELLED
    assert await find_order(ctx, "aurora", "#1001") is None


async def test_a_bad_row_in_the_middle_imports_nothing_and_says_where(
    ctx: CoreContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(order_service, "BATCH", 2)  # earlier orders are flushed before the error
    header, *rows = SAMPLE_CSV.read_text(encoding="utf-8").splitlines()
    renamed = [row.replace("AUR-100", "AUR-200").replace("NV-55", "NV-65") for row in rows]
    bad = 9  # AUR-20029: the file's line 11 (of 19 rows)
    assert ",1,7.99,gz-kitchen," in renamed[bad]
    renamed[bad] = renamed[bad].replace(",1,7.99,gz-kitchen,", ",one,7.99,gz-kitchen,")
    path = tmp_path / "orders-broken.csv"
    path.write_text("\n".join([header, *renamed]) + "\n", encoding="utf-8")
    runs = await count(ctx, import_runs)

    with pytest.raises(ImportFileError) as caught:
        await import_orders(ctx, path)

    error = caught.value
    assert (error.file, error.line, error.field) == ("orders-broken.csv", 11, "quantity")
    assert error.order == "AUR-20029"
    assert str(error).startswith("orders-broken.csv, line 11 (order AUR-20029), field 'quantity'")
    assert await count(ctx) == SAMPLE_ORDER_COUNT
    assert await find_order(ctx, "aurora", "AUR-20021") is None  # flushed, then rolled back
    assert await count(ctx, import_runs) == runs


async def test_a_bad_price_names_the_line_and_the_field(ctx: CoreContext, tmp_path: Path) -> None:
    header, *rows = SAMPLE_CSV.read_text(encoding="utf-8").splitlines()
    rows = [row.replace("AUR-100", "AUR-300") for row in rows]
    rows[4] = rows[4].replace(",6.90,", ",six,")  # AUR-30024, the file's line 6
    path = tmp_path / "prices.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")

    with pytest.raises(ImportFileError) as caught:
        await import_orders(ctx, path)

    assert (caught.value.line, caught.value.field) == (6, "unit_price")
    assert caught.value.order == "AUR-30024"
    assert await count(ctx) == SAMPLE_ORDER_COUNT


async def test_an_order_of_an_unknown_shop_is_refused(ctx: CoreContext, tmp_path: Path) -> None:
    def move_to_atlantis(document: dict[str, Any]) -> None:
        sample_order(document, "NV-5503")["shop"] = "atlantis"
        sample_order(document, "AUR-10021")["number"] = "AUR-40021"  # a new order before it

    path = write_sample_json(tmp_path, "atlantis.json", move_to_atlantis)

    with pytest.raises(ImportFileError) as caught:
        await import_orders(ctx, path)

    assert caught.value.field == "shop" and caught.value.order == "NV-5503"
    assert "atlantis" in str(caught.value)
    assert await count(ctx) == SAMPLE_ORDER_COUNT
    assert await find_order(ctx, "aurora", "AUR-40021") is None


async def test_an_unknown_shop_on_the_command_line_is_refused_before_reading(
    ctx: CoreContext,
) -> None:
    with pytest.raises(ImportFileError) as caught:
        await import_orders(ctx, SHOPIFY_CSV, shop="atlantis")

    assert caught.value.field == "--shop"
    assert "aurora, lumen, nova" in str(caught.value)
    assert await count(ctx) == SAMPLE_ORDER_COUNT


async def test_a_title_longer_than_the_order_book_keeps_is_refused(
    ctx: CoreContext, tmp_path: Path
) -> None:
    def long_title(document: dict[str, Any]) -> None:
        sample_order(document, "AUR-10022")["items"][1]["title"] = "Linen " * 100  # 600

    path = write_sample_json(tmp_path, "long-title.json", long_title)
    before = await table_rows(ctx)

    with pytest.raises(ImportFileError) as caught:
        await import_orders(ctx, path)

    assert caught.value.field == "title" and caught.value.order == "AUR-10022"
    assert "500" in str(caught.value)
    assert await table_rows(ctx) == before


async def test_a_later_status_updates_the_order_and_an_older_file_never_undoes_it(
    ctx: CoreContext, tmp_path: Path, clock
) -> None:
    def delivered(document: dict[str, Any]) -> None:
        order = sample_order(document, "AUR-10028")
        order["status"] = "delivered"
        order["shipments"][0]["delivered_at"] = "2026-11-21T15:30:00Z"

    path = write_sample_json(tmp_path, "later.json", delivered)
    assert (await get_order(ctx, "aurora", "AUR-10028")).status is OrderStatus.SHIPPED
    clock.advance(hours=2)

    report = await import_orders(ctx, path)

    assert (report.orders_created, report.orders_updated, report.orders_unchanged) == (0, 1, 16)
    order = await get_order(ctx, "aurora", "AUR-10028")
    assert order.status is OrderStatus.DELIVERED
    assert order.shipments[0].delivered_at is not None
    assert order.shipments[0].delivered_at.isoformat().startswith("2026-11-21T15:30:00")
    assert len(order.shipments[0].events) > 0  # the tracking history is kept

    older = await import_orders(ctx, SAMPLE_JSON)  # yesterday's export again

    assert (older.orders_created, older.orders_updated) == (0, 0)
    assert (await get_order(ctx, "aurora", "AUR-10028")).status is OrderStatus.DELIVERED

"""The three order import formats: the samples parse right, bad files say exactly where."""

from __future__ import annotations

import csv
import importlib.util
import io
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from core.money import Money
from core.orders.formats import (
    FORMATS,
    ImportFileError,
    detect_format,
    iter_orders,
    vendor_to_supplier_id,
)
from core.orders.model import Order, OrderStatus

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "core" / "sample"
JSON_SAMPLE = SAMPLES / "orders.sample.json"
CSV_SAMPLE = SAMPLES / "orders.sample.csv"
SHOPIFY_SAMPLE = SAMPLES / "shopify-orders-export.sample.csv"


def _load_generator() -> ModuleType:
    path = ROOT / "benchmarks" / "make_shopify_export.py"
    spec = importlib.util.spec_from_file_location("make_shopify_export", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def by_number(path: Path, **kwargs: object) -> dict[str, Order]:
    return {order.number: order for order in iter_orders(path, **kwargs)}  # type: ignore[arg-type]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def eur(text: str) -> Money:
    return Money.parse(text, "EUR")


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def raises_import_error(orders: Iterator[Order]) -> ImportFileError:
    with pytest.raises(ImportFileError) as info:
        list(orders)
    return info.value


def all_datetimes(order: Order) -> list[datetime]:
    values = [order.placed_at, order.cancelled_at]
    for shipment in order.shipments:
        values += [shipment.shipped_at, shipment.delivered_at]
        values += [event.at for event in shipment.events]
    return [value for value in values if value is not None]


# --- the shipped samples ------------------------------------------------------------------------


def test_samples_ship_byte_for_byte() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared" / "data"  # beside the checkout
    if not shared.exists():
        pytest.skip("the shared sample data is not mounted here")
    assert JSON_SAMPLE.read_bytes() == (shared / "orders.sample.json").read_bytes()
    assert SHOPIFY_SAMPLE.read_bytes() == (shared / "shopify-orders-export.sample.csv").read_bytes()


def test_detect_format_of_the_samples() -> None:
    assert detect_format(JSON_SAMPLE) == "native-json"
    assert detect_format(CSV_SAMPLE) == "native-csv"
    assert detect_format(SHOPIFY_SAMPLE) == "shopify-csv"
    assert FORMATS == ("native-json", "native-csv", "shopify-csv")


def test_json_sample_has_all_17_orders_in_file_order() -> None:
    orders = list(iter_orders(JSON_SAMPLE))
    assert [o.number for o in orders] == [f"AUR-{n}" for n in range(10021, 10032)] + [
        f"NV-{n}" for n in range(5501, 5507)
    ]
    assert {o.shop for o in orders} == {"aurora", "nova"}
    for order in orders:
        assert [line.line_no for line in order.lines] == list(range(1, len(order.lines) + 1))
        assert all(line.unit_price.currency == order.currency for line in order.lines)
        assert all(value.tzinfo is UTC for value in all_datetimes(order))


def test_json_sample_spot_checks() -> None:
    orders = by_number(JSON_SAMPLE)

    lamp = orders["AUR-10021"]
    assert lamp.status is OrderStatus.DELIVERED
    assert lamp.placed_at == utc(2026, 10, 20, 9, 14)
    assert lamp.buyer.name == "Lucía Fernández" and lamp.buyer.language == "es"
    assert lamp.buyer.telegram_id is None
    assert lamp.shipping_address is not None and lamp.shipping_address.line1 == (
        "Calle de Colón 12, 3ºB"
    )
    (parcel,) = lamp.shipments
    assert parcel.carrier == "Cainiao" and parcel.tracking_number == "LP00612345678CN"
    assert parcel.estimated_days == (12, 25)
    assert [e.location for e in parcel.events] == ["Shenzhen", "Madrid", "Valencia"]
    assert lamp.delivered_at == utc(2026, 11, 12, 11, 20)
    assert lamp.shipping_cost == eur("0.00")

    two_lines = orders["AUR-10022"]
    assert [(ln.line_no, ln.sku, ln.quantity, ln.unit_price) for ln in two_lines.lines] == [
        (1, "DUV-LIN-200", 1, eur("49.00")),
        (2, "PIL-LIN-SG", 2, eur("9.50")),
    ]
    assert two_lines.lines[1].category == "bedding"
    assert two_lines.lines[1].supplier == "yw-textile"
    assert two_lines.grand_total == eur("71.90")

    cancelled = orders["AUR-10031"]
    assert cancelled.status is OrderStatus.CANCELLED
    assert cancelled.cancelled_at == utc(2026, 11, 3, 14, 0)
    assert cancelled.refunded_amount == eur("43.80")
    assert cancelled.shipments == ()
    assert cancelled.fully_refunded

    lost = orders["NV-5503"]
    assert lost.status is OrderStatus.SHIPPED and lost.currency == "GBP"
    (unregistered,) = lost.shipments
    assert unregistered.registered is False
    assert unregistered.tracking_number is None
    assert unregistered.events == ()
    assert unregistered.estimated_days == (15, 35)
    assert lost.lines[0].unit_price == Money.parse("129.00", "GBP")

    assert orders["AUR-10027"].status is OrderStatus.PAID
    assert orders["AUR-10027"].shipments == ()
    assert orders["AUR-10029"].buyer.language == "it"
    assert orders["AUR-10023"].shipping_address.region == "SP"  # type: ignore[union-attr]
    assert orders["AUR-10028"].lines[0].unit_price == Money.parse("19.90", "SGD")
    assert orders["NV-5502"].lines[0].quantity == 2


def test_native_csv_sample_equals_json_sample_without_tracking_events() -> None:
    from_json = [
        replace(order, shipments=tuple(replace(s, events=()) for s in order.shipments))
        for order in iter_orders(JSON_SAMPLE)
    ]
    from_csv = list(iter_orders(CSV_SAMPLE))
    assert len(from_csv) == 17
    assert from_csv == from_json


def test_native_formats_filter_by_shop() -> None:
    aurora = list(itertools.islice(iter_orders(CSV_SAMPLE, shop="aurora"), 11))
    assert {o.shop for o in aurora} == {"aurora"}
    error = raises_import_error(iter_orders(JSON_SAMPLE, shop="aurora"))
    assert (error.file, error.order, error.field) == ("orders.sample.json", "NV-5501", "shop")
    assert "belongs to shop 'nova'" in error.reason
    error = raises_import_error(iter_orders(CSV_SAMPLE, shop="nova"))
    assert (error.line, error.order, error.field) == (2, "AUR-10021", "shop")


def test_shopify_sample_parses_to_five_orders() -> None:
    orders = by_number(SHOPIFY_SAMPLE, shop="lumen")
    assert list(orders) == ["#1001", "#1002", "#1003", "#1004", "#1005"]
    assert {o.shop for o in orders.values()} == {"lumen"}
    for order in orders.values():
        assert all(value.tzinfo is UTC for value in all_datetimes(order))
        assert all(line.category is None for line in order.lines)
        assert all(s.tracking_number is None and s.carrier is None for s in order.shipments)

    first = orders["#1001"]
    assert first.status is OrderStatus.SHIPPED
    assert first.placed_at == utc(2026, 10, 29, 13, 1, 55)  # 14:01:55 +0100
    assert first.external_id == "5912345678901"
    assert [(ln.sku, ln.quantity, ln.unit_price, ln.supplier) for ln in first.lines] == [
        ("VC-SER-30", 1, eur("24.90"), "lumen-labs"),
        ("SLK-MSK-CH", 2, eur("8.95"), "yiwu-silk-co"),
    ]
    assert first.items_total == eur("42.80")
    assert first.buyer.name == "Hannah Becker" and first.buyer.country == "DE"
    assert first.buyer.language is None and first.buyer.telegram_id is None
    assert first.shipping_address is not None
    assert first.shipping_address.line1 == "Bergmannstraße 14"
    assert first.shipping_address.postal_code == "10961"
    (parcel,) = first.shipments
    assert parcel.shipped_at == utc(2026, 10, 31, 8, 0) and parcel.skus is None
    assert parcel.registered is False and parcel.estimated_days is None

    quoted = orders["#1002"]
    assert quoted.status is OrderStatus.PAID and quoted.shipments == ()
    assert quoted.lines[0].title == 'Jade facial roller, "Rose quartz" edition'
    assert quoted.lines[1].title == "LED mirror, 20 cm"
    assert quoted.lines[1].supplier == "sz-bright"
    assert quoted.shipping_cost == eur("4.90")
    assert quoted.buyer.name == "Tom O'Connor"

    refunded = orders["#1003"]
    assert refunded.status is OrderStatus.SHIPPED and refunded.currency == "USD"
    assert refunded.refunded_amount == usd("10.50")
    assert refunded.placed_at == utc(2026, 10, 5, 13, 59, 30)  # 10:59:30 -0300

    cancelled = orders["#1004"]
    assert cancelled.status is OrderStatus.CANCELLED
    assert cancelled.cancelled_at == utc(2026, 9, 12, 3, 0)  # 12:00 +0900
    assert cancelled.refunded_amount == usd("24.90")
    assert cancelled.shipments == ()

    partial = orders["#1005"]
    assert partial.status is OrderStatus.SHIPPED
    (parcel,) = partial.shipments
    assert parcel.skus == ("HDR-ION-18",)
    assert parcel.shipped_at == utc(2026, 11, 12, 6, 0)
    assert parcel.carries("HDR-ION-18") and not parcel.carries("SCR-SAT-3")
    assert partial.buyer.name == "Дмитрий Кузнецов"
    assert partial.refunded_amount is None


def test_vendor_to_supplier_id() -> None:
    assert vendor_to_supplier_id("SZ Bright") == "sz-bright"
    assert vendor_to_supplier_id("Lumen Labs") == "lumen-labs"
    assert vendor_to_supplier_id("  Yiwu  Silk Co. ") == "yiwu-silk-co"
    assert vendor_to_supplier_id("") is None


def test_shopify_needs_a_shop_before_reading_anything() -> None:
    with pytest.raises(ImportFileError) as info:
        iter_orders(SHOPIFY_SAMPLE)
    assert info.value.file == "shopify-orders-export.sample.csv"
    assert "shop" in info.value.reason


# --- broken files ------------------------------------------------------------------------------


def write_json(path: Path, mutate: Callable[[dict[str, Any]], None]) -> Path:
    document = json.loads(JSON_SAMPLE.read_text(encoding="utf-8"))
    mutate(document)
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def test_json_bad_money_names_order_and_json_path(tmp_path: Path) -> None:
    def break_price(document: dict[str, Any]) -> None:
        document["orders"][1]["items"][1]["unit_price"] = "abc"

    path = write_json(tmp_path / "orders.json", break_price)
    error = raises_import_error(iter_orders(path))
    assert (error.file, error.order, error.field, error.line) == (
        "orders.json",
        "AUR-10022",
        "items[1].unit_price",
        None,
    )
    assert str(error) == "orders.json, order AUR-10022, field 'items[1].unit_price': " + (
        "not a decimal amount: 'abc'"
    )


def test_json_float_money_and_too_many_decimals(tmp_path: Path) -> None:
    def float_cost(document: dict[str, Any]) -> None:
        document["orders"][0]["shipping_cost"] = 3.9

    error = raises_import_error(iter_orders(write_json(tmp_path / "a.json", float_cost)))
    assert (error.order, error.field) == ("AUR-10021", "shipping_cost")
    assert "decimal string" in error.reason

    def three_decimals(document: dict[str, Any]) -> None:
        document["orders"][2]["refunded_amount"] = "1.005"

    error = raises_import_error(iter_orders(write_json(tmp_path / "b.json", three_decimals)))
    assert (error.order, error.field) == ("AUR-10023", "refunded_amount")
    assert "more than 2 decimals" in error.reason


def test_json_wrong_format_value(tmp_path: Path) -> None:
    def wrong(document: dict[str, Any]) -> None:
        document["format"] = "returns-orders/2"

    error = raises_import_error(iter_orders(write_json(tmp_path / "orders.json", wrong)))
    assert (error.file, error.field) == ("orders.json", "format")
    assert "'returns-orders/2'" in error.reason and "'returns-orders/1'" in error.reason


def test_json_structural_errors(tmp_path: Path) -> None:
    def cases() -> list[tuple[Callable[[dict[str, Any]], None], str, str]]:
        def dup(d: dict[str, Any]) -> None:
            d["orders"][3]["number"] = "aur 10021"  # the same order for a buyer's lookup

        def unknown_sku(d: dict[str, Any]) -> None:
            d["orders"][0]["shipments"][0]["items"] = ["LMP-NORD-01", "NOPE"]

        def days(d: dict[str, Any]) -> None:
            d["orders"][4]["shipments"][0]["estimated_days"] = [30, 12]

        def naive(d: dict[str, Any]) -> None:
            d["orders"][5]["placed_at"] = "2026-11-01T07:20:00"

        def status(d: dict[str, Any]) -> None:
            d["orders"][6]["status"] = "refunded"

        def extra(d: dict[str, Any]) -> None:
            d["orders"][7]["buyer"]["nickname"] = "li"

        def quantity(d: dict[str, Any]) -> None:
            d["orders"][8]["items"][0]["quantity"] = 0

        return [
            (dup, "aur 10021", "number"),
            (unknown_sku, "AUR-10021", "shipments[0].items[1]"),
            (days, "AUR-10025", "shipments[0].estimated_days"),
            (naive, "AUR-10026", "placed_at"),
            (status, "AUR-10027", "status"),
            (extra, "AUR-10028", "buyer.nickname"),
            (quantity, "AUR-10029", "items[0].quantity"),
        ]

    for index, (mutate, order, field) in enumerate(cases()):
        error = raises_import_error(iter_orders(write_json(tmp_path / f"{index}.json", mutate)))
        assert (error.file, error.order, error.field) == (f"{index}.json", order, field)


def test_json_order_without_number_is_located_by_index(tmp_path: Path) -> None:
    def drop(document: dict[str, Any]) -> None:
        del document["orders"][2]["number"]

    error = raises_import_error(iter_orders(write_json(tmp_path / "orders.json", drop)))
    assert (error.order, error.field) == (None, "orders[2].number")


def test_json_syntax_error_has_a_line(tmp_path: Path) -> None:
    path = tmp_path / "orders.json"
    path.write_text('{\n  "format": "returns-orders/1",\n  "orders": [\n    {,}\n  ]\n}\n')
    error = raises_import_error(iter_orders(path))
    assert (error.file, error.line) == ("orders.json", 4)
    assert error.reason.startswith("not valid JSON")


def test_json_nested_thousands_deep_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "orders.json"
    depth = 100_000
    path.write_text('{"format": "returns-orders/1", "orders": ' + "[" * depth + "]" * depth + "}")
    error = raises_import_error(iter_orders(path))
    assert (error.file, error.reason) == (
        "orders.json",
        "not an order file: the JSON is nested too deeply",
    )


def test_json_absurd_amounts_are_refused_at_once(tmp_path: Path) -> None:
    def huge(document: dict[str, Any]) -> None:
        document["orders"][0]["items"][0]["unit_price"] = "9" * 30

    error = raises_import_error(iter_orders(write_json(tmp_path / "orders.json", huge)))
    assert (error.order, error.field) == ("AUR-10021", "items[0].unit_price")
    assert error.reason == f"'{'9' * 30}' is out of range"


CSV_HEADER = "shop,number,placed_at,status,currency,buyer_name,sku,title,quantity,unit_price"


def write_csv(path: Path, *rows: str, header: str = CSV_HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_native_csv_bad_quantity(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        "aurora,A-1,2026-11-01T10:00:00Z,paid,EUR,Ann,SKU-1,Lamp,1,9.90",
        "aurora,A-1,,,,,SKU-2,Shade,two,3.00",
    )
    error = raises_import_error(iter_orders(path))
    assert (
        str(error) == "orders.csv, line 3 (order A-1), field 'quantity': not a whole number: 'two'"
    )


def test_native_csv_line_numbers_count_multiline_cells(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        'aurora,A-1,2026-11-01T10:00:00Z,paid,EUR,Ann,SKU-1,"Lamp,\nwith a\nlong title",1,9.90',
        "",
        "aurora,A-2,2026-11-02T10:00:00+01:00,paid,EUR,Bob,SKU-1,Lamp,1,9.999",
    )
    orders = iter_orders(path)
    first = next(orders)
    assert first.lines[0].title == "Lamp,\nwith a\nlong title"
    error = raises_import_error(orders)
    assert (error.line, error.order, error.field) == (6, "A-2", "unit_price")
    assert "more than 2 decimals" in error.reason


def test_native_csv_rows_of_an_order_must_be_consecutive(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        "aurora,A-1,2026-11-01T10:00:00Z,paid,EUR,Ann,SKU-1,Lamp,1,9.90",
        "aurora,A-2,2026-11-01T11:00:00Z,paid,EUR,Bob,SKU-1,Lamp,1,9.90",
        "aurora,A-1,,,,,SKU-2,Shade,1,3.00",
    )
    error = raises_import_error(iter_orders(path))
    assert (error.file, error.line, error.order, error.field) == ("orders.csv", 4, "A-1", "number")
    assert "consecutive" in error.reason and "line 2" in error.reason


def test_native_csv_header_problems(tmp_path: Path) -> None:
    missing = write_csv(tmp_path / "missing.csv", header=CSV_HEADER.removesuffix(",unit_price"))
    error = raises_import_error(iter_orders(missing, fmt="native-csv"))
    assert (error.file, error.line, error.field) == ("missing.csv", 1, "unit_price")

    typo = write_csv(tmp_path / "typo.csv", header=CSV_HEADER + ",supplyer")
    error = raises_import_error(iter_orders(typo))
    assert (error.line, error.field, error.reason) == (1, "supplyer", "unknown column")


def test_native_csv_continuation_row_may_not_contradict(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        "aurora,A-1,2026-11-01T10:00:00Z,paid,EUR,Ann,SKU-1,Lamp,1,9.90",
        "aurora,A-1,,,USD,,SKU-2,Shade,1,3.00",
    )
    error = raises_import_error(iter_orders(path))
    assert (error.line, error.order, error.field) == (3, "A-1", "currency")


def test_native_csv_empty_required_cell_and_half_estimate(tmp_path: Path) -> None:
    header = CSV_HEADER + ",shipped_at,estimated_min_days,estimated_max_days"
    path = write_csv(
        tmp_path / "orders.csv",
        "aurora,A-1,,paid,EUR,Ann,SKU-1,Lamp,1,9.90,,,",
        header=header,
    )
    error = raises_import_error(iter_orders(path))
    assert (error.line, error.field, error.reason) == (
        2,
        "placed_at",
        "required, but the cell is empty",
    )
    path = write_csv(
        tmp_path / "orders.csv",
        "aurora,A-1,2026-11-01T10:00:00Z,shipped,EUR,Ann,SKU-1,Lamp,1,9.90,2026-11-02T10:00:00Z,5,",
        header=header,
    )
    error = raises_import_error(iter_orders(path))
    assert (error.line, error.field) == (2, "estimated_max_days")


def test_native_csv_tolerates_bom_crlf_and_omitted_columns(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    text = "\r\n".join(
        [
            CSV_HEADER + ",ship_line1,ship_line2,ship_city,ship_country,tracking_number,"
            "shipped_at,buyer_telegram_id",
            "nova,N-1,2026-11-01T10:00:00+03:00,shipped,EUR,Ann,S1,Cable,3,3.50,"
            "Main St 1,Flat 2,Riga,lv,RR1,2026-11-02T08:00:00Z,123456789",
            ",,,,,,S2,Plug,1,1.00,,,,,,,",
        ]
    )
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8") + b"\r\n")
    (order,) = iter_orders(path)
    assert order.placed_at == utc(2026, 11, 1, 7, 0)
    assert order.buyer.telegram_id == 123456789
    assert [line.sku for line in order.lines] == ["S1", "S2"]
    assert order.shipping_address is not None
    assert order.shipping_address.line2 == "Flat 2" and order.shipping_address.country == "LV"
    (parcel,) = order.shipments
    assert parcel.registered is True and parcel.tracking_number == "RR1"
    assert parcel.shipped_at == utc(2026, 11, 2, 8, 0) and parcel.estimated_days is None


def shopify_lines() -> list[str]:
    return SHOPIFY_SAMPLE.read_bytes().decode("utf-8-sig").split("\r\n")


def write_shopify(path: Path, lines: list[str]) -> Path:
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8"))
    return path


def test_shopify_bad_price_message(tmp_path: Path) -> None:
    lines = shopify_lines()
    assert lines[5].startswith("#1003,")
    lines[5] = lines[5].replace(',"Hair clips, pearl, set of 6",10.50,', ',"Hair clips",abc,')
    error = raises_import_error(
        iter_orders(write_shopify(tmp_path / "orders.csv", lines), shop="l")
    )
    assert str(error) == (
        "orders.csv, line 6 (order #1003), field 'Lineitem price': not a decimal amount: 'abc'"
    )


def test_shopify_missing_column(tmp_path: Path) -> None:
    lines = [line.replace("Lineitem price,", "Lineitem cost,", 1) for line in shopify_lines()]
    error = raises_import_error(iter_orders(write_shopify(tmp_path / "e.csv", lines), shop="l"))
    assert (error.file, error.line, error.field) == ("e.csv", 1, "Lineitem price")
    assert "missing" in error.reason


def test_shopify_non_consecutive_rows(tmp_path: Path) -> None:
    lines = shopify_lines()
    lines.insert(4, lines.pop(2))  # #1001's second row after #1002's first
    orders = iter_orders(write_shopify(tmp_path / "e.csv", lines), shop="lumen")
    assert next(orders).number == "#1001"
    assert next(orders).number == "#1002"  # both of its rows, still consecutive
    error = raises_import_error(orders)
    assert (error.line, error.order, error.field) == (5, "#1001", "Name")
    assert "consecutive" in error.reason


def test_shopify_first_row_without_order_fields(tmp_path: Path) -> None:
    lines = shopify_lines()
    lines[3] = lines[3].replace(",paid,2026-11-02 20:15:40 +0000,unfulfilled,", ",,,unfulfilled,")
    error = raises_import_error(iter_orders(write_shopify(tmp_path / "e.csv", lines), shop="l"))
    assert (error.line, error.order, error.field) == (4, "#1002", "Financial Status")


def test_shopify_bad_date_and_quantity(tmp_path: Path) -> None:
    lines = shopify_lines()
    lines[6] = lines[6].replace("2026-09-12 12:00:00 +0900", "12/09/2026 noon")
    error = raises_import_error(iter_orders(write_shopify(tmp_path / "e.csv", lines), shop="l"))
    assert (error.line, error.order, error.field) == (7, "#1004", "Cancelled at")
    assert "12/09/2026 noon" in error.reason

    lines = shopify_lines()
    lines[8] = lines[8].replace(",2026-11-10 18:44:10 +0300,2,", ",2026-11-10 18:44:10 +0300,0,")
    error = raises_import_error(iter_orders(write_shopify(tmp_path / "e.csv", lines), shop="l"))
    assert (error.line, error.order, error.field) == (9, "#1005", "Lineitem quantity")


def test_shopify_not_utf8_says_which_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    text = "\r\n".join(shopify_lines())
    path.write_bytes(text.encode("cp1252", errors="replace"))  # ß and ã become single bytes
    error = raises_import_error(iter_orders(path, fmt="shopify-csv", shop="lumen"))
    assert (error.file, error.line) == ("latin1.csv", 2)
    assert "UTF-8" in error.reason


def test_shopify_empty_sku_falls_back_to_title_slug(tmp_path: Path) -> None:
    lines = shopify_lines()
    lines[4] = lines[4].replace(",MIR-LED-20,", ",,")
    orders = by_number(write_shopify(tmp_path / "e.csv", lines), shop="lumen")
    assert orders["#1002"].lines[1].sku == "led-mirror-20-cm"


# --- detection and streaming --------------------------------------------------------------------


def test_detect_format_refuses_unknown_files(tmp_path: Path) -> None:
    semicolons = tmp_path / "orders.csv"
    semicolons.write_text("number;sku;unit_price\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="semicolons") as info:
        detect_format(semicolons)
    assert (info.value.file, info.value.line) == ("orders.csv", 1)

    empty = tmp_path / "empty.json"
    empty.write_bytes(b"\xef\xbb\xbf\n")
    with pytest.raises(ImportFileError, match="empty"):
        iter_orders(empty)

    with pytest.raises(ValueError, match="unknown import format"):
        iter_orders(JSON_SAMPLE, fmt="xml")


def test_small_files_report_progress_once_at_the_end() -> None:
    for path in (JSON_SAMPLE, CSV_SAMPLE):
        calls: list[int] = []
        assert len(list(iter_orders(path, progress=calls.append))) == 17
        assert calls == [path.stat().st_size]


def test_generated_shopify_export_streams_lazily(tmp_path: Path) -> None:
    generator = _load_generator()
    path = tmp_path / "big.csv"
    rows = 10_000
    order_count = generator.write_shopify_export(path, rows, seed=7)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfName,Email,") and b"\r\n" in raw
    assert raw.splitlines()[0].count(b",") == 78  # 79 columns, as the sample header
    assert 4_000 < order_count < 6_000

    # Break the very last row: a parser that read everything first would fail on next().
    text = raw.decode("utf-8-sig")
    head, last = text.rstrip("\r\n").rsplit("\r\n", 1)
    cells = next(csv.reader([last]))
    cells[generator.HEADER.index("Lineitem price")] = "12.3.4"
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    path.write_bytes(b"\xef\xbb\xbf" + (head + "\r\n" + out.getvalue()).encode("utf-8"))

    calls: list[int] = []
    orders = iter_orders(path, shop="lumen", progress=calls.append)
    first = next(orders)
    assert first.number == "#1001" and first.shop == "lumen"
    assert calls == []  # not a thousand rows read yet

    seen = 1
    with pytest.raises(ImportFileError) as info:
        for _ in orders:
            seen += 1
    assert seen == order_count - 1
    assert (info.value.order, info.value.field) == (cells[0], "Lineitem price")
    assert info.value.line == rows + 1
    assert len(calls) >= rows // 1000 - 1
    assert calls == sorted(calls) and calls[-1] <= path.stat().st_size


def test_generated_shopify_export_parses_completely(tmp_path: Path) -> None:
    generator = _load_generator()
    path = tmp_path / "export.csv"
    order_count = generator.write_shopify_export(path, 3_000, seed=1)
    calls: list[int] = []
    orders = list(iter_orders(path, shop="lumen", progress=calls.append))
    assert len(orders) == order_count
    assert sum(len(o.lines) for o in orders) == 3_000
    assert all(1 <= len(o.lines) <= 3 for o in orders)
    assert len({o.number for o in orders}) == order_count
    assert calls[-1] == path.stat().st_size and len(calls) == 4
    statuses = {o.status for o in orders}
    assert {OrderStatus.SHIPPED, OrderStatus.PAID, OrderStatus.CANCELLED} <= statuses
    assert any('"' in line.title for o in orders for line in o.lines)
    partial = [o for o in orders if o.shipments and o.shipments[0].skus is not None]
    assert partial and all(0 < len(o.shipments[0].skus or ()) < len(o.lines) for o in partial)

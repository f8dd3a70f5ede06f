"""The project's own CSV order file: the same data as ``returns-orders/1`` JSON, one row per item.

Layout
------
* UTF-8 (a byte-order mark, as Excel writes it, is tolerated), comma-separated, quoted as usual
  (``"Linen duvet cover 200x200, sage"``), LF or CRLF line ends; the first row is the header.
* One row per line item. The rows of one order are consecutive; the first row of an order carries
  its order-level columns, its continuation rows may repeat them or leave them empty (a repeated
  value must equal the first row's). A row starts a new order when its ``number`` (or ``shop``)
  differs from the row above; a row with an empty ``number`` continues the order above.
* Required columns in the header: ``shop, number, placed_at, status, currency, buyer_name, sku,
  title, quantity, unit_price``. Every other column may be left out of the header (then it is
  empty everywhere); unknown columns are refused, so a misspelt header is not silently ignored.
* Values follow the JSON format: money is a decimal with a dot (``39.90``), never with a thousands
  separator; date-times are ISO 8601 with an offset (``2026-10-20T09:14:00Z``); an empty cell
  means "none".
* At most one shipment per order, described on the order's first row; it exists when any
  shipment column is filled. The CSV carries no tracking events (import those as JSON) and no
  per-parcel item list (the shipment holds every item of the order).

Columns
-------
==================  ==========  ===============================================================
column              level       meaning
==================  ==========  ===============================================================
shop                order       id of the shop in the configuration
number              order       order number as the buyer knows it (``AUR-10021``, ``#1001``)
placed_at           order       ISO 8601 date-time with offset
status              order       ``pending`` | ``paid`` | ``shipped`` | ``delivered`` | ``cancelled``
currency            order       ISO 4217 code; every amount of the order is in it
buyer_name          order       required
buyer_email         order
buyer_phone         order
buyer_country       order       ISO 3166-1 alpha-2
buyer_language      order       BCP 47 tag (``es``, ``es-MX``)
buyer_telegram_id   order       integer, when the store knows it
ship_line1          order       shipping address; the address exists when any ``ship_`` column
                                is filled, and then needs line1, city and country
ship_line2          order       optional extra column (not in the sample file)
ship_city           order
ship_postal_code    order
ship_region         order
ship_country        order       ISO 3166-1 alpha-2
shipping_cost       order       decimal
cancelled_at        order       ISO 8601 date-time with offset
refunded_amount     order       decimal
sku                 item        required
title               item        required
category            item        e.g. ``lighting``, ``swimwear``
quantity            item        integer >= 1
unit_price          item        decimal
supplier            item        supplier id
supplier_order      item        optional extra column: the shop's order number with the supplier
carrier             shipment
tracking_number     shipment    empty for an unregistered parcel
registered          shipment    ``true``/``false`` (also yes/no, 1/0); empty: true when there is
                                a tracking number
shipped_at          shipment    ISO 8601 date-time with offset; required for a shipment
delivered_at        shipment    empty until delivered
estimated_min_days  shipment    transit days from shipping; give both or neither
estimated_max_days  shipment
==================  ==========  ===============================================================

Errors give the physical line number a user sees in an editor (the header is line 1) and the
column name. The file is read row by row and only the current order's rows are kept in memory.

The CSV plumbing here (``read_csv`` and ``group_orders``) is shared with the Shopify reader.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Callable, Collection, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.orders.formats.errors import ImportFileError
from core.orders.formats.native_json import (
    Loc,
    OrderFieldError,
    OrderNumbers,
    check_shop,
    first_undecodable_line,
    order_from_data,
)
from core.orders.model import Order

PROGRESS_EVERY_ROWS = 1000

ORDER_COLUMNS = (
    "shop",
    "number",
    "placed_at",
    "status",
    "currency",
    "buyer_name",
    "buyer_email",
    "buyer_phone",
    "buyer_country",
    "buyer_language",
    "buyer_telegram_id",
    "ship_line1",
    "ship_city",
    "ship_postal_code",
    "ship_region",
    "ship_country",
    "shipping_cost",
    "cancelled_at",
    "refunded_amount",
)
ITEM_COLUMNS = ("sku", "title", "category", "quantity", "unit_price", "supplier")
SHIPMENT_COLUMNS = (
    "carrier",
    "tracking_number",
    "registered",
    "shipped_at",
    "delivered_at",
    "estimated_min_days",
    "estimated_max_days",
)
# The documented column order, as the sample file and exports write it.
COLUMNS = ORDER_COLUMNS + ITEM_COLUMNS + SHIPMENT_COLUMNS
OPTIONAL_COLUMNS = ("ship_line2",)
OPTIONAL_ITEM_COLUMNS = ("supplier_order",)  # per row: never checked as repeated
REQUIRED_COLUMNS = (
    "shop",
    "number",
    "placed_at",
    "status",
    "currency",
    "buyer_name",
    "sku",
    "title",
    "quantity",
    "unit_price",
)

_BUYER = ("name", "email", "phone", "country", "language", "telegram_id")
_ADDRESS = ("line1", "line2", "city", "postal_code", "region", "country")
_ORDER_SCALARS = (
    "shop",
    "number",
    "placed_at",
    "status",
    "currency",
    "shipping_cost",
    "cancelled_at",
    "refunded_amount",
)
_SHIPMENT_SCALARS = ("carrier", "tracking_number", "shipped_at", "delivered_at")


# --- CSV plumbing shared with the Shopify reader ----------------------------------------------


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One record with the physical line it starts on (a quoted cell may span lines)."""

    line: int
    cells: dict[str, str]

    def get(self, column: str) -> str:
        """The cell without surrounding blanks ("" for a column the file does not have)."""
        return self.cells.get(column, "").strip()


def read_csv(
    path: Path,
    *,
    required: Collection[str],
    allowed: Collection[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Generator[CsvRow, None, None]:
    """Stream the data rows of a UTF-8 CSV as cells keyed by header name.

    Checks the header first (``required`` columns present; with ``allowed``, nothing else).
    Reports bytes consumed to ``progress`` every PROGRESS_EVERY_ROWS rows and at the end.
    """
    file = path.name
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        records = _records(csv.reader(text), path)
        header = _header(next(records, None), file, required, allowed)
        count = 0
        for line, cells in records:
            if len(cells) != len(header):
                raise ImportFileError(
                    file,
                    f"the row has {len(cells)} fields, the header has {len(header)}",
                    line=line,
                )
            yield CsvRow(line, dict(zip(header, cells, strict=True)))
            count += 1
            if progress is not None and count % PROGRESS_EVERY_ROWS == 0:
                progress(raw.tell())
        if progress is not None:
            progress(raw.tell())


def _records(reader: Any, path: Path) -> Iterator[tuple[int, list[str]]]:
    """Non-blank records with the line each starts on; decoding and quoting errors located."""
    file = path.name
    end = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError:
            line = first_undecodable_line(path)
            raise ImportFileError(
                file, "not UTF-8 text (save the file as UTF-8)", line=line
            ) from None
        except csv.Error as exc:
            raise ImportFileError(file, f"broken CSV: {exc}", line=end + 1) from None
        start, end = end + 1, reader.line_num
        if cells and any(cell.strip() for cell in cells):
            yield start, cells


def _header(
    first: tuple[int, list[str]] | None,
    file: str,
    required: Collection[str],
    allowed: Collection[str] | None,
) -> list[str]:
    if first is None:
        raise ImportFileError(file, "the file is empty: expected a header row", line=1)
    line, header = first
    header = [name.strip() for name in header]
    for name in header:
        if header.count(name) > 1:
            raise ImportFileError(file, "column appears twice in the header", line=line, field=name)
    for name in required:
        if name not in header:
            raise ImportFileError(
                file, "required column missing from the header", line=line, field=name
            )
    if allowed is not None:
        for name in header:
            if name not in allowed:
                raise ImportFileError(file, "unknown column", line=line, field=name)
    return header


def group_orders(
    rows: Iterator[CsvRow],
    file: str,
    *,
    key: Callable[[CsvRow], tuple[str, str]],
    number_column: str,
) -> Iterator[list[CsvRow]]:
    """Runs of consecutive rows of one order, each order allowed one run only.

    ``key(row)`` gives ``(shop, number)``; an empty part means "as in the row above".
    """
    numbers = OrderNumbers()
    group: list[CsvRow] = []
    current: tuple[str, str] | None = None
    for row in rows:
        row_key = key(row)
        if _continues(row_key, current):
            if not group:
                raise ImportFileError(
                    file, "the first row has no order number", line=row.line, field=number_column
                )
            group.append(row)
            continue
        if group:
            yield group
        _check_new_order(numbers, row_key, row, file, number_column)
        current, group = row_key, [row]
    if group:
        yield group


def _continues(key: tuple[str, str], current: tuple[str, str] | None) -> bool:
    shop, number = key
    if not number:
        return True
    return current is not None and number == current[1] and shop in ("", current[0])


def _check_new_order(
    numbers: OrderNumbers, key: tuple[str, str], row: CsvRow, file: str, column: str
) -> None:
    shop, number = key
    earlier = numbers.first_seen(shop, number, row.line)
    if earlier is None:
        return
    earlier_number, earlier_line = earlier
    if earlier_number == number:
        reason = (
            "rows of an order must be consecutive: "
            f"the order already appeared on line {earlier_line}"
        )
    else:
        reason = (
            f"duplicate order number: {earlier_number!r} on line {earlier_line} is the same order"
        )
    raise ImportFileError(file, reason, line=row.line, order=number, field=column)


# --- the native CSV ---------------------------------------------------------------------------


def iter_native_csv(
    path: Path, *, shop: str | None = None, progress: Callable[[int], None] | None = None
) -> Iterator[Order]:
    """Orders of a native CSV file, streamed: only the current order's rows are held."""
    file = path.name
    rows = read_csv(
        path,
        required=REQUIRED_COLUMNS,
        allowed=COLUMNS + OPTIONAL_COLUMNS + OPTIONAL_ITEM_COLUMNS,
        progress=progress,
    )
    with contextlib.closing(rows):
        for group in group_orders(rows, file, key=_order_key, number_column="number"):
            yield _order(group, file, shop)


def _order_key(row: CsvRow) -> tuple[str, str]:
    return row.get("shop"), row.get("number")


def _order(group: list[CsvRow], file: str, shop: str | None) -> Order:
    first = group[0]
    number = first.get("number")

    def fail(row: CsvRow, column: str | None, reason: str) -> ImportFileError:
        return ImportFileError(file, reason, line=row.line, order=number, field=column)

    for row in group[1:]:
        _check_repeated(row, first, fail)
    try:
        order = order_from_data(_document(group, fail))
    except OrderFieldError as exc:
        index, column = _column_of(exc.loc)
        row = group[index] if index is not None and index < len(group) else first
        raise fail(row, column, _csv_reason(exc.reason)) from None
    wrong_shop = check_shop(order.shop, shop)
    if wrong_shop:
        raise fail(first, "shop", wrong_shop)
    return order


Fail = Callable[[CsvRow, str | None, str], ImportFileError]


def _check_repeated(row: CsvRow, first: CsvRow, fail: Fail) -> None:
    """A continuation row may repeat order-level values, but not contradict them."""
    for column in ORDER_COLUMNS + OPTIONAL_COLUMNS + SHIPMENT_COLUMNS:
        value = row.get(column)
        if value and value != first.get(column):
            raise fail(
                row,
                column,
                f"{value!r} differs from {first.get(column)!r} "
                f"on the order's first row (line {first.line})",
            )


def _document(group: list[CsvRow], fail: Fail) -> dict[str, Any]:
    """The JSON-shaped order document of a run of rows, for the shared validation."""
    first = group[0]
    document: dict[str, Any] = _filled(first, {name: name for name in _ORDER_SCALARS})
    document["buyer"] = _filled(first, {name: f"buyer_{name}" for name in _BUYER})
    if "telegram_id" in document["buyer"]:
        document["buyer"]["telegram_id"] = _integer(first, "buyer_telegram_id", fail)
    address = _filled(first, {name: f"ship_{name}" for name in _ADDRESS})
    if address:
        document["shipping_address"] = address
    document["items"] = [_item(row, fail) for row in group]
    shipment = _shipment(first, fail)
    document["shipments"] = [shipment] if shipment else []
    return document


def _filled(row: CsvRow, keys: dict[str, str]) -> dict[str, Any]:
    """Document keys whose column is non-empty; an empty cell means the key is absent."""
    return {key: row.get(column) for key, column in keys.items() if row.get(column)}


def _item(row: CsvRow, fail: Fail) -> dict[str, Any]:
    item = _filled(row, {name: name for name in ITEM_COLUMNS + OPTIONAL_ITEM_COLUMNS})
    if "quantity" in item:
        item["quantity"] = _integer(row, "quantity", fail)
    return item


def _shipment(row: CsvRow, fail: Fail) -> dict[str, Any] | None:
    if not any(row.get(column) for column in SHIPMENT_COLUMNS):
        return None
    shipment = _filled(row, {name: name for name in _SHIPMENT_SCALARS})
    shipment["registered"] = _registered(row, fail)
    low, high = row.get("estimated_min_days"), row.get("estimated_max_days")
    if low or high:
        for column, value in (("estimated_min_days", low), ("estimated_max_days", high)):
            if not value:
                raise fail(
                    row, column, "give both estimated_min_days and estimated_max_days, or neither"
                )
        shipment["estimated_days"] = [
            _integer(row, "estimated_min_days", fail),
            _integer(row, "estimated_max_days", fail),
        ]
    return shipment


_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


def _registered(row: CsvRow, fail: Fail) -> bool:
    value = row.get("registered").lower()
    if not value:
        return bool(row.get("tracking_number"))
    if value in _TRUE | _FALSE:
        return value in _TRUE
    raise fail(row, "registered", f"expected true or false: {row.get('registered')!r}")


def _integer(row: CsvRow, column: str, fail: Fail) -> int:
    value = row.get(column)
    if not value.isascii() or not value.lstrip("-").isdigit():
        raise fail(row, column, f"not a whole number: {value!r}")
    return int(value)


def _column_of(loc: Loc) -> tuple[int | None, str | None]:
    """Map a document path back to (item row index, CSV column)."""
    match loc:
        case ("buyer", str(name), *_):
            return None, f"buyer_{name}"
        case ("buyer",):
            return None, "buyer_name"
        case ("shipping_address", str(name), *_):
            return None, f"ship_{name}"
        case ("items", int(index), str(name), *_):
            return index, name
        case ("items", int(index)):
            return index, None
        case ("shipments", 0, "estimated_days", 1):
            return None, "estimated_max_days"
        case ("shipments", 0, "estimated_days", *_):
            return None, "estimated_min_days"
        case ("shipments", 0, str(name), *_):
            return None, name
        case (str(name), *_):
            return None, name
    return None, None


def _csv_reason(reason: str) -> str:
    return "required, but the cell is empty" if reason.startswith("Field required") else reason

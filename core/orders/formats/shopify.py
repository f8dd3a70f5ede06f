"""Shopify's "Orders → Export" CSV, streamed one order at a time.

The export is UTF-8 with a BOM and CRLF line ends, one row per line item; the order-level columns
(Financial Status, Currency, totals, addresses, …) are filled only on an order's first row and the
rows of one order are consecutive. It has no shop column (the caller says which shop), no item
categories and no tracking numbers.

Mapping to the domain:

* status: ``cancelled`` when *Cancelled at* is set; else ``shipped`` when *Fulfillment Status* is
  fulfilled or partial; else ``paid`` for paid/partially_refunded; ``cancelled`` for
  refunded/voided (money back, nothing shipped); ``pending`` for pending/authorized/partially_paid.
* a fulfilled or partial order gets one Shipment (no carrier, no tracking, unregistered) shipped at
  *Fulfilled at*; for a partial one it carries only the SKUs whose *Lineitem fulfillment status*
  is fulfilled.
* *Vendor* becomes a supplier id by slugifying (``SZ Bright`` -> ``sz-bright``); an empty
  *Lineitem sku* falls back to the slug of the item's title.
* *Refunded Amount* of 0.00 means no refund; buyer language and Telegram id are unknown.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from core.clock import ensure_utc
from core.money import Money, MoneyError
from core.orders.formats.errors import ImportFileError
from core.orders.formats.native_csv import CsvRow, group_orders, read_csv
from core.orders.model import Address, Buyer, Order, OrderLine, OrderStatus, Shipment

REQUIRED_COLUMNS = (
    "Name",
    "Financial Status",
    "Fulfillment Status",
    "Currency",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
)

_FINANCIAL = {
    "pending": OrderStatus.PENDING,
    "authorized": OrderStatus.PENDING,
    "partially_paid": OrderStatus.PENDING,
    "paid": OrderStatus.PAID,
    "partially_refunded": OrderStatus.PAID,
    "refunded": OrderStatus.CANCELLED,
    "voided": OrderStatus.CANCELLED,
}
_SHIPPED = {"fulfilled", "partial"}
_FULFILLMENT = _SHIPPED | {"unfulfilled", "restocked", ""}
_SPACED_OFFSET = re.compile(r" ([+-]\d{4})$")  # 2026-10-29 14:02:11 +0100


def slugify(text: str) -> str:
    """Lower-case words joined by hyphens; letters of any script are kept."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "-".join(re.findall(r"[^\W_]+", folded))


def vendor_to_supplier_id(name: str) -> str | None:
    """Shopify's Vendor as a supplier id: ``"SZ Bright"`` -> ``"sz-bright"``; None when empty."""
    return slugify(name) or None


def iter_shopify_csv(
    path: Path, *, shop: str, progress: Callable[[int], None] | None = None
) -> Iterator[Order]:
    """Orders of a Shopify export for ``shop``; only the current order's rows are held."""
    file = path.name
    if not shop or not shop.strip():
        raise ImportFileError(file, "a Shopify export has no shop column: say which shop it is for")
    rows = read_csv(path, required=REQUIRED_COLUMNS, progress=progress)
    with contextlib.closing(rows):
        for group in group_orders(
            rows, file, key=lambda row: _name(row, file), number_column="Name"
        ):
            yield _OrderRows(group, file, shop).order()


def _name(row: CsvRow, file: str) -> tuple[str, str]:
    name = row.get("Name")
    if not name:
        raise ImportFileError(file, "empty order name", line=row.line, field="Name")
    return "", name


class _OrderRows:
    """The rows of one order and the error context for them."""

    def __init__(self, rows: list[CsvRow], file: str, shop: str) -> None:
        self.rows = rows
        self.first = rows[0]
        self.file = file
        self.shop = shop
        self.number = self.first.get("Name")

    def fail(self, row: CsvRow, column: str, reason: str) -> ImportFileError:
        return ImportFileError(self.file, reason, line=row.line, order=self.number, field=column)

    def order_level(self, column: str) -> str:
        value = self.first.get(column)
        if not value:
            raise self.fail(
                self.first, column, "the order's first row lacks this order-level field"
            )
        return value

    def order(self) -> Order:
        first = self.first
        currency = self.currency()
        cancelled_at = self.maybe_when(first, "Cancelled at")
        fulfillment = self.fulfillment()
        lines = tuple(self.line(index, row, currency) for index, row in enumerate(self.rows))
        refunded = self.money(first, "Refunded Amount", currency)
        return Order(
            shop=self.shop,
            number=self.number,
            placed_at=self.when(first, "Created at"),
            status=self.status(fulfillment, cancelled_at),
            currency=currency,
            buyer=self.buyer(),
            lines=lines,
            shipping_address=self.address(),
            shipping_cost=self.money(first, "Shipping", currency),
            shipments=self.shipments(fulfillment, lines),
            cancelled_at=cancelled_at,
            refunded_amount=refunded if refunded and refunded.minor else None,
            external_id=first.get("Id") or None,
        )

    def currency(self) -> str:
        currency = self.order_level("Currency")
        if not re.fullmatch(r"[A-Za-z]{3}", currency):
            raise self.fail(self.first, "Currency", f"not a 3-letter currency code: {currency!r}")
        return currency.upper()

    def fulfillment(self) -> str:
        value = self.first.get("Fulfillment Status").lower()
        if value not in _FULFILLMENT:
            raise self.fail(
                self.first, "Fulfillment Status", f"unknown fulfillment status: {value!r}"
            )
        return value

    def status(self, fulfillment: str, cancelled_at: datetime | None) -> OrderStatus:
        financial = self.order_level("Financial Status").lower()
        if financial not in _FINANCIAL:
            raise self.fail(
                self.first, "Financial Status", f"unknown financial status: {financial!r}"
            )
        if cancelled_at is not None:
            return OrderStatus.CANCELLED
        if fulfillment in _SHIPPED:
            return OrderStatus.SHIPPED
        return _FINANCIAL[financial]

    def line(self, index: int, row: CsvRow, currency: str) -> OrderLine:
        title = row.get("Lineitem name")
        if not title:
            raise self.fail(row, "Lineitem name", "empty line item name")
        return OrderLine(
            line_no=index + 1,
            sku=row.get("Lineitem sku") or slugify(title) or f"line-{index + 1}",
            title=title,
            quantity=self.quantity(row),
            unit_price=self.required_money(row, "Lineitem price", currency),
            category=None,
            supplier=vendor_to_supplier_id(row.get("Vendor")),
        )

    def quantity(self, row: CsvRow) -> int:
        value = row.get("Lineitem quantity")
        if not (value.isascii() and value.isdigit()) or int(value) < 1:
            raise self.fail(row, "Lineitem quantity", f"not a whole number >= 1: {value!r}")
        return int(value)

    def money(self, row: CsvRow, column: str, currency: str) -> Money | None:
        value = row.get(column)
        if not value:
            return None
        try:
            amount = Money.parse(value, currency)
        except MoneyError as exc:
            raise self.fail(row, column, str(exc)) from None
        if amount.minor < 0:
            raise self.fail(row, column, f"negative amount: {value!r}")
        return amount

    def required_money(self, row: CsvRow, column: str, currency: str) -> Money:
        amount = self.money(row, column, currency)
        if amount is None:
            raise self.fail(row, column, "empty amount")
        return amount

    def when(self, row: CsvRow, column: str) -> datetime:
        value = self.maybe_when(row, column)
        if value is None:
            raise self.fail(row, column, "empty date")
        return value

    def maybe_when(self, row: CsvRow, column: str) -> datetime | None:
        value = row.get(column)
        if not value:
            return None
        try:
            # fromisoformat is many times faster than strptime; it only needs the space gone.
            parsed: datetime | None = datetime.fromisoformat(_SPACED_OFFSET.sub(r"\1", value))
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise self.fail(row, column, f"not a date like '2026-10-29 14:02:11 +0100': {value!r}")
        return ensure_utc(parsed)

    def buyer(self) -> Buyer:
        first = self.first
        name = first.get("Billing Name") or first.get("Shipping Name") or first.get("Email")
        if not name:
            raise self.fail(first, "Billing Name", "no buyer name (nor Shipping Name, nor Email)")
        phone = first.get("Phone") or first.get("Billing Phone") or first.get("Shipping Phone")
        country_column = "Shipping Country" if first.get("Shipping Country") else "Billing Country"
        return Buyer(
            name=name,
            email=first.get("Email") or None,
            phone=phone or None,
            country=self.country(country_column) if first.get(country_column) else None,
        )

    def country(self, column: str) -> str:
        value = self.first.get(column)
        if not re.fullmatch(r"[A-Za-z]{2}", value):
            raise self.fail(self.first, column, f"not a 2-letter country code: {value!r}")
        return value.upper()

    def address(self) -> Address | None:
        first = self.first
        columns = ("Shipping Address1", "Shipping City", "Shipping Country")
        if not any(first.get(column) for column in columns):
            return None
        for column in columns:
            if not first.get(column):
                raise self.fail(first, column, "the shipping address is incomplete")
        return Address(
            line1=first.get("Shipping Address1"),
            line2=first.get("Shipping Address2") or None,
            city=first.get("Shipping City"),
            postal_code=first.get("Shipping Zip") or None,
            region=first.get("Shipping Province") or None,
            country=self.country("Shipping Country"),
        )

    def shipments(self, fulfillment: str, lines: tuple[OrderLine, ...]) -> tuple[Shipment, ...]:
        if fulfillment not in _SHIPPED:
            return ()
        shipped_at = self.when(self.first, "Fulfilled at")
        skus = None
        if fulfillment == "partial":
            skus = tuple(
                line.sku
                for line, row in zip(lines, self.rows, strict=True)
                if row.get("Lineitem fulfillment status").lower() == "fulfilled"
            )
            if not skus:
                raise self.fail(
                    self.first,
                    "Lineitem fulfillment status",
                    "partially fulfilled, but no line item is marked fulfilled",
                )
        return (
            Shipment(
                carrier=None,
                tracking_number=None,
                registered=False,
                shipped_at=shipped_at,
                skus=skus,
            ),
        )

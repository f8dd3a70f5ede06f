"""The project's own JSON order file, format ``returns-orders/1``.

``{"format": "returns-orders/1", "orders": [...]}``; each order is validated with the pydantic
models below (unknown keys are refused, quantities are integers >= 1, money is a decimal string
such as ``"39.90"`` and never a JSON number, date-times are ISO 8601 *with* an offset such as
``Z`` or ``+01:00``, currencies are ISO 4217 and countries ISO 3166-1 alpha-2 codes, a shipment's
``items`` must be SKUs of the order, order numbers are unique per shop in a file).

The file is loaded whole (``json.load``) and then validated and yielded one order at a time, so
memory grows with the file: fine for thousands of orders, but stores with a large history should
use the native CSV, which streams row by row. Errors name the order number and the JSON path of
the field inside the order, e.g. ``items[0].unit_price``.

The native CSV reader builds the same order documents and validates them with the same models,
so both native formats accept exactly the same data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from core.clock import ensure_utc
from core.money import Money, MoneyError
from core.orders.formats.errors import ImportFileError
from core.orders.model import (
    Address,
    Buyer,
    Order,
    OrderLine,
    OrderStatus,
    Shipment,
    TrackingEvent,
)
from core.orders.numbers import normalize_order_number

FORMAT_ID = "returns-orders/1"

Loc = tuple[str | int, ...]


class OrderFieldError(ValueError):
    """A problem in one order document, located by its path (``("items", 0, "unit_price")``)."""

    def __init__(self, loc: Loc, reason: str) -> None:
        super().__init__(f"{loc_to_path(loc)}: {reason}")
        self.loc = loc
        self.reason = reason


def loc_to_path(loc: Loc) -> str:
    """``("items", 0, "unit_price")`` -> ``"items[0].unit_price"``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


# --- field types shared by both native formats -------------------------------------------------


def _problem(kind: str, reason: str) -> PydanticCustomError:
    # The reason goes in the context, so braces in user data never reach str.format.
    return PydanticCustomError(kind, "{reason}", {"reason": reason})


def parse_iso_timestamp(text: str) -> datetime:
    """An ISO 8601 date-time with an explicit offset, as UTC; a bare local time is ambiguous."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not an ISO 8601 date-time: {text!r}") from None
    if value.tzinfo is None:
        raise ValueError(f"no timezone offset (add Z or +01:00): {text!r}")
    return ensure_utc(value)


def _timestamp(value: object) -> datetime:
    if not isinstance(value, str):
        raise _problem("timestamp", f"must be an ISO 8601 date-time string, got {value!r}")
    try:
        return parse_iso_timestamp(value)
    except ValueError as exc:
        raise _problem("timestamp", str(exc)) from None


_DECIMAL = re.compile(r"\d+(\.\d+)?")


def _decimal_text(value: object) -> str:
    """Money stays text until the currency is known: floats would lose cents."""
    if not isinstance(value, str):
        raise _problem("decimal", f'must be a decimal string like "39.90", got {value!r}')
    if not _DECIMAL.fullmatch(value.strip()):
        raise _problem("decimal", f"not a decimal amount: {value!r}")
    return value.strip()


def _code(letters: int, standard: str) -> Callable[[object], str]:
    pattern = re.compile(rf"[A-Za-z]{{{letters}}}")

    def check(value: object) -> str:
        if not isinstance(value, str) or not pattern.fullmatch(value.strip()):
            raise _problem("code", f"not a {letters}-letter {standard} code: {value!r}")
        return value.strip().upper()

    return check


_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")


def _language(value: object) -> str:
    if not isinstance(value, str) or not _LANGUAGE.fullmatch(value):
        raise _problem("language", f"not a BCP 47 language tag such as 'es' or 'es-MX': {value!r}")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise _problem("blank", "must not be blank")
    return value


def _days_in_order(days: tuple[int, int]) -> tuple[int, int]:
    if days[0] > days[1]:
        raise _problem("days", f"minimum {days[0]} is more than maximum {days[1]}")
    return days


Text = Annotated[StrictStr, AfterValidator(_not_blank)]
Timestamp = Annotated[datetime, PlainValidator(_timestamp)]
DecimalText = Annotated[str, PlainValidator(_decimal_text)]
Currency = Annotated[str, PlainValidator(_code(3, "ISO 4217 currency"))]
Country = Annotated[str, PlainValidator(_code(2, "ISO 3166-1 country"))]
Language = Annotated[str, PlainValidator(_language)]
Days = Annotated[StrictInt, Field(ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BuyerModel(_Model):
    name: Text
    email: Text | None = None
    phone: Text | None = None
    country: Country | None = None
    language: Language | None = None
    telegram_id: Annotated[StrictInt, Field(gt=0)] | None = None


class AddressModel(_Model):
    line1: Text
    line2: Text | None = None  # not in the README table; the domain has it (Shopify fills it)
    city: Text
    postal_code: Text | None = None
    region: Text | None = None
    country: Country


class ItemModel(_Model):
    sku: Text
    title: Text
    category: Text | None = None
    quantity: Annotated[StrictInt, Field(ge=1)]
    unit_price: DecimalText
    supplier: Text | None = None
    supplier_order: Text | None = None  # the shop's order number with the supplier


class EventModel(_Model):
    at: Timestamp
    status: Text
    location: Text | None = None
    description: Text | None = None


class ShipmentModel(_Model):
    carrier: Text | None = None
    tracking_number: Text | None = None
    registered: StrictBool
    shipped_at: Timestamp
    delivered_at: Timestamp | None = None
    estimated_days: Annotated[tuple[Days, Days], AfterValidator(_days_in_order)] | None = None
    events: list[EventModel] = []
    items: list[Text] | None = None


class OrderModel(_Model):
    shop: Text
    number: Text
    placed_at: Timestamp
    status: OrderStatus
    currency: Currency
    buyer: BuyerModel
    shipping_address: AddressModel | None = None
    shipping_cost: DecimalText | None = None
    items: Annotated[list[ItemModel], Field(min_length=1)]
    shipments: list[ShipmentModel] = []
    cancelled_at: Timestamp | None = None
    refunded_amount: DecimalText | None = None


# --- document -> domain -----------------------------------------------------------------------


def order_from_data(data: object) -> Order:
    """Validate one order document (JSON-shaped) and build the domain Order.

    Raises OrderFieldError with the path of the first bad field.
    """
    try:
        model = OrderModel.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        reason = describe_error(errors[0])
        if len(errors) > 1:
            reason += f" (and {len(errors) - 1} more problem(s) in this order)"
        raise OrderFieldError(tuple(errors[0]["loc"]), reason) from None
    return _to_order(model)


_SELF_DESCRIBED = {"timestamp", "decimal", "code", "language", "blank", "days", "missing"}


def describe_error(error: ErrorDetails) -> str:
    """Pydantic's message, plus the offending value when the message does not quote it."""
    if error["type"] in _SELF_DESCRIBED or error["type"] == "extra_forbidden":
        return error["msg"]
    value = error.get("input")
    if isinstance(value, str | int | float | bool) or value is None:
        return f"{error['msg']}, got {value!r}"
    return error["msg"]


def _money(text: str, currency: str, loc: Loc) -> Money:
    try:
        return Money.parse(text, currency)
    except MoneyError as exc:
        raise OrderFieldError(loc, str(exc)) from None


def _optional_money(text: str | None, currency: str, loc: Loc) -> Money | None:
    return None if text is None else _money(text, currency, loc)


def _to_order(m: OrderModel) -> Order:
    lines = tuple(
        OrderLine(
            line_no=index + 1,
            sku=item.sku,
            title=item.title,
            quantity=item.quantity,
            unit_price=_money(item.unit_price, m.currency, ("items", index, "unit_price")),
            category=item.category,
            supplier=item.supplier,
            supplier_order=item.supplier_order,
        )
        for index, item in enumerate(m.items)
    )
    skus = {line.sku for line in lines}
    return Order(
        shop=m.shop,
        number=m.number,
        placed_at=m.placed_at,
        status=m.status,
        currency=m.currency,
        buyer=Buyer(**m.buyer.model_dump()),
        lines=lines,
        shipping_address=Address(**m.shipping_address.model_dump()) if m.shipping_address else None,
        shipping_cost=_optional_money(m.shipping_cost, m.currency, ("shipping_cost",)),
        shipments=tuple(_shipment(s, index, skus) for index, s in enumerate(m.shipments)),
        cancelled_at=m.cancelled_at,
        refunded_amount=_optional_money(m.refunded_amount, m.currency, ("refunded_amount",)),
    )


def _shipment(s: ShipmentModel, index: int, skus: set[str]) -> Shipment:
    if s.items is not None:
        for position, sku in enumerate(s.items):
            if sku not in skus:
                raise OrderFieldError(
                    ("shipments", index, "items", position), f"{sku!r} is not a SKU of this order"
                )
    return Shipment(
        carrier=s.carrier,
        tracking_number=s.tracking_number,
        registered=s.registered,
        shipped_at=s.shipped_at,
        delivered_at=s.delivered_at,
        estimated_days=s.estimated_days,
        events=tuple(
            TrackingEvent(at=e.at, status=e.status, location=e.location, description=e.description)
            for e in s.events
        ),
        skus=tuple(s.items) if s.items is not None else None,
    )


# --- bookkeeping shared by all formats --------------------------------------------------------


class OrderNumbers:
    """Order numbers met so far in a file, compared the way buyers' lookups compare them.

    ``#1001`` and ``1001`` would be the same order for a lookup, so they count as duplicates.
    Keeps one small entry per order, never the orders themselves.
    """

    def __init__(self) -> None:
        self._first: dict[tuple[str, str], tuple[str, Any]] = {}

    def first_seen(self, shop: str, number: str, where: Any) -> tuple[str, Any] | None:
        """Record ``number`` at ``where``; return the earlier ``(number, where)`` if it clashes."""
        key = (shop, normalize_order_number(number))
        earlier = self._first.get(key)
        if earlier is None:
            self._first[key] = (number, where)
        return earlier


def first_undecodable_line(path: Path) -> int | None:
    """The line with the first byte that is not UTF-8: the decoder only says which chunk."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def check_shop(order_shop: str, wanted: str | None) -> str | None:
    """Why an order may not go into shop ``wanted`` (None: it may)."""
    if wanted is None or order_shop == wanted:
        return None
    return f"the order belongs to shop {order_shop!r}, not to {wanted!r} being imported into"


# --- the file ---------------------------------------------------------------------------------


def iter_native_json(
    path: Path, *, shop: str | None = None, progress: Callable[[int], None] | None = None
) -> Iterator[Order]:
    """Orders of a ``returns-orders/1`` file, validated and yielded one at a time."""
    file = path.name
    orders = _load_orders(path, file)
    numbers = OrderNumbers()
    for index, data in enumerate(orders):
        yield _checked_order(data, index, file, shop, numbers)
    if progress is not None:
        progress(path.stat().st_size)


def _load_orders(path: Path, file: str) -> list[object]:
    try:
        with path.open(encoding="utf-8-sig") as handle:
            document = json.load(handle)
    except UnicodeDecodeError:
        line = first_undecodable_line(path)
        raise ImportFileError(file, "not UTF-8 text (save the file as UTF-8)", line=line) from None
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            file, f"not valid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno
        ) from None
    except RecursionError:  # the parser recurses per level; an order is a few levels deep
        raise ImportFileError(file, "not an order file: the JSON is nested too deeply") from None
    if not isinstance(document, dict):
        raise ImportFileError(file, f'expected a JSON object {{"format": "{FORMAT_ID}", ...}}')
    if document.get("format") != FORMAT_ID:
        raise ImportFileError(
            file,
            f"unsupported format {document.get('format')!r}: expected {FORMAT_ID!r}",
            field="format",
        )
    unknown = sorted(set(document) - {"format", "orders"})
    if unknown:
        raise ImportFileError(
            file, "unknown top-level key (only format and orders)", field=unknown[0]
        )
    orders = document.get("orders")
    if not isinstance(orders, list):
        raise ImportFileError(file, "must be a list of orders", field="orders")
    return orders


def _checked_order(
    data: object, index: int, file: str, shop: str | None, numbers: OrderNumbers
) -> Order:
    number = data.get("number") if isinstance(data, dict) else None
    label = number if isinstance(number, str) and number.strip() else None

    def fail(field: str, reason: str) -> ImportFileError:
        # Without a usable number, the position in the file is the only way to find the order.
        if label is None:
            field = f"orders[{index}]" + (f".{field}" if field else "")
        return ImportFileError(file, reason, order=label, field=field or None)

    try:
        order = order_from_data(data)
    except OrderFieldError as exc:
        raise fail(loc_to_path(exc.loc), exc.reason) from None
    wrong_shop = check_shop(order.shop, shop)
    if wrong_shop:
        raise fail("shop", wrong_shop)
    earlier = numbers.first_seen(order.shop, order.number, index)
    if earlier is not None:
        raise fail(
            "number", f"duplicate order number: {earlier[0]!r} is already orders[{earlier[1]}]"
        )
    return order

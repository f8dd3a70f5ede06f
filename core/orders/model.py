"""The order as the core sees it, whatever format it was imported from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.money import Money

# Longest text the order book keeps for each field (PostgreSQL enforces column lengths).
TEXT_LIMITS: dict[str, int] = {
    "number": 64,
    "buyer.name": 255,
    "buyer.email": 255,
    "buyer.phone": 64,
    "shipping_address.line1": 255,
    "shipping_address.line2": 255,
    "shipping_address.city": 128,
    "shipping_address.postal_code": 32,
    "shipping_address.region": 128,
    "external_id": 64,
    "sku": 128,
    "title": 500,
    "category": 128,
    "supplier": 128,
    "supplier_order": 64,
    "carrier": 64,
    "tracking_number": 64,
}


def too_long_fields(order: Order) -> list[tuple[str, int]]:
    """(field, limit) for every text in the order that is longer than the order book keeps."""
    values: list[tuple[str, str | None]] = [
        ("number", order.number),
        ("buyer.name", order.buyer.name),
        ("buyer.email", order.buyer.email),
        ("buyer.phone", order.buyer.phone),
        ("external_id", order.external_id),
    ]
    if order.shipping_address is not None:
        address = order.shipping_address
        values += [
            ("shipping_address.line1", address.line1),
            ("shipping_address.line2", address.line2),
            ("shipping_address.city", address.city),
            ("shipping_address.postal_code", address.postal_code),
            ("shipping_address.region", address.region),
        ]
    for line in order.lines:
        values += [
            ("sku", line.sku),
            ("title", line.title),
            ("category", line.category),
            ("supplier", line.supplier),
            ("supplier_order", line.supplier_order),
        ]
    for shipment in order.shipments:
        values += [("carrier", shipment.carrier), ("tracking_number", shipment.tracking_number)]
    return [
        (name, TEXT_LIMITS[name])
        for name, value in values
        if value is not None and len(value) > TEXT_LIMITS[name]
    ]


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"

    @property
    def rank(self) -> int:
        """Statuses only move forward on re-import; cancelled is final."""
        return _STATUS_RANK[self]


_STATUS_RANK = {
    OrderStatus.PENDING: 0,
    OrderStatus.PAID: 1,
    OrderStatus.SHIPPED: 2,
    OrderStatus.DELIVERED: 3,
    OrderStatus.CANCELLED: 4,
}


@dataclass(frozen=True, slots=True)
class Buyer:
    name: str
    email: str | None = None
    phone: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2
    language: str | None = None  # BCP 47, possibly one we have no catalogue for
    telegram_id: int | None = None


@dataclass(frozen=True, slots=True)
class Address:
    line1: str
    city: str
    postal_code: str | None
    country: str
    region: str | None = None
    line2: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """The address as the exports write it (the evidence pack, /mydata)."""
        return {
            "line1": self.line1,
            "line2": self.line2,
            "city": self.city,
            "postal_code": self.postal_code,
            "region": self.region,
            "country": self.country,
        }


@dataclass(frozen=True, slots=True)
class TrackingEvent:
    at: datetime
    status: str
    location: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Shipment:
    carrier: str | None
    tracking_number: str | None
    registered: bool
    shipped_at: datetime
    delivered_at: datetime | None = None
    estimated_days: tuple[int, int] | None = None
    events: tuple[TrackingEvent, ...] = ()
    skus: tuple[str, ...] | None = None  # None: every item of the order is in this parcel

    @property
    def latest_expected(self) -> datetime | None:
        if self.estimated_days is None:
            return None
        return self.shipped_at + timedelta(days=self.estimated_days[1])

    @property
    def earliest_expected(self) -> datetime | None:
        if self.estimated_days is None:
            return None
        return self.shipped_at + timedelta(days=self.estimated_days[0])

    @property
    def last_event_at(self) -> datetime:
        if self.events:
            return max(event.at for event in self.events)
        return self.shipped_at

    def carries(self, sku: str) -> bool:
        return self.skus is None or sku in self.skus


@dataclass(frozen=True, slots=True)
class OrderLine:
    line_no: int  # 1-based position in the order, stable across re-imports
    sku: str
    title: str
    quantity: int
    unit_price: Money
    category: str | None = None
    supplier: str | None = None
    refunded_quantity: int = 0
    supplier_order: str | None = None  # the shop's order with its supplier, if imported

    @property
    def total(self) -> Money:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class Order:
    shop: str
    number: str
    placed_at: datetime
    status: OrderStatus
    currency: str
    buyer: Buyer
    lines: tuple[OrderLine, ...]
    shipping_address: Address | None = None
    shipping_cost: Money | None = None
    shipments: tuple[Shipment, ...] = ()
    cancelled_at: datetime | None = None
    refunded_amount: Money | None = None
    external_id: str | None = None  # e.g. Shopify's order Id
    id: int | None = None  # database id once stored

    @property
    def items_total(self) -> Money:
        result = Money.zero(self.currency)
        for line in self.lines:
            result = result + line.total
        return result

    @property
    def grand_total(self) -> Money:
        shipping = self.shipping_cost or Money.zero(self.currency)
        return self.items_total + shipping

    def line(self, line_no: int) -> OrderLine | None:
        for line in self.lines:
            if line.line_no == line_no:
                return line
        return None

    def shipments_for(self, sku: str) -> list[Shipment]:
        return [s for s in self.shipments if s.carries(sku)]

    @property
    def delivered_at(self) -> datetime | None:
        """When the last parcel arrived, if all of them did."""
        if not self.shipments or any(s.delivered_at is None for s in self.shipments):
            return None
        return max(s.delivered_at for s in self.shipments if s.delivered_at is not None)

    @property
    def fully_refunded(self) -> bool:
        return self.refunded_amount is not None and self.refunded_amount >= self.grand_total

"""Return reasons: stable codes (like Shopify's reason handles) with the side at fault.

The fault side drives who pays return shipping and whether the supplier should carry the cost
(Amazon's reason → responsibility matrix). The bot renders each code as a localized label.
"""

from __future__ import annotations

from enum import StrEnum


class Fault(StrEnum):
    SELLER = "seller"
    CARRIER = "carrier"
    SUPPLIER = "supplier"
    BUYER = "buyer"
    UNKNOWN = "unknown"  # "other": a person decides


class ReasonKind(StrEnum):
    GOODS = "goods"  # about items the buyer has in hand
    DELIVERY = "delivery"  # about the parcel's journey
    ORDER_CHANGE = "order_change"  # cancel or redirect before it ships


class Reason(StrEnum):
    DAMAGED = "damaged"
    WRONG_ITEM = "wrong_item"
    WRONG_SIZE_COLOUR = "wrong_size_colour"
    MISSING_PART = "missing_part"  # a missing part or a short quantity
    NOT_AS_DESCRIBED = "not_as_described"  # quality / not as described
    DOES_NOT_WORK = "does_not_work"
    COUNTERFEIT = "counterfeit"
    NOT_RECEIVED = "not_received"
    ARRIVED_LATE = "arrived_late"
    CHANGED_MIND = "changed_mind"
    OTHER = "other"
    CANCEL_ORDER = "cancel_order"
    CHANGE_ADDRESS = "change_address"

    @property
    def fault(self) -> Fault:
        return _FAULT[self]

    @property
    def kind(self) -> ReasonKind:
        if self in (Reason.NOT_RECEIVED, Reason.ARRIVED_LATE):
            return ReasonKind.DELIVERY
        if self in (Reason.CANCEL_ORDER, Reason.CHANGE_ADDRESS):
            return ReasonKind.ORDER_CHANGE
        return ReasonKind.GOODS

    @property
    def is_defect(self) -> bool:
        """Covered by a supplier's "defects only" return terms."""
        return self in DEFECT_REASONS


_FAULT: dict[Reason, Fault] = {
    Reason.DAMAGED: Fault.CARRIER,
    Reason.WRONG_ITEM: Fault.SELLER,
    Reason.WRONG_SIZE_COLOUR: Fault.SELLER,
    Reason.MISSING_PART: Fault.SUPPLIER,
    Reason.NOT_AS_DESCRIBED: Fault.SUPPLIER,
    Reason.DOES_NOT_WORK: Fault.SUPPLIER,
    Reason.COUNTERFEIT: Fault.SELLER,
    Reason.NOT_RECEIVED: Fault.CARRIER,
    Reason.ARRIVED_LATE: Fault.CARRIER,
    Reason.CHANGED_MIND: Fault.BUYER,
    Reason.OTHER: Fault.UNKNOWN,
    Reason.CANCEL_ORDER: Fault.BUYER,
    Reason.CHANGE_ADDRESS: Fault.BUYER,
}

DEFECT_REASONS = frozenset(
    {
        Reason.DAMAGED,
        Reason.WRONG_ITEM,
        Reason.WRONG_SIZE_COLOUR,
        Reason.MISSING_PART,
        Reason.NOT_AS_DESCRIBED,
        Reason.DOES_NOT_WORK,
        Reason.COUNTERFEIT,
    }
)

# The reasons a buyer picks when opening a return or problem case, in menu order.
BUYER_REASONS: tuple[Reason, ...] = (
    Reason.DAMAGED,
    Reason.WRONG_ITEM,
    Reason.WRONG_SIZE_COLOUR,
    Reason.MISSING_PART,
    Reason.NOT_AS_DESCRIBED,
    Reason.DOES_NOT_WORK,
    Reason.COUNTERFEIT,
    Reason.NOT_RECEIVED,
    Reason.ARRIVED_LATE,
    Reason.CHANGED_MIND,
    Reason.OTHER,
)


class Resolution(StrEnum):
    REFUND = "refund"
    REPLACEMENT = "replacement"
    EXCHANGE = "exchange"
    PARTIAL_REFUND = "partial_refund"  # keep the item, part of the money back
    RESHIP = "reship"
    STORE_CREDIT = "store_credit"
    CANCEL = "cancel"  # order change: cancel before shipping
    ADDRESS_CHANGE = "address_change"  # order change: ship elsewhere

    @property
    def moves_money(self) -> bool:
        return self in (
            Resolution.REFUND,
            Resolution.PARTIAL_REFUND,
            Resolution.STORE_CREDIT,
            Resolution.CANCEL,
        )


class Party(StrEnum):
    """Who pays for something (return shipping)."""

    BUYER = "buyer"
    SELLER = "seller"

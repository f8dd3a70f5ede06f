"""A supplier claim's lifecycle as data: its statuses and the moves between them.

    draft ─send─▶ sent ─agree─▶ agreed ─recover─▶ recovered
                       ─refuse─▶ refused ─escalate─▶ escalated ─agree / refuse / recover─▶ …
    sent / escalated ─recover─▶ recovered (the supplier simply paid)
    any open status ─write_off─▶ written_off (the shop gives up on it)

``recovered`` and ``written_off`` are final. ``recover`` needs the amount the supplier paid.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.errors import InvalidTransition, ValidationFailed
from core.money import Money


class ClaimStatus(StrEnum):
    DRAFT = "draft"  # opened with the case's approval; not sent to the supplier yet
    SENT = "sent"
    AGREED = "agreed"  # the supplier agreed to pay or credit
    REFUSED = "refused"
    ESCALATED = "escalated"  # taken further: the platform (1688, Alibaba), a call, a dispute
    RECOVERED = "recovered"  # paid or credited: the amount is recorded
    WRITTEN_OFF = "written_off"

    @property
    def is_open(self) -> bool:
        return self not in FINAL


FINAL = frozenset({ClaimStatus.RECOVERED, ClaimStatus.WRITTEN_OFF})


class ClaimMove(StrEnum):
    SEND = "send"
    AGREE = "agree"
    REFUSE = "refuse"
    ESCALATE = "escalate"
    RECOVER = "recover"
    WRITE_OFF = "write_off"


S = ClaimStatus

# move → (the statuses it may start from, where it leads)
MOVES: dict[ClaimMove, tuple[frozenset[ClaimStatus], ClaimStatus]] = {
    ClaimMove.SEND: (frozenset({S.DRAFT}), S.SENT),
    ClaimMove.AGREE: (frozenset({S.SENT, S.ESCALATED}), S.AGREED),
    ClaimMove.REFUSE: (frozenset({S.SENT, S.ESCALATED}), S.REFUSED),
    ClaimMove.ESCALATE: (frozenset({S.SENT, S.REFUSED}), S.ESCALATED),
    ClaimMove.RECOVER: (frozenset({S.SENT, S.AGREED, S.ESCALATED}), S.RECOVERED),
    ClaimMove.WRITE_OFF: (
        frozenset({S.DRAFT, S.SENT, S.AGREED, S.REFUSED, S.ESCALATED}),
        S.WRITTEN_OFF,
    ),
}


def allowed_moves(status: ClaimStatus) -> list[ClaimMove]:
    """The moves a claim in this status allows, in the table's order (the buttons' order)."""
    return [move for move, (sources, _) in MOVES.items() if status in sources]


@dataclass(frozen=True, slots=True)
class ClaimLine:
    """One order line claimed: what it is, how many, and what one unit cost the shop."""

    line_no: int
    sku: str
    title: str
    quantity: int
    unit_cost: Money
    cost_known: bool  # False: no unit cost was imported; the sale price stands in for it

    @property
    def total(self) -> Money:
        return self.unit_cost * self.quantity

    def as_dict(self) -> dict[str, Any]:
        return {
            "line_no": self.line_no,
            "sku": self.sku,
            "title": self.title,
            "quantity": self.quantity,
            "unit_cost": self.unit_cost.as_dict(),
            "cost_known": self.cost_known,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClaimLine:
        cost = data["unit_cost"]
        return cls(
            line_no=int(data["line_no"]),
            sku=str(data["sku"]),
            title=str(data.get("title") or ""),
            quantity=int(data["quantity"]),
            unit_cost=Money.parse(cost["amount"], cost["currency"]),
            cost_known=bool(data.get("cost_known", True)),
        )


@dataclass(frozen=True, slots=True)
class SupplierClaim:
    case_id: int
    case_number: str
    shop: str
    supplier: str
    reason: str
    lines: tuple[ClaimLine, ...]
    goods: Money
    postage: Money
    opened_at: datetime
    updated_at: datetime
    status: ClaimStatus = ClaimStatus.DRAFT
    supplier_order: str | None = None
    recovered: Money | None = None
    deadline_at: datetime | None = None  # the supplier's window closes
    late: bool = False  # the buyer's case came after the supplier's window had closed
    warnings: tuple[str, ...] = ()  # what the supplier's terms want that the case lacks
    version: int = 1
    id: int | None = None
    case_opened_at: datetime | None = field(default=None, compare=False)

    @property
    def claimed(self) -> list[Money]:
        """What is claimed, per currency (goods at cost and postage may differ)."""
        if self.postage.minor == 0:
            return [self.goods]
        if self.postage.currency == self.goods.currency:
            return [self.goods + self.postage]
        return [self.goods, self.postage]

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    def allowed_moves(self) -> list[ClaimMove]:
        return allowed_moves(self.status)

    def move(self, move: ClaimMove, at: datetime, amount: Money | None = None) -> SupplierClaim:
        """The claim after ``move``, or InvalidTransition / ValidationFailed saying why not."""
        sources, target = MOVES[move]
        if self.status not in sources:
            raise InvalidTransition(
                f"a {self.status} supplier claim cannot be moved by {move}",
                code="invalid_transition",
                status=self.status.value,
            )
        recovered = self.recovered
        if move is ClaimMove.RECOVER:
            if amount is None:
                raise ValidationFailed("say how much the supplier paid", code="amount_required")
            if amount.minor <= 0:
                raise ValidationFailed("the amount must be above zero", code="amount_out_of_range")
            recovered = amount
        return replace(
            self, status=target, recovered=recovered, updated_at=at, version=self.version + 1
        )

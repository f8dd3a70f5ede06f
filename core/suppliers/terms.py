"""What a supplier's terms let the shop claim back for an approved case: pure functions.

A claim is opened per supplier whose terms cover the case's reason (``accepts``: ``any`` also
covers a change of mind, ``defects`` only defects, ``none`` nothing); a parcel lost or late is
the carrier's business, never the supplier's. The supplier's deadline is its window counted
from where its terms say (delivery by default). A buyer's case that came after that window had
closed still gets its claim (the shop may try), marked ``late``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from core.cases.reasons import Reason, ReasonKind
from core.money import Money
from core.orders.model import Order, OrderLine
from core.policy.config import Config, SupplierSettlement
from core.policy.decision import _supplier_accepts, _window_start, end_of_day
from core.suppliers.lifecycle import ClaimLine, SupplierClaim

# (sku, placed at) → the unit cost the shop paid, or None when none was imported
UnitCostOf = Callable[[str, str | None, datetime], Money | None]


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What the terms need of an approved case."""

    case_id: int
    number: str
    reason: Reason
    lines: tuple[tuple[int, int], ...]  # (line_no, quantity)
    return_required: bool  # the goods come back (after the approval)
    opened_at: datetime
    photos: int
    videos: int


def covers(config: Config, supplier_id: str | None, reason: Reason) -> bool:
    """Whether the supplier's terms cover this reason at all."""
    supplier = config.suppliers.get(supplier_id or "")
    if supplier is None or reason.kind is not ReasonKind.GOODS:
        return False
    return _supplier_accepts(supplier, reason)


def supplier_deadline(
    config: Config, supplier_id: str, order: Order, lines: list[OrderLine]
) -> datetime | None:
    """When the supplier's window closes for these lines (None: the parcel has no dates)."""
    supplier = config.suppliers[supplier_id]
    start, _ = _window_start(order, [(line, 1) for line in lines], supplier.window_from)
    return end_of_day(start, supplier.window_days) if start is not None else None


def claims_for(
    config: Config,
    order: Order,
    case: CaseFacts,
    unit_cost: UnitCostOf,
    postage: Money | None,
    at: datetime,
) -> list[SupplierClaim]:
    """One draft claim per supplier whose terms cover the case's reason; none for the others.
    ``postage``: what the shop paid to move the goods for this case (return label, reship);
    claimed only when one supplier answers for the whole case."""
    by_supplier: dict[str, list[tuple[OrderLine, int]]] = {}
    every_line_covered = True
    for line_no, quantity in case.lines:
        line = order.line(line_no)
        if line is None:
            continue
        if line.supplier is None or not covers(config, line.supplier, case.reason):
            every_line_covered = False
            continue
        by_supplier.setdefault(line.supplier, []).append((line, quantity))
    claims = []
    for supplier_id, lines in sorted(by_supplier.items()):
        terms = config.suppliers[supplier_id]
        warnings: list[str] = []
        claim_lines = []
        for line, quantity in lines:
            cost = unit_cost(line.sku, line.supplier, order.placed_at)
            claim_lines.append(
                ClaimLine(
                    line.line_no,
                    line.sku,
                    line.title,
                    quantity,
                    cost if cost is not None else line.unit_price,
                    cost is not None,
                )
            )
        if not all(line.cost_known for line in claim_lines):
            warnings.append("cost_unknown")
        currency = claim_lines[0].unit_cost.currency
        goods = Money.zero(currency)
        for claim_line in claim_lines:
            if claim_line.unit_cost.currency == currency:
                goods = goods + claim_line.total
            else:
                warnings.append("mixed_currencies")
        if (
            terms.settlement is SupplierSettlement.GOODS_BACK
            and not case.return_required
            and case.reason is not Reason.MISSING_PART
        ):
            warnings.append("goods_not_returned")  # the supplier wants them back first
        if terms.credit_needs_photos and case.photos == 0:
            warnings.append("needs_photos")
        if case.reason in terms.video_required_for and case.videos == 0:
            warnings.append("needs_video")
        deadline = supplier_deadline(config, supplier_id, order, [line for line, _ in lines])
        late = deadline is not None and case.opened_at > deadline
        if late:
            warnings.append("late")
        imported = next((line.supplier_order for line, _ in lines if line.supplier_order), None)
        alone = every_line_covered and len(by_supplier) == 1
        claimed_postage = postage if (postage is not None and alone) else None
        if postage is not None and postage.minor > 0 and not alone:
            warnings.append("postage_shared")
        claims.append(
            SupplierClaim(
                case_id=case.case_id,
                case_number=case.number,
                shop=order.shop,
                supplier=supplier_id,
                reason=case.reason.value,
                lines=tuple(claim_lines),
                goods=goods,
                postage=claimed_postage or Money.zero(currency),
                opened_at=at,
                updated_at=at,
                supplier_order=imported,
                deadline_at=deadline,
                late=late,
                warnings=tuple(dict.fromkeys(warnings)),
                case_opened_at=case.opened_at,
            )
        )
    return claims

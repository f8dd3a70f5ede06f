"""The policy decision: one pure function from (order, lines, reason, evidence, moment) to what
the shop will do, and why.

Nothing here touches storage or renders a sentence: reasons for the outcome are explanation
codes with primitive values (dates as ISO strings, money as {"amount", "currency"}) that the bot
turns into sentences in the buyer's or seller's language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from core.cases.reasons import Fault, Party, Reason, ReasonKind, Resolution
from core.money import Money, currency_exponent
from core.orders.model import Order, OrderLine, OrderStatus
from core.policy.config import (
    Config,
    MinimumRights,
    Policy,
    ReasonRule,
    Shop,
    Supplier,
    SupplierAccepts,
    SupplierSettlement,
    WindowFrom,
)
from core.policy.defaults import effective_rule
from core.policy.record import DecisionRecord


class Review(StrEnum):
    NONE = "none"  # refused: nothing to review
    AUTOMATIC = "automatic"
    SELLER = "seller"
    AGENT = "agent"


@dataclass(frozen=True, slots=True)
class Claim:
    """A line of the order and how many of its units the buyer's case is about."""

    line_no: int
    quantity: int


@dataclass(frozen=True, slots=True)
class EvidenceCount:
    photos: int = 0
    videos: int = 0
    has_description: bool = False


@dataclass(frozen=True, slots=True)
class Explanation:
    code: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Missing:
    """Something the buyer must still supply: photos, videos, media (either) or a description."""

    what: str
    count: int = 1


@dataclass(frozen=True, slots=True)
class LineRefund:
    line_no: int
    quantity: int
    gross: Money
    fee: Money
    net: Money


@dataclass(frozen=True, slots=True)
class SupplierGap:
    """What the shop will not get back from the supplier for a line, and why."""

    supplier: str | None
    line_no: int
    code: str
    unrecoverable: Money
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    eligible: bool
    refusal: str | None
    reason: Reason
    missing: tuple[Missing, ...]
    resolutions: tuple[Resolution, ...]
    return_required: bool
    return_paid_by: Party | None
    return_address: str | None
    fees: Money
    refund_lines: tuple[LineRefund, ...]
    refund_total: Money
    shipping_refund: Money
    review: Review
    deadlines: dict[str, datetime]
    explanations: tuple[Explanation, ...]
    supplier_gaps: tuple[SupplierGap, ...]
    evidence_guide: tuple[str, ...] = ()
    evidence_required: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Eligible, and nothing more to supply."""
        return self.eligible and not self.missing

    def codes(self) -> list[str]:
        return [explanation.code for explanation in self.explanations]

    def to_record(self) -> DecisionRecord:
        """What a case keeps of this decision: typed, versioned, stored as JSON."""
        return DecisionRecord.model_validate(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot, stored with the case as the decision shown to the buyer."""
        return {
            "eligible": self.eligible,
            "refusal": self.refusal,
            "reason": self.reason.value,
            "missing": [{"what": m.what, "count": m.count} for m in self.missing],
            "resolutions": [r.value for r in self.resolutions],
            "return_required": self.return_required,
            "return_paid_by": self.return_paid_by.value if self.return_paid_by else None,
            "return_address": self.return_address,
            "fees": _money(self.fees),
            "refund_lines": [
                {
                    "line_no": line.line_no,
                    "quantity": line.quantity,
                    "gross": _money(line.gross),
                    "fee": _money(line.fee),
                    "net": _money(line.net),
                }
                for line in self.refund_lines
            ],
            "refund_total": _money(self.refund_total),
            "shipping_refund": _money(self.shipping_refund),
            "review": self.review.value,
            "deadlines": {k: v.isoformat() for k, v in self.deadlines.items()},
            "explanations": [{"code": e.code, "params": e.params} for e in self.explanations],
            "supplier_gaps": [
                {
                    "supplier": gap.supplier,
                    "line_no": gap.line_no,
                    "code": gap.code,
                    "unrecoverable": _money(gap.unrecoverable),
                    "params": gap.params,
                }
                for gap in self.supplier_gaps
            ],
            "evidence_guide": list(self.evidence_guide),
            "evidence_required": dict(self.evidence_required),
        }


def _money(value: Money) -> dict[str, str]:
    return value.as_dict()


def _limit(amount: Decimal, currency: str) -> dict[str, str]:
    """An amount (a limit of the shop's policy, a converted value) in ``currency``, rounded
    half up to its minor unit."""
    exponent = currency_exponent(currency)
    value = amount.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP)
    return {"amount": f"{value:.{exponent}f}", "currency": currency}


def _day(value: datetime) -> str:
    return value.date().isoformat()


def end_of_day(start: datetime, days: int) -> datetime:
    """A window of N days closes at the end of the Nth calendar day after it starts (UTC)."""
    last_day = (start.astimezone(UTC) + timedelta(days=days)).date()
    return datetime.combine(last_day, time.max, tzinfo=UTC)


@dataclass
class _Draft:
    """The decision as it is built up; frozen into a Decision at the end."""

    explanations: list[Explanation] = field(default_factory=list)
    deadlines: dict[str, datetime] = field(default_factory=dict)
    refusal: str | None = None
    legal_withdrawal: bool = False  # within a change-of-mind right that law gives the buyer

    def explain(self, code: str, **params: Any) -> None:
        self.explanations.append(Explanation(code, params))

    def refuse(self, code: str, **params: Any) -> None:
        if self.refusal is None:
            self.refusal = code
        self.explain(code, **params)


class Arrival(StrEnum):
    """Where the claimed items are, by the order's own facts (its shipments and the clock).

    Ordered from the least to the most advanced; several lines take the least advanced.
    """

    NOT_SHIPPED = "not_shipped"  # no parcel carries them yet
    IN_TRANSIT = "in_transit"  # tracking follows the parcel and shows no delivery, or too early
    UNKNOWN = "unknown"  # shipped without tracking and past the earliest estimate: the buyer knows
    DELIVERED = "delivered"  # tracking (or the order's status) says they arrived

    @property
    def in_hand(self) -> bool:
        """The buyer may have the items: claims about the goods themselves make sense."""
        return self in (Arrival.UNKNOWN, Arrival.DELIVERED)


_ARRIVAL_ORDER = list(Arrival)


def _line_arrival(order: Order, line: OrderLine, now: datetime) -> Arrival:
    shipments = order.shipments_for(line.sku)
    if not shipments:
        return Arrival.NOT_SHIPPED
    if order.status is OrderStatus.DELIVERED or any(s.delivered_at for s in shipments):
        return Arrival.DELIVERED
    if any(s.registered and s.events for s in shipments):
        return Arrival.IN_TRANSIT  # the tracking the shop imports would show a delivery
    earliest = [s.earliest_expected for s in shipments if s.earliest_expected is not None]
    if earliest and now < min(earliest):
        return Arrival.IN_TRANSIT  # it cannot have arrived yet
    return Arrival.UNKNOWN


def arrival(order: Order, lines: list[OrderLine] | tuple[OrderLine, ...], now: datetime) -> Arrival:
    """Where these lines' items are; no lines: the whole order's."""
    found = [_line_arrival(order, line, now) for line in (lines or order.lines)]
    return min(found, key=_ARRIVAL_ORDER.index, default=Arrival.NOT_SHIPPED)


class ShopValue:
    """The claimed value in the shop's currency, in which its policy's limits are written.

    Converted on first use with the configured exchange rates, and the conversion is explained
    (the rates and the day they were set); with no rate for the order's currency the amount is
    unknown (None), the decision says so, and no limit can be passed on a guess.
    """

    def __init__(self, config: Config, shop: Shop, value: Money, draft: _Draft) -> None:
        self.config, self.shop, self.value, self.draft = config, shop, value, draft
        self._converted = False
        self._amount: Decimal | None = None

    def amount(self) -> Decimal | None:
        if not self._converted:
            self._converted = True
            self._amount = self._convert()
        return self._amount

    def _convert(self) -> Decimal | None:
        source, target = self.value.currency, self.shop.currency
        if source == target:
            return self.value.amount
        rates = self.config.exchange_rates
        converted = rates.convert(self.value.amount, source, target) if rates else None
        if rates is None or converted is None:
            self.draft.explain("exchange_rate_unknown", currency=source, shop_currency=target)
            return None
        self.draft.explain(
            "currency_converted",
            amount=_money(self.value),
            converted=_limit(converted, target),
            base=rates.base,
            rates={code: str(rates.per_base(code)) for code in (source, target)},
            set_on=rates.set_on.isoformat(),
        )
        return converted


def check_facts(
    config: Config,
    order: Order,
    lines: list[tuple[OrderLine, int]],
    reason: Reason,
    now: datetime,
    draft: _Draft,
    value: ShopValue | None = None,
) -> None:
    """What the order and its shipments allow, before any window, evidence or amount: the
    order's state, whether the shop handles the reason at all, and whether the reason fits
    where the items are (nothing "arrived damaged" before it arrived). The reason menu
    (``core.policy.choices.reasons_for``) and ``decide`` both ask this, so they never disagree.
    """
    shop = config.shop(order.shop)
    _check_order_state(order, reason, draft)
    if not effective_rule(reason, shop.policy.reasons.get(reason)).allowed:
        draft.refuse("reason_not_offered", reason=reason.value)
    if draft.refusal is not None:
        return
    if reason.kind is ReasonKind.ORDER_CHANGE:
        _order_change(order, reason, shop, value, draft)
    elif reason is Reason.NOT_RECEIVED:
        _not_received(order, lines, shop.policy, now, draft)
    elif reason is Reason.ARRIVED_LATE:
        _arrived_late(order, lines, draft)
    else:
        _goods_in_hand(order, lines, reason, now, draft)


def _goods_in_hand(
    order: Order, lines: list[tuple[OrderLine, int]], reason: Reason, now: datetime, draft: _Draft
) -> None:
    """A claim about the goods needs goods: before shipping the buyer can cancel; on the way
    they can report the parcel as not received once it is overdue. "Something else" stays open
    once the parcel has left, for a person to read."""
    where = arrival(order, [line for line, _ in lines], now)
    if where is Arrival.NOT_SHIPPED:
        draft.refuse("not_shipped_yet", options=_before_shipping_options(order))
    elif not where.in_hand and reason is not Reason.OTHER:
        draft.refuse("not_delivered_yet")


def decide(
    *,
    config: Config,
    order: Order,
    claims: list[Claim] | tuple[Claim, ...],
    reason: Reason,
    evidence: EvidenceCount,
    now: datetime,
    already_claimed: dict[int, int] | None = None,
    proof: str | None = None,
) -> Decision:
    """Evaluate a buyer's claim against the shop's policy, minimum rights and supplier terms.

    ``already_claimed`` maps line numbers to units covered by other open or resolved cases.
    ``proof``: how the buyer's account proved the order is theirs (token | email |
    phone_last4 | postal_code | import); a weak one keeps ``CONFIRM_OWNERSHIP`` reasons for a
    person (see ``_confirm_ownership``).
    """
    shop = config.shop(order.shop)
    policy = shop.policy
    rule = effective_rule(reason, policy.reasons.get(reason))
    rights = config.minimum_rights_for(order.buyer.country)
    draft = _Draft()
    currency = order.currency
    zero = Money.zero(currency)

    lines = _check_claims(order, claims, already_claimed or {}, draft)
    claimed_value = sum((line.unit_price * q for line, q in lines), zero)
    value = ShopValue(config, shop, claimed_value, draft)

    check_facts(config, order, lines, reason, now, draft, value)
    if draft.refusal is None and reason.kind is ReasonKind.GOODS:
        _goods_window(order, lines, reason, policy, rights, now, draft)
    if draft.refusal is not None:
        return _refused(draft, reason, rule, zero)
    in_hand = arrival(order, [line for line, _ in lines], now).in_hand

    missing = _missing_evidence(rule, evidence)
    override = policy.reasons.get(reason)
    resolutions = _resolutions(
        rule, policy, override is not None and override.resolutions is not None
    )
    return_required, paid_by, address = _return_terms(
        config, shop, lines, reason, rule, value, in_hand, draft
    )
    refund_lines, fees = _refunds(policy, rights, order, lines, reason, draft)
    refund_total = sum((line.net for line in refund_lines), zero)
    shipping_refund = _shipping_refund(order, lines, reason, policy, rights, draft)
    refund_total = _cap_by_previous_refunds(order, refund_total + shipping_refund, draft)
    review = _confirm_ownership(reason, proof, _review(rule, shop, reason, value, draft), draft)
    gaps = _supplier_gaps(
        config, order, lines, reason, evidence, return_required, refund_lines, now
    )
    for gap in gaps:
        draft.explain(
            "supplier_gap",
            gap=gap.code,
            supplier=gap.supplier,
            line_no=gap.line_no,
            amount=_money(gap.unrecoverable),
        )
    if reason is Reason.COUNTERFEIT:
        for line, _ in lines:
            supplier = config.suppliers.get(line.supplier or "")
            if supplier is not None and supplier.holds_brand_authorisation:
                draft.explain("supplier_holds_authorisation", supplier=line.supplier, sku=line.sku)
    if return_required:
        draft.deadlines["return_by"] = end_of_day(now, config.lifecycle.return_ship_days)
    if review is Review.SELLER:
        draft.deadlines["decision_by"] = now + timedelta(
            hours=config.lifecycle.seller_decision_hours
        )
    elif review is Review.AGENT:
        draft.deadlines["decision_by"] = now + timedelta(
            hours=config.lifecycle.agent_first_response_hours
        )
    if refund_total.minor > 0:
        draft.explain("refund_amount", amount=_money(refund_total))

    return Decision(
        eligible=True,
        refusal=None,
        reason=reason,
        missing=tuple(missing),
        resolutions=tuple(resolutions),
        return_required=return_required,
        return_paid_by=paid_by,
        return_address=address,
        fees=fees,
        refund_lines=tuple(refund_lines),
        refund_total=refund_total,
        shipping_refund=shipping_refund,
        review=review,
        deadlines=draft.deadlines,
        explanations=tuple(draft.explanations),
        supplier_gaps=tuple(gaps),
        **_evidence_terms(rule),
    )


def _evidence_terms(rule: ReasonRule) -> dict[str, Any]:
    need = rule.evidence
    if need is None:
        return {"evidence_guide": (), "evidence_required": {}}
    return {
        "evidence_guide": need.guide,
        "evidence_required": {"photos": need.photos, "videos": need.videos, "media": need.media},
    }


def _refused(draft: _Draft, reason: Reason, rule: ReasonRule, zero: Money) -> Decision:
    """Not eligible: only the refusal and what led to it, nothing to offer."""
    return Decision(
        eligible=False,
        refusal=draft.refusal,
        reason=reason,
        missing=(),
        resolutions=(),
        return_required=False,
        return_paid_by=None,
        return_address=None,
        fees=zero,
        refund_lines=(),
        refund_total=zero,
        shipping_refund=zero,
        review=Review.NONE,
        deadlines=draft.deadlines,
        explanations=tuple(draft.explanations),
        supplier_gaps=(),
        **_evidence_terms(rule),
    )


# ── the steps ──────────────────────────────────────────────────────────────────────────────


# The refusals of ``_check_claims``, about the claim itself (no such line, too many units):
# nothing for a person to weigh, even when the buyer asked for one.
STRUCTURAL_REFUSALS = frozenset(
    {
        "unknown_line",
        "quantity_invalid",
        "no_items_chosen",
        "line_in_other_case",
        "quantity_exceeds",
    }
)


def _check_claims(
    order: Order, claims, already_claimed: dict[int, int], draft: _Draft
) -> list[tuple[OrderLine, int]]:
    """The claimed lines with their quantities; refuses unknown lines and too many units."""
    result: list[tuple[OrderLine, int]] = []
    if not claims:
        draft.refuse("no_items_chosen")
        return result
    seen: set[int] = set()
    for claim in claims:
        line = order.line(claim.line_no)
        if line is None or claim.line_no in seen:
            draft.refuse("unknown_line", line_no=claim.line_no)
            continue
        seen.add(claim.line_no)
        if claim.quantity < 1:
            draft.refuse("quantity_invalid", line_no=claim.line_no, quantity=claim.quantity)
            continue
        refunded = line.refunded_quantity
        in_cases = already_claimed.get(line.line_no, 0)
        available = line.quantity - refunded - in_cases
        if available <= 0 and refunded >= line.quantity:
            draft.refuse("line_already_refunded", line_no=line.line_no, sku=line.sku)
            continue
        if available <= 0:
            draft.refuse("line_in_other_case", line_no=line.line_no, sku=line.sku)
            continue
        if claim.quantity > available:
            draft.refuse(
                "quantity_exceeds",
                line_no=line.line_no,
                sku=line.sku,
                asked=claim.quantity,
                available=available,
                bought=line.quantity,
            )
            continue
        result.append((line, claim.quantity))
    return result


def _check_order_state(order: Order, reason: Reason, draft: _Draft) -> None:
    if order.status is OrderStatus.CANCELLED:
        params: dict[str, Any] = {}
        if order.cancelled_at:
            params["cancelled_on"] = _day(order.cancelled_at)
        if order.refunded_amount and order.refunded_amount.minor > 0:
            params["refunded"] = _money(order.refunded_amount)
        draft.refuse("order_cancelled", **params)
    elif order.fully_refunded:
        draft.refuse("order_already_refunded", refunded=_money(order.refunded_amount))  # type: ignore[arg-type]


def _changeable(order: Order) -> bool:
    """Nothing has left yet: the order can still be cancelled or sent elsewhere."""
    return order.status in (OrderStatus.PENDING, OrderStatus.PAID) and not order.shipments


def _before_shipping_options(order: Order) -> list[str]:
    return ["cancel_order"] if _changeable(order) else []


def _order_change(
    order: Order, reason: Reason, shop: Shop, value: ShopValue | None, draft: _Draft
) -> None:
    """Cancel or redirect: possible only before the parcel leaves; after, explain the options."""
    if _changeable(order):
        draft.explain("not_shipped_yet_change_possible")
        return
    if order.status is OrderStatus.DELIVERED or order.delivered_at is not None:
        draft.refuse("already_delivered", options=["return_after_delivery"])
        return
    options = ["refuse_delivery", "return_after_delivery"]
    limit = shop.policy.reship_allowed_below  # in the shop's currency
    if limit is not None and reason is Reason.CHANGE_ADDRESS and value is not None:
        amount = value.amount()
        if amount is not None and amount < limit:
            options.append("reship_possible")
    draft.refuse("already_shipped", options=options)


def _not_received(
    order: Order, lines: list[tuple[OrderLine, int]], policy: Policy, now: datetime, draft: _Draft
) -> None:
    """A claim becomes possible once the parcel is overdue: longest estimate plus grace, or no
    tracking movement for N days."""
    shipments = [s for line, _ in lines for s in order.shipments_for(line.sku)]
    if not shipments:
        draft.refuse("not_shipped_yet", options=_before_shipping_options(order))
        return
    if all(s.delivered_at is not None for s in shipments):
        delivered = max(s.delivered_at for s in shipments if s.delivered_at)
        draft.explain("tracking_shows_delivered", delivered_on=_day(delivered))
        return
    rule = policy.not_received
    overdue_from: list[datetime] = []
    for shipment in shipments:
        if shipment.delivered_at is not None:
            continue
        latest = shipment.latest_expected
        if latest is not None:
            overdue_from.append(latest + timedelta(days=rule.grace_days))
        else:
            overdue_from.append(shipment.shipped_at + timedelta(days=rule.unestimated_days))
        if shipment.registered and shipment.events:
            overdue_from.append(shipment.last_event_at + timedelta(days=rule.stale_tracking_days))
    claim_from = min(overdue_from)
    pending = [s for s in shipments if s.delivered_at is None]
    first = pending[0]
    params: dict[str, Any] = {
        "shipped_on": _day(first.shipped_at),
        "registered": first.registered,
    }
    if first.earliest_expected and first.latest_expected:
        params["expected_from"] = _day(first.earliest_expected)
        params["expected_to"] = _day(first.latest_expected)
    if now < claim_from:
        draft.deadlines["claim_possible_from"] = claim_from
        draft.refuse("not_overdue_yet", claim_from=_day(claim_from), **params)
        return
    if first.registered and first.events:
        params["last_tracking_update"] = _day(first.last_event_at)
    draft.explain("parcel_overdue", **params)
    if not first.registered:
        draft.explain("unregistered_shipment")


def _arrived_late(order: Order, lines: list[tuple[OrderLine, int]], draft: _Draft) -> None:
    shipments = [s for line, _ in lines for s in order.shipments_for(line.sku)]
    delivered = [s for s in shipments if s.delivered_at is not None]
    if not delivered:
        draft.refuse("not_delivered_yet")
        return
    late = [s for s in delivered if s.latest_expected and s.delivered_at > s.latest_expected]  # type: ignore[operator]
    if not late:
        draft.refuse("arrived_on_time")
        return
    shipment = late[0]
    days = (shipment.delivered_at - shipment.latest_expected).days  # type: ignore[operator]
    draft.explain("arrived_late_by", days=max(days, 1))


def _window_start(order: Order, lines: list[tuple[OrderLine, int]], window_from: WindowFrom):
    """When the return window starts, and on what it is based."""
    if window_from is WindowFrom.ORDER:
        return order.placed_at, "order"
    shipments = [s for line, _ in lines for s in order.shipments_for(line.sku)] or list(
        order.shipments
    )
    if not shipments:
        return None, None
    if window_from is WindowFrom.SHIPPING:
        return max(s.shipped_at for s in shipments), "shipping"
    delivered = [s.delivered_at for s in shipments if s.delivered_at is not None]
    if len(delivered) == len(shipments):
        return max(delivered), "delivery"
    estimates = [s.latest_expected for s in shipments if s.latest_expected is not None]
    if estimates:
        return max(estimates), "estimated_delivery"
    return max(s.shipped_at for s in shipments), "shipping"


@dataclass(frozen=True, slots=True)
class _Window:
    """One line's return window: the shop's, and the longer one the law may give."""

    end: datetime
    days: int
    basis: str
    shop_end: datetime
    shop_days: int
    legal_end: datetime | None
    legal_days: int


def _line_window(
    order: Order,
    line: OrderLine,
    quantity: int,
    reason: Reason,
    policy: Policy,
    rights: list[MinimumRights],
    draft: _Draft,
) -> _Window | None:
    """The window for one line, or None after refusing (non-returnable, nothing shipped)."""
    category = line.category
    cat_rule = policy.categories.get(category) if category else None
    if reason is Reason.CHANGED_MIND:
        exempt_by_law = bool(category) and any(category in r.exempt_categories for r in rights)
        legal = [r for r in rights if r.change_of_mind_days > 0 and not exempt_by_law]
        listed = category is not None and category in policy.non_returnable_categories
        shop_allows = policy.change_of_mind and not listed
        if cat_rule is not None and cat_rule.returnable is not None:
            shop_allows = policy.change_of_mind and cat_rule.returnable
            listed = listed or not cat_rule.returnable
        if not shop_allows and not legal:
            if listed:
                draft.refuse("category_not_returnable", category=category, sku=line.sku)
            else:
                draft.refuse("change_of_mind_not_accepted")
            return None
        days = policy.change_of_mind_days
        if cat_rule is not None and cat_rule.change_of_mind_days is not None:
            days = cat_rule.change_of_mind_days
        days = days if shop_allows else 0
        legal_days = max((r.change_of_mind_days for r in legal), default=0)
    else:
        days = policy.defect_days
        if cat_rule is not None and cat_rule.defect_days is not None:
            days = cat_rule.defect_days
        legal = [r for r in rights if r.defect_days > 0]
        legal_days = max((r.defect_days for r in legal), default=0)

    start, basis = _window_start(order, [(line, quantity)], policy.window_from)
    if start is None:
        draft.refuse("not_shipped_yet", options=_before_shipping_options(order))
        return None
    shop_end = end_of_day(start, days)
    legal_end = None
    if legal and legal_days > 0:
        legal_start, legal_basis = _window_start(order, [(line, quantity)], legal[0].window_from)
        if legal_start is not None:
            legal_end = end_of_day(legal_start, legal_days)
    if legal_end is not None and legal_end > shop_end:
        return _Window(legal_end, legal_days, legal_basis, shop_end, days, legal_end, legal_days)
    return _Window(shop_end, days, basis, shop_end, days, legal_end, legal_days)


def _goods_window(
    order: Order,
    lines: list[tuple[OrderLine, int]],
    reason: Reason,
    policy: Policy,
    rights: list[MinimumRights],
    now: datetime,
    draft: _Draft,
) -> None:
    """Goods in the buyer's hands: every line's category and window; the strictest decides.

    A change of mind always gets the legal withdrawal period when it is longer (the buyer
    must be told the real one). For defects the shop's own window is shown while it runs and
    the legal guarantee takes over after it.
    """
    if not order.shipments:
        draft.refuse("not_shipped_yet", options=_before_shipping_options(order))
        return
    windows = []
    for line, quantity in lines:
        window = _line_window(order, line, quantity, reason, policy, rights, draft)
        if window is None:
            return
        windows.append(window)
    if not windows:
        return
    window = min(windows, key=lambda w: w.end)
    change_of_mind = reason is Reason.CHANGED_MIND
    law_needed = window.legal_end is not None and window.legal_end > window.shop_end
    shown_end, shown_days = window.end, window.days
    if law_needed and not change_of_mind and now <= window.shop_end:
        shown_end, shown_days = window.shop_end, window.shop_days  # the shop's window suffices
    draft.deadlines["window_ends"] = shown_end
    if change_of_mind and window.legal_end is not None:
        draft.legal_withdrawal = now <= window.legal_end
    params = {"days": shown_days, "counted_from": window.basis, "ends_on": _day(shown_end)}
    if law_needed and shown_end == window.legal_end:
        draft.explain(
            "minimum_rights_apply",
            shop_days=window.shop_days,
            legal_days=window.legal_days,
            country=order.buyer.country,
        )
    if now > window.end:
        draft.refuse("outside_window", **params)
        return
    draft.explain("within_window", **params)


def _missing_evidence(rule: ReasonRule, evidence: EvidenceCount) -> list[Missing]:
    need = rule.evidence
    if need is None:
        return []
    missing: list[Missing] = []
    if evidence.photos < need.photos:
        missing.append(Missing("photos", need.photos - evidence.photos))
    if evidence.videos < need.videos:
        missing.append(Missing("videos", need.videos - evidence.videos))
    promised = evidence.photos + evidence.videos + sum(m.count for m in missing)
    if promised < need.media:  # "any photo or video", beyond what is already asked for
        missing.append(Missing("media", need.media - promised))
    if need.description and not evidence.has_description:
        missing.append(Missing("description"))
    return missing


def _resolutions(rule: ReasonRule, policy: Policy, explicit: bool) -> list[Resolution]:
    """Those the reason allows: in the order the shop wrote for this reason, or else in the
    shop's general order of preference."""
    allowed = list(rule.resolutions or ())
    if explicit:
        return allowed
    preference = list(policy.resolution_preference)
    ranked = sorted(
        allowed,
        key=lambda r: (
            preference.index(r) if r in preference else len(preference),
            allowed.index(r),
        ),
    )
    return ranked


def _return_terms(
    config: Config,
    shop: Shop,
    lines: list[tuple[OrderLine, int]],
    reason: Reason,
    rule: ReasonRule,
    value: ShopValue,
    in_hand: bool,
    draft: _Draft,
) -> tuple[bool, Party | None, str | None]:
    """Must the goods come back, who pays the label, and where do they go.

    "You keep the item" is said only of items the buyer has: not of a parcel still on its way,
    nor of a missing part or unit (it never arrived).
    """
    if reason.kind is not ReasonKind.GOODS or not in_hand:
        return False, None, None
    has_it = reason is not Reason.MISSING_PART
    if not rule.item_must_return:
        if has_it:
            draft.explain("keep_item")
        return False, None, None
    threshold = _keep_threshold(shop.policy, lines)  # in the shop's currency
    amount = value.amount() if threshold is not None else None
    if threshold is not None and amount is not None and amount < threshold:
        if has_it:
            draft.explain("keep_item_low_value", threshold=_limit(threshold, shop.currency))
        return False, None, None
    paid_by = rule.return_shipping or (Party.BUYER if reason.fault is Fault.BUYER else Party.SELLER)
    address = _return_address(config, shop, lines, reason)
    draft.explain("return_required", paid_by=paid_by.value)
    return True, paid_by, address


def _keep_threshold(policy: Policy, lines: list[tuple[OrderLine, int]]) -> Decimal | None:
    """A category's own threshold replaces the shop's; across lines the lowest one counts."""
    thresholds = []
    for line, _ in lines:
        cat_rule = policy.categories.get(line.category) if line.category else None
        if cat_rule is not None and cat_rule.refund_without_return_below is not None:
            thresholds.append(cat_rule.refund_without_return_below)
        else:
            thresholds.append(policy.refund_without_return_below)
    value = min(thresholds, default=policy.refund_without_return_below)
    return value if value > 0 else None


def _return_address(
    config: Config, shop: Shop, lines: list[tuple[OrderLine, int]], reason: Reason
) -> str:
    """Straight to the supplier when it takes these goods back; else to the shop's address."""
    suppliers = {line.supplier for line, _ in lines}
    if len(suppliers) == 1:
        supplier = config.suppliers.get(next(iter(suppliers)) or "")
        if (
            supplier is not None
            and supplier.settlement is SupplierSettlement.GOODS_BACK
            and supplier.return_address
            and _supplier_accepts(supplier, reason)
        ):
            return supplier.return_address
    return shop.return_address


def _supplier_accepts(supplier: Supplier, reason: Reason) -> bool:
    if supplier.accepts is SupplierAccepts.NONE:
        return False
    if supplier.accepts is SupplierAccepts.DEFECTS:
        return reason.is_defect
    return reason.is_defect or reason is Reason.CHANGED_MIND


def _refunds(
    policy: Policy,
    rights: list[MinimumRights],
    order: Order,
    lines: list[tuple[OrderLine, int]],
    reason: Reason,
    draft: _Draft,
) -> tuple[list[LineRefund], Money]:
    """Per-line refund; a restocking fee only on change of mind, never within legal withdrawal."""
    fees = Money.zero(order.currency)
    result: list[LineRefund] = []
    if reason.kind is ReasonKind.ORDER_CHANGE and reason is not Reason.CANCEL_ORDER:
        return result, fees
    for line, quantity in lines:
        gross = line.unit_price * quantity
        fee = Money.zero(order.currency)
        if reason is Reason.CHANGED_MIND:
            percent = policy.restocking_fee_percent
            cat_rule = policy.categories.get(line.category) if line.category else None
            if cat_rule is not None and cat_rule.restocking_fee_percent is not None:
                percent = cat_rule.restocking_fee_percent
            if percent > 0 and draft.legal_withdrawal:
                draft.explain("restocking_fee_waived_by_law", percent=str(percent))
            elif percent > 0:
                fee = gross.percent(percent)
                draft.explain(
                    "restocking_fee", percent=str(percent), amount=_money(fee), line_no=line.line_no
                )
        fees = fees + fee
        result.append(LineRefund(line.line_no, quantity, gross, fee, gross - fee))
    return result, fees


def _shipping_refund(
    order: Order,
    lines: list[tuple[OrderLine, int]],
    reason: Reason,
    policy: Policy,
    rights: list[MinimumRights],
    draft: _Draft,
) -> Money:
    """The original shipping comes back when the whole order does, through no buyer fault
    (or on a legal withdrawal)."""
    zero = Money.zero(order.currency)
    if not order.shipping_cost or order.shipping_cost.minor == 0:
        return zero
    whole_order = len(lines) == len(order.lines) and all(
        quantity == line.quantity for line, quantity in lines
    )
    if not whole_order:
        return zero
    if reason is Reason.CANCEL_ORDER:
        return order.shipping_cost
    by_law = (
        reason is Reason.CHANGED_MIND
        and draft.legal_withdrawal
        and any(r.refund_original_shipping for r in rights)
    )
    if reason.fault is Fault.BUYER and not by_law:
        return zero
    if reason.fault is Fault.UNKNOWN or not (policy.refund_original_shipping or by_law):
        return zero
    draft.explain("shipping_refunded", amount=_money(order.shipping_cost))
    return order.shipping_cost


def _cap_by_previous_refunds(order: Order, refund: Money, draft: _Draft) -> Money:
    if order.refunded_amount is None or order.refunded_amount.minor == 0:
        return refund
    remaining = (order.grand_total - order.refunded_amount).clamp_min_zero()
    draft.explain("previous_refund", refunded=_money(order.refunded_amount))
    if refund > remaining:
        draft.explain("refund_capped", amount=_money(remaining))
        return remaining
    return refund


def _review(
    rule: ReasonRule,
    shop: Shop,
    reason: Reason,
    value: ShopValue,
    draft: _Draft,
) -> Review:
    """Who decides: approved at once, the seller, or an agent.

    The value limits are in the shop's currency; when the claimed value cannot be converted
    into it, nothing is approved automatically: the seller looks (the decision says why).
    """
    policy = shop.policy
    codes = {e.code for e in draft.explanations}
    if rule.review == "agent" or reason in policy.agent_review_reasons:
        draft.explain("review_by_agent_reason", reason=reason.value)
        return Review.AGENT
    if "tracking_shows_delivered" in codes:
        draft.explain("review_by_agent_tracking")
        return Review.AGENT
    amount = value.amount()
    if amount is None:
        draft.explain("review_by_seller")
        return Review.SELLER
    if policy.agent_review_above is not None and amount > policy.agent_review_above:
        draft.explain(
            "review_by_agent_value",
            limit=_limit(policy.agent_review_above, shop.currency),
        )
        return Review.AGENT
    if rule.review == "seller":
        draft.explain("review_by_seller")
        return Review.SELLER
    if rule.review == "auto" or amount < policy.auto_approve_below:
        draft.explain(
            "approved_automatically",
            limit=_limit(policy.auto_approve_below, shop.currency),
        )
        return Review.AUTOMATIC
    draft.explain("review_by_seller")
    return Review.SELLER


# Changes that send the goods or the money elsewhere: a person confirms them when the account
# proved ownership only with a detail printed on the parcel label or easy to find out.
CONFIRM_OWNERSHIP = frozenset({Reason.CHANGE_ADDRESS, Reason.CANCEL_ORDER})
WEAK_PROOFS = frozenset({"phone_last4", "postal_code", "check"})  # check: before proofs had names


def _confirm_ownership(reason: Reason, proof: str | None, review: Review, draft: _Draft) -> Review:
    """Never approved automatically, and the decision says why: ``review_weak_proof`` with the
    proof, so the shop's alert can say what the person must confirm."""
    if reason not in CONFIRM_OWNERSHIP or proof not in WEAK_PROOFS:
        return review
    if review is Review.AUTOMATIC:
        draft.explanations = [e for e in draft.explanations if e.code != "approved_automatically"]
        review = Review.SELLER
    draft.explain("review_weak_proof", proof=proof)
    return review


def _supplier_gaps(
    config: Config,
    order: Order,
    lines: list[tuple[OrderLine, int]],
    reason: Reason,
    evidence: EvidenceCount,
    return_required: bool,
    refunds: list[LineRefund],
    now: datetime,
) -> list[SupplierGap]:
    """Compare the decision with each line's supplier terms: what the shop will eat."""
    if reason.kind is ReasonKind.ORDER_CHANGE:
        return []
    gaps: list[SupplierGap] = []
    refund_by_line = {r.line_no: r for r in refunds}
    for line, quantity in lines:
        refund = refund_by_line.get(line.line_no)
        cost = refund.net if refund else line.unit_price * quantity
        for code, amount, params in _line_gaps(
            config.suppliers.get(line.supplier or ""),
            order,
            line,
            quantity,
            reason,
            evidence,
            return_required,
            refund,
            cost,
            now,
        ):
            gaps.append(SupplierGap(line.supplier, line.line_no, code, amount, params))
    return gaps


def _line_gaps(
    supplier: Supplier | None,
    order: Order,
    line: OrderLine,
    quantity: int,
    reason: Reason,
    evidence: EvidenceCount,
    return_required: bool,
    refund: LineRefund | None,
    cost: Money,
    now: datetime,
) -> list[tuple[str, Money, dict[str, Any]]]:
    """One line against its supplier's terms: (gap code, unrecoverable amount, values)."""
    zero = Money.zero(order.currency)
    if supplier is None:
        return [("supplier_unknown", cost, {})]
    if reason.kind is ReasonKind.DELIVERY:
        # suppliers do not pay for lost or late parcels; a carrier claim might
        return [("carrier_claim_only", cost, {})]
    if not _supplier_accepts(supplier, reason):
        return [("supplier_refuses_reason", cost, {"accepts": supplier.accepts.value})]
    start, _ = _window_start(order, [(line, quantity)], supplier.window_from)
    if start is not None:
        supplier_end = end_of_day(start, supplier.window_days)
        if now > supplier_end:
            return [("supplier_window_passed", cost, {"ended_on": _day(supplier_end)})]
    nothing_to_return = reason is Reason.MISSING_PART  # the unit never arrived
    if (
        supplier.settlement is SupplierSettlement.GOODS_BACK
        and not return_required
        and not nothing_to_return
    ):
        return [("supplier_needs_goods_back", cost, {})]
    gaps: list[tuple[str, Money, dict[str, Any]]] = []
    if supplier.credit_needs_photos and evidence.photos == 0:
        gaps.append(("supplier_needs_photos", cost, {}))
    if reason in supplier.video_required_for and evidence.videos == 0:
        gaps.append(("supplier_needs_video", cost, {}))
    if reason is Reason.CHANGED_MIND and supplier.restocking_fee_percent > 0:
        supplier_fee = (line.unit_price * quantity).percent(supplier.restocking_fee_percent)
        shortfall = supplier_fee - (refund.fee if refund else zero)
        if shortfall.minor > 0:
            percent = str(supplier.restocking_fee_percent)
            gaps.append(("supplier_restocking_fee", shortfall, {"percent": percent}))
    return gaps

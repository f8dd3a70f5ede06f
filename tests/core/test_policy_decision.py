"""Table-driven tests of the policy decision, on the sample orders and the sample configuration.

The clock is pinned at 2026-11-22T12:00:00Z, the day ``core/sample/orders.sample.json``
describes. Every expected value is derived from ``core/sample/shops.toml`` and the documented
rules of ``core.policy.decision``; where the code disagrees with what a
seller would expect, the expectation stated is the seller's.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.cases.reasons import Party, Reason
from core.money import Money
from core.orders.formats.detect import iter_orders
from core.orders.model import Order, OrderStatus, TrackingEvent
from core.policy.config import Config, load_config
from core.policy.decision import (
    Claim,
    Decision,
    EvidenceCount,
    Missing,
    Review,
    SupplierGap,
    decide,
    end_of_day,
)
from core.policy.record import DecisionRecord

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
NO_EVIDENCE = EvidenceCount()
SAMPLE_ORDERS = Path(__file__).resolve().parents[2] / "core" / "sample" / "orders.sample.json"


# ── helpers ────────────────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config()


@pytest.fixture(scope="module")
def orders() -> dict[str, Order]:
    return {order.number: order for order in iter_orders(SAMPLE_ORDERS)}


def money(amount: str, currency: str) -> dict[str, str]:
    """Money as it appears in explanation params."""
    return {"amount": amount, "currency": currency}


def eod(day: str) -> datetime:
    """The end of a window's last day, as ``end_of_day`` returns it."""
    return datetime.fromisoformat(day).replace(
        hour=23, minute=59, second=59, microsecond=999999, tzinfo=UTC
    )


def run(
    config: Config,
    order: Order,
    claims: list[tuple[int, int]] | tuple[tuple[int, int], ...],
    reason: Reason,
    evidence: EvidenceCount = NO_EVIDENCE,
    *,
    now: datetime = NOW,
    already_claimed: dict[int, int] | None = None,
) -> Decision:
    return decide(
        config=config,
        order=order,
        claims=[Claim(line_no, quantity) for line_no, quantity in claims],
        reason=reason,
        evidence=evidence,
        now=now,
        already_claimed=already_claimed,
    )


def params_of(decision: Decision, code: str) -> dict[str, Any]:
    found = [e.params for e in decision.explanations if e.code == code]
    assert len(found) == 1, f"expected one {code!r} explanation, got {decision.codes()}"
    return found[0]


def with_delivery(order: Order, delivered_at: datetime | None) -> Order:
    """The order with its (single) parcel delivered at another moment, or not delivered."""
    (shipment,) = order.shipments
    return dataclasses.replace(
        order, shipments=(dataclasses.replace(shipment, delivered_at=delivered_at),)
    )


def with_country(order: Order, country: str) -> Order:
    return dataclasses.replace(order, buyer=dataclasses.replace(order.buyer, country=country))


def with_policy(config: Config, shop: str, **changes: Any) -> Config:
    """The configuration with some of one shop's policy values changed (validated again)."""
    raw = config.model_dump(mode="json")
    raw["shops"][shop]["policy"].update(changes)
    return Config.model_validate(raw)


# ── the sample scenarios ───────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Scenario:
    """One buyer request on a sample order and the whole outcome the buyer and seller see."""

    order: str
    claims: tuple[tuple[int, int], ...]
    reason: Reason
    evidence: EvidenceCount = NO_EVIDENCE
    refusal: str | None = None
    review: Review = Review.AUTOMATIC
    resolutions: tuple[str, ...] = ()
    return_paid_by: Party | None = None  # set: the goods must come back
    return_to: str | None = None  # "shop" or "supplier:<id>"
    refund: str = "0.00"
    shipping_refund: str = "0.00"
    fees: str = "0.00"
    missing: tuple[Missing, ...] = ()
    codes: tuple[str, ...] = ()
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (code, supplier, line, unrecoverable, params)
    gaps: tuple[tuple[str, str | None, int, str, dict[str, Any]], ...] = ()
    deadlines: dict[str, datetime] = field(default_factory=dict)

    @property
    def eligible(self) -> bool:
        return self.refusal is None


AUTO_50_EUR = {"limit": money("50.00", "EUR")}
WITHIN_AUR_10021 = {"days": 30, "counted_from": "delivery", "ends_on": "2026-12-12"}

SCENARIOS = [
    pytest.param(
        Scenario(
            "AUR-10021",
            ((1, 1),),
            Reason.DAMAGED,
            EvidenceCount(photos=3),
            resolutions=("refund", "replacement", "partial_refund"),
            refund="39.90",
            codes=(
                "within_window",
                "keep_item",
                "approved_automatically",
                "supplier_gap",
                "refund_amount",
            ),
            params={
                "within_window": WITHIN_AUR_10021,
                "approved_automatically": AUTO_50_EUR,
                "supplier_gap": {
                    "gap": "supplier_needs_goods_back",
                    "supplier": "sz-bright",
                    "line_no": 1,
                    "amount": money("39.90", "EUR"),
                },
                "refund_amount": {"amount": money("39.90", "EUR")},
            },
            gaps=(("supplier_needs_goods_back", "sz-bright", 1, "39.90", {}),),
            deadlines={"window_ends": eod("2026-12-12")},
        ),
        id="AUR-10021-damaged-lamp-3-photos-refund-keep-item-automatic",
    ),
    pytest.param(
        Scenario(
            "AUR-10021",
            ((1, 1),),
            Reason.DAMAGED,
            EvidenceCount(photos=1),
            resolutions=("refund", "replacement", "partial_refund"),
            refund="39.90",
            missing=(Missing("photos", 2),),
            codes=(
                "within_window",
                "keep_item",
                "approved_automatically",
                "supplier_gap",
                "refund_amount",
            ),
            params={"within_window": WITHIN_AUR_10021},
            gaps=(("supplier_needs_goods_back", "sz-bright", 1, "39.90", {}),),
            deadlines={"window_ends": eod("2026-12-12")},
        ),
        id="AUR-10021-damaged-lamp-1-photo-still-eligible-2-photos-missing",
    ),
    pytest.param(
        Scenario(
            "AUR-10022",
            ((1, 1),),
            Reason.WRONG_SIZE_COLOUR,
            EvidenceCount(photos=1),
            # aurora's preference (refund before exchange) orders the reason's list
            resolutions=("exchange", "refund"),
            return_paid_by=Party.SELLER,
            return_to="supplier:yw-textile",
            refund="49.00",  # the duvet cover only: no shipping, not the whole order
            codes=("within_window", "return_required", "approved_automatically", "refund_amount"),
            params={
                "within_window": {"days": 30, "counted_from": "delivery", "ends_on": "2026-12-05"},
                "return_required": {"paid_by": "seller"},
                "refund_amount": {"amount": money("49.00", "EUR")},
            },
            deadlines={"window_ends": eod("2026-12-05"), "return_by": eod("2026-12-06")},
        ),
        id="AUR-10022-wrong-size-one-line-return-to-supplier-seller-pays",
    ),
    pytest.param(
        Scenario(
            "AUR-10023",
            ((1, 1),),
            Reason.NOT_RECEIVED,
            resolutions=("refund", "reship"),
            refund="34.99",
            shipping_refund="5.00",
            codes=(
                "parcel_overdue",
                "shipping_refunded",
                "currency_converted",
                "approved_automatically",
                "supplier_gap",
                "refund_amount",
            ),
            params={
                "parcel_overdue": {
                    "shipped_on": "2026-09-20",
                    "registered": True,
                    "expected_from": "2026-10-10",
                    "expected_to": "2026-11-04",
                    "last_tracking_update": "2026-10-08",
                },
                "shipping_refunded": {"amount": money("5.00", "USD")},
                # aurora's limits are in euros: 29.99 USD at 1 EUR = 1.05 USD is 28.56 EUR
                "currency_converted": {
                    "amount": money("29.99", "USD"),
                    "converted": money("28.56", "EUR"),
                    "base": "EUR",
                    "rates": {"USD": "1.05", "EUR": "1"},
                    "set_on": "2026-11-01",
                },
                "approved_automatically": {"limit": money("50.00", "EUR")},
                "refund_amount": {"amount": money("34.99", "USD")},
            },
            gaps=(("carrier_claim_only", "gz-kitchen", 1, "29.99", {}),),
        ),
        id="AUR-10023-not-received-overdue-refund-with-shipping-no-photos",
    ),
    pytest.param(
        Scenario(
            "AUR-10024",
            ((1, 4),),
            Reason.CHANGED_MIND,
            resolutions=("refund", "store_credit"),
            return_paid_by=Party.BUYER,
            return_to="supplier:yw-textile",
            refund="27.60",
            codes=(
                "within_window",
                "return_required",
                "approved_automatically",
                "supplier_gap",
                "refund_amount",
            ),
            params={
                "within_window": {"days": 30, "counted_from": "delivery", "ends_on": "2026-12-15"},
                "return_required": {"paid_by": "buyer"},
            },
            gaps=(("supplier_restocking_fee", "yw-textile", 1, "4.14", {"percent": "15"}),),
            deadlines={"window_ends": eod("2026-12-15"), "return_by": eod("2026-12-06")},
        ),
        id="AUR-10024-change-of-mind-buyer-pays-no-fee-supplier-restocking-gap",
    ),
    pytest.param(
        Scenario(
            "AUR-10025",
            ((1, 1),),
            Reason.NOT_AS_DESCRIBED,
            EvidenceCount(photos=2, has_description=True),
            refusal="outside_window",
            review=Review.NONE,
            codes=("outside_window",),
            params={
                "outside_window": {"days": 30, "counted_from": "delivery", "ends_on": "2026-10-01"}
            },
            deadlines={"window_ends": eod("2026-10-01")},
        ),
        id="AUR-10025-quality-complaint-after-window-refused",
    ),
    pytest.param(
        Scenario(
            "AUR-10026",
            ((1, 1),),
            Reason.NOT_AS_DESCRIBED,
            EvidenceCount(photos=2, has_description=True),
            review=Review.AGENT,
            resolutions=("refund", "partial_refund", "replacement"),
            return_paid_by=Party.SELLER,
            return_to="supplier:sz-bright",
            refund="159.00",
            codes=(
                "within_window",
                "currency_converted",
                "return_required",
                "review_by_agent_value",
                "refund_amount",
            ),
            params={  # 159.00 USD is 151.43 EUR: over aurora's 150.00 EUR
                "currency_converted": {
                    "amount": money("159.00", "USD"),
                    "converted": money("151.43", "EUR"),
                    "base": "EUR",
                    "rates": {"USD": "1.05", "EUR": "1"},
                    "set_on": "2026-11-01",
                },
                "review_by_agent_value": {"limit": money("150.00", "EUR")},
            },
            deadlines={
                "window_ends": eod("2026-12-18"),
                "return_by": eod("2026-12-06"),
                "decision_by": datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
            },
        ),
        id="AUR-10026-high-value-not-as-described-agent-review-24h",
    ),
    pytest.param(
        Scenario(
            "AUR-10027",
            ((1, 1),),
            Reason.CANCEL_ORDER,
            review=Review.SELLER,
            resolutions=("cancel",),
            refund="15.50",
            shipping_refund="3.00",
            codes=(
                "not_shipped_yet_change_possible",
                "currency_converted",
                "review_by_seller",
                "refund_amount",
            ),
            params={"refund_amount": {"amount": money("15.50", "USD")}},
            deadlines={"decision_by": datetime(2026, 11, 24, 12, 0, tzinfo=UTC)},
        ),
        id="AUR-10027-cancel-before-shipping-refund-items-and-shipping-seller-review",
    ),
    pytest.param(
        Scenario(
            "AUR-10027",
            ((1, 1),),
            Reason.CHANGE_ADDRESS,
            review=Review.SELLER,
            resolutions=("address_change",),
            missing=(Missing("description"),),
            codes=("not_shipped_yet_change_possible", "currency_converted", "review_by_seller"),
            deadlines={"decision_by": datetime(2026, 11, 24, 12, 0, tzinfo=UTC)},
        ),
        id="AUR-10027-change-address-before-shipping-needs-the-new-address",
    ),
    pytest.param(
        Scenario(
            "AUR-10027",
            ((1, 1),),
            Reason.CHANGE_ADDRESS,
            EvidenceCount(has_description=True),
            review=Review.SELLER,
            resolutions=("address_change",),
            codes=("not_shipped_yet_change_possible", "currency_converted", "review_by_seller"),
            deadlines={"decision_by": datetime(2026, 11, 24, 12, 0, tzinfo=UTC)},
        ),
        id="AUR-10027-change-address-with-the-new-address-complete",
    ),
    pytest.param(
        Scenario(
            "AUR-10028",
            ((1, 1),),
            Reason.NOT_RECEIVED,
            refusal="not_overdue_yet",
            review=Review.NONE,
            codes=("not_overdue_yet",),
            params={
                "not_overdue_yet": {
                    "claim_from": "2026-12-02",
                    "shipped_on": "2026-11-10",
                    "registered": True,
                    "expected_from": "2026-11-17",
                    "expected_to": "2026-11-25",
                }
            },
            deadlines={"claim_possible_from": datetime(2026, 12, 2, 4, 0, tzinfo=UTC)},
        ),
        id="AUR-10028-in-transit-not-overdue-yet-claim-from-date",
    ),
    pytest.param(
        Scenario(
            "AUR-10029",
            ((1, 1),),
            Reason.DAMAGED,
            EvidenceCount(photos=3),
            resolutions=("refund", "replacement", "partial_refund"),
            refund="9.99",
            shipping_refund="2.00",  # the whole order, carrier's fault
            codes=(
                "within_window",
                "keep_item",
                "shipping_refunded",
                "approved_automatically",
                "refund_amount",
            ),
            params={
                "within_window": {"days": 30, "counted_from": "delivery", "ends_on": "2026-12-16"}
            },
            deadlines={"window_ends": eod("2026-12-16")},
        ),
        id="AUR-10029-cheap-damaged-item-refund-without-return",
    ),
    pytest.param(
        Scenario(
            "AUR-10030",
            ((1, 1),),
            Reason.CHANGED_MIND,
            refusal="category_not_returnable",
            review=Review.NONE,
            codes=("category_not_returnable",),
            params={"category_not_returnable": {"category": "swimwear", "sku": "SWM-TRK-M"}},
        ),
        id="AUR-10030-swimwear-change-of-mind-outside-eu-not-returnable",
    ),
    pytest.param(
        Scenario(
            "AUR-10031",
            ((1, 1),),
            Reason.CANCEL_ORDER,
            refusal="order_cancelled",
            review=Review.NONE,
            codes=("order_cancelled",),
            params={
                "order_cancelled": {"cancelled_on": "2026-11-03", "refunded": money("43.80", "EUR")}
            },
        ),
        id="AUR-10031-already-cancelled-and-refunded",
    ),
    pytest.param(
        Scenario(
            "NV-5501",
            ((1, 1),),
            Reason.DOES_NOT_WORK,
            EvidenceCount(has_description=True),
            review=Review.SELLER,  # 45 > 30 automatic limit, not over 100
            resolutions=("replacement", "refund"),
            return_paid_by=Party.SELLER,
            return_to="supplier:sz-volt",
            refund="45.00",
            missing=(Missing("videos", 1),),
            codes=(
                "within_window",
                "return_required",
                "review_by_seller",
                "supplier_gap",
                "refund_amount",
            ),
            params={
                "within_window": {"days": 90, "counted_from": "delivery", "ends_on": "2027-02-06"}
            },
            gaps=(("supplier_needs_video", "sz-volt", 1, "45.00", {}),),
            deadlines={
                "window_ends": eod("2027-02-06"),
                "return_by": eod("2026-12-06"),
                "decision_by": datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
            },
        ),
        id="NV-5501-earbud-does-not-work-without-video-replacement-first-seller-review",
    ),
    pytest.param(
        Scenario(
            "NV-5501",
            ((1, 1),),
            Reason.DOES_NOT_WORK,
            EvidenceCount(videos=1, has_description=True),
            review=Review.SELLER,
            resolutions=("replacement", "refund"),
            return_paid_by=Party.SELLER,
            return_to="supplier:sz-volt",
            refund="45.00",
            codes=("within_window", "return_required", "review_by_seller", "refund_amount"),
            deadlines={
                "window_ends": eod("2027-02-06"),
                "return_by": eod("2026-12-06"),
                "decision_by": datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
            },
        ),
        id="NV-5501-earbud-does-not-work-with-video-complete-supplier-covers-it",
    ),
    pytest.param(
        Scenario(
            "NV-5502",
            ((2, 1),),
            Reason.COUNTERFEIT,
            EvidenceCount(photos=2, has_description=True),
            review=Review.AGENT,
            resolutions=("refund", "replacement"),
            return_paid_by=Party.SELLER,
            return_to="supplier:sz-volt",
            refund="24.99",
            codes=(
                "within_window",
                "currency_converted",
                "return_required",
                "review_by_agent_reason",
                "supplier_holds_authorisation",
                "refund_amount",
            ),
            params={
                "review_by_agent_reason": {"reason": "counterfeit"},
                "supplier_holds_authorisation": {"supplier": "sz-volt", "sku": "CHG-65W-GAN"},
            },
            deadlines={
                "window_ends": eod("2027-02-12"),
                "return_by": eod("2026-12-06"),
                "decision_by": datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
            },
        ),
        id="NV-5502-counterfeit-charger-agent-review-supplier-holds-authorisation",
    ),
    pytest.param(
        Scenario(
            "NV-5503",
            ((1, 1),),
            Reason.NOT_RECEIVED,
            review=Review.AGENT,
            resolutions=("refund", "reship"),
            refund="129.00",
            codes=(
                "parcel_overdue",
                "unregistered_shipment",
                "currency_converted",
                "review_by_agent_value",
                "supplier_gap",
                "refund_amount",
            ),
            params={
                "parcel_overdue": {
                    "shipped_on": "2026-10-01",
                    "registered": False,
                    "expected_from": "2026-10-16",
                    "expected_to": "2026-11-05",
                },
                "unregistered_shipment": {},
                # nova's limits are in dollars: 129.00 GBP is 159.35 USD (via 1 EUR)
                "currency_converted": {
                    "amount": money("129.00", "GBP"),
                    "converted": money("159.35", "USD"),
                    "base": "EUR",
                    "rates": {"GBP": "0.85", "USD": "1.05"},
                    "set_on": "2026-11-01",
                },
                "review_by_agent_value": {"limit": money("100.00", "USD")},
            },
            gaps=(("carrier_claim_only", "sz-volt", 1, "129.00", {}),),
            deadlines={"decision_by": datetime(2026, 11, 23, 12, 0, tzinfo=UTC)},
        ),
        id="NV-5503-unregistered-parcel-overdue-agent-review-over-100",
    ),
    pytest.param(
        Scenario(
            "NV-5504",
            ((1, 1),),
            Reason.CHANGE_ADDRESS,
            EvidenceCount(has_description=True),
            refusal="already_shipped",
            review=Review.NONE,
            codes=("currency_converted", "already_shipped"),  # 61.95 USD: over nova's 30.00
            params={"already_shipped": {"options": ["refuse_delivery", "return_after_delivery"]}},
        ),
        id="NV-5504-change-address-after-shipping-refused-no-reship-at-59",
    ),
    pytest.param(
        Scenario(
            "NV-5504",
            ((1, 1),),
            Reason.CANCEL_ORDER,
            refusal="already_shipped",
            review=Review.NONE,
            codes=("already_shipped",),
            params={"already_shipped": {"options": ["refuse_delivery", "return_after_delivery"]}},
        ),
        id="NV-5504-cancel-after-shipping-refused-refuse-delivery-or-return",
    ),
    pytest.param(
        Scenario(
            "NV-5505",
            ((1, 1),),
            Reason.OTHER,
            review=Review.SELLER,
            resolutions=("replacement", "refund", "partial_refund", "store_credit"),
            refund="35.00",
            missing=(Missing("description"),),
            codes=(
                "within_window",
                "keep_item",
                "review_by_seller",
                "supplier_gap",
                "refund_amount",
            ),
            gaps=(("supplier_refuses_reason", "sz-volt", 1, "35.00", {"accepts": "defects"}),),
            deadlines={
                "window_ends": eod("2027-02-18"),
                "decision_by": datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
            },
        ),
        id="NV-5505-does-not-know-how-to-use-other-seller-review-needs-description",
    ),
    pytest.param(
        Scenario(
            "NV-5506",
            ((1, 1),),
            Reason.MISSING_PART,
            EvidenceCount(photos=1, has_description=True),
            resolutions=("reship", "partial_refund", "refund"),
            refund="3.50",
            # no "you keep the item": the missing cable never arrived
            codes=(
                "within_window",
                "currency_converted",
                "approved_automatically",
                "refund_amount",
            ),
            params={"approved_automatically": {"limit": money("30.00", "USD")}},
            gaps=(),  # the unit never arrived: nothing the supplier needs back
            deadlines={"window_ends": eod("2027-02-11")},
        ),
        id="NV-5506-one-of-three-cables-missing-automatic-refund-or-reship",
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_sample_scenario_outcome(
    scenario: Scenario, config: Config, orders: dict[str, Order]
) -> None:
    order = orders[scenario.order]
    shop = config.shop(order.shop)
    currency = order.currency
    decision = run(config, order, scenario.claims, scenario.reason, scenario.evidence)

    assert decision.reason is scenario.reason
    assert (decision.eligible, decision.refusal) == (scenario.eligible, scenario.refusal)
    assert decision.review is scenario.review
    assert [r.value for r in decision.resolutions] == list(scenario.resolutions)
    assert decision.missing == scenario.missing
    assert decision.complete == (scenario.eligible and not scenario.missing)

    assert decision.return_required == (scenario.return_paid_by is not None)
    assert decision.return_paid_by == scenario.return_paid_by
    if scenario.return_to is None:
        expected_address = None
    elif scenario.return_to == "shop":
        expected_address = shop.return_address
    else:
        expected_address = config.suppliers[scenario.return_to.split(":", 1)[1]].return_address
    assert decision.return_address == expected_address

    assert decision.refund_total == Money.parse(scenario.refund, currency)
    assert decision.shipping_refund == Money.parse(scenario.shipping_refund, currency)
    assert decision.fees == Money.parse(scenario.fees, currency)
    lines_net = sum((line.net for line in decision.refund_lines), Money.zero(currency))
    assert lines_net + decision.shipping_refund == decision.refund_total
    if scenario.eligible and scenario.reason is not Reason.CHANGE_ADDRESS:
        assert [(r.line_no, r.quantity) for r in decision.refund_lines] == list(scenario.claims)

    assert decision.codes() == list(scenario.codes)
    for code, params in scenario.params.items():
        assert params_of(decision, code) == params, code

    assert decision.supplier_gaps == tuple(
        SupplierGap(supplier, line_no, code, Money.parse(amount, currency), params)
        for code, supplier, line_no, amount, params in scenario.gaps
    )
    assert decision.deadlines == scenario.deadlines


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_decision_snapshot_is_json_and_round_trips_the_refund(
    scenario: Scenario, config: Config, orders: dict[str, Order]
) -> None:
    order = orders[scenario.order]
    decision = run(config, order, scenario.claims, scenario.reason, scenario.evidence)

    snapshot = json.loads(json.dumps(decision.to_dict()))

    total = snapshot["refund_total"]
    assert Money.parse(total["amount"], total["currency"]) == decision.refund_total
    assert snapshot["eligible"] is decision.eligible
    assert snapshot["refusal"] == decision.refusal
    assert snapshot["review"] == decision.review.value
    assert snapshot["resolutions"] == [r.value for r in decision.resolutions]
    assert [e["code"] for e in snapshot["explanations"]] == decision.codes()
    assert {k: datetime.fromisoformat(v) for k, v in snapshot["deadlines"].items()} == (
        decision.deadlines
    )


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_stored_record_is_typed_versioned_and_round_trips(
    scenario: Scenario, config: Config, orders: dict[str, Order]
) -> None:
    decision = run(config, orders[scenario.order], scenario.claims, scenario.reason)
    record = decision.to_record()
    stored = json.loads(json.dumps(record.to_json()))

    assert stored["version"] == 1
    assert DecisionRecord.model_validate(stored) == record
    assert record.resolutions == tuple(r.value for r in decision.resolutions)
    assert record.refund_total_money(decision.refund_total.currency) == decision.refund_total
    assert record.deadlines == decision.deadlines


def test_a_record_from_before_versions_reads_and_one_from_the_future_is_refused() -> None:
    old = {"eligible": True, "resolutions": ["refund"], "review": "seller", "rule": "gone"}
    assert DecisionRecord.model_validate(old).version == 1  # unknown old keys are ignored
    with pytest.raises(ValueError, match="newer"):
        DecisionRecord.model_validate({**old, "version": 99})


def test_sample_evidence_terms_tell_the_bot_which_shots_to_ask_for(
    config: Config, orders: dict[str, Order]
) -> None:
    damaged = run(config, orders["AUR-10021"], [(1, 1)], Reason.DAMAGED)
    video = run(config, orders["NV-5501"], [(1, 1)], Reason.DOES_NOT_WORK)

    assert damaged.evidence_guide == ("parcel", "item", "closeup")
    assert damaged.evidence_required == {"photos": 3, "videos": 0, "media": 0}
    assert damaged.missing == (Missing("photos", 3),)
    assert video.evidence_guide == ("video",)
    assert video.evidence_required == {"photos": 0, "videos": 1, "media": 1}
    assert video.missing == (Missing("videos", 1), Missing("description"))


# ── windows ────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("now", "refusal"),
    [
        pytest.param(
            datetime(2026, 12, 12, 23, 59, 59, tzinfo=UTC),
            None,
            id="last-second-of-day-30-eligible",
        ),
        pytest.param(
            datetime(2026, 12, 13, 0, 0, 0, tzinfo=UTC),
            "outside_window",
            id="first-second-of-day-31-refused",
        ),
    ],
)
def test_window_closes_at_the_end_of_its_last_calendar_day(
    now: datetime, refusal: str | None, config: Config, orders: dict[str, Order]
) -> None:
    # delivered 2026-11-12T11:20Z; a US buyer, so no legal guarantee extends the 30 days
    order = with_country(orders["AUR-10021"], "US")

    decision = run(config, order, [(1, 1)], Reason.DAMAGED, EvidenceCount(photos=3), now=now)

    assert decision.refusal == refusal
    assert decision.eligible is (refusal is None)
    assert decision.deadlines["window_ends"] == eod("2026-12-12")
    window = "within_window" if refusal is None else "outside_window"
    assert params_of(decision, window) == WITHIN_AUR_10021


def test_end_of_day_is_the_last_instant_of_the_nth_day_in_utc() -> None:
    start = datetime(2026, 11, 12, 23, 30, tzinfo=UTC)
    assert end_of_day(start, 30) == eod("2026-12-12")
    assert end_of_day(start, 0) == eod("2026-11-12")


def test_eu_legal_guarantee_keeps_a_defect_claim_open_after_the_shop_window(
    config: Config, orders: dict[str, Order]
) -> None:
    # the Spanish buyer of AUR-10021, a day after aurora's 30 days: the 730-day guarantee
    decision = run(
        config,
        orders["AUR-10021"],
        [(1, 1)],
        Reason.DAMAGED,
        EvidenceCount(photos=3),
        now=datetime(2026, 12, 13, 0, 0, tzinfo=UTC),
    )

    assert decision.eligible
    assert params_of(decision, "minimum_rights_apply") == {
        "shop_days": 30,
        "legal_days": 730,
        "country": "ES",
    }
    assert params_of(decision, "within_window") == {
        "days": 730,
        "counted_from": "delivery",
        "ends_on": "2028-11-11",
    }
    assert decision.deadlines["window_ends"] == eod("2028-11-11")


def test_eu_withdrawal_beats_a_7_day_shop_window_and_waives_the_restocking_fee(
    config: Config, orders: dict[str, Order]
) -> None:
    strict = with_policy(config, "aurora", change_of_mind_days=7, restocking_fee_percent="10")
    order = with_delivery(orders["AUR-10024"], NOW - timedelta(days=10))  # German buyer

    decision = run(strict, order, [(1, 4)], Reason.CHANGED_MIND)

    assert decision.eligible and decision.refusal is None
    assert params_of(decision, "minimum_rights_apply") == {
        "shop_days": 7,
        "legal_days": 14,
        "country": "DE",
    }
    assert params_of(decision, "within_window") == {
        "days": 14,
        "counted_from": "delivery",
        "ends_on": "2026-11-26",
    }
    assert params_of(decision, "restocking_fee_waived_by_law") == {"percent": "10"}
    assert "restocking_fee" not in decision.codes()
    assert decision.fees == Money.parse("0.00", "EUR")
    assert decision.refund_total == Money.parse("27.60", "EUR")
    assert decision.return_paid_by is Party.BUYER
    assert decision.deadlines["window_ends"] == eod("2026-11-26")


def test_a_7_day_shop_window_is_final_for_a_buyer_without_legal_withdrawal(
    config: Config, orders: dict[str, Order]
) -> None:
    strict = with_policy(config, "aurora", change_of_mind_days=7, restocking_fee_percent="10")
    order = with_country(with_delivery(orders["AUR-10024"], NOW - timedelta(days=10)), "US")

    decision = run(strict, order, [(1, 4)], Reason.CHANGED_MIND)

    assert not decision.eligible
    assert decision.refusal == "outside_window"
    assert decision.codes() == ["outside_window"]
    assert params_of(decision, "outside_window") == {
        "days": 7,
        "counted_from": "delivery",
        "ends_on": "2026-11-19",
    }


@pytest.mark.parametrize("country", ["ES", "MX"])
def test_swimwear_change_of_mind_is_refused_even_for_an_eu_buyer(
    country: str, config: Config, orders: dict[str, Order]
) -> None:
    order = with_country(orders["AUR-10030"], country)

    decision = run(config, order, [(1, 1)], Reason.CHANGED_MIND)

    assert decision.refusal == "category_not_returnable"
    assert "minimum_rights_apply" not in decision.codes()
    assert decision.resolutions == ()


def test_window_counts_from_the_latest_estimate_when_delivery_is_unknown(
    config: Config, orders: dict[str, Order]
) -> None:
    # shipped 2026-10-22T03:00Z, estimate up to 25 days → 2026-11-16, + 30 days; sent without
    # tracking, so only the buyer knows it arrived
    order = dataclasses.replace(
        with_delivery(orders["AUR-10021"], None), status=OrderStatus.SHIPPED
    )
    (shipment,) = order.shipments
    untracked = dataclasses.replace(shipment, registered=False, tracking_number=None, events=())
    order = dataclasses.replace(order, shipments=(untracked,))

    decision = run(config, order, [(1, 1)], Reason.DAMAGED, EvidenceCount(photos=3))

    assert decision.eligible
    assert params_of(decision, "within_window") == {
        "days": 30,
        "counted_from": "estimated_delivery",
        "ends_on": "2026-12-16",
    }
    assert decision.deadlines["window_ends"] == eod("2026-12-16")


# ── claims on lines ────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("claims", "refunded_quantity", "already_claimed", "refusal", "params"),
    [
        pytest.param(
            [(1, 4)],
            4,
            None,
            "line_already_refunded",
            {"line_no": 1, "sku": "CUS-VEL-45"},
            id="line-fully-refunded",
        ),
        pytest.param(
            [(1, 3)],
            0,
            {1: 2},
            "quantity_exceeds",
            {"line_no": 1, "sku": "CUS-VEL-45", "asked": 3, "available": 2, "bought": 4},
            id="two-units-already-in-another-case",
        ),
        pytest.param(
            [(1, 4)],
            1,
            {1: 1},
            "quantity_exceeds",
            {"line_no": 1, "sku": "CUS-VEL-45", "asked": 4, "available": 2, "bought": 4},
            id="one-refunded-one-in-another-case",
        ),
        pytest.param(
            [(1, 1)],
            0,
            {1: 4},
            "line_in_other_case",
            {"line_no": 1, "sku": "CUS-VEL-45"},
            id="all-units-in-another-case",
        ),
        pytest.param(
            [(1, 5)],
            0,
            None,
            "quantity_exceeds",
            {"line_no": 1, "sku": "CUS-VEL-45", "asked": 5, "available": 4, "bought": 4},
            id="more-than-bought",
        ),
        pytest.param(
            [(1, 0)], 0, None, "quantity_invalid", {"line_no": 1, "quantity": 0}, id="zero-units"
        ),
        pytest.param([(9, 1)], 0, None, "unknown_line", {"line_no": 9}, id="unknown-line"),
        pytest.param(
            [(1, 1), (1, 1)], 0, None, "unknown_line", {"line_no": 1}, id="same-line-twice"
        ),
        pytest.param([], 0, None, "no_items_chosen", {}, id="no-lines"),
    ],
)
def test_claim_on_lines_is_refused_when_units_are_not_available(
    claims: list[tuple[int, int]],
    refunded_quantity: int,
    already_claimed: dict[int, int] | None,
    refusal: str,
    params: dict[str, Any],
    config: Config,
    orders: dict[str, Order],
) -> None:
    order = orders["AUR-10024"]
    line = dataclasses.replace(order.lines[0], refunded_quantity=refunded_quantity)
    order = dataclasses.replace(order, lines=(line,))

    decision = run(config, order, claims, Reason.CHANGED_MIND, already_claimed=already_claimed)

    assert not decision.eligible
    assert decision.refusal == refusal
    assert params_of(decision, refusal) == params
    assert decision.refund_total == Money.zero("EUR")
    assert decision.resolutions == ()


def test_units_left_after_other_cases_can_still_be_claimed(
    config: Config, orders: dict[str, Order]
) -> None:
    decision = run(
        config, orders["AUR-10024"], [(1, 2)], Reason.CHANGED_MIND, already_claimed={1: 2}
    )

    assert decision.eligible
    assert decision.refund_total == Money.parse("13.80", "EUR")


# ── order states and money ─────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("reason", list(Reason), ids=[r.value for r in Reason])
def test_a_cancelled_order_refuses_every_reason(
    reason: Reason, config: Config, orders: dict[str, Order]
) -> None:
    decision = run(
        config,
        orders["AUR-10031"],
        [(1, 1)],
        reason,
        EvidenceCount(photos=3, videos=1, has_description=True),
    )

    assert not decision.eligible
    assert decision.refusal == "order_cancelled"
    assert params_of(decision, "order_cancelled") == {
        "cancelled_on": "2026-11-03",
        "refunded": money("43.80", "EUR"),
    }
    assert decision.refund_total == Money.zero("EUR")


def test_a_fully_refunded_order_refuses_a_new_claim(
    config: Config, orders: dict[str, Order]
) -> None:
    order = dataclasses.replace(orders["AUR-10022"], refunded_amount=Money.parse("71.90", "EUR"))

    decision = run(config, order, [(1, 1)], Reason.WRONG_SIZE_COLOUR, EvidenceCount(photos=1))

    assert decision.refusal == "order_already_refunded"
    assert params_of(decision, "order_already_refunded") == {"refunded": money("71.90", "EUR")}


def test_refund_is_capped_by_what_was_already_refunded(
    config: Config, orders: dict[str, Order]
) -> None:
    # grand total 49.00 + 2 × 9.50 + 3.90 shipping = 71.90; 30.00 went back before
    order = dataclasses.replace(orders["AUR-10022"], refunded_amount=Money.parse("30.00", "EUR"))

    decision = run(
        config, order, [(1, 1), (2, 2)], Reason.WRONG_SIZE_COLOUR, EvidenceCount(photos=1)
    )

    assert decision.eligible
    assert decision.shipping_refund == Money.parse("3.90", "EUR")
    assert decision.refund_total == Money.parse("41.90", "EUR")
    assert params_of(decision, "previous_refund") == {"refunded": money("30.00", "EUR")}
    assert params_of(decision, "refund_capped") == {"amount": money("41.90", "EUR")}
    assert params_of(decision, "refund_amount") == {"amount": money("41.90", "EUR")}


def test_a_previous_refund_below_the_remainder_does_not_cap(
    config: Config, orders: dict[str, Order]
) -> None:
    order = dataclasses.replace(orders["AUR-10022"], refunded_amount=Money.parse("30.00", "EUR"))

    decision = run(config, order, [(2, 2)], Reason.WRONG_SIZE_COLOUR, EvidenceCount(photos=1))

    assert decision.refund_total == Money.parse("19.00", "EUR")
    assert "previous_refund" in decision.codes()
    assert "refund_capped" not in decision.codes()


def test_an_item_under_the_keep_threshold_is_refunded_without_a_return(
    config: Config, orders: dict[str, Order]
) -> None:
    # a wrong item normally comes back; 7.99 is under aurora's 10.00
    decision = run(
        config, orders["AUR-10029"], [(1, 1)], Reason.WRONG_ITEM, EvidenceCount(photos=1)
    )

    assert decision.eligible
    assert not decision.return_required
    assert decision.return_paid_by is None and decision.return_address is None
    assert params_of(decision, "keep_item_low_value") == {"threshold": money("10.00", "EUR")}
    assert "return_by" not in decision.deadlines
    assert decision.refund_total == Money.parse("9.99", "EUR")


def test_a_return_goes_to_the_shop_when_the_supplier_refuses_the_reason(
    config: Config, orders: dict[str, Order]
) -> None:
    # NV-5501 on day 14 of nova's 15: sz-volt takes back defects only
    decision = run(config, orders["NV-5501"], [(1, 1)], Reason.CHANGED_MIND)

    assert decision.eligible
    assert decision.return_paid_by is Party.BUYER
    assert decision.return_address == config.shop("nova").return_address
    assert decision.supplier_gaps == (
        SupplierGap(
            "sz-volt",
            1,
            "supplier_refuses_reason",
            Money.parse("40.50", "USD"),
            {"accepts": "defects"},
        ),
    )


# ── restocking fee ─────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("unit_price", "fee", "net"),
    [
        pytest.param("45.00", "4.50", "40.50", id="45.00-fee-4.50"),
        pytest.param("12.25", "1.23", "11.02", id="half-cent-rounds-up-not-to-even"),
        pytest.param("12.34", "1.23", "11.11", id="below-half-rounds-down"),
    ],
)
def test_nova_change_of_mind_outside_the_eu_charges_10_percent_rounded_half_up(
    unit_price: str, fee: str, net: str, config: Config, orders: dict[str, Order]
) -> None:
    order = orders["NV-5501"]  # Russian buyer, delivered 2026-11-08: day 14 of 15
    line = dataclasses.replace(order.lines[0], unit_price=Money.parse(unit_price, "USD"))
    order = dataclasses.replace(order, lines=(line,))

    decision = run(config, order, [(1, 1)], Reason.CHANGED_MIND)

    assert decision.eligible
    assert decision.fees == Money.parse(fee, "USD")
    assert decision.refund_total == Money.parse(net, "USD")
    (refund,) = decision.refund_lines
    assert (refund.gross, refund.fee, refund.net) == (
        Money.parse(unit_price, "USD"),
        Money.parse(fee, "USD"),
        Money.parse(net, "USD"),
    )
    assert params_of(decision, "restocking_fee") == {
        "percent": "10",
        "amount": money(fee, "USD"),
        "line_no": 1,
    }


def test_restocking_fee_is_charged_and_explained_per_line(
    config: Config, orders: dict[str, Order]
) -> None:
    order = orders["NV-5501"]
    second = dataclasses.replace(
        order.lines[0],
        line_no=2,
        sku="CBL-USBC-1M",
        title="Braided USB-C cable",
        quantity=5,
        unit_price=Money.parse("2.45", "USD"),
    )
    order = dataclasses.replace(order, lines=(order.lines[0], second))

    decision = run(config, order, [(1, 1), (2, 5)], Reason.CHANGED_MIND)

    def usd(amount: str) -> Money:
        return Money.parse(amount, "USD")

    # line 2: 5 × 2.45 = 12.25, 10 % = 1.225 → 1.23 (half up, on the line's total)
    assert [(r.line_no, r.quantity, r.gross, r.fee, r.net) for r in decision.refund_lines] == [
        (1, 1, usd("45.00"), usd("4.50"), usd("40.50")),
        (2, 5, usd("12.25"), usd("1.23"), usd("11.02")),
    ]
    assert decision.fees == usd("5.73")
    assert decision.refund_total == usd("51.52")
    fees = [e.params for e in decision.explanations if e.code == "restocking_fee"]
    assert fees == [
        {"percent": "10", "amount": money("4.50", "USD"), "line_no": 1},
        {"percent": "10", "amount": money("1.23", "USD"), "line_no": 2},
    ]
    assert decision.review is Review.SELLER  # 57.25 claimed: over 30, not over 100


def test_nova_change_of_mind_after_15_days_is_refused_outside_the_eu(
    config: Config, orders: dict[str, Order]
) -> None:
    decision = run(
        config,
        orders["NV-5501"],
        [(1, 1)],
        Reason.CHANGED_MIND,
        now=datetime(2026, 11, 24, 0, 0, tzinfo=UTC),
    )

    assert decision.refusal == "outside_window"
    assert params_of(decision, "outside_window") == {
        "days": 15,
        "counted_from": "delivery",
        "ends_on": "2026-11-23",
    }


# ── not received ───────────────────────────────────────────────────────────────────────────


def test_not_received_while_tracking_shows_delivered_goes_to_an_agent(
    config: Config, orders: dict[str, Order]
) -> None:
    decision = run(config, orders["AUR-10021"], [(1, 1)], Reason.NOT_RECEIVED)

    assert decision.eligible
    assert decision.review is Review.AGENT
    assert params_of(decision, "tracking_shows_delivered") == {"delivered_on": "2026-11-12"}
    assert "review_by_agent_tracking" in decision.codes()
    assert decision.deadlines == {"decision_by": NOW + timedelta(hours=24)}


def _parcel_with_events(order: Order, *event_days: datetime) -> Order:
    """AUR-10028's parcel shipped 2026-10-25 with a 20-40 day estimate (→ 2026-12-04)."""
    (shipment,) = order.shipments
    shipment = dataclasses.replace(
        shipment,
        shipped_at=datetime(2026, 10, 25, 4, 0, tzinfo=UTC),
        estimated_days=(20, 40),
        events=tuple(TrackingEvent(at=at, status="in_transit") for at in event_days),
    )
    return dataclasses.replace(order, shipments=(shipment,))


def test_registered_parcel_with_stale_tracking_is_overdue_before_its_estimate(
    config: Config, orders: dict[str, Order]
) -> None:
    # estimate + 7 grace = 2026-12-11, but no movement since 2026-10-28 (+20 = 2026-11-17)
    order = _parcel_with_events(
        orders["AUR-10028"],
        datetime(2026, 10, 25, 4, 0, tzinfo=UTC),
        datetime(2026, 10, 28, 9, 0, tzinfo=UTC),
    )

    decision = run(config, order, [(1, 1)], Reason.NOT_RECEIVED)

    assert decision.eligible
    assert params_of(decision, "parcel_overdue") == {
        "shipped_on": "2026-10-25",
        "registered": True,
        "expected_from": "2026-11-14",
        "expected_to": "2026-12-04",
        "last_tracking_update": "2026-10-28",
    }
    assert [r.value for r in decision.resolutions] == ["refund", "reship"]
    assert decision.refund_total == Money.parse("19.90", "SGD")


def test_moving_tracking_waits_for_the_earlier_of_estimate_and_staleness(
    config: Config, orders: dict[str, Order]
) -> None:
    # last movement 2026-11-19T22:00Z → stale from 2026-12-09T22:00Z, before 2026-12-11
    order = _parcel_with_events(orders["AUR-10028"], datetime(2026, 11, 19, 22, 0, tzinfo=UTC))

    decision = run(config, order, [(1, 1)], Reason.NOT_RECEIVED)

    assert decision.refusal == "not_overdue_yet"
    assert params_of(decision, "not_overdue_yet")["claim_from"] == "2026-12-09"
    assert decision.deadlines == {"claim_possible_from": datetime(2026, 12, 9, 22, 0, tzinfo=UTC)}


def test_not_received_before_shipping_suggests_cancelling(
    config: Config, orders: dict[str, Order]
) -> None:
    decision = run(config, orders["AUR-10027"], [(1, 1)], Reason.NOT_RECEIVED)

    assert decision.refusal == "not_shipped_yet"
    assert params_of(decision, "not_shipped_yet") == {"options": ["cancel_order"]}


def test_a_cheap_shipped_order_may_be_reshipped_to_a_new_address(
    config: Config, orders: dict[str, Order]
) -> None:
    order = orders["NV-5504"]
    line = dataclasses.replace(order.lines[0], unit_price=Money.parse("19.00", "EUR"))
    order = dataclasses.replace(order, lines=(line,))

    moved = run(config, order, [(1, 1)], Reason.CHANGE_ADDRESS, EvidenceCount(has_description=True))
    cancelled = run(config, order, [(1, 1)], Reason.CANCEL_ORDER)

    assert params_of(moved, "already_shipped") == {
        "options": ["refuse_delivery", "return_after_delivery", "reship_possible"]
    }
    assert params_of(cancelled, "already_shipped") == {
        "options": ["refuse_delivery", "return_after_delivery"]
    }


# ── edges found in review: each once behaved differently from what a seller expects ────────


def test_a_non_returnable_category_on_a_later_line_refuses_change_of_mind(
    config: Config, orders: dict[str, Order]
) -> None:
    order = orders["AUR-10022"]
    swimwear = dataclasses.replace(order.lines[1], category="swimwear")
    order = with_country(dataclasses.replace(order, lines=(order.lines[0], swimwear)), "US")

    first = run(config, order, [(2, 2), (1, 1)], Reason.CHANGED_MIND)
    second = run(config, order, [(1, 1), (2, 2)], Reason.CHANGED_MIND)

    assert first.refusal == "category_not_returnable"
    assert second.refusal == "category_not_returnable"


def test_eu_change_of_mind_after_the_legal_14_days_keeps_the_shop_rule_on_shipping(
    config: Config, orders: dict[str, Order]
) -> None:
    # French buyer, day 25 of aurora's 30: a voluntary return, buyer's fault → no shipping back
    order = with_delivery(orders["AUR-10022"], NOW - timedelta(days=25))

    decision = run(config, order, [(1, 1), (2, 2)], Reason.CHANGED_MIND)

    assert decision.eligible
    assert decision.shipping_refund == Money.zero("EUR")
    assert decision.refund_total == Money.parse("68.00", "EUR")


def test_an_eu_buyer_is_shown_the_legal_withdrawal_window_from_the_first_day(
    config: Config, orders: dict[str, Order]
) -> None:
    strict = with_policy(config, "aurora", change_of_mind_days=7)
    order = with_delivery(orders["AUR-10024"], NOW - timedelta(days=3))  # delivered 2026-11-19

    decision = run(strict, order, [(1, 4)], Reason.CHANGED_MIND)

    assert decision.eligible
    assert decision.deadlines["window_ends"] == eod("2026-12-03")
    assert params_of(decision, "within_window")["ends_on"] == "2026-12-03"


def test_missing_units_are_not_goods_the_supplier_needs_back(
    config: Config, orders: dict[str, Order]
) -> None:
    decision = run(
        config,
        orders["NV-5506"],
        [(1, 1)],
        Reason.MISSING_PART,
        EvidenceCount(photos=1, has_description=True),
    )

    assert "supplier_needs_goods_back" not in [gap.code for gap in decision.supplier_gaps]


def test_a_fractional_threshold_does_not_break_a_decision_in_yen(
    config: Config, orders: dict[str, Order]
) -> None:
    yen = with_policy(config, "aurora", auto_approve_below="49.99")
    order = orders["AUR-10021"]
    line = dataclasses.replace(order.lines[0], unit_price=Money.parse("40", "JPY"))
    order = dataclasses.replace(
        order, currency="JPY", lines=(line,), shipping_cost=Money.zero("JPY")
    )

    decision = run(yen, order, [(1, 1)], Reason.DAMAGED, EvidenceCount(photos=3))

    assert decision.eligible

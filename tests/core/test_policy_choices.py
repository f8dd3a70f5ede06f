"""Facts before choices: the reasons a buyer may pick follow where the items are.

No "arrived damaged" for a parcel that has not arrived (that is "not received", once it is
overdue), no "arrived late" for one that came on time, cancel and change of address only
before shipping; ``decide`` refuses exactly what the menu leaves out, and never says "you keep
the item" about an item the buyer does not have. The clock is pinned at 2026-11-22 12:00 UTC.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.cases.reasons import Reason
from core.orders.formats.detect import iter_orders
from core.orders.model import Order, OrderStatus
from core.policy.choices import MENU, reasons_for
from core.policy.config import Config, load_config
from core.policy.decision import (
    Arrival,
    Claim,
    Decision,
    EvidenceCount,
    Explanation,
    decide,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SAMPLE_ORDERS = Path(__file__).resolve().parents[2] / "core" / "sample" / "orders.sample.json"
EVERYTHING = EvidenceCount(photos=3, videos=1, has_description=True)
GOODS = (
    Reason.DAMAGED,
    Reason.WRONG_ITEM,
    Reason.WRONG_SIZE_COLOUR,
    Reason.MISSING_PART,
    Reason.NOT_AS_DESCRIBED,
    Reason.DOES_NOT_WORK,
    Reason.COUNTERFEIT,
    Reason.CHANGED_MIND,
)
# The refusals that follow from the order's facts alone (what the menu leaves out).
FACT_REFUSALS = {
    "order_cancelled",
    "order_already_refunded",
    "reason_not_offered",
    "not_shipped_yet",
    "not_delivered_yet",
    "not_overdue_yet",
    "arrived_on_time",
    "already_shipped",
    "already_delivered",
}
KEEP = {"keep_item", "keep_item_low_value"}


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config()


@pytest.fixture(scope="module")
def orders() -> dict[str, Order]:
    return {order.number: order for order in iter_orders(SAMPLE_ORDERS)}


def choices(config: Config, order: Order, *line_nos: int, now: datetime = NOW):
    claims = [Claim(n, 1) for n in line_nos] or [Claim(line.line_no, 1) for line in order.lines]
    return reasons_for(config=config, order=order, claims=claims, now=now)


def decide_one(config: Config, order: Order, reason: Reason, line_no: int = 1) -> Decision:
    """``decide`` on one unit of a line, with every piece of evidence, at NOW."""
    return decide(
        config=config,
        order=order,
        claims=[Claim(line_no, 1)],
        reason=reason,
        evidence=EVERYTHING,
        now=NOW,
    )


def untracked(order: Order) -> Order:
    """The order's parcel sent without tracking (as a Shopify export knows it)."""
    shipments = tuple(
        dataclasses.replace(s, registered=False, tracking_number=None, events=(), delivered_at=None)
        for s in order.shipments
    )
    return dataclasses.replace(order, status=OrderStatus.SHIPPED, shipments=shipments)


# ── what the menu offers ───────────────────────────────────────────────────────────────────


def test_a_tracked_parcel_still_on_its_way_and_overdue_offers_not_received_not_damaged(
    config: Config, orders: dict[str, Order]
) -> None:
    # AUR-10023: tracked, last scan 2026-10-08, expected by 2026-11-04
    offered = choices(config, orders["AUR-10023"], 1)

    assert offered.arrival is Arrival.IN_TRANSIT
    assert offered.allowed == (Reason.NOT_RECEIVED, Reason.OTHER)
    for reason in (*GOODS, Reason.ARRIVED_LATE):
        assert offered.why_not(reason) == Explanation("not_delivered_yet"), reason
    assert offered.why_not(Reason.CANCEL_ORDER) == Explanation(
        "already_shipped", {"options": ["refuse_delivery", "return_after_delivery"]}
    )
    assert [e.code for e in offered.reasons_not_offered()] == [
        "not_delivered_yet",
        "already_shipped",
    ]


def test_a_parcel_within_its_estimate_offers_not_received_only_from_its_date(
    config: Config, orders: dict[str, Order]
) -> None:
    # AUR-10028: shipped 2026-11-10, 7-15 days, last scan 2026-11-19: claim from 2026-12-02
    order = orders["AUR-10028"]

    today = choices(config, order)
    later = choices(config, order, now=datetime(2026, 12, 2, 4, 0, tzinfo=UTC))

    assert today.allowed == (Reason.OTHER,)
    why = today.why_not(Reason.NOT_RECEIVED)
    assert why is not None and why.code == "not_overdue_yet"
    assert why.params["claim_from"] == "2026-12-02"
    assert today.deadlines == {"claim_possible_from": datetime(2026, 12, 2, 4, 0, tzinfo=UTC)}
    assert later.allowed == (Reason.NOT_RECEIVED, Reason.OTHER)


def test_an_order_not_shipped_yet_offers_cancel_and_a_new_address(
    config: Config, orders: dict[str, Order]
) -> None:
    offered = choices(config, orders["AUR-10027"])

    assert offered.arrival is Arrival.NOT_SHIPPED
    assert offered.allowed == (Reason.CANCEL_ORDER, Reason.CHANGE_ADDRESS)
    assert offered.why_not(Reason.DAMAGED) == Explanation(
        "not_shipped_yet", {"options": ["cancel_order"]}
    )
    assert offered.why_not(Reason.NOT_RECEIVED) == Explanation(
        "not_shipped_yet", {"options": ["cancel_order"]}
    )


def test_a_delivered_order_offers_the_goods_reasons_but_no_late_arrival_when_it_was_on_time(
    config: Config, orders: dict[str, Order]
) -> None:
    on_time = choices(config, orders["AUR-10021"])  # delivered 2026-11-12, by 2026-11-16
    late = choices(config, orders["AUR-10026"])  # delivered 2026-11-18, after 2026-11-18 05:00

    assert on_time.arrival is Arrival.DELIVERED
    assert on_time.allowed == (*GOODS[:7], Reason.NOT_RECEIVED, Reason.CHANGED_MIND, Reason.OTHER)
    assert on_time.why_not(Reason.ARRIVED_LATE) == Explanation("arrived_on_time")
    assert on_time.why_not(Reason.CANCEL_ORDER) == Explanation(
        "already_delivered", {"options": ["return_after_delivery"]}
    )
    assert Reason.ARRIVED_LATE in late.allowed


def test_a_parcel_without_tracking_is_taken_at_the_buyers_word_once_it_can_have_arrived(
    config: Config, orders: dict[str, Order]
) -> None:
    # NV-5503 is unregistered: shipped 2026-10-01, 15-35 days → could arrive from 2026-10-16
    order = orders["NV-5503"]

    after = choices(config, order)
    before = choices(config, order, now=datetime(2026, 10, 10, tzinfo=UTC))

    assert after.arrival is Arrival.UNKNOWN
    assert set(GOODS) | {Reason.NOT_RECEIVED, Reason.OTHER} == set(after.allowed)
    assert before.arrival is Arrival.IN_TRANSIT
    assert before.allowed == (Reason.OTHER,)


def test_a_cancelled_order_offers_nothing_and_says_why(
    config: Config, orders: dict[str, Order]
) -> None:
    offered = choices(config, orders["AUR-10031"])

    assert offered.allowed == ()
    assert [e.code for e in offered.reasons_not_offered()] == ["order_cancelled"]


def test_a_reason_the_shop_switched_off_is_not_offered(
    config: Config, orders: dict[str, Order]
) -> None:
    raw = config.model_dump(mode="json")
    raw["shops"]["aurora"]["policy"]["reasons"]["counterfeit"] = {"allowed": False}
    strict = Config.model_validate(raw)

    offered = choices(strict, orders["AUR-10021"])

    assert Reason.COUNTERFEIT not in offered.allowed
    assert offered.why_not(Reason.COUNTERFEIT) == Explanation(
        "reason_not_offered", {"reason": "counterfeit"}
    )


def test_items_count_one_by_one_a_claim_takes_the_least_advanced_line(
    config: Config, orders: dict[str, Order]
) -> None:
    # AUR-10022 split in two parcels: the duvet cover delivered, the pillowcases not shipped
    order = orders["AUR-10022"]
    (parcel,) = order.shipments
    order = dataclasses.replace(
        order,
        status=OrderStatus.SHIPPED,
        shipments=(dataclasses.replace(parcel, skus=(order.lines[0].sku,)),),
    )

    assert choices(config, order, 1).arrival is Arrival.DELIVERED
    assert choices(config, order, 2).arrival is Arrival.NOT_SHIPPED
    both = choices(config, order, 1, 2)
    assert both.arrival is Arrival.NOT_SHIPPED
    assert Reason.DAMAGED not in both.allowed
    damaged_duvet = decide_one(config, order, Reason.DAMAGED)
    assert damaged_duvet.eligible


# ── the decision agrees with the menu ──────────────────────────────────────────────────────


MOMENTS = [NOW, NOW - timedelta(days=45), NOW + timedelta(days=40)]


@pytest.mark.parametrize("moment", MOMENTS, ids=["today", "45-days-earlier", "40-days-later"])
def test_decide_refuses_exactly_the_reasons_the_menu_leaves_out(
    moment: datetime, config: Config, orders: dict[str, Order]
) -> None:
    for order in [*orders.values(), untracked(orders["AUR-10021"])]:
        claims = [Claim(line.line_no, 1) for line in order.lines]
        offered = reasons_for(config=config, order=order, claims=claims, now=moment)
        for reason in MENU:
            decision = decide(
                config=config,
                order=order,
                claims=claims,
                reason=reason,
                evidence=EVERYTHING,
                now=moment,
            )
            label = (order.number, reason.value, moment.isoformat())
            if offered.allows(reason):
                assert decision.refusal not in FACT_REFUSALS, label
            else:
                why = offered.why_not(reason)
                assert why is not None and decision.refusal == why.code, label


def test_arrived_damaged_on_a_parcel_that_never_arrived_is_refused_without_keep_the_item(
    config: Config, orders: dict[str, Order]
) -> None:
    decision = decide_one(config, orders["AUR-10023"], Reason.DAMAGED)

    assert decision.refusal == "not_delivered_yet"
    assert not KEEP & set(decision.codes())


# ── "you keep the item" only about an item the buyer has ───────────────────────────────────


@pytest.mark.parametrize(
    ("number", "line_no", "reason"),
    [
        pytest.param("AUR-10023", 1, Reason.NOT_RECEIVED, id="not-received-overdue"),
        pytest.param("AUR-10021", 1, Reason.NOT_RECEIVED, id="not-received-tracking-delivered"),
        pytest.param("NV-5503", 1, Reason.NOT_RECEIVED, id="not-received-untracked"),
        pytest.param("AUR-10023", 1, Reason.OTHER, id="something-else-on-the-way"),
        pytest.param("NV-5506", 1, Reason.MISSING_PART, id="missing-cable-never-arrived"),
    ],
)
def test_no_keep_the_item_for_an_item_the_buyer_does_not_have(
    number: str, line_no: int, reason: Reason, config: Config, orders: dict[str, Order]
) -> None:
    decision = decide_one(config, orders[number], reason, line_no)

    assert decision.eligible, decision.codes()
    assert not KEEP & set(decision.codes())
    assert not decision.return_required


def test_keep_the_item_is_still_said_of_a_damaged_item_in_the_buyers_hands(
    config: Config, orders: dict[str, Order]
) -> None:
    delivered = decide_one(config, orders["AUR-10021"], Reason.DAMAGED)
    at_their_word = decide_one(config, untracked(orders["AUR-10021"]), Reason.DAMAGED)

    assert "keep_item" in delivered.codes()
    assert "keep_item" in at_their_word.codes()
    assert delivered.eligible and at_their_word.eligible


def test_a_parcel_with_other_items_does_not_bring_these(
    config: Config, orders: dict[str, Order]
) -> None:
    # AUR-10022 after its parcel left with the duvet cover only: the pillowcases wait
    order = orders["AUR-10022"]
    (parcel,) = order.shipments
    order = dataclasses.replace(
        order,
        status=OrderStatus.SHIPPED,
        shipments=(dataclasses.replace(parcel, delivered_at=None, skus=(order.lines[0].sku,)),),
    )

    waiting = choices(config, order, 2)

    assert waiting.arrival is Arrival.NOT_SHIPPED
    assert waiting.allowed == ()  # something has shipped: the order can no longer be cancelled
    assert waiting.why_not(Reason.DAMAGED) == Explanation("not_shipped_yet", {"options": []})

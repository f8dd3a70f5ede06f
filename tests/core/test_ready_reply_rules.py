"""Which ready replies fit a case (core/cases/replies.py): by reason, status and the case's
facts, only with the values they quote, and only for staff who may write to the buyer."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from core.cases import replies
from core.cases.lifecycle import CaseStatus, GoodsStatus, MoneyStatus
from core.cases.model import Actor, Case, CaseLine, Owner
from core.cases.reasons import Reason, Resolution
from core.cases.replies import ReadyReply as R
from core.money import Money
from core.orders.model import Buyer, Order, OrderStatus, Shipment

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SELLER, AGENT, OTHER_AGENT = Actor.seller(600002), Actor.agent(700001), Actor.agent(700002)


def case(reason: Reason, status: CaseStatus, **facts) -> Case:
    base = Case(
        number="R-2611-0042",
        shop="nova",
        order_id=1,
        order_number="NV-5501",
        buyer_id=935501,
        reason=reason,
        status=status,
        lines=(CaseLine(1, 1),),
        opened_at=NOW,
        updated_at=NOW,
        currency="USD",
    )
    return dataclasses.replace(base, **facts)


def order(*, latest_in_days: int | None = 5, tracking: str | None = "LX123456789CN") -> Order:
    shipped = NOW - timedelta(days=20)
    estimate = None if latest_in_days is None else (10, 20 + latest_in_days)
    return Order(
        shop="nova",
        number="NV-5501",
        placed_at=shipped,
        status=OrderStatus.SHIPPED,
        currency="USD",
        buyer=Buyer("Dmitri"),
        lines=(),
        shipments=(Shipment("China Post", tracking, True, shipped, estimated_days=estimate),),
    )


@pytest.mark.parametrize(
    ("reason", "status", "facts", "offered"),
    [
        (
            Reason.DAMAGED,
            CaseStatus.AWAITING_SELLER,
            {},
            [R.LOOKING_INTO_IT, R.LABEL_PHOTO, R.PARCEL_PHOTOS, R.DEFECT_VIDEO],
        ),
        (Reason.COUNTERFEIT, CaseStatus.AWAITING_AGENT, {}, [R.LOOKING_INTO_IT, R.ITEM_PHOTOS]),
        (Reason.CHANGED_MIND, CaseStatus.AWAITING_SELLER, {}, [R.LOOKING_INTO_IT]),
        (
            Reason.NOT_RECEIVED,
            CaseStatus.AWAITING_SELLER,
            {},
            [R.LOOKING_INTO_IT, R.DELIVERY_DATE, R.CARRIER_CHECK],
        ),
        (
            Reason.DAMAGED,
            CaseStatus.AWAITING_RETURN,
            {"goods": GoodsStatus.LABEL_ISSUED},
            [R.LOOKING_INTO_IT, R.RETURN_LABEL_SENT],
        ),
        (
            Reason.DAMAGED,
            CaseStatus.AWAITING_RESOLUTION,
            {
                "goods": GoodsStatus.RECEIVED,
                "money": MoneyStatus.PENDING,
                "resolution": Resolution.REFUND,
                "refund_amount": Money.parse("45", "USD"),
            },
            [R.LOOKING_INTO_IT, R.RETURN_RECEIVED, R.REFUND_SENT],
        ),
        (
            Reason.WRONG_ITEM,
            CaseStatus.RESOLVED,
            {"resolution": Resolution.REPLACEMENT, "replacement_tracking": "1Z999"},
            [R.REPLACEMENT_SHIPPED],
        ),
        (Reason.WRONG_ITEM, CaseStatus.RESOLVED, {"resolution": Resolution.REPLACEMENT}, []),
        (Reason.DAMAGED, CaseStatus.REJECTED, {}, []),
        (Reason.DAMAGED, CaseStatus.CANCELLED, {}, []),
    ],
)
def test_the_replies_that_fit_a_case_by_reason_status_and_facts(
    reason: Reason, status: CaseStatus, facts: dict, offered: list[R]
) -> None:
    assert replies.offered(case(reason, status, **facts), order(), SELLER, NOW) == offered


def test_a_reply_is_offered_only_with_the_values_it_quotes() -> None:
    claim = case(Reason.NOT_RECEIVED, CaseStatus.AWAITING_SELLER)
    values = replies.values(R.DELIVERY_DATE, claim, order(), NOW)
    assert values == {
        "case": "R-2611-0042",
        "order": "NV-5501",
        "date": "2026-11-27",
        "tracking": "LX123456789CN",
    }
    past = replies.offered(claim, order(latest_in_days=-3), SELLER, NOW)
    assert R.DELIVERY_DATE not in past  # an estimate already past says nothing true
    untracked = replies.offered(claim, order(tracking=None), SELLER, NOW)
    assert R.DELIVERY_DATE not in untracked and R.CARRIER_CHECK not in untracked
    refund = case(
        Reason.DAMAGED,
        CaseStatus.RESOLVED,
        money=MoneyStatus.REFUNDED,
        refund_amount=Money.parse("45", "USD"),
        refunded_amount=Money.parse("40", "USD"),
    )
    assert replies.values(R.REFUND_SENT, refund, None, NOW)["amount"] == {
        "amount": "40.00",
        "currency": "USD",
    }  # what was paid, not what was granted


def test_only_staff_who_may_write_to_the_buyer_get_replies() -> None:
    open_case = case(Reason.DAMAGED, CaseStatus.AWAITING_SELLER)
    assert replies.refusal(open_case, Actor.buyer(935501)) == "role_not_allowed"
    assert replies.refusal(dataclasses.replace(open_case, buyer_id=None), SELLER) == "no_buyer_chat"
    assert replies.refusal(case(Reason.DAMAGED, CaseStatus.REJECTED), SELLER) == "case_closed"
    with_agent = dataclasses.replace(open_case, owner=Owner.AGENT, owner_agent_id=AGENT.user_id)
    assert replies.refusal(with_agent, AGENT) is None
    assert replies.refusal(with_agent, SELLER) == "conversation_with_agent"
    assert replies.refusal(with_agent, OTHER_AGENT) == "conversation_with_agent"
    assert replies.offered(with_agent, order(), SELLER, NOW) == []


def test_every_ready_reply_has_a_rule() -> None:
    assert [rule.reply for rule in replies.RULES] == list(R)

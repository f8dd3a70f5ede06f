"""``check_claimable``: what opening a case would refuse before any policy question, asked as
soon as the buyer has chosen the items; and ``reason_choices``, the reason menu's facts."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from core.cases.model import Actor
from core.cases.reasons import Reason
from core.clock import FixedClock
from core.errors import Conflict, CoreError, Forbidden, ValidationFailed
from core.orders.numbers import normalize_order_number
from core.policy.decision import Arrival, Claim
from core.services import cases as svc
from core.services.claims import check_claimable, reason_choices
from core.services.context import CoreContext
from tests.core.factories import (
    DMITRI,
    NOVA_SELLER,
    STRANGER,
    case_count,
    earbud_for_seller,
    get_order,
    link,
)

NOVA = Actor.seller(NOVA_SELLER)


async def order_id(ctx: CoreContext, number: str, shop: str = "nova") -> int:
    order = await get_order(ctx, shop, number)
    assert order.id is not None
    return order.id


async def test_a_rejected_claim_is_refused_with_its_case_and_the_moment_it_was_decided(
    ctx: CoreContext, clock: FixedClock
) -> None:
    earbud = await earbud_for_seller(ctx)
    clock.advance(hours=5)
    await svc.reject(ctx, NOVA, earbud.number, "The video shows the earbud working")
    decided = clock.now()
    clock.advance(hours=30)

    with pytest.raises(ValidationFailed) as caught:
        await check_claimable(ctx, Actor.buyer(DMITRI), await order_id(ctx, "NV-5501"), [1])

    assert caught.value.code == "previously_rejected"
    assert caught.value.params["case"] == earbud.number
    assert datetime.fromisoformat(caught.value.params["decided_at"]) == decided
    assert await case_count(ctx) == 1


async def test_an_item_in_an_open_case_is_refused_naming_that_case(ctx: CoreContext) -> None:
    earbud = await earbud_for_seller(ctx)

    with pytest.raises(Conflict) as caught:
        await check_claimable(ctx, Actor.buyer(DMITRI), await order_id(ctx, "NV-5501"), [1])

    assert caught.value.code == "line_has_open_case"
    assert caught.value.params == {"case": earbud.number}
    assert await case_count(ctx) == 1


async def test_items_all_refunded_or_claimed_before_are_refused(ctx: CoreContext) -> None:
    await link(ctx, DMITRI, "NV-5502")
    order = await get_order(ctx, "nova", "NV-5502")
    first = dataclasses.replace(order.lines[0], refunded_quantity=order.lines[0].quantity)
    async with ctx.unit_of_work() as uow:
        await uow.orders.upsert(
            dataclasses.replace(order, lines=(first, *order.lines[1:])),
            normalize_order_number(order.number),
        )
        await uow.commit()
    assert order.id is not None

    with pytest.raises(ValidationFailed) as caught:
        await check_claimable(ctx, Actor.buyer(DMITRI), order.id, [1])

    assert caught.value.code == "order_fully_refunded"
    assert caught.value.params == {"order": "NV-5502"}
    await check_claimable(ctx, Actor.buyer(DMITRI), order.id, [2])  # the charger is still open
    await check_claimable(ctx, Actor.buyer(DMITRI), order.id, [1, 2])  # something is left


async def test_a_cancelled_order_is_left_to_the_policy_which_says_when_and_how_much(
    ctx: CoreContext,
) -> None:
    order = await link(ctx, STRANGER + 1, "AUR-10031")
    assert order.id is not None

    await check_claimable(ctx, Actor.buyer(STRANGER + 1), order.id, [1])  # no error here
    choices = await reason_choices(ctx, Actor.buyer(STRANGER + 1), order.id, [Claim(1, 1)])
    assert choices.allowed == ()
    assert [e.code for e in choices.reasons_not_offered()] == ["order_cancelled"]


async def test_only_the_buyer_of_the_order_may_ask(ctx: CoreContext) -> None:
    nv_5501 = await order_id(ctx, "NV-5501")
    for who in (Actor.buyer(STRANGER), NOVA):
        with pytest.raises(Forbidden):
            await check_claimable(ctx, who, nv_5501, [1])
        with pytest.raises(CoreError) as caught:
            await reason_choices(ctx, who, nv_5501, [Claim(1, 1)])
        assert isinstance(caught.value, Forbidden), caught.value


async def test_the_reason_menu_follows_the_parcel_on_the_clock(
    ctx: CoreContext, clock: FixedClock
) -> None:
    order = await link(ctx, STRANGER + 2, "AUR-10028")  # tracked, expected by 2026-11-25
    assert order.id is not None
    buyer = Actor.buyer(STRANGER + 2)

    today = await reason_choices(ctx, buyer, order.id, [Claim(1, 1)])
    clock.advance(hours=24 * 10)
    overdue = await reason_choices(ctx, buyer, order.id, [Claim(1, 1)])

    assert today.arrival is Arrival.IN_TRANSIT
    assert Reason.NOT_RECEIVED not in today.allowed and Reason.DAMAGED not in today.allowed
    assert Reason.NOT_RECEIVED in overdue.allowed and Reason.DAMAGED not in overdue.allowed

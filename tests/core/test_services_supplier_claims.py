"""Supplier claims opened beside approved cases, on a real database (SQLite; PostgreSQL when
TEST_POSTGRES_URL is set): which suppliers get one, what is claimed, the supplier's deadline,
and the moves of its lifecycle with the amount recovered (read by the figures)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import select

from core.analytics.costs import CostKind
from core.cases.model import Actor
from core.cases.reasons import Reason, Resolution
from core.clock import FixedClock
from core.errors import InvalidTransition, NotFound
from core.money import Money
from core.persistence.tables import case_costs, outbox, supplier_claim_events
from core.policy.config import SupplierAccepts
from core.services import cases as case_service
from core.services import stats as stats_service
from core.services import supplier_claims as claim_service
from core.services.context import CoreContext
from core.services.orders import import_orders
from core.suppliers.lifecycle import ClaimMove, ClaimStatus
from tests.core.factories import (
    AURORA_SELLER,
    NOVA_SELLER,
    SAMPLE_JSON,
    damaged_lamp,
    earbud_for_seller,
    open_case,
)

SELLER = Actor.seller(AURORA_SELLER, "Wang")


def _accepting(ctx: CoreContext, supplier: str, accepts: SupplierAccepts) -> CoreContext:
    config = ctx.config
    terms = config.suppliers[supplier].model_copy(update={"accepts": accepts})
    changed = config.model_copy(update={"suppliers": {**config.suppliers, supplier: terms}})
    return dataclasses.replace(ctx, config=changed)


async def _import_cost(ctx: CoreContext, tmp_path, sku: str, cost: str, currency: str) -> None:
    path = tmp_path / "costs.csv"
    path.write_text(
        "shop,sku,supplier,unit_cost,currency,valid_from\n"
        f"aurora,{sku},sz-bright,{cost},{currency},2026-01-01\n",
        encoding="utf-8",
    )
    await stats_service.import_costs(ctx, path)


async def test_an_approved_defect_opens_a_draft_claim_at_cost_with_the_suppliers_deadline(
    ctx: CoreContext, tmp_path
) -> None:
    await _import_cost(ctx, tmp_path, "LMP-NORD-01", "98.00", "CNY")
    case = await damaged_lamp(ctx)  # approved at once: a refund of 39.90 EUR
    claims = await claim_service.list_claims(ctx, SELLER)
    assert len(claims) == 1
    claim = claims[0]
    assert (claim.case_number, claim.supplier, claim.status) == (
        case.number,
        "sz-bright",
        ClaimStatus.DRAFT,
    )
    assert claim.goods == Money.parse("98.00", "CNY")  # at cost, not the sale price
    assert [line.sku for line in claim.lines] == ["LMP-NORD-01"]
    # sz-bright: 15 days from delivery (12 November)
    assert claim.deadline_at is not None and claim.deadline_at.date().isoformat() == "2026-11-27"
    assert claim.late is False and claim.supplier_order is None
    async with ctx.unit_of_work() as uow:
        notices = (
            await uow.session.execute(
                select(outbox.c.chat_id, outbox.c.kind).where(
                    outbox.c.kind == claim_service.NOTICE_KIND
                )
            )
        ).all()
    assert notices == [(AURORA_SELLER, claim_service.NOTICE_KIND)]  # asked for the order number


async def test_a_seller_approval_opens_the_claim_in_the_same_unit_of_work(
    ctx: CoreContext,
) -> None:
    case = await earbud_for_seller(ctx)  # sz-volt accepts defects
    assert await claim_service.list_claims(ctx, Actor.seller(NOVA_SELLER)) == []
    await case_service.approve(ctx, Actor.seller(NOVA_SELLER), case.number, Resolution.REFUND)
    claims = await claim_service.list_claims(ctx, Actor.seller(NOVA_SELLER))
    assert [(c.case_number, c.supplier) for c in claims] == [(case.number, "sz-volt")]
    assert "cost_unknown" in claims[0].warnings  # no unit cost imported: the price stands in
    assert claims[0].goods == Money.parse("45.00", "USD")


async def test_no_claim_for_a_supplier_whose_terms_cover_nothing(ctx: CoreContext) -> None:
    strict = _accepting(ctx, "sz-bright", SupplierAccepts.NONE)
    await damaged_lamp(strict)
    assert await claim_service.list_claims(strict, SELLER, open_only=False) == []


async def test_no_claim_for_a_change_of_mind_when_the_supplier_takes_defects_only(
    ctx: CoreContext,
) -> None:
    opened = await open_case(ctx, 100021, "AUR-10021", Reason.CHANGED_MIND)
    assert opened.case.resolution is Resolution.REFUND  # approved at once (39.90 < 50)
    assert await claim_service.list_claims(ctx, SELLER, open_only=False) == []


async def test_a_case_after_the_suppliers_window_gets_its_claim_with_a_warning(
    ctx: CoreContext, clock: FixedClock
) -> None:
    clock.advance(days=9)  # 1 December: the shop's 30 days still run, sz-bright's 15 do not
    await damaged_lamp(ctx)
    [claim] = await claim_service.list_claims(ctx, SELLER)
    assert claim.late is True and "late" in claim.warnings
    assert claim.deadline_at is not None and claim.deadline_at.date().isoformat() == "2026-11-27"


async def test_the_lifecycle_moves_to_recovered_with_the_amount_as_a_supplier_credit(
    ctx: CoreContext,
) -> None:
    case = await damaged_lamp(ctx)
    [claim] = await claim_service.list_claims(ctx, SELLER)
    assert claim.id is not None
    with pytest.raises(InvalidTransition):
        await claim_service.move(ctx, SELLER, claim.id, ClaimMove.RECOVER, amount="10")
    await claim_service.move(ctx, SELLER, claim.id, ClaimMove.SEND)
    await claim_service.move(ctx, SELLER, claim.id, ClaimMove.REFUSE)
    await claim_service.move(ctx, SELLER, claim.id, ClaimMove.ESCALATE)
    done = await claim_service.move(ctx, SELLER, claim.id, ClaimMove.RECOVER, amount="30.50")
    assert done.status is ClaimStatus.RECOVERED and done.recovered == Money(3050, "EUR")
    assert done.allowed_moves() == []
    async with ctx.unit_of_work() as uow:
        moves = (
            await uow.session.execute(
                select(supplier_claim_events.c.action, supplier_claim_events.c.to_status).order_by(
                    supplier_claim_events.c.id
                )
            )
        ).all()
        credit = (
            await uow.session.execute(select(case_costs.c.kind, case_costs.c.amount_minor))
        ).all()
    assert moves == [
        ("open", "draft"),
        ("send", "sent"),
        ("refuse", "refused"),
        ("escalate", "escalated"),
        ("recover", "recovered"),
    ]
    assert credit == [("supplier_credit", 3050)]
    costs = await stats_service.case_costs_of(ctx, SELLER, case.number)
    assert [c["kind"] for c in costs] == ["supplier_credit"]


async def test_a_seller_of_another_shop_sees_and_moves_nothing(ctx: CoreContext) -> None:
    await damaged_lamp(ctx)
    [claim] = await claim_service.list_claims(ctx, SELLER)
    assert claim.id is not None
    other = Actor.seller(NOVA_SELLER)
    assert await claim_service.list_claims(ctx, other, open_only=False) == []
    with pytest.raises(NotFound):
        await claim_service.get_claim(ctx, other, claim.id)
    with pytest.raises(NotFound):
        await claim_service.move(ctx, other, claim.id, ClaimMove.WRITE_OFF)


async def test_the_suppliers_order_number_comes_from_the_imported_order(
    ctx: CoreContext, tmp_path
) -> None:
    document = json.loads(SAMPLE_JSON.read_text(encoding="utf-8"))
    orders = document["orders"] if isinstance(document, dict) else document
    lamp = next(o for o in orders if o["number"] == "AUR-10021")
    lamp["items"][0]["supplier_order"] = "SZB-20261021-5"
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    await import_orders(ctx, path)
    await import_orders(ctx, SAMPLE_JSON)  # a file without it keeps the stored number

    await damaged_lamp(ctx)

    [claim] = await claim_service.list_claims(ctx, SELLER)
    assert claim.supplier_order == "SZB-20261021-5"
    async with ctx.unit_of_work() as uow:
        payloads = (
            await uow.session.execute(
                select(outbox.c.payload).where(outbox.c.kind == claim_service.NOTICE_KIND)
            )
        ).scalars()
        assert [p["needs_order"] for p in payloads] == [False]  # nothing to ask


async def test_a_draft_claims_the_postage_recorded_on_its_case_until_it_is_sent(
    ctx: CoreContext,
) -> None:
    case = await damaged_lamp(ctx)
    await stats_service.record_cost(ctx, SELLER, case.number, CostKind.RETURN_LABEL, "6.00")
    [claim] = await claim_service.list_claims(ctx, SELLER)
    assert claim.postage == Money(600, "EUR")
    assert claim.claimed == [Money(3990 + 600, "EUR")]  # the sale price: no unit cost
    assert claim.id is not None
    await claim_service.move(ctx, SELLER, claim.id, ClaimMove.SEND)
    await stats_service.record_cost(ctx, SELLER, case.number, CostKind.RESHIP_POSTAGE, "4.00")
    [sent] = await claim_service.list_claims(ctx, SELLER)
    assert sent.postage == Money(600, "EUR")  # what was sent to the supplier stands

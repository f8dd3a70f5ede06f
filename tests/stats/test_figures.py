"""Every figure, computed exactly on the generated order book (tests/stats/book.py), on
SQLite and PostgreSQL, with costs recorded through the core service as staff do."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from core.analytics.costs import CostKind
from core.analytics.figures import Figures, as_json, tidy_rows
from core.cases.model import Actor
from core.errors import CoreError
from core.money import Money
from core.persistence.tables import audit_events, case_costs
from core.services import privacy, stats
from core.services.context import CoreContext
from core.services.export import evidence_pack
from tests.stats.book import (
    ALPHA_AGENT,
    ALPHA_SELLER,
    BETA_SELLER,
    ERASED_BUYER,
    Book,
    build,
    make_context,
)

SELLER = Actor.seller(ALPHA_SELLER)


@pytest.fixture
async def ctx(engine: AsyncEngine, tmp_path: Path) -> CoreContext:
    return make_context(engine, tmp_path)


@pytest.fixture
async def book(ctx: CoreContext) -> Book:
    book = await build(ctx)
    c1 = book.number("C1")
    await stats.record_cost(
        ctx, SELLER, c1, CostKind.SUPPLIER_CREDIT, Money(1000, "EUR"), "credit note 77"
    )
    await stats.record_cost(
        ctx, Actor.agent(ALPHA_AGENT), c1, CostKind.RETURN_LABEL, Money(500, "EUR")
    )
    return book


async def _figures(ctx: CoreContext, actor: Actor = SELLER, days: int = 30) -> Figures:
    return await stats.figures(ctx, actor, days=days, shop="alpha")


def _rates(f: Figures) -> set[tuple[object, ...]]:
    return {
        (r.month, r.sku, r.supplier, r.reason, r.units_sold, r.units_claimed, r.rate, r.few)
        for r in f.rates
    }


async def test_return_rate_by_month_sku_supplier_and_reason(ctx: CoreContext, book: Book) -> None:
    f = await _figures(ctx)
    assert _rates(f) == {
        ("2026-10", "LAMP", "sup-a", "damaged", 4, 2, Decimal("0.5000"), True),
        ("2026-10", "MUG", "sup-b", "not_received", 4, 1, Decimal("0.2500"), True),
        ("2026-11", "LAMP", "sup-a", "damaged", 6, 2, Decimal("0.3333"), True),
        ("2026-11", "MUG", "sup-b", "not_as_described", 4, 2, Decimal("0.5000"), True),
        ("2026-11", "MUG", "sup-b", "wrong_item", 4, 1, Decimal("0.2500"), True),
        # a SKU with a unit cost on file and no sales: shown, no rate, no division by zero
        ("", "GHOST", "sup-a", None, 0, 0, None, True),
    }


async def test_claims_per_100_orders_leave_out_cancellations(ctx: CoreContext, book: Book) -> None:
    f = await _figures(ctx)
    assert [(m.month, m.orders, m.claims, m.per_100_orders) for m in f.months] == [
        ("2026-10", 4, 2, Decimal("50.00")),
        ("2026-11", 6, 4, Decimal("66.67")),
    ]


async def test_priority_is_rate_times_claims_with_the_trend(ctx: CoreContext, book: Book) -> None:
    f = await _figures(ctx)
    assert [
        (p.sku, p.supplier, p.units_sold, p.units_claimed, p.claims, p.rate, p.score,
         p.previous_rate, p.trend)
        for p in f.priority
    ] == [
        ("MUG", "sup-b", 8, 4, 3, Decimal("0.5000"), Decimal("1.5000"), None, "new"),
        ("LAMP", "sup-a", 10, 4, 3, Decimal("0.4000"), Decimal("1.2000"), Decimal("0.1000"), "up"),
    ]  # fmt: skip


async def test_cost_of_returns_and_net_loss_per_currency(ctx: CoreContext, book: Book) -> None:
    f = await _figures(ctx)
    money = {m.currency: m for m in f.money}
    assert set(money) == {"EUR", "USD"}  # never added together
    eur = money["EUR"]
    assert eur.by_kind == {"refunded": 11000, "supplier_credit": 1000, "return_label": 500}
    assert (eur.cost, eur.recovered, eur.net_loss) == (
        Money(11500, "EUR"),
        Money(1000, "EUR"),
        Money(10500, "EUR"),
    )
    assert money["USD"].net_loss == Money(1200, "USD")


async def test_supplier_recovery_gap_and_claims_closing_soon(ctx: CoreContext, book: Book) -> None:
    f = await _figures(ctx)
    gaps = {(g.supplier, g.currency): g for g in f.gaps}
    assert set(gaps) == {("sup-a", "EUR"), ("sup-b", "CNY")}
    a = gaps[("sup-a", "EUR")]
    # C1: 2 × 15.00 (October's cost) + C3: 1 × 16.00 (November's); C5 is the shop's own loss
    assert (a.liable, a.recovered, a.gap) == (
        Money(4600, "EUR"),
        Money(1000, "EUR"),
        Money(3600, "EUR"),
    )
    assert a.closing_soon == []  # C3's window runs to mid-December
    b = gaps[("sup-b", "CNY")]
    assert (b.liable, b.recovered, b.gap) == (
        Money(9000, "CNY"),
        Money(0, "CNY"),
        Money(9000, "CNY"),
    )
    # ten days from delivery (17 and 16 November): both close within the week
    assert b.closing_soon == [book.number("C4"), book.number("C6")]
    assert f.lines_without_cost == 0


async def test_times_median_and_p90_from_the_audit_trail(ctx: CoreContext, book: Book) -> None:
    f = await _figures(ctx)
    times = {t.measure: (t.count, t.median, t.p90) for t in f.times}
    assert times == {
        "first_response": (4, 3.0, 6.0),  # 6, 2, 1, 4 h (C2 not answered, C3 automatic)
        "decision": (5, 4.0, 24.0),  # 6, 0, 24, 1, 4 h
        "resolution": (3, 24.0, 48.0),  # closed cases only: 24, 48, 24 h
    }


async def test_not_received_rate_and_transit_per_carrier_and_country(
    ctx: CoreContext, book: Book
) -> None:
    f = await _figures(ctx)
    assert [
        (c.carrier, c.country, c.parcels, c.not_received, c.rate, c.median_transit_days)
        for c in f.carriers
    ] == [
        ("DHL", "DE", 4, 0, Decimal("0.0000"), 6.5),
        ("YunExpress", "ES", 3, 1, Decimal("0.3333"), 14.0),
        ("DHL", "FR", 2, 0, Decimal("0.0000"), 5.0),
    ]


async def test_share_decided_automatically(ctx: CoreContext, book: Book) -> None:
    f = await _figures(ctx)
    assert (f.automation.decided, f.automation.automatic, f.automation.share) == (
        5,
        1,
        Decimal("0.2000"),
    )


async def test_a_longer_period_takes_in_the_earlier_orders(ctx: CoreContext, book: Book) -> None:
    f = await _figures(ctx, days=90)
    assert [(m.month, m.orders, m.claims) for m in f.months] == [
        ("2026-10", 5, 3),  # P1 and its claim join October
        ("2026-11", 6, 4),
    ]


async def test_an_erased_buyers_case_still_counts(ctx: CoreContext, book: Book) -> None:
    from core.services import privacy

    before = as_json(await _figures(ctx))
    erasure = await privacy.request_erasure(ctx, Actor.system(), ERASED_BUYER, by="shop")
    assert erasure.done
    after = as_json(await _figures(ctx))
    assert after == before
    assert any(r["reason"] == "wrong_item" for r in after["return_rates"])


async def test_each_cost_is_an_audit_event_on_the_case(ctx: CoreContext, book: Book) -> None:
    async with ctx.unit_of_work() as uow:
        rows = (
            await uow.session.execute(
                select(audit_events.c.action, audit_events.c.actor_role, audit_events.c.data)
                .where(
                    audit_events.c.case_id == book.case_ids["C1"],
                    audit_events.c.action == "cost_recorded",
                )
                .order_by(audit_events.c.id)
            )
        ).all()
        stored = (await uow.session.execute(select(case_costs.c.kind, case_costs.c.note))).all()
    assert [(r.actor_role, r.data["kind"], r.data["amount"]) for r in rows] == [
        ("seller", "supplier_credit", {"amount": "10.00", "currency": "EUR"}),
        ("agent", "return_label", {"amount": "5.00", "currency": "EUR"}),
    ]
    assert sorted(stored) == [("return_label", None), ("supplier_credit", "credit note 77")]


@pytest.mark.parametrize(
    ("actor", "code"),
    [
        (Actor.seller(BETA_SELLER), "case_not_found"),  # another shop's seller learns nothing
        (Actor.buyer(500001), "role_not_allowed"),
        (Actor.seller(999999), "not_staff"),
    ],
)
async def test_only_the_cases_staff_record_costs(
    ctx: CoreContext, book: Book, actor: Actor, code: str
) -> None:
    with pytest.raises(CoreError) as caught:
        await stats.record_cost(ctx, actor, book.number("C1"), CostKind.REFUND, Money(100, "EUR"))
    assert caught.value.code == code
    async with ctx.unit_of_work() as uow:
        kinds = (await uow.session.execute(select(case_costs.c.kind))).scalars().all()
    assert "refund" not in kinds


async def test_sellers_see_only_their_shops(ctx: CoreContext, book: Book) -> None:
    with pytest.raises(CoreError) as caught:
        await stats.figures(ctx, Actor.seller(BETA_SELLER), days=30, shop="alpha")
    assert caught.value.code == "not_your_shop"
    beta = await stats.figures(ctx, Actor.seller(BETA_SELLER), days=30)
    assert beta.shops == ("beta",)
    assert [(m.month, m.orders, m.claims) for m in beta.months] == [("2026-11", 1, 0)]
    with pytest.raises(CoreError) as caught:
        await stats.figures(ctx, Actor.buyer(500001), days=30)
    assert caught.value.code == "not_staff"


async def test_tidy_rows_hold_every_figure(ctx: CoreContext, book: Book) -> None:
    rows = tidy_rows(await _figures(ctx))
    figures = {r["figure"] for r in rows}
    assert figures == {
        "return_rate",
        "claims_per_100_orders",
        "priority",
        "cost_of_returns",
        "supplier_gap",
        "times_hours",
        "carriers",
        "automation",
    }
    net = [r for r in rows if r["measure"] == "net_loss"]
    assert {(r["currency"], r["value"]) for r in net} == {("EUR", "105.00"), ("USD", "12.00")}


async def test_the_buyer_never_sees_the_shops_costs_in_the_history(
    ctx: CoreContext, book: Book
) -> None:
    from core.services import cases as case_service

    buyer_view = await case_service.get_case(ctx, Actor.buyer(500001), book.number("C1"))
    staff_view = await case_service.get_case(ctx, SELLER, book.number("C1"))
    assert "cost_recorded" not in [e.action for e in buyer_view.timeline]
    assert [e.action for e in staff_view.timeline].count("cost_recorded") == 2
    # nor in the copy of their data they ask for (/mydata), nor in a dispute's evidence pack
    mine = await privacy.personal_data(ctx, Actor.buyer(500001), 500001)
    assert mine.cases and all(
        event.action != "cost_recorded" for case in mine.cases for event in case.timeline
    )
    pack = await evidence_pack(ctx, SELLER, book.number("C1"))
    timeline = zipfile.ZipFile(io.BytesIO(pack.data)).read("timeline.csv").decode("utf-8-sig")
    assert "cost_recorded" in timeline and "(internal note, not exported)" in timeline

"""What returns cost and why: the figures of a shop over a period, read with plain SQL
(SQLAlchemy Core, the same statements on SQLite and PostgreSQL), the costs staff record on a
case, the unit costs ``import-costs`` reads, and the weekly digest to each shop's sellers.

The definitions are in ``core.analytics.figures``; this module only reads and writes rows.
Percentiles are computed in Python (SQLite has none); transit days come back as a histogram,
so a million orders never cross the wire one by one. The reads run in two lanes side by side,
each on a connection of its own (``figures``); ``benchmarks/stats.py`` times them.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Integer,
    String,
    and_,
    case,
    cast,
    delete,
    distinct,
    func,
    insert,
    literal,
    select,
    tuple_,
)
from sqlalchemy.sql.elements import ColumnElement

from core.analytics.costs import CostKind, UnitCost, read_cost_file
from core.analytics.figures import (
    CLOSING_DAYS,
    MAX_PERIOD_DAYS,
    Automation,
    CarrierRow,
    Figures,
    GapRow,
    MoneyRow,
    MonthRow,
    Period,
    RateRow,
    TimeRow,
    priority_list,
)
from core.cases.lifecycle import Role
from core.cases.model import Actor, Case
from core.cases.reasons import Reason
from core.clock import ensure_utc
from core.errors import Forbidden, NotFound, ValidationFailed
from core.money import Money, MoneyError
from core.persistence.sqlite_driver import long_statements
from core.persistence.tables import (
    audit_events,
    case_costs,
    case_lines,
    cases,
    order_lines,
    orders,
    runtime_values,
    shipments,
    sku_costs,
)
from core.persistence.unit_of_work import UnitOfWork
from core.policy.config import SupplierSettlement, WindowFrom
from core.policy.decision import end_of_day
from core.policy.record import DecisionRecord
from core.services.access import check_actor_role, check_case_access, seller_ids, staff_shops
from core.services.audit import record_audit
from core.services.context import CoreContext

NOT_RETURNS = (Reason.CANCEL_ORDER.value, Reason.CHANGE_ADDRESS.value)
MAX_COST_MINOR = 10**13
MAX_NOTE = 1000
STAFF_ROLES = (Role.SELLER.value, Role.AGENT.value)
DECISIONS = ("approve", "reject")
UNKNOWN = "(unknown)"
T = TypeVar("T")
DIGEST_KEY = "weekly_digest_week"  # runtime_values: the last week whose digest went out


# ── who sees which shops ─────────────────────────────────────────────────────────────────────


async def _shops(
    uow: UnitOfWork, ctx: CoreContext, actor: Actor, shop: str | None
) -> tuple[str, ...]:
    """The shops ``actor`` may see figures of (the CLI, as the system, sees every shop)."""
    if shop is not None and shop not in ctx.config.shops:
        raise ValidationFailed(f"unknown shop {shop!r}", code="unknown_shop")
    if actor.role is Role.SYSTEM:
        allowed = sorted(ctx.config.shops)
    elif actor.role in (Role.SELLER, Role.AGENT):
        allowed = await staff_shops(uow, ctx.config, actor)
        if not allowed:
            raise Forbidden("only staff see the figures", code="not_staff")
    else:
        raise Forbidden("only staff see the figures", code="not_staff")
    if shop is not None:
        if shop not in allowed:
            raise Forbidden("not a shop of yours", code="not_your_shop")
        return (shop,)
    return tuple(allowed)


# ── SQL pieces that differ between the two databases ─────────────────────────────────────────


def _month(column: Any, dialect: str) -> ColumnElement[str]:
    """The month of a UTC timestamp, as "2026-11" (SQLite keeps it as ISO text, naive UTC)."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.substr(column, 1, 7)


def _whole_days(later: Any, earlier: Any, dialect: str) -> ColumnElement[int]:
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", later - earlier) / 86400), Integer)
    seconds = cast(func.strftime("%s", later), Integer) - cast(
        func.strftime("%s", earlier), Integer
    )
    return cast(seconds // 86400, Integer)  # whole seconds, whole days: exact


def _dialect(uow: UnitOfWork) -> str:
    return uow.session.dialect.name


def _cohort(shops: tuple[str, ...], period: Period) -> ColumnElement[bool]:
    """The shops' orders placed in the period (read through their covering index)."""
    return and_(
        orders.c.shop.in_(shops),
        orders.c.placed_at >= period.start,
        orders.c.placed_at < period.end,
    )


def _case_cohort(shops: tuple[str, ...], period: Period) -> ColumnElement[bool]:
    """Cases on the shops' orders placed in the period, found from the cases: a shop has far
    fewer cases than orders. ``coalesce`` keeps SQLite from walking every order of the period
    first (it cannot use an index through a function); PostgreSQL plans it either way."""
    placed = func.coalesce(orders.c.placed_at, orders.c.placed_at)
    return and_(cases.c.shop.in_(shops), placed >= period.start, placed < period.end)


# ── the figures ──────────────────────────────────────────────────────────────────────────────


async def _rates(
    uow: UnitOfWork, shops: tuple[str, ...], period: Period, *, by_month: bool = True
) -> list[RateRow]:
    """Units sold and claimed per month × SKU × supplier (× reason); ``by_month=False``: the
    whole period at once (month ""), as the previous period's trend needs, for less sorting."""
    dialect = _dialect(uow)

    def month_of() -> Any:
        if by_month:
            return _month(orders.c.placed_at, dialect).label("month")
        return literal("", String).label("month")

    month = month_of()
    sold_q = (
        select(
            month,
            order_lines.c.sku,
            order_lines.c.supplier,
            func.sum(order_lines.c.quantity).label("units"),
        )
        .select_from(order_lines.join(orders, orders.c.id == order_lines.c.order_id))
        .where(_cohort(shops, period))
        .group_by(*([month] if by_month else []), order_lines.c.sku, order_lines.c.supplier)
    )
    claim_month = month_of()
    claimed_q = (
        select(
            claim_month,
            order_lines.c.sku,
            order_lines.c.supplier,
            cases.c.reason,
            func.sum(case_lines.c.quantity).label("units"),
            func.count(distinct(cases.c.id)).label("claims"),
        )
        .select_from(
            case_lines.join(cases, cases.c.id == case_lines.c.case_id)
            .join(order_lines, order_lines.c.id == case_lines.c.order_line_id)
            .join(orders, orders.c.id == cases.c.order_id)
        )
        .where(_case_cohort(shops, period), cases.c.reason.not_in(NOT_RETURNS))
        .group_by(
            *([claim_month] if by_month else []),
            order_lines.c.sku,
            order_lines.c.supplier,
            cases.c.reason,
        )
    )
    sold = {
        (r.month, r.sku, r.supplier): int(r.units or 0)
        for r in (await uow.session.execute(sold_q)).all()
    }
    claimed: dict[tuple[str, str, str | None], list[tuple[str, int, int]]] = defaultdict(list)
    for r in (await uow.session.execute(claimed_q)).all():
        claimed[(r.month, r.sku, r.supplier)].append((r.reason, int(r.units), int(r.claims)))
    rows: list[RateRow] = []
    for key in sorted(set(sold) | set(claimed), key=lambda k: (k[0], k[1], k[2] or "")):
        units_sold = sold.get(key, 0)
        reasons = claimed.get(key)
        if not reasons:
            rows.append(RateRow(key[0], key[1], key[2], None, units_sold, 0, 0))
            continue
        for reason, units, count in sorted(reasons):
            rows.append(RateRow(key[0], key[1], key[2], reason, units_sold, units, count))
    return rows


async def _unsold_skus(uow: UnitOfWork, shops: tuple[str, ...], _: Period) -> list[RateRow]:
    """SKUs with a unit cost on file (the caller keeps those with nothing sold in the period:
    shown, rate empty)."""
    found = await uow.session.execute(
        select(sku_costs.c.sku, sku_costs.c.supplier).where(sku_costs.c.shop.in_(shops)).distinct()
    )
    return [
        RateRow("", sku, supplier, None, 0, 0, 0)
        for sku, supplier in sorted(found.all(), key=lambda r: (r[0], r[1] or ""))
    ]


async def _months(uow: UnitOfWork, shops: tuple[str, ...], period: Period) -> list[MonthRow]:
    dialect = _dialect(uow)
    month = _month(orders.c.placed_at, dialect).label("month")
    placed = await uow.session.execute(
        select(month, func.count().label("n")).where(_cohort(shops, period)).group_by(month)
    )
    claim_month = _month(orders.c.placed_at, dialect).label("month")
    claimed = await uow.session.execute(
        select(claim_month, func.count(cases.c.id).label("n"))
        .select_from(cases.join(orders, orders.c.id == cases.c.order_id))
        .where(_case_cohort(shops, period), cases.c.reason.not_in(NOT_RETURNS))
        .group_by(claim_month)
    )
    counts = {r.month: int(r.n) for r in placed.all()}
    claims = {r.month: int(r.n) for r in claimed.all()}
    return [
        MonthRow(m, counts.get(m, 0), claims.get(m, 0)) for m in sorted(set(counts) | set(claims))
    ]


async def _money(uow: UnitOfWork, shops: tuple[str, ...], period: Period) -> list[MoneyRow]:
    cohort = cases.join(orders, orders.c.id == cases.c.order_id)
    refunded = await uow.session.execute(
        select(cases.c.currency, func.sum(cases.c.refunded_minor).label("minor"))
        .select_from(cohort)
        .where(
            _case_cohort(shops, period),
            cases.c.refunded_minor.is_not(None),
            cases.c.reason.not_in(NOT_RETURNS),
        )
        .group_by(cases.c.currency)
    )
    recorded = await uow.session.execute(
        select(case_costs.c.currency, case_costs.c.kind, func.sum(case_costs.c.amount_minor))
        .select_from(case_costs.join(cohort, cases.c.id == case_costs.c.case_id))
        .where(_case_cohort(shops, period), cases.c.reason.not_in(NOT_RETURNS))
        .group_by(case_costs.c.currency, case_costs.c.kind)
    )
    rows: dict[str, MoneyRow] = {}
    for currency, minor in refunded.all():
        rows.setdefault(currency, MoneyRow(currency)).add("refunded", int(minor or 0))
    for currency, kind, minor in recorded.all():
        rows.setdefault(currency, MoneyRow(currency)).add(kind, int(minor or 0))
    return [rows[c] for c in sorted(rows)]


@dataclass
class _ApprovedCase:
    id: int
    number: str
    shop: str
    order_id: int
    placed_at: datetime
    unrecoverable: frozenset[int]  # lines the decision said the supplier will not pay for
    lines: list[tuple[int, str, str | None, int]]  # line_no, sku, supplier, quantity


def _unrecoverable_lines(decision: dict[str, Any] | None) -> frozenset[int]:
    """The ``supplier_gaps`` lines of a stored DecisionRecord. Read from its JSON first:
    validating tens of thousands of whole records would cost more than every query here."""
    if not (decision or {}).get("supplier_gaps"):
        return frozenset()
    record = DecisionRecord.model_validate(decision)  # the rarer case with gaps: typed
    return frozenset(g.line_no for g in record.supplier_gaps if g.line_no is not None)


async def _gaps(
    uow: UnitOfWork, ctx: CoreContext, shops: tuple[str, ...], period: Period
) -> tuple[list[GapRow], int]:
    """Approved claims against their suppliers' terms: three reads, each from the cases."""
    approved = (
        _case_cohort(shops, period),
        cases.c.resolution.is_not(None),
        cases.c.reason.not_in(NOT_RETURNS),
    )
    case_orders = cases.join(orders, orders.c.id == cases.c.order_id)
    lines_q = (
        select(
            cases.c.id,
            cases.c.number,
            cases.c.shop,
            cases.c.order_id,
            cases.c.decision,
            orders.c.placed_at,
            order_lines.c.line_no,
            order_lines.c.sku,
            order_lines.c.supplier,
            case_lines.c.quantity,
        )
        .select_from(
            case_orders.join(case_lines, case_lines.c.case_id == cases.c.id).join(
                order_lines, order_lines.c.id == case_lines.c.order_line_id
            )
        )
        .where(*approved)
        .order_by(cases.c.id, order_lines.c.line_no)
    )
    found: dict[int, _ApprovedCase] = {}
    for r in (await uow.session.execute(lines_q)).all():
        item = found.get(r.id)
        if item is None:
            item = found[r.id] = _ApprovedCase(
                r.id,
                r.number,
                r.shop,
                r.order_id,
                r.placed_at,
                _unrecoverable_lines(r.decision),
                [],
            )
        item.lines.append((r.line_no, r.sku, r.supplier, int(r.quantity)))
    if not found:
        return [], 0
    credits: dict[int, dict[str, int]] = defaultdict(dict)
    credit_q = (
        select(case_costs.c.case_id, case_costs.c.currency, func.sum(case_costs.c.amount_minor))
        .select_from(case_costs.join(case_orders, cases.c.id == case_costs.c.case_id))
        .where(*approved, case_costs.c.kind == CostKind.SUPPLIER_CREDIT.value)
        .group_by(case_costs.c.case_id, case_costs.c.currency)
    )
    for case_id, currency, minor in (await uow.session.execute(credit_q)).all():
        credits[case_id][currency] = int(minor or 0)
    ship_q = (
        select(
            shipments.c.order_id,
            func.max(shipments.c.shipped_at).label("shipped"),
            func.max(shipments.c.delivered_at).label("delivered"),
            func.count(shipments.c.id).label("n"),
            func.count(shipments.c.delivered_at).label("n_delivered"),
            func.max(shipments.c.est_max_days).label("est"),
        )
        .select_from(case_orders.join(shipments, shipments.c.order_id == orders.c.id))
        .where(*approved)
        .group_by(shipments.c.order_id)
    )
    shipped = {r.order_id: r for r in (await uow.session.execute(ship_q)).all()}
    unit_costs = await _unit_costs(uow, shops)

    now = ctx.now()
    rows: dict[tuple[str, str], GapRow] = {}
    without_cost = 0
    for item in found.values():
        unrecoverable = item.unrecoverable
        liable_suppliers: list[str] = []
        liable_here = 0
        for line_no, sku, supplier, quantity in item.lines:
            if line_no in unrecoverable or supplier is None:
                continue
            terms = ctx.config.suppliers.get(supplier)
            if terms is None:
                continue
            cost = _unit_cost(unit_costs, item.shop, sku, item.placed_at)
            if cost is None:
                without_cost += 1
                continue
            row = rows.setdefault((supplier, cost.currency), GapRow(supplier, cost.currency))
            row.liable_minor += cost.minor * quantity
            liable_here += cost.minor * quantity
            liable_suppliers.append(supplier)
        case_credits = credits.get(item.id, {})
        owner = liable_suppliers[0] if liable_suppliers else UNKNOWN
        for currency, minor in case_credits.items():
            row = rows.setdefault((owner, currency), GapRow(owner, currency))
            row.recovered_minor += minor
        if liable_here and not case_credits:
            supplier = liable_suppliers[0]
            end = _supplier_window_end(ctx, supplier, item.placed_at, shipped.get(item.order_id))
            if end is not None and now <= end <= now + timedelta(days=CLOSING_DAYS):
                first_currency = next(
                    key[1] for key in rows if key[0] == supplier
                )  # the row its liability went to
                rows[(supplier, first_currency)].closing_soon.append(item.number)
    for row in rows.values():
        row.closing_soon.sort()
    return [rows[k] for k in sorted(rows)], without_cost


async def _unit_costs(
    uow: UnitOfWork, shops: tuple[str, ...]
) -> dict[tuple[str, str], list[tuple[datetime, Money]]]:
    found = await uow.session.execute(
        select(
            sku_costs.c.shop,
            sku_costs.c.sku,
            sku_costs.c.valid_from,
            sku_costs.c.unit_cost_minor,
            sku_costs.c.currency,
        )
        .where(sku_costs.c.shop.in_(shops))
        .order_by(sku_costs.c.valid_from)
    )
    out: dict[tuple[str, str], list[tuple[datetime, Money]]] = defaultdict(list)
    for shop, sku, valid_from, minor, currency in found.all():
        out[(shop, sku)].append((valid_from, Money(int(minor), currency)))
    return out


def _unit_cost(
    costs: dict[tuple[str, str], list[tuple[datetime, Money]]],
    shop: str,
    sku: str,
    at: datetime,
) -> Money | None:
    """The unit cost in force when the order was placed."""
    chosen = None
    for valid_from, cost in costs.get((shop, sku), []):
        if valid_from <= at:
            chosen = cost
    return chosen


def _supplier_window_end(
    ctx: CoreContext, supplier: str, placed_at: datetime, shipped: Any
) -> datetime | None:
    terms = ctx.config.suppliers.get(supplier)
    if terms is None or (
        terms.settlement is SupplierSettlement.GOODS_BACK and not terms.return_address
    ):
        return None
    start: datetime | None = placed_at
    if terms.window_from is not WindowFrom.ORDER:
        if shipped is None:
            return None
        start = shipped.shipped
        if terms.window_from is WindowFrom.DELIVERY:
            if shipped.n_delivered == shipped.n and shipped.delivered is not None:
                start = shipped.delivered
            elif shipped.est is not None:
                start = shipped.shipped + timedelta(days=int(shipped.est))
    assert start is not None
    return end_of_day(start, terms.window_days)


async def _times(uow: UnitOfWork, shops: tuple[str, ...], period: Period) -> list[TimeRow]:
    """From each case opened in the period: its first staff action, first decision, closing."""
    staff_at = case((audit_events.c.actor_role.in_(STAFF_ROLES), audit_events.c.at))
    decision_at = case((audit_events.c.action.in_(DECISIONS), audit_events.c.at))
    query = (
        select(
            cases.c.opened_at,
            cases.c.closed_at,
            func.min(staff_at).label("responded"),
            func.min(decision_at).label("decided"),
        )
        .select_from(cases.outerjoin(audit_events, audit_events.c.case_id == cases.c.id))
        .where(
            cases.c.shop.in_(shops),
            cases.c.opened_at >= period.start,
            cases.c.opened_at < period.end,
            cases.c.reason.not_in(NOT_RETURNS),
        )
        .group_by(cases.c.id, cases.c.opened_at, cases.c.closed_at)
    )
    hours: dict[str, list[float]] = {"first_response": [], "decision": [], "resolution": []}
    for r in (await uow.session.execute(query)).all():
        start = ensure_utc(r.opened_at)
        for measure, at in (
            ("first_response", r.responded),
            ("decision", r.decided),
            ("resolution", r.closed_at),
        ):
            if at is not None:
                # min() of a CASE comes back as text on SQLite: read it as the column would
                when = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
                hours[measure].append((ensure_utc(when) - start).total_seconds() / 3600)
    return [TimeRow(m, tuple(v)) for m, v in hours.items()]


async def _carriers(uow: UnitOfWork, shops: tuple[str, ...], period: Period) -> list[CarrierRow]:
    """Parcels per carrier and destination, those of orders claimed as not received, and the
    transit days of the delivered ones (a histogram: a million parcels never cross the wire)."""
    dialect = _dialect(uow)
    carrier = func.coalesce(shipments.c.carrier, UNKNOWN).label("carrier")
    country = func.coalesce(orders.c.ship_country, "").label("country")
    days = _whole_days(shipments.c.delivered_at, shipments.c.shipped_at, dialect).label("days")
    parcels = await uow.session.execute(
        select(carrier, country, days, func.count().label("n"))
        .select_from(shipments.join(orders, orders.c.id == shipments.c.order_id))
        .where(_cohort(shops, period))
        .group_by(carrier, country, days)
    )
    claimed = await uow.session.execute(
        select(carrier, country, func.count(distinct(shipments.c.id)).label("n"))
        .select_from(
            cases.join(orders, orders.c.id == cases.c.order_id).join(
                shipments, shipments.c.order_id == orders.c.id
            )
        )
        .where(_case_cohort(shops, period), cases.c.reason == Reason.NOT_RECEIVED.value)
        .group_by(carrier, country)
    )
    counts: dict[tuple[str, str], int] = defaultdict(int)
    histograms: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    for r in parcels.all():
        key = (r.carrier, r.country)
        counts[key] += int(r.n)
        if r.days is not None:
            bucket = histograms[key]
            bucket[int(r.days)] = bucket.get(int(r.days), 0) + int(r.n)
    not_received = {(r.carrier, r.country): int(r.n) for r in claimed.all()}
    rows = [
        CarrierRow(key[0], key[1], n, not_received.get(key, 0), histograms.get(key, {}))
        for key, n in counts.items()
    ]
    rows.sort(key=lambda c: (-c.parcels, c.carrier, c.country))
    return rows


async def _automation(uow: UnitOfWork, shops: tuple[str, ...], period: Period) -> Automation:
    found = await uow.session.execute(
        select(
            func.count(cases.c.decided_by),
            func.coalesce(func.sum(case((cases.c.decided_by == Role.SYSTEM.value, 1), else_=0)), 0),
        ).where(
            cases.c.shop.in_(shops),
            cases.c.opened_at >= period.start,
            cases.c.opened_at < period.end,
            cases.c.reason.not_in(NOT_RETURNS),
        )
    )
    decided, automatic = found.one()
    return Automation(int(decided or 0), int(automatic or 0))


@long_statements
async def figures(
    ctx: CoreContext,
    actor: Actor,
    *,
    days: int,
    shop: str | None = None,
    until: datetime | None = None,
) -> Figures:
    """Every figure of the shops ``actor`` may see (or of ``shop``) over the ``days`` before
    ``until`` (now by default)."""
    if not 1 <= days <= MAX_PERIOD_DAYS:
        raise ValidationFailed(f"the period is 1 to {MAX_PERIOD_DAYS} days", code="invalid")
    period = Period.last(days, until or ctx.now())
    async with ctx.unit_of_work() as uow:
        await check_actor_role(uow, ctx.config, actor)
        shops = await _shops(uow, ctx, actor, shop)

    async def lane_a(uow: UnitOfWork) -> tuple[Any, ...]:
        return (
            await _rates(uow, shops, period),
            await _unsold_skus(uow, shops, period),
            await _months(uow, shops, period),
            await _money(uow, shops, period),
            await _carriers(uow, shops, period),
            await _automation(uow, shops, period),
        )

    async def lane_b(uow: UnitOfWork) -> tuple[Any, ...]:
        return (
            await _rates(uow, shops, period.previous(), by_month=False),
            await _gaps(uow, ctx, shops, period),
            await _times(uow, shops, period),
        )

    async def read(lane: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        async with ctx.unit_of_work() as uow:
            return await lane(uow)

    # two lanes of reads, each on a connection of its own, side by side (SQLite in WAL mode
    # lets readers share the file; PostgreSQL runs them on two backends): about half the time
    (
        (rates, unsold, months, money, carriers, automation),
        (previous, gaps, times),
    ) = await asyncio.gather(read(lane_a), read(lane_b))
    sold_or_claimed = {(r.sku, r.supplier) for r in rates}
    return Figures(
        shops=shops,
        period=period,
        rates=rates + [r for r in unsold if (r.sku, r.supplier) not in sold_or_claimed],
        months=months,
        priority=priority_list(rates, previous),
        money=money,
        gaps=gaps[0],
        times=times,
        carriers=carriers,
        automation=automation,
        lines_without_cost=gaps[1],
    )


# ── costs ────────────────────────────────────────────────────────────────────────────────────


async def record_cost(
    ctx: CoreContext,
    actor: Actor,
    number: str,
    kind: CostKind,
    amount: Money | str,
    note: str | None = None,
) -> tuple[Case, Money]:
    """Staff record what a case cost (or brought back): checked like every staff action (a
    seller of the case's shop or an agent), stored, and written to the case's audit trail.
    ``amount`` as typed ("12.50", "12.50 CNY") is in the case's currency unless it names one."""
    if actor.role not in (Role.SELLER, Role.AGENT, Role.SYSTEM):
        raise Forbidden("only staff record costs", code="role_not_allowed")
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise ValidationFailed("the note is too long", code="text_too_long", limit=MAX_NOTE)
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        await check_actor_role(uow, ctx.config, actor)
        found = await uow.cases.get_by_number(number.strip().upper())
        if found is None:
            raise NotFound("no such case", code="case_not_found")
        await check_case_access(uow, ctx.config, actor, found)
        assert found.id is not None
        if isinstance(amount, str):
            amount = parse_amount(amount, found.currency)
        if amount.minor <= 0 or amount.minor > MAX_COST_MINOR:
            raise ValidationFailed("the amount must be above zero", code="amount_out_of_range")
        await uow.session.execute(
            insert(case_costs).values(
                case_id=found.id,
                kind=kind.value,
                amount_minor=amount.minor,
                currency=amount.currency,
                note=note,
                recorded_at=now,
                recorded_by_role=actor.role.value,
                recorded_by_id=actor.user_id,
            )
        )
        await record_audit(
            uow,
            found,
            actor,
            "cost_recorded",
            found.status,
            found.status,
            now,
            note=note,
            data={"kind": kind.value, "amount": amount.as_dict()},
        )
        await uow.commit()
    return found, amount


def parse_amount(text: str, currency: str) -> Money:
    """ "12.50" in ``currency``, or "12.50 CNY" / "CNY 12.50" in the currency it names."""
    parts = text.replace(",", ".").split()
    if len(parts) == 2:
        named = [p for p in parts if len(p) == 3 and p.isalpha()]
        if len(named) == 1:
            currency = named[0]
            parts = [p for p in parts if p is not named[0]]
    if len(parts) != 1:
        raise ValidationFailed(f"not an amount: {text!r}", code="invalid_amount")
    try:
        return Money.parse(parts[0], currency)
    except MoneyError as exc:
        raise ValidationFailed(str(exc), code="invalid_amount") from exc


async def case_costs_of(ctx: CoreContext, actor: Actor, number: str) -> list[dict[str, Any]]:
    """The costs recorded on a case, oldest first (staff only)."""
    if actor.role not in (Role.SELLER, Role.AGENT, Role.SYSTEM):
        raise Forbidden("only staff see costs", code="role_not_allowed")
    async with ctx.unit_of_work() as uow:
        await check_actor_role(uow, ctx.config, actor)
        found = await uow.cases.get_by_number(number.strip().upper())
        if found is None:
            raise NotFound("no such case", code="case_not_found")
        await check_case_access(uow, ctx.config, actor, found)
        rows = await uow.session.execute(
            select(case_costs).where(case_costs.c.case_id == found.id).order_by(case_costs.c.id)
        )
        return [dict(r._mapping) for r in rows.all()]


@dataclass(frozen=True, slots=True)
class CostImport:
    read: int
    created: int
    replaced: int


@long_statements
async def import_costs(ctx: CoreContext, path: Path) -> CostImport:
    """Unit costs from a CSV file (see core.analytics.costs); a line for a shop, SKU and day
    already on file replaces it. A bad line imports nothing."""
    costs: list[UnitCost] = read_cost_file(path, set(ctx.config.shops))
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        keys = [(c.shop, c.sku, c.valid_from) for c in costs]
        replaced = 0
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            result = await uow.session.execute(
                delete(sku_costs).where(
                    tuple_(sku_costs.c.shop, sku_costs.c.sku, sku_costs.c.valid_from).in_(chunk)
                )
            )
            replaced += int(getattr(result, "rowcount", 0) or 0)
        if costs:
            await uow.session.execute(
                insert(sku_costs),
                [
                    {
                        "shop": c.shop,
                        "sku": c.sku,
                        "supplier": c.supplier,
                        "unit_cost_minor": c.cost.minor,
                        "currency": c.cost.currency,
                        "valid_from": c.valid_from,
                        "imported_at": now,
                    }
                    for c in costs
                ],
            )
        await uow.commit()
    return CostImport(len(costs), len(costs) - replaced, replaced)


# ── the weekly digest ────────────────────────────────────────────────────────────────────────


def digest_due(ctx: CoreContext, now: datetime | None = None) -> str | None:
    """The week's key ("2026-W48") when the digest is due now (the configured weekday, at or
    after the configured hour, UTC), else None."""
    now = now or ctx.now()
    digest = ctx.config.digest
    if not digest.enabled or now.isoweekday() != digest.weekday or now.hour < digest.hour:
        return None
    year, week, _ = now.isocalendar()
    return f"{year}-W{week:02d}"


@long_statements
async def queue_digests(ctx: CoreContext) -> int:
    """On the configured day and hour, one digest per shop and seller through the outbox, once
    a week: the week is claimed in the same transaction as the rows are queued, so another
    process (or the next timer pass) finds it taken. The sender renders each digest in the
    seller's language. Returns how many were queued."""
    week = digest_due(ctx)
    if week is None:
        return 0
    async with ctx.unit_of_work() as uow:
        taken = await uow.session.execute(
            select(runtime_values.c.value).where(runtime_values.c.key == DIGEST_KEY)
        )
        if (taken.scalar_one_or_none() or "") >= week:
            return 0
    days = ctx.config.digest.period_days
    summaries = {
        shop: digest_summary(await figures(ctx, Actor.system(), days=days, shop=shop))
        for shop in sorted(ctx.config.shops)
    }
    queued = 0
    async with ctx.unit_of_work() as uow:
        if not await uow.privacy.claim_day(DIGEST_KEY, week):
            return 0
        for shop, summary in summaries.items():
            for seller in await seller_ids(uow, ctx.config, shop):
                queued += await uow.outbox.enqueue(
                    kind="weekly_digest",
                    recipient_role="seller",
                    chat_id=seller,
                    shop=shop,
                    case_id=None,
                    payload={
                        "shop": shop,
                        "shop_name": ctx.config.shop(shop).name,
                        "days": days,
                        "week": week,
                        **summary,
                    },
                    dedupe_key=f"digest:{week}:{shop}:{seller}",
                    at=ctx.now(),
                )
        await uow.commit()
    return queued


def digest_summary(f: Figures) -> dict[str, Any]:
    """What the digest says, as JSON primitives (the outbox payload)."""
    top = f.priority[0] if f.priority else None
    return {
        "orders": f.orders,
        "claims": f.claims,
        "net_loss": [m.net_loss.as_dict() for m in f.money],
        "gap": [g.gap.as_dict() for g in f.gaps if g.gap.minor > 0],
        "closing_soon": sorted(n for g in f.gaps for n in g.closing_soon),
        "top_sku": top.sku if top else None,
        "top_rate": str(top.rate) if top and top.rate is not None else None,
        "automatic_share": str(f.automation.share) if f.automation.share is not None else None,
    }


__all__ = [
    "CostImport",
    "case_costs_of",
    "digest_due",
    "digest_summary",
    "figures",
    "import_costs",
    "queue_digests",
    "record_cost",
]

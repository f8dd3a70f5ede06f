"""A generated order book whose figures are known by hand (see the expected values in
``test_figures.py``): two months of orders of shop "alpha", an earlier period for the trend,
a SKU with a unit cost and no sales, an order in another currency, open and closed cases, a
case that only asks to cancel (not a return), and a case whose buyer was erased."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import FixedClock
from core.persistence.engine import create_session_factory
from core.persistence.tables import (
    audit_events,
    buyer_links,
    case_lines,
    cases,
    order_lines,
    orders,
    shipments,
    sku_costs,
)
from core.persistence.unit_of_work import UnitOfWork
from core.policy.config import Config
from core.services.context import CoreContext
from core.services.evidence_store import EvidenceStore

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ALPHA_SELLER = 610001
BETA_SELLER = 610002
ALPHA_AGENT = 710001
ERASED_BUYER = 555006


def at(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


CONFIG: dict[str, Any] = {
    "deployment": {"bot_username": "StatsTestBot"},
    "retention": {"dispute_window_days": 0},
    "digest": {"weekday": 7, "hour": 9, "period_days": 30},
    "suppliers": {
        "sup-a": {
            "name": "Supplier A",
            "accepts": "defects",
            "window_days": 30,
            "settlement": "goods_back",
            "return_address": "Supplier A returns, Shenzhen",
        },
        "sup-b": {
            "name": "Supplier B",
            "accepts": "any",
            "window_days": 10,
            "settlement": "credit",
        },
    },
    "shops": {
        "alpha": {
            "name": "Alpha Home",
            "currency": "EUR",
            "sellers": [ALPHA_SELLER],
            "agents": [ALPHA_AGENT],
            "link_secret": "alpha-secret-for-tests-0001",
            "return_address": "Alpha returns, Berlin",
        },
        "beta": {
            "name": "Beta Gadgets",
            "currency": "USD",
            "sellers": [BETA_SELLER],
            "link_secret": "beta-secret-for-tests-00001",
            "return_address": "Beta returns, Austin",
        },
    },
}


def make_config() -> Config:
    return Config.model_validate(CONFIG)


def make_context(engine: AsyncEngine, tmp: Path, clock: FixedClock | None = None) -> CoreContext:
    sessions = create_session_factory(engine)
    return CoreContext(
        config=make_config(),
        unit_of_work=lambda: UnitOfWork(sessions),
        evidence=EvidenceStore(tmp / "evidence"),
        clock=clock or FixedClock(NOW),
    )


# (number, placed, currency, [(sku, supplier, qty, price)], carrier, country, shipped, delivered)
ORDERS: list[tuple[Any, ...]] = [
    ("O1", at(10, 25), "EUR", [("LAMP", "sup-a", 2, 4000), ("MUG", "sup-b", 1, 1500)],
     "DHL", "DE", at(10, 26, 9), at(11, 2, 9)),
    ("O2", at(10, 25), "EUR", [("LAMP", "sup-a", 1, 4000)], "DHL", "DE", at(10, 26, 9),
     at(11, 5, 9)),
    ("O3", at(10, 25), "EUR", [("MUG", "sup-b", 3, 1500)], "YunExpress", "ES", at(10, 27, 9),
     None),
    ("O4", at(10, 25), "EUR", [("LAMP", "sup-a", 1, 4000)], "YunExpress", "ES",
     at(10, 27, 9), at(11, 10, 9)),
    ("O5", at(11, 10), "EUR", [("LAMP", "sup-a", 1, 4000)], "DHL", "DE", at(11, 11, 9),
     at(11, 15, 9)),
    ("O6", at(11, 10), "EUR", [("MUG", "sup-b", 2, 1500)], "DHL", "DE", at(11, 11, 9),
     at(11, 17, 9)),
    ("O7", at(11, 10), "EUR", [("LAMP", "sup-a", 4, 4000)], "YunExpress", "ES",
     at(11, 11, 9), None),
    ("O8", at(11, 10), "EUR", [("MUG", "sup-b", 1, 1500)], None, None, None, None),
    ("O9", at(11, 10), "EUR", [("LAMP", "sup-a", 1, 4000)], "DHL", "FR", at(11, 11, 9),
     at(11, 16, 9)),
    ("O10", at(11, 10), "USD", [("MUG", "sup-b", 1, 1600)], "DHL", "FR", at(11, 11, 9),
     at(11, 16, 9)),
    # the previous period (for the trend) and long before (counted nowhere)
    ("P1", at(10, 1), "EUR", [("LAMP", "sup-a", 10, 4000)], "DHL", "DE", at(10, 2, 9),
     at(10, 9, 9)),
    ("X1", at(8, 1), "EUR", [("LAMP", "sup-a", 5, 4000)], "DHL", "DE", at(8, 2, 9),
     at(8, 9, 9)),
]  # fmt: skip


@dataclass
class Book:
    order_ids: dict[str, int] = field(default_factory=dict)
    line_ids: dict[tuple[str, int], int] = field(default_factory=dict)
    case_ids: dict[str, int] = field(default_factory=dict)

    def number(self, name: str) -> str:
        return f"R-2611-{int(name[1:]):04d}"


def _record(gap_lines: tuple[int, ...] = ()) -> dict[str, Any]:
    return {
        "version": 1,
        "supplier_gaps": [
            {"supplier": "sup-a", "line_no": n, "code": "supplier_needs_goods_back"}
            for n in gap_lines
        ],
    }


async def build(ctx: CoreContext) -> Book:
    book = Book()
    async with ctx.unit_of_work() as uow:
        s = uow.session
        for number, placed, currency, lines, carrier, country, shipped, delivered in ORDERS:
            order_id = (
                await s.execute(
                    insert(orders)
                    .values(
                        shop="alpha",
                        number=number,
                        number_key=number,
                        placed_at=placed,
                        status="delivered" if delivered else "shipped",
                        currency=currency,
                        buyer_name="Erased" if number == "O10" else f"Buyer {number}",
                        ship_country=country,
                        created_at=placed,
                        updated_at=placed,
                    )
                    .returning(orders.c.id)
                )
            ).scalar_one()
            book.order_ids[number] = order_id
            for line_no, (sku, supplier, qty, price) in enumerate(lines, start=1):
                line_id = (
                    await s.execute(
                        insert(order_lines)
                        .values(
                            order_id=order_id,
                            line_no=line_no,
                            sku=sku,
                            title=sku.title(),
                            supplier=supplier,
                            quantity=qty,
                            unit_price_minor=price,
                        )
                        .returning(order_lines.c.id)
                    )
                ).scalar_one()
                book.line_ids[(number, line_no)] = line_id
            if shipped is not None:
                await s.execute(
                    insert(shipments).values(
                        order_id=order_id,
                        seq=1,
                        carrier=carrier,
                        registered=True,
                        shipped_at=shipped,
                        delivered_at=delivered,
                        est_max_days=30,
                        events=[],
                    )
                )
        # a beta order nobody in alpha may see
        await s.execute(
            insert(orders).values(
                shop="beta",
                number="B1",
                number_key="B1",
                placed_at=at(11, 12),
                status="paid",
                currency="USD",
                buyer_name="Beta buyer",
                created_at=at(11, 12),
                updated_at=at(11, 12),
            )
        )
        await s.execute(
            insert(sku_costs),
            [
                _cost("LAMP", "sup-a", 1500, "EUR", at(1, 1, 0)),
                _cost("LAMP", "sup-a", 1600, "EUR", at(11, 1, 0)),
                _cost("MUG", "sup-b", 3000, "CNY", at(1, 1, 0)),
                _cost("GHOST", "sup-a", 900, "EUR", at(1, 1, 0)),
            ],
        )
        cases_spec: list[dict[str, Any]] = [
            # C1: two lamps damaged; a seller approved after 6 h; refunded, closed after 24 h
            dict(name="C1", order="O1", line=1, qty=2, reason="damaged", status="resolved",
                 opened=at(11, 3), closed=at(11, 4), resolution="refund", decided_by="seller",
                 refunded=8000, record=_record(),
                 events=[("seller", "approve", at(11, 3, 18))]),
            # C2: one mug of three never arrived; still open, nobody answered
            dict(name="C2", order="O3", line=1, qty=1, reason="not_received",
                 status="awaiting_seller", opened=at(11, 20), record=_record(), events=[]),
            # C3: a lamp approved automatically at once; the refund is still due (open)
            dict(name="C3", order="O5", line=1, qty=1, reason="damaged",
                 status="awaiting_resolution", opened=at(11, 16), resolution="refund",
                 decided_by="system", record=_record(),
                 events=[("system", "approve", at(11, 16))]),
            # C4: two mugs not as described; an agent took it after 2 h, approved after 24 h
            dict(name="C4", order="O6", line=1, qty=2, reason="not_as_described",
                 status="resolved", opened=at(11, 18), closed=at(11, 20), resolution="refund",
                 decided_by="agent", refunded=3000, record=_record(),
                 events=[("agent", "take_over", at(11, 18, 14)),
                         ("agent", "approve", at(11, 19))]),
            # C5: a lamp approved after 1 h, but its supplier will not pay (a gap on line 1)
            dict(name="C5", order="O7", line=1, qty=1, reason="damaged",
                 status="awaiting_resolution", opened=at(11, 15), resolution="refund",
                 decided_by="seller", record=_record((1,)),
                 events=[("seller", "approve", at(11, 15, 13))]),
            # C6: the USD order, wrong item; its buyer was erased afterwards
            dict(name="C6", order="O10", line=1, qty=1, reason="wrong_item", status="resolved",
                 opened=at(11, 17), closed=at(11, 18), resolution="refund",
                 decided_by="seller", refunded=1200, record=_record(), buyer=ERASED_BUYER,
                 events=[("seller", "approve", at(11, 17, 16))]),
            # C7: only asks to cancel the order: not a return, counted nowhere
            dict(name="C7", order="O8", line=1, qty=1, reason="cancel_order",
                 status="resolved", opened=at(11, 11), closed=at(11, 11, 13),
                 resolution="refund", decided_by="seller", refunded=1500, record=_record(),
                 events=[("seller", "approve", at(11, 11, 13))]),
            # C8: the previous period's lamp (the trend)
            dict(name="C8", order="P1", line=1, qty=1, reason="damaged", status="resolved",
                 opened=at(10, 12), closed=at(10, 13), resolution="refund",
                 decided_by="seller", refunded=4000, record=_record(),
                 events=[("seller", "approve", at(10, 12, 13))]),
        ]  # fmt: skip
        for spec in cases_spec:
            order_id = book.order_ids[spec["order"]]
            currency = next(o[2] for o in ORDERS if o[0] == spec["order"])
            closed = spec.get("closed")
            case_id = (
                await s.execute(
                    insert(cases)
                    .values(
                        number=book.number(spec["name"]),
                        shop="alpha",
                        order_id=order_id,
                        buyer_id=spec.get("buyer", 500000 + int(spec["name"][1:])),
                        reason=spec["reason"],
                        status=spec["status"],
                        resolution=spec.get("resolution"),
                        decided_by=spec.get("decided_by"),
                        currency=currency,
                        refunded_minor=spec.get("refunded"),
                        return_required=False,
                        goods="not_required",
                        money="refunded" if spec.get("refunded") else "none",
                        owner="bot",
                        escalated=False,
                        decision=spec["record"],
                        opened_at=spec["opened"],
                        updated_at=closed or spec["opened"],
                        closed_at=closed,
                        version=1,
                    )
                    .returning(cases.c.id)
                )
            ).scalar_one()
            book.case_ids[spec["name"]] = case_id
            await s.execute(
                insert(case_lines).values(
                    case_id=case_id,
                    order_line_id=book.line_ids[(spec["order"], spec["line"])],
                    line_no=spec["line"],
                    quantity=spec["qty"],
                    is_open=closed is None,
                )
            )
            events = [("buyer", "open", spec["opened"]), *spec["events"]]
            if closed is not None:
                events.append(("seller", "refund_recorded", closed))
            for role, action, when in events:
                await s.execute(
                    insert(audit_events).values(
                        case_id=case_id,
                        at=when,
                        actor_role=role,
                        actor_id=None,
                        action=action,
                        data={},
                    )
                )
        await s.execute(
            insert(buyer_links).values(
                order_id=book.order_ids["O10"],
                telegram_id=ERASED_BUYER,
                via="token",
                linked_at=at(11, 10),
            )
        )
        await uow.commit()
    return book


def _cost(sku: str, supplier: str, minor: int, currency: str, start: datetime) -> dict[str, Any]:
    return {
        "shop": "alpha",
        "sku": sku,
        "supplier": supplier,
        "unit_cost_minor": minor,
        "currency": currency,
        "valid_from": start,
        "imported_at": start,
    }

"""Repositories on a real database (SQLite and PostgreSQL): what goes in comes back out."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import NullPool

from core.cases.lifecycle import CaseStatus, GoodsStatus, MoneyStatus, Role
from core.cases.model import AuditEvent, Case, CaseLine, Evidence, EvidenceKind, Owner
from core.cases.reasons import Party, Reason, Resolution
from core.errors import Conflict
from core.money import Money
from core.orders.model import (
    Address,
    Buyer,
    Order,
    OrderLine,
    OrderStatus,
    Shipment,
    TrackingEvent,
)
from core.orders.numbers import normalize_order_number
from core.persistence import engine as engine_module
from core.persistence.engine import Sessions, create_engine
from core.persistence.repositories import Repositories
from core.persistence.repositories.conversations import ConversationRepository
from core.persistence.tables import cases as cases_table
from core.persistence.tables import orders as orders_table
from core.policy.record import DecisionRecord, ExplanationRecord, MoneyValue
from tests.conftest import _postgres_url, count_postgres_begins, postgres_in_use

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)

DECISION = DecisionRecord(
    resolutions=("refund", "replacement"),
    refund_total=MoneyValue(amount="19.90", currency="EUR"),
    explanations=(ExplanationRecord(code="within_window", params={"days": 30}),),
)

ROOT = Path(__file__).resolve().parents[2]


# --- builders -------------------------------------------------------------------------------


def make_order(
    number: str = "AUR-10021",
    *,
    shop: str = "aurora",
    status: OrderStatus = OrderStatus.SHIPPED,
    lines: int = 2,
    telegram_id: int | None = None,
    shipments: tuple[Shipment, ...] | None = None,
) -> Order:
    if shipments is None:
        shipments = (
            Shipment(
                carrier="YunExpress",
                tracking_number=f"YT{number[-5:]}",
                registered=True,
                shipped_at=T0 + timedelta(days=1),
                estimated_days=(7, 15),
                events=(TrackingEvent(T0 + timedelta(days=1), "accepted", "Shenzhen"),),
            ),
        )
    return Order(
        shop=shop,
        number=number,
        placed_at=T0,
        status=status,
        currency="EUR",
        buyer=Buyer(
            name="Ana Souza",
            email="ana@example.com",
            country="PT",
            language="pt-PT",
            telegram_id=telegram_id,
        ),
        lines=tuple(
            OrderLine(
                line_no=n,
                sku=f"SKU-{n}",
                title=f"Item {n}",
                quantity=n,
                unit_price=Money(1990 * n, "EUR"),
                category="gadgets",
                supplier="acme",
            )
            for n in range(1, lines + 1)
        ),
        shipping_address=Address("Rua Augusta 1", "Lisboa", "1100-048", "PT"),
        shipping_cost=Money(499, "EUR"),
        shipments=shipments,
    )


def key(order: Order) -> str:
    return normalize_order_number(order.number)


def make_case(
    order_id: int,
    number: str,
    *,
    lines: tuple[CaseLine, ...] = (CaseLine(1, 1),),
    status: CaseStatus = CaseStatus.AWAITING_SELLER,
    buyer_id: int | None = 111,
    opened_at: datetime = T0,
    deadline_at: datetime | None = None,
    shop: str = "aurora",
    reason: Reason = Reason.DAMAGED,
    evidence: tuple[Evidence, ...] = (),
) -> Case:
    return Case(
        number=number,
        shop=shop,
        order_id=order_id,
        order_number="AUR-10021",
        buyer_id=buyer_id,
        reason=reason,
        status=status,
        lines=lines,
        opened_at=opened_at,
        updated_at=opened_at,
        currency="EUR",
        description="The lid is cracked",
        preferred_resolution=Resolution.REFUND,
        deadline_at=deadline_at,
        decision=DECISION,
        evidence=evidence,
    )


def photo(file_unique_id: str, **kw: object) -> Evidence:
    return Evidence(
        kind=EvidenceKind.PHOTO,
        file_unique_id=file_unique_id,
        file_id=f"file-{file_unique_id}",
        size=1234,
        mime_type="image/jpeg",
        added_at=T0,
        **kw,  # type: ignore[arg-type]
    )


async def store_order(sessions: Sessions, order: Order | None = None) -> int:
    order = order or make_order()
    async with sessions() as session:
        order_id, created = await Repositories(session).orders.upsert(order, key(order), at=T0)
        await session.commit()
    assert created
    return order_id


# --- orders ---------------------------------------------------------------------------------


async def test_an_upserted_order_comes_back_whole_with_aware_utc_times(
    session_factory: Sessions,
) -> None:
    order = make_order(telegram_id=42)
    order_id = await store_order(session_factory, order)

    async with session_factory() as session:
        loaded = await Repositories(session).orders.get(order_id)

    assert loaded == replace(order, id=order_id)
    assert loaded is not None
    assert loaded.placed_at.tzinfo is UTC
    assert loaded.shipments[0].shipped_at.tzinfo is UTC
    assert loaded.shipments[0].events[0].at == T0 + timedelta(days=1)


async def test_times_in_other_zones_are_stored_as_the_same_instant(
    session_factory: Sessions,
) -> None:
    local = T0.astimezone(timezone(timedelta(hours=8)))
    order = replace(make_order(), placed_at=local)
    order_id = await store_order(session_factory, order)
    async with session_factory() as session:
        loaded = await Repositories(session).orders.get(order_id)
    assert loaded is not None
    assert loaded.placed_at == T0
    assert loaded.placed_at.tzinfo is UTC


async def test_reimport_with_a_later_status_and_a_delivery_updates_the_same_order(
    session_factory: Sessions,
) -> None:
    order = make_order(telegram_id=42)
    order_id = await store_order(session_factory, order)
    shipped = order.shipments[0]
    delivered = replace(
        shipped,
        delivered_at=T0 + timedelta(days=9),
        events=(TrackingEvent(T0 + timedelta(days=9), "delivered", "Lisboa"),),
    )
    later = replace(order, status=OrderStatus.DELIVERED, shipments=(delivered,))

    async with session_factory() as session:
        repos = Repositories(session)
        assert await repos.orders.upsert(later, key(later), at=T0 + timedelta(days=10)) == (
            order_id,
            False,
        )
        await session.commit()

    async with session_factory() as session:
        count = (await session.execute(select(func.count()).select_from(orders_table))).scalar()
        loaded = await Repositories(session).orders.get(order_id)
    assert count == 1
    assert loaded is not None
    assert loaded.status is OrderStatus.DELIVERED
    assert loaded.delivered_at == T0 + timedelta(days=9)
    # Events are merged by (at, status), in time order.
    assert [e.status for e in loaded.shipments[0].events] == ["accepted", "delivered"]


async def test_reimport_never_moves_status_back_nor_forgets_what_was_known(
    session_factory: Sessions,
) -> None:
    delivered_parcel = replace(make_order().shipments[0], delivered_at=T0 + timedelta(days=9))
    order = make_order(status=OrderStatus.DELIVERED, telegram_id=42, shipments=(delivered_parcel,))
    order_id = await store_order(session_factory, order)

    older = make_order(status=OrderStatus.PAID, telegram_id=None)  # parcel not delivered
    older = replace(older, lines=(replace(older.lines[0], refunded_quantity=0),))
    async with session_factory() as session:
        await Repositories(session).orders.upsert(older, key(older))
        await session.commit()

    async with session_factory() as session:
        loaded = await Repositories(session).orders.get(order_id)
    assert loaded is not None
    assert loaded.status is OrderStatus.DELIVERED
    assert loaded.buyer.telegram_id == 42
    assert loaded.shipments[0].delivered_at == T0 + timedelta(days=9)
    assert len(loaded.lines) == 2  # a line missing from the file is kept


async def test_cancelled_is_final_and_fewer_parcels_keep_the_stored_ones(
    session_factory: Sessions,
) -> None:
    first, second = (
        make_order().shipments[0],
        replace(make_order().shipments[0], tracking_number="YT99999"),
    )
    order = make_order(status=OrderStatus.CANCELLED, shipments=(first, second))
    order_id = await store_order(session_factory, order)

    async with session_factory() as session:
        reimport = make_order(status=OrderStatus.DELIVERED, shipments=(first,))
        await Repositories(session).orders.upsert(reimport, key(reimport))
        await session.commit()
        loaded = await Repositories(session).orders.get(order_id)
    assert loaded is not None
    assert loaded.status is OrderStatus.CANCELLED
    assert [s.tracking_number for s in loaded.shipments] == [
        first.tracking_number,
        "YT99999",
    ]


async def test_reimport_takes_quantities_and_prices_but_keeps_the_largest_refund(
    session_factory: Sessions,
) -> None:
    order = make_order()
    refunded = replace(order, lines=(replace(order.lines[0], refunded_quantity=1), order.lines[1]))
    order_id = await store_order(session_factory, refunded)
    repriced = replace(
        order,
        lines=(replace(order.lines[0], unit_price=Money(1790, "EUR")), order.lines[1]),
    )
    async with session_factory() as session:
        await Repositories(session).orders.upsert(repriced, key(repriced))
        await session.commit()
        loaded = await Repositories(session).orders.get(order_id)
    assert loaded is not None
    assert loaded.lines[0].unit_price == Money(1790, "EUR")
    assert loaded.lines[0].refunded_quantity == 1


async def test_upsert_many_counts_created_and_changed_orders(session_factory: Sessions) -> None:
    batch = [make_order(f"AUR-{10000 + n}") for n in range(50)]
    async with session_factory() as session:
        repos = Repositories(session)
        assert await repos.orders.upsert_many([(o, key(o)) for o in batch]) == (50, 0)
        await session.commit()

    changed = [replace(o, status=OrderStatus.DELIVERED) for o in batch[:10]]
    new = [make_order(f"AUR-{20000 + n}") for n in range(5)]
    again = changed + batch[10:] + new + [replace(new[0], status=OrderStatus.DELIVERED)]
    async with session_factory() as session:
        repos = Repositories(session)
        # 5 new; 10 changed, 40 unchanged; a key twice in a batch: the later one updates.
        assert await repos.orders.upsert_many([(o, key(o)) for o in again]) == (5, 11)
        await session.commit()
        count = (await session.execute(select(func.count()).select_from(orders_table))).scalar()
        reloaded = await repos.orders.get_by_key("aurora", key(new[0]))
    assert count == 55
    assert reloaded is not None
    assert reloaded.status is OrderStatus.DELIVERED


async def test_find_by_key_finds_the_number_in_every_shop(session_factory: Sessions) -> None:
    await store_order(session_factory, make_order("AUR-10021", shop="aurora"))
    await store_order(session_factory, make_order("aur 10021", shop="borealis"))
    await store_order(session_factory, make_order("AUR-10022", shop="aurora"))
    async with session_factory() as session:
        repos = Repositories(session)
        found = await repos.orders.find_by_key("AUR10021")
        one = await repos.orders.get_by_key("borealis", "AUR10021")
        none = await repos.orders.get_by_key("borealis", "AUR10022")
    assert sorted(o.shop for o in found) == ["aurora", "borealis"]
    assert all(o.id is not None and len(o.lines) == 2 for o in found)
    assert one is not None and one.number == "aur 10021"
    assert none is None


async def test_odd_characters_in_order_numbers_are_matched_exactly(
    session_factory: Sessions,
) -> None:
    odd = [make_order(n) for n in ("O'NEIL-10001", "back\\slash-10002", "50%-10003", "ÄÖ-10004")]
    async with session_factory() as session:
        orders = Repositories(session).orders
        assert await orders.upsert_many([(o, key(o)) for o in odd]) == (4, 0)
        changed = [replace(o, status=OrderStatus.DELIVERED) for o in odd]
        assert await orders.upsert_many([(o, key(o)) for o in changed]) == (0, 4)
        assert [o.number for o in await orders.find_by_key(key(odd[0]))] == ["O'NEIL-10001"]


# --- cases ----------------------------------------------------------------------------------


async def test_a_case_comes_back_with_its_lines_and_evidence(session_factory: Sessions) -> None:
    order_id = await store_order(session_factory)
    async with session_factory() as session:
        repos = Repositories(session)
        number = await repos.cases.next_number("2611")
        case = make_case(
            order_id,
            number,
            lines=(CaseLine(1, 1), CaseLine(2, 2)),
            deadline_at=T0 + timedelta(days=3),
            evidence=(photo("a1", media_group_id="g1"), photo("a2"), photo("a1")),
        )
        case.refund_amount = Money(1990, "EUR")
        case.return_paid_by = Party.SELLER
        stored = await repos.cases.add(case)
        await session.commit()
    assert stored.id is not None

    async with session_factory() as session:
        loaded = await Repositories(session).cases.get_by_number(number)
        by_id = await Repositories(session).cases.get(stored.id)
    assert loaded is not None
    assert loaded == by_id
    assert loaded.id == stored.id
    assert loaded.order_number == "AUR-10021"
    assert loaded.lines == (CaseLine(1, 1), CaseLine(2, 2))
    assert [e.file_unique_id for e in loaded.evidence] == ["a1", "a2"]
    assert loaded.evidence[0] == photo("a1", media_group_id="g1")
    assert loaded.refund_amount == Money(1990, "EUR")
    assert loaded.return_paid_by is Party.SELLER
    assert loaded.decision == DECISION  # typed in memory, JSON in the database
    assert loaded.deadline_at == T0 + timedelta(days=3)
    assert loaded.deadline_at.tzinfo is UTC
    assert loaded.version == 1


async def test_case_lines_point_at_the_right_order_lines_whatever_ids_are_passed(
    session_factory: Sessions,
) -> None:
    first = await store_order(session_factory)
    second = await store_order(session_factory, make_order("AUR-10022"))
    async with session_factory() as session:
        repos = Repositories(session)
        line_ids = await repos.orders.line_ids(second)
        assert sorted(line_ids) == [1, 2] and line_ids != {1: 1, 2: 2}
        # A mapping of line_no → line_no (not ids) must not attach the case to order one.
        await repos.cases.add(make_case(second, "R-1"), {1: 1, 2: 2})
        await repos.cases.add(make_case(first, "R-2"))
        await session.commit()
        stored = (
            (await session.execute(text("SELECT order_line_id FROM case_lines ORDER BY id")))
            .scalars()
            .all()
        )
    assert stored[0] == line_ids[1]
    assert stored[1] not in line_ids.values()


async def test_two_open_cases_on_one_line_conflict_and_the_session_stays_usable(
    session_factory: Sessions,
) -> None:
    order_id = await store_order(session_factory)
    async with session_factory() as session:
        repos = Repositories(session)
        await repos.cases.add(make_case(order_id, "R-2611-0001", lines=(CaseLine(1, 1),)))
        with pytest.raises(Conflict) as caught:
            await repos.cases.add(
                make_case(order_id, "R-2611-0002", lines=(CaseLine(2, 1), CaseLine(1, 1)))
            )
        assert caught.value.code == "line_has_open_case"
        # The session is still usable, and the first case is still in the transaction.
        await repos.cases.add(make_case(order_id, "R-2611-0003", lines=(CaseLine(2, 1),)))
        await session.commit()

    async with session_factory() as session:
        repos = Repositories(session)
        assert await repos.cases.get_by_number("R-2611-0001") is not None
        assert await repos.cases.get_by_number("R-2611-0002") is None
        assert await repos.cases.get_by_number("R-2611-0003") is not None
        assert await repos.cases.open_quantities(order_id) == {1: 1, 2: 1}


async def test_two_racing_sessions_cannot_both_open_a_case_on_one_line(
    session_factory: Sessions,
) -> None:
    order_id = await store_order(session_factory)

    async def open_case(number: str, hold: float) -> str:
        async with session_factory() as session:
            try:
                await Repositories(session).cases.add(make_case(order_id, number))
                await asyncio.sleep(hold)
                await session.commit()
                return "opened"
            except Conflict as exc:
                return exc.code

    outcomes = await asyncio.gather(open_case("R-1", 0.2), open_case("R-2", 0.0))
    assert sorted(outcomes) == ["line_has_open_case", "opened"]


async def test_closing_a_case_frees_its_lines_and_reopening_checks_them(
    session_factory: Sessions,
) -> None:
    order_id = await store_order(session_factory)
    async with session_factory() as session:
        repos = Repositories(session)
        first = await repos.cases.add(make_case(order_id, "R-2611-0001"))
        first.status = CaseStatus.REJECTED
        first.decided_by = Role.SELLER
        first.decision_note = "no damage visible"
        first.updated_at = T0 + timedelta(days=1)
        await repos.cases.save(first)
        second = await repos.cases.add(make_case(order_id, "R-2611-0002"))
        await session.commit()
    assert second.id is not None

    async with session_factory() as session:
        repos = Repositories(session)
        assert await repos.cases.open_quantities(order_id) == {1: 1}
        closed_at = (
            await session.execute(
                select(cases_table.c.closed_at).where(cases_table.c.id == first.id)
            )
        ).scalar_one()
        assert closed_at == T0 + timedelta(days=1)
        first.status = CaseStatus.REOPENED
        with pytest.raises(Conflict) as caught:
            await repos.cases.save(first)
        assert caught.value.code == "line_has_open_case"
        assert first.version == 2  # unchanged: nothing was written
        reloaded = await repos.cases.get(first.id or 0)
    assert reloaded is not None
    assert reloaded.status is CaseStatus.REJECTED
    assert reloaded.decision_note == "no damage visible"


async def test_saving_a_stale_case_is_a_conflict(session_factory: Sessions) -> None:
    order_id = await store_order(session_factory)
    async with session_factory() as session:
        await Repositories(session).cases.add(make_case(order_id, "R-2611-0001"))
        await session.commit()

    async with session_factory() as one, session_factory() as two:
        mine = await Repositories(one).cases.get_by_number("R-2611-0001")
        theirs = await Repositories(two).cases.get_by_number("R-2611-0001")
        assert mine is not None and theirs is not None
        mine.status = CaseStatus.AWAITING_RETURN
        mine.resolution = Resolution.REFUND
        mine.goods = GoodsStatus.NOT_RETURNED
        mine.money = MoneyStatus.PENDING
        mine.owner, mine.owner_agent_id, mine.escalated = Owner.AGENT, 7, True
        await Repositories(one).cases.save(mine)
        await one.commit()
        assert mine.version == 2

        theirs.status = CaseStatus.REJECTED
        with pytest.raises(Conflict) as caught:
            await Repositories(two).cases.save(theirs)
        assert caught.value.code == "stale_case"

    async with session_factory() as session:
        loaded = await Repositories(session).cases.get_by_number("R-2611-0001")
    assert loaded is not None
    assert (loaded.status, loaded.version, loaded.owner_agent_id) == (
        CaseStatus.AWAITING_RETURN,
        2,
        7,
    )
    assert loaded.goods is GoodsStatus.NOT_RETURNED and loaded.escalated


async def test_a_redelivered_photo_is_stored_once(session_factory: Sessions) -> None:
    order_id = await store_order(session_factory)
    async with session_factory() as session:
        repos = Repositories(session)
        case = await repos.cases.add(make_case(order_id, "R-2611-0001", evidence=(photo("a"),)))
        assert case.id is not None
        assert await repos.cases.add_evidence(case.id, photo("b")) is True
        assert await repos.cases.add_evidence(case.id, photo("b")) is False
        assert await repos.cases.add_evidence(case.id, photo("a")) is False
        # save() stores evidence added to the case object, once.
        case.evidence = (*case.evidence, photo("c"), photo("b"))
        await repos.cases.save(case)
        await session.commit()
        loaded = await repos.cases.get(case.id)
    assert loaded is not None
    assert [e.file_unique_id for e in loaded.evidence] == ["a", "b", "c"]


async def test_case_numbers_count_up_per_period(session_factory: Sessions) -> None:
    async with session_factory() as session:
        cases = Repositories(session).cases
        assert await cases.next_number("2611") == "R-2611-0001"
        assert await cases.next_number("2611") == "R-2611-0002"
        assert await cases.next_number("2612") == "R-2612-0001"
        assert await cases.next_number("2611", prefix="X") == "X-2611-0003"
        await session.commit()


async def test_concurrent_case_numbers_are_distinct(session_factory: Sessions) -> None:
    async def take() -> str:
        async with session_factory() as session:
            number = await Repositories(session).cases.next_number("2611")
            await asyncio.sleep(0.05)
            await session.commit()
            return number

    numbers = await asyncio.gather(*(take() for _ in range(4)))
    assert sorted(numbers) == [f"R-2611-000{n}" for n in range(1, 5)]


async def test_buyer_cases_newest_first_and_staff_queue_by_deadline(
    session_factory: Sessions,
) -> None:
    order_id = await store_order(session_factory, make_order(lines=3))
    other_shop_order = await store_order(session_factory, make_order(shop="borealis"))
    async with session_factory() as session:
        repos = Repositories(session)
        specs = [
            ("R-1", 1, T0, None, CaseStatus.AWAITING_SELLER, order_id, "aurora"),
            ("R-2", 2, T0 + timedelta(hours=1), T0 + timedelta(days=5), None, order_id, "aurora"),
            ("R-3", 3, T0 + timedelta(hours=2), T0 + timedelta(days=2), None, order_id, "aurora"),
            (
                "R-4",
                1,
                T0 + timedelta(hours=3),
                T0,
                CaseStatus.AWAITING_AGENT,
                other_shop_order,
                "borealis",
            ),
        ]
        for number, line, opened, deadline, status, oid, shop in specs:
            await repos.cases.add(
                make_case(
                    oid,
                    number,
                    lines=(CaseLine(line, 1),),
                    opened_at=opened,
                    deadline_at=deadline,
                    status=status or CaseStatus.AWAITING_BUYER_INFO,
                    shop=shop,
                    reason=Reason.NOT_RECEIVED if number == "R-3" else Reason.DAMAGED,
                )
            )
        closed = await repos.cases.add(
            make_case(
                order_id,
                "R-5",
                lines=(CaseLine(1, 1),),
                status=CaseStatus.CANCELLED,
                opened_at=T0 + timedelta(hours=4),
            )
        )
        await session.commit()

    async with session_factory() as session:
        cases = Repositories(session).cases
        mine = await cases.list_for_buyer(111)
        mine_open = await cases.list_for_buyer(111, open_only=True)
        queue = await cases.list_open_for_shops(["aurora"])
        both = await cases.list_open_for_shops(["aurora", "borealis"])
        waiting = await cases.list_open_for_shops(
            ["aurora"], status=CaseStatus.AWAITING_BUYER_INFO.value
        )
        late = await cases.list_open_for_shops(["aurora"], reason=Reason.NOT_RECEIVED.value)
        due = await cases.due(T0 + timedelta(days=2))
        claimed = await cases.claimed_quantities(order_id)
    assert [c.number for c in mine] == ["R-5", "R-4", "R-3", "R-2", "R-1"]
    assert [c.number for c in mine_open] == ["R-4", "R-3", "R-2", "R-1"]
    assert [c.number for c in queue] == ["R-3", "R-2", "R-1"]  # no deadline: last
    assert [c.number for c in both] == ["R-4", "R-3", "R-2", "R-1"]
    assert [c.number for c in waiting] == ["R-3", "R-2"]
    assert [c.number for c in late] == ["R-3"]
    assert [c.number for c in due] == ["R-4", "R-3"]
    assert claimed == {1: 1, 2: 1, 3: 1}
    assert closed.is_open is False


async def test_resolved_cases_still_claim_their_quantities(session_factory: Sessions) -> None:
    order_id = await store_order(session_factory)
    async with session_factory() as session:
        repos = Repositories(session)
        for number, status in (
            ("R-1", CaseStatus.RESOLVED),
            ("R-2", CaseStatus.REJECTED),
            ("R-3", CaseStatus.AWAITING_SELLER),
        ):
            await repos.cases.add(
                make_case(order_id, number, lines=(CaseLine(2, 1),), status=status)
            )
        assert await repos.cases.open_quantities(order_id) == {2: 1}
        assert await repos.cases.claimed_quantities(order_id) == {2: 2}
        resolved = await repos.cases.get_by_number("R-1")
        assert resolved is not None
        assert await repos.cases.claimed_quantities(order_id, exclude_case=resolved.id) == {2: 1}


async def test_the_audit_trail_comes_back_in_order(session_factory: Sessions) -> None:
    order_id = await store_order(session_factory)
    async with session_factory() as session:
        repos = Repositories(session)
        case = await repos.cases.add(make_case(order_id, "R-2611-0001"))
        assert case.id is not None
        events = [
            AuditEvent(
                "R-2611-0001",
                T0,
                Role.BUYER,
                111,
                "open",
                None,
                CaseStatus.AWAITING_SELLER,
                data={"lines": [1]},
            ),
            AuditEvent(
                "R-2611-0001",
                T0 + timedelta(minutes=5),
                Role.SELLER,
                9,
                "approve",
                CaseStatus.AWAITING_SELLER,
                CaseStatus.AWAITING_RETURN,
                note="ok",
            ),
            AuditEvent(
                "R-2611-0001", T0 + timedelta(minutes=6), Role.SYSTEM, None, "remind", None, None
            ),
        ]
        for event in events:
            await repos.cases.add_audit(event, case.id)
        await session.commit()
        assert await repos.cases.audit_trail(case.id) == events


# --- outbox, links, users -------------------------------------------------------------------


async def test_the_outbox_dedupes_and_tracks_attempts(session_factory: Sessions) -> None:
    async with session_factory() as session:
        outbox = Repositories(session).outbox
        common = dict(recipient_role="buyer", chat_id=111, shop="aurora", case_id=None)
        assert await outbox.enqueue(
            kind="case_opened", payload={"n": 1}, dedupe_key="k1", at=T0, **common
        )
        assert not await outbox.enqueue(
            kind="case_opened", payload={"n": 2}, dedupe_key="k1", at=T0, **common
        )
        assert await outbox.enqueue(
            kind="case_opened",
            payload={},
            dedupe_key="k2",
            at=T0 + timedelta(seconds=1),
            **common,
        )
        assert await outbox.enqueue(
            kind="later", payload={}, dedupe_key="k3", at=T0 + timedelta(hours=1), **common
        )
        await session.commit()

        due = await outbox.pending(now=T0 + timedelta(minutes=1))
        assert [(m.dedupe_key, m.payload) for m in due] == [("k1", {"n": 1}), ("k2", {})]
        assert due[0].created_at.tzinfo is UTC
        await outbox.mark_sent(due[0].id, T0 + timedelta(minutes=1))
        await outbox.mark_failed(due[1].id, "429 Too Many Requests", T0 + timedelta(minutes=2))
        await session.commit()

        assert await outbox.pending(now=T0 + timedelta(minutes=1)) == []
        (retry,) = await outbox.pending(now=T0 + timedelta(minutes=2))
        assert (retry.attempts, retry.last_error) == (1, "429 Too Many Requests")
        await outbox.mark_unreachable(retry.id, "403 bot was blocked")
        (later,) = await outbox.pending(now=T0 + timedelta(days=1), limit=10)
        await outbox.mark_failed(later.id, "400 chat not found", None)
        await session.commit()
        assert await outbox.pending(now=T0 + timedelta(days=1)) == []


async def test_outbox_messages_of_a_case(session_factory: Sessions) -> None:
    order_id = await store_order(session_factory)
    async with session_factory() as session:
        repos = Repositories(session)
        case = await repos.cases.add(make_case(order_id, "R-2611-0001"))
        for n, role in enumerate(("buyer", "seller")):
            await repos.outbox.enqueue(
                kind="case_opened",
                recipient_role=role,
                chat_id=None,
                shop="aurora",
                case_id=case.id,
                payload={"case": case.number},
                dedupe_key=f"c{n}",
                at=T0,
            )
        await session.commit()
        messages = await repos.outbox.list_for_case(case.id or 0)
    assert [(m.recipient_role, m.chat_id, m.status) for m in messages] == [
        ("buyer", None, "pending"),
        ("seller", None, "pending"),
    ]


async def test_links_and_link_attempts(session_factory: Sessions) -> None:
    first = await store_order(session_factory)
    second = await store_order(session_factory, make_order("AUR-10022"))
    async with session_factory() as session:
        links = Repositories(session).links
        assert await links.link(first, 111, "token", T0)
        assert not await links.link(first, 111, "check", T0)
        assert await links.link(second, 111, "check", T0 + timedelta(minutes=1))
        assert await links.is_linked(first, 111)
        assert not await links.is_linked(first, 222)
        assert await links.linked_orders(111) == [first, second]
        for minute, success in ((0, False), (1, False), (2, True), (30, False)):
            await links.record_attempt(222, T0 + timedelta(minutes=minute), success)
        await session.commit()
        assert await links.failed_attempts_since(222, T0) == 3
        assert await links.failed_attempts_since(222, T0 + timedelta(minutes=1)) == 2
        assert await links.failed_attempts_since(333, T0) == 0


async def test_users_and_staff(session_factory: Sessions) -> None:
    async with session_factory() as session:
        repos = Repositories(session)
        assert await repos.users.get(111) is None
        await repos.users.touch(111, "Ana", "pt-br", T0)
        await repos.users.set_language(111, "pt", T0 + timedelta(minutes=1))
        await repos.users.set_reachable(111, False, T0 + timedelta(minutes=2))
        await repos.users.touch(111, "Ana S.", "pt-br", T0 + timedelta(minutes=3))
        await repos.users.set_language(222, "de", T0)  # unknown user: created
        assert await repos.staff.add("aurora", 9, "seller", "config", T0)
        assert not await repos.staff.add("aurora", 9, "seller", "invite", T0)
        assert await repos.staff.add("borealis", 9, "seller", "invite", T0)
        assert await repos.staff.add("aurora", 10, "seller", "invite", T0 + timedelta(hours=1))
        assert await repos.staff.add("aurora", 9, "agent", "config", T0)
        await session.commit()

        user = await repos.users.get(111)
        assert user is not None
        assert (user.first_name, user.language_code, user.chosen_language) == (
            "Ana S.",
            "pt-br",
            "pt",
        )
        assert user.reachable is True  # writing to the bot again makes them reachable
        assert (user.created_at, user.updated_at) == (T0, T0 + timedelta(minutes=3))
        assert user.language == "pt"
        other = await repos.users.get(222)
        assert other is not None and other.chosen_language == "de"
        assert await repos.staff.shops_of(9, "seller") == ["aurora", "borealis"]
        assert await repos.staff.shops_of(9, "agent") == ["aurora"]
        assert await repos.staff.members("aurora", "seller") == [9, 10]
        # read once per unit of work, and what it adds or removes is seen at once
        assert await repos.staff.add("aurora", 11, "seller", "invite", T0 + timedelta(hours=2))
        assert await repos.staff.members("aurora", "seller") == [9, 10, 11]
        assert await repos.staff.remove(9, "aurora", "seller")
        assert await repos.staff.members("aurora", "seller") == [10, 11]
        assert await repos.staff.members("aurora", "agent") == [9]


async def test_import_runs_are_recorded(session_factory: Sessions) -> None:
    async with session_factory() as session:
        runs = Repositories(session).import_runs
        run_id = await runs.start(file="orders.json", format="native-json", shop=None, at=T0)
        await runs.finish(run_id, at=T0 + timedelta(seconds=3), created=5, updated=2, rows=9)
        await session.commit()
        row = (
            await session.execute(
                text("SELECT orders_created, orders_updated, rows FROM import_runs")
            )
        ).one()
    assert tuple(row) == (5, 2, 9)


# --- the engine -----------------------------------------------------------------------------


async def test_a_rolled_back_transaction_undoes_a_released_savepoint(
    session_factory: Sessions,
) -> None:
    """On SQLite a SAVEPOINT before any write must still join the unit of work."""
    order_id = await store_order(session_factory)
    async with session_factory() as session:
        await Repositories(session).cases.add(make_case(order_id, "R-2611-0001"))
        await session.rollback()
    async with session_factory() as session:
        assert await Repositories(session).cases.get_by_number("R-2611-0001") is None


async def test_sqlite_connections_enforce_foreign_keys_and_use_wal(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db' / 'bot.db'}")
    try:
        async with engine.connect() as conn:
            pragmas = [
                (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in (
                    "foreign_keys",
                    "journal_mode",
                    "busy_timeout",
                    "synchronous",
                    "cache_size",
                )
            ]
    finally:
        await engine.dispose()
    # busy_timeout 0: the driver waits for a busy database itself, off the loop (BUSY_WAIT);
    # a page cache of 1,000 KB, half SQLite's default (benchmarks/README.md, twelfth round)
    assert pragmas == [1, "wal", 0, 1, -1000]


async def test_sqlite_connections_keep_32_statements_prepared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sqlite3 keeps 128 statements prepared per connection by default, and the inbox's claims
    of every length filled them: the engine asks for 32, enough for the buyers' path."""
    opened: list[dict[str, object]] = []
    connect = sqlite3.connect

    def recording_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        opened.append(kwargs)
        return connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", recording_connect)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", pool_size=2)
    asked = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}?cached_statements=200")
    try:
        async with engine.connect() as first, engine.connect() as second:
            for conn in (first, second):
                assert (await conn.exec_driver_sql("SELECT 1")).scalar() == 1
        async with asked.connect() as conn:  # a URL that names its own number keeps it
            assert (await conn.exec_driver_sql("SELECT 1")).scalar() == 1
    finally:
        await engine.dispose()
        await asked.dispose()
    assert [kwargs.get("cached_statements") for kwargs in opened] == [32, 32, 200]


def test_a_postgresql_engine_gives_the_open_lines_index_its_where_clause() -> None:
    """The partial unique index's PostgreSQL option comes with a PostgreSQL engine
    (tables.add_postgresql_options), not with the table, so that a process on SQLite never
    loads that dialect: what ``metadata.create_all`` and Alembic's autogenerate write. In a
    fresh interpreter, as a process starts (this one's tests made PostgreSQL engines)."""
    script = (
        "from sqlalchemy.dialects import postgresql\n"
        "from sqlalchemy.schema import CreateIndex\n"
        "from core.persistence.tables import case_lines, open_case_lines_index as index\n"
        "assert index in case_lines.indexes\n"
        "def ddl(): return str(CreateIndex(index).compile(dialect=postgresql.dialect()))\n"
        "print(ddl())\n"
        "from core.persistence.engine import create_engine\n"
        "create_engine('postgresql+asyncpg://nobody@127.0.0.1:1/none')  # never connects\n"
        "print(ddl())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    before, after = done.stdout.strip().splitlines()
    assert (
        before
        == "CREATE UNIQUE INDEX uq_case_lines_open_order_line_id ON case_lines (order_line_id)"
    )
    assert after == f"{before} WHERE is_open"


async def test_the_next_unit_of_work_gets_the_sqlite_connection_used_last(tmp_path: Path) -> None:
    """SQLite drops a connection's page cache when another one wrote since its last
    transaction: the pool hands out the connection returned last, so units of work one after
    another run on one connection and keep its cache (benchmarks/README.md, fifth round)."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")

    async def dbapi_id(conn: AsyncConnection) -> int:
        raw = await conn.get_raw_connection()
        return id(raw.dbapi_connection)

    try:
        async with engine.connect() as first, engine.connect() as second:  # two at once
            ids = {await dbapi_id(first), await dbapi_id(second)}
            await first.execute(text("CREATE TABLE t (x INTEGER)"))
            await first.commit()
            first_id = await dbapi_id(first)
            await second.close()  # returned first
            await first.close()  # returned last
        following = []
        for _ in range(3):
            async with engine.connect() as conn:
                await conn.execute(text("INSERT INTO t VALUES (1)"))
                await conn.commit()
                following.append(await dbapi_id(conn))
    finally:
        await engine.dispose()
    assert len(ids) == 2
    assert following == [first_id] * 3


async def test_a_sqlite_engine_with_a_pool_of_its_own_still_starts(tmp_path: Path) -> None:
    """The connection-used-last setting is for the default pool: another one is kept."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()
    assert isinstance(engine.pool, NullPool)


LATE = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


async def test_an_order_of_several_lines_and_parcels_is_read_back_once_each_in_order(
    session_factory: Sessions,
) -> None:
    # lines × parcels come from one joined statement: each must come back once, in order
    base = make_order("AUR-30001")
    parcels = tuple(
        Shipment("DHL", f"JD0{n}", True, LATE - timedelta(days=9 - n)) for n in (1, 2, 3)
    )
    three_lines = (*base.lines, replace(base.lines[0], line_no=3, sku="LAMP-3"))
    await store_order(session_factory, replace(base, lines=three_lines, shipments=parcels))
    await store_order(session_factory, replace(make_order("AUR-30002"), shipments=()))
    async with session_factory() as session:
        orders = Repositories(session).orders
        first = await orders.get_by_key("aurora", "AUR30001")
        bare = await orders.get_by_key("aurora", "AUR30002")
        assert first is not None and bare is not None and first.id and bare.id
        both = await orders.get_many([bare.id, first.id])
    assert [line.line_no for line in first.lines] == [1, 2, 3]
    assert [p.tracking_number for p in first.shipments] == ["JD01", "JD02", "JD03"]
    assert bare.shipments == () and len(bare.lines) == 2
    assert both[first.id] == first and both[bare.id] == bare


async def test_conversations_are_written_in_a_batch_and_an_empty_one_is_removed(
    session_factory: Sessions,
) -> None:
    async with session_factory() as session:
        talks = ConversationRepository(session)
        await talks.put("fsm:1", "S:a", {"n": 1}, LATE)
        await talks.put_many(
            [("fsm:1", "S:b", {"n": 2}), ("fsm:2", "S:x", {}), ("fsm:3", None, {"k": "<&>"})],
            LATE,
        )
        assert await talks.get("fsm:1") == ("S:b", {"n": 2})
        await talks.put_many([("fsm:2", None, {}), ("fsm:1", "S:c", {})], LATE)
        await session.commit()
    async with session_factory() as session:
        talks = ConversationRepository(session)
        assert await talks.get("fsm:1") == ("S:c", {})
        assert await talks.get("fsm:2") == (None, {})
        assert await talks.get("fsm:3") == (None, {"k": "<&>"})
        assert await talks.count() == 2


# --- PostgreSQL: a pooled connection is pinged only after it sat idle ------------------------


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with postgres_in_use():
        yield await _postgres_url()


async def _pings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the pings of pooled asyncpg connections (SQLAlchemy's adapter's ``ping``)."""
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

    pings: list[int] = []
    ping = AsyncAdapt_asyncpg_connection.ping

    def counted(self: AsyncAdapt_asyncpg_connection) -> None:
        pings.append(1)
        ping(self)

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", counted)
    return pings


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(url: str, pid: int) -> None:
    """Cut one server connection, as a database restart or a proxy's idle timeout does."""
    admin = create_engine(url)
    try:
        async with admin.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await conn.commit()
        for _ in range(250):  # pg_terminate_backend only signals: wait until it is gone
            async with admin.connect() as conn:  # a new transaction: a new statistics snapshot
                alive = await conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                )
                if not alive.scalar_one():
                    break
            await asyncio.sleep(0.02)
    finally:
        await admin.dispose()


@pytest.mark.postgres
async def test_a_postgresql_connection_in_steady_use_is_not_pinged_before_each_unit_of_work(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ping is three round trips (BEGIN, ``;``, ROLLBACK): the units of work of a busy bot,
    one after another, go without (benchmarks/README.md, sixth round)."""
    pings = await _pings(monkeypatch)
    engine = create_engine(postgres_url)
    try:
        pids = {await _backend_pid(engine) for _ in range(20)}
    finally:
        await engine.dispose()
    assert pings == []
    assert len(pids) == 1  # one connection served them all


@pytest.mark.postgres
async def test_a_burst_past_the_postgresql_pool_waits_and_keeps_every_connection_it_opened(
    postgres_url: str,
) -> None:
    """More units of work at once than the pool holds: they wait their turn, none fails, no
    more than the pool's connections are opened, and the next burst finds them all still
    open instead of connecting again (benchmarks/README.md, eleventh round)."""
    engine = create_engine(postgres_url)
    cap = engine_module.POSTGRES_POOL + engine_module.POSTGRES_OVERFLOW
    holding: list[int] = []
    full, gate = asyncio.Event(), asyncio.Event()

    async def unit() -> int:
        async with engine.connect() as conn:
            pid = int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
            holding.append(pid)
            if len(holding) == cap:
                full.set()
            await gate.wait()  # the first ``cap`` hold their connections together
            return pid

    async def burst() -> set[int]:
        holding.clear()
        full.clear()
        gate.clear()
        units = [asyncio.ensure_future(unit()) for _ in range(cap + 10)]
        await full.wait()
        gate.set()
        return set(await asyncio.gather(*units))

    try:
        first = await asyncio.wait_for(burst(), 30)
        second = await asyncio.wait_for(burst(), 30)
    finally:
        await engine.dispose()
    assert len(first) == cap
    assert second <= first  # not one connection was closed and opened again


@pytest.mark.postgres
async def test_an_idle_postgresql_connection_that_was_cut_is_pinged_and_replaced(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "IDLE_BEFORE_PING", 0.2)
    pings = await _pings(monkeypatch)
    engine = create_engine(postgres_url)
    try:
        first = await _backend_pid(engine)
        await _terminate(postgres_url, first)
        await asyncio.sleep(0.3)  # idle longer than IDLE_BEFORE_PING
        second = await _backend_pid(engine)  # no error: the ping found it cut
    finally:
        await engine.dispose()
    assert pings == [1]
    assert second != first


@pytest.mark.postgres
async def test_a_postgresql_connection_cut_while_in_use_fails_one_unit_and_retires_the_pool(
    postgres_url: str,
) -> None:
    """Without a ping, a connection cut between two units of work in quick succession fails
    the next unit (the inbox runs its update again); that failure retires every connection
    the pool held, so the ones after connect afresh instead of failing one by one."""
    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as a, engine.connect() as b:  # two pooled connections
            pids = {
                int((await c.execute(text("SELECT pg_backend_pid()"))).scalar_one()) for c in (a, b)
            }
        for pid in pids:
            await _terminate(postgres_url, pid)
        with pytest.raises(DBAPIError) as failed:
            await _backend_pid(engine)
        assert failed.value.connection_invalidated
        after = {await _backend_pid(engine) for _ in range(3)}
    finally:
        await engine.dispose()
    assert len(pids) == 2
    assert after and not after & pids


# --- transactions begin at the first statement that writes ------------------------------------


async def test_a_unit_of_work_that_reads_before_it_writes_is_still_one_transaction(
    session_factory: Sessions,
) -> None:
    """Reads before the first write run outside a transaction (both databases): the writes
    after them still commit, or are undone, together."""
    async with session_factory() as session:
        users = Repositories(session).users
        assert await users.get(701) is None
        await users.touch(701, "Lucía", "es", LATE)
        assert await users.get(702) is None
        await users.touch(702, "Marie", "fr", LATE)
        await session.rollback()
        assert await users.get(701) is None and await users.get(702) is None
    async with session_factory() as session:
        users = Repositories(session).users
        assert await users.get(701) is None
        await users.touch(701, "Lucía", "es", LATE)
        await users.touch(702, "Marie", "fr", LATE)
        # closed without a commit: neither is kept
    async with session_factory() as session:
        users = Repositories(session).users
        assert await users.get(701) is None and await users.get(702) is None
        await users.touch(701, "Lucía", "es", LATE)
        await users.touch(702, "Marie", "fr", LATE)
        await session.commit()
    async with session_factory() as session:
        users = Repositories(session).users
        assert [u.first_name for u in (await users.get(701), await users.get(702)) if u] == [
            "Lucía",
            "Marie",
        ]


async def _lucia_stored(session_factory: Sessions) -> None:
    async with session_factory() as session:
        await Repositories(session).users.touch(701, "Lucía", "es", LATE)
        await session.commit()


async def _one_transaction(session: AsyncConnection) -> bool:
    """Whether two statements 10 ms apart are in one transaction, as PostgreSQL sees it:
    ``now()`` is the time the transaction began."""
    first = (await session.execute(text("SELECT now()"))).scalar_one()
    await asyncio.sleep(0.01)
    return bool(first == (await session.execute(text("SELECT now()"))).scalar_one())


async def test_a_postgresql_unit_of_work_that_only_reads_begins_no_transaction(
    engine: AsyncEngine, session_factory: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's driver begins a transaction at the first write by itself")
    await _lucia_stored(session_factory)
    begins = count_postgres_begins(monkeypatch)

    async with session_factory() as session:  # what the bot does for most updates
        users = Repositories(session).users
        assert (await users.get(701)) is not None
        assert await users.get(702) is None
        assert not await _one_transaction(session)
    assert begins == []

    async with session_factory() as session:
        users = Repositories(session).users
        assert await users.get(702) is None
        assert not await _one_transaction(session)
        await users.touch(702, "Marie", "fr", LATE)  # the first write begins the transaction
        assert await _one_transaction(session)
        await session.commit()
    assert begins == [1]


async def test_a_postgresql_read_that_locks_rows_holds_them_until_its_transaction_ends(
    engine: AsyncEngine, session_factory: Sessions
) -> None:
    """SELECT … FOR UPDATE begins the transaction: its lock lasts until the commit."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no row locks")
    from core.persistence.tables import telegram_users

    await _lucia_stored(session_factory)
    locking = select(telegram_users.c.first_name).where(telegram_users.c.telegram_id == 701)
    rename = text("UPDATE telegram_users SET first_name = 'Lu' WHERE telegram_id = 701")
    async with session_factory() as holder, session_factory() as other:
        await holder.execute(locking.with_for_update())
        await other.execute(text("SET lock_timeout = '100ms'"))
        with pytest.raises(DBAPIError, match="lock timeout"):
            await other.execute(rename)
        await other.rollback()
        await holder.commit()
        await other.execute(rename)
        await other.commit()
    async with session_factory() as session:
        assert (await session.execute(locking)).scalar_one() == "Lu"


async def test_a_postgresql_statement_that_may_write_or_lock_begins_the_transaction(
    engine: AsyncEngine, session_factory: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a plain SELECT runs outside a transaction: lowercase or not, a locking read, a
    transactional function or a savepoint begins one."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's driver")
    await _lucia_stored(session_factory)
    begins = count_postgres_begins(monkeypatch)
    beginning = [
        "select first_name from telegram_users where telegram_id = 701 for no key update",
        "SELECT first_name FROM telegram_users WHERE telegram_id = 701 FOR KEY SHARE",
        "SELECT pg_advisory_xact_lock(701)",
        "SELECT set_config('application_name', 'returns-desk', true)",
        "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
    ]
    for statement in beginning:
        async with session_factory() as session:
            await session.execute(text(statement))
            assert await _one_transaction(session), statement
    async with session_factory() as session:
        await session.execute(text("select first_name from telegram_users"))
        assert not await _one_transaction(session)
        async with session.begin_nested():  # a savepoint needs its transaction
            assert await _one_transaction(session)
    assert len(begins) == len(beginning) + 1


async def _begins_of_a_read(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The transactions begun by a new engine's second connection for two reads (the first
    connection reads the server's ways); checks that PostgreSQL saw them in one transaction."""
    try:
        async with engine.connect():
            pass
        begins = count_postgres_begins(monkeypatch)
        async with engine.connect() as session:
            assert await _one_transaction(session)
    finally:
        await engine.dispose()
    return begins


async def test_a_postgresql_engine_at_another_isolation_level_begins_at_the_first_read(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repeatable read and serializable read one snapshot for the whole transaction: their
    reads must be in it."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's driver")
    engine = create_engine(database_url, isolation_level="REPEATABLE READ")
    assert await _begins_of_a_read(engine, monkeypatch) == [1]


async def test_a_postgresql_server_whose_default_is_serializable_keeps_whole_transactions(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine names no isolation level: it reads the server's default, and only at read
    committed does a read run outside a transaction."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's driver")
    serializable = {"server_settings": {"default_transaction_isolation": "serializable"}}
    engine = create_engine(database_url, connect_args=serializable)
    assert await _begins_of_a_read(engine, monkeypatch) == [1]


async def test_a_one_statement_unit_of_work_commits_it_and_the_next_unit_stays_whole(
    engine: AsyncEngine, session_factory: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``UnitOfWork.one_statement``: on PostgreSQL the statement runs without BEGIN (nor
    COMMIT) and is stored; a unit of work that said so and ended without its statement leaves
    the next one on the same connection a transaction, whose writes are undone together."""
    from core.persistence.unit_of_work import UnitOfWork

    postgres = engine.dialect.name == "postgresql"
    begins = count_postgres_begins(monkeypatch) if postgres else []
    pids: set[int] = set()

    async def pid(uow: UnitOfWork) -> None:
        if postgres:
            pids.add((await uow.session.execute(text("SELECT pg_backend_pid()"))).scalar_one())

    async with UnitOfWork(session_factory) as uow:
        await pid(uow)
        await uow.one_statement()
        await uow.users.touch(701, "Lucía", "es", LATE)
        await uow.commit()
    assert begins == []
    async with UnitOfWork(session_factory) as uow:
        await pid(uow)
        await uow.one_statement()  # and then nothing: it ends without its statement
    async with UnitOfWork(session_factory) as uow:
        await uow.users.touch(702, "Marie", "fr", LATE)  # the first statement: no flag left
        await uow.users.touch(703, "Ana", "en", LATE)
        await pid(uow)
        await uow.rollback()
    async with UnitOfWork(session_factory) as uow:
        assert await uow.users.get(701) is not None
        assert await uow.users.get(702) is None and await uow.users.get(703) is None
    if postgres:
        assert len(pids) == 1  # the same connection each time: the flag could have stayed
        assert begins == [1]  # the two writes were one transaction

"""The retention purge on a moved clock (SQLite and PostgreSQL): each kind of data goes when
its time is up, a case's data only after it closed and the dispute window passed, and the
shop's figures (cases by reason, SKU, amounts) survive."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select

from core.cases.model import Actor
from core.cases.reasons import Reason
from core.clock import FixedClock
from core.persistence.tables import (
    audit_events,
    cases,
    inbox_updates,
    link_attempts,
    orders,
    outbox,
)
from core.services import cases as case_service
from core.services import privacy
from core.services.context import CoreContext
from tests.core.factories import (
    AURORA_SELLER,
    DMITRI,
    LUCIA,
    NOVA_SELLER,
    earbud_for_seller,
    link,
)


async def _rows(ctx: CoreContext, stmt: Any) -> list[Any]:
    async with ctx.unit_of_work() as uow:
        return list((await uow.session.execute(stmt)).mappings())


async def _count(ctx: CoreContext, table: Any, *where: Any) -> int:
    async with ctx.unit_of_work() as uow:
        stmt = select(func.count()).select_from(table).where(*where)
        return int((await uow.session.execute(stmt)).scalar_one())


async def test_technical_data_goes_after_its_retention(ctx: CoreContext, clock: FixedClock) -> None:
    now = clock.now()
    async with ctx.unit_of_work() as uow:
        await uow.session.execute(
            insert(link_attempts),
            [{"telegram_id": 1, "at": now, "success": False}],
        )
        await uow.session.execute(
            insert(outbox),
            [
                {
                    "created_at": now,
                    "recipient_role": "buyer",
                    "chat_id": 1,
                    "kind": "case_opened",
                    "payload": {"text": "private words"},
                    "dedupe_key": "k1",
                    "status": "sent",
                    "next_attempt_at": now,
                    "sent_at": now,
                }
            ],
        )
        await uow.session.execute(
            insert(inbox_updates),
            [
                {
                    "update_id": 1,
                    "chat_key": 1,
                    "payload": {"message": {"text": "hello"}},
                    "status": "done",
                    "received_at": now,
                    "next_attempt_at": now,
                    "finished_at": now,
                },
                {
                    "update_id": 2,
                    "chat_key": 1,
                    "payload": {"message": {"text": "boom"}},
                    "status": "parked",
                    "received_at": now,
                    "next_attempt_at": now,
                    "finished_at": None,
                },
            ],
        )
        await uow.conversations.put("fsm:1:1:default", "S:x", {"a": 1}, now)
        await uow.commit()

    clock.advance(days=1)
    first = await privacy.purge(ctx)
    assert first["updates"] == 0 and first["notifications"] == 0  # too young

    clock.advance(days=2)  # 3 days: done updates (2) go; sent messages (7) stay
    assert (await privacy.purge(ctx))["updates"] == 1
    assert await _count(ctx, outbox) == 1

    clock.advance(days=5)  # 8 days: the sent message goes
    assert (await privacy.purge(ctx))["notifications"] == 1

    clock.advance(days=7)  # 15 days: the parked update goes
    assert (await privacy.purge(ctx))["parked_updates"] == 1

    clock.advance(days=16)  # 31 days: order checks and the idle conversation
    done = await privacy.purge(ctx)
    assert done["order_checks"] == 1 and done["conversations"] == 1
    assert await _count(ctx, link_attempts) == 0 and await _count(ctx, inbox_updates) == 0


async def test_orders_without_cases_lose_their_buyer_details_after_a_year(
    ctx: CoreContext, clock: FixedClock
) -> None:
    order = await link(ctx, LUCIA, "AUR-10021")
    clock.advance(days=366)

    done = await privacy.purge(ctx)

    assert done["orders_erased"] >= 1 and done["links_removed"] >= 1
    [row] = await _rows(ctx, select(orders).where(orders.c.id == order.id))
    assert row["buyer_name"] == "erased" and row["buyer_email"] is None
    assert row["ship_line1"] is None and row["currency"]
    assert (await privacy.purge(ctx))["orders_erased"] == 0  # idempotent


async def test_a_case_is_kept_while_open_and_for_the_dispute_window_after_closing(
    ctx: CoreContext, clock: FixedClock
) -> None:
    case = await earbud_for_seller(ctx, DMITRI)
    clock.advance(days=400)
    assert (await privacy.purge(ctx))["cases_erased"] == 0  # open: never purged

    await case_service.cancel(ctx, Actor.seller(NOVA_SELLER), case.number, "duplicate")
    clock.advance(days=179)
    assert (await privacy.purge(ctx))["cases_erased"] == 0  # within the window

    clock.advance(days=2)
    done = await privacy.purge(ctx)

    assert done["cases_erased"] == 1 and done["orders_erased"] == 1
    [row] = await _rows(ctx, select(cases))
    assert row["description"] == "[erased]" and row["buyer_id"] is None
    assert row["reason"] == Reason.DOES_NOT_WORK.value and row["status"] == "cancelled"
    notes = [r["note"] for r in await _rows(ctx, select(audit_events.c.note))]
    assert all(note in (None, "[erased]") for note in notes)
    # the figures: the shop still counts one "does not work" case
    assert await _count(ctx, cases, cases.c.shop == "nova", cases.c.reason == "does_not_work") == 1
    assert (await privacy.purge(ctx))["cases_erased"] == 0


async def test_an_erasure_request_waits_for_the_hold_and_says_until_when(
    ctx: CoreContext, clock: FixedClock
) -> None:
    case = await earbud_for_seller(ctx, DMITRI)

    asked = await privacy.request_erasure(ctx, Actor.buyer(DMITRI), DMITRI)
    assert asked.hold is not None and asked.hold.kind == "open_case"
    assert asked.hold.case == case.number and not asked.done

    await case_service.cancel(ctx, Actor.seller(NOVA_SELLER), case.number, "duplicate")
    again = await privacy.request_erasure(ctx, Actor.buyer(DMITRI), DMITRI)
    assert again.hold is not None and again.hold.kind == "dispute_window"
    assert again.due_at == clock.now() + timedelta(days=180) and again.already_requested

    clock.advance(days=181)
    assert (await privacy.purge(ctx))["people_erased"] == 1


async def test_only_the_person_or_the_shop_may_ask(ctx: CoreContext) -> None:
    import pytest

    from core.errors import Forbidden

    with pytest.raises(Forbidden):
        await privacy.request_erasure(ctx, Actor.buyer(LUCIA), DMITRI)
    with pytest.raises(Forbidden):
        await privacy.personal_data(ctx, Actor.seller(AURORA_SELLER), DMITRI)

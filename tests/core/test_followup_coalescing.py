"""A buyer's follow-ups reach staff as a few coalesced alerts, on SQLite and PostgreSQL, even
when the messages are stored at the same moment by different workers; none is dropped."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from core.cases.model import Actor
from core.clock import FixedClock
from core.services import cases as svc
from core.services.context import CoreContext
from tests.core.factories import DMITRI, NOVA_SELLER, NOVA_SELLER_2, earbud_for_seller, make_context


async def message_rows(ctx: CoreContext, case_id: int) -> list[tuple[str, int | None, str]]:
    async with ctx.unit_of_work() as uow:
        rows = await uow.outbox.list_for_case(case_id)
    return [(r.recipient_role, r.chat_id, r.dedupe_key) for r in rows if r.kind == "message"]


async def test_concurrent_follow_ups_are_all_stored_and_queue_at_most_two_alerts_per_recipient(
    ctx: CoreContext, engine: AsyncEngine, tmp_path: Path, clock: FixedClock
) -> None:
    case = await earbud_for_seller(ctx)
    assert case.id is not None
    workers = [make_context(engine, tmp_path / f"w{n}", clock) for n in range(4)]

    results = await asyncio.gather(
        *(
            svc.post_message(workers[n % 4], Actor.buyer(DMITRI), case.number, f"hello {n}")
            for n in range(12)
        ),
        return_exceptions=True,
    )

    stored = await svc.get_case(ctx, Actor.seller(NOVA_SELLER), case.number)
    kept = sorted(e.note or "" for e in stored.timeline if e.action == "message")
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert kept == sorted(f"hello {n}" for n in range(12))
    rows = await message_rows(ctx, case.id)
    for seller in (NOVA_SELLER, NOVA_SELLER_2):
        mine = [key for role, chat, key in rows if chat == seller]
        assert 1 <= len(mine) <= 2, rows  # now, and at the start of the next window
    assert all(":followups:" in key for _, _, key in rows)


async def test_a_later_window_gets_its_own_alert_and_staff_notes_to_the_buyer_are_not_held(
    ctx: CoreContext, clock: FixedClock
) -> None:
    case = await earbud_for_seller(ctx)
    assert case.id is not None
    for n in range(5):
        await svc.post_message(ctx, Actor.buyer(DMITRI), case.number, f"first {n}")
    clock.advance(minutes=10)
    await svc.post_message(ctx, Actor.buyer(DMITRI), case.number, "much later")
    await svc.post_message(ctx, Actor.seller(NOVA_SELLER), case.number, "On it")
    await svc.post_message(ctx, Actor.seller(NOVA_SELLER), case.number, "Sent today")

    rows = await message_rows(ctx, case.id)
    to_seller = [key for role, chat, key in rows if chat == NOVA_SELLER_2]
    assert len(to_seller) == 3  # the first, the rest of that window, the later one
    to_buyer = [key for role, chat, key in rows if role == "buyer"]
    assert len(to_buyer) == 2 and not any(":followups:" in key for key in to_buyer)

"""Platform disputes recorded on cases: their deadlines from the platform's rules, reminders
48, 24 and 4 hours before (once each, however the timers run), and an agent called when one
is missed; who may record one, and the words for every refusal."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from core.cases.lifecycle import CaseStatus
from core.cases.model import Actor
from core.clock import FixedClock
from core.errors import Conflict, CoreError, NotFound, ValidationFailed
from core.persistence.tables import dispute_reminders
from core.policy.config import Config
from core.services import cases as case_service
from core.services import disputes as svc
from core.services.context import CoreContext
from tests.core.factories import (
    AGENT,
    AURORA_SELLER,
    AURORA_STAFF_CHAT,
    LUCIA,
    NOVA_SELLER,
    damaged_lamp,
    earbud_for_seller,
    stored_case,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
AURORA = Actor.seller(AURORA_SELLER)
NOVA = Actor.seller(NOVA_SELLER)


def at(*args: int, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime(*args, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


async def kinds(ctx: CoreContext, number: str) -> list[tuple[str, int | None, str]]:
    case = await stored_case(ctx, number)
    assert case.id is not None
    async with ctx.unit_of_work() as uow:
        rows = await uow.outbox.list_for_case(case.id)
    return [(m.recipient_role, m.chat_id, m.kind) for m in rows]


def with_business_days(ctx: CoreContext) -> CoreContext:
    """The sample's AliExpress rules, the seller's 5 days counted as business days, with the
    United States' holidays for the shop aurora."""
    raw = ctx.config.model_dump(mode="json")
    version = raw["disputes"]["platforms"]["aliexpress"]["versions"][0]
    for rule in version["deadlines"]:
        if rule["code"] == "seller_response":
            rule["unit"] = "business_days"
    raw["disputes"]["shop_holidays"] = {"aurora": "US"}
    return dataclasses.replace(ctx, config=Config.model_validate(raw))


async def test_an_aliexpress_dispute_gets_its_deadlines_from_the_rules(
    ctx: CoreContext, clock: FixedClock
) -> None:
    case = await damaged_lamp(ctx)
    clock.at = datetime(2026, 11, 25, 12, tzinfo=UTC)  # a Wednesday
    recorded = await svc.record(
        ctx, AURORA, case.number, svc.NewDispute("aliexpress", "8123456789", "2026-11-25")
    )
    assert recorded.created
    dispute = recorded.dispute
    assert (dispute.platform, dispute.stage, dispute.rules_version) == (
        "aliexpress",
        "opened",
        "2024-buyer-protection",
    )
    assert dispute.opened_at == at(2026, 11, 25)  # a bare date: midnight, AliExpress's time
    due = {d.code: d.due_at for d in dispute.deadlines}
    assert due["seller_response"] == at(2026, 11, 30)  # 5 calendar days, weekend counted
    assert due["platform_steps_in"] == at(2026, 12, 2)
    assert "return_ship" not in due  # only once a return is agreed
    order = await ctx_order(ctx, case.order_id)
    shipped = min(s.shipped_at for s in order.shipments)
    assert due["open_from"] == _days_in(shipped, 10)
    # the same dispute in business days: Thanksgiving (Thu 26) and the weekend are skipped
    business = with_business_days(ctx)
    other = await earbud_for_seller(ctx)
    lamp2 = await svc.record(
        business, AURORA, case.number, svc.NewDispute("aliexpress", "8123456790", "2026-11-25")
    )
    due2 = {d.code: d.due_at for d in lamp2.dispute.deadlines}
    assert due2["seller_response"] == at(2026, 12, 3)  # Fri 27, Mon 30, Tue 1, Wed 2, Thu 3
    assert due2["platform_steps_in"] == at(2026, 12, 2)
    # the shop's staff group hears of it (the seller who recorded it is not told)
    sent = await kinds(ctx, case.number)
    assert ("staff_chat", AURORA_STAFF_CHAT, "dispute_recorded") in sent
    assert ("seller", AURORA_SELLER, "dispute_recorded") not in sent
    assert other.number != case.number


async def ctx_order(ctx: CoreContext, order_id: int):  # type: ignore[no-untyped-def]
    async with ctx.unit_of_work() as uow:
        return await uow.orders.get(order_id)


def _days_in(start: datetime, days: int) -> datetime:
    local = start.astimezone(SHANGHAI).replace(tzinfo=None) + timedelta(days=days)
    return local.replace(tzinfo=SHANGHAI).astimezone(UTC)


async def test_reminders_go_48_24_and_4_hours_before_once_each(
    ctx: CoreContext, clock: FixedClock
) -> None:
    case = await damaged_lamp(ctx)
    clock.at = datetime(2026, 11, 25, 20, tzinfo=UTC)
    await svc.record(
        ctx, AURORA, case.number, svc.NewDispute("ebay", "EB-1", "2026-11-25T09:00")
    )  # 3 business days (Los Angeles, US holidays): Fri 27, Mon 30, Tue 1 December, 09:00
    due = at(2026, 12, 1, 9, zone=ZoneInfo("America/Los_Angeles"))

    async def reminders() -> list[int]:
        async with ctx.unit_of_work() as uow:
            rows = await uow.session.execute(
                select(dispute_reminders.c.hours).order_by(dispute_reminders.c.id)
            )
            return [row[0] for row in rows]

    async def sent_to_sellers() -> int:
        return [k for k in await kinds(ctx, case.number) if k[2] == "dispute_reminder"].count(
            ("seller", AURORA_SELLER, "dispute_reminder")
        )

    clock.at = due - timedelta(hours=49)
    assert (await svc.run_timers(ctx))["dispute_reminders"] == 0
    for lead, expected in ((48, [48]), (24, [48, 24]), (4, [48, 24, 4])):
        clock.at = due - timedelta(hours=lead)
        assert (await svc.run_timers(ctx))["dispute_reminders"] == 1
        assert (await svc.run_timers(ctx))["dispute_reminders"] == 0  # the timer ran twice
        clock.advance(minutes=30)
        assert (await svc.run_timers(ctx))["dispute_reminders"] == 0
        assert await reminders() == expected
        assert await sent_to_sellers() == len(expected)
    async with ctx.unit_of_work() as uow:
        rows = await uow.session.execute(select(func.count()).select_from(dispute_reminders))
        assert rows.scalar_one() == 3


async def test_a_late_timer_sends_only_the_most_urgent_reminder(
    ctx: CoreContext, clock: FixedClock
) -> None:
    case = await damaged_lamp(ctx)
    clock.at = datetime(2026, 11, 25, 12, tzinfo=UTC)
    await svc.record(ctx, AURORA, case.number, svc.NewDispute("amazon", "A2Z-1", "2026-11-25"))
    recorded = (await svc.of_case(ctx, AURORA, case.number))[0]
    (deadline,) = recorded.deadlines
    clock.at = deadline.due_at - timedelta(hours=3)  # the process was down for two days
    assert (await svc.run_timers(ctx))["dispute_reminders"] == 1
    assert (await svc.run_timers(ctx))["dispute_reminders"] == 0
    reminders = [k for k in await kinds(ctx, case.number) if k[2] == "dispute_reminder"]
    assert reminders == [
        ("seller", AURORA_SELLER, "dispute_reminder"),
        ("staff_chat", AURORA_STAFF_CHAT, "dispute_reminder"),
    ]


async def test_a_missed_deadline_calls_an_agent_once(ctx: CoreContext, clock: FixedClock) -> None:
    case = await earbud_for_seller(ctx)
    assert case.status is CaseStatus.AWAITING_SELLER and not case.escalated
    clock.at = datetime(2026, 11, 23, 12, tzinfo=UTC)
    await svc.record(ctx, NOVA, case.number, svc.NewDispute("amazon", "A2Z-2", "2026-11-23T01:00"))
    clock.at = datetime(2026, 11, 26, 10, tzinfo=UTC)  # 72 hours after 01:00 in Los Angeles
    done = await svc.run_timers(ctx)
    assert done["dispute_missed"] == 1
    assert (await svc.run_timers(ctx))["dispute_missed"] == 0
    escalated = await stored_case(ctx, case.number)
    assert escalated.status is CaseStatus.AWAITING_AGENT and escalated.escalated
    sent = await kinds(ctx, case.number)
    assert ("agents", None, "dispute_missed") in sent
    assert ("agents", None, "escalated") in sent
    assert sent.count(("agents", None, "dispute_missed")) == 1
    view = await case_service.get_case(ctx, Actor.agent(AGENT), case.number)
    actions = [e.action for e in view.timeline]
    assert actions[-2:] == ["escalate", "dispute_missed"]


async def test_a_missed_deadline_on_a_case_already_with_an_agent_still_alerts_the_agents(
    ctx: CoreContext, clock: FixedClock
) -> None:
    case = await earbud_for_seller(ctx)
    await case_service.escalate(ctx, NOVA, case.number)
    clock.at = datetime(2026, 11, 23, 12, tzinfo=UTC)
    await svc.record(ctx, NOVA, case.number, svc.NewDispute("amazon", "A2Z-3", "2026-11-23"))
    clock.advance(days=5)
    assert (await svc.run_timers(ctx))["dispute_missed"] == 1
    assert ("agents", None, "dispute_missed") in await kinds(ctx, case.number)


async def test_a_chargeback_counts_to_the_due_date_the_processor_gave(
    ctx: CoreContext, clock: FixedClock
) -> None:
    case = await damaged_lamp(ctx)
    with pytest.raises(ValidationFailed) as missing:
        await svc.record(ctx, AURORA, case.number, svc.NewDispute("shopify", "CB-1", None))
    assert missing.value.code == "due_date_required"
    recorded = await svc.record(
        ctx, AURORA, case.number, svc.NewDispute("shopify", "CB-1", None, due="2026-12-04")
    )
    assert recorded.dispute.platform == "shopify_payments"
    assert [(d.code, d.due_at) for d in recorded.dispute.deadlines] == [
        ("evidence_due", datetime(2026, 12, 4, 23, 59, tzinfo=UTC))
    ]


async def test_moving_a_dispute_to_another_stage_starts_that_stages_deadlines(
    ctx: CoreContext, clock: FixedClock
) -> None:
    case = await damaged_lamp(ctx)
    await svc.record(ctx, AURORA, case.number, svc.NewDispute("paypal", "PP-D-1", "2026-11-20"))
    moved = await svc.set_stage(ctx, AURORA, case.number, "paypal", "PP-D-1", "claim")
    active = [d for d in moved.dispute.deadlines if d.active]
    assert [(d.code, d.due_at) for d in active] == [
        (
            "claim_response",
            (
                clock.now().astimezone(ZoneInfo("America/Los_Angeles")) + timedelta(days=10)
            ).astimezone(UTC),
        )
    ]
    with pytest.raises(ValidationFailed) as bad:
        await svc.set_stage(ctx, AURORA, case.number, "paypal", "PP-D-1", "won")
    assert bad.value.code == "unknown_stage"


@pytest.mark.parametrize(
    ("new", "code"),
    [
        (svc.NewDispute("wish", "1"), "unknown_platform"),
        (svc.NewDispute("aliexpress", "1", "2026-13-01"), "bad_date"),
        (svc.NewDispute("aliexpress", "1", "yesterday"), "bad_date"),
        (svc.NewDispute("aliexpress", "1", "2026-12-24"), "bad_date"),  # in the future
        (svc.NewDispute("aliexpress", "no spaces please"), "invalid"),
        (svc.NewDispute("aliexpress", "1", stage="won"), "unknown_stage"),
    ],
)
async def test_bad_input_is_refused_with_a_code(
    ctx: CoreContext, new: svc.NewDispute, code: str
) -> None:
    case = await damaged_lamp(ctx)
    with pytest.raises(CoreError) as refused:
        await svc.record(ctx, AURORA, case.number, new)
    assert refused.value.code == code


async def test_only_who_may_see_the_case_records_a_dispute_on_it(ctx: CoreContext) -> None:
    case = await damaged_lamp(ctx)
    with pytest.raises(NotFound) as other_shop:
        await svc.record(ctx, NOVA, case.number, svc.NewDispute("aliexpress", "1"))
    assert other_shop.value.code == "case_not_found"
    # the buyer records the one they opened, on their own case
    mine = await svc.record(ctx, Actor.buyer(LUCIA), case.number, svc.NewDispute("paypal", "PP-7"))
    assert mine.created and mine.dispute.stage == "dispute"
    again = await svc.record(ctx, AURORA, case.number, svc.NewDispute("paypal", "PP-7"))
    assert not again.created and again.dispute.id == mine.dispute.id
    other = await earbud_for_seller(ctx)
    with pytest.raises(Conflict) as elsewhere:
        await svc.record(ctx, NOVA, other.number, svc.NewDispute("paypal", "PP-7"))
    assert elsewhere.value.code == "dispute_on_other_case"
    assert elsewhere.value.params["case"] == ""  # not the number of another shop's case
    with pytest.raises(Conflict) as seen:  # an agent of both shops is told which case
        await svc.record(ctx, Actor.agent(AGENT), other.number, svc.NewDispute("paypal", "PP-7"))
    assert seen.value.params["case"] == case.number

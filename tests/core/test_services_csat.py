"""Satisfaction surveys through the core services, on a real database (SQLite and PostgreSQL):
scheduled by a resolution or a rejection, asked once after the delay, answered once by the
case's buyer only, withdrawn by a reopening, a low score alerting the shop; exact figures."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest

from core.cases.model import Actor
from core.clock import FixedClock
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.money import Money
from core.persistence.repositories.surveys import Survey
from core.services import cases as svc
from core.services import csat
from core.services.context import CoreContext
from tests.core.factories import (
    AGENT,
    AGENT_2,
    AURORA_SELLER,
    AURORA_STAFF_CHAT,
    DMITRI,
    LUCIA,
    NOVA_SELLER,
    NOVA_SELLER_2,
    NOW,
    STRANGER,
    damaged_lamp,
    earbud_for_seller,
    stored_case,
)

AURORA = Actor.seller(AURORA_SELLER)
NOVA = Actor.seller(NOVA_SELLER)


async def surveys_of(ctx: CoreContext, number: str) -> list[Survey]:
    case = await stored_case(ctx, number)
    async with ctx.unit_of_work() as uow:
        found = [await uow.surveys.get(n) for n in range(1, 50)]
    return sorted((s for s in found if s and s.case_id == case.id), key=lambda s: s.round)


async def rows(ctx: CoreContext, number: str, kind: str) -> list[tuple[str, int | None, dict]]:
    case = await stored_case(ctx, number)
    assert case.id is not None
    async with ctx.unit_of_work() as uow:
        messages = await uow.outbox.list_for_case(case.id)
    return [(m.recipient_role, m.chat_id, m.payload) for m in messages if m.kind == kind]


async def refunded_lamp(ctx: CoreContext) -> str:
    number = (await damaged_lamp(ctx)).number
    await svc.record_refund(ctx, AURORA, number, Money.parse("39.90", "EUR"), reference="P-1")
    return number


async def test_a_resolution_is_surveyed_once_after_the_delay_and_answered_once_by_its_buyer(
    ctx: CoreContext, clock: FixedClock
) -> None:
    number = await refunded_lamp(ctx)
    (survey,) = await surveys_of(ctx, number)
    assert (survey.round, survey.status, survey.buyer_id) == (1, "scheduled", LUCIA)
    assert survey.due_at == NOW + timedelta(hours=24)
    assert survey.agent_id is None  # nobody but the seller and the policy touched it

    clock.advance(hours=23, minutes=59)
    assert (await svc.run_timers(ctx))["surveys_asked"] == 0
    assert await rows(ctx, number, "survey") == []

    clock.advance(minutes=1)
    assert (await svc.run_timers(ctx))["surveys_asked"] == 1
    assert (await svc.run_timers(ctx))["surveys_asked"] == 0  # asked once
    ((role, chat, payload),) = await rows(ctx, number, "survey")
    assert (role, chat, payload["survey"]) == ("buyer", LUCIA, survey.id)

    with pytest.raises(NotFound) as other:
        await csat.answer(ctx, Actor.buyer(STRANGER), survey.id, 1)
    assert other.value.code == "survey_not_found"
    with pytest.raises(ValidationFailed):
        await csat.answer(ctx, Actor.buyer(LUCIA), survey.id, 6)

    rated = await csat.answer(ctx, Actor.buyer(LUCIA), survey.id, 5)
    assert (rated.case_number, rated.survey.status, rated.survey.score) == (number, "answered", 5)
    with pytest.raises(Conflict) as again:
        await csat.answer(ctx, Actor.buyer(LUCIA), survey.id, 1)
    assert again.value.code == "survey_answered"
    await csat.add_comment(ctx, Actor.buyer(LUCIA), survey.id, "  Quick & kind <3 👍 ")
    (stored,) = await surveys_of(ctx, number)
    assert (stored.score, stored.comment) == (5, "Quick & kind <3 👍")
    assert await rows(ctx, number, "low_score") == []  # a 5 alerts nobody


async def test_reopening_withdraws_the_unanswered_survey_and_the_next_rejection_is_round_two(
    ctx: CoreContext, clock: FixedClock
) -> None:
    number = (await earbud_for_seller(ctx)).number
    await svc.reject(ctx, NOVA, number, "The earbud works: it was not charged")
    clock.advance(hours=24)
    await svc.run_timers(ctx)
    (asked,) = await surveys_of(ctx, number)
    assert asked.status == "asked"

    await svc.reopen(ctx, NOVA, number, "let us look again")
    (withdrawn,) = await surveys_of(ctx, number)
    assert withdrawn.status == "withdrawn"
    with pytest.raises(ValidationFailed) as late:
        await csat.answer(ctx, Actor.buyer(DMITRI), asked.id, 4)
    assert late.value.code == "survey_withdrawn"

    await svc.reject(ctx, NOVA, number, "Still working after a full charge")
    first, second = await surveys_of(ctx, number)
    assert (first.status, second.round, second.status) == ("withdrawn", 2, "scheduled")


async def test_a_withdrawn_case_is_not_surveyed(ctx: CoreContext, clock: FixedClock) -> None:
    number = (await damaged_lamp(ctx)).number
    await svc.withdraw(ctx, Actor.buyer(LUCIA), number)
    clock.advance(days=2)
    assert (await svc.run_timers(ctx))["surveys_asked"] == 0
    assert await surveys_of(ctx, number) == []


async def test_a_low_score_alerts_the_sellers_and_the_agent_who_handled_it_once(
    ctx: CoreContext, clock: FixedClock
) -> None:
    number = (await earbud_for_seller(ctx)).number
    agent = Actor.agent(AGENT)
    await svc.take_over(ctx, agent, number)
    await svc.reject(ctx, agent, number, "No fault found")
    clock.advance(hours=24)
    await svc.run_timers(ctx)
    (survey,) = await surveys_of(ctx, number)
    assert survey.agent_id == AGENT

    await csat.answer(ctx, Actor.buyer(DMITRI), survey.id, 2)
    assert await rows(ctx, number, "low_score") == []  # waits for the comment
    await csat.add_comment(ctx, Actor.buyer(DMITRI), survey.id, "<b>Rude</b> & slow 😡")
    alerts = await rows(ctx, number, "low_score")
    assert sorted((role, chat) for role, chat, _ in alerts) == [
        ("agents", AGENT),
        ("seller", NOVA_SELLER),
        ("seller", NOVA_SELLER_2),
    ]
    assert {(p["score"], p["comment"]) for _, _, p in alerts} == {(2, "<b>Rude</b> & slow 😡")}

    with pytest.raises(Conflict):
        await csat.add_comment(ctx, Actor.buyer(DMITRI), survey.id, "again")
    clock.advance(hours=2)
    await svc.run_timers(ctx)  # the silent-buyer fallback finds it alerted already
    assert len(await rows(ctx, number, "low_score")) == 3
    view = await svc.get_case(ctx, NOVA, number)
    assert [e.action for e in view.timeline].count("low_score") == 1


async def test_a_low_score_without_a_comment_alerts_the_shop_an_hour_later(
    ctx: CoreContext, clock: FixedClock
) -> None:
    number = await refunded_lamp(ctx)
    clock.advance(hours=24)
    await svc.run_timers(ctx)
    (survey,) = await surveys_of(ctx, number)
    await csat.answer(ctx, Actor.buyer(LUCIA), survey.id, 1)  # then never writes again

    clock.advance(minutes=59)
    await svc.run_timers(ctx)
    assert await rows(ctx, number, "low_score") == []
    clock.advance(minutes=2)
    await svc.run_timers(ctx)
    alerts = await rows(ctx, number, "low_score")
    assert sorted((role, chat) for role, chat, _ in alerts) == [
        ("seller", AURORA_SELLER),
        ("staff_chat", AURORA_STAFF_CHAT),
    ]
    assert alerts[0][2]["comment"] is None


async def test_surveys_are_off_when_the_delay_is_zero(ctx: CoreContext) -> None:
    life = ctx.config.lifecycle.model_copy(update={"survey_delay_hours": 0})
    off = dataclasses.replace(ctx, config=ctx.config.model_copy(update={"lifecycle": life}))
    number = await refunded_lamp(off)
    assert await surveys_of(off, number) == []


async def test_figures_per_shop_agent_and_reason_are_exact(
    ctx: CoreContext, clock: FixedClock
) -> None:
    lamp = await damaged_lamp(ctx)  # aurora, damaged
    earbud = await earbud_for_seller(ctx)  # nova, does not work
    assert lamp.id is not None and earbud.id is not None
    until = NOW + timedelta(days=40)
    # (case, agent, asked days before `until`, score; None: unanswered, "w": withdrawn)
    plan: list[tuple[int, int | None, int | None, int | str | None]] = [
        (lamp.id, AGENT, 1, 5),
        (lamp.id, AGENT, 2, 4),
        (lamp.id, None, 3, 2),
        (lamp.id, None, 4, None),
        (lamp.id, None, 31, 5),  # asked before the period: not counted
        (earbud.id, AGENT_2, 5, 3),
        (earbud.id, AGENT_2, 6, "w"),  # withdrawn after it was asked: not counted
        (earbud.id, AGENT_2, None, None),  # scheduled, never asked: not counted
    ]
    async with ctx.unit_of_work() as uow:
        for case_id, agent, days_before, score in plan:
            shop = "aurora" if case_id == lamp.id else "nova"
            sid = await uow.surveys.schedule(
                case_id=case_id, shop=shop, buyer_id=1, agent_id=agent, due_at=NOW
            )
            assert sid is not None
            if days_before is None:
                continue
            at = until - timedelta(days=days_before)
            assert await uow.surveys.mark_asked(sid, at)
            if score == "w":
                await uow.surveys.withdraw_open(case_id)
            elif isinstance(score, int):
                assert await uow.surveys.answer(sid, score, at)
        await uow.commit()

    f = await csat.figures(ctx, Actor.system(), days=30, until=until)

    def table(rows_: list[csat.CsatRow]) -> dict[object, tuple[int, int, int]]:
        return {r.key: (r.asked, r.answered, r.satisfied) for r in rows_}

    assert (f.total.asked, f.total.answered, f.total.satisfied) == (5, 4, 2)
    assert (f.total.satisfied_share, f.total.response_rate) == (Decimal("0.5"), Decimal("0.8"))
    assert table(f.by_shop) == {"aurora": (4, 3, 2), "nova": (1, 1, 0)}
    assert table(f.by_agent) == {AGENT: (2, 2, 2), AGENT_2: (1, 1, 0), None: (2, 1, 0)}
    assert table(f.by_reason) == {"damaged": (4, 3, 2), "does_not_work": (1, 1, 0)}
    aurora = f.by_shop[0]
    assert (aurora.satisfied_share, aurora.response_rate) == (Decimal("0.6667"), Decimal("0.75"))

    seller = await csat.figures(ctx, NOVA, days=30, until=until)
    assert table(seller.by_shop) == {"nova": (1, 1, 0)}
    with pytest.raises(Forbidden):
        await csat.figures(ctx, NOVA, days=30, shop="aurora", until=until)
    with pytest.raises(Forbidden):
        await csat.figures(ctx, Actor.buyer(LUCIA), days=30, until=until)


async def test_erasing_the_buyer_erases_their_comment_and_keeps_the_score(
    ctx: CoreContext, clock: FixedClock
) -> None:
    number = await refunded_lamp(ctx)
    clock.advance(hours=24)
    await svc.run_timers(ctx)
    (survey,) = await surveys_of(ctx, number)
    await csat.answer(ctx, Actor.buyer(LUCIA), survey.id, 4)
    await csat.add_comment(ctx, Actor.buyer(LUCIA), survey.id, "Lucia from Sevilla, thanks")

    async with ctx.unit_of_work() as uow:
        owned = await uow.privacy.owned_order_ids(LUCIA)
        await uow.privacy.erase_person(LUCIA, owned)
        await uow.commit()

    (erased,) = await surveys_of(ctx, number)
    assert (erased.buyer_id, erased.comment, erased.score) == (None, "[erased]", 4)
    clock.advance(minutes=1)
    f = await csat.figures(ctx, Actor.system(), days=30)
    assert (f.total.answered, f.total.satisfied) == (1, 1)  # the figures still count it


async def test_a_buyer_who_blocked_the_bot_is_not_asked(
    ctx: CoreContext, clock: FixedClock
) -> None:
    number = await refunded_lamp(ctx)
    async with ctx.unit_of_work() as uow:
        await uow.users.set_reachable(LUCIA, False, NOW)
        await uow.commit()
    clock.advance(hours=24)
    assert (await svc.run_timers(ctx))["surveys_asked"] == 0
    (survey,) = await surveys_of(ctx, number)
    assert (survey.status, survey.asked_at) == ("withdrawn", None)
    assert await rows(ctx, number, "survey") == []

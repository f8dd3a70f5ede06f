"""Satisfaction after the case (CSAT): one survey per resolution, asked once, answered once.

- A case that becomes resolved or rejected schedules a survey for its next round (the first
  resolution is round 1, a reopened case resolved again round 2), due
  ``[lifecycle] survey_delay_hours`` later (0: no surveys), in the same unit of work as the
  change (``after_change``, called by ``cases._change``). Reopening withdraws an unanswered
  one. A cancelled case (withdrawn by the buyer, cancelled by the shop, expired) is not
  surveyed: nothing was settled to rate, and a buyer who walked away is not chased.
- ``ask_due`` (a timer) asks each due survey once, through the outbox (``SurveyAsked``).
- ``answer`` takes the buyer's score (their survey only, once); ``add_comment`` the optional
  words after it. A 1 or 2 alerts the shop's sellers and the agent who handled the case
  (``LowScore``, with the comment and the case's buttons: a seller may reopen it). A buyer who
  never answers the comment step still triggers the alert, from the timer, an hour later.
- ``figures``: share of 4 and 5, answers and response rate per shop, agent and reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from core.analytics.figures import MAX_PERIOD_DAYS, Period, ratio
from core.cases import events as ev
from core.cases.lifecycle import CaseStatus, Role
from core.cases.model import Actor, Case
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.persistence.repositories.surveys import ANSWERED, ASKED, WITHDRAWN, Survey, SurveyFact
from core.persistence.sqlite_driver import long_statements
from core.persistence.unit_of_work import UnitOfWork
from core.policy.config import Config
from core.services import notify
from core.services.access import check_actor_role, seller_ids, staff_shops
from core.services.audit import record_audit
from core.services.context import CoreContext

SURVEYED = frozenset({CaseStatus.RESOLVED, CaseStatus.REJECTED})
SATISFIED = frozenset({4, 5})
LOW = frozenset({1, 2})
MAX_COMMENT = 1000
# how long a low score waits for the buyer's comment before the shop is alerted without it
COMMENT_WAIT = timedelta(hours=1)
ALERT_LOOKBACK = timedelta(days=7)  # the timer looks this far back for a low score not alerted


# ── scheduling, in the unit of work of the case's change ──────────────────────────────────


async def handling_agent(uow: UnitOfWork, case: Case) -> int | None:
    """The agent who handled the case: its owner, or the last agent in its audit trail."""
    if case.owner_agent_id is not None:
        return case.owner_agent_id
    assert case.id is not None
    for entry in reversed(await uow.cases.audit_trail(case.id)):
        if entry.actor_role is Role.AGENT and entry.actor_id is not None:
            return entry.actor_id
    return None


async def after_change(
    uow: UnitOfWork,
    config: Config,
    case: Case,
    before: CaseStatus,
    events: Sequence[ev.CaseEvent],
    now: datetime,
) -> None:
    """A case just resolved or rejected gets its next round's survey; a reopened one loses its
    unanswered survey."""
    assert case.id is not None
    if any(isinstance(event, ev.Reopened) for event in events):
        await uow.surveys.withdraw_open(case.id)
    delay = config.lifecycle.survey_delay_hours
    if case.status in SURVEYED and before not in SURVEYED and delay > 0 and case.buyer_id:
        await uow.surveys.schedule(
            case_id=case.id,
            shop=case.shop,
            buyer_id=case.buyer_id,
            agent_id=await handling_agent(uow, case),
            due_at=now + timedelta(hours=delay),
        )


# ── asking, by the timer ───────────────────────────────────────────────────────────────────


@long_statements
async def ask_due(ctx: CoreContext) -> int:
    """Ask every due survey once (the buyer's notification, in their language); alert the
    shop of low scores whose comment never came. Returns how many surveys were asked."""
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        # surveys switched off (0): those scheduled before wait, unasked
        off = ctx.config.lifecycle.survey_delay_hours == 0
        due = [] if off else await uow.surveys.due(now)
    asked = 0
    for survey in due:
        async with ctx.unit_of_work() as uow:
            case = await uow.cases.get(survey.case_id)
            user = await uow.users.get(case.buyer_id) if case and case.buyer_id else None
            if (
                case is None
                or case.status not in SURVEYED
                or case.buyer_id is None
                or (user is not None and not user.reachable)
            ):
                # reopened meanwhile, erased, or the buyer blocked the bot: not asked at all
                await uow.surveys.withdraw_open(survey.case_id)
            elif await uow.surveys.mark_asked(survey.id, now):  # another process was faster?
                await notify.queue(
                    uow,
                    ctx.config,
                    case,
                    ev.SurveyAsked(survey=survey.id),
                    now,
                    dedupe=f":{survey.id}",
                )
                asked += 1
            await uow.commit()
    async with ctx.unit_of_work() as uow:
        for survey in await uow.surveys.low_scores_answered(
            now - ALERT_LOOKBACK, now - COMMENT_WAIT
        ):
            await _alert_low(uow, ctx.config, survey, now)
        await uow.commit()
    return asked


# ── the buyer's answer ─────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Rated:
    survey: Survey
    case_number: str


async def _buyers_survey(uow: UnitOfWork, actor: Actor, survey_id: int) -> tuple[Survey, Case]:
    if actor.role is not Role.BUYER or actor.user_id is None:
        raise Forbidden("only the buyer rates a case", code="role_not_allowed")
    survey = await uow.surveys.get(survey_id)
    case = await uow.cases.get(survey.case_id) if survey is not None else None
    # another buyer's survey, or one never asked, is as unknown as a made-up number
    if survey is None or case is None or survey.buyer_id != actor.user_id:
        raise NotFound("no such survey", code="survey_not_found")
    if survey.status == WITHDRAWN:
        raise ValidationFailed("the case was reopened", code="survey_withdrawn")
    if survey.asked_at is None:
        raise NotFound("no such survey", code="survey_not_found")
    return survey, case


async def answer(ctx: CoreContext, actor: Actor, survey_id: int, score: int) -> Rated:
    """The buyer's score, 1 to 5: only on their own survey, only once."""
    if score not in range(1, 6):
        raise ValidationFailed("a score is 1 to 5", code="invalid")
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        survey, case = await _buyers_survey(uow, actor, survey_id)
        if survey.status == ANSWERED or not await uow.surveys.answer(survey.id, score, now):
            fresh = await uow.surveys.get(survey.id)
            if fresh is not None and fresh.status == WITHDRAWN:
                raise ValidationFailed("the case was reopened", code="survey_withdrawn")
            raise Conflict("already answered", code="survey_answered")
        await uow.commit()
        fresh = await uow.surveys.get(survey.id)
    assert fresh is not None
    return Rated(fresh, case.number)


async def add_comment(ctx: CoreContext, actor: Actor, survey_id: int, text: str | None) -> Rated:
    """The buyer's optional words after their score (``None``: they skipped). A low score
    alerts the shop now, with the words if any."""
    comment = (text or "").strip() or None
    if comment is not None and len(comment) > MAX_COMMENT:
        raise ValidationFailed("the comment is too long", code="text_too_long", limit=MAX_COMMENT)
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        survey, case = await _buyers_survey(uow, actor, survey_id)
        if survey.status != ANSWERED:
            raise NotFound("not rated yet", code="survey_not_found")
        if comment is not None and not await uow.surveys.set_comment(survey.id, comment):
            raise Conflict("a comment is there already", code="survey_answered")
        fresh = await uow.surveys.get(survey.id)
        assert fresh is not None
        await _alert_low(uow, ctx.config, fresh, now)
        await uow.commit()
    return Rated(fresh, case.number)


async def _alert_low(uow: UnitOfWork, config: Config, survey: Survey, now: datetime) -> None:
    """A 1 or 2: the sellers and the agent who handled the case hear of it, once per survey
    (the audit trail's "low_score" line says it was done, and shows it on the timeline)."""
    if survey.score not in LOW:
        return
    case = await uow.cases.get(survey.case_id)
    if case is None or case.id is None:
        return
    trail = await uow.cases.audit_trail(case.id)
    if any(e.action == "low_score" and e.data.get("survey") == survey.id for e in trail):
        return
    agent = survey.agent_id
    if agent is not None and agent in await seller_ids(uow, config, case.shop):
        agent = None  # a seller who also handled it as an agent hears of it once
    event = ev.LowScore(
        survey=survey.id, score=survey.score or 0, comment=survey.comment, agent_id=agent
    )
    buyer = Actor(Role.BUYER, survey.buyer_id)
    await record_audit(
        uow,
        case,
        buyer,
        "low_score",
        case.status,
        case.status,
        now,
        data={"survey": survey.id, "score": survey.score},
    )
    await notify.queue(uow, config, case, event, now, actor=buyer, dedupe=f":{survey.id}")


# ── figures ────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class CsatRow:
    """``key``: a shop id, an agent's Telegram id (None: no agent handled it) or a reason.
    ``asked``: surveys asked in the period and not withdrawn; ``answered`` of them;
    ``satisfied``: answered with 4 or 5."""

    key: str | int | None
    asked: int
    answered: int
    satisfied: int

    @property
    def satisfied_share(self) -> Decimal | None:
        return ratio(self.satisfied, self.answered)

    @property
    def response_rate(self) -> Decimal | None:
        return ratio(self.answered, self.asked)


@dataclass(frozen=True, slots=True)
class CsatFigures:
    period: Period
    shops: tuple[str, ...]
    total: CsatRow
    by_shop: list[CsatRow]
    by_agent: list[CsatRow]
    by_reason: list[CsatRow]


def _rows(facts: Iterable[SurveyFact], key_of: str) -> list[CsatRow]:
    counts: dict[str | int | None, list[int]] = defaultdict(lambda: [0, 0, 0])
    for fact in facts:
        row = counts[getattr(fact, key_of)]
        row[0] += 1
        if fact.status == ANSWERED:
            row[1] += 1
            row[2] += fact.score in SATISFIED
    return [CsatRow(key, *counts[key]) for key in sorted(counts, key=lambda k: (k is None, str(k)))]


@long_statements
async def figures(
    ctx: CoreContext,
    actor: Actor,
    *,
    days: int,
    shop: str | None = None,
    until: datetime | None = None,
) -> CsatFigures:
    """The satisfaction figures of the surveys asked in the ``days`` before ``until`` (now by
    default), of the shops ``actor`` may see (the CLI, as the system, sees every shop)."""
    if not 1 <= days <= MAX_PERIOD_DAYS:
        raise ValidationFailed(f"the period is 1 to {MAX_PERIOD_DAYS} days", code="invalid")
    if shop is not None and shop not in ctx.config.shops:
        raise ValidationFailed(f"unknown shop {shop!r}", code="unknown_shop")
    period = Period.last(days, until or ctx.now())
    async with ctx.unit_of_work() as uow:
        await check_actor_role(uow, ctx.config, actor)
        if actor.role is Role.SYSTEM:
            allowed = sorted(ctx.config.shops)
        elif actor.role in (Role.SELLER, Role.AGENT):
            allowed = await staff_shops(uow, ctx.config, actor)
        else:
            raise Forbidden("only staff see the figures", code="not_staff")
        if shop is not None and shop not in allowed:
            raise Forbidden("not a shop of yours", code="not_your_shop")
        shops = (shop,) if shop is not None else tuple(allowed)
        facts = [
            fact
            for fact in await uow.surveys.facts(period.start, period.end, list(shops))
            if fact.status in (ASKED, ANSWERED)  # a withdrawn question is not counted
        ]
    answered = [f.score for f in facts if f.status == ANSWERED]
    return CsatFigures(
        period=period,
        shops=shops,
        total=CsatRow(None, len(facts), len(answered), sum(s in SATISFIED for s in answered)),
        by_shop=_rows(facts, "shop"),
        by_agent=_rows(facts, "agent_id"),
        by_reason=_rows(facts, "reason"),
    )

"""Platform disputes on cases: recorded by staff (or by the buyer who opened one), held to
the platform's rules, with their deadlines on the clock.

- ``record``: a dispute (platform, the platform's id, when it opened, its stage and, for a
  chargeback, the evidence due date the processor gave) on a case the actor may see; its
  deadlines are computed from the platform's rules version of the opening day
  (core/disputes/rules.py) and stored, so that a later change of the rules never moves them.
  Audit and outbox in the same unit of work (``DisputeRecorded``).
- ``set_stage``: the dispute moved on (a return agreed, escalated to a claim, decided): the
  old stage's deadlines stop counting, the new stage's start from now.
- ``run_timers`` (beside ``cases.run_timers``): a reminder 48, 24 and 4 hours before each
  deadline the seller must meet (once each: a row per reminder, whoever runs the timer and
  however late), and a missed deadline calls an agent: the case is escalated when it still
  can be, and the agents hear of it in any case (``DisputeDeadlineMissed``).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.cases import events as ev
from core.cases.lifecycle import Action, Role
from core.cases.model import Actor, Case
from core.disputes import rules
from core.errors import Conflict, NotFound, ValidationFailed
from core.orders.model import Order
from core.persistence.repositories.disputes import Dispute, DisputeDeadline
from core.persistence.unit_of_work import UnitOfWork
from core.policy.config import Config
from core.services import notify
from core.services.access import staff_shops
from core.services.cases import _load, _record, deadline_for
from core.services.context import CoreContext

log = logging.getLogger("returns_desk.timers")

MAX_EXTERNAL_ID = 64
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,63}$")
DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M")
ESCALATION_WHY = "dispute_deadline"


@dataclass(frozen=True, slots=True)
class NewDispute:
    platform: str  # a platform id of the configuration, or its unique beginning (shopify)
    external_id: str
    opened: str | datetime | None = None  # "2026-12-01", "2026-12-01T09:30"; None: now
    stage: str | None = None  # None: the rules' first stage
    due: str | datetime | None = None  # chargebacks: the processor's evidence due date


@dataclass(frozen=True, slots=True)
class Recorded:
    case: Case
    dispute: Dispute
    created: bool  # False: the same dispute was recorded on this case already


def platform_id(config: Config, word: str) -> str:
    """The platform a word names: its id, or the one id it begins (``shopify``)."""
    word = word.strip().lower().replace("-", "_")
    platforms = config.disputes.platforms
    if word in platforms:
        return word
    found = [p for p in platforms if word and p.startswith(word)]
    if len(found) == 1:
        return found[0]
    raise ValidationFailed(
        f"unknown platform {word!r}",
        code="unknown_platform",
        platform=word,
        known=", ".join(sorted(platforms)),
    )


def parse_moment(value: str | datetime | None, zone: ZoneInfo, *, end_of_day: bool) -> datetime:
    """A date or date and time as staff type it, in the platform's time zone: a bare date is
    its first minute (an opening: the deadlines come no later than the platform's) or its
    last (a due date)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    text = (value or "").strip()
    for fmt in DATE_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if fmt == "%Y-%m-%d":
            day: date = parsed.date()
            return rules.end_of_day(day, zone) if end_of_day else _midnight(day, zone)
        return parsed.replace(tzinfo=zone)
    raise ValidationFailed(f"not a date: {text!r}", code="bad_date", value=text[:40])


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time()).replace(tzinfo=zone)


def anchors_of(
    order: Order, opened: datetime, stage_since: datetime, due: datetime | None
) -> rules.Anchors:
    shipped = min((s.shipped_at for s in order.shipments), default=None)
    promised = [s.latest_expected for s in order.shipments if s.latest_expected is not None]
    return rules.Anchors(
        opened=opened,
        stage_entered=stage_since,
        shipped=shipped,
        promised_delivery=max(promised) if promised else None,
        due_given=due,
    )


def _name(config: Config, key: str) -> str:
    platform = config.disputes.platforms.get(key)
    return platform.name if platform is not None else key


def _version(config: Config, dispute: Dispute) -> rules.RulesVersion | None:
    platform = config.disputes.platforms.get(dispute.platform)
    return platform.version_named(dispute.rules_version) if platform else None


def _recorded(
    key: str, name: str, external: str, stage: str, found: list[rules.Deadline], now: datetime
) -> ev.DisputeRecorded:
    coming = [d for d in found if d.due_at > now]
    return ev.DisputeRecorded(
        platform=key,
        platform_name=name,
        external_id=external,
        stage=stage,
        next_deadline=coming[0].code if coming else None,
        next_due=coming[0].due_at.isoformat() if coming else None,
    )


async def _store_deadlines(
    uow: UnitOfWork,
    config: Config,
    case: Case,
    dispute_id: int,
    version: rules.RulesVersion,
    stage: str,
    anchors: rules.Anchors,
) -> list[rules.Deadline]:
    country = config.disputes.country_for(case.shop, version)
    found = rules.deadlines(version, stage, anchors, country)
    for deadline in found:
        await uow.disputes.add_deadline(
            dispute_id,
            code=deadline.code,
            stage=stage,
            due_at=deadline.due_at,
            seller_must_act=deadline.seller_must_act,
            then=deadline.then,
        )
    return found


async def record(ctx: CoreContext, actor: Actor, number: str, new: NewDispute) -> Recorded:
    """Record a platform dispute on a case ``actor`` may see (staff: their shops'; a buyer:
    their own). The same platform id twice on the case changes nothing; on another case it
    is refused (``dispute_on_other_case``)."""
    config = ctx.config
    platform_key = platform_id(config, new.platform)
    platform = config.disputes.platforms[platform_key]
    external = (new.external_id or "").strip()
    if not EXTERNAL_ID.match(external):
        raise ValidationFailed(
            "the dispute id is letters and digits", code="invalid", value=external[:40]
        )
    now = ctx.now()
    # the day it opened picks the rules version, read in the platform's time zone
    first = ZoneInfo(platform.versions[0].timezone)
    opened = now if new.opened is None else parse_moment(new.opened, first, end_of_day=False)
    version = platform.version_on(opened.astimezone(first).date())
    zone = ZoneInfo(version.timezone)
    if new.opened is not None and zone != first:
        opened = parse_moment(new.opened, zone, end_of_day=False)
    if opened > now:
        raise ValidationFailed("the dispute cannot open in the future", code="bad_date")
    stage = (new.stage or version.stages[0]).strip().lower()
    if stage not in version.stages:
        raise ValidationFailed(
            f"unknown stage {stage!r}",
            code="unknown_stage",
            stage=stage,
            known=", ".join(version.stages),
        )
    due: datetime | None = None
    if version.due_date_given:
        if new.due is None:
            raise ValidationFailed(
                "a chargeback needs the processor's due date", code="due_date_required"
            )
        due = parse_moment(new.due, zone, end_of_day=True)
    async with ctx.unit_of_work() as uow:
        case = await _load(uow, ctx, actor, number)
        assert case.id is not None
        existing = await uow.disputes.by_external(platform_key, external)
        if existing is not None:
            if existing.case_id != case.id:
                other = await uow.cases.get(existing.case_id)
                # its number only for who may see that case: nothing leaks across shops
                shown = other is not None and (
                    actor.role is Role.SYSTEM or other.shop in await staff_shops(uow, config, actor)
                )
                raise Conflict(
                    "this dispute is on another case",
                    code="dispute_on_other_case",
                    case=other.number if other is not None and shown else "",
                )
            return Recorded(case, existing, created=False)
        order = await uow.orders.get(case.order_id)
        assert order is not None
        dispute_id = await uow.disputes.add(
            case_id=case.id,
            shop=case.shop,
            platform=platform_key,
            external_id=external,
            rules_version=version.version,
            stage=stage,
            opened_at=opened,
            due_given=due,
            recorded_at=now,
            recorded_by=actor.user_id,
        )
        if dispute_id is None:  # another press recorded it meanwhile
            raise Conflict("recorded meanwhile", code="already_handled")
        found = await _store_deadlines(
            uow, config, case, dispute_id, version, stage, anchors_of(order, opened, opened, due)
        )
        event = _recorded(platform_key, platform.name, external, stage, found, now)
        await _record(
            uow,
            config,
            case,
            actor,
            event,
            case.status,
            case.status,
            now,
            data={
                "platform": platform_key,
                "rules_version": version.version,
                "stage": stage,
                "opened_at": opened.isoformat(),
                "due": due.isoformat() if due else None,
            },
            dedupe=f":{dispute_id}",
        )
        await uow.commit()
        dispute = await uow.disputes.get(dispute_id)
    assert dispute is not None
    return Recorded(case, dispute, created=True)


async def record_or_move(ctx: CoreContext, actor: Actor, number: str, new: NewDispute) -> Recorded:
    """``record``; a dispute already on the case, given another stage, moves to it."""
    if new.stage is not None and actor.role is not Role.BUYER:
        try:
            return await set_stage(ctx, actor, number, new.platform, new.external_id, new.stage)
        except NotFound as exc:
            if exc.code != "dispute_not_found":
                raise
    return await record(ctx, actor, number, new)


async def set_stage(
    ctx: CoreContext, actor: Actor, number: str, platform: str, external_id: str, stage: str
) -> Recorded:
    """The dispute moved to ``stage``: its deadlines there count from now."""
    if actor.role not in (Role.SELLER, Role.AGENT, Role.SYSTEM):
        raise ValidationFailed("only staff move a dispute", code="not_staff")
    key = platform_id(ctx.config, platform)
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        case = await _load(uow, ctx, actor, number)
        dispute = await uow.disputes.by_external(key, external_id.strip())
        if dispute is None or dispute.case_id != case.id:
            raise NotFound("no such dispute on the case", code="dispute_not_found")
        version = _version(ctx.config, dispute)
        if version is None:  # the rules were removed from the configuration
            raise ValidationFailed("unknown platform", code="unknown_platform", platform=key)
        stage = stage.strip().lower()
        if stage not in version.stages:
            raise ValidationFailed(
                f"unknown stage {stage!r}",
                code="unknown_stage",
                stage=stage,
                known=", ".join(version.stages),
            )
        if stage == dispute.stage:
            return Recorded(case, dispute, created=False)
        order = await uow.orders.get(case.order_id)
        assert order is not None
        await uow.disputes.set_stage(dispute.id, stage, now)
        anchors = anchors_of(order, dispute.opened_at, now, dispute.due_given)
        found = await _store_deadlines(uow, ctx.config, case, dispute.id, version, stage, anchors)
        event = _recorded(key, _name(ctx.config, key), dispute.external_id, stage, found, now)
        await _record(
            uow,
            ctx.config,
            case,
            actor,
            event,
            case.status,
            case.status,
            now,
            data={"platform": key, "stage": stage},
            dedupe=f":{dispute.id}:{stage}",
        )
        await uow.commit()
        fresh = await uow.disputes.get(dispute.id)
    assert fresh is not None
    return Recorded(case, fresh, created=True)


async def of_case(ctx: CoreContext, actor: Actor, number: str) -> list[Dispute]:
    """The disputes on a case ``actor`` may see."""
    async with ctx.unit_of_work() as uow:
        case = await _load(uow, ctx, actor, number)
        assert case.id is not None
        return (await uow.disputes.for_cases([case.id]))[case.id]


async def of_cases(ctx: CoreContext, cases: Sequence[Case]) -> dict[int, list[Dispute]]:
    """The disputes of cases the caller has already been allowed to see (a queue, a card)."""
    ids = [case.id for case in cases if case.id is not None]
    async with ctx.unit_of_work() as uow:
        return await uow.disputes.for_cases(ids)


# ── the timers ─────────────────────────────────────────────────────────────────────────────


async def run_timers(ctx: CoreContext) -> dict[str, int]:
    """Reminders before each deadline the seller must meet, once each; a missed deadline
    calls an agent. Safe to run from several processes, and late."""
    now = ctx.now()
    hours = ctx.config.disputes.remind_hours
    horizon = max(hours, default=0)
    async with ctx.unit_of_work() as uow:
        due = await uow.disputes.active_due_before(now + timedelta(hours=horizon))
    done = {"dispute_reminders": 0, "dispute_missed": 0}
    for item in due:
        deadline, dispute = item.deadline, item.dispute
        async with ctx.unit_of_work() as uow:
            case = await uow.cases.get(dispute.case_id)
            if case is None:
                continue
            if deadline.due_at <= now:
                if await uow.disputes.mark_missed(deadline.id, now):
                    await _missed(uow, ctx.config, case, dispute, deadline, now)
                    done["dispute_missed"] += 1
            else:
                sent = await uow.disputes.reminders_sent(deadline.id)
                lead = rules.reminder_due(deadline.due_at, now, hours, sent)
                if lead is not None and await uow.disputes.mark_reminded(deadline.id, lead, now):
                    event = ev.DisputeReminder(
                        platform=dispute.platform,
                        platform_name=_name(ctx.config, dispute.platform),
                        external_id=dispute.external_id,
                        deadline=deadline.code,
                        due=deadline.due_at.isoformat(),
                        hours=lead,
                    )
                    await notify.queue(
                        uow, ctx.config, case, event, now, dedupe=f":{deadline.id}:{lead}"
                    )
                    done["dispute_reminders"] += 1
            await uow.commit()
    return done


async def _missed(
    uow: UnitOfWork,
    config: Config,
    case: Case,
    dispute: Dispute,
    deadline: DisputeDeadline,
    now: datetime,
) -> None:
    """The deadline passed: the agents and sellers hear of it, and the case goes to an agent
    when it still can (an open case not escalated yet)."""
    system = Actor.system()
    missed = ev.DisputeDeadlineMissed(
        platform=dispute.platform,
        platform_name=_name(config, dispute.platform),
        external_id=dispute.external_id,
        deadline=deadline.code,
        due=deadline.due_at.isoformat(),
        then=deadline.then,
    )
    if case.refusal(Action.ESCALATE, system) is None and not case.escalated:
        before = case.status
        changed = dataclasses.replace(case)
        events = changed.escalate(system, ESCALATION_WHY)
        changed.updated_at = now
        if changed.status is not before:
            changed.deadline_at = deadline_for(config, changed.status, now)
        case = await uow.cases.save(changed)
        for event in events:
            await _record(uow, config, case, system, event, before, case.status, now)
    await _record(
        uow, config, case, system, missed, case.status, case.status, now, dedupe=f":{deadline.id}"
    )

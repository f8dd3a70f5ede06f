"""Use cases of a return case: open it, decide it, move it through its lifecycle, list it.

The case decides (``Case`` has one method per action, which checks the lifecycle table and
the case's facts and returns typed events); a service loads the case, calls the method, saves
it, and writes each event to the audit trail and the outbox, all in one transaction
(``_change``). Two staff pressing at once: the second press names the status its button was
made for (or the version it read), and fails with a Conflict, so nothing is applied twice.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.cases import events as ev
from core.cases.lifecycle import Action, CaseStatus, GoodsStatus, Role
from core.cases.model import (
    STAFF_ONLY_ACTIONS,
    Actor,
    Assessment,
    AuditEvent,
    Case,
    CaseLine,
    Evidence,
)
from core.cases.reasons import Reason, Resolution
from core.clock import ensure_utc
from core.errors import Conflict, CoreError, ErrorCode, Forbidden, NotFound, ValidationFailed
from core.money import Money
from core.orders.model import Order
from core.persistence.sqlite_driver import long_statements
from core.persistence.unit_of_work import UnitOfWork
from core.policy.config import Config
from core.policy.decision import STRUCTURAL_REFUSALS, Claim, Decision, EvidenceCount, decide
from core.policy.record import DecisionRecord
from core.policy.signals import Signal
from core.policy.signals import apply as apply_signals
from core.services import csat, notify, supplier_claims
from core.services.access import (
    agents_on_duty,
    check_actor_role,
    check_case_access,
    staff_shops,
)
from core.services.audit import record_audit
from core.services.claims import buyer_order, buyer_order_and_proof, refuse_if_rejected_before
from core.services.context import CoreContext
from core.services.signals import signals_for

MAX_DESCRIPTION = 4000
MAX_NOTE = 1000
MAX_TRACKING = 64

log = logging.getLogger("returns_desk.timers")


class NotEligible(ValidationFailed):
    """The policy refuses the claim; the decision says why, for the bot to explain."""

    code = "not_eligible"

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"not eligible: {decision.refusal}", refusal=decision.refusal)
        self.decision = decision


@dataclass(frozen=True, slots=True)
class NewCase:
    order_id: int
    claims: tuple[Claim, ...]
    reason: Reason
    description: str | None = None
    evidence: tuple[Evidence, ...] = ()
    preferred_resolution: Resolution | None = None
    wants_person: bool = False  # asked for a human, or mentioned a chargeback or the bank


@dataclass(frozen=True, slots=True)
class CaseOpened:
    case: Case
    decision: DecisionRecord  # what the buyer was shown
    created: bool  # False when an identical open case already existed (a double tap)


@dataclass(frozen=True, slots=True)
class CaseView:
    case: Case
    order: Order
    timeline: list[AuditEvent]


def _unique(evidence: Sequence[Evidence]) -> list[Evidence]:
    """A file sent twice (same file_unique_id) is one piece of evidence, stored once."""
    first: dict[str, Evidence] = {}
    for item in evidence:
        first.setdefault(item.file_unique_id, item)
    return list(first.values())


def evidence_count(evidence: Sequence[Evidence], description: str | None) -> EvidenceCount:
    unique = _unique(evidence)
    videos = sum(1 for item in unique if item.is_video)
    return EvidenceCount(
        photos=len(unique) - videos,
        videos=videos,
        has_description=bool(description and description.strip()),
    )


def _clean_text(text: str | None, limit: int, what: str) -> str | None:
    if text is None:
        return None
    text = text.strip()
    if len(text) > limit:
        raise ValidationFailed(
            f"{what} is longer than {limit} characters", code="text_too_long", limit=limit
        )
    return text or None


def deadline_for(config: Config, status: CaseStatus, now: datetime) -> datetime | None:
    """How long each waiting state may last (the configuration's lifecycle section)."""
    life = config.lifecycle
    match status:
        case CaseStatus.AWAITING_BUYER_INFO:
            return now + timedelta(days=life.buyer_info_days)
        case CaseStatus.AWAITING_SELLER | CaseStatus.REOPENED:
            return now + timedelta(hours=life.seller_decision_hours)
        case CaseStatus.AWAITING_AGENT:
            return now + timedelta(hours=life.agent_first_response_hours)
        case CaseStatus.AWAITING_RETURN:
            return now + timedelta(days=life.return_ship_days)
        case CaseStatus.RETURN_IN_TRANSIT:
            return now + timedelta(days=life.return_transit_days)
        case CaseStatus.AWAITING_RESOLUTION:
            return now + timedelta(days=life.resolution_days)
    return None


# ── opening a case ─────────────────────────────────────────────────────────────────────────


async def _decide(
    ctx: CoreContext,
    uow: UnitOfWork,
    order: Order,
    claims: Sequence[Claim],
    reason: Reason,
    evidence: EvidenceCount,
    exclude_case: int | None = None,
    proof: str | None = None,
) -> Decision:
    assert order.id is not None
    claimed = await uow.cases.claimed_quantities(order.id, exclude_case=exclude_case)
    return decide(
        config=ctx.config,
        order=order,
        claims=list(claims),
        reason=reason,
        evidence=evidence,
        now=ctx.now(),
        already_claimed=claimed,
        proof=proof,
    )


async def _with_signals(
    ctx: CoreContext,
    uow: UnitOfWork,
    shop: str,
    decision: Decision,
    found: Sequence[Signal],
    evidence: EvidenceCount,
) -> Decision:
    """What the abuse signals change (``[signals] actions``): never a refusal."""
    if not found:
        return decision
    return apply_signals(
        ctx.config,
        decision,
        found,
        agents=await agents_on_duty(uow, ctx.config, shop),
        videos=evidence.videos,
        now=ctx.now(),
    )


async def preview(
    ctx: CoreContext,
    actor: Actor,
    order_id: int,
    claims: Sequence[Claim],
    reason: Reason,
    evidence: EvidenceCount,
) -> tuple[Order, Decision]:
    """The decision the buyer would get, shown in the summary before confirming, with the
    buyer's order it read (the summary shows both)."""
    async with ctx.unit_of_work() as uow:
        order, proof = await buyer_order_and_proof(uow, actor, order_id)
        return order, await _decide(ctx, uow, order, claims, reason, evidence, proof=proof)


def assessment_of(decision: Decision) -> Assessment:
    return Assessment(
        eligible=decision.eligible,
        missing=bool(decision.missing),
        review=decision.review.value,
        resolutions=tuple(decision.resolutions),
        record=decision.to_record(),
    )


async def open_case(ctx: CoreContext, actor: Actor, new: NewCase) -> CaseOpened:
    """Open a case for a buyer's claim: decide it by the policy, store it with its evidence,
    audit it and tell the shop (the buyer reads the outcome in the conversation)."""
    description = _clean_text(new.description, MAX_DESCRIPTION, "description")
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        order, proof = await buyer_order_and_proof(uow, actor, new.order_id)
        assert order.id is not None
        existing = await _same_open_case(uow, order.id, actor, new)
        if existing is not None:  # a double tap or a redelivered update: the same case
            return CaseOpened(existing, existing.decision, created=False)
        await refuse_if_rejected_before(uow, actor, order.id, (c.line_no for c in new.claims))
        _check_evidence_count(ctx, (), new.evidence)
        counts = evidence_count(new.evidence, description)
        decision = await _decide(ctx, uow, order, new.claims, new.reason, counts, proof=proof)
        found = await signals_for(
            ctx,
            uow,
            order=order,
            buyer_id=actor.user_id,
            reason=new.reason,
            claims=[(c.line_no, c.quantity) for c in new.claims],
            evidence=_unique(new.evidence),
            window_ends=decision.deadlines.get("window_ends"),
        )
        decision = await _with_signals(ctx, uow, order.shop, decision, found, counts)
        if not decision.eligible and not (
            new.wants_person and decision.refusal not in STRUCTURAL_REFUSALS
        ):
            raise NotEligible(decision)
        # the unit of work has only read so far: on PostgreSQL this commits the reads and
        # takes the number in a transaction of its own (see take_number)
        number = await uow.cases.take_number(
            now.strftime("%y%m"), ctx.config.deployment.case_prefix
        )
        case = Case(
            number=number,
            shop=order.shop,
            order_id=order.id,
            order_number=order.number,
            buyer_id=actor.user_id,
            buyer_proof=proof,
            reason=new.reason,
            status=CaseStatus.AWAITING_SELLER,
            lines=tuple(CaseLine(c.line_no, c.quantity) for c in new.claims),
            opened_at=now,
            updated_at=now,
            currency=order.currency,
            description=description,
            preferred_resolution=new.preferred_resolution,
            return_required=decision.return_required,
            return_paid_by=decision.return_paid_by,
            goods=GoodsStatus.NOT_RETURNED
            if decision.return_required
            else GoodsStatus.NOT_REQUIRED,
            decision=decision.to_record(),
            evidence=tuple(
                dataclasses.replace(e, added_at=e.added_at or now) for e in _unique(new.evidence)
            ),
            signals=tuple(found),
        )
        events = case.open(assessment_of(decision), wants_person=new.wants_person)
        case.deadline_at = deadline_for(ctx.config, case.status, now)
        try:
            case = await uow.cases.add(case)
        except Conflict:
            existing = await _same_open_case(uow, order.id, actor, new)
            if existing is not None:
                return CaseOpened(existing, existing.decision, created=False)
            raise
        for event in events:
            if isinstance(event, ev.Approved):  # automatic: the system decided
                # audited only: the buyer read it in the chat, the shop's alert shows it
                await record_audit(
                    uow,
                    case,
                    Actor.system(),
                    event.audit_action or "approve",
                    case.status,
                    case.status,
                    now,
                    data={"resolution": event.resolution, "automatic": True},
                )
                continue
            data = {
                "review": decision.review.value,
                "refund_total": decision.to_dict()["refund_total"],
            }
            await _record(
                uow,
                ctx.config,
                case,
                actor,
                event,
                None,
                case.status,
                now,
                data=data,
                quiet_buyer=True,
            )
        await supplier_claims.open_on_approval(
            uow, ctx.config, case, events, now, opened_with=order
        )
        await uow.commit()
    return CaseOpened(case, case.decision, created=True)


async def _same_open_case(
    uow: UnitOfWork, order_id: int, actor: Actor, new: NewCase
) -> Case | None:
    """An open case of this buyer, reason and lines: what a double tap would duplicate."""
    wanted = {(c.line_no, c.quantity) for c in new.claims}
    for case in await uow.cases.list_for_buyer(actor.user_id or 0, open_only=True):
        if (
            case.order_id == order_id
            and case.reason is new.reason
            and {(line.line_no, line.quantity) for line in case.lines} == wanted
        ):
            return case
    return None


async def remind_when_claim_possible(ctx: CoreContext, actor: Actor, order_id: int) -> datetime:
    """A parcel not overdue yet: queue a reminder to the buyer for the day a "not received"
    claim becomes possible (once per order and buyer); returns that day."""
    async with ctx.unit_of_work() as uow:
        order = await buyer_order(uow, actor, order_id)
        claims = [Claim(line.line_no, line.quantity) for line in order.lines]
        decision = await _decide(ctx, uow, order, claims, Reason.NOT_RECEIVED, EvidenceCount())
        when = decision.deadlines.get("claim_possible_from") or ctx.now()
        await uow.outbox.enqueue(
            kind="parcel_reminder",
            recipient_role="buyer",
            chat_id=actor.user_id,
            shop=order.shop,
            case_id=None,
            payload={"order": order.number, "order_id": order_id},
            dedupe_key=f"remind:{order_id}:{actor.user_id}",
            at=when,
        )
        await uow.commit()
    return when


# ── changing a case ────────────────────────────────────────────────────────────────────────


async def _record(
    uow: UnitOfWork,
    config: Config,
    case: Case,
    actor: Actor,
    event: ev.CaseEvent,
    before: CaseStatus | None,
    after: CaseStatus | None,
    at: datetime,
    *,
    data: dict[str, Any] | None = None,
    quiet_buyer: bool = False,
    dedupe: str = "",
) -> None:
    """One event: its line in the audit trail and its notifications, in the caller's unit of
    work. ``quiet_buyer``: the buyer is in the conversation that caused it and saw it there."""
    if event.audit_action is not None:
        await record_audit(
            uow, case, actor, event.audit_action, before, after, at, event.note, data
        )
    if quiet_buyer and actor.role is not Role.BUYER:
        actor = dataclasses.replace(actor, role=Role.BUYER, user_id=None)
    await notify.queue(uow, config, case, event, at, actor=actor, dedupe=dedupe)


async def _load(uow: UnitOfWork, ctx: CoreContext, actor: Actor, number: str) -> Case:
    await check_actor_role(uow, ctx.config, actor)
    case = await uow.cases.get_by_number(number.strip().upper())
    if case is None:
        # a buyer guessing numbers learns nothing about other buyers' cases
        raise NotFound("no such case", code="case_not_found")
    await check_case_access(uow, ctx.config, actor, case)
    return case


# (case, agents on duty: asked only with ``asks_agents_on_duty``) → events; none: no change
Act = Callable[[Case, bool], list[ev.CaseEvent]]


async def _change(
    ctx: CoreContext,
    actor: Actor,
    number: str,
    act: Act,
    *,
    expected_version: int | None = None,
    expected_status: CaseStatus | None = None,
    data: dict[str, Any] | None = None,
    buyer_told: bool = False,
    asks_agents_on_duty: bool = False,
) -> Case:
    """Apply one action to a case, atomically, or refuse it with a clear error: load, let the
    case decide, save, record its events; an action that returns no event changed nothing and
    is not saved. ``buyer_told``: the bot tells the buyer itself, in order with what it sends
    next. ``asks_agents_on_duty``: the action depends on it (a decision, which a seller takes
    in an agent's place when none is on duty); the others are not made to look it up."""
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        case = await _load(uow, ctx, actor, number)
        stale = (expected_version is not None and case.version != expected_version) or (
            expected_status is not None and case.status is not expected_status
        )
        if stale:
            raise Conflict(
                "somebody else changed this case first",
                code="already_handled",
                status=case.status.value,
            )
        before = case.status
        changed = dataclasses.replace(case)
        on_duty = await agents_on_duty(uow, ctx.config, case.shop) if asks_agents_on_duty else True
        events = act(changed, on_duty)
        if not events:
            return case
        changed.updated_at = now
        if changed.status is not before or any(
            isinstance(e, ev.LabelIssued | ev.RefundFailed) for e in events
        ):
            changed.deadline_at = deadline_for(ctx.config, changed.status, now)
        saved = await uow.cases.save(changed)
        for event in events:
            await _record(
                uow,
                ctx.config,
                saved,
                actor,
                event,
                before,
                saved.status,
                now,
                data=data,
                quiet_buyer=buyer_told,
            )
        await csat.after_change(uow, ctx.config, saved, before, events, now)  # surveys
        await supplier_claims.open_on_approval(uow, ctx.config, saved, events, now)
        await uow.commit()
    return saved


def _amount_data(amount: Money | None) -> dict[str, Any]:
    if amount is None:
        return {}
    return {"amount": amount.as_dict()}


async def approve(
    ctx: CoreContext,
    actor: Actor,
    number: str,
    resolution: Resolution,
    *,
    refund_amount: Money | None = None,
    note: str | None = None,
    expected_version: int | None = None,
    expected_status: CaseStatus | None = None,
) -> Case:
    """Approve with the proposed resolution or another the policy allows; a partial refund
    needs an amount up to what the policy offered."""
    note = _clean_text(note, MAX_NOTE, "note")
    return await _change(
        ctx,
        actor,
        number,
        lambda case, on_duty: case.approve(
            actor, resolution, refund_amount, note, agents_on_duty=on_duty
        ),
        expected_version=expected_version,
        expected_status=expected_status,
        data={"resolution": resolution.value, **_amount_data(refund_amount)},
        asks_agents_on_duty=True,
    )


async def reject(
    ctx: CoreContext,
    actor: Actor,
    number: str,
    note: str,
    *,
    expected_version: int | None = None,
    expected_status: CaseStatus | None = None,
) -> Case:
    """Reject; the buyer is told the reason and how to ask for a person."""
    note = _clean_text(note, MAX_NOTE, "reason") or ""
    return await _change(
        ctx,
        actor,
        number,
        lambda case, on_duty: case.reject(actor, note, agents_on_duty=on_duty),
        expected_version=expected_version,
        expected_status=expected_status,
        asks_agents_on_duty=True,
    )


async def request_info(
    ctx: CoreContext,
    actor: Actor,
    number: str,
    what: str,
    *,
    missing: Sequence[str] = (),
    expected_version: int | None = None,
    expected_status: CaseStatus | None = None,
) -> Case:
    """Ask the buyer for more: a question and, optionally, what kind of evidence."""
    what = _clean_text(what, MAX_NOTE, "question") or ""
    return await _change(
        ctx,
        actor,
        number,
        lambda case, on_duty: case.request_info(
            actor, what, tuple(missing), agents_on_duty=on_duty
        ),
        expected_version=expected_version,
        expected_status=expected_status,
        data={"missing": list(missing)},
        asks_agents_on_duty=True,
    )


async def provide_info(ctx: CoreContext, actor: Actor, number: str) -> Case:
    """The buyer has sent what was asked. The policy looks again: still missing evidence is
    refused, a claim now complete under the automatic limit is approved at once."""
    async with ctx.unit_of_work() as uow:
        case = await _load(uow, ctx, actor, number)
        order = await uow.orders.get(case.order_id)
        assert order is not None and case.id is not None
        decision = await _decide(
            ctx,
            uow,
            order,
            [Claim(line.line_no, line.quantity) for line in case.lines],
            case.reason,
            evidence_count(case.evidence, case.description),
            exclude_case=case.id,
            proof=case.buyer_proof,
        )
        counts = evidence_count(case.evidence, case.description)
        decision = await _with_signals(ctx, uow, case.shop, decision, case.signals or (), counts)
    assessment = assessment_of(decision)
    return await _change(ctx, actor, number, lambda case, _: case.provide_info(actor, assessment))


async def escalate(
    ctx: CoreContext,
    actor: Actor,
    number: str,
    note: str | None = None,
    *,
    expected_version: int | None = None,
) -> Case:
    """Hand the case to a person (the buyer asked, the seller wants help, or a timer ran out).
    An approved case keeps its status (the return or refund goes on); an agent watches it."""
    return await _change(
        ctx,
        actor,
        number,
        lambda case, _: case.escalate(actor, note),
        expected_version=expected_version,
    )


async def issue_label(
    ctx: CoreContext,
    actor: Actor,
    number: str,
    note: str | None = None,
    *,
    expected_version: int | None = None,
) -> Case:
    """Return instructions or a prepaid label were sent to the buyer."""
    note = _clean_text(note, MAX_DESCRIPTION, "instructions")
    return await _change(
        ctx,
        actor,
        number,
        lambda case, _: case.issue_label(actor, note),
        expected_version=expected_version,
    )


async def mark_return_shipped(
    ctx: CoreContext,
    actor: Actor,
    number: str,
    tracking: str | None = None,
    *,
    carrier: str | None = None,
    expected_version: int | None = None,
) -> Case:
    """The goods are on their way back: the case waits on the carrier, for the configured
    transit time, instead of running out while the parcel travels."""
    tracking = _clean_text(tracking, MAX_TRACKING, "tracking number")
    carrier = _clean_text(carrier, MAX_TRACKING, "carrier")
    arrive_by = ctx.now() + timedelta(days=ctx.config.lifecycle.return_transit_days)
    return await _change(
        ctx,
        actor,
        number,
        lambda case, _: case.mark_return_shipped(actor, carrier, tracking, arrive_by),
        data={"tracking": tracking, "carrier": carrier},
        expected_version=expected_version,
    )


async def mark_goods_received(
    ctx: CoreContext, actor: Actor, number: str, *, expected_version: int | None = None
) -> Case:
    return await _change(
        ctx,
        actor,
        number,
        lambda case, _: case.mark_goods_received(actor),
        expected_version=expected_version,
    )


async def mark_goods_lost(
    ctx: CoreContext,
    actor: Actor,
    number: str,
    note: str | None = None,
    *,
    expected_version: int | None = None,
) -> Case:
    note = _clean_text(note, MAX_NOTE, "note")
    return await _change(
        ctx,
        actor,
        number,
        lambda case, _: case.mark_goods_lost(actor, note),
        expected_version=expected_version,
    )


async def record_refund(
    ctx: CoreContext,
    actor: Actor,
    number: str,
    amount: Money,
    reference: str | None = None,
    *,
    expected_version: int | None = None,
) -> Case:
    """The money went back: amount and reference are recorded and the case is resolved."""
    reference = _clean_text(reference, 128, "reference")
    return await _change(
        ctx,
        actor,
        number,
        lambda case, _: case.record_refund(actor, amount, reference),
        data={**_amount_data(amount), "reference": reference},
        expected_version=expected_version,
    )


async def record_refund_failed(
    ctx: CoreContext,
    actor: Actor,
    number: str,
    note: str | None = None,
    *,
    expected_version: int | None = None,
) -> Case:
    """The payment provider refused the refund: the buyer is told, the case waits on."""
    note = _clean_text(note, MAX_NOTE, "note")
    return await _change(
        ctx,
        actor,
        number,
        lambda case, _: case.record_refund_failed(actor, note),
        expected_version=expected_version,
    )


async def record_replacement(
    ctx: CoreContext,
    actor: Actor,
    number: str,
    tracking: str | None = None,
    *,
    expected_version: int | None = None,
) -> Case:
    """A replacement, exchange or reship went out; the buyer gets the tracking number."""
    tracking = _clean_text(tracking, MAX_TRACKING, "tracking number")
    return await _change(
        ctx,
        actor,
        number,
        lambda case, _: case.ship_replacement(actor, tracking),
        data={"tracking": tracking},
        expected_version=expected_version,
    )


async def resolve(
    ctx: CoreContext,
    actor: Actor,
    number: str,
    note: str | None = None,
    *,
    expected_version: int | None = None,
) -> Case:
    """Close an approved case whose outcome needs no money or parcel (address changed, …)."""
    note = _clean_text(note, MAX_NOTE, "note")
    return await _change(
        ctx,
        actor,
        number,
        lambda case, _: case.close(actor, note),
        expected_version=expected_version,
    )


async def withdraw(ctx: CoreContext, actor: Actor, number: str) -> Case:
    return await _change(ctx, actor, number, lambda case, _: case.withdraw(actor))


async def cancel(
    ctx: CoreContext, actor: Actor, number: str, note: str, *, expected_version: int | None = None
) -> Case:
    """Staff call the case off; the buyer reads the reason."""
    note = _clean_text(note, MAX_NOTE, "reason") or ""
    return await _change(
        ctx,
        actor,
        number,
        lambda case, _: case.cancel(actor, note),
        expected_version=expected_version,
    )


async def reopen(
    ctx: CoreContext,
    actor: Actor,
    number: str,
    note: str | None = None,
    *,
    expected_version: int | None = None,
) -> Case:
    """A buyer who disagrees reaches a person; staff reopen to decide again."""
    return await _change(
        ctx,
        actor,
        number,
        lambda case, _: case.reopen(actor, note),
        expected_version=expected_version,
    )


async def take_over(
    ctx: CoreContext,
    actor: Actor,
    number: str,
    *,
    buyer_told: bool = False,
    expected_version: int | None = None,
) -> Case:
    """An agent owns the conversation: the bot stops answering this buyer on its own. Taking
    a case one already owns changes nothing. ``buyer_told``: the agent's first message is
    on its way, and the bot says "an agent has joined" right before it."""

    def take(case: Case, _: bool) -> list[ev.CaseEvent]:
        if case.refusal(Action.TAKE, actor) == ErrorCode.ALREADY_HANDLED:
            return []  # already this agent's: nothing to change
        return case.take(actor)

    return await _change(
        ctx, actor, number, take, buyer_told=buyer_told, expected_version=expected_version
    )


async def hand_back(
    ctx: CoreContext, actor: Actor, number: str, *, expected_version: int | None = None
) -> Case:
    return await _change(
        ctx, actor, number, lambda case, _: case.hand_back(actor), expected_version=expected_version
    )


async def available_actions(ctx: CoreContext, actor: Actor, case: Case) -> list[Action]:
    """What ``actor`` may do on ``case`` now: the list every keyboard is built from."""
    async with ctx.unit_of_work() as uow:
        on_duty = await agents_on_duty(uow, ctx.config, case.shop)
    return case.available_actions(actor, agents_on_duty=on_duty)


async def run_timers(ctx: CoreContext) -> dict[str, int]:
    """Deadlines that passed: a case waiting on the buyer closes (an approved one goes on
    without the answer); one waiting on a seller goes to an agent; a return parcel that
    should have arrived is put in front of the shop, never closed. Safe to run from several
    processes: a stale case is skipped, not doubled."""
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        due = await uow.cases.due(now)
    done = {"expired": 0, "escalated": 0, "back_to_shop": 0, "return_overdue": 0}
    system = Actor.system()
    for case in due:
        act: Act | None = None
        match case.status:
            case CaseStatus.AWAITING_BUYER_INFO if case.resolution is not None:
                act, counter = (lambda c, _: c.provide_info(system, None)), "back_to_shop"
            case CaseStatus.AWAITING_BUYER_INFO | CaseStatus.AWAITING_RETURN:
                act, counter = (lambda c, _: c.expire(system)), "expired"
            case CaseStatus.AWAITING_SELLER | CaseStatus.REOPENED if not case.escalated:
                act, counter = (lambda c, _: c.escalate(system, "seller_decision")), "escalated"
            case CaseStatus.RETURN_IN_TRANSIT:
                act, counter = (lambda c, _: c.return_overdue()), "return_overdue"
        if act is None:
            continue
        try:
            await _change(ctx, system, case.number, act, expected_version=case.version)
        except Conflict:
            continue  # somebody acted on it meanwhile
        except CoreError as exc:  # one case the timer cannot move must not stop the others
            log.warning("timer left case %s as it is: %s", case.number, exc.code)
            continue
        done[counter] += 1
    done["surveys_asked"] = await csat.ask_due(ctx)  # a while after a case was settled
    return done


REMIND_BEFORE = timedelta(hours=24)
# Who is reminded of a deadline coming, by what the case waits for.
BUYER_REMINDED = frozenset({CaseStatus.AWAITING_BUYER_INFO, CaseStatus.AWAITING_RETURN})
SELLER_REMINDED = frozenset(
    {
        CaseStatus.AWAITING_SELLER,
        CaseStatus.REOPENED,
        CaseStatus.AWAITING_RESOLUTION,
        CaseStatus.RETURN_IN_TRANSIT,
    }
)


async def send_reminders(ctx: CoreContext) -> int:
    """A day before a deadline, whoever the case waits on is reminded (the buyer is warned
    that it will close); an escalated case past its first-response time nudges the agents.
    Once per waiting period: the reminder's key carries the case version."""
    now = ctx.now()
    queued = 0
    async with ctx.unit_of_work() as uow:
        for case in await uow.cases.due(now + REMIND_BEFORE):
            assert case.deadline_at is not None
            due = case.deadline_at.isoformat()
            event: ev.CaseEvent
            if case.status is CaseStatus.AWAITING_AGENT:
                if case.deadline_at > now:
                    continue
                event = ev.AgentNudged()
            elif case.deadline_at <= now:
                continue  # the timers act on it
            elif case.status in BUYER_REMINDED and not (
                case.status is CaseStatus.AWAITING_BUYER_INFO and case.resolution is not None
            ):
                event = ev.BuyerReminded(due=due)
            elif case.status in SELLER_REMINDED:
                event = ev.SellerReminded(due=due)
            else:
                continue
            queued += await notify.queue(uow, ctx.config, case, event, now)
        await uow.commit()
    return queued


def _check_evidence_count(
    ctx: CoreContext, kept: Sequence[Evidence], new: Sequence[Evidence]
) -> None:
    """The same cap at opening and later: a case keeps at most ``evidence_max_files``
    (a file sent twice counts once)."""
    limit = ctx.config.deployment.evidence_max_files
    known = {item.file_unique_id for item in kept}
    fresh = {item.file_unique_id for item in new} - known
    if len(known) + len(fresh) > limit:
        raise ValidationFailed(
            f"a case keeps at most {limit} files", code="too_much_evidence", limit=limit
        )


async def add_evidence(
    ctx: CoreContext, actor: Actor, number: str, evidence: Sequence[Evidence]
) -> tuple[Case, int]:
    """Add photos or videos to an open case; a file sent twice is kept once."""
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        case = await _load(uow, ctx, actor, number)
        if not case.is_open:
            raise ValidationFailed("the case is closed", code="case_closed")
        if actor.role is Role.BUYER and case.status not in (
            CaseStatus.AWAITING_BUYER_INFO,
            CaseStatus.AWAITING_SELLER,
            CaseStatus.AWAITING_AGENT,
            CaseStatus.AWAITING_RETURN,  # a photo of the postage receipt
        ):
            raise ValidationFailed(
                "the case is not waiting for evidence", code="not_waiting_on_you"
            )
        assert case.id is not None
        _check_evidence_count(ctx, case.evidence, evidence)
        added = 0
        for item in evidence:
            stamped = dataclasses.replace(item, added_at=item.added_at or now, added_by=actor.role)
            if await uow.cases.add_evidence(case.id, stamped):
                added += 1
        if added:
            order = await uow.orders.get(case.order_id)
            assert order is not None
            refreshed = await signals_for(
                ctx,
                uow,
                order=order,
                buyer_id=case.buyer_id,
                reason=case.reason,
                claims=[(line.line_no, line.quantity) for line in case.lines],
                window_ends=case.decision.deadlines.get("window_ends"),
                case_id=case.id,
            )
            await uow.cases.set_signals(case.id, [signal.to_json() for signal in refreshed])
            await record_audit(
                uow,
                case,
                actor,
                "evidence_added",
                case.status,
                case.status,
                now,
                data={"count": added},
            )
        await uow.commit()
        fresh = await uow.cases.get(case.id)
    assert fresh is not None
    return fresh, added


@dataclass(frozen=True, slots=True)
class MessageReceipt:
    """A message stored on the case, and how to answer its author: ``slow_down`` when they
    write faster than ``[lifecycle] buyer_messages_per_minute`` (asked once a minute),
    ``quiet`` for the messages after that in the same minute (stored, not answered)."""

    case: Case
    slow_down: bool = False
    quiet: bool = False


async def add_message(
    ctx: CoreContext, actor: Actor, number: str, text: str, *, notify_others: bool = True
) -> Case:
    """A message on the case timeline (the buyer's words, or a staff note for the buyer).
    ``notify_others=False`` when the message was relayed live (an agent's conversation)."""
    receipt = await post_message(ctx, actor, number, text, notify_others=notify_others)
    return receipt.case


async def post_message(
    ctx: CoreContext, actor: Actor, number: str, text: str, *, notify_others: bool = True
) -> MessageReceipt:
    """``add_message``, saying also whether the buyer floods. Every message is stored; the
    staff alerts of a buyer's follow-ups are coalesced (``[lifecycle] followup_alert_minutes``:
    at most one per case and recipient per window, saying how many came)."""
    text_clean = _clean_text(text, MAX_DESCRIPTION, "message")
    if not text_clean:
        raise ValidationFailed("the message is empty", code="empty")
    now = ctx.now()
    lifecycle = ctx.config.lifecycle
    async with ctx.unit_of_work() as uow:
        case = await _load(uow, ctx, actor, number)
        if not case.is_open:
            raise ValidationFailed("the case is closed", code="case_closed")
        event = ev.MessagePosted(text=text_clean, author=actor.role.value)
        await record_audit(
            uow, case, actor, "message", case.status, case.status, now, note=text_clean
        )
        assert case.id is not None
        trail = await uow.cases.audit_trail(case.id)
        if notify_others:
            sequence = len(trail)  # messages keep the version
            by_buyer = actor.role is Role.BUYER
            await notify.queue(
                uow,
                ctx.config,
                case,
                event,
                now,
                actor=actor,
                dedupe=f"m{sequence}",
                coalesce=timedelta(minutes=lifecycle.followup_alert_minutes) if by_buyer else None,
            )
        await uow.commit()
    if actor.role is not Role.BUYER:
        return MessageReceipt(case)
    minute = now.replace(second=0, microsecond=0)
    this_minute = sum(
        1
        for entry in trail
        if entry.action == "message"
        and entry.actor_role is Role.BUYER
        and entry.actor_id == actor.user_id
        and ensure_utc(entry.at) >= minute
    )
    limit = lifecycle.buyer_messages_per_minute
    return MessageReceipt(case, slow_down=this_minute == limit + 1, quiet=this_minute > limit + 1)


# ── reading cases ──────────────────────────────────────────────────────────────────────────


async def get_case(ctx: CoreContext, actor: Actor, number: str) -> CaseView:
    async with ctx.unit_of_work() as uow:
        case = await _load(uow, ctx, actor, number)
        order = await uow.orders.get(case.order_id)
        assert order is not None and case.id is not None
        timeline = await uow.cases.audit_trail(case.id)
    if actor.role is Role.BUYER:  # internal notes and the shop's costs are for staff only
        timeline = [event for event in timeline if event.action not in STAFF_ONLY_ACTIONS]
    return CaseView(case, order, timeline)


async def buyer_cases(ctx: CoreContext, actor: Actor, *, open_only: bool = False) -> list[Case]:
    if actor.role is not Role.BUYER or actor.user_id is None:
        raise Forbidden("only buyers have their own cases", code="forbidden")
    async with ctx.unit_of_work() as uow:
        return await uow.cases.list_for_buyer(actor.user_id, open_only=open_only)


@long_statements
async def open_cases(
    ctx: CoreContext,
    actor: Actor,
    *,
    status: CaseStatus | None = None,
    reason: Reason | None = None,
) -> list[Case]:
    """A seller's or agent's queue: open cases of their shops, the nearest deadline first."""
    async with ctx.unit_of_work() as uow:
        if actor.role not in (Role.SELLER, Role.AGENT):
            raise Forbidden("only staff see the case queue", code="not_staff")
        shops = await staff_shops(uow, ctx.config, actor)
        if not shops:
            raise Forbidden("not a seller of any shop", code="not_staff")
        return await uow.cases.list_open_for_shops(
            shops,
            status=status.value if status else None,
            reason=reason.value if reason else None,
        )


async def add_note(ctx: CoreContext, actor: Actor, number: str, text: str) -> Case:
    """An internal note on the timeline: staff only, never shown to the buyer."""
    if actor.role not in (Role.SELLER, Role.AGENT):
        raise Forbidden("only staff write notes", code="role_not_allowed")
    note = _clean_text(text, MAX_NOTE, "note")
    if not note:
        raise ValidationFailed("the note is empty", code="empty")
    async with ctx.unit_of_work() as uow:
        case = await _load(uow, ctx, actor, number)
        await record_audit(uow, case, actor, "note", case.status, case.status, ctx.now(), note=note)
        await uow.commit()
    return case


async def agent_owned_case(ctx: CoreContext, buyer_id: int) -> Case | None:
    """The buyer's open case an agent has taken over: the bot then only relays."""
    async with ctx.unit_of_work() as uow:
        return await uow.cases.agent_owned_for_buyer(buyer_id)


async def set_agent_topic(ctx: CoreContext, case: Case, topic_id: int) -> None:
    assert case.id is not None
    async with ctx.unit_of_work() as uow:
        await uow.cases.set_agent_topic(case.id, topic_id)
        await uow.commit()


async def case_of_topic(ctx: CoreContext, topic_id: int) -> Case | None:
    async with ctx.unit_of_work() as uow:
        return await uow.cases.by_agent_topic(topic_id)

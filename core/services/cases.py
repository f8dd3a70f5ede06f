"""Use cases of a return case: open it, decide it, move it through its lifecycle, list it.

Every change goes through ``_change``: it loads the case, checks who acts, validates the
transition against the lifecycle table, writes the audit event and queues the notifications,
all in one transaction. Two staff pressing at once: the case version makes the second one fail
with a Conflict, so nothing is applied twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.cases.lifecycle import (
    Action,
    CaseStatus,
    GoodsStatus,
    MoneyStatus,
    Role,
    check_transition,
)
from core.cases.model import Actor, AuditEvent, Case, CaseLine, Evidence, Owner
from core.cases.reasons import Reason, Resolution
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.money import Money
from core.orders.model import Order
from core.persistence.unit_of_work import UnitOfWork
from core.policy.config import Config
from core.policy.decision import Claim, Decision, EvidenceCount, Review, decide
from core.services import notify
from core.services.access import check_actor_role, check_case_access, is_agent, seller_shops
from core.services.context import CoreContext
from core.services.linking import owns

MAX_DESCRIPTION = 4000
MAX_NOTE = 1000


# Refusals about the claim itself (no such line, too many units): nothing for a person to weigh.
STRUCTURAL_REFUSALS = frozenset(
    {
        "unknown_line",
        "quantity_invalid",
        "no_items_chosen",
        "line_in_other_case",
        "quantity_exceeds",
    }
)


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
    decision: dict[str, Any]  # Decision.to_dict(): what the buyer was shown
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


async def _buyer_order(uow: UnitOfWork, actor: Actor, order_id: int) -> Order:
    if actor.role is not Role.BUYER or actor.user_id is None:
        raise Forbidden("only a buyer opens a case", code="forbidden")
    order = await uow.orders.get(order_id)
    if order is None or not await owns(uow, actor, order):
        raise Forbidden("not linked to this order", code="order_not_linked")
    return order


async def _decide(
    ctx: CoreContext,
    uow: UnitOfWork,
    order: Order,
    claims: Sequence[Claim],
    reason: Reason,
    evidence: EvidenceCount,
    exclude_case: int | None = None,
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
    )


async def preview(
    ctx: CoreContext,
    actor: Actor,
    order_id: int,
    claims: Sequence[Claim],
    reason: Reason,
    evidence: EvidenceCount,
) -> Decision:
    """The decision the buyer would get, shown in the summary before confirming."""
    async with ctx.unit_of_work() as uow:
        order = await _buyer_order(uow, actor, order_id)
        return await _decide(ctx, uow, order, claims, reason, evidence)


def _initial_state(
    case: Case, decision: Decision, new: NewCase, config: Config, now: datetime
) -> None:
    """Where a new case starts: waiting on the buyer for what is missing, on a person, or
    approved at once. A claim the policy refuses reaches a person only when the buyer asked
    for one: an agent may still make an exception."""
    if not decision.eligible:
        case.status = CaseStatus.AWAITING_AGENT
        case.escalated = True
    elif decision.missing:
        case.status = CaseStatus.AWAITING_BUYER_INFO
        case.escalated = decision.review is Review.AGENT or new.wants_person
    elif decision.review is Review.AGENT or new.wants_person:
        case.status = CaseStatus.AWAITING_AGENT
        case.escalated = True
    elif not _approve_automatically(case, decision):
        case.status = CaseStatus.AWAITING_SELLER
    case.deadline_at = deadline_for(config, case.status, now)


def _approve_automatically(case: Case, decision: Decision) -> bool:
    """Approve at once when the policy allows it, with the buyer's preferred outcome if it
    is offered. A partial refund always needs a person to set the amount."""
    if (
        not decision.eligible
        or decision.review is not Review.AUTOMATIC
        or case.preferred_resolution is Resolution.PARTIAL_REFUND
    ):
        return False
    resolution = (
        case.preferred_resolution
        if case.preferred_resolution in decision.resolutions
        else decision.resolutions[0]
    )
    _apply_approval(case, resolution, None, Role.SYSTEM)
    return True


def _resume_after_approval(case: Case) -> None:
    """An approved case that was waiting on the buyer goes back to where it stood."""
    case.status = (
        CaseStatus.AWAITING_RETURN
        if case.goods is GoodsStatus.NOT_RETURNED and case.return_required
        else CaseStatus.AWAITING_RESOLUTION
    )


def _returns_goods(case: Case, resolution: Resolution) -> bool:
    """Goods come back when the policy says so, unless the buyer keeps them by this outcome."""
    keeps_item = resolution in (
        Resolution.PARTIAL_REFUND,
        Resolution.RESHIP,
        Resolution.CANCEL,
        Resolution.ADDRESS_CHANGE,
    )
    return bool(case.decision_snapshot.get("return_required")) and not keeps_item


def _apply_approval(case: Case, resolution: Resolution, amount: Money | None, by: Role) -> None:
    case.resolution = resolution
    case.decided_by = by
    case.return_required = _returns_goods(case, resolution)
    if not case.return_required:
        case.return_paid_by = None
    case.goods = GoodsStatus.NOT_RETURNED if case.return_required else GoodsStatus.NOT_REQUIRED
    if resolution.moves_money:
        case.refund_amount = amount if amount is not None else _refundable(case)
        case.money = MoneyStatus.PENDING if case.refund_amount.minor > 0 else MoneyStatus.REFUNDED
    else:
        case.refund_amount = None
        case.money = MoneyStatus.NONE
    case.status = (
        CaseStatus.AWAITING_RETURN if case.return_required else CaseStatus.AWAITING_RESOLUTION
    )


async def open_case(ctx: CoreContext, actor: Actor, new: NewCase) -> CaseOpened:
    """Open a case for a buyer's claim: decide it by the policy, store it with its evidence,
    audit it and tell the buyer and the shop."""
    description = _clean_text(new.description, MAX_DESCRIPTION, "description")
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        order = await _buyer_order(uow, actor, new.order_id)
        assert order.id is not None
        existing = await _same_open_case(uow, order.id, actor, new)
        if existing is not None:  # a double tap or a redelivered update: the same case
            return CaseOpened(existing, existing.decision_snapshot, created=False)
        await _refuse_if_rejected_before(uow, order.id, actor, new)
        counts = evidence_count(new.evidence, description)
        decision = await _decide(ctx, uow, order, new.claims, new.reason, counts)
        if not decision.eligible and not (
            new.wants_person and decision.refusal not in STRUCTURAL_REFUSALS
        ):
            raise NotEligible(decision)
        number = await uow.cases.next_number(
            now.strftime("%y%m"), ctx.config.deployment.case_prefix
        )
        case = Case(
            number=number,
            shop=order.shop,
            order_id=order.id,
            order_number=order.number,
            buyer_id=actor.user_id,
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
            decision_snapshot=decision.to_dict(),
            evidence=tuple(
                dataclasses.replace(e, added_at=e.added_at or now) for e in _unique(new.evidence)
            ),
        )
        _initial_state(case, decision, new, ctx.config, now)
        try:
            case = await uow.cases.add(case)
        except Conflict:
            existing = await _same_open_case(uow, order.id, actor, new)
            if existing is not None:
                return CaseOpened(existing, existing.decision_snapshot, created=False)
            raise
        await _audit(
            uow,
            case,
            actor,
            "open",
            None,
            case.status,
            now,
            data={
                "review": decision.review.value,
                "refund_total": decision.to_dict()["refund_total"],
            },
        )
        if case.resolution is not None:
            await _audit(
                uow,
                case,
                Actor.system(),
                "approve",
                case.status,
                case.status,
                now,
                data={"resolution": case.resolution.value, "automatic": True},
            )
        await notify.queue(
            uow,
            ctx.config,
            case,
            "case_opened",
            now,
            to_agents=case.escalated,
            review=decision.review.value,
        )
        await uow.commit()
    return CaseOpened(case, case.decision_snapshot, created=True)


async def _refuse_if_rejected_before(
    uow: UnitOfWork, order_id: int, actor: Actor, new: NewCase
) -> None:
    """A claim the shop rejected is reviewed by a person (reopen), not re-filed until one
    slips through."""
    lines = {claim.line_no for claim in new.claims}
    for case in await uow.cases.list_for_buyer(actor.user_id or 0):
        if (
            case.order_id == order_id
            and case.status is CaseStatus.REJECTED
            and lines & {line.line_no for line in case.lines}
        ):
            raise ValidationFailed(
                "this item's earlier claim was rejected: reopen it for a person to review",
                code="previously_rejected",
                case=case.number,
            )


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
        order = await _buyer_order(uow, actor, order_id)
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


async def _audit(
    uow: UnitOfWork,
    case: Case,
    actor: Actor,
    action: str,
    before: CaseStatus | None,
    after: CaseStatus | None,
    at: datetime,
    note: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    assert case.id is not None
    event = AuditEvent(
        case_number=case.number,
        at=at,
        actor_role=actor.role,
        actor_id=actor.user_id,
        action=action,
        from_status=before,
        to_status=after,
        note=note,
        data=data or {},
    )
    await uow.cases.add_audit(event, case.id)


async def _load(uow: UnitOfWork, ctx: CoreContext, actor: Actor, number: str) -> Case:
    await check_actor_role(uow, ctx.config, actor)
    case = await uow.cases.get_by_number(number.strip().upper())
    if case is None:
        # a buyer guessing numbers learns nothing about other buyers' cases
        raise NotFound("no such case", code="case_not_found")
    await check_case_access(uow, ctx.config, actor, case)
    return case


async def _change(
    ctx: CoreContext,
    actor: Actor,
    number: str,
    action: Action,
    mutate: Callable[[Case], None],
    *,
    notification: str,
    note: str | None = None,
    expected_version: int | None = None,
    data: dict[str, Any] | None = None,
    to_agents: bool = False,
    audit_action: str | None = None,
) -> Case:
    """Apply one lifecycle action to a case, atomically, or refuse it with a clear error."""
    note = _clean_text(note, MAX_NOTE, "note")
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        case = await _load(uow, ctx, actor, number)
        if expected_version is not None and case.version != expected_version:
            raise Conflict(
                "somebody else changed this case first",
                code="already_handled",
                status=case.status.value,
            )
        before = case.status
        changed = dataclasses.replace(case)
        mutate(changed)
        check_transition(action, before, changed.status, actor.role)
        changed.updated_at = now
        if changed.status != before or action in (Action.ISSUE_LABEL,):
            changed.deadline_at = deadline_for(ctx.config, changed.status, now)
        saved = await uow.cases.save(changed)
        await _audit(
            uow,
            saved,
            actor,
            audit_action or action.value,
            before,
            saved.status,
            now,
            note=note,
            data=data,
        )
        await notify.queue(
            uow,
            ctx.config,
            saved,
            notification,
            now,
            to_agents=to_agents,
            actor_id=actor.user_id,
            note=note,
            **(data or {}),
        )
        await uow.commit()
    return saved


async def approve(
    ctx: CoreContext,
    actor: Actor,
    number: str,
    resolution: Resolution,
    *,
    refund_amount: Money | None = None,
    note: str | None = None,
    expected_version: int | None = None,
) -> Case:
    """Approve with the proposed resolution or another the policy allows; a partial refund
    needs an amount up to what the policy offered."""

    def mutate(case: Case) -> None:
        allowed = case.decision_snapshot.get("resolutions") or []
        if resolution.value not in allowed:
            raise ValidationFailed(
                f"{resolution} is not allowed for this case",
                code="resolution_not_allowed",
                allowed=allowed,
            )
        amount = _check_amount(case, resolution, refund_amount)
        _apply_approval(case, resolution, amount, actor.role)
        case.decision_note = note

    data: dict[str, Any] = {"resolution": resolution.value}
    if refund_amount is not None:
        data["amount"] = {
            "amount": refund_amount.as_decimal_string(),
            "currency": refund_amount.currency,
        }
    return await _change(
        ctx,
        actor,
        number,
        Action.APPROVE,
        mutate,
        notification="approved",
        note=note,
        expected_version=expected_version,
        data=data,
    )


def _refundable(case: Case) -> Money:
    """What the policy offered, less what was already paid on this case."""
    offered = Money.parse(
        (case.decision_snapshot.get("refund_total") or {}).get("amount", "0"), case.currency
    )
    return (offered - (case.refunded_amount or Money.zero(case.currency))).clamp_min_zero()


def _check_amount(case: Case, resolution: Resolution, amount: Money | None) -> Money | None:
    offered = _refundable(case)
    if resolution is Resolution.PARTIAL_REFUND and amount is None:
        raise ValidationFailed("a partial refund needs an amount", code="amount_required")
    if amount is None:
        return None
    return _within(case, amount, offered)


def _within(case: Case, amount: Money, maximum: Money) -> Money:
    """An amount in the case's currency, above zero and at most ``maximum``."""
    if amount.currency != case.currency:
        raise ValidationFailed(
            f"the amount must be in {case.currency}",
            code="wrong_currency",
            currency=case.currency,
        )
    if amount.minor <= 0 or amount > maximum:
        raise ValidationFailed(
            f"the amount must be above zero and at most {maximum}",
            code="amount_out_of_range",
            maximum=maximum.as_decimal_string(),
            currency=case.currency,
        )
    return amount


async def reject(
    ctx: CoreContext, actor: Actor, number: str, note: str, *, expected_version: int | None = None
) -> Case:
    """Reject; the buyer is told the reason and how to ask for a person."""
    if not note or not note.strip():
        raise ValidationFailed("a rejection needs a reason for the buyer", code="reason_required")

    def mutate(case: Case) -> None:
        case.status = CaseStatus.REJECTED
        case.decided_by = actor.role
        case.decision_note = note.strip()
        case.money = MoneyStatus.NONE

    return await _change(
        ctx,
        actor,
        number,
        Action.REJECT,
        mutate,
        notification="rejected",
        note=note,
        expected_version=expected_version,
    )


async def request_info(
    ctx: CoreContext,
    actor: Actor,
    number: str,
    what: str,
    *,
    missing: Sequence[str] = (),
    expected_version: int | None = None,
) -> Case:
    """Ask the buyer for more: a question and, optionally, what kind of evidence."""
    if not what or not what.strip():
        raise ValidationFailed("say what the buyer must send", code="reason_required")

    def mutate(case: Case) -> None:
        case.status = CaseStatus.AWAITING_BUYER_INFO

    return await _change(
        ctx,
        actor,
        number,
        Action.REQUEST_INFO,
        mutate,
        notification="info_requested",
        note=what,
        expected_version=expected_version,
        data={"missing": list(missing)},
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
        ):
            raise ValidationFailed(
                "the case is not waiting for evidence", code="not_waiting_on_you"
            )
        assert case.id is not None
        added = 0
        for item in evidence:
            stamped = dataclasses.replace(item, added_at=item.added_at or now, added_by=actor.role)
            if await uow.cases.add_evidence(case.id, stamped):
                added += 1
        if added:
            await _audit(
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


async def add_message(
    ctx: CoreContext, actor: Actor, number: str, text: str, *, notify_others: bool = True
) -> Case:
    """A message on the case timeline (the buyer's words, or a staff note for the buyer).
    ``notify_others=False`` when the message was relayed live (an agent's conversation)."""
    text_clean = _clean_text(text, MAX_DESCRIPTION, "message")
    if not text_clean:
        raise ValidationFailed("the message is empty", code="empty")
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        case = await _load(uow, ctx, actor, number)
        if not case.is_open:
            raise ValidationFailed("the case is closed", code="case_closed")
        await _audit(uow, case, actor, "message", case.status, case.status, now, note=text_clean)
        assert case.id is not None
        sequence = len(await uow.cases.audit_trail(case.id))  # messages leave the version alone
        if not notify_others:
            await uow.commit()
            return case
        await notify.queue(
            uow,
            ctx.config,
            case,
            "message",
            now,
            dedupe=f"m{sequence}",
            to_buyer=actor.role is not Role.BUYER,
            to_staff=actor.role is Role.BUYER,
            to_agents=actor.role is Role.BUYER and case.escalated,
            text=text_clean,
        )
        await uow.commit()
    return case


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
        )
    if decision.missing and case.resolution is None:
        raise ValidationFailed(
            "evidence still missing",
            code="evidence_still_missing",
            missing=[{"what": m.what, "count": m.count} for m in decision.missing],
        )

    def mutate(case: Case) -> None:
        if case.resolution is None:
            case.decision_snapshot = decision.to_dict()  # what is missing now, not at opening
        if case.resolution is not None:
            _resume_after_approval(case)
        elif case.escalated or decision.review is Review.AGENT:
            case.status = CaseStatus.AWAITING_AGENT
            case.escalated = True
        elif not _approve_automatically(case, decision):
            case.status = CaseStatus.AWAITING_SELLER

    case = await _change(
        ctx, actor, number, Action.PROVIDE_INFO, mutate, notification="info_provided"
    )
    if (
        case.decided_by is Role.SYSTEM
        and case.status in (CaseStatus.AWAITING_RETURN, CaseStatus.AWAITING_RESOLUTION)
        and case.resolution is not None
    ):
        async with ctx.unit_of_work() as uow:  # the automatic approval, audited like any other
            await _audit(
                uow,
                case,
                Actor.system(),
                "approve",
                case.status,
                case.status,
                ctx.now(),
                data={"resolution": case.resolution.value, "automatic": True},
            )
            await notify.queue(uow, ctx.config, case, "approved", ctx.now())
            await uow.commit()
    return case


async def escalate(ctx: CoreContext, actor: Actor, number: str, note: str | None = None) -> Case:
    """Hand the case to a person (the buyer asked, the seller wants help, or a timer ran out).
    An approved case keeps its status (the return or refund goes on); an agent watches it."""

    def mutate(case: Case) -> None:
        if case.resolution is None:
            case.status = CaseStatus.AWAITING_AGENT
        case.escalated = True

    return await _change(
        ctx,
        actor,
        number,
        Action.ESCALATE,
        mutate,
        notification="escalated",
        note=note,
        to_agents=True,
    )


async def issue_label(ctx: CoreContext, actor: Actor, number: str, note: str | None = None) -> Case:
    """Return instructions or a prepaid label were sent to the buyer."""

    def mutate(case: Case) -> None:
        case.goods = GoodsStatus.LABEL_ISSUED

    return await _change(
        ctx, actor, number, Action.ISSUE_LABEL, mutate, notification="label_issued", note=note
    )


async def mark_return_shipped(
    ctx: CoreContext, actor: Actor, number: str, tracking: str | None = None
) -> Case:
    tracking = _clean_text(tracking, 64, "tracking number")

    def mutate(case: Case) -> None:
        case.status = CaseStatus.RETURN_IN_TRANSIT
        case.goods = GoodsStatus.IN_TRANSIT
        case.return_tracking = tracking

    return await _change(
        ctx,
        actor,
        number,
        Action.RETURN_SHIPPED,
        mutate,
        notification="return_shipped",
        data={"tracking": tracking},
    )


async def mark_goods_received(ctx: CoreContext, actor: Actor, number: str) -> Case:
    def mutate(case: Case) -> None:
        case.status = CaseStatus.AWAITING_RESOLUTION
        case.goods = GoodsStatus.RECEIVED

    return await _change(
        ctx, actor, number, Action.GOODS_RECEIVED, mutate, notification="goods_received"
    )


async def mark_goods_lost(
    ctx: CoreContext, actor: Actor, number: str, note: str | None = None
) -> Case:
    def mutate(case: Case) -> None:
        case.status = CaseStatus.AWAITING_SELLER
        case.goods = GoodsStatus.LOST

    return await _change(
        ctx, actor, number, Action.GOODS_LOST, mutate, notification="goods_lost", note=note
    )


async def record_refund(
    ctx: CoreContext, actor: Actor, number: str, amount: Money, reference: str | None = None
) -> Case:
    """The money went back: amount and reference are recorded and the case is resolved."""
    reference = _clean_text(reference, 128, "reference")

    def mutate(case: Case) -> None:
        if case.resolution is None or not case.resolution.moves_money:
            raise ValidationFailed("this case was not decided as a refund", code="no_refund_due")
        _within(case, amount, case.refund_amount or Money.zero(case.currency))
        case.refunded_amount = (case.refunded_amount or Money.zero(case.currency)) + amount
        case.refund_reference = reference
        case.money = MoneyStatus.REFUNDED
        case.status = CaseStatus.RESOLVED

    return await _change(
        ctx,
        actor,
        number,
        Action.RESOLVE,
        mutate,
        notification="refunded",
        audit_action="refund_recorded",
        data={
            "amount": {"amount": amount.as_decimal_string(), "currency": amount.currency},
            "reference": reference,
        },
    )


async def record_refund_failed(ctx: CoreContext, actor: Actor, number: str, note: str) -> Case:
    """The payment provider refused the refund: the money status says so, the case waits on."""
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        case = await _load(uow, ctx, actor, number)
        if actor.role not in (Role.SELLER, Role.AGENT, Role.SYSTEM):
            raise Forbidden("only staff record refunds", code="role_not_allowed")
        if case.money is not MoneyStatus.PENDING:
            raise ValidationFailed("no refund is pending", code="no_refund_due")
        case.money = MoneyStatus.FAILED
        case.updated_at = now
        saved = await uow.cases.save(case)
        await _audit(
            uow,
            saved,
            actor,
            "refund_failed",
            saved.status,
            saved.status,
            now,
            note=_clean_text(note, MAX_NOTE, "note"),
        )
        await uow.commit()
    return saved


async def record_replacement(
    ctx: CoreContext, actor: Actor, number: str, tracking: str | None = None
) -> Case:
    """A replacement, exchange or reship went out; the buyer gets the tracking number."""
    tracking = _clean_text(tracking, 64, "tracking number")

    def mutate(case: Case) -> None:
        if case.resolution not in (Resolution.REPLACEMENT, Resolution.EXCHANGE, Resolution.RESHIP):
            raise ValidationFailed(
                "this case was not decided as a replacement", code="no_replacement_due"
            )
        case.replacement_tracking = tracking
        case.status = CaseStatus.RESOLVED

    return await _change(
        ctx,
        actor,
        number,
        Action.RESOLVE,
        mutate,
        notification="resolved",
        audit_action="replacement_shipped",
        data={"tracking": tracking},
    )


async def resolve(ctx: CoreContext, actor: Actor, number: str, note: str | None = None) -> Case:
    """Close an approved case whose outcome needs no money or parcel (address changed, …)."""

    def mutate(case: Case) -> None:
        if case.money in (MoneyStatus.PENDING, MoneyStatus.FAILED):  # the buyer is still owed
            raise ValidationFailed("record the refund first", code="refund_pending")
        case.status = CaseStatus.RESOLVED

    return await _change(
        ctx, actor, number, Action.RESOLVE, mutate, notification="resolved", note=note
    )


async def withdraw(ctx: CoreContext, actor: Actor, number: str) -> Case:
    def mutate(case: Case) -> None:
        case.status = CaseStatus.CANCELLED
        case.money = MoneyStatus.NONE if case.money is MoneyStatus.PENDING else case.money

    return await _change(
        ctx, actor, number, Action.WITHDRAW, mutate, notification="withdrawn", to_agents=False
    )


async def cancel(ctx: CoreContext, actor: Actor, number: str, note: str) -> Case:
    if not note or not note.strip():
        raise ValidationFailed("say why the case is cancelled", code="reason_required")

    def mutate(case: Case) -> None:
        case.status = CaseStatus.CANCELLED
        case.decision_note = note.strip()
        case.money = MoneyStatus.NONE if case.money is MoneyStatus.PENDING else case.money

    return await _change(
        ctx, actor, number, Action.CANCEL, mutate, notification="cancelled", note=note
    )


async def reopen(ctx: CoreContext, actor: Actor, number: str, note: str | None = None) -> Case:
    """A buyer who disagrees reaches a person; staff reopen to decide again."""

    def mutate(case: Case) -> None:
        if actor.role is Role.BUYER and case.status is CaseStatus.REJECTED:
            case.status = CaseStatus.AWAITING_AGENT
            case.escalated = True
        else:
            case.status = CaseStatus.REOPENED
        case.resolution = None
        case.money = MoneyStatus.NONE if case.money is not MoneyStatus.REFUNDED else case.money

    return await _change(
        ctx,
        actor,
        number,
        Action.REOPEN,
        mutate,
        notification="reopened",
        note=note,
        to_agents=actor.role is Role.BUYER,
    )


async def _set_owner(
    ctx: CoreContext, actor: Actor, number: str, owner: Owner, notification: str, action: str
) -> Case:
    if actor.role is not Role.AGENT:
        raise Forbidden("only an agent takes over a conversation", code="role_not_allowed")
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        case = await _load(uow, ctx, actor, number)
        if not case.is_open:
            raise ValidationFailed("the case is closed", code="case_closed")
        if case.owner is Owner.AGENT and case.owner_agent_id not in (None, actor.user_id):
            raise Conflict("another agent has this conversation", code="taken_by_other_agent")
        case.owner = owner
        case.owner_agent_id = actor.user_id if owner is Owner.AGENT else None
        case.updated_at = now
        saved = await uow.cases.save(case)
        await _audit(uow, saved, actor, action, saved.status, saved.status, now)
        await notify.queue(uow, ctx.config, saved, notification, now)
        await uow.commit()
    return saved


async def take_over(ctx: CoreContext, actor: Actor, number: str) -> Case:
    """An agent owns the conversation: the bot stops answering this buyer on its own."""
    return await _set_owner(ctx, actor, number, Owner.AGENT, "agent_joined", "take_over")


async def hand_back(ctx: CoreContext, actor: Actor, number: str) -> Case:
    return await _set_owner(ctx, actor, number, Owner.BOT, "bot_back", "hand_back")


async def run_timers(ctx: CoreContext) -> dict[str, int]:
    """Deadlines that passed: a case waiting on the buyer closes; one waiting on a seller goes
    to an agent. Safe to run from several processes: a stale case is skipped, not doubled."""
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        due = await uow.cases.due(now)
    done = {"expired": 0, "escalated": 0, "back_to_shop": 0}
    system = Actor.system()
    for case in due:
        try:
            if case.status is CaseStatus.AWAITING_BUYER_INFO and case.resolution is not None:
                await _change(
                    ctx,
                    system,
                    case.number,
                    Action.PROVIDE_INFO,
                    _resume_after_approval,
                    notification="info_not_received",
                    expected_version=case.version,
                    data={"timer": "buyer_info"},
                )
                done["back_to_shop"] += 1
            elif case.status in (CaseStatus.AWAITING_BUYER_INFO, CaseStatus.AWAITING_RETURN):

                def expire(c: Case) -> None:
                    c.status = CaseStatus.CANCELLED
                    c.money = MoneyStatus.NONE if c.money is MoneyStatus.PENDING else c.money

                await _change(
                    ctx,
                    system,
                    case.number,
                    Action.EXPIRE,
                    expire,
                    notification="expired",
                    expected_version=case.version,
                )
                done["expired"] += 1
            elif case.status in (CaseStatus.AWAITING_SELLER, CaseStatus.REOPENED):

                def to_agent(c: Case) -> None:
                    c.status = CaseStatus.AWAITING_AGENT
                    c.escalated = True

                await _change(
                    ctx,
                    system,
                    case.number,
                    Action.ESCALATE,
                    to_agent,
                    notification="escalated",
                    expected_version=case.version,
                    to_agents=True,
                    data={"timer": "seller_decision"},
                )
                done["escalated"] += 1
        except Conflict:
            continue  # somebody acted on it meanwhile
    return done


REMIND_BEFORE = timedelta(hours=24)
REMINDERS = {  # who is reminded of a deadline coming, by what the case waits for
    CaseStatus.AWAITING_BUYER_INFO: "reminder_buyer",
    CaseStatus.AWAITING_RETURN: "reminder_buyer",
    CaseStatus.AWAITING_SELLER: "reminder_seller",
    CaseStatus.REOPENED: "reminder_seller",
    CaseStatus.AWAITING_RESOLUTION: "reminder_seller",
}


async def send_reminders(ctx: CoreContext) -> int:
    """A day before a deadline, whoever the case waits on is reminded (the buyer is warned
    that it will close); an escalated case past its first-response time nudges the agents.
    Once per waiting period: the reminder's key carries the case version."""
    now = ctx.now()
    queued = 0
    async with ctx.unit_of_work() as uow:
        for case in await uow.cases.due(now + REMIND_BEFORE):
            assert case.deadline_at is not None
            if case.status is CaseStatus.AWAITING_AGENT:
                if case.deadline_at > now:
                    continue
                kind, to_buyer, to_staff, to_agents = "agent_nudge", False, False, True
            elif case.status in REMINDERS and case.deadline_at > now:
                kind = REMINDERS[case.status]
                to_buyer = kind == "reminder_buyer"
                to_staff, to_agents = not to_buyer, False
            else:
                continue
            queued += await notify.queue(
                uow,
                ctx.config,
                case,
                kind,
                now,
                to_buyer=to_buyer,
                to_staff=to_staff,
                to_agents=to_agents,
            )
        await uow.commit()
    return queued


# ── reading cases ──────────────────────────────────────────────────────────────────────────


async def get_case(ctx: CoreContext, actor: Actor, number: str) -> CaseView:
    async with ctx.unit_of_work() as uow:
        case = await _load(uow, ctx, actor, number)
        order = await uow.orders.get(case.order_id)
        assert order is not None and case.id is not None
        timeline = await uow.cases.audit_trail(case.id)
    if actor.role is Role.BUYER:  # internal notes are for staff only
        timeline = [event for event in timeline if event.action != "note"]
    return CaseView(case, order, timeline)


async def buyer_cases(ctx: CoreContext, actor: Actor, *, open_only: bool = False) -> list[Case]:
    if actor.role is not Role.BUYER or actor.user_id is None:
        raise Forbidden("only buyers have their own cases", code="forbidden")
    async with ctx.unit_of_work() as uow:
        return await uow.cases.list_for_buyer(actor.user_id, open_only=open_only)


async def open_cases(
    ctx: CoreContext,
    actor: Actor,
    *,
    status: CaseStatus | None = None,
    reason: Reason | None = None,
) -> list[Case]:
    """A seller's queue: open cases of their shops, the nearest deadline first. Agents see all."""
    async with ctx.unit_of_work() as uow:
        if actor.role is Role.SELLER and actor.user_id is not None:
            shops = await seller_shops(uow, ctx.config, actor.user_id)
        elif (
            actor.role is Role.AGENT
            and actor.user_id is not None
            and await is_agent(uow, ctx.config, actor.user_id)
        ):
            shops = list(ctx.config.shops)
        else:
            raise Forbidden("only staff see the case queue", code="not_staff")
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
        await _audit(uow, case, actor, "note", case.status, case.status, ctx.now(), note=note)
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

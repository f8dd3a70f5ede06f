"""Case entities: a case covers lines of one order, with evidence and an audit trail."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.cases import events as ev
from core.cases.lifecycle import (
    TRANSITIONS,
    Action,
    CaseStatus,
    GoodsStatus,
    MoneyStatus,
    Role,
    table_refusal,
)
from core.cases.reasons import Party, Reason, Resolution
from core.errors import Conflict, CoreError, ErrorCode, InvalidTransition, ValidationFailed
from core.money import Money
from core.policy.record import DecisionRecord
from core.policy.signals import Signal

# Outcomes carried out by sending goods, and outcomes by which the buyer keeps the item.
SHIPPING_RESOLUTIONS = frozenset({Resolution.REPLACEMENT, Resolution.EXCHANGE, Resolution.RESHIP})
KEEPS_ITEM = frozenset(
    {Resolution.PARTIAL_REFUND, Resolution.RESHIP, Resolution.CANCEL, Resolution.ADDRESS_CHANGE}
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a buyer, a seller or agent (by Telegram user id), or the system."""

    role: Role
    user_id: int | None = None
    name: str | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls(Role.SYSTEM)

    @classmethod
    def buyer(cls, user_id: int, name: str | None = None) -> Actor:
        return cls(Role.BUYER, user_id, name)

    @classmethod
    def seller(cls, user_id: int, name: str | None = None) -> Actor:
        return cls(Role.SELLER, user_id, name)

    @classmethod
    def agent(cls, user_id: int, name: str | None = None) -> Actor:
        return cls(Role.AGENT, user_id, name)


@dataclass(frozen=True, slots=True)
class CaseLine:
    line_no: int
    quantity: int


class EvidenceKind(StrEnum):
    PHOTO = "photo"
    VIDEO = "video"
    DOCUMENT = "document"  # an image or video sent as a file


@dataclass(frozen=True, slots=True)
class Evidence:
    kind: EvidenceKind
    file_unique_id: str  # Telegram's stable id: the dedup key for redelivered updates
    file_id: str | None = None  # Telegram's id to re-send the file
    sha256: str | None = None  # content address in the evidence store, once downloaded
    size: int | None = None
    mime_type: str | None = None
    media_group_id: str | None = None
    caption: str | None = None
    added_at: datetime | None = None
    added_by: Role = Role.BUYER
    # what the stored picture looks like (pHash, hex) and, for a file, its camera's date (EXIF):
    # kept in evidence_fingerprints for the abuse signals (core/services/fingerprints.py)
    phash: str | None = None
    taken_at: datetime | None = None

    @property
    def is_video(self) -> bool:
        return self.kind is EvidenceKind.VIDEO or (
            self.mime_type is not None and self.mime_type.startswith("video/")
        )


class Owner(StrEnum):
    BOT = "bot"
    AGENT = "agent"


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the policy says of a claim as it stands, in the terms the case needs."""

    eligible: bool
    missing: bool  # evidence or words still to come from the buyer
    review: str  # automatic | seller | agent | none
    resolutions: tuple[Resolution, ...]
    record: DecisionRecord  # the decision as shown to the buyer


@dataclass(slots=True)
class Case:
    number: str
    shop: str
    order_id: int
    order_number: str
    buyer_id: int | None  # the Telegram user who opened it
    reason: Reason
    status: CaseStatus
    lines: tuple[CaseLine, ...]
    opened_at: datetime
    updated_at: datetime
    currency: str  # the order's currency: every amount of the case is in it
    description: str | None = None
    preferred_resolution: Resolution | None = None
    resolution: Resolution | None = None  # what was decided
    decided_by: Role | None = None
    decision_note: str | None = None  # why (a rejection needs one)
    refund_amount: Money | None = None  # what the decision grants
    refunded_amount: Money | None = None  # what was recorded as paid
    refund_reference: str | None = None
    return_required: bool = False
    return_paid_by: Party | None = None
    goods: GoodsStatus = GoodsStatus.NOT_REQUIRED
    money: MoneyStatus = MoneyStatus.NONE
    owner: Owner = Owner.BOT
    owner_agent_id: int | None = None
    agent_topic_id: int | None = None  # the forum topic where agents talk about this case
    # how the account that opened it proved it owns the order (token | email | phone_last4 |
    # postal_code | import): a weak proof keeps address changes and cancellations for a person
    buyer_proof: str | None = None
    escalated: bool = False
    deadline_at: datetime | None = None
    return_tracking: str | None = None
    replacement_tracking: str | None = None
    decision: DecisionRecord = field(default_factory=DecisionRecord)  # as shown to the buyer
    evidence: tuple[Evidence, ...] = ()
    # signs of abuse for staff to look at, each with its numbers (core/policy/signals.py):
    # never shown to the buyer, never a refusal; None: not computed (or erased)
    signals: tuple[Signal, ...] | None = None
    version: int = 1  # optimistic concurrency: two staff pressing at once
    id: int | None = None

    @property
    def waiting_on(self) -> str:
        return self.status.waiting_on.value

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    # ── what may happen next ──────────────────────────────────────────────────────────────

    def refusal(self, action: Action, actor: Actor, *, agents_on_duty: bool = True) -> str | None:
        """Why ``actor`` may not do ``action`` now (an error code), or None when they may.
        The lifecycle table first, then the case's facts: its goods, money, outcome, owner."""
        code = table_refusal(action, self.status, actor.role)
        if code is not None:
            return code
        role = actor.role
        match action:
            case Action.APPROVE | Action.REJECT | Action.REQUEST_INFO:
                if (
                    self.status is CaseStatus.AWAITING_AGENT
                    and role is Role.SELLER
                    and agents_on_duty
                ):
                    return ErrorCode.NEEDS_AN_AGENT
                if action is Action.APPROVE and not self.allowed_resolutions():
                    return ErrorCode.RESOLUTION_NOT_ALLOWED
            case Action.ESCALATE:
                if self.escalated:
                    return ErrorCode.ALREADY_ESCALATED
            case Action.ISSUE_LABEL | Action.RETURN_SHIPPED | Action.GOODS_RECEIVED:
                if not self.return_required:
                    return ErrorCode.NO_RETURN_DUE
            case Action.RECORD_REFUND:
                if self.money not in (MoneyStatus.PENDING, MoneyStatus.FAILED):
                    return ErrorCode.NO_REFUND_DUE
            case Action.REFUND_FAILED:
                if self.money is not MoneyStatus.PENDING:
                    return ErrorCode.NO_REFUND_DUE
            case Action.SHIP_REPLACEMENT:
                if self.resolution not in SHIPPING_RESOLUTIONS:
                    return ErrorCode.NO_REPLACEMENT_DUE
            case Action.CLOSE:
                if self.money in (MoneyStatus.PENDING, MoneyStatus.FAILED):
                    return ErrorCode.REFUND_PENDING
                if self.resolution in SHIPPING_RESOLUTIONS:
                    return ErrorCode.REPLACEMENT_PENDING
            case Action.TAKE:
                if self.owner is Owner.AGENT and self.owner_agent_id == actor.user_id:
                    return ErrorCode.ALREADY_HANDLED
                if self.owner is Owner.AGENT and self.owner_agent_id is not None:
                    return ErrorCode.TAKEN_BY_OTHER_AGENT
            case Action.HAND_BACK:
                if self.owner is not Owner.AGENT or (
                    role is not Role.SYSTEM and self.owner_agent_id != actor.user_id
                ):
                    return ErrorCode.NOT_YOUR_CONVERSATION
            case Action.REOPEN:
                if role is Role.BUYER and self.status is not CaseStatus.REJECTED:
                    return ErrorCode.WRONG_STATUS  # a resolved case: the buyer asks a person
            case Action.PROVIDE_INFO:
                if role is Role.SYSTEM and self.resolution is None:
                    return ErrorCode.WRONG_STATUS  # only an approved case goes on unanswered
            case Action.EXPIRE:
                if self.status is CaseStatus.AWAITING_BUYER_INFO and self.resolution is not None:
                    return ErrorCode.WRONG_STATUS  # an approved case goes on without the answer
        return None

    def available_actions(self, actor: Actor, *, agents_on_duty: bool = True) -> list[Action]:
        """Everything ``actor`` may do on this case now, in the table's order: the one list
        every keyboard is built from."""
        return [
            action
            for action in TRANSITIONS
            if self.refusal(action, actor, agents_on_duty=agents_on_duty) is None
        ]

    def allowed_resolutions(self) -> list[Resolution]:
        """The outcomes the policy offers, the buyer's preferred one first."""
        offered = [Resolution(r) for r in self.decision.resolutions]
        if self.preferred_resolution in offered:
            offered.remove(self.preferred_resolution)
            offered.insert(0, self.preferred_resolution)
        return offered

    def _require(self, action: Action, actor: Actor, *, agents_on_duty: bool = True) -> None:
        code = self.refusal(action, actor, agents_on_duty=agents_on_duty)
        if code is None:
            return
        error: type[CoreError] = InvalidTransition
        if code == ErrorCode.TAKEN_BY_OTHER_AGENT:
            error = Conflict
        elif code not in (
            ErrorCode.WRONG_STATUS,
            ErrorCode.ROLE_NOT_ALLOWED,
            ErrorCode.CASE_CLOSED,
            ErrorCode.UNKNOWN_ACTION,
        ):
            error = ValidationFailed
        raise error(f"a {actor.role} cannot {action} case {self.number} now", code=code)

    def _moved(self, action: Action, before: CaseStatus) -> None:
        """A method's result must be a target the table names for the action."""
        if self.status not in TRANSITIONS[action].targets and self.status is not before:
            raise InvalidTransition(f"{action} cannot lead to {self.status}", code="wrong_target")

    # ── the actions ───────────────────────────────────────────────────────────────────────

    def open(self, assessment: Assessment, *, wants_person: bool) -> list[ev.CaseEvent]:
        """Where a new case starts: waiting on the buyer for what is missing, on a person, or
        approved at once. A claim the policy refuses reaches a person only when the buyer
        asked for one: an agent may still make an exception."""
        to_agent = assessment.review == "agent" or wants_person
        events: list[ev.CaseEvent] = []
        if not assessment.eligible:
            self.status, self.escalated = CaseStatus.AWAITING_AGENT, True
        elif assessment.missing:
            self.status, self.escalated = CaseStatus.AWAITING_BUYER_INFO, to_agent
        elif to_agent:
            self.status, self.escalated = CaseStatus.AWAITING_AGENT, True
        else:
            self.status = CaseStatus.AWAITING_SELLER
        events.append(ev.CaseOpened(review=assessment.review))
        if self.status is CaseStatus.AWAITING_SELLER:
            events += self._approve_automatically(assessment)
        return events

    def _approve_automatically(self, assessment: Assessment) -> list[ev.CaseEvent]:
        """Approve at once when the policy allows it, with the buyer's preferred outcome if it
        is offered. A partial refund always needs a person to set the amount."""
        if (
            not assessment.eligible
            or assessment.review != "automatic"
            or self.preferred_resolution is Resolution.PARTIAL_REFUND
            or not assessment.resolutions
        ):
            return []
        resolution = (
            self.preferred_resolution
            if self.preferred_resolution in assessment.resolutions
            else assessment.resolutions[0]
        )
        self._apply_approval(resolution, None, Role.SYSTEM)
        return [
            ev.Approved(
                resolution=resolution.value,
                amount=self._amount(),
                automatic=True,
                decided_by=Role.SYSTEM.value,
            )
        ]

    def _amount(self) -> dict[str, str] | None:
        if self.refund_amount is None or self.resolution is None:
            return None
        if not self.resolution.moves_money:
            return None
        return self.refund_amount.as_dict()

    def request_info(
        self,
        actor: Actor,
        question: str,
        missing: tuple[str, ...] = (),
        *,
        agents_on_duty: bool = True,
    ) -> list[ev.CaseEvent]:
        question = (question or "").strip()
        if not question:
            raise ValidationFailed("say what the buyer must send", code="reason_required")
        self._require(Action.REQUEST_INFO, actor, agents_on_duty=agents_on_duty)
        self.status = CaseStatus.AWAITING_BUYER_INFO
        return [ev.InfoRequested(question=question, missing=tuple(missing))]

    def provide_info(self, actor: Actor, assessment: Assessment | None) -> list[ev.CaseEvent]:
        """The buyer sent what was asked (``assessment``: the policy's look at the claim now),
        or, from the system, the buyer did not answer in time on an approved case."""
        self._require(Action.PROVIDE_INFO, actor)
        before = self.status
        if self.resolution is not None:  # approved already: back to where it stood
            self._resume_after_approval()
            self._moved(Action.PROVIDE_INFO, before)
            if actor.role is Role.SYSTEM:
                return [ev.InfoNotReceived()]
            return [ev.InfoProvided()]
        if actor.role is Role.SYSTEM or assessment is None:
            raise InvalidTransition(
                "an undecided case needs the buyer's answer", code="wrong_status"
            )
        if assessment.missing:
            raise ValidationFailed(
                "evidence still missing",
                code="evidence_still_missing",
                missing=[m.model_dump() for m in assessment.record.missing],
            )
        self.decision = assessment.record  # what is missing now, not at opening
        events: list[ev.CaseEvent] = [ev.InfoProvided()]
        if self.escalated or assessment.review == "agent":
            self.status, self.escalated = CaseStatus.AWAITING_AGENT, True
        else:
            self.status = CaseStatus.AWAITING_SELLER
            events += self._approve_automatically(assessment)
        self._moved(Action.PROVIDE_INFO, before)
        return events

    def approve(
        self,
        actor: Actor,
        resolution: Resolution,
        amount: Money | None = None,
        note: str | None = None,
        *,
        agents_on_duty: bool = True,
    ) -> list[ev.CaseEvent]:
        """Approve with the proposed resolution or another the policy allows; a partial refund
        needs an amount up to what the policy offered."""
        self._require(Action.APPROVE, actor, agents_on_duty=agents_on_duty)
        allowed = self.allowed_resolutions()
        if resolution not in allowed:
            raise ValidationFailed(
                f"{resolution} is not allowed for this case",
                code="resolution_not_allowed",
                allowed=[r.value for r in allowed],
            )
        if resolution is Resolution.PARTIAL_REFUND and amount is None:
            raise ValidationFailed("a partial refund needs an amount", code="amount_required")
        if amount is not None:
            self._within(amount, self.refundable())
        self._apply_approval(resolution, amount, actor.role)
        self.decision_note = note
        return [
            ev.Approved(
                resolution=resolution.value,
                amount=self._amount(),
                decided_by=actor.role.value,
                decider_name=actor.name,
            )
        ]

    def reject(
        self, actor: Actor, reason: str, *, agents_on_duty: bool = True
    ) -> list[ev.CaseEvent]:
        reason = (reason or "").strip()
        if not reason:
            raise ValidationFailed(
                "a rejection needs a reason for the buyer", code="reason_required"
            )
        self._require(Action.REJECT, actor, agents_on_duty=agents_on_duty)
        self.status = CaseStatus.REJECTED
        self.decided_by = actor.role
        self.decision_note = reason
        self.money = MoneyStatus.NONE
        return [ev.Rejected(reason=reason, decided_by=actor.role.value, decider_name=actor.name)]

    def issue_label(self, actor: Actor, instructions: str | None) -> list[ev.CaseEvent]:
        self._require(Action.ISSUE_LABEL, actor)
        self.goods = GoodsStatus.LABEL_ISSUED
        return [ev.LabelIssued(instructions=instructions)]

    def mark_return_shipped(
        self,
        actor: Actor,
        carrier: str | None = None,
        tracking: str | None = None,
        arrive_by: datetime | None = None,
    ) -> list[ev.CaseEvent]:
        """The buyer posted the goods back (they say so, or the shop saw the tracking)."""
        self._require(Action.RETURN_SHIPPED, actor)
        self.status = CaseStatus.RETURN_IN_TRANSIT
        self.goods = GoodsStatus.IN_TRANSIT
        self.return_tracking = " ".join(p for p in (carrier, tracking) if p) or None
        return [
            ev.ReturnShipped(
                carrier=carrier,
                tracking=tracking,
                arrive_by=arrive_by.isoformat() if arrive_by else None,
            )
        ]

    def mark_goods_received(self, actor: Actor) -> list[ev.CaseEvent]:
        self._require(Action.GOODS_RECEIVED, actor)
        self.status = CaseStatus.AWAITING_RESOLUTION
        self.goods = GoodsStatus.RECEIVED
        return [ev.GoodsReceived()]

    def mark_goods_lost(self, actor: Actor, detail: str | None = None) -> list[ev.CaseEvent]:
        """The return parcel is lost: the buyer sent it, so the outcome stands; the shop
        settles it (and claims from the carrier) or cancels it with a reason the buyer reads."""
        self._require(Action.GOODS_LOST, actor)
        self.status = CaseStatus.AWAITING_RESOLUTION
        self.goods = GoodsStatus.LOST
        return [ev.GoodsLost(detail=detail)]

    def record_refund(
        self, actor: Actor, amount: Money, reference: str | None = None
    ) -> list[ev.CaseEvent]:
        """The money went back: amount and reference are recorded and the case is resolved."""
        self._require(Action.RECORD_REFUND, actor)
        self._within(amount, self.refund_amount or Money.zero(self.currency))
        self.refunded_amount = (self.refunded_amount or Money.zero(self.currency)) + amount
        self.refund_reference = reference
        self.money = MoneyStatus.REFUNDED
        self.status = CaseStatus.RESOLVED
        return [ev.RefundRecorded(amount=amount.as_dict(), reference=reference)]

    def record_refund_failed(self, actor: Actor, detail: str | None) -> list[ev.CaseEvent]:
        """The payment provider refused the refund: the buyer is told, the shop pays again."""
        self._require(Action.REFUND_FAILED, actor)
        self.money = MoneyStatus.FAILED
        return [ev.RefundFailed(detail=detail)]

    def ship_replacement(self, actor: Actor, tracking: str | None) -> list[ev.CaseEvent]:
        """A replacement, exchange or reship went out; the buyer gets the tracking number."""
        self._require(Action.SHIP_REPLACEMENT, actor)
        self.replacement_tracking = tracking
        self.status = CaseStatus.RESOLVED
        return [ev.ReplacementShipped(tracking=tracking)]

    def close(self, actor: Actor, comment: str | None = None) -> list[ev.CaseEvent]:
        """An approved outcome that needs no money or parcel is done (address changed, …)."""
        self._require(Action.CLOSE, actor)
        self.status = CaseStatus.RESOLVED
        return [ev.Closed(comment=comment)]

    def escalate(self, actor: Actor, why: str | None = None) -> list[ev.CaseEvent]:
        """Hand the case to a person. An approved case keeps its status (the return or refund
        goes on); an agent watches it."""
        self._require(Action.ESCALATE, actor)
        if self.resolution is None:
            self.status = CaseStatus.AWAITING_AGENT
        self.escalated = True
        return [ev.Escalated(why=why)]

    def take(self, actor: Actor) -> list[ev.CaseEvent]:
        """An agent owns the conversation: the bot stops answering this buyer on its own."""
        self._require(Action.TAKE, actor)
        self.owner, self.owner_agent_id = Owner.AGENT, actor.user_id
        return [ev.AgentJoined()]

    def hand_back(self, actor: Actor) -> list[ev.CaseEvent]:
        self._require(Action.HAND_BACK, actor)
        self.owner, self.owner_agent_id = Owner.BOT, None
        return [ev.HandedBack()]

    def withdraw(self, actor: Actor) -> list[ev.CaseEvent]:
        self._require(Action.WITHDRAW, actor)
        self._call_off()
        return [ev.Withdrawn()]

    def cancel(self, actor: Actor, reason: str) -> list[ev.CaseEvent]:
        reason = (reason or "").strip()
        if not reason:
            raise ValidationFailed("say why the case is cancelled", code="reason_required")
        self._require(Action.CANCEL, actor)
        self._call_off()
        self.decision_note = reason
        return [ev.Cancelled(reason=reason)]

    def expire(self, actor: Actor) -> list[ev.CaseEvent]:
        self._require(Action.EXPIRE, actor)
        waited_for = self.status.value
        self._call_off()
        return [ev.Expired(waited_for=waited_for)]

    def reopen(self, actor: Actor, why: str | None = None) -> list[ev.CaseEvent]:
        """A buyer who disagrees with a rejection reaches a person; staff reopen to decide
        again."""
        self._require(Action.REOPEN, actor)
        if actor.role is Role.BUYER:
            self.status, self.escalated = CaseStatus.AWAITING_AGENT, True
        else:
            self.status = CaseStatus.REOPENED
        self.resolution = None
        if self.money is not MoneyStatus.REFUNDED:
            self.money = MoneyStatus.NONE
        return [ev.Reopened(why=why)]

    def return_overdue(self) -> list[ev.CaseEvent]:
        """The return should have arrived: staff are told to check the tracking and mark it
        received or lost. Nothing closes by itself while the goods are on their way."""
        if self.status is not CaseStatus.RETURN_IN_TRANSIT:
            raise InvalidTransition("no return on its way", code="wrong_status")
        self.deadline_at = None  # the shop acts now; no timer is left to run out
        return [ev.ReturnOverdue(tracking=self.return_tracking)]

    # ── helpers ───────────────────────────────────────────────────────────────────────────

    def _call_off(self) -> None:
        self.status = CaseStatus.CANCELLED
        if self.money in (MoneyStatus.PENDING, MoneyStatus.FAILED):
            self.money = MoneyStatus.NONE  # no refund is owed on a cancelled case

    def _resume_after_approval(self) -> None:
        self.status = (
            CaseStatus.AWAITING_RETURN
            if self.goods is GoodsStatus.NOT_RETURNED and self.return_required
            else CaseStatus.AWAITING_RESOLUTION
        )

    def _apply_approval(self, resolution: Resolution, amount: Money | None, by: Role) -> None:
        self.resolution = resolution
        self.decided_by = by
        # goods come back when the policy says so, unless the buyer keeps them by this outcome
        self.return_required = self.decision.return_required and resolution not in KEEPS_ITEM
        if not self.return_required:
            self.return_paid_by = None
        self.goods = GoodsStatus.NOT_RETURNED if self.return_required else GoodsStatus.NOT_REQUIRED
        if resolution.moves_money:
            self.refund_amount = amount if amount is not None else self.refundable()
            self.money = (
                MoneyStatus.PENDING if self.refund_amount.minor > 0 else MoneyStatus.REFUNDED
            )
        else:
            self.refund_amount = None
            self.money = MoneyStatus.NONE
        self.status = (
            CaseStatus.AWAITING_RETURN if self.return_required else CaseStatus.AWAITING_RESOLUTION
        )

    def refundable(self) -> Money:
        """What the policy offered, less what was already paid on this case."""
        offered = self.decision.refund_total_money(self.currency)
        return (offered - (self.refunded_amount or Money.zero(self.currency))).clamp_min_zero()

    def _within(self, amount: Money, maximum: Money) -> Money:
        """An amount in the case's currency, above zero and at most ``maximum``."""
        if amount.currency != self.currency:
            raise ValidationFailed(
                f"the amount must be in {self.currency}",
                code="wrong_currency",
                currency=self.currency,
            )
        if amount.minor <= 0 or amount > maximum:
            raise ValidationFailed(
                f"the amount must be above zero and at most {maximum}",
                code="amount_out_of_range",
                maximum=maximum.as_decimal_string(),
                currency=self.currency,
            )
        return amount


# Audit actions for staff's eyes only: internal notes and the shop's recorded costs. Never shown
# to the buyer (their case history, /mydata) nor uploaded to a platform (the evidence pack).
STAFF_ONLY_ACTIONS = frozenset({"note", "cost_recorded"})


@dataclass(frozen=True, slots=True)
class AuditEvent:
    case_number: str
    at: datetime
    actor_role: Role
    actor_id: int | None
    action: str
    from_status: CaseStatus | None
    to_status: CaseStatus | None
    note: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

"""What happened to a case, as typed domain events.

``Case`` methods return them; the services write each one to the audit trail and queue it in
the outbox for the people who hear of it. Each event type says here who hears of it
(``audience``): a role it does not name is told nothing, on purpose. The bot has one renderer
per event type and role, and a test checks that none is missing.

An event crosses the outbox as its ``kind`` and its fields (JSON primitives), and is rebuilt
on the other side with ``from_payload``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from core.cases.lifecycle import Role


class Audience(StrEnum):
    BUYER = "buyer"
    SELLERS = "sellers"  # the shop's sellers in private chat and the shop's staff group
    AGENTS = "agents"  # the agents' forum group (a topic per case) or each agent


class AgentsHear(StrEnum):
    NEVER = "never"
    IF_ESCALATED = "if_escalated"  # agents watch a case once it was passed to them
    ALWAYS = "always"


@dataclass(frozen=True, slots=True)
class CaseEvent:
    kind: ClassVar[str]
    audit_action: ClassVar[str | None] = None  # None: not written to the audit trail
    to_buyer: ClassVar[bool] = False
    to_sellers: ClassVar[bool] = False
    to_agents: ClassVar[AgentsHear] = AgentsHear.NEVER
    note_field: ClassVar[str | None] = None

    def audience(self, *, escalated: bool, actor: Role) -> frozenset[Audience]:
        """Who is told. Nobody is told of their own action: the buyer saw it in the chat,
        and the acting seller is skipped by the outbox."""
        heard = set()
        if self.to_buyer and actor is not Role.BUYER:
            heard.add(Audience.BUYER)
        if self.to_sellers:
            heard.add(Audience.SELLERS)
        if self.to_agents is AgentsHear.ALWAYS or (
            self.to_agents is AgentsHear.IF_ESCALATED and escalated
        ):
            heard.add(Audience.AGENTS)
        return frozenset(heard)

    @classmethod
    def possible_audience(cls) -> frozenset[Audience]:
        """Every role that may hear of this event type, whatever the case."""
        heard = set()
        if cls.to_buyer:
            heard.add(Audience.BUYER)
        if cls.to_sellers:
            heard.add(Audience.SELLERS)
        if cls.to_agents is not AgentsHear.NEVER:
            heard.add(Audience.AGENTS)
        return frozenset(heard)

    def fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> CaseEvent:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in payload.items() if k in names})

    @property
    def note(self) -> str | None:
        """What the audit trail keeps as the event's note: the field named by ``note_field``."""
        return getattr(self, self.note_field) if self.note_field else None


@dataclass(frozen=True, slots=True)
class CaseOpened(CaseEvent):
    kind = "case_opened"
    audit_action = "open"
    to_sellers = True
    to_agents = AgentsHear.IF_ESCALATED
    review: str = "seller"


@dataclass(frozen=True, slots=True)
class InfoRequested(CaseEvent):
    kind = "info_requested"
    audit_action = "request_info"
    to_buyer = True
    question: str = ""
    missing: tuple[str, ...] = ()
    note_field = "question"


@dataclass(frozen=True, slots=True)
class InfoProvided(CaseEvent):
    kind = "info_provided"
    audit_action = "provide_info"
    to_sellers = True
    to_agents = AgentsHear.IF_ESCALATED


@dataclass(frozen=True, slots=True)
class InfoNotReceived(CaseEvent):
    """The buyer did not answer in time on an approved case: the shop goes on with it."""

    kind = "info_not_received"
    audit_action = "provide_info"
    to_buyer = True
    to_sellers = True


@dataclass(frozen=True, slots=True)
class Approved(CaseEvent):
    kind = "approved"
    audit_action = "approve"
    to_buyer = True
    to_sellers = True  # an agent's or the system's decision the shop must carry out
    to_agents = AgentsHear.IF_ESCALATED
    resolution: str = ""
    amount: dict[str, str] | None = None
    automatic: bool = False
    decided_by: str = ""  # the role that decided: staff see who it was
    decider_name: str | None = None


@dataclass(frozen=True, slots=True)
class Rejected(CaseEvent):
    kind = "rejected"
    audit_action = "reject"
    to_buyer = True
    to_sellers = True
    to_agents = AgentsHear.IF_ESCALATED
    reason: str = ""
    decided_by: str = ""
    decider_name: str | None = None
    note_field = "reason"


@dataclass(frozen=True, slots=True)
class LabelIssued(CaseEvent):
    kind = "label_issued"
    audit_action = "issue_label"
    to_buyer = True
    instructions: str | None = None
    note_field = "instructions"


@dataclass(frozen=True, slots=True)
class ReturnShipped(CaseEvent):
    kind = "return_shipped"
    audit_action = "return_shipped"
    to_buyer = True  # when the shop marked it: the buyer sees their parcel is known
    to_sellers = True
    to_agents = AgentsHear.IF_ESCALATED
    carrier: str | None = None
    tracking: str | None = None
    arrive_by: str | None = None  # ISO date the shop expects it by

    @property
    def note(self) -> str | None:
        return " ".join(p for p in (self.carrier, self.tracking) if p) or None


@dataclass(frozen=True, slots=True)
class GoodsReceived(CaseEvent):
    kind = "goods_received"
    audit_action = "goods_received"
    to_buyer = True
    to_agents = AgentsHear.IF_ESCALATED


@dataclass(frozen=True, slots=True)
class GoodsLost(CaseEvent):
    kind = "goods_lost"
    audit_action = "goods_lost"
    to_buyer = True
    to_sellers = True
    to_agents = AgentsHear.IF_ESCALATED
    detail: str | None = None
    note_field = "detail"


@dataclass(frozen=True, slots=True)
class RefundRecorded(CaseEvent):
    kind = "refunded"
    audit_action = "refund_recorded"
    to_buyer = True
    to_agents = AgentsHear.IF_ESCALATED
    amount: dict[str, str] | None = None
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class RefundFailed(CaseEvent):
    kind = "refund_failed"
    audit_action = "refund_failed"
    to_buyer = True
    to_sellers = True
    to_agents = AgentsHear.IF_ESCALATED
    detail: str | None = None
    note_field = "detail"


@dataclass(frozen=True, slots=True)
class ReplacementShipped(CaseEvent):
    kind = "replacement_shipped"
    audit_action = "replacement_shipped"
    to_buyer = True
    to_agents = AgentsHear.IF_ESCALATED
    tracking: str | None = None


@dataclass(frozen=True, slots=True)
class Closed(CaseEvent):
    """An approved outcome that needed no money or parcel is done (an address changed, …)."""

    kind = "resolved"
    audit_action = "resolve"
    to_buyer = True
    to_agents = AgentsHear.IF_ESCALATED
    comment: str | None = None
    note_field = "comment"


@dataclass(frozen=True, slots=True)
class Escalated(CaseEvent):
    kind = "escalated"
    audit_action = "escalate"
    to_buyer = True
    to_sellers = True
    to_agents = AgentsHear.ALWAYS
    why: str | None = None  # buyer_asked | seller_asked | seller_decision (timer) | …
    note_field = "why"


@dataclass(frozen=True, slots=True)
class AgentJoined(CaseEvent):
    kind = "agent_joined"
    audit_action = "take_over"
    to_buyer = True


@dataclass(frozen=True, slots=True)
class HandedBack(CaseEvent):
    kind = "bot_back"
    audit_action = "hand_back"
    to_buyer = True


@dataclass(frozen=True, slots=True)
class Withdrawn(CaseEvent):
    kind = "withdrawn"
    audit_action = "withdraw"
    to_sellers = True
    to_agents = AgentsHear.IF_ESCALATED


@dataclass(frozen=True, slots=True)
class Cancelled(CaseEvent):
    kind = "cancelled"
    audit_action = "cancel"
    to_buyer = True
    to_sellers = True
    to_agents = AgentsHear.IF_ESCALATED
    reason: str = ""
    note_field = "reason"


@dataclass(frozen=True, slots=True)
class Expired(CaseEvent):
    kind = "expired"
    audit_action = "expire"
    to_buyer = True
    to_sellers = True
    to_agents = AgentsHear.IF_ESCALATED
    waited_for: str = ""  # the status that ran out of time


@dataclass(frozen=True, slots=True)
class Reopened(CaseEvent):
    kind = "reopened"
    audit_action = "reopen"
    to_buyer = True
    to_sellers = True
    to_agents = AgentsHear.IF_ESCALATED
    why: str | None = None
    note_field = "why"


@dataclass(frozen=True, slots=True)
class MessagePosted(CaseEvent):
    """Words on the case: the buyer's reach the staff, the staff's reach the buyer."""

    kind = "message"
    audit_action = "message"
    to_buyer = True
    to_sellers = True
    to_agents = AgentsHear.IF_ESCALATED
    text: str = ""
    author: str = "buyer"
    note_field = "text"

    def audience(self, *, escalated: bool, actor: Role) -> frozenset[Audience]:
        if actor is Role.BUYER:
            return frozenset({Audience.SELLERS, *([Audience.AGENTS] if escalated else [])})
        return frozenset({Audience.BUYER})


@dataclass(frozen=True, slots=True)
class ReadyReplySent(CaseEvent):
    """A ready reply (core/cases/replies.py) a seller or agent sent: the buyer reads the
    catalogue's sentence in their language with the case's ``values`` (JSON); the timeline
    keeps it as a message, worded as the catalogue's English source (``text``)."""

    kind = "ready_reply"
    audit_action = "message"
    to_buyer = True
    reply: str = ""
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    text: str = ""
    note_field = "text"


# Notices from the timers: no change of status, someone must act soon.


@dataclass(frozen=True, slots=True)
class BuyerReminded(CaseEvent):
    kind = "reminder_buyer"
    to_buyer = True
    due: str = ""  # ISO datetime of the deadline


@dataclass(frozen=True, slots=True)
class SellerReminded(CaseEvent):
    kind = "reminder_seller"
    to_sellers = True
    due: str = ""


@dataclass(frozen=True, slots=True)
class ReturnOverdue(CaseEvent):
    """The return parcel should have arrived: the shop checks its tracking, marks it received
    or lost. The case is never closed for it: the goods are on their way."""

    kind = "return_overdue"
    audit_action = "return_overdue"
    to_sellers = True
    to_agents = AgentsHear.IF_ESCALATED
    tracking: str | None = None


@dataclass(frozen=True, slots=True)
class AgentNudged(CaseEvent):
    kind = "agent_nudge"
    to_agents = AgentsHear.ALWAYS


@dataclass(frozen=True, slots=True)
class BuyerUnreachable(CaseEvent):
    kind = "buyer_unreachable"
    to_sellers = True
    to_agents = AgentsHear.IF_ESCALATED


# After the case: satisfaction (core/services/csat.py).


@dataclass(frozen=True, slots=True)
class SurveyAsked(CaseEvent):
    """A while after the case was resolved or rejected: how did we do? (1–5)."""

    kind = "survey"
    to_buyer = True
    survey: int = 0  # the survey's id: its buttons carry it


@dataclass(frozen=True, slots=True)
class LowScore(CaseEvent):
    """The buyer rated the case 1 or 2: the shop's sellers and the agent who handled it (only
    that one, ``agent_id``) hear of it, with the comment, and may reopen the case."""

    kind = "low_score"
    audit_action = "low_score"
    to_sellers = True
    to_agents = AgentsHear.ALWAYS
    survey: int = 0
    score: int = 0
    comment: str | None = None
    agent_id: int | None = None

    def audience(self, *, escalated: bool, actor: Role) -> frozenset[Audience]:
        if self.agent_id is None:
            return frozenset({Audience.SELLERS})
        return frozenset({Audience.SELLERS, Audience.AGENTS})


# Platform disputes (core/services/disputes.py): deadlines that lose the money when missed.


@dataclass(frozen=True, slots=True)
class DisputeRecorded(CaseEvent):
    """Staff recorded a platform dispute or chargeback on the case (or moved its stage)."""

    kind = "dispute_recorded"
    audit_action = "dispute"
    to_sellers = True
    to_agents = AgentsHear.IF_ESCALATED
    platform: str = ""
    platform_name: str = ""  # as the configuration names it
    external_id: str = ""
    stage: str = ""
    next_deadline: str | None = None  # the deadline's code
    next_due: str | None = None  # ISO datetime
    note_field = "external_id"


@dataclass(frozen=True, slots=True)
class DisputeReminder(CaseEvent):
    """A dispute's deadline comes in ``hours`` (48, 24, 4): the shop must act."""

    kind = "dispute_reminder"
    to_sellers = True
    to_agents = AgentsHear.IF_ESCALATED
    platform: str = ""
    platform_name: str = ""  # as the configuration names it
    external_id: str = ""
    deadline: str = ""
    due: str = ""
    hours: int = 0


@dataclass(frozen=True, slots=True)
class DisputeDeadlineMissed(CaseEvent):
    """A dispute's deadline passed with nothing done: an agent is called."""

    kind = "dispute_missed"
    audit_action = "dispute_missed"
    to_sellers = True
    to_agents = AgentsHear.ALWAYS
    platform: str = ""
    platform_name: str = ""  # as the configuration names it
    external_id: str = ""
    deadline: str = ""
    due: str = ""
    then: str | None = None
    note_field = "deadline"


EVENT_TYPES: dict[str, type[CaseEvent]] = {
    cls.kind: cls
    for cls in (
        CaseOpened,
        InfoRequested,
        InfoProvided,
        InfoNotReceived,
        Approved,
        Rejected,
        LabelIssued,
        ReturnShipped,
        GoodsReceived,
        GoodsLost,
        RefundRecorded,
        RefundFailed,
        ReplacementShipped,
        Closed,
        Escalated,
        AgentJoined,
        HandedBack,
        Withdrawn,
        Cancelled,
        Expired,
        Reopened,
        MessagePosted,
        ReadyReplySent,
        BuyerReminded,
        SellerReminded,
        ReturnOverdue,
        AgentNudged,
        BuyerUnreachable,
        SurveyAsked,
        LowScore,
        DisputeRecorded,
        DisputeReminder,
        DisputeDeadlineMissed,
    )
}

# Events after which the case is closed (agents' topics close with them).
CLOSING_KINDS = frozenset(
    {
        Cancelled.kind,
        Expired.kind,
        Closed.kind,
        Rejected.kind,
        Withdrawn.kind,
        RefundRecorded.kind,
        ReplacementShipped.kind,
    }
)

"""Case entities: a case covers lines of one order, with evidence and an audit trail."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.cases.lifecycle import CaseStatus, GoodsStatus, MoneyStatus, Role
from core.cases.reasons import Party, Reason, Resolution
from core.money import Money


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

    @property
    def is_video(self) -> bool:
        return self.kind is EvidenceKind.VIDEO or (
            self.mime_type is not None and self.mime_type.startswith("video/")
        )


class Owner(StrEnum):
    BOT = "bot"
    AGENT = "agent"


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
    escalated: bool = False
    deadline_at: datetime | None = None
    return_tracking: str | None = None
    replacement_tracking: str | None = None
    decision_snapshot: dict[str, Any] = field(default_factory=dict)  # the policy decision shown
    evidence: tuple[Evidence, ...] = ()
    version: int = 1  # optimistic concurrency: two staff pressing at once
    id: int | None = None

    @property
    def waiting_on(self) -> str:
        return self.status.waiting_on.value

    @property
    def is_open(self) -> bool:
        return self.status.is_open


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

"""The case lifecycle as data: statuses, who each waits on, and the allowed transitions.

    open ─▶ awaiting_buyer_info | awaiting_seller | awaiting_agent   (policy review decides)
         ─▶ awaiting_return | awaiting_resolution                     (approved automatically)
    awaiting_seller / awaiting_agent / reopened
         ─request_info─▶ awaiting_buyer_info ─provide_info─▶ back to whoever decides
         ─approve─▶ awaiting_return ─return_shipped─▶ return_in_transit ─goods_received─┐
         ─approve─▶ awaiting_resolution ◀──────────────────────────────────────────────┘
         ─reject─▶ rejected
    resolved / rejected ─reopen─▶ reopened (or awaiting_agent)
    return_in_transit ─goods_lost─▶ awaiting_resolution (the shop settles what is owed)
    awaiting_resolution ─record_refund / ship_replacement / close─▶ resolved
    any open status ─withdraw (buyer) / cancel (staff) / expire (system)─▶ cancelled

Goods (where the items are) and money (where the refund is) are tracked apart from the status.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CaseStatus(StrEnum):
    AWAITING_BUYER_INFO = "awaiting_buyer_info"
    AWAITING_SELLER = "awaiting_seller"
    AWAITING_AGENT = "awaiting_agent"
    AWAITING_RETURN = "awaiting_return"  # approved; the buyer must send the goods back
    RETURN_IN_TRANSIT = "return_in_transit"
    AWAITING_RESOLUTION = "awaiting_resolution"  # approved; the seller must refund/reship
    REOPENED = "reopened"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"

    @property
    def waiting_on(self) -> WaitingOn:
        return _WAITING_ON[self]

    @property
    def is_open(self) -> bool:
        return self not in CLOSED_STATUSES


class WaitingOn(StrEnum):
    BUYER = "buyer"
    SELLER = "seller"
    AGENT = "agent"
    CARRIER = "carrier"
    NOBODY = "nobody"


_WAITING_ON = {
    CaseStatus.AWAITING_BUYER_INFO: WaitingOn.BUYER,
    CaseStatus.AWAITING_SELLER: WaitingOn.SELLER,
    CaseStatus.AWAITING_AGENT: WaitingOn.AGENT,
    CaseStatus.AWAITING_RETURN: WaitingOn.BUYER,
    CaseStatus.RETURN_IN_TRANSIT: WaitingOn.CARRIER,
    CaseStatus.AWAITING_RESOLUTION: WaitingOn.SELLER,
    CaseStatus.REOPENED: WaitingOn.SELLER,
    CaseStatus.RESOLVED: WaitingOn.NOBODY,
    CaseStatus.REJECTED: WaitingOn.NOBODY,
    CaseStatus.CANCELLED: WaitingOn.NOBODY,
}

CLOSED_STATUSES = frozenset({CaseStatus.RESOLVED, CaseStatus.REJECTED, CaseStatus.CANCELLED})
OPEN_STATUSES = frozenset(s for s in CaseStatus if s not in CLOSED_STATUSES)
DECIDABLE = frozenset({CaseStatus.AWAITING_SELLER, CaseStatus.AWAITING_AGENT, CaseStatus.REOPENED})


class GoodsStatus(StrEnum):
    NOT_REQUIRED = "not_required"  # the buyer keeps the item, or there is nothing to return
    NOT_RETURNED = "not_returned"
    LABEL_ISSUED = "label_issued"
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    LOST = "lost"


class MoneyStatus(StrEnum):
    NONE = "none"
    PENDING = "pending"
    REFUNDED = "refunded"
    FAILED = "failed"


class Role(StrEnum):
    BUYER = "buyer"
    SELLER = "seller"
    AGENT = "agent"
    SYSTEM = "system"


class Action(StrEnum):
    """Everything a person or the system can do to a case; ``Case`` has a method for each."""

    REQUEST_INFO = "request_info"
    PROVIDE_INFO = "provide_info"
    ESCALATE = "escalate"
    APPROVE = "approve"
    REJECT = "reject"
    ISSUE_LABEL = "issue_label"
    RETURN_SHIPPED = "return_shipped"
    GOODS_RECEIVED = "goods_received"
    GOODS_LOST = "goods_lost"
    RECORD_REFUND = "record_refund"
    REFUND_FAILED = "refund_failed"
    SHIP_REPLACEMENT = "ship_replacement"
    CLOSE = "close"  # an approved outcome that needs no money or parcel is done
    TAKE = "take"  # an agent owns the conversation
    HAND_BACK = "hand_back"
    WITHDRAW = "withdraw"
    CANCEL = "cancel"
    EXPIRE = "expire"
    REOPEN = "reopen"


@dataclass(frozen=True, slots=True)
class Transition:
    action: Action
    sources: frozenset[CaseStatus]
    targets: frozenset[CaseStatus]  # several when the outcome depends on the case
    roles: frozenset[Role]


def _t(action: Action, sources, targets, roles) -> Transition:
    return Transition(action, frozenset(sources), frozenset(targets), frozenset(roles))


S = CaseStatus
R = Role
STAFF = (R.SELLER, R.AGENT)
_AFTER_DECISION = (S.AWAITING_RETURN, S.AWAITING_RESOLUTION)

# Who may do what from where. The case's facts (its goods, money, outcome and owner) narrow
# this further: see ``Case.refusal``. Actions that keep the status list it as their target.
TRANSITIONS: dict[Action, Transition] = {
    t.action: t
    for t in (
        _t(
            Action.REQUEST_INFO,
            DECIDABLE | {S.AWAITING_RESOLUTION},
            {S.AWAITING_BUYER_INFO},
            STAFF,
        ),
        _t(
            Action.PROVIDE_INFO,
            {S.AWAITING_BUYER_INFO},
            {S.AWAITING_SELLER, S.AWAITING_AGENT, *_AFTER_DECISION},
            (R.BUYER, R.SYSTEM),  # the system: an approved case's question timed out
        ),
        _t(
            Action.ESCALATE,
            OPEN_STATUSES - {S.AWAITING_AGENT},
            # an approved case keeps its status: the return or refund goes on, watched by an agent
            {S.AWAITING_AGENT, *_AFTER_DECISION, S.RETURN_IN_TRANSIT, S.AWAITING_BUYER_INFO},
            (R.BUYER, R.SELLER, R.SYSTEM),
        ),
        _t(Action.APPROVE, DECIDABLE, _AFTER_DECISION, (*STAFF, R.SYSTEM)),
        _t(Action.REJECT, DECIDABLE, {S.REJECTED}, STAFF),
        _t(Action.ISSUE_LABEL, {S.AWAITING_RETURN}, {S.AWAITING_RETURN}, STAFF),
        _t(
            Action.RETURN_SHIPPED,
            {S.AWAITING_RETURN},
            {S.RETURN_IN_TRANSIT},
            (R.BUYER, *STAFF),
        ),
        _t(
            Action.GOODS_RECEIVED,
            {S.AWAITING_RETURN, S.RETURN_IN_TRANSIT},
            {S.AWAITING_RESOLUTION},
            STAFF,
        ),
        _t(
            Action.GOODS_LOST,
            {S.RETURN_IN_TRANSIT},
            {S.AWAITING_RESOLUTION},
            (*STAFF, R.SYSTEM),
        ),
        _t(Action.RECORD_REFUND, {S.AWAITING_RESOLUTION}, {S.RESOLVED}, (*STAFF, R.SYSTEM)),
        _t(
            Action.REFUND_FAILED,
            {S.AWAITING_RESOLUTION},
            {S.AWAITING_RESOLUTION},
            (*STAFF, R.SYSTEM),
        ),
        _t(Action.SHIP_REPLACEMENT, {S.AWAITING_RESOLUTION}, {S.RESOLVED}, STAFF),
        _t(Action.CLOSE, {S.AWAITING_RESOLUTION}, {S.RESOLVED}, (*STAFF, R.SYSTEM)),
        _t(Action.TAKE, OPEN_STATUSES, OPEN_STATUSES, (R.AGENT,)),
        # the system hands back the cases of an agent removed from the shop's staff
        _t(Action.HAND_BACK, OPEN_STATUSES, OPEN_STATUSES, (R.AGENT, R.SYSTEM)),
        _t(Action.WITHDRAW, OPEN_STATUSES, {S.CANCELLED}, (R.BUYER,)),
        _t(Action.CANCEL, OPEN_STATUSES, {S.CANCELLED}, STAFF),
        _t(
            Action.EXPIRE,
            {S.AWAITING_BUYER_INFO, S.AWAITING_RETURN},
            {S.CANCELLED},
            (R.SYSTEM,),
        ),
        _t(
            Action.REOPEN,
            {S.RESOLVED, S.REJECTED},
            {S.REOPENED, S.AWAITING_AGENT},
            (R.BUYER, *STAFF),
        ),
    )
}


def table_refusal(action: Action, current: CaseStatus, role: Role) -> str | None:
    """Why the table refuses ``action`` (an error code), or None when it allows it."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        return "unknown_action"
    if role not in transition.roles:
        return "role_not_allowed"
    if current not in transition.sources:
        return "case_closed" if current in CLOSED_STATUSES else "wrong_status"
    return None

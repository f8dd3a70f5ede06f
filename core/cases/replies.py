"""Ready replies: the sentences staff send buyers every day, as data.

Each ready reply is a code; the bot words it (one catalogue sentence per code, with named
placeholders), so staff pick it in their language and the buyer reads it in theirs. Here is
only when a reply fits a case (its reasons, its statuses, the facts it needs) and which of the
case's values it quotes. Values cross to the bot as JSON primitives: an amount as
``{"amount": "35.00", "currency": "USD"}``, a date as an ISO date, a number as a string.

Who may send one: the staff of the case's shop (the service checks the shop), on a case with
a buyer in Telegram, while it is open or resolved (a rejected or cancelled case is over), and
never over an agent's conversation with the buyer: while an agent owns it, only that agent
writes to the buyer. An agent who sends one takes the conversation, as writing does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.cases.lifecycle import CaseStatus, GoodsStatus, MoneyStatus, Role
from core.cases.model import SHIPPING_RESOLUTIONS, Actor, Case, Owner
from core.cases.reasons import Reason
from core.errors import ErrorCode
from core.orders.model import Order, Shipment


class ReadyReply(StrEnum):
    LOOKING_INTO_IT = "looking"  # we are on it
    LABEL_PHOTO = "label_photo"  # a photo of the shipping label on the parcel
    PARCEL_PHOTOS = "parcel_photos"  # photos of the parcel and its packaging
    DEFECT_VIDEO = "defect_video"  # a short video that shows the defect
    ITEM_PHOTOS = "item_photos"  # photos of the item received, with its tags or labels
    DELIVERY_DATE = "delivery_date"  # the carrier's new delivery date for the parcel
    CARRIER_CHECK = "carrier_check"  # we asked the carrier about the parcel
    RETURN_LABEL_SENT = "label_sent"  # the return label or instructions are in the chat
    RETURN_RECEIVED = "return_received"  # we received the return
    REFUND_SENT = "refund_sent"  # the refund was sent
    REPLACEMENT_SHIPPED = "replacement_shipped"  # the replacement left, with its tracking


class Fill(StrEnum):
    """A value of the case a reply quotes; the value is the placeholder's name."""

    CASE = "case"  # the case number
    ORDER = "order"  # the order number
    AMOUNT = "amount"  # the refund: as recorded, else as granted
    DATE = "date"  # when the carrier now expects the parcel
    TRACKING = "tracking"  # the parcel's tracking number
    REPLACEMENT_TRACKING = "replacement_tracking"  # the replacement's tracking number


# The placeholder each fill takes in the sentence (the replacement's tracking is "tracking").
PLACEHOLDERS = {fill: fill.value for fill in Fill} | {Fill.REPLACEMENT_TRACKING: "tracking"}

S = CaseStatus
DECIDING = frozenset({S.AWAITING_SELLER, S.AWAITING_AGENT, S.AWAITING_BUYER_INFO, S.REOPENED})
OPEN = frozenset(s for s in CaseStatus if s.is_open)
# A rejected or cancelled case is over; a resolved one may still need a word (the refund).
WRITABLE = OPEN | {S.RESOLVED}


@dataclass(frozen=True, slots=True)
class Rule:
    reply: ReadyReply
    statuses: frozenset[CaseStatus]
    reasons: frozenset[Reason] | None = None  # None: any reason
    needs: tuple[Fill, ...] = (Fill.CASE,)
    fits: Callable[[Case], bool] = lambda case: True  # the case's facts beyond its status


# In the order the menu shows them: the questions first, then the news.
RULES: tuple[Rule, ...] = (
    Rule(ReadyReply.LOOKING_INTO_IT, OPEN),
    Rule(
        ReadyReply.LABEL_PHOTO,
        DECIDING,
        frozenset({Reason.DAMAGED, Reason.WRONG_ITEM, Reason.MISSING_PART}),
    ),
    Rule(ReadyReply.PARCEL_PHOTOS, DECIDING, frozenset({Reason.DAMAGED, Reason.MISSING_PART})),
    Rule(
        ReadyReply.DEFECT_VIDEO,
        DECIDING,
        frozenset(
            {Reason.DAMAGED, Reason.DOES_NOT_WORK, Reason.NOT_AS_DESCRIBED, Reason.MISSING_PART}
        ),
    ),
    Rule(
        ReadyReply.ITEM_PHOTOS,
        DECIDING,
        frozenset(
            {
                Reason.WRONG_ITEM,
                Reason.WRONG_SIZE_COLOUR,
                Reason.NOT_AS_DESCRIBED,
                Reason.COUNTERFEIT,
            }
        ),
    ),
    Rule(
        ReadyReply.DELIVERY_DATE,
        DECIDING,
        frozenset({Reason.NOT_RECEIVED}),
        (Fill.CASE, Fill.ORDER, Fill.DATE, Fill.TRACKING),
    ),
    Rule(
        ReadyReply.CARRIER_CHECK,
        DECIDING,
        frozenset({Reason.NOT_RECEIVED}),
        (Fill.CASE, Fill.TRACKING),
    ),
    Rule(
        ReadyReply.RETURN_LABEL_SENT,
        frozenset({S.AWAITING_RETURN}),
        fits=lambda case: case.goods is GoodsStatus.LABEL_ISSUED,
    ),
    Rule(
        ReadyReply.RETURN_RECEIVED,
        frozenset({S.AWAITING_RESOLUTION, S.RESOLVED}),
        fits=lambda case: case.goods is GoodsStatus.RECEIVED,
    ),
    Rule(
        ReadyReply.REFUND_SENT,
        frozenset({S.AWAITING_RESOLUTION, S.RESOLVED}),
        needs=(Fill.CASE, Fill.AMOUNT),
        fits=lambda case: case.money in (MoneyStatus.PENDING, MoneyStatus.REFUNDED),
    ),
    Rule(
        ReadyReply.REPLACEMENT_SHIPPED,
        frozenset({S.AWAITING_RESOLUTION, S.RESOLVED}),
        needs=(Fill.CASE, Fill.REPLACEMENT_TRACKING),
        fits=lambda case: case.resolution in SHIPPING_RESOLUTIONS,
    ),
)
RULE_OF = {rule.reply: rule for rule in RULES}
assert set(RULE_OF) == set(ReadyReply)


def refusal(case: Case, actor: Actor) -> str | None:
    """Why ``actor`` may not write to this case's buyer now (an error code), or None. The
    shop is checked by the service (staff of another shop do not see the case at all)."""
    if actor.role not in (Role.SELLER, Role.AGENT):
        return ErrorCode.ROLE_NOT_ALLOWED
    if case.buyer_id is None:
        return ErrorCode.NO_BUYER_CHAT
    if case.status not in WRITABLE:
        return ErrorCode.CASE_CLOSED
    if case.owner is Owner.AGENT and case.owner_agent_id != actor.user_id:
        return ErrorCode.CONVERSATION_WITH_AGENT
    return None


def _undelivered(order: Order | None) -> Shipment | None:
    """The parcel still on its way (the latest shipped), if any."""
    if order is None:
        return None
    waiting = [s for s in order.shipments if s.delivered_at is None]
    return max(waiting, key=lambda s: s.shipped_at) if waiting else None


def _fill(fill: Fill, case: Case, order: Order | None, now: datetime) -> Any:
    """One value as JSON, or None when the case does not have it."""
    match fill:
        case Fill.CASE:
            return case.number
        case Fill.ORDER:
            return case.order_number
        case Fill.AMOUNT:
            amount = case.refunded_amount or case.refund_amount
            return amount.as_dict() if amount is not None and amount.amount > 0 else None
        case Fill.DATE:
            parcel = _undelivered(order)
            expected = parcel.latest_expected if parcel is not None else None
            if expected is None or expected.date() < now.date():
                return None  # no estimate, or one already past: nothing true to tell
            return expected.date().isoformat()
        case Fill.TRACKING:
            parcel = _undelivered(order)
            return parcel.tracking_number if parcel is not None else None
        case Fill.REPLACEMENT_TRACKING:
            return case.replacement_tracking
    return None  # pragma: no cover - every fill is matched above


def values(reply: ReadyReply, case: Case, order: Order | None, now: datetime) -> dict[str, Any]:
    """The values ``reply`` quotes, by placeholder, as JSON; empty when one is missing."""
    found: dict[str, Any] = {}
    for fill in RULE_OF[reply].needs:
        value = _fill(fill, case, order, now)
        if value in (None, ""):
            return {}
        found[PLACEHOLDERS[fill]] = value
    return found


def fits(reply: ReadyReply, case: Case, order: Order | None, now: datetime) -> bool:
    """``reply`` says something true of this case now: its status, reason, facts, values."""
    rule = RULE_OF[reply]
    return (
        case.status in rule.statuses
        and (rule.reasons is None or case.reason in rule.reasons)
        and rule.fits(case)
        and bool(values(reply, case, order, now))
    )


def offered(case: Case, order: Order | None, actor: Actor, now: datetime) -> list[ReadyReply]:
    """The ready replies ``actor`` may send on this case now, in the menu's order."""
    if refusal(case, actor) is not None:
        return []
    return [rule.reply for rule in RULES if fits(rule.reply, case, order, now)]

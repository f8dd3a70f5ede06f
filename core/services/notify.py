"""Queue the notifications of a case change in the same transaction as the change (outbox).

The core only says who must hear what (a notification code and primitive values); the bot's
sender renders it in each recipient's language and delivers it, rate-limited and retried.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.cases.model import Case
from core.persistence.unit_of_work import UnitOfWork
from core.policy.config import Config
from core.services.access import seller_ids

# Which changes each side hears of. Buyers hear every status change; staff hear what needs them.
BUYER_KINDS = frozenset(
    {
        "case_opened",
        "info_requested",
        "approved",
        "rejected",
        "label_issued",
        "goods_received",
        "refunded",
        "resolved",
        "escalated",
        "agent_joined",
        "cancelled",
        "expired",
        "reopened",
        "goods_lost",
    }
)
STAFF_KINDS = frozenset(
    {
        "case_opened",
        "info_provided",
        "escalated",
        "reopened",
        "withdrawn",
        "return_shipped",
        "approved",  # an agent's or the system's decision the shop must carry out
        "rejected",
        "message",
    }
)


def case_payload(case: Case, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "case": case.number,
        "shop": case.shop,
        "order": case.order_number,
        "reason": case.reason.value,
        "status": case.status.value,
        "waiting_on": case.waiting_on,
        "resolution": case.resolution.value if case.resolution else None,
        "deadline": case.deadline_at.isoformat() if case.deadline_at else None,
    }
    if case.refund_amount is not None:
        payload["refund"] = {
            "amount": case.refund_amount.as_decimal_string(),
            "currency": case.refund_amount.currency,
        }
    payload.update(extra)
    return payload


async def queue(
    uow: UnitOfWork,
    config: Config,
    case: Case,
    kind: str,
    at: datetime,
    *,
    to_buyer: bool | None = None,
    to_staff: bool | None = None,
    to_agents: bool = False,
    actor_id: int | None = None,
    dedupe: str = "",
    **extra: Any,
) -> int:
    """Queue one notification per recipient; the dedupe key makes a retried change harmless.
    Returns how many were queued (0 when all were there already)."""
    assert case.id is not None
    payload = case_payload(case, event=kind, **extra)
    base = f"{case.number}:{case.version}:{kind}{dedupe}"
    buyer = kind in BUYER_KINDS if to_buyer is None else to_buyer
    staff = kind in STAFF_KINDS if to_staff is None else to_staff
    queued = 0
    if buyer and case.buyer_id is not None:
        queued += await uow.outbox.enqueue(
            kind=kind,
            recipient_role="buyer",
            chat_id=case.buyer_id,
            shop=case.shop,
            case_id=case.id,
            payload=payload,
            dedupe_key=f"{base}:buyer:{case.buyer_id}",
            at=at,
        )
    if staff:
        for seller in await seller_ids(uow, config, case.shop):
            if seller == actor_id:
                continue  # nobody is told of their own action
            queued += await uow.outbox.enqueue(
                kind=kind,
                recipient_role="seller",
                chat_id=seller,
                shop=case.shop,
                case_id=case.id,
                payload=payload,
                dedupe_key=f"{base}:seller:{seller}",
                at=at,
            )
        staff_chat = config.shop(case.shop).staff_chat_id
        if staff_chat is not None:
            queued += await uow.outbox.enqueue(
                kind=kind,
                recipient_role="staff_chat",
                chat_id=staff_chat,
                shop=case.shop,
                case_id=case.id,
                payload=payload,
                dedupe_key=f"{base}:staff_chat",
                at=at,
            )
    if to_agents:
        queued += await uow.outbox.enqueue(
            kind=kind,
            recipient_role="agents",
            chat_id=None,  # the agents' forum group or each agent, resolved by the sender
            shop=case.shop,
            case_id=case.id,
            payload=payload,
            dedupe_key=f"{base}:agents",
            at=at,
        )
    return queued

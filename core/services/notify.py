"""Queue the notifications of a case change in the same transaction as the change (outbox).

The core says what happened (a typed event, whose type says who hears of it); the bot's sender
rebuilds the event, renders it in each recipient's language and delivers it, rate-limited and
retried.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from core.cases.events import Audience, CaseEvent
from core.cases.model import Actor, Case
from core.persistence.unit_of_work import UnitOfWork
from core.policy.config import Config
from core.services.access import seller_ids

# In a dedupe key: a coalesced alert of the buyer's follow-ups (the sender counts them).
FOLLOWUPS = ":followups:"


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
        payload["refund"] = case.refund_amount.as_dict()
    payload.update(extra)
    return payload


async def queue(
    uow: UnitOfWork,
    config: Config,
    case: Case,
    event: CaseEvent,
    at: datetime,
    *,
    actor: Actor | None = None,
    dedupe: str = "",
    coalesce: timedelta | None = None,
) -> int:
    """Queue one notification per recipient of ``event`` (its type says who hears of it);
    the dedupe key makes a retried change harmless. Returns how many were queued (0 when all
    were there already).

    ``coalesce`` (the buyer's follow-ups): staff get at most one alert per case and recipient
    per window of this length. Time is cut in windows; the first message of a window queues an
    alert at once, the later ones of that window one alert due when the next window starts.
    Both are unique keys, so concurrent writers race only for an insert that the database
    settles (no row is read then updated); the sender counts the messages since the previous
    alert when it sends (every message stays on the timeline)."""
    assert case.id is not None
    actor = actor or Actor.system()
    audience = event.audience(escalated=case.escalated, actor=actor.role)
    if not audience:
        return 0
    payload = case_payload(case, event=event.kind, **event.fields())
    base = f"{case.number}:{case.version}:{event.kind}{dedupe}"
    queued = 0

    async def _enqueue(
        role: str, chat_id: int | None, dedupe_key: str, due: datetime | None = None
    ) -> bool:
        return await uow.outbox.enqueue(
            kind=event.kind,
            recipient_role=role,
            chat_id=chat_id,
            shop=case.shop,
            case_id=case.id,
            payload=payload,
            dedupe_key=dedupe_key,
            at=at,
            due=due,
        )

    async def put(role: str, chat_id: int | None, key: str) -> None:
        nonlocal queued
        if coalesce is not None and role != "buyer":
            queued += await _coalesced(role, chat_id, key, coalesce)
            return
        queued += await _enqueue(role, chat_id, f"{base}:{key}")

    async def _coalesced(role: str, chat_id: int | None, key: str, window: timedelta) -> int:
        length = max(int(window.total_seconds()), 1)
        slot = int(at.timestamp()) // length
        for n, due in (
            (slot, at),
            (slot + 1, datetime.fromtimestamp((slot + 1) * length, at.tzinfo)),
        ):
            if await _enqueue(role, chat_id, f"{case.number}{FOLLOWUPS}{n}:{key}", due):
                return 1
        return 0  # the alert due at the next window's start is queued: it will count this one

    if Audience.BUYER in audience and case.buyer_id is not None:
        await put("buyer", case.buyer_id, f"buyer:{case.buyer_id}")
    if Audience.SELLERS in audience:
        for seller in await seller_ids(uow, config, case.shop):
            if seller == actor.user_id:
                continue  # nobody is told of their own action
            await put("seller", seller, f"seller:{seller}")
        staff_chat = config.shop(case.shop).staff_chat_id
        if staff_chat is not None:
            await put("staff_chat", staff_chat, "staff_chat")
    if Audience.AGENTS in audience:
        one = getattr(event, "agent_id", None)  # an event for the agent who handled the case
        if isinstance(one, int):
            await put("agents", one, f"agent:{one}")
        else:
            # the agents' forum group or each agent, resolved by the sender
            await put("agents", None, "agents")
    return queued

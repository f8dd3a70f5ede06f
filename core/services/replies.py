"""Ready replies (core/cases/replies.py): what staff may send a case's buyer now, and sending
one, recorded on the case's conversation like an agent's message and delivered through the
outbox in the buyer's language. Works with no translation provider: the sentences are the
catalogues'."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.cases import events as ev
from core.cases import replies
from core.cases.lifecycle import Action, CaseStatus, Role
from core.cases.model import Actor, Case, Owner
from core.cases.replies import ReadyReply
from core.errors import (
    Conflict,
    ErrorCode,
    Forbidden,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from core.orders.model import Order
from core.persistence.unit_of_work import UnitOfWork
from core.services import notify
from core.services.access import check_actor_role, check_case_access
from core.services.audit import record_audit
from core.services.context import CoreContext

MAX_RECORD = 1000  # the recorded sentence, as the timeline keeps it


@dataclass(frozen=True)
class ReplyMenu:
    """The ready replies a person may send on a case now, each with its values (JSON), and
    the language the buyer reads (a Telegram tag, or the order's, or None)."""

    case: Case
    replies: tuple[ReadyReply, ...]
    values: dict[ReadyReply, dict[str, Any]]
    buyer_language: str | None


@dataclass(frozen=True)
class SentReply:
    case: Case
    values: dict[str, Any]  # the values the buyer reads, as JSON


async def _load(uow: UnitOfWork, ctx: CoreContext, actor: Actor, number: str) -> Case:
    if actor.role not in (Role.SELLER, Role.AGENT):
        raise Forbidden("only staff write to buyers", code="role_not_allowed")
    await check_actor_role(uow, ctx.config, actor)
    case = await uow.cases.get_by_number(number.strip().upper())
    if case is None:
        raise NotFound("no such case", code="case_not_found")
    await check_case_access(uow, ctx.config, actor, case)  # staff of the case's shop only
    return case


def _refuse(case: Case, actor: Actor) -> None:
    code = replies.refusal(case, actor)
    if code is None:
        return
    if code == ErrorCode.CONVERSATION_WITH_AGENT:
        raise Conflict("an agent owns this conversation", code=code)
    if code == ErrorCode.CASE_CLOSED:
        raise InvalidTransition("the case is over", code=code)
    raise ValidationFailed(f"cannot write to the buyer of {case.number}", code=code)


async def ready_replies(ctx: CoreContext, actor: Actor, number: str) -> ReplyMenu:
    """What ``actor`` may send this case's buyer now; refused (with the reason) when they may
    not write to the buyer at all."""
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        case = await _load(uow, ctx, actor, number)
        _refuse(case, actor)
        order = await uow.orders.get(case.order_id)
        user = await uow.users.get(case.buyer_id) if case.buyer_id is not None else None
    offered = replies.offered(case, order, actor, now)
    language = (user.language if user is not None else None) or _order_language(order)
    return ReplyMenu(
        case,
        tuple(offered),
        {reply: replies.values(reply, case, order, now) for reply in offered},
        language,
    )


def _order_language(order: Order | None) -> str | None:
    return order.buyer.language if order is not None else None


async def send_ready_reply(
    ctx: CoreContext,
    actor: Actor,
    number: str,
    reply: ReadyReply | str,
    *,
    wording: Callable[[ReadyReply, dict[str, Any]], str],
    expected_status: CaseStatus | None = None,
) -> SentReply:
    """Send ``reply`` to the case's buyer: one unit of work records it on the conversation
    (worded by ``wording``, the caller's: the catalogue's source sentence with the values, for
    the timeline and the evidence pack; the core has no words) and queues it for the buyer,
    who reads it in their language. An agent
    who does not own the conversation yet takes it, as writing in the case's topic does.
    ``expected_status``: the status the menu was made for; a case that moved on since is
    refused, so that nothing is said that is no longer true."""
    try:
        reply = ReadyReply(reply)
    except ValueError:
        raise ValidationFailed("no such ready reply", code="ready_reply_unavailable") from None
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        case = await _load(uow, ctx, actor, number)
        _refuse(case, actor)
        if expected_status is not None and case.status is not expected_status:
            raise Conflict("the case changed", code="already_handled", status=case.status.value)
        order = await uow.orders.get(case.order_id)
        if not replies.fits(reply, case, order, now):
            raise ValidationFailed(
                "that reply does not fit the case", code="ready_reply_unavailable"
            )
        values = replies.values(reply, case, order, now)
        record = " ".join(wording(reply, values).split())[:MAX_RECORD]
        if not record:
            raise ValidationFailed("the reply has no words", code="empty")
        before = case.status
        taken: list[ev.CaseEvent] = []
        if (
            actor.role is Role.AGENT
            and case.owner is not Owner.AGENT
            and case.refusal(Action.TAKE, actor) is None
        ):
            changed = dataclasses.replace(case)
            taken = changed.take(actor)  # the buyer hears "an agent has joined" first
            changed.updated_at = now
            case = await uow.cases.save(changed)
        for event in taken:
            await record_audit(uow, case, actor, event.audit_action or "", before, case.status, now)
            await notify.queue(uow, ctx.config, case, event, now, actor=actor)
        event = ev.ReadyReplySent(reply=reply.value, values=values, text=record)
        await record_audit(
            uow,
            case,
            actor,
            "message",
            case.status,
            case.status,
            now,
            note=record,
            data={"ready_reply": reply.value, "values": values},
        )
        assert case.id is not None
        sequence = len(await uow.cases.audit_trail(case.id))  # messages keep the version
        await notify.queue(uow, ctx.config, case, event, now, actor=actor, dedupe=f"r{sequence}")
        await uow.commit()
    return SentReply(case, values)

"""Before a buyer does the work: can these items of this order be claimed at all, and which
reasons fit them.

``open_case`` checks all of this again when the case is opened (defence in depth: the state
may change while the buyer types); these functions let the bot refuse, or narrow the reason
menu, right after the items are chosen, instead of after the story, the photos and the summary.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from core.cases.lifecycle import CaseStatus, Role
from core.cases.model import Actor, Case
from core.errors import Conflict, Forbidden, ValidationFailed
from core.orders.model import Order, OrderStatus
from core.persistence.unit_of_work import UnitOfWork
from core.policy.choices import ReasonChoices, reasons_for
from core.policy.decision import Claim
from core.services.context import CoreContext
from core.services.linking import order_and_proof


async def buyer_order(uow: UnitOfWork, actor: Actor, order_id: int) -> Order:
    """The order, if this buyer is linked to it (the same refusal as opening a case)."""
    return (await buyer_order_and_proof(uow, actor, order_id))[0]


async def buyer_order_and_proof(uow: UnitOfWork, actor: Actor, order_id: int) -> tuple[Order, str]:
    """The order and how this buyer proved it is theirs (``linking.PROOF_*``), if they did."""
    if actor.role is not Role.BUYER or actor.user_id is None:
        raise Forbidden("only a buyer opens a case", code="forbidden")
    order, proof = await order_and_proof(uow, actor, order_id)
    if order is None or proof is None:
        raise Forbidden("not linked to this order", code="order_not_linked")
    return order, proof


async def check_claimable(
    ctx: CoreContext, actor: Actor, order_id: int, line_nos: Iterable[int]
) -> None:
    """Raise what opening a case on these lines would raise before any policy question:

    - ``previously_rejected`` (params ``case``, ``decided_at``): the shop rejected a claim of
      this buyer on one of these lines; a person reviews it (reopen), it is not filed again;
    - ``line_has_open_case`` (param ``case`` when it is one of the buyer's): already claimed;
    - ``order_fully_refunded`` (param ``order``): every unit of these lines was refunded or is
      covered by a resolved case, or the whole order was refunded (a cancelled order is left
      to the policy, whose refusal says when it was cancelled and what came back).
    """
    wanted = set(line_nos)
    async with ctx.unit_of_work() as uow:
        order = await buyer_order(uow, actor, order_id)
        assert order.id is not None
        on_lines = await _cases_on_lines(uow, actor, order.id, wanted)
        await _refuse_if_rejected(uow, on_lines)
        open_lines = await uow.cases.open_quantities(order.id)
        if wanted & set(open_lines):
            params = {}
            open_case = next((case for case in on_lines if case.is_open), None)
            if open_case is not None:
                params["case"] = open_case.number
            raise Conflict(
                "an open case already covers one of these order lines",
                code="line_has_open_case",
                **params,
            )
        claimed = await uow.cases.claimed_quantities(order.id)
        if _nothing_left(order, wanted, claimed):
            raise ValidationFailed(
                "every unit of these items was already refunded or claimed",
                code="order_fully_refunded",
                order=order.number,
            )


async def refuse_if_rejected_before(
    uow: UnitOfWork, actor: Actor, order_id: int, line_nos: Iterable[int]
) -> None:
    """A claim the shop rejected is reviewed by a person (reopen), not re-filed until one
    slips through: ``previously_rejected`` with the case and when it was rejected."""
    await _refuse_if_rejected(uow, await _cases_on_lines(uow, actor, order_id, set(line_nos)))


async def _cases_on_lines(
    uow: UnitOfWork, actor: Actor, order_id: int, line_nos: set[int]
) -> list[Case]:
    """The buyer's cases on any of these lines of the order, open or closed."""
    return [
        case
        for case in await uow.cases.list_for_buyer(actor.user_id or 0)
        if case.order_id == order_id and line_nos & {line.line_no for line in case.lines}
    ]


async def _refuse_if_rejected(uow: UnitOfWork, on_lines: Sequence[Case]) -> None:
    rejected = [case for case in on_lines if case.status is CaseStatus.REJECTED]
    if not rejected:
        return
    case = max(rejected, key=lambda c: c.updated_at)
    decided = await _rejected_at(uow, case)
    raise ValidationFailed(
        "this item's earlier claim was rejected: reopen it for a person to review",
        code="previously_rejected",
        case=case.number,
        decided_at=decided.isoformat(),
    )


def _nothing_left(order: Order, line_nos: set[int], claimed: dict[int, int]) -> bool:
    if order.status is OrderStatus.CANCELLED:
        return False  # the policy says it better: cancelled on that day, this much refunded
    if order.fully_refunded:
        return True
    lines = [line for line in order.lines if line.line_no in line_nos]
    return bool(lines) and all(
        line.refunded_quantity + claimed.get(line.line_no, 0) >= line.quantity for line in lines
    )


async def _rejected_at(uow: UnitOfWork, case: Case) -> datetime:
    """When the case was rejected: its last move to ``rejected`` in the audit trail."""
    assert case.id is not None
    moves = [
        event.at
        for event in await uow.cases.audit_trail(case.id)
        if event.to_status is CaseStatus.REJECTED
    ]
    return max(moves) if moves else case.updated_at


async def reason_choices(
    ctx: CoreContext, actor: Actor, order_id: int, claims: Sequence[Claim]
) -> ReasonChoices:
    """The reasons the order's facts allow for these items now (see ``reasons_for``)."""
    async with ctx.unit_of_work() as uow:
        order = await buyer_order(uow, actor, order_id)
    return reasons_for(config=ctx.config, order=order, claims=list(claims), now=ctx.now())

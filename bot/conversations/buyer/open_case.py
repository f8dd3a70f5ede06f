"""Opening a case, the heart of the product: order → items → reason → what happened →
evidence → preferred outcome → summary with the policy decision → confirm.

The same order-picking steps serve "where is my order" and "change or cancel". Every step
has Back and Cancel and re-asks clearly on unexpected input. Photos are written to the
conversation state as they arrive (an album is several updates), so a restart loses none.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot, F
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, TelegramObject, User

from bot.conversations.buyer.conversation import (
    BuyerConversation,
    Purpose,
    RefusedClaim,
)
from bot.conversations.buyer.conversation import read as read_conversation
from bot.conversations.buyer.conversation import write as write_conversation
from bot.conversations.callbacks import (
    ChangeCb,
    LineCb,
    NavCb,
    OrderCb,
    QtyCb,
    ReasonCb,
    RemindCb,
    ResolutionCb,
)
from bot.conversations.common import buyer, fresh_start, send
from bot.conversations.evidence import evidence_of, store_evidence
from bot.conversations.filters import PrivateChat
from bot.conversations.states import OpenCase
from bot.receiving.routing import Router
from bot.views import keyboards, texts
from bot.views.actions import buyer_actions
from bot.views.i18n import Translator, escape
from core.cases.escalation import mentions_payment_dispute
from core.cases.lifecycle import CaseStatus
from core.cases.model import Case
from core.cases.reasons import BUYER_REASONS, Reason, Resolution
from core.errors import CoreError, RateLimited
from core.orders.model import Order, OrderStatus
from core.orders.numbers import find_order_numbers, normalize_order_number
from core.policy.choices import ReasonChoices
from core.policy.decision import Arrival, Claim, Decision, EvidenceCount
from core.services import cases as case_service
from core.services import claims as claim_service
from core.services import linking
from core.services.context import CoreContext

log = logging.getLogger(__name__)


# ── state helpers ──────────────────────────────────────────────────────────────────────────


class Flow:
    """The conversation so far, and the steps to ask next, for one buyer."""

    def __init__(
        self, bot: Bot, user: User, state: FSMContext, tr: Translator, core: CoreContext
    ) -> None:
        self.bot, self.user, self.state, self.tr, self.core = bot, user, state, tr, core
        self.chat_id = user.id
        self.actor = buyer(user)
        # order id → the buyer's order as this update read it (None: not theirs). A flow lives
        # for one update: its steps read the order once, not at every question they ask.
        self._orders: dict[int, Order | None] = {}

    async def conversation(self) -> BuyerConversation:
        return await read_conversation(self.state)

    async def update(self, **changes: Any) -> BuyerConversation:
        """Change the conversation (strictly: see ``conversation.write``)."""
        return await write_conversation(self.state, **changes)

    async def say(self, text: str, markup=None) -> Message:
        return await send(self.bot, self.chat_id, text, markup)

    async def step(self, name: str) -> None:
        """Go to a step, remembering where we came from for Back."""
        history = list((await self.conversation()).history)
        current = await self.state.get_state()
        if current and (not history or history[-1] != current):
            history.append(current)
        await self.update(history=history)
        await ASK[name](self)

    async def back(self) -> None:
        conv = await self.conversation()
        history = list(conv.history)
        current = await self.state.get_state()
        while history and history[-1] == current:
            history.pop()
        if not history:
            if current == OpenCase.order.state and conv.typing_other:
                await self.update(typing_other=False)
                await ask_order(self)  # from typing a number back to the list of their orders
                return
            await self.cancel()
            return
        previous = history.pop().split(":")[-1]
        await self.update(history=history)
        if previous == "quantity":  # every quantity was answered: ask them all again
            order = await self.order()
            chosen = (await self.conversation()).chosen
            await self.update(pending_qty=lines_needing_quantity(order, chosen) if order else [])
        await ASK[previous](self)

    async def cancel(self) -> None:
        await self.state.clear()
        await self.say(self.tr("Cancelled. Nothing was sent."), keyboards.main_menu(self.tr))

    async def order(self) -> Order | None:
        order_id = (await self.conversation()).order_id
        if not order_id:
            return None
        return await self.order_of(order_id)

    async def order_of(self, order_id: int) -> Order | None:
        """One of the buyer's orders by id (None when it is not theirs), read once per update."""
        if order_id not in self._orders:
            self._orders[order_id] = await linking.buyer_order(self.core, self.actor, order_id)
        return self._orders[order_id]

    async def claims(self) -> list[Claim]:
        chosen = (await self.conversation()).chosen
        return [Claim(int(k), v) for k, v in chosen.items()]

    async def preview(self, reason: Reason, evidence: EvidenceCount) -> Decision:
        order_id = (await self.conversation()).order_id
        assert order_id is not None  # chosen before any question that needs a decision
        order, decision = await case_service.preview(
            self.core, self.actor, order_id, await self.claims(), reason, evidence
        )
        self._orders[order_id] = order  # the summary after it shows the same order
        return decision

    async def evidence_count(self) -> EvidenceCount:
        conv = await self.conversation()
        videos = sum(1 for e in conv.evidence if e.kind == "video")
        return EvidenceCount(
            photos=len(conv.evidence) - videos,
            videos=videos,
            has_description=bool(conv.description),
        )


# ── the steps ──────────────────────────────────────────────────────────────────────────────


async def ask_order(flow: Flow) -> None:
    await flow.state.set_state(OpenCase.order)
    orders = await linking.buyer_orders(flow.core, flow.actor)
    tr = flow.tr
    if orders:
        await flow.say(
            tr("Which order is it about? Pick it, or type another order number."),
            keyboards.orders(tr, orders),
        )
    else:
        await flow.say(
            tr(
                "Please type your order number (you find it in your order "
                "confirmation e-mail, for example #1001 or AUR-10021)."
            ),
            keyboards.only_nav(tr, back=False),
        )


async def ask_check(flow: Flow) -> None:
    await flow.state.set_state(OpenCase.check)
    await flow.say(
        flow.tr(
            "To protect your order, please type one of these as given in the order: the "
            "e-mail address, the last 4 digits of the phone number, or the postal code."
        ),
        keyboards.only_nav(flow.tr),
    )


async def ask_items(flow: Flow) -> None:
    order = await flow.order()
    if order is None:
        await ask_order(flow)
        return
    conv = await flow.conversation()
    if len(order.lines) == 1 and order.lines[0].quantity == 1:
        await flow.update(chosen={str(order.lines[0].line_no): 1})
        await after_items(flow)
        return
    await flow.state.set_state(OpenCase.items)
    chosen = {int(k): v for k, v in conv.chosen.items()}
    await flow.say(
        flow.tr("Which items is it about? Tap to select, then Continue."),
        keyboards.lines(flow.tr, order, chosen),
    )


def lines_needing_quantity(order: Order, chosen: dict[str, int]) -> list[int]:
    """The chosen lines of which the buyer bought more than one: how many is the question."""
    return [
        int(k) for k in chosen if (line := order.line(int(k))) is not None and line.quantity > 1
    ]


async def ask_quantity(flow: Flow) -> None:
    pending = (await flow.conversation()).pending_qty
    order = await flow.order()
    if not pending or order is None:
        await after_items(flow)
        return
    line = order.line(pending[0])
    assert line is not None
    await flow.state.set_state(OpenCase.quantity)
    await flow.say(
        flow.tr.plural(
            "How many of “{title}”? You bought one.",
            "How many of “{title}”? You bought {n}.",
            line.quantity,
            title=line.title,
        ),
        keyboards.quantities(flow.tr, line.line_no, line.quantity),
    )


async def after_items(flow: Flow) -> None:
    if not await claimable(flow):
        return
    conv = await flow.conversation()
    if conv.purpose == "change":
        await flow.step("change")
    elif conv.reason:  # preset (a "not received" report from tracking)
        await choose_reason(flow, conv.reason)
    else:
        await flow.step("reason")


async def claimable(flow: Flow) -> bool:
    """Check, right after the items are chosen, what opening the case would refuse at the end
    (a claim already rejected, an open case on an item, everything refunded already)."""
    conv = await flow.conversation()
    assert conv.order_id is not None  # the items are of the chosen order
    line_nos = [int(k) for k in conv.chosen]
    try:
        await claim_service.check_claimable(flow.core, flow.actor, conv.order_id, line_nos)
    except CoreError as exc:
        await refuse_claim(flow, exc)
        return False
    return True


async def refuse_claim(flow: Flow, exc: CoreError) -> None:
    """These items cannot be claimed again: say why now, with a person to turn to; the flow
    ends. "Talk to a person" then takes it from here (see ``refused_claim_to_person``)."""
    conv = await flow.conversation()
    assert conv.order_id is not None
    await flow.state.clear()
    refused: dict[str, Any] = {
        "order_id": conv.order_id,
        "chosen": conv.chosen,
        "error": exc.code,
    }
    case = exc.params.get("case")
    if exc.code == "previously_rejected" and case:
        refused["reopen"] = case  # a person reviews the rejected case
    elif exc.code == "line_has_open_case" and case:
        refused["escalate"] = case  # a person takes the open one
    else:
        refused["reason"] = Reason.OTHER  # a person looks at it as a new request
    await flow.update(refused=refused)
    await flow.say(texts.error(flow.tr, exc), keyboards.after_refusal(flow.tr))


# Said above the reason question: why the usual reasons are missing (where the parcel is).
FACT_NOTES = (
    "order_cancelled",
    "order_already_refunded",
    "not_shipped_yet",
    "not_delivered_yet",
    "not_overdue_yet",
)


def fact_notes(tr: Translator, choices: ReasonChoices) -> list[str]:
    found = {e.code: e for e in choices.reasons_not_offered() if e.code in FACT_NOTES}
    if choices.arrival is not Arrival.IN_TRANSIT:  # it may be in their hands: no estimates
        found.pop("not_overdue_yet", None)
    if choices.arrival is Arrival.NOT_SHIPPED or "not_overdue_yet" in found:
        found.pop("not_delivered_yet", None)  # said better by "not shipped" / "not overdue"
    explained = {
        "explanations": [
            {"code": code, "params": found[code].params} for code in FACT_NOTES if code in found
        ]
    }
    return texts.decision_lines(tr, explained)


async def ask_reason(flow: Flow) -> None:
    """The reasons the order's facts allow for the chosen items (no "arrived damaged" before
    delivery); above them, why the others are not there and what the buyer can do."""
    conv = await flow.conversation()
    if conv.purpose == "change":
        await ask_change(flow)
        return
    assert conv.order_id is not None
    tr = flow.tr
    choices = await claim_service.reason_choices(
        flow.core, flow.actor, conv.order_id, await flow.claims()
    )
    notes = fact_notes(tr, choices)
    offered = list(choices.allowed)  # the problems; before shipping, cancel or a new address
    if not offered:  # nothing to claim now (a cancelled order): the refusal, and a person
        await flow.update(reason=Reason.OTHER)
        refusal = texts.refusal(
            tr,
            {
                "explanations": [
                    {"code": e.code, "params": e.params} for e in choices.reasons_not_offered()
                ]
            },
        )
        await refuse_with(flow, refusal)
        return
    await flow.state.set_state(OpenCase.reason)
    await flow.update(offered_reasons=offered)
    question = tr("What happened?")
    markup = keyboards.reasons(tr, offered)
    why = choices.why_not(Reason.NOT_RECEIVED)
    if choices.arrival is Arrival.IN_TRANSIT and why is not None and why.code == "not_overdue_yet":
        # on its way, not overdue yet: a reminder on the day a claim becomes possible
        remind = keyboards.remind(tr, conv.order_id).inline_keyboard[0]
        markup = InlineKeyboardMarkup(inline_keyboard=[remind, *markup.inline_keyboard])
    await flow.say("\n\n".join(["\n".join(notes), question]) if notes else question, markup)


async def ask_change(flow: Flow) -> None:
    await flow.state.set_state(OpenCase.reason)
    await flow.say(flow.tr("What would you like to change?"), keyboards.change_kinds(flow.tr))


async def ask_description(flow: Flow) -> None:
    await flow.state.set_state(OpenCase.description)
    conv = await flow.conversation()
    tr = flow.tr
    if conv.reason == Reason.CHANGE_ADDRESS:
        await flow.say(tr("Please type the full new delivery address."), keyboards.only_nav(tr))
    elif conv.description_required:
        await flow.say(tr("Please describe what happened in a few words."), keyboards.only_nav(tr))
    else:
        await flow.say(
            tr("Would you like to add a few words about what happened? Type them, or press Skip."),
            keyboards.with_skip(tr),
        )


def _evidence_missing(conv: BuyerConversation) -> list[tuple[str, int]]:
    """What the policy still needs, as (photos | videos | media, how many): a photo does not
    stand in for a required video."""
    need = conv.need
    have = conv.evidence
    videos = sum(1 for e in have if e.kind == "video")
    photos = len(have) - videos
    missing = []
    if photos < need.get("photos", 0):
        missing.append(("photos", need["photos"] - photos))
    if videos < need.get("videos", 0):
        missing.append(("videos", need["videos"] - videos))
    counted = min(photos, need.get("photos", 0)) + min(videos, need.get("videos", 0))
    spare = len(have) - counted
    promised = counted + sum(count for _, count in missing) + spare
    if promised < need.get("media", 0):
        missing.append(("media", need["media"] - promised))
    return missing


def _evidence_prompt(tr: Translator, conv: BuyerConversation, *, received: bool = False) -> str:
    """What to send next and how far along the buyer is, the count said once: "Received 2 of
    at least 3" when a minimum applies, "Received 2 photos or videos" when none does (or when
    something came that does not count, followed by what is still needed).
    ``received``: the answer to a photo or video that just arrived."""
    need = conv.need
    have = conv.evidence
    guide = conv.guide
    total = max(need.get("photos", 0) + need.get("videos", 0), need.get("media", 0))
    missing = _evidence_missing(conv)
    # what counts towards the minimum: all of it once complete, else total less what is missing
    progress = len(have) if not missing else total - sum(count for _, count in missing)
    lines = []
    if guide:
        index = min(progress, len(guide) - 1)
        shot = texts.SHOTS.get(guide[index])
        if shot is not None and progress < max(total, len(guide)):
            lines.append(shot(tr))
    if need.get("videos"):
        lines.append(tr.plural("A video is needed.", "{n} videos are needed.", need["videos"]))
    if total and missing and progress < len(have):  # something came that does not count
        lines.append(_received(tr, len(have)))
        items = tr.join(texts.missing_line(tr, what, count) for what, count in missing)
        lines.append(tr("Still needed: {items}.", items=items))
    elif total:
        lines.append(
            tr(
                "Received {have} of at least {total}. You can send several at once.",
                have=progress,
                total=total,
            )
        )
    elif received and have:
        lines.append(_received(tr, len(have)))
        lines.append(tr("Send more if you like, or press Done."))
    else:
        lines.append(
            tr("Photos or a short video help the shop decide quickly. Send them, or press Done.")
        )
    return "\n".join(lines)


def _received(tr: Translator, count: int) -> str:
    return tr.plural("Received one photo or video.", "Received {n} photos or videos.", count)


def _evidence_complete(conv: BuyerConversation) -> bool:
    return not _evidence_missing(conv)


async def ask_evidence(flow: Flow) -> None:
    await flow.state.set_state(OpenCase.evidence)
    conv = await flow.conversation()
    await flow.say(
        _evidence_prompt(flow.tr, conv),
        keyboards.evidence(flow.tr, can_finish=_evidence_complete(conv)),
    )


async def ask_resolution(flow: Flow) -> None:
    reason = (await flow.conversation()).reason
    assert reason is not None  # chosen before the outcome is asked
    decision = await flow.preview(reason, await flow.evidence_count())
    allowed = list(decision.resolutions)
    if not decision.eligible:
        await refuse(flow, decision)
        return
    if len(allowed) <= 1:
        await flow.update(resolution=allowed[0] if allowed else None)
        await flow.step("confirm")
        return
    await flow.state.set_state(OpenCase.resolution)
    await flow.update(offered=allowed)
    await flow.say(
        flow.tr("What would you prefer?"),
        keyboards.resolutions(flow.tr, [resolution.value for resolution in allowed]),
    )


async def ask_confirm(flow: Flow) -> None:
    conv = await flow.conversation()
    tr = flow.tr
    reason = conv.reason
    assert reason is not None  # chosen before the summary
    decision = await flow.preview(reason, await flow.evidence_count())
    if not decision.eligible:
        await refuse(flow, decision)
        return
    order = await flow.order()
    assert order is not None
    await flow.state.set_state(OpenCase.confirm)
    lines = [tr("Please check your request:"), ""]
    lines.append(tr("Order: {number}", number=order.number))
    for claim in await flow.claims():
        line = order.line(claim.line_no)
        if line is not None:
            lines.append(f"• {escape(line.title)} × {claim.quantity}")
    lines.append(tr("Reason: {reason}", reason=texts.reason(tr, reason)))
    if conv.description:
        lines.append(tr("Your words: {text}", text=conv.description[:500]))
    if conv.evidence:
        lines.append(
            tr.plural(
                "One photo or video attached.",
                "{n} photos or videos attached.",
                len(conv.evidence),
            )
        )
    if conv.resolution:
        lines.append(
            tr("You prefer: {resolution}", resolution=texts.resolution(tr, conv.resolution))
        )
    lines.append("")
    explained = decision.to_dict()
    chosen = conv.resolution
    if chosen and not chosen.moves_money:  # no money changes hands: say nothing of it
        explained["explanations"] = [
            e
            for e in explained["explanations"]
            if e["code"] not in ("refund_amount", "shipping_refunded", "restocking_fee")
        ]
    if conv.wants_person:  # a person decides, whatever the automatic review would say
        explained["explanations"] = [
            e for e in explained["explanations"] if e["code"] not in REVIEW_CODES
        ] + [{"code": "review_by_agent_reason", "params": {}}]
    lines.extend(texts.decision_lines(tr, explained))
    if decision.missing:
        missing = tr.join(texts.missing_line(tr, m.what, m.count) for m in decision.missing)
        lines.append(tr("Still needed: {items}.", items=missing))
    await flow.say("\n".join(lines), keyboards.confirm(tr))


ASK = {
    "order": ask_order,
    "check": ask_check,
    "items": ask_items,
    "quantity": ask_quantity,
    "reason": ask_reason,
    "change": ask_change,
    "description": ask_description,
    "evidence": ask_evidence,
    "resolution": ask_resolution,
    "confirm": ask_confirm,
}


async def refuse(flow: Flow, decision: Decision) -> None:
    """The policy says no: explain why and what the buyer can still do; the flow ends."""
    await refuse_with(
        flow,
        texts.refusal(flow.tr, decision.to_dict()),
        remind=decision.refusal == "not_overdue_yet",
    )


async def refuse_with(flow: Flow, text: str, *, remind: bool = False) -> None:
    tr = flow.tr
    conv = await flow.conversation()
    await flow.state.clear()
    if conv.order_id and conv.reason:  # "talk to a person" can take it from here
        await flow.update(
            refused=RefusedClaim(
                order_id=conv.order_id,
                chosen=conv.chosen,
                reason=conv.reason,
                description=conv.description,
            )
        )
    if remind and conv.order_id:
        await flow.say(text, keyboards.remind(tr, conv.order_id))
        return
    await flow.say(text, keyboards.after_refusal(tr))


async def choose_reason(flow: Flow, reason: Reason) -> None:
    """After the reason: refuse early when the policy already says no, else ask for what the
    policy needs (a description, evidence)."""
    await flow.update(reason=reason)
    decision = await flow.preview(reason, EvidenceCount())
    if not decision.eligible:
        await refuse(flow, decision)
        return
    required = decision.evidence_required
    needs_description = any(m.what == "description" for m in decision.missing)
    await flow.update(
        need=dict(required),
        guide=list(decision.evidence_guide),
        description_required=needs_description,
    )
    if reason in (Reason.NOT_RECEIVED, Reason.CANCEL_ORDER):
        await flow.step("resolution")
    elif reason is Reason.CHANGE_ADDRESS or not (await flow.conversation()).description:
        await flow.step("description")
    else:  # the buyer already said what happened (free text that named the order)
        await flow.step("evidence")


async def start(
    flow: Flow,
    *,
    purpose: Purpose,
    order: Order | None = None,
    reason: Reason | None = None,
    description: str | None = None,
) -> None:
    """Begin a flow from the menu, a deep link, tracking or free text."""
    await fresh_start(flow.state)  # a person asked for before starting still decides
    await flow.update(purpose=purpose)
    if reason is not None:
        await flow.update(reason=reason)
    if description:
        await flow.update(description=description)
    if order is None:
        await ask_order(flow)
        return
    await order_chosen(flow, order)


async def order_chosen(flow: Flow, order: Order) -> None:
    purpose = (await flow.conversation()).purpose
    await flow.update(order_id=order.id, order_number=order.number, chosen={})
    if purpose == "track":
        await show_tracking(flow, order)
        return
    if purpose == "change":
        await flow.update(chosen={str(line.line_no): line.quantity for line in order.lines})
        if await claimable(flow):  # the whole order: refused now, not after the summary
            await flow.step("change")
        return
    await flow.step("items")


PARCEL_CODES = ("parcel_overdue", "unregistered_shipment", "tracking_shows_delivered")


async def show_tracking(flow: Flow, order: Order) -> None:
    tr = flow.tr
    await flow.state.clear()
    text = texts.order_summary(tr, order)
    overdue = False
    if order.status is OrderStatus.SHIPPED and order.id is not None:
        claims = [Claim(line.line_no, line.quantity) for line in order.lines]
        _, decision = await case_service.preview(
            flow.core, flow.actor, order.id, claims, Reason.NOT_RECEIVED, EvidenceCount()
        )
        if decision.eligible:
            overdue = True
            explained = decision.to_dict()  # where the parcel is; what a claim pays comes later
            explained["explanations"] = [
                e for e in explained["explanations"] if e["code"] in PARCEL_CODES
            ]
            text += "\n\n" + "\n".join(texts.decision_lines(tr, explained))
        elif decision.refusal == "not_overdue_yet":
            claim_from = decision.deadlines.get("claim_possible_from")
            if claim_from:
                text += "\n\n" + tr(
                    "If it has not arrived by {date}, you can open a claim here.",
                    date=tr.date(claim_from),
                )
            await flow.say(text, keyboards.remind(tr, order.id))
            return
    elif not order.shipments:
        text += "\n\n" + tr("It has not shipped yet.")
    await flow.say(text, keyboards.tracking(tr, order.id or 0, overdue=overdue))


def case_opened_text(tr: Translator, case: Case, core: CoreContext) -> str:
    """What happens next, after the case number."""
    lines = [tr("✅ Your case {number} is open.", number=texts.bold(case.number))]
    match case.status:
        case CaseStatus.AWAITING_RESOLUTION:
            if case.resolution and case.refund_amount is not None and case.resolution.moves_money:
                lines.append(
                    tr.plural(
                        "Approved: {amount} will be refunded within a day.",
                        "Approved: {amount} will be refunded within {n} days.",
                        core.config.lifecycle.resolution_days,
                        amount=case.refund_amount,
                    )
                )
            elif case.resolution:
                # worked out first: Babel's extractor reads a plural() call with tr inside
                # its arguments as a plain sentence
                resolution = texts.resolution(tr, case.resolution)
                lines.append(
                    tr.plural(
                        "Approved: {resolution}. The shop will send it within a day "
                        "and I will send you the tracking number.",
                        "Approved: {resolution}. The shop will send it within {n} "
                        "days and I will send you the tracking number.",
                        core.config.lifecycle.resolution_days,
                        resolution=resolution,
                    )
                )
        case CaseStatus.AWAITING_RETURN:
            lines.append(
                tr(
                    "Approved: {resolution}.",
                    resolution=texts.resolution(tr, case.resolution or "refund"),
                )
            )
            lines.append(texts.return_instructions(tr, case))
        case CaseStatus.AWAITING_SELLER:
            lines.append(
                tr(
                    "The shop will review it and reply here by {date}.",
                    date=tr.date(case.deadline_at) if case.deadline_at else "",
                )
            )
        case CaseStatus.AWAITING_AGENT:
            lines.append(
                tr(
                    "A support agent will look at it personally and reply here by {date}.",
                    date=tr.date(case.deadline_at) if case.deadline_at else "",
                )
            )
        case CaseStatus.AWAITING_BUYER_INFO:
            lines.append(tr("Something is still missing: open it under “My cases” to add it."))
    lines.append(tr("I will tell you here whenever it changes."))
    return "\n".join(lines)


# ── evidence intake ────────────────────────────────────────────────────────────────────────


async def take_evidence(flow: Flow, message: Message) -> None:
    tr = flow.tr
    item, why = evidence_of(message)
    if item is None:
        if why == "not_media_file":
            await flow.say(
                tr("That file is not a photo or a video. Please send photos or videos."),
                keyboards.evidence(tr, can_finish=_evidence_complete(await flow.conversation())),
            )
        else:
            conv = await flow.conversation()
            can_finish = _evidence_complete(conv)
            if can_finish:
                text = tr("Please send photos or a video here, or press Done.")
            else:  # no Done button yet: say what is still needed instead
                items = tr.join(
                    texts.missing_line(tr, what, count) for what, count in _evidence_missing(conv)
                )
                text = "\n".join(
                    [
                        tr("Please send photos or a video here."),
                        tr("Still needed: {items}.", items=items),
                    ]
                )
            await flow.say(text, keyboards.evidence(tr, can_finish=can_finish))
        return
    limit = flow.core.config.deployment.evidence_max_bytes
    if item.size and item.size > limit:
        await flow.say(
            tr(
                "That file is too large (over {mb} MB). Please send a photo or a shorter video.",
                mb=limit // (1024 * 1024),
            ),
            keyboards.evidence(tr, can_finish=_evidence_complete(await flow.conversation())),
        )
        return
    item.media_group_id = message.media_group_id
    if message.caption:
        item.caption = message.caption[:1000]
    evidence = list((await flow.conversation()).evidence)
    if any(e.file_unique_id == item.file_unique_id for e in evidence):
        return  # Telegram delivered it twice
    evidence.append(item)
    if len(evidence) > flow.core.config.deployment.evidence_max_files:
        await flow.say(texts.too_much_evidence(tr, flow.core.config.deployment.evidence_max_files))
        return
    conv = await flow.update(evidence=evidence)
    text = _evidence_prompt(tr, conv, received=True)
    markup = keyboards.evidence(tr, can_finish=_evidence_complete(conv))
    albums = dict(conv.album_messages)
    group = message.media_group_id
    if group and group in albums:
        try:  # one answer per album: the count is updated in place
            await flow.bot.edit_message_text(
                text, chat_id=flow.chat_id, message_id=albums[group], reply_markup=markup
            )
            return
        except Exception:
            log.debug("album count edit failed", exc_info=True)
    sent = await flow.say(text, markup)
    if group:
        albums[group] = sent.message_id
        await flow.update(album_messages=albums)


# ── the router ─────────────────────────────────────────────────────────────────────────────


REVIEW_CODES = frozenset(
    {
        "approved_automatically",
        "review_by_seller",
        "review_by_agent_reason",
        "review_by_agent_value",
        "review_by_agent_tracking",
        "review_weak_proof",
    }
)


class WithFlow(BaseMiddleware):
    """Hands every handler of this router the buyer's ``flow`` (the conversation so far and
    the steps to ask next), made from the update's bot, state, translator and core."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user = data.get("event_from_user")
        if user is not None and "state" in data:
            data["flow"] = Flow(data["bot"], user, data["state"], data["tr"], data["core"])
        return await handler(event, data)


async def after_description(flow: Flow) -> None:
    if (await flow.conversation()).reason == Reason.CHANGE_ADDRESS:
        await flow.step("confirm")
        return
    await flow.step("evidence")


async def on_cancel(query: CallbackQuery, flow: Flow) -> None:
    await query.answer()
    await flow.cancel()


async def on_back(query: CallbackQuery, flow: Flow) -> None:
    await query.answer()
    await flow.back()


async def on_order_pick(
    query: CallbackQuery,
    callback_data: OrderCb,
    state: FSMContext,
    tr: Translator,
    flow: Flow,
) -> None:
    await query.answer()
    if await state.get_state() is None:  # "report not received" from a tracking message
        await flow.update(purpose="case", reason=Reason.NOT_RECEIVED, history=[])
    if callback_data.order_id == 0:
        await flow.state.set_state(OpenCase.order)
        await flow.update(typing_other=True)
        await flow.say(tr("Please type your order number."), keyboards.only_nav(tr))
        return
    order = await flow.order_of(callback_data.order_id)
    if order is not None:  # never trust the button: it must be theirs
        await order_chosen(flow, order)
        return
    await flow.say(
        tr("I could not match that order number with those details. Check both and try again.")
    )


async def on_order_text(message: Message, tr: Translator, core: CoreContext, flow: Flow) -> None:
    assert message.text is not None
    candidates = find_order_numbers(message.text) or [normalize_order_number(message.text)]
    for number in candidates:
        try:
            order = await linking.find_linked_order(core, flow.actor, number)
        except CoreError:
            continue
        await order_chosen(flow, order)
        return
    if not candidates[0] or len(candidates[0]) > 64:
        await flow.say(
            tr(
                "That does not look like an order number. Please type it as in "
                "your order e-mail, for example #1001 or AUR-10021."
            ),
            keyboards.only_nav(tr, back=False),
        )
        return
    await flow.update(typed_number=candidates[0])
    await flow.step("check")


async def on_check(
    message: Message, state: FSMContext, tr: Translator, core: CoreContext, flow: Flow
) -> None:
    conv = await flow.conversation()
    assert message.text is not None
    try:
        result = await linking.link_by_check(
            core, flow.user.id, conv.typed_number or "", message.text
        )
    except RateLimited as exc:
        await state.clear()
        await flow.say(texts.error(tr, exc), keyboards.home(tr))
        return
    except CoreError as exc:
        await flow.say(
            texts.error(tr, exc) + "\n" + tr("Please type your order number again."),
            keyboards.only_nav(tr, back=conv.typing_other),
        )
        await state.set_state(OpenCase.order)
        return
    await flow.say(
        tr("Thank you, order {number} is now linked to this chat.", number=result.order.number)
    )
    await order_chosen(flow, result.order)


async def on_check_command(message: Message, tr: Translator, flow: Flow) -> None:
    """A command nobody knows typed at the check (/cancel, /start … are handled before): not
    an answer, and it costs no attempt."""
    await flow.say(tr("That is not a command I know."))
    await ask_check(flow)


async def on_line(query: CallbackQuery, callback_data: LineCb, tr: Translator, flow: Flow) -> None:
    await query.answer()
    order = await flow.order()
    if order is None:
        await ask_order(flow)
        return
    chosen = dict((await flow.conversation()).chosen)
    if callback_data.line_no == 0:
        if not chosen:
            await ask_items(flow)
            return
        if not await claimable(flow):  # told now, before "how many" and the rest
            return
        await flow.update(pending_qty=lines_needing_quantity(order, chosen))
        await flow.step("quantity")
        return
    line = order.line(callback_data.line_no)
    if line is None:
        return
    key = str(line.line_no)
    if key in chosen:
        chosen.pop(key)
    else:
        chosen[key] = line.quantity
    await flow.update(chosen=chosen)
    if query.message is not None and hasattr(query.message, "edit_reply_markup"):
        await query.message.edit_reply_markup(
            reply_markup=keyboards.lines(tr, order, {int(k): v for k, v in chosen.items()})
        )


async def on_quantity(query: CallbackQuery, callback_data: QtyCb, flow: Flow) -> None:
    await query.answer()
    conv = await flow.conversation()
    pending = conv.pending_qty
    if not pending or pending[0] != callback_data.line_no:
        return  # an old button
    order = await flow.order()
    line = order.line(callback_data.line_no) if order else None
    if line is None or not 1 <= callback_data.quantity <= line.quantity:
        await ask_quantity(flow)  # a forged button: ask again
        return
    chosen = dict(conv.chosen)
    chosen[str(callback_data.line_no)] = callback_data.quantity
    await flow.update(chosen=chosen, pending_qty=pending[1:])
    await ask_quantity(flow)


async def on_quantity_text(message: Message, tr: Translator, flow: Flow) -> None:
    conv = await flow.conversation()
    pending = conv.pending_qty
    order = await flow.order()
    assert message.text is not None
    if not pending or order is None:
        await ask_quantity(flow)
        return
    line = order.line(pending[0])
    quantity = int(message.text)
    if line is None or not 1 <= quantity <= line.quantity:
        await flow.say(
            tr("Please choose a number from 1 to {most}.", most=line.quantity if line else 1)
        )
        return
    chosen = dict(conv.chosen)
    chosen[str(line.line_no)] = quantity
    await flow.update(chosen=chosen, pending_qty=pending[1:])
    await ask_quantity(flow)


async def on_reason(query: CallbackQuery, callback_data: ReasonCb, flow: Flow) -> None:
    await query.answer()
    try:
        reason = Reason(callback_data.code)
    except ValueError:
        return
    offered = (await flow.conversation()).offered_reasons
    if reason not in (offered if offered is not None else BUYER_REASONS):
        await ask_reason(flow)  # not one of the buttons shown now: ask again
        return
    await choose_reason(flow, reason)


async def on_change_kind(query: CallbackQuery, callback_data: ChangeCb, flow: Flow) -> None:
    await query.answer()
    if callback_data.kind not in (Reason.CANCEL_ORDER, Reason.CHANGE_ADDRESS):
        return
    await choose_reason(flow, Reason(callback_data.kind))


async def on_description(message: Message, tr: Translator, flow: Flow) -> None:
    assert message.text is not None
    text = message.text.strip()
    if len(text) > case_service.MAX_DESCRIPTION:
        await flow.say(
            tr.plural(
                "That is too long: please keep it under one character.",
                "That is too long: please keep it under {n} characters.",
                case_service.MAX_DESCRIPTION,
            ),
            keyboards.only_nav(tr),
        )
        return
    wants_person = mentions_payment_dispute(text)  # a chargeback threat: a person decides
    await flow.update(description=text, **({"wants_person": True} if wants_person else {}))
    await after_description(flow)


async def on_skip_description(query: CallbackQuery, flow: Flow) -> None:
    await query.answer()
    if (await flow.conversation()).description_required:
        await ask_description(flow)
        return
    await after_description(flow)


async def on_evidence_done(query: CallbackQuery, flow: Flow) -> None:
    await query.answer()
    if not _evidence_complete(await flow.conversation()):
        await ask_evidence(flow)
        return
    await flow.step("resolution")


async def on_resolution(query: CallbackQuery, callback_data: ResolutionCb, flow: Flow) -> None:
    await query.answer()
    if callback_data.code not in (await flow.conversation()).offered:
        await ask_resolution(flow)  # not one of the buttons shown: ask again
        return
    await flow.update(resolution=Resolution(callback_data.code))
    await flow.step("confirm")


async def on_confirm(
    query: CallbackQuery, state: FSMContext, tr: Translator, core: CoreContext, flow: Flow
) -> None:
    await query.answer()
    conv = await flow.conversation()
    assert conv.order_id is not None and conv.reason is not None  # asked before the summary
    evidence = await store_evidence(flow.bot, flow.core, conv.evidence)
    new = case_service.NewCase(
        order_id=conv.order_id,
        claims=tuple(await flow.claims()),
        reason=conv.reason,
        description=conv.description,
        evidence=tuple(evidence),
        preferred_resolution=conv.resolution,
        wants_person=conv.wants_person,
    )
    try:
        opened = await case_service.open_case(core, flow.actor, new)
    except case_service.NotEligible as exc:
        await refuse(flow, exc.decision)
        return
    except CoreError as exc:
        await state.clear()
        await flow.say(texts.error(tr, exc), keyboards.home(tr))
        return
    await state.clear()
    # the buttons of the case as it stands: "I've sent it" for a return to post
    await flow.say(case_opened_text(tr, opened.case, core), buyer_actions(tr, opened.case))


async def on_remind(
    query: CallbackQuery, callback_data: RemindCb, tr: Translator, core: CoreContext, flow: Flow
) -> None:
    try:
        when = await case_service.remind_when_claim_possible(
            core, flow.actor, callback_data.order_id
        )
    except CoreError as exc:
        await query.answer(texts.error(tr, exc), show_alert=True)
        return
    await query.answer()
    await flow.say(
        tr("I will remind you on {date} if it has not arrived.", date=tr.date(when)),
        keyboards.home(tr),
    )


async def expect_text(message: Message, tr: Translator) -> None:
    await message.answer(tr("Please type it as text."), reply_markup=keyboards.only_nav(tr))


async def expect_button(message: Message, tr: Translator) -> None:
    await message.answer(
        tr("Please choose one of the buttons above."), reply_markup=keyboards.only_nav(tr)
    )


async def expect_number(message: Message, tr: Translator) -> None:
    await message.answer(
        tr("Please choose how many with the buttons above, or type a number."),
        reply_markup=keyboards.only_nav(tr),
    )


async def expect_description(message: Message, tr: Translator) -> None:
    await message.answer(
        tr(
            "Please type your answer as text (stickers, voice notes and "
            "locations cannot be read here)."
        ),
        reply_markup=keyboards.only_nav(tr),
    )


async def expect_media(message: Message, flow: Flow) -> None:
    """Anything sent at the evidence step: a photo or video is taken, the rest re-asked."""
    await take_evidence(flow, message)


def make_router() -> Router:
    router = Router(name="open_case")
    router.message.filter(PrivateChat())
    router.callback_query.filter(PrivateChat())
    router.message.middleware(WithFlow())
    router.callback_query.middleware(WithFlow())

    router.callback_query.register(on_cancel, NavCb.filter(F.action == "cancel"))
    router.callback_query.register(on_back, NavCb.filter(F.action == "back"), StateFilter(OpenCase))
    router.callback_query.register(
        on_order_pick, OrderCb.filter(), StateFilter(OpenCase.order, None)
    )
    router.message.register(on_order_text, OpenCase.order, F.text)
    router.message.register(on_check_command, OpenCase.check, F.text.startswith("/"))
    router.message.register(on_check, OpenCase.check, F.text)
    router.callback_query.register(on_line, LineCb.filter(), OpenCase.items)
    router.callback_query.register(on_quantity, QtyCb.filter(), OpenCase.quantity)
    router.message.register(on_quantity_text, OpenCase.quantity, F.text.regexp(r"^\s*\d{1,4}\s*$"))
    router.callback_query.register(on_reason, ReasonCb.filter(), OpenCase.reason)
    router.callback_query.register(on_change_kind, ChangeCb.filter(), OpenCase.reason)
    router.message.register(on_description, OpenCase.description, F.text)
    router.callback_query.register(
        on_skip_description, NavCb.filter(F.action == "skip"), OpenCase.description
    )
    router.callback_query.register(
        on_evidence_done, NavCb.filter(F.action == "done"), OpenCase.evidence
    )
    router.callback_query.register(on_resolution, ResolutionCb.filter(), OpenCase.resolution)
    router.callback_query.register(
        on_confirm, NavCb.filter(F.action == "confirm"), OpenCase.confirm
    )
    router.callback_query.register(on_remind, RemindCb.filter())
    router.message.register(expect_text, OpenCase.order)
    router.message.register(expect_text, OpenCase.check)
    router.message.register(expect_button, OpenCase.items)
    router.message.register(expect_button, OpenCase.reason)
    router.message.register(expect_button, OpenCase.resolution)
    router.message.register(expect_button, OpenCase.confirm)
    router.message.register(expect_number, OpenCase.quantity)
    router.message.register(expect_description, OpenCase.description)
    router.message.register(expect_media, OpenCase.evidence)
    return router


async def refused_claim_to_person(flow: Flow) -> Case | None:
    """The buyer was just told no and asks for a person: the same claim goes to an agent, who
    may still make an exception; a claim rejected before is reopened for a person's review, an
    open case on the items is escalated. None when there is no such claim (or it cannot be)."""
    refused = (await flow.conversation()).refused
    if not refused:
        return None
    if refused.reopen or refused.escalate:
        try:
            if refused.reopen:  # the rejected claim goes to a person for review
                case = await case_service.reopen(
                    flow.core, flow.actor, refused.reopen, "buyer_disagrees"
                )
            else:  # the open case on these items: a person takes it
                assert refused.escalate is not None
                case = await case_service.escalate(
                    flow.core, flow.actor, refused.escalate, "buyer_asked"
                )
        except CoreError:
            return None
        await flow.state.clear()
        return case
    if not refused.reason:
        return None
    new = case_service.NewCase(
        order_id=refused.order_id,
        claims=tuple(Claim(int(k), v) for k, v in refused.chosen.items()),
        reason=refused.reason,
        description=refused.description,
        wants_person=True,
    )
    try:
        opened = await case_service.open_case(flow.core, flow.actor, new)
    except CoreError:
        return None
    await flow.state.clear()
    return opened.case

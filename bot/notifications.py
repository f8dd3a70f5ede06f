"""Outbox notifications rendered for their recipient: a buyer in the buyer's language with the
buttons to act on it, a seller or agent with the case in front of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiogram.types import InlineKeyboardMarkup

from bot import keyboards, staff_keyboards, texts
from bot.i18n import Html, Translator, escape
from core.cases.lifecycle import CaseStatus, Role
from core.cases.model import Case, Evidence
from core.orders.model import Order
from core.persistence.repositories.outbox import OutboxMessage


@dataclass(frozen=True)
class Rendered:
    text: str
    markup: InlineKeyboardMarkup | None = None
    album: tuple[Evidence, ...] = ()  # sent first, as one album


def evidence_album(case: Case) -> tuple[Evidence, ...]:
    """The buyer's photos and videos, at most ten (one Telegram album)."""
    return tuple(e for e in case.evidence if e.file_id)[:10]


def _money(tr: Translator, value: dict[str, str] | None) -> str:
    return tr.money(value) if value else ""


def for_buyer(tr: Translator, message: OutboxMessage, case: Case | None) -> Rendered | None:
    """What a buyer is told of a change; None for changes the buyer already saw in the chat."""
    p: dict[str, Any] = message.payload
    number = p.get("case", "")
    note = p.get("note") or ""
    actions = keyboards.case_actions(tr, case) if case is not None else keyboards.home(tr)
    match message.kind:
        case "approved":
            lines = [
                tr(
                    "Good news: case {number} is approved ({resolution}).",
                    number=number,
                    resolution=texts.resolution(tr, p.get("resolution") or "refund"),
                )
            ]
            if (
                p.get("refund")
                and case is not None
                and case.resolution is not None
                and (case.resolution.moves_money)
            ):
                lines.append(tr("Refund: {amount}.", amount=_money(tr, p["refund"])))
            if case is not None and case.status is CaseStatus.AWAITING_RETURN:
                lines.append(texts.return_instructions(tr, case))
            return Rendered("\n".join(lines), actions)
        case "rejected":
            return Rendered(
                "\n".join(
                    [
                        tr("Case {number} was not approved.", number=number),
                        tr("Reason given: {note}", note=note),
                        tr("If you disagree, open the case and ask a person to review it."),
                    ]
                ),
                actions,
            )
        case "info_requested":
            return Rendered(
                tr(
                    "The shop needs more from you for case {number}: {note}",
                    number=number,
                    note=note,
                ),
                actions,
            )
        case "label_issued":
            text = tr("Return instructions for case {number} are ready.", number=number)
            if note:
                text += "\n" + escape(note)
            return Rendered(text, actions)
        case "goods_received":
            return Rendered(
                tr("The shop has received your return for case {number}.", number=number), actions
            )
        case "goods_lost":
            return Rendered(
                tr(
                    "Your return parcel for case {number} seems to be lost. The shop "
                    "is looking into it.",
                    number=number,
                ),
                actions,
            )
        case "refunded":
            return Rendered(
                tr(
                    "Case {number}: {amount} has been refunded.",
                    number=number,
                    amount=_money(tr, (p.get("amount") or p.get("refund"))),
                ),
                actions,
            )
        case "resolved":
            text = tr("Case {number} is resolved.", number=number)
            if p.get("tracking"):
                text += "\n" + tr(
                    "Tracking number {number}", number=Html(f"<code>{escape(p['tracking'])}</code>")
                )
            return Rendered(text, actions)
        case "escalated":
            return Rendered(
                tr(
                    "Case {number} is now with a support agent, who will reply here.", number=number
                ),
                actions,
            )
        case "agent_joined":
            return Rendered(
                tr(
                    "A support agent has joined case {number} and will write to you here.",
                    number=number,
                ),
                None,
            )
        case "bot_back":
            return Rendered(tr("The assistant is back for case {number}.", number=number), actions)
        case "cancelled":
            return Rendered(
                tr("Case {number} was closed by the shop: {note}", number=number, note=note),
                actions,
            )
        case "expired":
            return Rendered(
                tr(
                    "Case {number} was closed because we did not hear back in time. "
                    "You can open a new one from the menu.",
                    number=number,
                ),
                keyboards.main_menu(tr),
            )
        case "info_not_received":
            return Rendered(
                tr(
                    "No answer arrived for case {number}, so the shop goes on with what it has.",
                    number=number,
                ),
                actions,
            )
        case "reopened":
            return Rendered(tr("Case {number} is open again.", number=number), actions)
        case "message":
            return Rendered(
                tr(
                    "Message from the shop about case {number}: {text}",
                    number=number,
                    text=p.get("text") or "",
                ),
                actions,
            )
        case "reminder_buyer":
            deadline = case.deadline_at if case is not None else None
            return Rendered(
                tr(
                    "Case {number} is waiting for you. Please answer by {date}, or it will be "
                    "closed.",
                    number=number,
                    date=tr.date(deadline) if deadline else "",
                ),
                actions,
            )
        case "parcel_reminder":
            return Rendered(
                tr(
                    "Your order {order} is still not here? You can now report it as not received.",
                    order=p.get("order", ""),
                ),
                keyboards.tracking(tr, int(p.get("order_id") or 0), overdue=True),
            )
    return None  # case_opened, withdrawn…: the buyer saw those in the conversation


def for_staff(
    tr: Translator, message: OutboxMessage, case: Case | None, order: Order | None
) -> Rendered | None:
    """The alert a seller, the shop's staff chat or the agents get."""
    p: dict[str, Any] = message.payload
    number = p.get("case", "")
    headline = {
        "case_opened": tr("New case {number}", number=number),
        "info_provided": tr("Case {number}: the buyer sent what was asked", number=number),
        "escalated": tr("Case {number} needs a support agent", number=number),
        "reopened": tr("Case {number} was reopened", number=number),
        "withdrawn": tr("Case {number} was withdrawn by the buyer", number=number),
        "return_shipped": tr("Case {number}: the buyer sent the return", number=number),
        "approved": tr("Case {number} was approved", number=number),
        "rejected": tr("Case {number} was rejected", number=number),
        "message": tr("Case {number}: a message from the buyer", number=number),
        "reminder_seller": tr("Case {number} needs you within a day", number=number),
        "agent_nudge": tr("Case {number} has waited past its first-response time", number=number),
        "buyer_unreachable": tr(
            "Case {number}: the buyer blocked the bot and cannot be reached here", number=number
        ),
    }.get(message.kind)
    if headline is None:
        return None
    lines = [f"<b>{escape(headline)}</b>"]
    if case is not None:
        lines.append(texts.case_card(tr, case, order, staff=True))
        if order is not None:
            buyer = order.buyer
            lines.append(
                tr(
                    "Buyer: {name} ({country}, {language})",
                    name=buyer.name,
                    country=buyer.country or "?",
                    language=buyer.language or "?",
                )
            )
        if case.evidence:
            lines.append(
                tr.plural(
                    "One photo or video attached.",
                    "{n} photos or videos attached.",
                    len(case.evidence),
                )
            )
        decision = case.decision_snapshot
        for gap in decision.get("supplier_gaps", []):
            lines.append(
                tr(
                    "Not recoverable from supplier {supplier}: {amount}",
                    supplier=gap.get("supplier") or "?",
                    amount=_money(tr, gap.get("unrecoverable")),
                )
            )
    if message.kind == "message" and p.get("text"):
        lines.append(tr("Message: {text}", text=p["text"]))
    elif p.get("note") and message.kind in ("escalated", "reopened", "rejected"):
        lines.append(tr("Note: {text}", text=p["note"]))
    if case is None:
        return Rendered("\n".join(lines))
    role = Role.AGENT if message.recipient_role == "agents" else Role.SELLER
    album = evidence_album(case) if message.kind in ("case_opened", "escalated") else ()
    return Rendered("\n".join(lines), staff_keyboards.case_actions(tr, case, role), album)

"""Core values rendered as sentences in the reader's language.

Every user-visible sentence is a ``tr("…")`` call with an English msgid and named
placeholders, so that ``pybabel extract -k tr -k plural:1,2`` finds it; values are escaped by
the translator. The core speaks in codes; this module is the only dictionary from codes to words.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable
from datetime import datetime
from typing import Any

from babel import Locale, UnknownLocaleError

from bot.views import replies
from bot.views.i18n import NATIVE_NAMES, Html, Translator, escape, resolve_language
from core.cases.lifecycle import CaseStatus, GoodsStatus, MoneyStatus
from core.cases.model import Case
from core.cases.reasons import Party, Reason, Resolution
from core.errors import CoreError
from core.orders.model import Order, OrderStatus, Shipment
from core.services.people import ChatUser

Render = Callable[[Translator], str]

REASONS: dict[Reason, Render] = {
    Reason.DAMAGED: lambda tr: tr("Arrived damaged"),
    Reason.WRONG_ITEM: lambda tr: tr("Wrong item"),
    Reason.WRONG_SIZE_COLOUR: lambda tr: tr("Wrong size or colour"),
    Reason.MISSING_PART: lambda tr: tr("Missing part or quantity"),
    Reason.NOT_AS_DESCRIBED: lambda tr: tr("Poor quality / not as described"),
    Reason.DOES_NOT_WORK: lambda tr: tr("Does not work"),
    Reason.COUNTERFEIT: lambda tr: tr("Looks fake / counterfeit"),
    Reason.NOT_RECEIVED: lambda tr: tr("Not received"),
    Reason.ARRIVED_LATE: lambda tr: tr("Arrived very late"),
    Reason.CHANGED_MIND: lambda tr: tr("Changed my mind"),
    Reason.OTHER: lambda tr: tr("Something else"),
    Reason.CANCEL_ORDER: lambda tr: tr("Cancel the order"),
    Reason.CHANGE_ADDRESS: lambda tr: tr("Change the delivery address"),
}

RESOLUTIONS: dict[Resolution, Render] = {
    Resolution.REFUND: lambda tr: tr("Refund"),
    Resolution.REPLACEMENT: lambda tr: tr("Replacement"),
    Resolution.EXCHANGE: lambda tr: tr("Exchange for another size or colour"),
    Resolution.PARTIAL_REFUND: lambda tr: tr("Keep it with a partial refund"),
    Resolution.RESHIP: lambda tr: tr("Send it again"),
    Resolution.STORE_CREDIT: lambda tr: tr("Store credit"),
    Resolution.CANCEL: lambda tr: tr("Cancel the order"),
    Resolution.ADDRESS_CHANGE: lambda tr: tr("Ship to the new address"),
}

STATUSES: dict[CaseStatus, Render] = {
    CaseStatus.AWAITING_BUYER_INFO: lambda tr: tr("Waiting for your information"),
    CaseStatus.AWAITING_SELLER: lambda tr: tr("With the shop for a decision"),
    CaseStatus.AWAITING_AGENT: lambda tr: tr("With a support agent"),
    CaseStatus.AWAITING_RETURN: lambda tr: tr("Approved: waiting for you to send the item back"),
    CaseStatus.RETURN_IN_TRANSIT: lambda tr: tr("Return parcel on its way"),
    CaseStatus.AWAITING_RESOLUTION: lambda tr: tr("Approved: the shop is completing it"),
    CaseStatus.REOPENED: lambda tr: tr("Reopened"),
    CaseStatus.RESOLVED: lambda tr: tr("Resolved"),
    CaseStatus.REJECTED: lambda tr: tr("Rejected"),
    CaseStatus.CANCELLED: lambda tr: tr("Closed"),
}

STATUS_ICONS = {
    CaseStatus.AWAITING_BUYER_INFO: "✍️",
    CaseStatus.AWAITING_SELLER: "⏳",
    CaseStatus.AWAITING_AGENT: "🧑‍💼",
    CaseStatus.AWAITING_RETURN: "📦",
    CaseStatus.RETURN_IN_TRANSIT: "🚚",
    CaseStatus.AWAITING_RESOLUTION: "✅",
    CaseStatus.REOPENED: "🔁",
    CaseStatus.RESOLVED: "✔️",
    CaseStatus.REJECTED: "✖️",
    CaseStatus.CANCELLED: "▫️",
}

GOODS: dict[GoodsStatus, Render] = {
    GoodsStatus.NOT_REQUIRED: lambda tr: tr("You keep the item"),
    GoodsStatus.NOT_RETURNED: lambda tr: tr("Not sent back yet"),
    GoodsStatus.LABEL_ISSUED: lambda tr: tr("Return label sent to you"),
    GoodsStatus.IN_TRANSIT: lambda tr: tr("On its way back"),
    GoodsStatus.RECEIVED: lambda tr: tr("Received by the shop"),
    GoodsStatus.LOST: lambda tr: tr("Lost on the way back"),
}

MONEY: dict[MoneyStatus, Render] = {
    MoneyStatus.NONE: lambda tr: tr("No refund"),
    MoneyStatus.PENDING: lambda tr: tr("Refund pending"),
    MoneyStatus.REFUNDED: lambda tr: tr("Refunded"),
    MoneyStatus.FAILED: lambda tr: tr("Refund failed, the shop is on it"),
}

ORDER_STATUSES: dict[OrderStatus, Render] = {
    OrderStatus.PENDING: lambda tr: tr("Awaiting payment"),
    OrderStatus.PAID: lambda tr: tr("Paid, being prepared"),
    OrderStatus.SHIPPED: lambda tr: tr("Shipped"),
    OrderStatus.DELIVERED: lambda tr: tr("Delivered"),
    OrderStatus.CANCELLED: lambda tr: tr("Cancelled"),
}

# What to send next, by the policy's evidence guide (for damage: parcel, item, close-up).
SHOTS: dict[str, Render] = {
    "parcel": lambda tr: tr("Please send a photo of the parcel as it arrived, with its label."),
    "label": lambda tr: tr("Please send a photo of the label or tag on the item."),
    "item": lambda tr: tr("Please send a photo of the whole item."),
    "closeup": lambda tr: tr("Please send a close-up photo of the problem."),
    "video": lambda tr: tr("Please send a short video that shows the problem."),
}


def reason(tr: Translator, value: Reason | str) -> str:
    return REASONS[Reason(value)](tr)


def resolution(tr: Translator, value: Resolution | str) -> str:
    return RESOLUTIONS[Resolution(value)](tr)


def status(tr: Translator, value: CaseStatus | str) -> str:
    return STATUSES[CaseStatus(value)](tr)


# Product categories a policy names (non-returnable ones above all); others show as written.
CATEGORIES: dict[str, Render] = {
    "swimwear": lambda tr: tr("swimwear"),
    "underwear": lambda tr: tr("underwear"),
    "cosmetics": lambda tr: tr("cosmetics"),
}


def category(tr: Translator, code: str) -> str:
    words = CATEGORIES.get(code)
    return words(tr) if words else code.replace("-", " ").replace("_", " ")


def bold(text: str) -> Html:
    return Html(f"<b>{escape(text)}</b>")


# ── policy decisions ───────────────────────────────────────────────────────────────────────


def _options(tr: Translator, options: list[str]) -> list[str]:
    words = {
        "refuse_delivery": tr(
            "You can refuse the parcel when it arrives: the refund follows "
            "once it is back with the shop."
        ),
        "return_after_delivery": tr("You can return it after delivery under the return policy."),
        "reship_possible": tr(
            "The shop may reship it to your new address: ask for a person to arrange it."
        ),
        "cancel_order": tr("You can cancel the order instead."),
    }
    return [words[o] for o in options if o in words]


def explanation(tr: Translator, code: str, p: dict[str, Any]) -> str | None:
    """One explanation code of a decision as a sentence for the buyer; None when the code is
    for staff only (supplier terms)."""
    match code:
        case "within_window":
            return tr.plural(
                "You are within the one-day window, which ends on {date}.",
                "You are within the {n}-day window, which ends on {date}.",
                int(p["days"]),
                date=tr.date(p["ends_on"]),
            )
        case "outside_window":
            return tr.plural(
                "The one-day window for this ended on {date}.",
                "The {n}-day window for this ended on {date}.",
                int(p["days"]),
                date=tr.date(p["ends_on"]),
            )
        case "minimum_rights_apply":
            return tr.plural(
                "Consumer law in your country gives you one day, more than the shop's own policy.",
                "Consumer law in your country gives you {n} days, more than the shop's own policy.",
                int(p["legal_days"]),
            )
        case "category_not_returnable":
            return tr(
                "Items of this kind ({category}) cannot be returned for a change of mind.",
                category=category(tr, p["category"]),
            )
        case "change_of_mind_not_accepted":
            return tr("This shop does not accept returns for a change of mind.")
        case "order_cancelled":
            if p.get("refunded"):
                return tr(
                    "This order was cancelled and {amount} was refunded.",
                    amount=tr.money(p["refunded"]),
                )
            return tr("This order was cancelled.")
        case "order_already_refunded":
            return tr(
                "This order was already refunded in full ({amount}).",
                amount=tr.money(p["refunded"]),
            )
        case "line_already_refunded":
            return tr("This item was already refunded.")
        case "line_in_other_case":
            return tr("This item is already part of an open case. See “My cases”.")
        case "quantity_exceeds":
            return tr.plural(
                "You can claim at most one of this item.",
                "You can claim at most {n} of this item.",
                p["available"],
            )
        case "unknown_line" | "quantity_invalid" | "no_items_chosen":
            return tr("Please choose the items again.")
        case "reason_not_offered":
            return tr("The shop does not handle this kind of request here. Ask for a person.")
        case "not_shipped_yet":
            return " ".join(
                [tr("Your order has not shipped yet."), *_options(tr, p.get("options", []))]
            )
        case "not_shipped_yet_change_possible":
            return tr(
                "Your order has not shipped yet, so this can still be done. The shop will confirm."
            )
        case "already_shipped":
            return " ".join(
                [
                    tr("Your order has already shipped and the parcel cannot be recalled."),
                    *_options(tr, p.get("options", [])),
                ]
            )
        case "already_delivered":
            return (
                tr("Your order has already been delivered.")
                + " "
                + " ".join(_options(tr, p.get("options", [])))
            )
        case "not_overdue_yet":
            parts = [tr("Your parcel is still within its delivery estimate.")]
            if p.get("expected_to"):
                parts.append(
                    tr(
                        "Expected between {start} and {end}.",
                        start=tr.date(p["expected_from"]),
                        end=tr.date(p["expected_to"]),
                    )
                )
            parts.append(
                tr(
                    "If it has not arrived by {date}, you can open a claim here.",
                    date=tr.date(p["claim_from"]),
                )
            )
            return " ".join(parts)
        case "parcel_overdue":
            return tr("Your parcel is overdue.")
        case "unregistered_shipment":
            return tr("It was sent without tracking, so it cannot be traced.")
        case "tracking_shows_delivered":
            return tr(
                "Tracking shows it delivered on {date}. A person will look into it with "
                "the carrier.",
                date=tr.date(p["delivered_on"]),
            )
        case "not_delivered_yet":
            return tr("Your parcel has not been delivered yet.")
        case "arrived_on_time":
            return tr("The parcel arrived within its delivery estimate.")
        case "arrived_late_by":
            return tr.plural(
                "It arrived one day after the latest estimate.",
                "It arrived {n} days after the latest estimate.",
                int(p["days"]),
            )
        case "keep_item":
            return tr("You keep the item: no need to send it back.")
        case "keep_item_low_value":
            return tr(
                "The item is worth less than {amount}, so you keep it: no need to send it back.",
                amount=tr.money(p["threshold"]),
            )
        case "return_required":
            if p.get("paid_by") == Party.BUYER:
                return tr("The item must be sent back; you pay the return postage.")
            return tr("The item must be sent back; the shop pays the return postage.")
        case "restocking_fee":
            return tr(
                "A restocking fee of {percent} ({amount}) applies.",
                percent=Html(escape(tr.percent(p["percent"]))),
                amount=tr.money(p["amount"]),
            )
        case "restocking_fee_waived_by_law":
            return tr("No restocking fee: you are within your legal right of withdrawal.")
        case "shipping_refunded":
            return tr(
                "The original shipping cost ({amount}) is refunded too.",
                amount=tr.money(p["amount"]),
            )
        case "previous_refund":
            return tr(
                "{amount} was already refunded on this order.", amount=tr.money(p["refunded"])
            )
        case "refund_capped":
            return tr(
                "The refund is limited to what is left to refund: {amount}.",
                amount=tr.money(p["amount"]),
            )
        case "refund_amount":
            return tr("Refund amount: {amount}.", amount=tr.money(p["amount"]))
        case "approved_automatically":
            return tr("This can be approved straight away.")
        case "review_by_seller":
            return tr("The shop will review it and decide.")
        case (
            "review_by_agent_reason"
            | "review_by_agent_value"
            | "review_by_agent_tracking"
            | "review_by_agent_signals"  # the same words: signals are for staff only
        ):
            return tr("A support agent will review it personally.")
        case "review_weak_proof":
            return tr(
                "The shop will confirm it personally, because this chat proved the order is "
                "yours with {proof} only.",
                proof=proof_name(tr, p.get("proof")),
            )
        case _:
            return None  # supplier_gap, supplier_holds_authorisation: for staff


def decision_lines(tr: Translator, decision: dict[str, Any]) -> list[str]:
    lines = []
    for item in decision.get("explanations", []):
        sentence = explanation(tr, item["code"], item.get("params", {}))
        if sentence:
            lines.append(sentence)
    return lines


def refusal(tr: Translator, decision: dict[str, Any]) -> str:
    """Why the policy says no, and what the buyer can do instead."""
    lines = decision_lines(tr, decision) or [tr("This request is not possible for this order.")]
    return "\n".join(lines)


def missing_line(tr: Translator, what: str, count: int) -> str:
    match what:
        case "photos":
            return tr.plural("one more photo", "{n} more photos", count)
        case "videos":
            return tr.plural("one more video", "{n} more videos", count)
        case "media":
            return tr.plural("one more photo or video", "{n} more photos or videos", count)
        case _:
            return tr("a description of what happened")


# ── orders and cases ───────────────────────────────────────────────────────────────────────


def shipment_block(tr: Translator, shipment: Shipment, *, events: int = 3) -> list[str]:
    lines = []
    number = Html(f"<code>{escape(shipment.tracking_number or '')}</code>")
    if shipment.carrier and shipment.tracking_number:
        lines.append(
            tr(
                "Carrier: {carrier}, tracking number {number}",
                carrier=shipment.carrier,
                number=number,
            )
        )
    elif shipment.tracking_number:
        lines.append(tr("Tracking number {number}", number=number))
    elif shipment.carrier:
        lines.append(
            tr("Carrier: {carrier}, sent without a tracking number", carrier=shipment.carrier)
        )
    else:
        lines.append(tr("Sent without a tracking number"))
    lines.append(tr("Shipped on {date}", date=tr.date(shipment.shipped_at)))
    if shipment.delivered_at:
        lines.append(tr("Delivered on {date}", date=tr.date(shipment.delivered_at)))
    elif shipment.earliest_expected and shipment.latest_expected:
        lines.append(
            tr(
                "Expected between {start} and {end}",
                start=tr.date(shipment.earliest_expected),
                end=tr.date(shipment.latest_expected),
            )
        )
    recent = sorted(shipment.events, key=lambda e: e.at, reverse=True)[:events]
    for event in recent:
        where = f" · {escape(event.location)}" if event.location else ""
        text = escape(event.description or event.status)
        lines.append(f"• {escape(tr.date(event.at))}{where}: {text}")
    return lines


def order_summary(tr: Translator, order: Order) -> str:
    lines = [
        tr(
            "Order {number}: {status}",
            number=bold(order.number),
            status=ORDER_STATUSES[order.status](tr),
        )
    ]
    for line in order.lines:
        lines.append(f"• {escape(line.title)} × {line.quantity}")
    for shipment in order.shipments:
        lines.append("")
        lines.extend(shipment_block(tr, shipment))
    return "\n".join(lines)


def case_line(tr: Translator, case: Case, *, staff: bool = False) -> str:
    """One line of a list of cases, worded for the buyer or (``staff=True``) for the shop."""
    return (
        f"{STATUS_ICONS[case.status]} <b>{tr.isolate(escape(case.number))}</b> · "
        f"{escape(reason(tr, case.reason))} · {escape(status_for(tr, case.status, staff=staff))}"
    )


STAFF_STATUSES: dict[CaseStatus, Render] = {
    CaseStatus.AWAITING_BUYER_INFO: lambda tr: tr("Waiting for the buyer's information"),
    CaseStatus.AWAITING_SELLER: lambda tr: tr("Waiting for the shop's decision"),
    CaseStatus.AWAITING_AGENT: lambda tr: tr("Waiting for a support agent"),
    CaseStatus.AWAITING_RETURN: lambda tr: tr("Approved: waiting for the buyer to send it back"),
    CaseStatus.AWAITING_RESOLUTION: lambda tr: tr("Approved: the shop must complete it"),
}
STAFF_GOODS: dict[GoodsStatus, Render] = {
    GoodsStatus.NOT_REQUIRED: lambda tr: tr("The buyer keeps the item"),
    GoodsStatus.LABEL_ISSUED: lambda tr: tr("Return label sent to the buyer"),
}


def status_for(tr: Translator, value: CaseStatus, *, staff: bool = False) -> str:
    """A status worded for its reader: the buyer ("your information") or the staff."""
    if staff and value in STAFF_STATUSES:
        return STAFF_STATUSES[value](tr)
    return status(tr, value)


def case_card(
    tr: Translator, case: Case, order: Order | None = None, *, staff: bool = False
) -> str:
    """A case at a glance, for the buyer or (``staff=True``) for a seller or agent."""
    lines = [
        tr("Case {number}", number=bold(case.number)),
        tr("Order: {number}", number=case.order_number),
        tr("Reason: {reason}", reason=reason(tr, case.reason)),
        tr("Status: {status}", status=status_for(tr, case.status, staff=staff)),
    ]
    if order is not None:
        for case_line_ in case.lines:
            line = order.line(case_line_.line_no)
            if line is not None:
                lines.append(f"• {escape(line.title)} × {case_line_.quantity}")
    if case.description:  # the buyer's story, or the new address they asked for
        words = case.description[:500]
        lines.append(
            tr("In the buyer's words: {text}", text=words)
            if staff
            else tr("Your words: {text}", text=words)
        )
    if case.resolution:
        lines.append(tr("Outcome: {resolution}", resolution=resolution(tr, case.resolution)))
    if case.refund_amount is not None:
        lines.append(
            tr("Refund: {amount} ({state})", amount=case.refund_amount, state=MONEY[case.money](tr))
        )
    if case.return_required:
        goods = STAFF_GOODS.get(case.goods) if staff else None
        lines.append(tr("Return: {state}", state=(goods or GOODS[case.goods])(tr)))
    if case.decision_note and case.status is CaseStatus.REJECTED:
        lines.append(tr("Reason given: {note}", note=case.decision_note))
    if case.deadline_at and case.is_open:
        if staff:
            lines.append(tr("Next step due by {date}.", date=tr.date(case.deadline_at)))
        elif case.status.waiting_on.value == "buyer":
            lines.append(tr("Please reply by {date}.", date=tr.date(case.deadline_at)))
    return "\n".join(lines)


def language_name(tr: Translator, tag: str | None) -> str:
    """The language the bot speaks with someone whose language tag is ``tag`` (the catalogue
    it resolves to), named in the reader's language, with its code: "Chinese (zh)"."""
    code = resolve_language(tag)
    try:
        name = Locale.parse(code).get_language_name(tr.language)
    except (ValueError, UnknownLocaleError):
        name = None
    return f"{name or NATIVE_NAMES.get(code, code)} ({code})"


def _chat_differs(order: Order, chat: ChatUser) -> bool:
    """Whether the person chatting is not plainly the order's buyer: another first name, or
    another language than the bot would speak with the buyer."""
    if resolve_language(chat.language) != resolve_language(order.buyer.language):
        return True
    first = (chat.first_name or "").casefold().split()
    return bool(first) and not set(first) <= set(order.buyer.name.casefold().split())


PROOFS: dict[str, Render] = {
    "token": lambda tr: tr("the signed link from the order e-mail"),
    "email": lambda tr: tr("the order's e-mail address"),
    "phone_last4": lambda tr: tr("the last 4 digits of the phone number"),
    "postal_code": lambda tr: tr("the postal code"),
    "import": lambda tr: tr("the shop's order records"),
    "check": lambda tr: tr("a detail of the order"),
}


def proof_name(tr: Translator, proof: str | None) -> str:
    """How an account proved an order is theirs, in words."""
    return PROOFS.get(proof or "", PROOFS["check"])(tr)


def account_lines(tr: Translator, case: Case, chat: ChatUser | None) -> list[str]:
    """For staff: which Telegram account is talking about the case and how it proved the
    order is theirs; and, when that proof is too weak for the change asked, that a person must
    confirm it."""
    if case.buyer_id is None:
        return []
    name = (chat.first_name if chat else None) or "?"
    if case.buyer_proof is None:  # opened before proofs were recorded
        lines = [tr("Account: {name} (Telegram id {id})", name=name, id=str(case.buyer_id))]
    else:
        lines = [
            tr(
                "Account: {name} (Telegram id {id}), linked by {proof}",
                name=name,
                id=str(case.buyer_id),
                proof=proof_name(tr, case.buyer_proof),
            )
        ]
    weak = case.decision.weak_proof
    if weak is not None and case.is_open:
        lines.append(
            tr(
                "Confirm it yourself: this account proved the order only with {proof}. "
                "If in doubt, contact the buyer by the order's e-mail.",
                proof=proof_name(tr, weak),
            )
        )
    return lines + signal_lines(tr, case)


def signal_lines(tr: Translator, case: Case) -> list[str]:
    """For staff only (the alert, the card, the agents' topic): the signs of abuse a person
    should look at, each with its numbers. Never a verdict: the buyer never reads them."""
    sentences = [signal(tr, item.code, item.params) for item in case.signals or ()]
    if not any(sentences):
        return []
    return [tr("Worth a look (not a verdict):")] + [f"⚠️ {s}" for s in sentences if s]


def signal(tr: Translator, code: str, p: dict[str, Any]) -> str | None:
    """One abuse signal as a sentence for staff (core/policy/signals.py)."""
    match code:
        case "many_cases":
            return (
                tr.plural(
                    "Cases by this buyer in the last day: {count}.",
                    "Cases by this buyer in the last {n} days: {count}.",
                    int(p.get("days") or 0),
                    count=int(p.get("count") or 0),
                )
                + " "
                + tr.plural(
                    "From one Telegram account (matched by the order book's e-mails and phones).",
                    "From {n} Telegram accounts (matched by the order book's e-mails and phones).",
                    int(p.get("accounts") or 1),
                )
            )
        case "claim_share":
            # worked out first: Babel's extractor reads a plural() call with tr inside its
            # arguments as a plain sentence
            percent = Html(escape(tr.percent(p.get("percent") or 0)))
            claimed, bought = tr.money(p["claimed"]), tr.money(p["bought"])
            return tr.plural(
                "Claims worth {percent} of what this buyer bought in the last day "
                "({claimed} of {bought}).",
                "Claims worth {percent} of what this buyer bought in the last {n} days "
                "({claimed} of {bought}).",
                int(p.get("days") or 0),
                percent=percent,
                claimed=claimed,
                bought=bought,
            )
        case "not_received_delivered":
            if p.get("minutes") is not None:
                return tr.plural(
                    "“Not received” claimed {n} minute after the carrier's delivery scan.",
                    "“Not received” claimed {n} minutes after the carrier's delivery scan.",
                    int(p["minutes"]),
                )
            return tr(
                "“Not received”, but the carrier scanned it as delivered on {date}.",
                date=tr.date(p["delivered_at"]),
            )
        case "same_photo":
            if p.get("other_buyer"):
                return tr(
                    "A photo looks the same as one sent by another buyer in case {number}.",
                    number=p.get("case"),
                )
            return tr("A photo looks the same as one sent in case {number}.", number=p.get("case"))
        case "photo_before_delivery":
            return tr(
                "A photo sent as a file was taken on {taken} (camera date), before the "
                "delivery on {delivered}.",
                taken=tr.date(p["taken_at"]),
                delivered=tr.date(p["delivered_at"]),
            )
        case "occasion_return":
            return tr.plural(
                "Change of mind {n} day before the window ends, for goods bought for one "
                "occasion ({categories}).",
                "Change of mind {n} days before the window ends, for goods bought for one "
                "occasion ({categories}).",
                int(p.get("days_left") or 0),
                categories=tr.join(str(c) for c in p.get("categories") or ()),
            )
    return None


def buyer_line(tr: Translator, order: Order, chat: ChatUser | None = None) -> str:
    """Who the buyer is, for staff: name, country and language. ``chat``: the Telegram user
    who opened the case; when they are not plainly the order's buyer (another name or
    language), who is writing and in which language the bot speaks with them, so staff
    answer in that one."""
    buyer = order.buyer
    values: dict[str, Any] = {
        "name": buyer.name,
        "country": buyer.country or "?",
        "language": buyer.language or "?",
    }
    if chat is None or not _chat_differs(order, chat):
        return tr("Buyer: {name} ({country}, {language})", **values)
    return tr(
        "Buyer: {name} ({country}, {language}) · writing: {chat_name}, in {chat_language}",
        **values,
        chat_name=chat.first_name or "?",
        chat_language=language_name(tr, chat.language),
    )


def return_instructions(tr: Translator, case: Case) -> str:
    """Where to send the item back, who pays, and by when."""
    decision = case.decision
    parts = [tr("How to return it:")]
    address = decision.return_address
    if address:
        parts.append(tr("Send it to: {address}", address=address))
    parts.append(tr("Write the case number {number} on the parcel.", number=case.number))
    if case.return_paid_by and case.return_paid_by.value == "buyer":
        parts.append(tr("You pay the return postage. Keep the receipt and tracking number."))
    else:
        parts.append(tr("The shop pays the return postage: a prepaid label will follow here."))
    deadline = decision.deadlines.get("return_by")
    if deadline:
        parts.append(tr("Please send it by {date}.", date=tr.date(deadline)))
    return "\n".join(parts)


def timeline_label(tr: Translator, action: str, *, staff: bool = False) -> str:
    """An audit action in words: the case's history, and what changed a case under a press."""
    words = {
        "open": tr("Case opened"),
        "approve": tr("Approved"),
        "reject": tr("Rejected"),
        "request_info": tr("The shop asked for more information"),
        "provide_info": tr("The buyer sent the information")
        if staff
        else tr("You sent the information"),
        "evidence_added": tr("Photos or videos added"),
        "message": tr("Message"),
        "escalate": tr("Passed to a support agent"),
        "issue_label": tr("Return label sent"),
        "return_shipped": tr("Return parcel sent"),
        "goods_received": tr("Return received by the shop"),
        "goods_lost": tr("Return parcel lost"),
        "refund_recorded": tr("Refund sent"),
        "refund_failed": tr("Refund failed"),
        "replacement_shipped": tr("Replacement sent"),
        "resolve": tr("Resolved"),
        "withdraw": tr("The buyer withdrew the case") if staff else tr("You withdrew the case"),
        "cancel": tr("Closed by the shop"),
        "expire": tr("Closed: no reply in time"),
        "reopen": tr("Reopened"),
        "take_over": tr("A support agent joined"),
        "hand_back": tr("Back with the assistant"),
        "note": tr("Internal note"),
        "return_overdue": tr("Return parcel overdue"),
        "cost_recorded": tr("Cost recorded"),  # staff only: never in the buyer's history
        "dispute": tr("Platform dispute recorded"),
        "dispute_missed": tr("A dispute deadline was missed"),
    }
    return words.get(action, escape(action))


def timeline_entry(
    tr: Translator,
    at: datetime,
    action: str,
    note: str | None,
    *,
    staff: bool = False,
    data: dict[str, Any] | None = None,
) -> str:
    label = timeline_label(tr, action, staff=staff)
    if action == "message" and data and data.get("ready_reply"):  # in the reader's language
        with contextlib.suppress(ValueError, KeyError, TypeError):
            note = html.unescape(
                replies.sentence(tr, data["ready_reply"], dict(data.get("values") or {}))
            )
    text = f"{escape(tr.date(at))} · {label}"
    if note and action in (
        "message",
        "reject",
        "request_info",
        "cancel",
        "note",
        "return_shipped",
        "goods_lost",
        "refund_failed",
    ):
        text += f": <i>{escape(note[:300])}</i>"
    return text


# ── errors ─────────────────────────────────────────────────────────────────────────────────


ErrorText = Callable[[Translator, dict[str, Any]], str]


def _amount_limit(tr: Translator, p: dict[str, Any]) -> str:
    if p.get("maximum") is None or p.get("currency") is None:
        return tr("That amount is not possible for this case. Check it and type it again.")
    return tr(
        "The amount must be above zero and at most {amount}. Type it again.",
        amount=tr.money({"amount": p["maximum"], "currency": p["currency"]}),
    )


def _previously_rejected(tr: Translator, p: dict[str, Any]) -> str:
    when = p.get("decided_at")
    if when:
        return tr(
            "This item's claim was already decided: case {number} was not approved on {date}. "
            "Filing it again will not change that, but a person can review the decision: "
            "press “Talk to a person”.",
            number=p.get("case", ""),
            date=tr.date(datetime.fromisoformat(when)) if isinstance(when, str) else tr.date(when),
        )
    return tr(
        "This item's claim was already decided: case {number} was not approved. Filing it again "
        "will not change that, but a person can review the decision: press “Talk to a person”.",
        number=p.get("case", ""),
    )


# Codes that share a sentence.
def _not_at_this_stage(tr: Translator, p: dict[str, Any]) -> str:
    return tr(
        "That is not possible at this stage of the case. Open the case to see what you can do."
    )


def _no_match(tr: Translator, p: dict[str, Any]) -> str:
    return tr("I could not match that order number with those details. Check both and try again.")


def _just_changed(tr: Translator, p: dict[str, Any]) -> str:
    return tr("This case has just changed. Here is where it stands now.")


def _not_empty(tr: Translator, p: dict[str, Any]) -> str:
    return tr("Please type a few words: this cannot be empty.")


def _not_an_amount(tr: Translator, p: dict[str, Any]) -> str:
    return tr("That is not an amount: type it in digits, for example 12.50.")


# Every core error code (core.errors.ErrorCode) as a sentence: what happened and what to do.
ERRORS: dict[str, ErrorText] = {
    **dict.fromkeys(("invalid_transition", "wrong_status", "wrong_target"), _not_at_this_stage),
    **dict.fromkeys(("order_not_linked", "order_check_failed"), _no_match),
    **dict.fromkeys(("already_handled", "stale_case"), _just_changed),
    **dict.fromkeys(("reason_required", "empty"), _not_empty),
    **dict.fromkeys(("amount_required", "invalid_amount"), _not_an_amount),
    "core_error": lambda tr, p: tr(
        "Sorry, that did not work. Please try again, or type /human to reach a person."
    ),
    "not_found": lambda tr, p: tr("I cannot find that. Check the number and try again."),
    "forbidden": lambda tr, p: tr("You cannot do that here."),
    "conflict": lambda tr, p: tr("Somebody else just did this. Here is where it stands now."),
    "rate_limited": lambda tr, p: tr("Too many attempts. Please try again in an hour."),
    "invalid": lambda tr, p: tr("That is not valid. Please check it and try again."),
    "not_staff": lambda tr, p: tr(
        "This is for the shop's staff. Ask the shop owner for an invitation link."
    ),
    "not_your_shop": lambda tr, p: tr("This case belongs to a shop you do not work for."),
    "role_not_allowed": lambda tr, p: tr(
        "That is not yours to do on this case. Open the case to see what you can do."
    ),
    "unknown_shop": lambda tr, p: tr("There is no shop with that name in the configuration."),
    "unknown_role": lambda tr, p: tr("A staff member is either a seller or an agent."),
    "invite_expired": lambda tr, p: tr(
        "This invitation has expired or was already used. Ask for a new one."
    ),
    "invite_used": lambda tr, p: tr(
        "This invitation was already used by someone else: each link works once. Ask the "
        "shop for an invitation of your own."
    ),
    "invite_revoked": lambda tr, p: tr(
        "This invitation was withdrawn by the shop. Ask the shop for a new one."
    ),
    "invite_invalid": lambda tr, p: tr(
        "This invitation link is not valid. Ask the shop for a new one."
    ),
    "invitation_not_found": lambda tr, p: tr("There is no such invitation."),
    "not_a_member": lambda tr, p: tr("That person is not on the shop's staff."),
    "staff_in_config": lambda tr, p: tr(
        "That person is listed in the configuration file: remove them there."
    ),
    "order_not_found": lambda tr, p: tr(
        "I cannot find that order. Check the number on your confirmation e-mail and try again."
    ),
    "order_line_not_found": lambda tr, p: tr(
        "That item is not part of this order. Choose it again from the list."
    ),
    "order_fully_refunded": lambda tr, p: tr(
        "Everything you chose from order {order} was already refunded or is covered by "
        "another case: there is nothing left to claim. See “My cases”, or press "
        "“Talk to a person” if something is wrong.",
        order=p.get("order", ""),
    ),
    "link_token_invalid": lambda tr, p: tr(
        "This link is not valid. Type your order number instead."
    ),
    "login_link_invalid": lambda tr, p: tr(
        "This login link was used already or has expired: send /board to the bot for a new one."
    ),
    "not_eligible": lambda tr, p: tr(
        "The return policy does not cover this claim. Press “Talk to a person” if you think "
        "it should."
    ),
    "previously_rejected": _previously_rejected,
    "line_has_open_case": lambda tr, p: tr(
        "This item is already part of an open case. See “My cases”."
    ),
    "duplicate_case_number": lambda tr, p: tr(
        "Two cases were opened at the same moment. Please press the button again."
    ),
    "evidence_too_large": lambda tr, p: tr(
        "That file is too large. Please send a photo or a shorter video."
    ),
    "too_much_evidence": lambda tr, p: too_much_evidence(tr, int(p.get("limit", 20))),
    "evidence_still_missing": lambda tr, p: tr(
        "Something is still missing before the case can go on: add the photos or words "
        "asked for, then press “I have sent everything”."
    ),
    "case_not_found": lambda tr, p: tr("I cannot find that case among yours."),
    "case_closed": lambda tr, p: tr(
        "This case is closed. Open “My cases” to see how it ended, or start a new one."
    ),
    "not_waiting_on_you": lambda tr, p: tr(
        "This case is not waiting for anything from you right now."
    ),
    "unknown_action": lambda tr, p: tr("That button is no longer in use. Open the case again."),
    "already_escalated": lambda tr, p: tr(
        "This case is already with a support agent, who will reply here."
    ),
    "needs_an_agent": lambda tr, p: tr(
        "A support agent decides this case (the policy asks for one). You can add a note or "
        "a message; the agent sees it."
    ),
    "taken_by_other_agent": lambda tr, p: tr(
        "Another agent is already talking to this buyer. Ask them to hand it back first."
    ),
    "not_your_conversation": lambda tr, p: tr(
        "This conversation is not yours: only the agent who took it can hand it back."
    ),
    "no_buyer_chat": lambda tr, p: tr(
        "This buyer cannot be reached in Telegram (the chat that opened the case is gone)."
    ),
    "conversation_with_agent": lambda tr, p: tr(
        "A support agent is talking with this buyer: only they write to the buyer until "
        "they hand the conversation back."
    ),
    "ready_reply_unavailable": lambda tr, p: tr(
        "That ready reply no longer fits this case. Here are the ones that do."
    ),
    "resolution_not_allowed": lambda tr, p: tr(
        "The return policy does not offer that outcome for this case. Choose one of the "
        "buttons under the case."
    ),
    "no_refund_due": lambda tr, p: tr("No refund is due on this case."),
    "refund_pending": lambda tr, p: tr(
        "The buyer is still owed a refund: record the refund first, then the case closes."
    ),
    "no_replacement_due": lambda tr, p: tr("This case was not decided as a replacement."),
    "replacement_pending": lambda tr, p: tr(
        "A replacement is still due: record the shipment with its tracking number."
    ),
    "no_return_due": lambda tr, p: tr("Nothing has to be sent back on this case."),
    "survey_not_found": lambda tr, p: tr("This survey is not one we can find for you."),
    "survey_answered": lambda tr, p: tr(
        "You have already rated this case. Thank you, your answer is kept."
    ),
    "survey_withdrawn": lambda tr, p: tr(
        "This case was reopened, so this survey no longer applies. You may be asked again "
        "once it is settled."
    ),
    "text_too_long": lambda tr, p: tr.plural(
        "That is too long: please keep it under one character.",
        "That is too long: please keep it under {n} characters.",
        int(p.get("limit", 4000)),
    ),
    "amount_out_of_range": _amount_limit,
    "wrong_currency": _amount_limit,
    "pack_too_large": lambda tr, p: tr(
        "The evidence pack would be over {limit} MB, more than Telegram lets a bot "
        "send. The original files stay in the evidence store on the server.",
        limit=p.get("limit_mb", 50),
    ),
    "unknown_platform": lambda tr, p: tr(
        "Unknown platform {platform}. Known: {known}.",
        platform=p.get("platform", ""),
        known=p.get("known", ""),
    ),
    "unknown_stage": lambda tr, p: tr(
        "Unknown stage {stage}. This platform's stages: {known}.",
        stage=p.get("stage", ""),
        known=p.get("known", ""),
    ),
    "dispute_on_other_case": lambda tr, p: tr(
        "This dispute is already recorded on another case {number}.", number=p.get("case", "")
    ),
    "due_date_required": lambda tr, p: tr(
        "A chargeback needs the evidence due date the payment processor gave, for example "
        "--due 2026-12-10."
    ),
    "bad_date": lambda tr, p: tr(
        "That is not a date in the past: write it as 2026-12-01 or 2026-12-01T09:30."
    ),
    "dispute_not_found": lambda tr, p: tr("There is no such dispute on this case."),
}


def too_much_evidence(tr: Translator, limit: int) -> str:
    return tr.plural(
        "That is plenty, thank you: a case keeps at most {limit} photo or video.",
        "That is plenty, thank you: a case keeps at most {limit} photos or videos.",
        limit,
        limit=limit,
    )


def error(tr: Translator, exc: CoreError) -> str:
    """A core refusal as one clear sentence: what happened and what to do next."""
    words = ERRORS.get(str(exc.code)) or ERRORS["core_error"]
    return words(tr, exc.params)


def staff_role(tr: Translator, role: str) -> str:
    """Who did something, as staff read it."""
    match role:
        case "agent":
            return tr("a support agent")
        case "buyer":
            return tr("the buyer")
        case "system":
            return tr("automatically")
    return tr("a seller")

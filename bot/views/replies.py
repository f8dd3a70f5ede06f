"""Ready replies in words: each code of core/cases/replies.py has one sentence for the buyer
and one short label for staff, both catalogue messages, so that staff pick a reply in their
language and the buyer reads it in theirs, with the case's values formatted for the reader
(amounts and dates by Babel)."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.views.i18n import NATIVE_NAMES, Translator, resolve_language
from core.cases.replies import ReadyReply
from core.money import Money

R = ReadyReply


class ReplyCb(CallbackData, prefix="rp"):
    number: str
    step: str  # list | show | send
    reply: str = ""  # a ReadyReply code
    status: str = ""  # the case's status the menu was made for


def label(tr: Translator, reply: ReadyReply) -> str:
    """The button staff press, in their language."""
    return {
        R.LOOKING_INTO_IT: lambda: tr("We are looking into it"),
        R.LABEL_PHOTO: lambda: tr("Ask for a photo of the shipping label"),
        R.PARCEL_PHOTOS: lambda: tr("Ask for photos of the parcel"),
        R.DEFECT_VIDEO: lambda: tr("Ask for a video of the defect"),
        R.ITEM_PHOTOS: lambda: tr("Ask for photos of the item received"),
        R.DELIVERY_DATE: lambda: tr("Give the new delivery date"),
        R.CARRIER_CHECK: lambda: tr("Say we asked the carrier"),
        R.RETURN_LABEL_SENT: lambda: tr("Say the return label is in the chat"),
        R.RETURN_RECEIVED: lambda: tr("Confirm the return arrived"),
        R.REFUND_SENT: lambda: tr("Say the refund was sent"),
        R.REPLACEMENT_SHIPPED: lambda: tr("Say the replacement was shipped"),
    }[reply]()


def _values(values: dict[str, Any]) -> dict[str, Any]:
    """The JSON values of the core as the translator formats them (money, dates)."""
    found: dict[str, Any] = {}
    for key, value in values.items():
        if key == "amount" and isinstance(value, dict):
            found[key] = Money.parse(value["amount"], value["currency"])
        elif key == "date" and isinstance(value, str):
            found[key] = date.fromisoformat(value[:10])
        else:
            found[key] = str(value)
    return found


def sentence(tr: Translator, reply: ReadyReply | str, values: dict[str, Any]) -> str:
    """What the buyer reads, in ``tr``'s language, with the case's values."""
    v = _values(values)
    match ReadyReply(reply):
        case R.LOOKING_INTO_IT:
            return tr(
                "We are looking into case {case} and will write to you here as soon as we "
                "know more.",
                **v,
            )
        case R.LABEL_PHOTO:
            return tr(
                "For case {case}, please send a photo of the shipping label on the parcel, "
                "with the tracking number readable.",
                **v,
            )
        case R.PARCEL_PHOTOS:
            return tr(
                "For case {case}, please send photos of the parcel as it arrived: the box "
                "from every side and the packaging inside.",
                **v,
            )
        case R.DEFECT_VIDEO:
            return tr(
                "For case {case}, please send a short video that shows the problem: the "
                "item, and what happens when you use it.",
                **v,
            )
        case R.ITEM_PHOTOS:
            return tr(
                "For case {case}, please send photos of the item you received, with its "
                "tags or labels showing the model, size or colour.",
                **v,
            )
        case R.DELIVERY_DATE:
            return tr(
                "Case {case}: the carrier now expects your parcel for order {order} by "
                "{date} (tracking number {tracking}).",
                **v,
            )
        case R.CARRIER_CHECK:
            return tr(
                "Case {case}: we have asked the carrier about your parcel (tracking number "
                "{tracking}) and will tell you here what they say.",
                **v,
            )
        case R.RETURN_LABEL_SENT:
            return tr(
                "Case {case}: your return label is in this chat. Print it, stick it on the "
                "parcel and write the case number on the box.",
                **v,
            )
        case R.RETURN_RECEIVED:
            return tr(
                "Case {case}: we have received your return, thank you. We will finish your "
                "case shortly.",
                **v,
            )
        case R.REFUND_SENT:
            return tr(
                "Case {case}: we have sent your refund of {amount}. Depending on your bank, "
                "it can take a few days to show on your statement.",
                **v,
            )
        case R.REPLACEMENT_SHIPPED:
            return tr(
                "Case {case}: your replacement has been shipped. Its tracking number is "
                "{tracking}.",
                **v,
            )
    raise AssertionError(reply)  # pragma: no cover - every reply is matched above


def language_name(tag: str | None) -> str:
    code = resolve_language(tag)
    return NATIVE_NAMES.get(code, code)


def menu(
    tr: Translator, number: str, status: str, offered: tuple[ReadyReply, ...]
) -> InlineKeyboardMarkup:
    """One button per ready reply that fits the case now, in the staff member's language."""
    builder = InlineKeyboardBuilder()
    for reply in offered:
        data = ReplyCb(number=number, step="show", reply=reply.value, status=status)
        builder.row(InlineKeyboardButton(text=label(tr, reply), callback_data=data.pack()))
    return builder.as_markup()


def confirm(tr: Translator, number: str, status: str, reply: ReadyReply) -> InlineKeyboardMarkup:
    send = ReplyCb(number=number, step="send", reply=reply.value, status=status)
    back = ReplyCb(number=number, step="list", status=status)
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="✉️ " + tr("Send to the buyer"), callback_data=send.pack())],
            [InlineKeyboardButton(text="⬅️ " + tr("Back"), callback_data=back.pack())],
        ]
    )


def card_button(tr: Translator, number: str, status: str) -> InlineKeyboardButton:
    """The "Ready replies" button under a case card."""
    data = ReplyCb(number=number, step="list", status=status)
    return InlineKeyboardButton(text="💬 " + tr("Ready replies"), callback_data=data.pack())

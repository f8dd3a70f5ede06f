"""Inline keyboards: pure functions of what to show and the reader's translator.

Rows are built as lists, not with aiogram's ``InlineKeyboardBuilder``: its ``as_markup()``
deep-copies every button, a cost paid on most screens of the buyer's conversation."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.conversations.callbacks import (
    CaseCb,
    ChangeCb,
    LangCb,
    LineCb,
    MenuCb,
    NavCb,
    OrderCb,
    QtyCb,
    ReasonCb,
    RemindCb,
    ResolutionCb,
    ShopCb,
)
from bot.views import texts
from bot.views.i18n import NATIVE_NAMES, SUPPORTED, Translator
from core.cases.model import Case
from core.cases.reasons import BUYER_REASONS, Reason
from core.orders.model import Order


def _button(text: str, data) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def main_menu(tr: Translator) -> InlineKeyboardMarkup:
    rows = [
        [_button("📦 " + tr("Return or refund"), MenuCb(action="return"))],
        [_button("⚠️ " + tr("Report a problem with an order"), MenuCb(action="problem"))],
        [_button("🚚 " + tr("Where is my order?"), MenuCb(action="track"))],
        [_button("📂 " + tr("My cases"), MenuCb(action="cases"))],
        [_button("✏️ " + tr("Change or cancel an order"), MenuCb(action="change"))],
        [
            _button("📜 " + tr("Return policy"), MenuCb(action="policy")),
            _button("🙋 " + tr("Talk to a person"), MenuCb(action="human")),
        ],
        [_button("🌐 " + tr("Language"), MenuCb(action="lang"))],
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def nav_row(tr: Translator, *, back: bool = True) -> list[InlineKeyboardButton]:
    row = []
    if back:
        row.append(_button("⬅️ " + tr("Back"), NavCb(action="back")))
    row.append(_button("✖️ " + tr("Cancel"), NavCb(action="cancel")))
    return row


def only_nav(tr: Translator, *, back: bool = True) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[nav_row(tr, back=back)])


def with_skip(tr: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[_button(tr("Skip"), NavCb(action="skip"))], nav_row(tr)]
    )


def orders(tr: Translator, items: Sequence[Order]) -> InlineKeyboardMarkup:
    rows = []
    for order in items[:6]:
        first = order.lines[0].title if order.lines else ""
        label = f"{tr.isolate(order.number)} · {first}"
        rows.append([_button(label[:60], OrderCb(order_id=order.id or 0))])
    rows.append([_button(tr("Another order"), OrderCb(order_id=0))])
    rows.append(nav_row(tr, back=False))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def lines(tr: Translator, order: Order, chosen: dict[int, int]) -> InlineKeyboardMarkup:
    rows = []
    for line in order.lines:
        mark = "☑️" if line.line_no in chosen else "⬜"
        label = f"{mark} {line.title} × {line.quantity}"
        rows.append([_button(label[:60], LineCb(line_no=line.line_no))])
    if chosen:
        rows.append([_button(tr("Continue") + " ➡️", LineCb(line_no=0))])
    rows.append(nav_row(tr))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def quantities(tr: Translator, line_no: int, most: int) -> InlineKeyboardMarkup:
    numbers = [
        _button(str(n), QtyCb(line_no=line_no, quantity=n)) for n in range(1, min(most, 10) + 1)
    ]
    rows = [numbers[start : start + 5] for start in range(0, len(numbers), 5)]
    return InlineKeyboardMarkup(inline_keyboard=[*rows, nav_row(tr)])


def reasons(tr: Translator, allowed: Sequence[Reason] = BUYER_REASONS) -> InlineKeyboardMarkup:
    rows = [[_button(texts.reason(tr, reason), ReasonCb(code=reason.value))] for reason in allowed]
    return InlineKeyboardMarkup(inline_keyboard=[*rows, nav_row(tr)])


def evidence(tr: Translator, *, can_finish: bool) -> InlineKeyboardMarkup:
    rows = []
    if can_finish:
        rows.append([_button("✅ " + tr("Done"), NavCb(action="done"))])
    rows.append(nav_row(tr))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def resolutions(tr: Translator, allowed: Sequence[str]) -> InlineKeyboardMarkup:
    rows = [[_button(texts.resolution(tr, code), ResolutionCb(code=code))] for code in allowed]
    return InlineKeyboardMarkup(inline_keyboard=[*rows, nav_row(tr)])


def confirm(tr: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button("✅ " + tr("Confirm and send"), NavCb(action="confirm"))],
            nav_row(tr),
        ]
    )


def after_refusal(tr: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button("🙋 " + tr("Talk to a person"), MenuCb(action="human"))],
            [_button("🏠 " + tr("Main menu"), MenuCb(action="home"))],
        ]
    )


def home(tr: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[_button("🏠 " + tr("Main menu"), MenuCb(action="home"))]]
    )


def remind(tr: Translator, order_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button("⏰ " + tr("Remind me then"), RemindCb(order_id=order_id))],
            [_button("🏠 " + tr("Main menu"), MenuCb(action="home"))],
        ]
    )


def tracking(tr: Translator, order_id: int, *, overdue: bool) -> InlineKeyboardMarkup:
    rows = []
    if overdue:
        rows.append([_button("📭 " + tr("Report it as not received"), OrderCb(order_id=order_id))])
    rows.append([_button("🏠 " + tr("Main menu"), MenuCb(action="home"))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def change_kinds(tr: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(texts.reason(tr, Reason.CANCEL_ORDER), ChangeCb(kind="cancel_order"))],
            [_button(texts.reason(tr, Reason.CHANGE_ADDRESS), ChangeCb(kind="change_address"))],
            nav_row(tr),
        ]
    )


def case_list(tr: Translator, cases: Sequence[Case]) -> InlineKeyboardMarkup:
    rows = []
    for case in cases[:10]:
        number = tr.isolate(case.number)
        label = f"{texts.STATUS_ICONS[case.status]} {number} · {texts.reason(tr, case.reason)}"
        rows.append([_button(label[:60], CaseCb(number=case.number))])
    rows.append([_button("🏠 " + tr("Main menu"), MenuCb(action="home"))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def confirm_withdraw(tr: Translator, number: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(tr("Yes, withdraw it"), CaseCb(number=number, action="withdraw_yes"))],
            [_button(tr("No, keep it"), CaseCb(number=number))],
        ]
    )


def languages() -> InlineKeyboardMarkup:
    names = [_button(NATIVE_NAMES[code], LangCb(code=code)) for code in SUPPORTED]
    rows = [names[start : start + 2] for start in range(0, len(names), 2)]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def shops(items: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup:
    rows = [[_button(name, ShopCb(shop=shop_id))] for shop_id, name in items]
    return InlineKeyboardMarkup(inline_keyboard=rows)

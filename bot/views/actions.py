"""The buttons under a case, built from what the core says each person may do now.

``Case.available_actions`` is the one source: each action it returns has exactly one kind of
button here (an approval has one per outcome the policy offers, the buyer's choice first), and
no button is made for an action it does not return. The routers map each button back to its
action (``BUYER_BUTTONS``, ``STAFF_BUTTONS``) and a test walks every status and role to check
that the two agree.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.board import links as board_links
from bot.conversations.callbacks import CaseCb, MenuCb
from bot.views import texts
from bot.views.i18n import Translator
from core.cases.lifecycle import Action, CaseStatus, Role
from core.cases.model import Actor, Case
from core.cases.reasons import Resolution

STATUS_CODES = {status: str(i) for i, status in enumerate(CaseStatus)}
STATUS_OF_CODE = {code: status for status, code in STATUS_CODES.items()}


class StaffCb(CallbackData, prefix="t"):
    number: str
    action: str  # a key of STAFF_BUTTONS, or "card"
    resolution: str = ""
    status: str = ""  # the status the button was made for: a press on a changed case refreshes


# Button code → the action it performs. One code per action (approve: one per outcome).
STAFF_BUTTONS: dict[str, Action] = {
    "ok": Action.APPROVE,
    "part": Action.APPROVE,  # a partial refund: the amount is asked
    "no": Action.REJECT,
    "info": Action.REQUEST_INFO,
    "esc": Action.ESCALATE,
    "label": Action.ISSUE_LABEL,
    "sent": Action.RETURN_SHIPPED,
    "recv": Action.GOODS_RECEIVED,
    "lost": Action.GOODS_LOST,
    "paid": Action.RECORD_REFUND,
    "fail": Action.REFUND_FAILED,
    "ship": Action.SHIP_REPLACEMENT,
    "close": Action.CLOSE,
    "take": Action.TAKE,
    "back": Action.HAND_BACK,
    "cancel": Action.CANCEL,
    "reopen": Action.REOPEN,
}
# The order under an alert: what moves the case on first, then the rest.
PRIMARY = ("recv", "paid", "ship", "close", "label", "sent", "lost", "fail", "take")
SECONDARY = ("back", "esc", "reopen", "cancel")
assert set(PRIMARY + SECONDARY + ("ok", "part", "no", "info")) == set(STAFF_BUTTONS)

BUYER_BUTTONS: dict[str, Action] = {
    "sent": Action.PROVIDE_INFO,
    "shipped": Action.RETURN_SHIPPED,
    "human": Action.ESCALATE,
    "withdraw": Action.WITHDRAW,
    "reopen": Action.REOPEN,
}


def _staff(text: str, case: Case, code: str, resolution: str = "") -> InlineKeyboardButton:
    data = StaffCb(
        number=case.number, action=code, resolution=resolution, status=STATUS_CODES[case.status]
    )
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def _staff_label(tr: Translator, code: str) -> str:
    return {
        "no": "✖️ " + tr("Reject…"),
        "info": "❓ " + tr("Ask for more…"),
        "esc": "🧑‍💼 " + tr("Pass to an agent"),
        "label": "🏷 " + tr("Send return instructions or a label…"),
        "sent": "🚚 " + tr("Mark the return as sent…"),
        "recv": "📥 " + tr("Goods received"),
        "lost": "📭 " + tr("Return parcel lost…"),
        "paid": "💸 " + tr("Record the refund…"),
        "fail": "⚠️ " + tr("Refund failed…"),
        "ship": "🚚 " + tr("Record the shipment…"),
        "close": "✔️ " + tr("Close as done"),
        "take": "🎧 " + tr("Take over the conversation"),
        "back": "🤖 " + tr("Hand back to the assistant"),
        "cancel": "🛑 " + tr("Cancel the case…"),
        "reopen": "🔁 " + tr("Reopen"),
    }[code]


def staff_actions(
    tr: Translator, case: Case, actions: list[Action], *, card: bool = True
) -> InlineKeyboardMarkup:
    """A seller's or agent's buttons for ``actions`` (from ``Case.available_actions``)."""
    builder = InlineKeyboardBuilder()
    if Action.APPROVE in actions:
        for resolution in case.allowed_resolutions():
            asked = resolution is case.preferred_resolution
            if resolution is Resolution.PARTIAL_REFUND:
                label = tr("Partial refund…")
                builder.row(_staff("💶 " + label + (" ★" if asked else ""), case, "part"))
                continue
            label = tr("Approve: {resolution}", resolution=texts.resolution(tr, resolution))
            if asked:
                label = tr("{action} (asked for)", action=label)
            builder.row(_staff("✅ " + label, case, "ok", resolution.value))
    for code in PRIMARY:
        if STAFF_BUTTONS[code] in actions:
            builder.row(_staff(_staff_label(tr, code), case, code))
    decide = [code for code in ("no", "info") if STAFF_BUTTONS[code] in actions]
    if decide:
        builder.row(*(_staff(_staff_label(tr, code), case, code) for code in decide))
    for code in SECONDARY:
        if STAFF_BUTTONS[code] in actions:
            builder.row(_staff(_staff_label(tr, code), case, code))
    if card:
        builder.row(_staff("📄 " + tr("Case card"), case, "card"))
    board = board_links.case_button(tr, case.number)  # when the board is set up (WEBAPP_URL)
    if board is not None:
        builder.row(board)
    return builder.as_markup()


def _buyer(text: str, case: Case, code: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=text, callback_data=CaseCb(number=case.number, action=code).pack()
    )


def buyer_actions(tr: Translator, case: Case, buyer_id: int | None = None) -> InlineKeyboardMarkup:
    """The buyer's buttons under their case, from what the core lets them do now."""
    actions = case.available_actions(Actor(Role.BUYER, buyer_id or case.buyer_id))
    builder = InlineKeyboardBuilder()
    if Action.RETURN_SHIPPED in actions:
        builder.row(_buyer("📮 " + tr("I've sent it"), case, "shipped"))
    if Action.PROVIDE_INFO in actions:
        builder.row(_buyer("📷 " + tr("Add photos or videos"), case, "evidence"))
        builder.row(_buyer("✅ " + tr("I have sent everything"), case, "sent"))
    if case.is_open:
        builder.row(_buyer("💬 " + tr("Add a message"), case, "message"))
    if Action.ESCALATE in actions:
        builder.row(_buyer("🙋 " + tr("Talk to a person"), case, "human"))
    if Action.REOPEN in actions:
        builder.row(_buyer("🙋 " + tr("Disagree: ask a person to review"), case, "reopen"))
    if Action.WITHDRAW in actions:
        builder.row(_buyer("🗑 " + tr("Withdraw this case"), case, "withdraw"))
    builder.row(
        InlineKeyboardButton(
            text="📂 " + tr("My cases"), callback_data=MenuCb(action="cases").pack()
        ),
        InlineKeyboardButton(
            text="🏠 " + tr("Main menu"), callback_data=MenuCb(action="home").pack()
        ),
    )
    return builder.as_markup()

"""The one-tap actions a seller or agent gets under a case, by where the case stands."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot import texts
from bot.i18n import Translator
from core.cases.lifecycle import DECIDABLE, CaseStatus, MoneyStatus, Role
from core.cases.model import Case
from core.cases.reasons import Resolution


class StaffCb(CallbackData, prefix="t"):
    number: str
    action: str  # ok | part | no | info | esc | label | recv | paid | ship | close | card | take
    resolution: str = ""
    version: int = 0  # the case version the button was made for: a stale press is refused


def _b(text: str, case: Case, action: str, resolution: str = "") -> InlineKeyboardButton:
    data = StaffCb(number=case.number, action=action, resolution=resolution, version=case.version)
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def case_actions(tr: Translator, case: Case, role: Role = Role.SELLER) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    if case.status in DECIDABLE:
        allowed = [Resolution(r) for r in case.decision_snapshot.get("resolutions", [])]
        for resolution in allowed:
            if resolution is Resolution.PARTIAL_REFUND:
                builder.row(_b("💶 " + tr("Partial refund…"), case, "part"))
            else:
                label = tr("Approve: {resolution}", resolution=texts.resolution(tr, resolution))
                builder.row(_b("✅ " + label, case, "ok", resolution.value))
        builder.row(
            _b("✖️ " + tr("Reject…"), case, "no"),
            _b("❓ " + tr("Ask for more…"), case, "info"),
        )
        if role is Role.SELLER and case.status is not CaseStatus.AWAITING_AGENT:
            builder.row(_b("🧑‍💼 " + tr("Pass to an agent"), case, "esc"))
    elif case.status is CaseStatus.AWAITING_RETURN:
        builder.row(_b("🏷 " + tr("Send return instructions or a label…"), case, "label"))
        builder.row(_b("📥 " + tr("Goods received"), case, "recv"))
    elif case.status is CaseStatus.RETURN_IN_TRANSIT:
        builder.row(_b("📥 " + tr("Goods received"), case, "recv"))
    elif case.status is CaseStatus.AWAITING_RESOLUTION:
        if case.money in (MoneyStatus.PENDING, MoneyStatus.FAILED):
            builder.row(_b("💸 " + tr("Record the refund…"), case, "paid"))
        elif case.resolution in (Resolution.REPLACEMENT, Resolution.EXCHANGE, Resolution.RESHIP):
            builder.row(_b("🚚 " + tr("Record the shipment…"), case, "ship"))
        else:
            builder.row(_b("✔️ " + tr("Close as done"), case, "close"))
    if role is Role.AGENT and case.is_open and case.owner_agent_id is None:
        builder.row(_b("🎧 " + tr("Take over the conversation"), case, "take"))
    builder.row(_b("📄 " + tr("Case card"), case, "card"))
    return builder.as_markup()

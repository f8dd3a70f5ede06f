"""A buyer who says they opened a dispute (on AliExpress, PayPal, eBay, Amazon …) in a
message on their case is asked which platform (buttons) and then the dispute's number (a
line of text); it is recorded on their case, and the shop hears of it with its deadlines
(core/services/disputes.py). Chargebacks through the shop's payment processor are recorded
by staff, who see the processor's due date; a buyer is not asked for it."""

from __future__ import annotations

from aiogram import F
from aiogram.filters import StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.conversations.common import buyer
from bot.receiving.routing import Router
from bot.views import disputes as dispute_views
from bot.views import keyboards, texts
from bot.views.i18n import Translator
from core.errors import CoreError
from core.policy.config import Config
from core.services import disputes as dispute_service
from core.services.context import CoreContext

NOT_OPENED = "-"


class DisputeCb(CallbackData, prefix="dp"):
    number: str
    platform: str  # a platform id, or "-": no dispute opened


class DisputeReport(StatesGroup):
    external_id = State()


def platforms_for_buyers(config: Config) -> list[str]:
    return [
        key
        for key, platform in config.disputes.platforms.items()
        if not any(version.due_date_given for version in platform.versions)
    ]


def question(tr: Translator, config: Config, number: str) -> tuple[str, InlineKeyboardMarkup]:
    rows = [
        [
            InlineKeyboardButton(
                text=dispute_views.platform_name(config, key),
                callback_data=DisputeCb(number=number, platform=key).pack(),
            )
        ]
        for key in platforms_for_buyers(config)
    ]
    rows.append(
        [
            InlineKeyboardButton(
                text=tr("No, I have not opened one"),
                callback_data=DisputeCb(number=number, platform=NOT_OPENED).pack(),
            )
        ]
    )
    text = tr(
        "Have you opened a dispute about case {number} on a platform? Choose where, and we "
        "will add it to the case so that the shop answers it in time.",
        number=number,
    )
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


async def chosen(
    query: CallbackQuery,
    callback_data: DisputeCb,
    state: FSMContext,
    tr: Translator,
    core: CoreContext,
) -> None:
    await query.answer()
    if callback_data.platform == NOT_OPENED:
        if query.message is not None:
            await query.bot.send_message(  # type: ignore[union-attr]
                query.from_user.id, tr("All right."), reply_markup=keyboards.home(tr)
            )
        return
    if callback_data.platform not in platforms_for_buyers(core.config):
        await query.bot.send_message(  # type: ignore[union-attr]
            query.from_user.id,
            tr("That choice is no longer available."),
            reply_markup=keyboards.home(tr),
        )
        return
    await state.set_state(DisputeReport.external_id)
    await state.update_data(case=callback_data.number, platform=callback_data.platform)
    await query.bot.send_message(  # type: ignore[union-attr]
        query.from_user.id,
        tr(
            "Type the dispute's number as {platform} shows it.",
            platform=dispute_views.platform_name(core.config, callback_data.platform),
        ),
        reply_markup=keyboards.only_nav(tr, back=False),
    )


async def typed_id(message: Message, state: FSMContext, tr: Translator, core: CoreContext) -> None:
    assert message.from_user is not None and message.text is not None
    data = await state.get_data()
    try:
        done = await dispute_service.record(
            core,
            buyer(message.from_user),
            data["case"],
            dispute_service.NewDispute(data["platform"], message.text.strip()),
        )
    except CoreError as exc:
        if exc.code == "invalid":  # let them type it again
            await message.answer(
                tr("Please type the number only, with its letters and digits, as shown."),
                reply_markup=keyboards.only_nav(tr, back=False),
            )
            return
        await state.clear()
        await message.answer(texts.error(tr, exc), reply_markup=keyboards.home(tr))
        return
    await state.clear()
    await message.answer(
        tr(
            "Thank you: the dispute {id} is now part of case {number}, and the shop sees it.",
            id=done.dispute.external_id,
            number=done.case.number,
        ),
        reply_markup=keyboards.home(tr),
    )


async def not_text(message: Message, tr: Translator) -> None:
    await message.answer(
        tr("Please type the dispute's number as text."),
        reply_markup=keyboards.only_nav(tr, back=False),
    )


def make_router() -> Router:
    router = Router(name="dispute_report")
    private = F.chat.type == "private"
    router.callback_query.register(chosen, DisputeCb.filter())
    router.message.register(
        typed_id,
        private,
        StateFilter(DisputeReport.external_id),
        F.text & ~F.text.startswith("/"),
    )
    router.message.register(
        not_text, private, StateFilter(DisputeReport.external_id), ~F.text.startswith("/")
    )
    return router

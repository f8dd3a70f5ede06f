"""What nobody else handled: free text with an order number, stale buttons, anything else."""

from __future__ import annotations

from aiogram import Bot, F
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.conversations.buyer import my_cases, open_case
from bot.conversations.common import buyer, fresh_start
from bot.conversations.evidence import evidence_of
from bot.conversations.states import OpenCase
from bot.receiving.routing import Router
from bot.views import keyboards
from bot.views.i18n import Translator
from core.cases.escalation import mentions_payment_dispute
from core.cases.numbers import find_case_numbers
from core.errors import CoreError
from core.orders.numbers import find_order_numbers
from core.services import cases as case_service
from core.services import linking
from core.services.context import CoreContext


async def free_text(
    message: Message, bot: Bot, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    """ "my order #AUR-10021 arrived broken": start a case on that order, keeping the words."""
    assert message.from_user is not None and message.text is not None
    flow = open_case.Flow(bot, message.from_user, state, tr, core)
    words = message.text.strip()[: case_service.MAX_DESCRIPTION]
    if words.startswith("/"):  # a command nobody knows: not an order story
        await message.answer(
            tr("I did not catch that. Choose what you need below, or write your order number."),
            reply_markup=keyboards.main_menu(tr),
        )
        return
    for case_number in find_case_numbers(words):  # "what about R-2611-0001?"
        try:
            await my_cases.show_case(bot, message.chat.id, message.from_user, case_number, tr, core)
            return
        except CoreError:
            continue
    numbers = find_order_numbers(words)
    if numbers and mentions_payment_dispute(words):
        await flow.update(wants_person=True)  # a chargeback threat: a person decides
    for number in numbers:
        try:
            order = await linking.find_linked_order(core, buyer(message.from_user), number)
        except CoreError:
            continue
        await open_case.start(flow, purpose="case", order=order, description=words)
        return
    if numbers:  # a number we cannot tie to this buyer yet: check ownership first
        await fresh_start(state)  # keeps a person asked for (or the chargeback threat)
        await state.set_state(OpenCase.order)  # Back from the check asks for the number
        await flow.update(purpose="case", description=words, typed_number=numbers[0])
        await flow.step("check")
        return
    await message.answer(
        tr("I did not catch that. Choose what you need below, or write your order number."),
        reply_markup=keyboards.main_menu(tr),
    )


async def anything_else(message: Message, tr: Translator) -> None:
    if evidence_of(message)[0] is not None:  # a photo with nothing to attach it to yet
        text = tr(
            "Thank you. To send photos or videos, first choose below what they are about, "
            "or open your case under “My cases”."
        )
    else:
        text = tr("I can only read text, photos and videos here. Choose what you need below.")
    await message.answer(text, reply_markup=keyboards.main_menu(tr))


async def stale_button(query: CallbackQuery, tr: Translator) -> None:
    await query.answer(
        tr("This button is no longer active. Please use the newest message."), show_alert=True
    )


def make_router() -> Router:
    router = Router(name="fallback")
    router.message.register(free_text, F.text, F.chat.type == "private")
    router.message.register(anything_else, F.chat.type == "private")
    router.callback_query.register(stale_button)
    return router

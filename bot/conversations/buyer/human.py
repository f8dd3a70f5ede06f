"""Talk to a person: a button, /human, or the word for it in any supported language."""

from __future__ import annotations

from aiogram import Bot, F
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, User

from bot.conversations.buyer import conversation, open_case
from bot.conversations.buyer.my_cases import human_next_steps
from bot.conversations.callbacks import MenuCb
from bot.conversations.common import buyer
from bot.conversations.filters import PrivateChat
from bot.conversations.states import CaseFollowUp, OpenCase
from bot.receiving.routing import Router
from bot.views import keyboards
from bot.views.i18n import Translator
from core.cases.escalation import asks_for_person, word_lists
from core.cases.model import Actor
from core.errors import CoreError
from core.services import cases as case_service
from core.services.context import CoreContext


async def hand_to_person(
    bot: Bot, user: User, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    """Escalate the buyer's newest open case; with none, the next case goes to a person."""
    flow = open_case.Flow(bot, user, state, tr, core)
    if await open_case.refused_claim_to_person(flow) is not None or await _escalate_newest(
        core, buyer(user)
    ):
        await bot.send_message(user.id, human_next_steps(tr, core), reply_markup=keyboards.home(tr))
        return
    in_a_flow = await state.get_state() is not None
    await conversation.write(state, wants_person=True)
    if in_a_flow:
        await bot.send_message(
            user.id,
            tr("Noted: when you confirm this request, it goes straight to a support agent."),
        )
        return
    await bot.send_message(
        user.id,
        tr(
            "A person will gladly help. First tell me which order it is about, so that they "
            "have everything in front of them: choose “Report a problem with an order”."
        ),
        reply_markup=keyboards.main_menu(tr),
    )


async def _escalate_newest(core: CoreContext, actor: Actor) -> bool:
    """Whether one of the buyer's open cases is with a person now: the newest that is
    already, or the newest the core lets them escalate."""
    for case in await case_service.buyer_cases(core, actor, open_only=True):
        if case.escalated:
            return True
        try:
            await case_service.escalate(core, actor, case.number, "buyer_asked")
        except CoreError:
            continue
        return True
    return False


async def human_command(
    message: Message, bot: Bot, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    assert message.from_user is not None
    await hand_to_person(bot, message.from_user, state, tr, core)


async def human_button(
    query: CallbackQuery, bot: Bot, state: FSMContext, tr: Translator, core: CoreContext
) -> None:
    await query.answer()
    await hand_to_person(bot, query.from_user, state, tr, core)


def make_router() -> Router:
    word_lists()  # a broken locales/<lang>/escalation.toml stops the start, not a message
    router = Router(name="human")
    router.message.filter(PrivateChat())  # a buyer talks to a person in private only
    router.callback_query.filter(PrivateChat())
    router.message.register(human_command, Command("human"))
    router.callback_query.register(human_button, MenuCb.filter(F.action == "human"))
    router.message.register(  # the word for a person, in any supported language
        human_command,
        F.text.func(asks_for_person),
        ~StateFilter(OpenCase.description, CaseFollowUp.message),
    )
    return router

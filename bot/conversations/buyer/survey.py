"""The satisfaction survey: the buyer presses a score (1–5) under the question the notifier
sent, then may write a comment (or press Skip). The core checks everything the button names
(core/services/csat.py): only the case's buyer, only once, not after the case reopened."""

from __future__ import annotations

from aiogram import F
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InaccessibleMessage, Message

from bot.conversations.callbacks import SurveyCb
from bot.conversations.common import buyer
from bot.conversations.filters import PrivateChat
from bot.receiving.routing import Router
from bot.views import survey as words
from bot.views import texts
from bot.views.i18n import Translator
from core.errors import CoreError
from core.services import csat
from core.services.context import CoreContext

SURVEY_KEY = "survey"  # FSM data: the survey whose comment is awaited


class Survey(StatesGroup):
    comment = State()  # optional words after the score


async def _clear_buttons(query: CallbackQuery, text: str | None = None) -> None:
    message = query.message
    if message is None or isinstance(message, InaccessibleMessage):
        return
    if text is not None:
        await message.edit_text(text, reply_markup=None)
    else:
        await message.edit_reply_markup(reply_markup=None)


async def scored(
    query: CallbackQuery,
    callback_data: SurveyCb,
    state: FSMContext,
    tr: Translator,
    core: CoreContext,
) -> None:
    """A score pressed: kept once; then the comment is asked, unless the buyer is in the
    middle of something else (their other conversation is not interrupted)."""
    await query.answer()
    assert query.message is not None
    chat = query.message.chat.id
    try:
        rated = await csat.answer(
            core, buyer(query.from_user), callback_data.survey, callback_data.score
        )
    except CoreError as exc:
        await query.bot.send_message(chat, texts.error(tr, exc))  # type: ignore[union-attr]
        return
    await _clear_buttons(query, words.rated(tr, rated.case_number, callback_data.score))
    if await state.get_state() is not None:
        await _finish(query, tr, core, callback_data.survey, None)
        return
    await state.set_state(Survey.comment)
    await state.update_data({SURVEY_KEY: callback_data.survey})
    await query.bot.send_message(  # type: ignore[union-attr]
        chat, words.ask_comment(tr), reply_markup=words.skip_button(tr, callback_data.survey)
    )


async def _finish(
    query_or_message: CallbackQuery | Message,
    tr: Translator,
    core: CoreContext,
    survey_id: int,
    text: str | None,
) -> bool:
    """The comment (or none): stored, the shop alerted of a low score; the buyer thanked."""
    user = query_or_message.from_user
    assert user is not None
    bot = query_or_message.bot
    assert bot is not None
    try:
        rated = await csat.add_comment(core, buyer(user), survey_id, text)
    except CoreError as exc:
        await bot.send_message(user.id, texts.error(tr, exc))
        return exc.code == "text_too_long"  # they may try again, shorter
    low = rated.survey.score in csat.LOW
    await bot.send_message(user.id, words.thanks_low(tr) if low else words.thanks(tr))
    return False


async def skipped(
    query: CallbackQuery,
    callback_data: SurveyCb,
    state: FSMContext,
    tr: Translator,
    core: CoreContext,
) -> None:
    await query.answer()
    await _clear_buttons(query)
    if (await state.get_data()).get(SURVEY_KEY) == callback_data.survey:
        await state.clear()
    await _finish(query, tr, core, callback_data.survey, None)


async def commented(message: Message, state: FSMContext, tr: Translator, core: CoreContext) -> None:
    survey_id = (await state.get_data()).get(SURVEY_KEY)
    if not isinstance(survey_id, int):
        await state.clear()
        return
    if not await _finish(message, tr, core, survey_id, message.text):
        await state.clear()


async def command_instead(message: Message, state: FSMContext) -> None:
    """A command instead of a comment: the survey step ends (the score is kept) and the
    command goes where it goes."""
    await state.clear()
    raise SkipHandler


async def not_text(message: Message, tr: Translator) -> None:
    await message.answer(words.text_only(tr))


def make_router() -> Router:
    router = Router(name="survey")
    private = PrivateChat()
    router.callback_query.register(skipped, private, SurveyCb.filter(F.score == words.SKIP))
    router.callback_query.register(scored, private, SurveyCb.filter())
    router.message.register(command_instead, private, Survey.comment, F.text.startswith("/"))
    router.message.register(commented, private, Survey.comment, F.text, ~F.text.startswith("/"))
    router.message.register(not_text, private, Survey.comment, ~F.text)
    return router

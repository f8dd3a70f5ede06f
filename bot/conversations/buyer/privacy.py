"""/mydata (a ZIP of everything held about the buyer) and /forgetme (erasure, confirmed with a
button). A buyer whose erasure is pending is told so once per conversation when they write
again, and may cancel it; their message still goes where it was going (an open case may need
it). The logic is in core.services.privacy."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.conversations.common import buyer
from bot.conversations.filters import PrivateChat
from bot.receiving.routing import Router
from bot.views import privacy as words
from bot.views.i18n import Translator
from core.services import privacy
from core.services.context import CoreContext

NOTICE_FLAG = "erasure_notice"  # FSM data: the pending notice was shown in this conversation


class ForgetCb(CallbackData, prefix="fg"):
    action: str  # confirm | keep | cancel


def _keyboard(tr: Translator, *buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=ForgetCb(action=action).pack())]
            for text, action in buttons
        ]
    )


async def mydata(message: Message, bot: Bot, tr: Translator, core: CoreContext) -> None:
    assert message.from_user is not None
    actor = buyer(message.from_user)
    data = await privacy.personal_data(core, actor, message.from_user.id)
    packed = await privacy.data_zip(core, data, words.readme(tr, data))
    await bot.send_document(
        message.chat.id,
        BufferedInputFile(packed.data, packed.filename),
        caption=words.mydata_caption(tr),
    )


async def forgetme(message: Message, tr: Translator) -> None:
    await message.answer(
        words.confirm_forget(tr),
        reply_markup=_keyboard(
            tr, ("🗑 " + tr("Yes, erase my data"), "confirm"), ("↩️ " + tr("No, keep it"), "keep")
        ),
    )


async def forget_pressed(
    query: CallbackQuery,
    callback_data: ForgetCb,
    bot: Bot,
    state: FSMContext,
    tr: Translator,
    core: CoreContext,
) -> None:
    await query.answer()
    user = query.from_user
    if query.message is not None and isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
    if callback_data.action == "confirm":
        erasure = await privacy.request_erasure(core, buyer(user), user.id, by="buyer")
        if erasure.done:
            await state.clear()
        text = words.erasure_answer(tr, erasure)
        markup = (
            None
            if erasure.done
            else _keyboard(tr, ("↩️ " + tr("Cancel my erasure request"), "cancel"))
        )
        await bot.send_message(user.id, text, reply_markup=markup)
    elif callback_data.action == "cancel":
        done = await privacy.cancel_erasure(core, buyer(user), user.id)
        await bot.send_message(user.id, words.cancelled(tr, done))
    else:
        await bot.send_message(user.id, words.kept(tr))


class PendingErasure(Filter):
    """The buyer asked to be forgotten and has not been told in this conversation yet."""

    async def __call__(self, message: Message, state: FSMContext, core: CoreContext) -> bool:
        if message.from_user is None or (await state.get_data()).get(NOTICE_FLAG):
            return False
        return await privacy.has_pending_erasure(core, message.from_user.id)


async def pending_notice(
    message: Message, state: FSMContext, tr: Translator, core: CoreContext, **_: Any
) -> None:
    assert message.from_user is not None
    erasure = await privacy.pending_erasure(core, buyer(message.from_user), message.from_user.id)
    if erasure is not None:
        await state.update_data({NOTICE_FLAG: True})
        await message.answer(
            words.pending_notice(tr, erasure),
            reply_markup=_keyboard(tr, ("↩️ " + tr("Cancel my erasure request"), "cancel")),
        )
    raise SkipHandler  # the message itself goes on to the flow it belongs to


def make_router() -> Router:
    router = Router(name="privacy")
    private = PrivateChat()
    router.message.register(mydata, private, Command("mydata"))
    router.message.register(forgetme, private, Command("forgetme"))
    router.callback_query.register(
        forget_pressed, private, ForgetCb.filter(F.action.in_({"confirm", "keep", "cancel"}))
    )
    router.message.register(pending_notice, private, PendingErasure())
    return router

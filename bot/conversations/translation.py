"""People's own words across languages (README, "Languages and translation").

The buyer's words, relayed to an agent, are followed by their translation into the reader's
language. An agent's words go to the buyer translated, every amount and number checked to come
back unchanged (else the original goes, with a note); depending on ``[translation] ask`` the
agent first sees a preview (what the buyer will read and that translated back) with Send /
Send original / Cancel. Previews wait in the agent's conversation data (per topic), so a
restart loses none. A provider that is down never stops a message: the original goes.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.receiving.routing import Router
from bot.views import texts
from bot.views import translation as views
from bot.views.i18n import SUPPORTED, Catalogs, Translator
from core.cases.model import Actor, Case
from core.errors import CoreError
from core.services import cases as case_service
from core.services import people
from core.services.context import CoreContext
from core.translation.service import (
    UNSURE_BELOW,
    Direction,
    Translation,
    service_of,
    similarity,
)

if TYPE_CHECKING:
    from bot.conversations.agents import Copies

log = logging.getLogger(__name__)

PREVIEWS = "translation_previews"  # the key of the waiting previews in the conversation data


class PreviewCb(CallbackData, prefix="tx"):
    action: str  # send | original | cancel
    id: str


async def reading_language(
    core: CoreContext, catalogs: Catalogs, chat_id: int, shop: str | None
) -> str:
    """The language a chat reads: a person's own (/language, else their Telegram app's), a
    group's the shop's."""
    config = core.config.shops.get(shop or "")
    fallback = config.language if config is not None else None
    if chat_id < 0:
        return catalogs.get(fallback).language
    return catalogs.get(await people.language_of(core, chat_id) or fallback).language


async def buyer_words(
    core: CoreContext, catalogs: Catalogs, text: str, buyer_id: int | None, reader: str
) -> Translation | None:
    """The buyer's ``text`` for a reader of ``reader``: None when they read its language;
    else its translation, or the original marked with its language. Never raises."""
    if not text.strip():
        return None
    try:
        service = service_of(core)
        chosen = await people.language_of(core, buyer_id) if buyer_id else None
        fallback = catalogs.get(chosen).language
        written = await service.language_of(text, SUPPORTED, fallback)
        if written.language == reader:
            return None
        return await service.translate(text, written.language, reader, Direction.TO_STAFF)
    except Exception:  # translation is a help: the words themselves always get through
        log.exception("the buyer's words could not be translated")
        return None


async def follow_relayed(
    bot: Bot,
    core: CoreContext,
    catalogs: Catalogs,
    message: Message,
    case: Case,
    target: int,
    thread: int | None,
    copy_id: int,
) -> None:
    """After the buyer's message copied to the agent: its translation, as a reply to it."""
    text = message.text or message.caption or ""
    reader_chat = case.owner_agent_id if target < 0 and case.owner_agent_id else target
    reader = await reading_language(core, catalogs, reader_chat, case.shop)
    translated = await buyer_words(core, catalogs, text, case.buyer_id, reader)
    if translated is None or not translated.machine:  # the copy above is the original
        return
    tr = catalogs.get(reader)
    try:
        await bot.send_message(
            target,
            views.relay_note(tr, translated),
            message_thread_id=thread,
            reply_to_message_id=copy_id,
        )
    except Exception:
        log.exception("the translation of a relayed message was not sent")


async def to_buyer(
    bot: Bot,
    core: CoreContext,
    catalogs: Catalogs,
    tr: Translator,
    message: Message,
    case: Case,
    agent: Actor,
    state: FSMContext,
) -> int | None:
    """An agent's words to the buyer, in the buyer's language when they differ. Returns the
    buyer's copy's message id, or None when a preview waits for the agent instead."""
    assert case.buyer_id is not None
    text = message.text
    buyer_language = catalogs.get(await people.language_of(core, case.buyer_id)).language
    service = service_of(core)
    if text is None or not service.enabled or not text.strip():
        return await _copy(bot, message, case.buyer_id)
    try:
        written = await service.language_of(text, SUPPORTED, tr.language)
        if written.language == buyer_language:
            return await _copy(bot, message, case.buyer_id)
        translated = await service.translate(
            text, written.language, buyer_language, Direction.TO_BUYER
        )
    except Exception:
        log.exception("an agent's words could not be translated; sent as written")
        return await _copy(bot, message, case.buyer_id)
    if translated.lost:  # it changed an amount or a number: the original goes, with a note
        sent = await _send_untranslatable(bot, catalogs, case.buyer_id, translated)
        await message.reply(views.not_translated_note(tr, translated.lost))
        return sent
    if not translated.machine:  # nobody could translate it: as written, as before
        return await _copy(bot, message, case.buyer_id)
    ask = core.config.translation.ask
    back = None
    if ask != "never":
        back = await service.translate(
            translated.text, buyer_language, written.language, Direction.TO_STAFF, store=False
        )
        unsure = (
            not written.detected or not back.machine or similarity(text, back.text) < UNSURE_BELOW
        )
        if ask == "always" or unsure:
            await _preview(message, state, tr, case, translated, back)
            return None
    return await _send_translated(bot, catalogs, case.buyer_id, translated)


async def _copy(bot: Bot, message: Message, buyer_id: int) -> int:
    copy = await bot.copy_message(buyer_id, message.chat.id, message.message_id)
    return copy.message_id


async def _send_translated(
    bot: Bot, catalogs: Catalogs, buyer_id: int, translated: Translation
) -> int:
    buyer_tr = catalogs.get(translated.target)
    sent = await bot.send_message(buyer_id, views.to_buyer(buyer_tr, translated))
    return sent.message_id


async def _send_untranslatable(
    bot: Bot, catalogs: Catalogs, buyer_id: int, translated: Translation
) -> int:
    buyer_tr = catalogs.get(translated.target)
    sent = await bot.send_message(buyer_id, views.to_buyer_untranslatable(buyer_tr, translated))
    return sent.message_id


def _buttons(tr: Translator, preview_id: str) -> InlineKeyboardMarkup:
    def button(text: str, action: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=text, callback_data=PreviewCb(action=action, id=preview_id).pack()
        )

    return InlineKeyboardMarkup(
        inline_keyboard=[
            [button(tr("Send"), "send"), button(tr("Send original"), "original")],
            [button(tr("Cancel"), "cancel")],
        ]
    )


async def _preview(
    message: Message,
    state: FSMContext,
    tr: Translator,
    case: Case,
    translated: Translation,
    back: Translation,
) -> None:
    preview_id = secrets.token_hex(4)
    data = await state.get_data()
    previews: dict[str, Any] = dict(data.get(PREVIEWS) or {})
    previews[preview_id] = {
        "case": case.number,
        "original": translated.original,
        "text": translated.text,
        "source": translated.source,
        "target": translated.target,
        "provider": translated.provider,
        "chat": message.chat.id,
        "message": message.message_id,
    }
    while len(previews) > 20:  # an agent's forgotten previews do not pile up
        del previews[next(iter(previews))]
    await state.update_data({PREVIEWS: previews})
    await message.reply(views.preview(tr, translated, back), reply_markup=_buttons(tr, preview_id))


async def preview_pressed(
    query: CallbackQuery,
    callback_data: PreviewCb,
    state: FSMContext,
    bot: Bot,
    tr: Translator,
    core: CoreContext,
    catalogs: Catalogs,
    relay_copies: Copies,
) -> None:
    """Send, Send original or Cancel under a preview: only the agent who wrote it has it."""
    data = await state.get_data()
    previews: dict[str, Any] = dict(data.get(PREVIEWS) or {})
    pending = previews.pop(callback_data.id, None)
    if pending is None:
        await query.answer(tr("This preview is no longer open."), show_alert=True)
        return
    await state.update_data({PREVIEWS: previews})
    agent = Actor.agent(query.from_user.id, query.from_user.first_name)
    note = tr("Not sent. Write your message again when you are ready.")
    if callback_data.action in ("send", "original"):
        try:
            view = await case_service.get_case(core, agent, pending["case"])
            case = view.case
            if case.buyer_id is None or case.owner_agent_id != agent.user_id:
                await query.answer(tr("This conversation is no longer yours."), show_alert=True)
                return
            translated = Translation(
                pending["original"],
                pending["text"],
                pending["source"],
                pending["target"],
                pending["provider"],
            )
            if callback_data.action == "send":
                sent = await _send_translated(bot, catalogs, case.buyer_id, translated)
                note = tr("Sent, translated.")
            else:
                copy = await bot.copy_message(case.buyer_id, pending["chat"], pending["message"])
                sent = copy.message_id
                note = tr("Sent as you wrote it.")
            original = (
                query.message.reply_to_message if isinstance(query.message, Message) else None
            )
            if original is not None:  # edits of the agent's message follow it (as written)
                relay_copies.add(original, case.buyer_id, sent)
            await case_service.add_message(
                core, agent, case.number, pending["original"], notify_others=False
            )
        except CoreError as exc:
            await query.answer(texts.error(tr, exc), show_alert=True)
            return
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.reply(note)


def make_router() -> Router:
    router = Router(name="translation")
    router.callback_query.register(preview_pressed, PreviewCb.filter())
    return router

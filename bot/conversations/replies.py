"""Ready replies: staff pick a sentence in their language and the buyer reads it in theirs.

``/reply`` in a case's topic of the agents' group (that case), ``/reply R-2611-0042`` in a
seller's or agent's private chat or in the shop's staff group, plain ``/reply`` in private
while an agent talks to a buyer (that conversation), and the "Ready replies" button under a
case card: a menu of the replies that fit the case now (core/cases/replies.py). A press shows
what the buyer will read, in the buyer's language (and in the staff member's, when it
differs); "Send to the buyer" sends it through the core, which records it on the case's
conversation and queues it for the buyer. Nothing here needs a translation provider.
"""

from __future__ import annotations

import html
from typing import Any

from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InaccessibleMessage, InlineKeyboardMarkup, Message

from bot.conversations.agents import AgentChat, InCaseTopic, topic_of
from bot.conversations.common import send
from bot.conversations.staff import IsStaff, not_staff_press
from bot.receiving.routing import Router
from bot.views import replies as views
from bot.views import texts
from bot.views.actions import STATUS_CODES, STATUS_OF_CODE
from bot.views.i18n import Catalogs, Translator
from core.cases.model import Actor, Case
from core.cases.numbers import find_case_numbers
from core.cases.replies import ReadyReply
from core.errors import CoreError
from core.services import replies as reply_service
from core.services.context import CoreContext
from core.services.staff import StaffIdentity

# Errors after which the menu as it stands now is shown again.
SHOW_MENU_AGAIN = frozenset({"ready_reply_unavailable", "already_handled"})


def _menu_text(tr: Translator, menu: reply_service.ReplyMenu) -> str:
    if not menu.replies:
        return tr("No ready reply fits case {number} now.", number=menu.case.number)
    return tr(
        "Ready replies for case {number}. The buyer reads them in {language}; press one to "
        "see it before it is sent.",
        number=texts.bold(menu.case.number),
        language=views.language_name(menu.buyer_language),
    )


def _menu(tr: Translator, menu: reply_service.ReplyMenu) -> tuple[str, InlineKeyboardMarkup]:
    status = STATUS_CODES[menu.case.status]
    return _menu_text(tr, menu), views.menu(tr, menu.case.number, status, menu.replies)


def _preview(
    tr: Translator, catalogs: Catalogs, menu: reply_service.ReplyMenu, reply: ReadyReply
) -> str:
    """What the buyer will read, in their language, and in the staff member's if not the same."""
    values = menu.values[reply]
    buyer_tr = catalogs.get(menu.buyer_language)
    lines = [
        texts.bold(views.label(tr, reply)),
        "",
        tr("The buyer will read, in {language}:", language=views.language_name(buyer_tr.language)),
        views.sentence(buyer_tr, reply, values),
    ]
    if buyer_tr.language != tr.language:
        lines += ["", tr("In your language:"), views.sentence(tr, reply, values)]
    return "\n".join(lines)


def _recorder(catalogs: Catalogs):
    """How the conversation records a reply: the catalogue's English source, as plain text."""
    english = catalogs.get("en")

    def word(reply: ReadyReply, values: dict[str, Any]) -> str:
        return html.unescape(views.sentence(english, reply, values))

    return word


async def _open_menu(
    message: Message, actor: Actor, number: str, tr: Translator, core: CoreContext
) -> None:
    try:
        menu = await reply_service.ready_replies(core, actor, number)
    except CoreError as exc:
        await message.reply(texts.error(tr, exc))
        return
    text, markup = _menu(tr, menu)
    await send(message.bot, message.chat.id, text, markup, thread_id=topic_of(message))  # type: ignore[arg-type]


async def reply_in_topic(
    message: Message, case: Case, agent: Actor, tr: Translator, core: CoreContext
) -> None:
    """/reply in a case's topic: that case's ready replies."""
    await _open_menu(message, agent, case.number, tr, core)


async def reply_command(
    message: Message,
    command: CommandObject,
    staff: StaffIdentity,
    state: FSMContext,
    tr: Translator,
    core: CoreContext,
) -> None:
    """/reply R-2611-0042 (or plain /reply while talking to a buyer from private chat)."""
    numbers = find_case_numbers(command.args or "")
    number = numbers[0] if numbers else None
    if number is None and message.chat.type == "private":
        if await state.get_state() == AgentChat.talking.state:
            number = (await state.get_data()).get("case")
    if number is None:
        await message.reply(tr("Give the case number, for example /reply R-2611-0042."))
        return
    await _open_menu(message, staff.actor, number, tr, core)


async def _edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    message = query.message
    if message is None or isinstance(message, InaccessibleMessage):
        return
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest:  # unchanged, or too old to edit: say it afresh there
        await send(query.bot, message.chat.id, text, markup, thread_id=message.message_thread_id)  # type: ignore[arg-type]


async def pressed(
    query: CallbackQuery,
    callback_data: views.ReplyCb,
    staff: StaffIdentity,
    tr: Translator,
    catalogs: Catalogs,
    core: CoreContext,
) -> None:
    """The card's "Ready replies", a reply in the menu, "Back", or "Send to the buyer"."""
    number, step = callback_data.number, callback_data.step
    actor = staff.actor
    try:
        if step == "send":  # the core refuses a code that is no ready reply (forged data)
            sent = await reply_service.send_ready_reply(
                core,
                actor,
                number,
                callback_data.reply,
                wording=_recorder(catalogs),
                expected_status=STATUS_OF_CODE.get(callback_data.status),
            )
            reply = ReadyReply(callback_data.reply)
            await query.answer(tr("Sent to the buyer."))
            await _edit(query, _sent(tr, number, views.sentence(tr, reply, sent.values)), None)
            return
        menu = await reply_service.ready_replies(core, actor, number)
        if step == "list":  # from a card: the menu comes as a new message under it
            await query.answer()
            message = query.message
            chat = message.chat.id if message is not None else query.from_user.id
            thread = topic_of(message) if isinstance(message, Message) else None
            await send(query.bot, chat, *_menu(tr, menu), thread_id=thread)  # type: ignore[arg-type]
            return
        if step == "show":
            chosen = (
                ReadyReply(callback_data.reply) if callback_data.reply in set(ReadyReply) else None
            )
            if chosen is None or chosen not in menu.replies:
                await query.answer(
                    texts.error(tr, CoreError("gone", code="ready_reply_unavailable")),
                    show_alert=True,
                )
                await _edit(query, *_menu(tr, menu))
                return
            await query.answer()
            status = STATUS_CODES[menu.case.status]
            await _edit(
                query,
                _preview(tr, catalogs, menu, chosen),
                views.confirm(tr, number, status, chosen),
            )
            return
        await query.answer()  # "back" from a preview: the menu again, in place
        await _edit(query, *_menu(tr, menu))
    except CoreError as exc:
        await query.answer(texts.error(tr, exc), show_alert=True)
        if exc.code in SHOW_MENU_AGAIN:
            try:
                menu = await reply_service.ready_replies(core, actor, number)
            except CoreError:
                return
            await _edit(query, *_menu(tr, menu))


def _sent(tr: Translator, number: str, said: str) -> str:
    return tr("✉️ Sent to the buyer of case {number}:", number=texts.bold(number)) + "\n" + said


def make_router() -> Router:
    """Ready replies; before the agents' router (whose relay never takes a /command)."""
    router = Router(name="ready_replies")
    router.message.register(reply_in_topic, Command("reply"), InCaseTopic())
    router.message.register(reply_command, Command("reply"), IsStaff())
    router.callback_query.register(pressed, views.ReplyCb.filter(), IsStaff())
    router.callback_query.register(not_staff_press, views.ReplyCb.filter())
    return router


__all__ = ["make_router"]

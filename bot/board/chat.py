"""/board in the bot's private chat: a seller or agent gets the board, inside Telegram (a Mini
App button) or in a browser (a one-time login link: used once, within ten minutes), and the
board's menu button in this chat. ``/start board-<case>`` (the link under a group alert) does
the same and opens that case."""

from __future__ import annotations

from aiogram import Bot, F
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    WebAppInfo,
)

from bot.board import links as board_links
from bot.conversations.staff import IsStaff
from bot.receiving.routing import Router
from bot.views import texts
from bot.views.i18n import Translator
from core.cases.numbers import find_case_numbers
from core.errors import CoreError
from core.services import board as board_service
from core.services.context import CoreContext
from core.services.staff import StaffIdentity


async def open_board(
    message: Message,
    staff: StaffIdentity,
    tr: Translator,
    core: CoreContext,
    bot: Bot,
    command: CommandObject | None = None,
) -> None:
    links = board_links.current()
    if links is None:
        await message.answer(
            tr("The board is not set up here: whoever runs the bot sets WEBAPP_URL to open it.")
        )
        return
    args = (command.args or "") if command is not None else ""
    found = find_case_numbers(args.removeprefix(board_links.START_PREFIX))
    case = found[0] if found else None
    try:
        nonce = await board_service.create_login(core, staff.actor)
    except CoreError as exc:
        await message.answer(texts.error(tr, exc))
        return
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text="📋 " + tr("Open the board"), web_app=WebAppInfo(url=links.page(case))
                )
            ],
            [
                InlineKeyboardButton(
                    text="🌐 " + tr("Open in a browser"), url=links.page(case, login=nonce)
                )
            ],
        ]
    )
    await message.answer(
        tr(
            "Your cases on one page. In a browser, the login link works once, within "
            "{minutes} minutes: do not forward it.",
            minutes=board_service.LOGIN_MINUTES,
        ),
        reply_markup=markup,
    )
    await bot.set_chat_menu_button(
        chat_id=message.chat.id, menu_button=board_links.menu_button(tr, links)
    )


def make_router() -> Router:
    router = Router(name="board")
    private = F.chat.type == "private"
    router.message.register(open_board, private, Command("board"), IsStaff())
    router.message.register(
        open_board,
        private,
        CommandStart(deep_link=True, magic=F.args.startswith(board_links.START_PREFIX)),
        IsStaff(),
    )
    return router

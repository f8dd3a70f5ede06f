"""A bare aiogram 3 bot: the yardstick for ``benchmarks/load.py``.

What any aiogram bot costs on this machine, with nothing of Returns Desk in it: long polling
(``Dispatcher.start_polling``, aiogram's defaults: updates handled as tasks), one message
handler that answers with the same text (and a button to press), one callback handler that
answers the press and edits the message. No database, no state, no middleware.

    BOT_TOKEN=42:… BOT_API_URL=http://127.0.0.1:8081 python benchmarks/echo_bot.py

``load.py`` starts it against its fake Telegram, drives it with the same buyers and the same
number of updates as the real bot, and prints the real bot's throughput as a ratio of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

PRESS = "press"
KEYBOARD = InlineKeyboardMarkup(
    inline_keyboard=[[InlineKeyboardButton(text="Press", callback_data=PRESS)]]
)


def make_dispatcher() -> Dispatcher:
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "…", reply_markup=KEYBOARD)

    @dispatcher.callback_query(F.data == PRESS)
    async def pressed(query: CallbackQuery) -> None:
        await query.answer()
        message = query.message
        if isinstance(message, Message):
            await message.edit_text(f"Pressed: {message.text}")

    return dispatcher


async def main() -> None:
    token = os.environ["BOT_TOKEN"]
    api_url = os.environ.get("BOT_API_URL", "https://api.telegram.org")
    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_url)))
    dispatcher = make_dispatcher()
    await bot.delete_webhook(drop_pending_updates=False)
    await dispatcher.start_polling(bot, allowed_updates=dispatcher.resolve_used_update_types())


if __name__ == "__main__":
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())

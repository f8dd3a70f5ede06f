"""Router filters shared by the conversations."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message, TelegramObject


class PrivateChat(Filter):
    """Buyer flows run in a private chat only: an order check, an order or a case is never
    asked for or shown in a group."""

    async def __call__(self, event: TelegramObject) -> bool:
        if isinstance(event, Message):
            return event.chat.type == "private"
        if isinstance(event, CallbackQuery) and event.message is not None:
            return event.message.chat.type == "private"
        return False

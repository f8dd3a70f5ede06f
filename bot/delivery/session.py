"""The bot's HTTP session: aiogram's ``AiohttpSession``, sending each request as one JSON body
(bot/delivery/request_bodies.py) and reading each answer with a kept response class and
without reading back the keyboard it sent (bot/delivery/response_types.py)."""

from __future__ import annotations

from bot.delivery.request_bodies import JsonBodies
from bot.delivery.response_types import KeptResponseTypes


class TelegramSession(KeptResponseTypes, JsonBodies):
    """The bot's session: requests and answers as the two modules say."""

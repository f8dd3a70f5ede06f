"""Keep aiogram's parsed-response classes alive.

aiogram checks every Bot API answer against ``Response[<the method's result type>]``, a pydantic
generic class made on first use and kept by pydantic in a *weak* cache: after a garbage
collection it is built again, which costs about 2 ms of schema generation per call (measured
with ``benchmarks/load.py``: about 5 % of the bot's time). Holding one reference per method
type keeps them built.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType


class KeepResponseTypes(BaseRequestMiddleware):
    def __init__(self) -> None:
        self._kept: dict[type[Any], Any] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Any:
        kind = type(method)
        if kind not in self._kept:
            self._kept[kind] = Response[method.__returning__]  # type: ignore[name-defined]
        return await make_request(bot, method)

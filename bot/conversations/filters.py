"""Router filters shared by the conversations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Dispatcher
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot.receiving.routing import PLAIN


class PrivateChat(Filter):
    """Buyer flows run in a private chat only: an order check, an order or a case is never
    asked for or shown in a group."""

    async def __call__(self, event: TelegramObject) -> bool:
        if isinstance(event, Message):
            return event.chat.type == "private"
        if isinstance(event, CallbackQuery) and event.message is not None:
            return event.message.chat.type == "private"
        return False


def check_filters_inline(dispatcher: Dispatcher) -> int:
    """Every plain (not ``async``) filter of the dispatcher's routers runs on the event loop,
    as an ``async`` one does; returns how many were changed.

    aiogram runs a plain callable filter in a worker thread (``asyncio.to_thread``), meant
    for blocking code. Ours are ``F.…`` magic filters and FSM states: a comparison each,
    checked one after another for every update until a handler matches. A thread hop each
    (about 15 per update in the load benchmark) cost more than all of them together, and
    woke the event loop from another thread every time. Called once the routers are built."""
    changed = 0
    for router in dispatcher.chain_tail:
        for observer in router.observers.values():
            filters = list(observer._handler.filters or ())
            for handler in observer.handlers:
                filters.extend(handler.filters or ())
            for filter_object in filters:
                if not filter_object.awaitable:
                    # called directly by bot.receiving.routing; wrapped for aiogram's own path
                    setattr(filter_object, PLAIN, filter_object.callback)
                    filter_object.callback = _on_the_loop(filter_object.callback)
                    filter_object.awaitable = True
                    changed += 1
    return changed


def _on_the_loop(check: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def checked(*args: Any, **kwargs: Any) -> Any:
        return check(*args, **kwargs)

    return checked

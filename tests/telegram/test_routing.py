"""The conversations' routers pass events on without aiogram's per-router middleware chain
(bot/receiving/routing.py), and still run an outer middleware when one is registered."""

from __future__ import annotations

import datetime
from typing import Any

from aiogram import Bot, Dispatcher, F
from aiogram.types import Chat, Message, Update, User

from bot.factory import create_dispatcher
from bot.receiving.routing import Router


def text_update(text: str) -> Update:
    user = User(id=7, is_bot=False, first_name="Ana")
    chat = Chat(id=7, type="private")
    message = Message(
        message_id=1, date=datetime.datetime.now(datetime.UTC), chat=chat, from_user=user, text=text
    )
    return Update(update_id=1, message=message)


def test_every_router_of_the_bot_is_the_lean_one() -> None:
    class Core:  # create_dispatcher hands these to the conversation storage only
        unit_of_work = clock = None

    dispatcher = create_dispatcher(Core(), inbox=True)  # type: ignore[arg-type]
    routers = list(dispatcher.chain_tail)[1:]
    assert len(routers) >= 18 and all(isinstance(r, Router) for r in routers)


async def test_an_event_reaches_the_matching_handler_of_a_nested_router() -> None:
    seen: list[tuple[str, str]] = []
    outer, inner = Router(name="outer"), Router(name="inner")

    async def wrong(message: Message) -> None:
        seen.append(("outer", message.text or ""))

    async def right(message: Message, event_router: Router) -> None:
        seen.append((event_router.name, message.text or ""))

    outer.message.register(wrong, F.text == "other")
    inner.message.register(right, F.text == "hello")
    outer.include_router(inner)
    dispatcher = Dispatcher()
    dispatcher.include_router(outer)
    bot = Bot(token="42:TEST")
    try:
        await dispatcher.feed_update(bot, text_update("hello"))
        await dispatcher.feed_update(bot, text_update("nobody"))  # unhandled: nothing runs
    finally:
        await bot.session.close()
    assert seen == [("inner", "hello")]


async def test_an_outer_middleware_on_a_router_still_runs() -> None:
    calls: list[str] = []
    router = Router(name="with_middleware")

    async def middleware(handler: Any, event: Any, data: dict[str, Any]) -> Any:
        calls.append("middleware")
        data["added"] = "by the middleware"
        return await handler(event, data)

    async def handler(message: Message, added: str) -> None:
        calls.append(added)

    router.message.outer_middleware(middleware)
    router.message.register(handler)
    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    bot = Bot(token="42:TEST")
    try:
        await dispatcher.feed_update(bot, text_update("hi"))
    finally:
        await bot.session.close()
    assert calls == ["middleware", "by the middleware"]

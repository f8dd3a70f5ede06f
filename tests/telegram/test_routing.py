"""The conversations' routers pass events on without aiogram's per-router middleware chain
(bot/receiving/routing.py), and still run an outer middleware when one is registered."""

from __future__ import annotations

import datetime
from typing import Any

import aiogram
from aiogram import Bot, F
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.types import Chat, Message, Update, User

from bot.conversations.filters import check_filters_inline
from bot.factory import create_dispatcher
from bot.receiving.routing import Dispatcher, Router


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
    assert isinstance(dispatcher, Dispatcher)


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


def record_of(seen: list[tuple[str, dict[str, Any]]], name: str) -> Any:
    async def handler(message: Message, **data: Any) -> None:
        shown = {key: value for key, value in data.items() if key not in AIOGRAM_OBJECTS}
        shown["event_router"] = data["event_router"].name
        shown["handler"] = data["handler"].callback.__name__
        seen.append((name, shown))

    handler.__name__ = name
    return handler


# what aiogram puts in every event's data, the same objects either way
AIOGRAM_OBJECTS = {
    "bot",
    "dispatcher",
    "event_update",
    "event_from_user",
    "event_chat",
    "event_context",
}
AIOGRAM_OBJECTS |= {
    "fsm_storage",
    "state",
    "raw_state",
    "event_thread_id",
    "event_business_connection_id",
}


async def events_through(
    dispatcher_class: type[aiogram.Dispatcher], router_class: type[aiogram.Router]
) -> list[tuple[str, dict[str, Any]]]:
    """A staff router that lets no buyer in, one with an outer middleware, a router whose
    first handler skips after its filter and its middleware added data, a router whose own
    filter adds data for its sub-router, a fallback whose first handler fails, and an error
    handler: every handler records the data it was given."""
    seen: list[tuple[str, dict[str, Any]]] = []
    errors = router_class(name="errors")
    errors.error.register(record_of(seen, "error_handler"))

    guarded = router_class(name="guarded")

    async def outer(handler: Any, event: Any, data: dict[str, Any]) -> Any:
        data["outer"] = "guarded"
        return await handler(event, data)

    guarded.message.outer_middleware(outer)
    guarded.message.register(record_of(seen, "guarded_handler"), F.text == "guarded")

    staff = router_class(name="staff")
    staff.message.filter(F.from_user.id == 99)
    staff.message.register(record_of(seen, "staff_any"))

    skipping = router_class(name="skipping")

    async def middleware(handler: Any, event: Any, data: dict[str, Any]) -> Any:
        data["from_middleware"] = data["handler"].callback.__name__
        return await handler(event, data)

    async def skips(message: Message, checked: str) -> None:
        seen.append(("skips", {"checked": checked}))
        raise SkipHandler

    def adds_checked(message: Message) -> Any:
        return {"checked": "by the filter"} if (message.text or "").startswith("skip") else False

    async def skips_plainly(message: Message) -> None:
        seen.append(("skips_plainly", {}))
        raise SkipHandler

    skipping.message.middleware(middleware)
    skipping.message.register(skips, adds_checked)
    skipping.message.register(skips_plainly, F.text == "plain skip")
    skipping.message.register(record_of(seen, "after_skip"), F.text == "skip to the next")

    flows = router_class(name="flows")

    async def root_data(message: Message, **data: Any) -> Any:  # sees all the data
        seen_handler = data.get("handler")
        saw = seen_handler.callback.__name__ if seen_handler is not None else None
        return {"from_root_filter": data["context_data"], "root_saw": saw}

    flows.message.filter(root_data)
    inner = router_class(name="inner")
    inner.message.register(record_of(seen, "inner_handler"), F.text == "inner")
    flows.include_router(inner)

    async def fails(message: Message) -> None:
        raise RuntimeError("boom")

    fallback = router_class(name="fallback")
    fallback.message.register(fails, F.text == "boom")
    fallback.message.register(record_of(seen, "fallback_handler"))

    dispatcher = dispatcher_class()
    dispatcher.include_routers(errors, staff, guarded, skipping, flows, fallback)
    check_filters_inline(dispatcher)  # as create_dispatcher does
    bot = Bot(token="42:TEST")
    try:
        texts = ("skip", "skip to the next", "inner", "anything else", "plain skip")
        for text in (*texts, "guarded", "boom"):
            await dispatcher.feed_update(bot, text_update(text), context_data=f"for {text}")
    finally:
        await bot.session.close()
    return seen


async def test_handlers_get_the_same_data_in_the_same_order_as_with_aiogram_alone() -> None:
    ours = await events_through(Dispatcher, Router)
    assert ours == await events_through(aiogram.Dispatcher, aiogram.Router)
    # and what that is: filter data for its handler and those after it only, a router's
    # filter data for its sub-routers only, a middleware's for its router only
    assert [name for name, _ in ours] == [
        "skips",
        "fallback_handler",
        "skips",
        "after_skip",
        "inner_handler",
        "fallback_handler",
        "skips_plainly",
        "fallback_handler",
        "guarded_handler",
        "error_handler",
    ]
    after_skip, inner, fallback = ours[3][1], ours[4][1], ours[5][1]
    assert after_skip["checked"] == "by the filter"
    assert after_skip["from_middleware"] == "after_skip"  # the middleware runs per handler
    assert after_skip["handler"] == "after_skip" and after_skip["event_router"] == "skipping"
    assert inner["from_root_filter"] == "for inner" and inner["event_router"] == "inner"
    assert inner["root_saw"] == "_listen_update"  # the dispatcher's, not the routers' before
    assert "checked" not in fallback and "from_root_filter" not in fallback
    assert "from_middleware" not in fallback and fallback["context_data"] == "for anything else"
    assert ours[1][1] == {**fallback, "context_data": "for skip"}
    assert ours[7][1] == {**fallback, "context_data": "for plain skip"}  # no middleware data
    assert "outer" not in fallback and ours[8][1]["outer"] == "guarded"
    error = ours[9][1]
    assert error["event_router"] == "errors" and error["context_data"] == "for boom"

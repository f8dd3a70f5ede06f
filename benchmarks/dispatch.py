"""The cost of passing an update through the dispatcher's routers, with aiogram's ``Router``
and ``Dispatcher`` and with ours (bot/receiving/routing.py): 18 routers of two handlers that
do not match, then one that does, as a buyer's step passes the staff routers first, with 20
entries of data besides aiogram's own (the bot's middlewares add about as many). Prints the
CPU per update of each, three rounds (the machine's noise shows between them).

    .venv/bin/python benchmarks/dispatch.py [--updates 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
import time
from pathlib import Path

import aiogram
from aiogram import Bot, Dispatcher, F
from aiogram.types import Chat, Message, Update, User

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.conversations.filters import check_filters_inline
from bot.event_loop import loop_factory
from bot.receiving.routing import Dispatcher as LeanDispatcher
from bot.receiving.routing import Router as LeanRouter

ROUTERS_PASSED = 18


def a_text_update() -> Update:
    user = User(id=7, is_bot=False, first_name="Ana")
    message = Message(
        message_id=1,
        date=datetime.datetime.now(datetime.UTC),
        chat=Chat(id=7, type="private"),
        from_user=user,
        text="hello",
    )
    return Update(update_id=1, message=message)


MIDDLEWARE_DATA = {f"context_{number}": number for number in range(20)}


async def cpu_per_update(
    dispatcher_class: type[Dispatcher], router_class: type[aiogram.Router], updates: int
) -> float:
    """µs of CPU per update fed through the routers."""

    async def handled(message: Message) -> None:
        return None

    dispatcher = dispatcher_class()
    for number in range(ROUTERS_PASSED):
        router = router_class(name=f"passed-{number}")
        router.message.register(handled, F.text == "something else")
        router.message.register(handled, F.text == "another thing")
        dispatcher.include_router(router)
    answering = router_class(name="answering")
    answering.message.register(handled, F.text == "hello")
    dispatcher.include_router(answering)
    check_filters_inline(dispatcher)  # as create_dispatcher does
    bot, update = Bot(token="42:BENCH"), a_text_update()
    try:
        for _ in range(300):  # warm-up
            await dispatcher.feed_update(bot, update, **MIDDLEWARE_DATA)
        started = time.process_time()
        for _ in range(updates):
            await dispatcher.feed_update(bot, update, **MIDDLEWARE_DATA)
        return (time.process_time() - started) / updates * 1e6
    finally:
        await bot.session.close()


async def main(updates: int) -> None:
    print(f"{ROUTERS_PASSED} routers passed, then one that answers; {updates:,} updates each")
    for _ in range(3):
        stock = await cpu_per_update(Dispatcher, aiogram.Router, updates)
        lean = await cpu_per_update(LeanDispatcher, LeanRouter, updates)
        print(f"  aiogram's {stock:6.0f} µs/update   ours {lean:6.0f} µs/update")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=3000)
    factory, _ = loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main(parser.parse_args().updates))

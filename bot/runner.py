"""Running the bot: long polling (the default) with the product's wiring, plus the
background work that goes with it: the outbox sender and the case timers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram.types import TelegramObject

from bot.app import open_app
from bot.config import Settings
from bot.factory import create_bot, create_dispatcher, register_commands
from bot.i18n import Catalogs
from bot.notifier import Notifier
from core.services import cases as case_service
from core.services.context import CoreContext

log = logging.getLogger("returns_desk")

TIMERS_EVERY = 60.0  # seconds between two looks at the case deadlines


async def run_timers(core: CoreContext, stop: asyncio.Event, every: float = TIMERS_EVERY) -> None:
    """Deadlines that passed move their cases on (expire, back to the shop, to an agent)."""
    while not stop.is_set():
        try:
            done = await case_service.run_timers(core)
            done["reminders"] = await case_service.send_reminders(core)
            if any(done.values()):
                log.info("timers: %s", done)
        except Exception:  # the next round tries again
            log.exception("the timers pass failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)


async def run_polling(
    settings: Settings,
    *,
    handle_signals: bool = True,
    started: asyncio.Event | None = None,
    handled: Callable[[int], None] | None = None,
) -> None:
    """Poll until stopped; ``started`` is set once the bot is about to ask for updates, and
    ``handled(update_id)`` is called when the handlers are done with an update (the demo
    shows the answers then)."""
    token = settings.require_token()
    async with open_app(settings) as app:
        catalogs = Catalogs()
        bot = create_bot(token, api_url=settings.bot_api_url)
        dispatcher = create_dispatcher(app.core, catalogs, agents_chat_id=settings.agents_chat_id)
        if started is not None:

            async def on_startup() -> None:
                started.set()

            dispatcher.startup.register(on_startup)
        if handled is not None:

            async def report(
                handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                event: TelegramObject,
                data: dict[str, Any],
            ) -> Any:
                try:
                    return await handler(event, data)
                finally:
                    handled(getattr(event, "update_id", -1))

            dispatcher.update.outer_middleware(report)
        notifier = Notifier(bot, app.core, catalogs, agents_chat_id=settings.agents_chat_id)
        stop = asyncio.Event()
        background = [
            asyncio.create_task(notifier.run(stop), name="notifier"),
            asyncio.create_task(run_timers(app.core, stop), name="timers"),
        ]
        try:
            me = await bot.get_me()
            log.info("Returns Desk is running as @%s against %s", me.username, settings.bot_api_url)
            await register_commands(bot, catalogs)
            await bot.delete_webhook(drop_pending_updates=False)
            await dispatcher.start_polling(
                bot,
                handle_signals=handle_signals,
                allowed_updates=dispatcher.resolve_used_update_types(),
            )
        finally:
            stop.set()  # the sender flushes what is due, then everything closes
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.gather(*background, return_exceptions=True), 10)
            await bot.session.close()

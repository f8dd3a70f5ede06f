"""Running the bot: long polling (the default) with the product's wiring."""

from __future__ import annotations

import logging

from bot.app import open_app
from bot.config import Settings
from bot.factory import create_bot, create_dispatcher, register_commands
from bot.i18n import Catalogs

log = logging.getLogger("returns_desk")


async def run_polling(settings: Settings, *, handle_signals: bool = True) -> None:
    token = settings.require_token()
    async with open_app(settings) as app:
        catalogs = Catalogs()
        bot = create_bot(token, api_url=settings.bot_api_url)
        dispatcher = create_dispatcher(app.core, catalogs)
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
            await bot.session.close()

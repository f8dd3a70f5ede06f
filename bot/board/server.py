"""``returns-desk web``: the seller's board served on its own, beside a bot that uses long
polling (in webhook mode the webhook server serves it already). Same bounds as the webhook
server (bot.receiving.webhook.start_server); ``GET /healthz`` for the load balancer; SIGTERM
or SIGINT stops it."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web
from sqlalchemy import text

from bot.app import open_app
from bot.board import api as board_api
from bot.config import Settings
from bot.receiving import webhook
from bot.receiving.runner import board_app, database_answers
from bot.views.i18n import Catalogs
from core.services.context import CoreContext

log = logging.getLogger("returns_desk.board")


def make_web_app(settings: Settings, core: CoreContext, catalogs: Catalogs) -> web.Application:
    async def health(request: web.Request) -> web.Response:
        try:
            async with core.unit_of_work() as uow:
                await uow.session.execute(text("SELECT 1"))
        except Exception as exc:
            return web.Response(status=503, text=f"database: {type(exc).__name__}")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/healthz", health)
    board_api.mount(app, board_app(settings, core, catalogs))
    return app


async def serve(
    settings: Settings,
    host: str,
    port: int,
    *,
    started: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT (or ``stop``, in tests); ``started`` once listening."""
    loop = asyncio.get_running_loop()
    signals = stop is None
    stop = stop or asyncio.Event()
    if signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    try:
        async with open_app(settings) as app:
            await database_answers(app.core)
            runner = await webhook.start_server(
                make_web_app(settings, app.core, Catalogs()), host, port
            )
            log.info("The board is served on %s:%s at /board/", host, port)
            if started is not None:
                started.set()
            try:
                await stop.wait()
            finally:
                await runner.cleanup()
    finally:
        if signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

"""Webhook mode: Telegram POSTs each update here; it is stored in the inbox before the 200.

The secret Telegram sends in ``X-Telegram-Bot-Api-Secret-Token`` is always required (aiogram's
own handler lets everything through when no secret is configured): requests without it get
403 and are not stored. A database that does not answer gets 503, and Telegram tries again
later, so nothing is confirmed that was not stored. ``GET /healthz`` answers 200 while the
database answers, for the load balancer.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from collections.abc import Callable

from aiohttp import web
from sqlalchemy import text

from bot.receiving import inbox
from core.services.context import CoreContext

log = logging.getLogger("returns_desk.webhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_KEY = "webhook_secret"


async def shared_secret(core: CoreContext, configured: str | None) -> str:
    """The configured secret, else the one the first process generated and stored (every
    process behind the load balancer must register the same one with Telegram)."""
    if configured:
        return configured
    async with core.unit_of_work() as uow:
        value = await uow.runtime_values.get_or_create(SECRET_KEY, secrets.token_urlsafe(32))
        await uow.commit()
    return value


def make_app(
    core: CoreContext, *, path: str, secret: str, recorded: Callable[[], None]
) -> web.Application:
    expected = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            log.warning("webhook request from %s without the right secret: refused", request.remote)
            return web.Response(status=403, text="forbidden")
        try:
            update = await request.json(loads=json.loads)
            if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
                raise ValueError("not an update")
        except ValueError:
            return web.Response(status=400, text="not a Telegram update")
        try:
            await inbox.record(core, [update])
        except Exception:  # not stored, so not confirmed: Telegram sends it again
            log.exception("could not store update %s", update.get("update_id"))
            return web.Response(status=503, text="try again")
        recorded()
        return web.Response(status=200)

    async def health(request: web.Request) -> web.Response:
        try:
            async with core.unit_of_work() as uow:
                await uow.session.execute(text("SELECT 1"))
        except Exception as exc:
            return web.Response(status=503, text=f"database: {type(exc).__name__}")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post(path, receive)
    app.router.add_get("/healthz", health)
    return app

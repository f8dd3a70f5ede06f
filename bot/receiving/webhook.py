"""Webhook mode: Telegram POSTs each update here; it is stored in the inbox before the 200.

The secret Telegram sends in ``X-Telegram-Bot-Api-Secret-Token`` is always required (aiogram's
own handler lets everything through when no secret is configured): requests without it get
403 and are not stored. A database that does not answer gets 503, and Telegram tries again
later, so nothing is confirmed that was not stored. ``GET /healthz`` answers 200 while the
database answers, for the load balancer.

The server is bounded against slow or many clients (``start_server``): a connection has
``HEADER_TIMEOUT`` seconds to send a whole request (and as long between two), a body must
arrive within ``BODY_TIMEOUT`` and be at most ``MAX_BODY`` bytes, at most ``MAX_CONNECTIONS``
are open at once (past that, the oldest that never sent a request is closed for the new one),
and a handler whose client left is cancelled. 1,100 slow-loris connections then cost nothing
but their sockets for a few seconds, and the repeat filter (bot/logs.py) keeps the log short.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy import text

from bot.receiving import inbox
from core import fast_json
from core.services.context import CoreContext

log = logging.getLogger("returns_desk.webhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_KEY = "webhook_secret"
HEADER_TIMEOUT = 10.0  # seconds to send a whole request line and headers (and between requests)
BODY_TIMEOUT = 10.0  # seconds to send the body once the headers are in
MAX_BODY = 1024 * 1024  # an update is a few kB; Telegram's largest are far below this
MAX_CONNECTIONS = 256  # Telegram itself opens at most 100 (setWebhook max_connections)
BACKLOG = 128  # connections the kernel queues before we accept them
SERVED: web.AppKey[set[Any]] = web.AppKey("served", set)  # connections that sent a request


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
    stored = inbox.RecordTogether(core)  # requests that come together share a transaction

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            log.warning("webhook request from %s without the right secret: refused", request.remote)
            return web.Response(status=403, text="forbidden")
        try:
            async with asyncio.timeout(BODY_TIMEOUT):  # a body sent a byte a minute: refused
                body = await request.read()
        except TimeoutError:
            return web.Response(status=408, text="too slow")
        try:
            update = fast_json.loads(body)  # every update, in webhook mode
            if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
                raise ValueError("not an update")
        except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
            return web.Response(status=400, text="not a Telegram update")
        try:
            await stored.record(update)
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

    @web.middleware
    async def mark_served(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        served = request.app.get(SERVED)  # set by start_server, which empties it as they close
        if served is not None:
            served.add(request.protocol)  # a whole request came: this is no slow loris
        return await handler(request)

    app = web.Application(client_max_size=MAX_BODY, middlewares=[mark_served])
    app.router.add_post(path, receive)
    app.router.add_get("/healthz", health)
    return app


class _CappedRunner(web.AppRunner):
    """An AppRunner whose server keeps at most ``max_connections`` connections open."""

    def __init__(self, app: web.Application, max_connections: int, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.max_connections = max_connections
        self.served: set[Any] = set()
        app[SERVED] = self.served

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        opened: OrderedDict[Any, None] = OrderedDict()
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: Any, transport: asyncio.Transport) -> None:
            made(handler, transport)
            opened[handler] = None
            if len(opened) > self.max_connections:
                # the oldest connection that never sent a whole request makes room; when
                # every one is a working client, the new one is turned away
                victim = next((h for h in opened if h not in self.served), handler)
                opened.pop(victim, None)
                log.warning(
                    "webhook: %d connections open, the limit: an idle one is closed",
                    self.max_connections + 1,
                )
                victim.force_close()

        def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
            opened.pop(handler, None)
            self.served.discard(handler)
            lost(handler, exc)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]
        return server


async def start_server(
    app: web.Application,
    host: str,
    port: int,
    *,
    header_timeout: float = HEADER_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
) -> web.AppRunner:
    """Serve ``app`` (from ``make_app``) on host:port with the bounds above; ``cleanup()``
    the returned runner to stop."""
    runner = _CappedRunner(
        app,
        max_connections,
        access_log=None,
        shutdown_timeout=5.0,
        handler_cancellation=True,
        # aiohttp arms this timer when a connection opens, too: a client that has not sent a
        # whole request by then (a slow loris) is disconnected
        keepalive_timeout=header_timeout,
    )
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=BACKLOG).start()
    return runner

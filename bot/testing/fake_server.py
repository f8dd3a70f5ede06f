"""The :class:`FakeTelegram` over HTTP on loopback: a Bot API server the real bot can poll,
or that POSTs updates to the bot's webhook.

::

    async with FakeTelegramServer(fake) as server:
        session = AiohttpSession(api=TelegramAPIServer.from_base(server.url))
        bot = Bot(fake.token, session=session, default=DefaultBotProperties(parse_mode="HTML"))

Routes, as api.telegram.org has them:

* ``GET|POST /bot<token>/<method>``: fields from the query string and from a JSON,
  form-urlencoded or multipart/form-data body (file parts become uploads, referenced by
  ``attach://<part name>`` or sent directly as the parameter); the answer is
  ``{"ok": true, "result": …}`` or ``{"ok": false, "error_code": …, "description": …,
  "parameters": {"retry_after": …}}`` with the error code as HTTP status. A wrong token: 401.
* ``GET /file/bot<token>/<file_path>``: a stored file's bytes (getFile gives the path).
* ``/fake/…``: a small control API to play people from another process (the demo, curl):
  ``POST /fake/<action>`` with a JSON object of keyword arguments calls the FakeTelegram
  method of that name (``add_user``, ``user_message``, ``press``, ``block``, ``fail_next``…,
  see ``CONTROL_ACTIONS``) and answers its result; ``GET /fake/messages/<chat_id>`` answers
  ``messages_to(chat_id)``. Uploads there take ``content_base64``.

While ``fake.unreachable`` is set, connections are dropped without an answer (aiogram raises
``TelegramNetworkError``), waiting long polls included, and webhook delivery pauses.

Webhooks, as Telegram delivers them: while setWebhook's URL is set, each queued update is
POSTed there as JSON (header ``X-Telegram-Bot-Api-Secret-Token`` when a ``secret_token`` was
given). A 2xx answer delivers it (a Bot API method in the answer, as aiogram's webhook handler
sends when a handler returns one, is executed); another status, a timeout or a refused
connection leaves it queued, retried after ``webhook_retry_delay`` seconds, and shown in
getWebhookInfo's ``last_error_message``. Up to ``max_connections`` POSTs are in flight, but
one per chat at a time, so each chat gets its updates in order. Telegram only POSTs to HTTPS
on ports 443/80/88/8443: tests use ``FakeTelegram(allow_http_webhooks=True)``.

Standalone (the demo starts it this way; it prints its URL on the first line of stdout)::

    python -m bot.testing.fake_server --port 8081 [--user 1001:Ana:es ...] [--allow-http-webhooks]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import BodyPartReader, MultipartReader, web

from .fake_telegram import FakeApiError, FakeTelegram, FakeUnreachable, Upload, _Queued

__all__ = ["CONTROL_ACTIONS", "FakeTelegramServer", "main"]

# FakeTelegram methods that the /fake/<action> control API may call
CONTROL_ACTIONS = frozenset(
    {
        "add_user",
        "add_group",
        "add_topic",
        "block",
        "unblock",
        "user_message",
        "user_message_in",
        "user_photo",
        "user_video",
        "user_document",
        "user_sticker",
        "user_voice",
        "user_location",
        "user_contact",
        "press",
        "redeliver",
        "fail_next",
        "delay",
    }
)
MAX_REQUEST_BYTES = 60 * 1024 * 1024  # above Telegram's 50 MB upload limit, to answer 413
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class FakeTelegramServer:
    """Serves a :class:`FakeTelegram` on ``http://127.0.0.1:<port>`` (port 0: a free one), and
    delivers its updates to the webhook while one is set.

    ``webhook_retry_delay``: seconds before a failed webhook POST is retried (Telegram waits
    longer, and longer each time); ``webhook_timeout``: seconds to wait for the bot's answer.
    """

    def __init__(
        self,
        fake: FakeTelegram,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_retry_delay: float = 0.2,
        webhook_timeout: float = 10.0,
    ) -> None:
        self.fake = fake
        self.host = host
        self.port = port
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout
        self._runner: web.AppRunner | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._http: aiohttp.ClientSession | None = None
        self._delivery: asyncio.Task[None] | None = None
        self._posts: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """Base URL for ``TelegramAPIServer.from_base`` (valid once started)."""
        if self._runner is None:
            raise RuntimeError("the server is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[self._track_and_drop])
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        app.router.add_post("/fake/{action}", self._control)
        app.router.add_get("/fake/messages/{chat_id}", self._control_messages)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.webhook_timeout)
        )
        self._delivery = asyncio.create_task(self._deliver_webhook())

    async def close(self) -> None:
        if self._runner is None:
            return
        tasks = [t for t in (self._delivery, *self._posts) if t is not None]
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
        for task in list(self._handlers):  # long polls would hold the shutdown
            task.cancel()
        runner, self._runner = self._runner, None
        await runner.cleanup()
        crashes = [result for result in results if isinstance(result, Exception)]
        if crashes:  # a bug in the webhook delivery must not pass silently
            raise crashes[0]

    async def __aenter__(self) -> FakeTelegramServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ---------------------------------------------------------------------- webhook delivery

    async def _deliver_webhook(self) -> None:
        """Start a POST for each update the fake says may go now; sleep until something
        changes (an update queued, a POST answered, the webhook set) or a retry is due."""
        while True:
            changed = self.fake._changed  # taken first: a change from now on wakes us
            webhook = dict(self.fake.webhook)
            batch, retry_in = self.fake._webhook_next(webhook.get("max_connections") or 40)
            for queued in batch:
                task = asyncio.create_task(self._post(webhook, queued))
                self._posts.add(task)
                task.add_done_callback(self._posts.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), retry_in)

    async def _post(self, webhook: dict[str, Any], queued: _Queued) -> None:
        assert self._http is not None
        secret = webhook.get("secret_token")
        headers = {SECRET_HEADER: secret} if secret else {}
        sent_at = time.monotonic()
        result: int | str
        try:
            async with self._http.post(
                webhook["url"], json=queued.update, headers=headers, allow_redirects=False
            ) as response:
                result = response.status
                if 200 <= response.status < 300:
                    with contextlib.suppress(ValueError, aiohttp.ClientError):  # a bad reply:
                        await self._execute_reply(response)  # delivered all the same
        except asyncio.CancelledError:
            queued.sending = False  # the server closes: the update stays queued, unsent
            raise
        except TimeoutError:
            result = "Read timeout expired"
        except aiohttp.ClientConnectorDNSError:
            result = "Failed to resolve host: Name or service not known"
        except aiohttp.ClientConnectorError:
            result = "Connection refused"
        except aiohttp.ClientError:
            result = "Connection reset by peer"
        self.fake._webhook_done(queued, result, sent_at, self.webhook_retry_delay)

    async def _execute_reply(self, response: aiohttp.ClientResponse) -> None:
        """Telegram executes a Bot API method sent back as the webhook's answer (aiogram does
        so when a handler returns one); its result and errors reach nobody."""
        params: dict[str, Any] = {}
        uploads: dict[str, Upload] = {}
        if response.content_type == "multipart/form-data":
            await _read_parts(MultipartReader(response.headers, response.content), params, uploads)
        elif response.content_type == "application/json":
            body = await response.json()
            params = body if isinstance(body, dict) else {}
        method = params.pop("method", None)
        if isinstance(method, str) and method:
            with contextlib.suppress(FakeApiError, FakeUnreachable):
                await self.fake.call(method, params, uploads)

    # ------------------------------------------------------------------------- handlers

    @web.middleware
    async def _track_and_drop(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            if self.fake.unreachable:
                raise FakeUnreachable(request.path)
            return await handler(request)
        except FakeUnreachable:
            _drop_connection(request)
            return web.Response(status=503)  # never written: the connection is gone
        finally:
            self._handlers.discard(task)

    async def _api(self, request: web.Request) -> web.Response:
        params, uploads = await _read_fields(request)
        try:
            result = await self.fake.call(
                request.match_info["method"], params, uploads, token=request.match_info["token"]
            )
        except FakeApiError as error:
            return web.json_response(error.to_response(), status=error.code)
        return web.json_response({"ok": True, "result": result})

    async def _file(self, request: web.Request) -> web.Response:
        record = None
        if request.match_info["token"] == self.fake.token:
            record = self.fake.file_by_path(request.match_info["path"])
        if record is None:
            not_found = FakeApiError(404, "Not Found")
            return web.json_response(not_found.to_response(), status=404)
        return web.Response(
            body=record.content(), content_type=record.mime_type or "application/octet-stream"
        )

    async def _control(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        if action not in CONTROL_ACTIONS:
            return web.json_response(
                {"ok": False, "description": f"no action {action}"}, status=404
            )
        kwargs = await request.json() if request.can_read_body else {}
        if "content_base64" in kwargs:
            kwargs["content"] = base64.b64decode(kwargs.pop("content_base64"))
        if isinstance(kwargs.get("size"), list):
            kwargs["size"] = tuple(kwargs["size"])
        try:
            result = getattr(self.fake, action)(**kwargs)
        except (TypeError, ValueError, KeyError, AssertionError) as error:
            return web.json_response({"ok": False, "description": str(error)}, status=400)
        if hasattr(result, "as_api"):
            result = result.as_api()
        return web.json_response({"ok": True, "result": result})

    async def _control_messages(self, request: web.Request) -> web.Response:
        try:
            messages = self.fake.messages_to(int(request.match_info["chat_id"]))
        except (ValueError, FakeApiError) as error:
            return web.json_response({"ok": False, "description": str(error)}, status=404)
        return web.json_response({"ok": True, "result": messages})


async def _read_fields(request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
    """Request fields (query string + body) and file parts, whatever the content type."""
    params: dict[str, Any] = dict(request.query)
    uploads: dict[str, Upload] = {}
    if not request.can_read_body:
        return params, uploads
    if request.content_type == "application/json":
        body = await request.json()
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="JSON body must be an object")
        params.update(body)
    elif request.content_type == "multipart/form-data":
        await _read_parts(await request.multipart(), params, uploads)
    else:  # application/x-www-form-urlencoded
        params.update({key: value for key, value in (await request.post()).items()})
    return params, uploads


async def _read_parts(
    reader: MultipartReader, params: dict[str, Any], uploads: dict[str, Upload]
) -> None:
    """multipart/form-data fields into ``params``; file parts become uploads."""
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        data = await part.read()
        if part.filename is not None:
            content_type = part.headers.get("Content-Type")
            uploads[part.name] = Upload(bytes(data), part.filename, content_type)
            params[part.name] = uploads[part.name]
        else:
            params[part.name] = bytes(data).decode(part.get_charset("utf-8"))


def _drop_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


# ------------------------------------------------------------------------- standalone


def _parse_user(spec: str) -> tuple[int, str, str]:
    user_id, _, rest = spec.partition(":")
    first_name, _, language = rest.partition(":")
    return int(user_id), first_name or f"User {user_id}", language or "en"


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeTelegram(username=args.username, allow_http_webhooks=args.allow_http_webhooks)
    for spec in args.user:
        fake.add_user(*_parse_user(spec))
    async with FakeTelegramServer(fake, host=args.host, port=args.port) as server:
        print(server.url, flush=True)
        print(
            f"fake Telegram Bot API for @{args.username} (token {fake.token}); "
            f"control API at {server.url}/fake/…; Ctrl+C stops",
            file=sys.stderr,
            flush=True,
        )
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Run the fake Telegram Bot API over HTTP.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--username", default="ReturnsDeskBot")
    parser.add_argument(
        "--user", action="append", default=[], metavar="ID:NAME:LANG", help="add a person"
    )
    parser.add_argument(
        "--allow-http-webhooks",
        action="store_true",
        help="setWebhook also takes http:// URLs on any port (Telegram: HTTPS, 443/80/88/8443)",
    )
    return parser


if __name__ == "__main__":
    main()

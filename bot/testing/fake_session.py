"""An aiogram session that talks to a :class:`FakeTelegram` in-process (no sockets).

The fast path for tests that drive ``Dispatcher.feed_update`` update by update::

    fake = FakeTelegram()
    bot = Bot(fake.token, session=FakeSession(fake),
              default=DefaultBotProperties(parse_mode="HTML"))

Each request is serialized exactly as aiogram's ``AiohttpSession`` serializes it for the wire
(``prepare_value`` per field with the bot's defaults; ``InputFile`` uploads read to bytes and
referenced as ``attach://…``), executed by :meth:`FakeTelegram.call`, and the answer is fed as
JSON through aiogram's own ``check_response``: handlers see the same results and the same
exceptions (``TelegramBadRequest``, ``TelegramRetryAfter``, ``TelegramForbiddenError``…) as
against Telegram. ``bot.download(...)`` reads the fake's file store.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator
from http import HTTPStatus
from typing import Any, cast

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile
from aiohttp import ClientResponseError, RequestInfo
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from bot.delivery.response_types import KeptResponseTypes

from .fake_telegram import FakeApiError, FakeTelegram, FakeUnreachable, Upload

__all__ = ["FakeSession", "create_fake_bot"]

_FILE_URL = re.compile(r"/file/bot(?P<token>[^/]+)/(?P<path>.+)$")


class FakeSession(KeptResponseTypes):
    """A session whose requests are executed by a :class:`FakeTelegram`; it reads the answers
    as the bot's own session does (``KeptResponseTypes``)."""

    def __init__(self, fake: FakeTelegram, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fake = fake
        self.closed = False

    async def close(self) -> None:
        self.closed = True

    async def serialize(
        self, bot: Bot, method: TelegramMethod[Any]
    ) -> tuple[dict[str, Any], dict[str, Upload]]:
        """The request fields and uploads, as ``AiohttpSession.build_form_data`` makes them."""
        files: dict[str, InputFile] = {}
        params: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files)
            if not prepared:
                continue
            params[key] = prepared
        uploads = {}
        for key, input_file in files.items():
            chunks = [chunk async for chunk in input_file.read(bot)]
            uploads[key] = Upload(b"".join(chunks), input_file.filename or key)
        return params, uploads

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (aiogram's signature)
    ) -> TelegramType:
        if self.fake.unreachable:
            raise _connection_refused(method)
        params, uploads = await self.serialize(bot, method)
        call = self.fake.call(method.__api_method__, params, uploads, token=bot.token)
        try:
            result = await asyncio.wait_for(call, self.timeout if timeout is None else timeout)
        except FakeApiError as error:
            status, content = error.code, json.dumps(error.to_response())
        except FakeUnreachable:
            raise _connection_refused(method) from None
        except TimeoutError:
            raise TelegramNetworkError(method=method, message="Request timeout error") from None
        else:
            status, content = HTTPStatus.OK, json.dumps({"ok": True, "result": result})
        response = self.check_response(bot=bot, method=method, status_code=status, content=content)
        return cast(TelegramType, response.result)

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 (aiogram's signature)
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        """Serve ``<api>/file/bot<token>/<file_path>`` from the fake's file store."""
        match = _FILE_URL.search(url)
        record = None
        if match is not None and match["token"] == self.fake.token:
            record = self.fake.file_by_path(match["path"])
        if record is None:
            if raise_for_status:
                request = RequestInfo(URL(url), "GET", CIMultiDictProxy(CIMultiDict()), URL(url))
                raise ClientResponseError(request, (), status=404, message="Not Found")
            return
        content = record.content()
        for start in range(0, len(content), chunk_size):
            yield content[start : start + chunk_size]


def create_fake_bot(fake: FakeTelegram, *, parse_mode: str | None = "HTML") -> Bot:
    """The project's bot (HTML parse mode by default) on a :class:`FakeSession`."""
    return Bot(
        token=fake.token,
        session=FakeSession(fake),
        default=DefaultBotProperties(parse_mode=parse_mode),
    )


def _connection_refused(method: TelegramMethod[Any]) -> TelegramNetworkError:
    return TelegramNetworkError(
        method=method,
        message="ClientConnectorError: Cannot connect to host api.telegram.org:443 "
        "ssl:default [Connect call failed]",
    )

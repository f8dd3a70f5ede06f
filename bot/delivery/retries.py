"""Calls to Telegram that survive its limits: wait as told on 429 (retry_after), retry
network and server errors with backoff. A handler never sees a flood-control error that
waiting would have solved, nor a refused answer to a button press that was already answered
(Telegram delivers an update at least once: the same press can come twice)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import AnswerCallbackQuery, GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType

log = logging.getLogger("returns_desk.telegram")

# Telegram's answer to answerCallbackQuery for a query answered before, or too old to answer
STALE_QUERY = ("query is too old", "query id is invalid")


class RetryRequests(BaseRequestMiddleware):
    """Retry a Bot API call: after ``retry_after`` seconds on 429 (up to ``max_wait``), and
    with exponential backoff on network and 5xx errors, ``attempts`` times in all."""

    def __init__(self, *, attempts: int = 4, max_wait: float = 60.0, backoff: float = 0.5) -> None:
        self.attempts = attempts
        self.max_wait = max_wait
        self.backoff = backoff

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if isinstance(method, GetUpdates):  # the polling loop has its own backoff
            return await make_request(bot, method)
        if isinstance(method, AnswerCallbackQuery):
            return await self._answer(make_request, bot, method)
        return await self._with_retries(make_request, bot, method)

    async def _answer(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        """Answering a button press only stops the client's spinner: when Telegram no longer
        accepts the answer (the press was delivered twice, or is too old), the handler goes on."""
        try:
            return await self._with_retries(make_request, bot, method)
        except TelegramBadRequest as exc:
            if not any(text in exc.message.lower() for text in STALE_QUERY):
                raise
            log.info("answerCallbackQuery: %s (a press delivered again?)", exc.message)
            # the chain carries the method's result (answerCallbackQuery's: a bool)
            return False  # type: ignore[return-value]

    async def _with_retries(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt == self.attempts or exc.retry_after > self.max_wait:
                    raise
                log.warning(
                    "%s: flood control, waiting %s s", method.__api_method__, exc.retry_after
                )
                await asyncio.sleep(exc.retry_after)
            except (TelegramNetworkError, TelegramServerError) as exc:
                if attempt == self.attempts:
                    raise
                log.warning("%s failed (%s), retrying in %.1f s", method.__api_method__, exc, delay)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover


def install(bot: Bot, **options: Any) -> Bot:
    bot.session.middleware(RetryRequests(**options))
    return bot

"""Calls to Telegram that survive its limits: wait as told on 429 (retry_after), retry
every transient transport answer with backoff (network errors, resets and timeouts, 5xx, and
the HTML error page of a proxy in front of the Bot API, which aiogram cannot decode). A
handler never sees a flood-control error that waiting would have solved, nor a refused answer
to a button press that was already answered (Telegram delivers an update at least once: the
same press can come twice), nor "message is not modified" (the message already shows it).

:func:`is_transient` is the one classification both this middleware and the outbox sender
use; :func:`is_outcome` names Telegram's refusals that only say the work is already done."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    EditMessageCaption,
    EditMessageMedia,
    EditMessageReplyMarkup,
    EditMessageText,
    GetUpdates,
    TelegramMethod,
)
from aiogram.methods.base import Response, TelegramType

log = logging.getLogger("returns_desk.telegram")

# Telegram's answer to answerCallbackQuery for a query answered before, or too old to answer
STALE_QUERY = ("query is too old", "query id is invalid")
# Telegram's answer to an edit that changes nothing: the message already shows it
NOT_MODIFIED = "message is not modified"
# the message to edit or delete is gone or too old: for a button press, the work is done
GONE_MESSAGE = (
    "message to edit not found",
    "message can't be edited",
    "message to delete not found",
    "message can't be deleted",
)
EDITS = (EditMessageText, EditMessageCaption, EditMessageMedia, EditMessageReplyMarkup)

# what a proxy, the network or Telegram answers while passing trouble lasts
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    TelegramNetworkError,  # connection refused or reset, timeouts (aiogram wraps them)
    TelegramServerError,  # 5xx with Telegram's JSON
    ClientDecodeError,  # 502/503/504 HTML page of nginx or a load balancer
    ConnectionError,
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same call again later may work: a transport fault, not a refusal."""
    return isinstance(exc, TRANSIENT_ERRORS)


def is_outcome(exc: BaseException) -> bool:
    """Telegram refused because what was asked is already so, or can no longer matter (an
    edit that changes nothing, an answer to a press that is too old, a message to edit or
    delete that is gone): an update that ends on it is done, not failed."""
    if not isinstance(exc, TelegramBadRequest):
        return False
    text = exc.message.lower()
    return any(part in text for part in (NOT_MODIFIED, *STALE_QUERY, *GONE_MESSAGE))


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
        if isinstance(method, (*EDITS, DeleteMessage)):
            return await self._edit(make_request, bot, method)
        return await self._with_retries(make_request, bot, method)

    async def _edit(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        """An edit that changes nothing succeeded (a second tap on the same button); taking
        the buttons off, or deleting, a message that is gone is done too. Other edits of a
        message that is gone still raise: their handlers send the text afresh."""
        try:
            return await self._with_retries(make_request, bot, method)
        except TelegramBadRequest as exc:
            text = exc.message.lower()
            removing = isinstance(method, DeleteMessage) or (
                isinstance(method, EditMessageReplyMarkup) and method.reply_markup is None
            )
            if NOT_MODIFIED not in text and not (
                removing and any(part in text for part in GONE_MESSAGE)
            ):
                raise
            log.info("%s: %s (already so)", method.__api_method__, exc.message)
            return True  # type: ignore[return-value]

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
            except TRANSIENT_ERRORS as exc:
                if attempt == self.attempts:
                    raise
                log.warning(
                    "%s failed (%s), retrying in %.1f s",
                    method.__api_method__,
                    describe(exc),
                    delay,
                )
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover


def describe(exc: BaseException) -> str:
    """An error for one log line: a proxy's HTML page is not copied into the log."""
    if isinstance(exc, ClientDecodeError):
        return "ClientDecodeError: an answer that is not the Bot API's (a proxy's error page?)"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def install(bot: Bot, **options: Any) -> Bot:
    bot.session.middleware(RetryRequests(**options))
    return bot

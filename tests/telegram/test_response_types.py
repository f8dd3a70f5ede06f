"""The bot's session reads Bot API answers with a response class kept per method and without
reading back the inline keyboard it sent (bot/delivery/response_types.py); every answer it
cannot read that way still raises what aiogram raises."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.methods import GetMe, SendMessage
from aiogram.types import Message
from tests.support.fake_telegram import FakeTelegram

from bot.delivery.response_types import response_type
from bot.delivery.session import TelegramSession
from tests.telegram.conftest import SERVED_PERSON, SPANISH_KEYBOARD

ANA = SERVED_PERSON
KEYBOARD = SPANISH_KEYBOARD


@pytest.fixture
def aiogram_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The methods whose answers went through aiogram's own check (and its per-call look-up)."""
    seen: list[str] = []
    original = BaseSession.check_response

    def counted(self: BaseSession, bot: Bot, method: Any, status_code: int, content: str) -> Any:
        seen.append(method.__api_method__)
        return original(self, bot, method, status_code, content)

    monkeypatch.setattr(BaseSession, "check_response", counted)
    return seen


async def test_the_bot_reads_telegram_s_answers_itself(
    served: tuple[FakeTelegram, Bot], aiogram_checks: list[str]
) -> None:
    fake, bot = served
    assert isinstance(bot.session, TelegramSession)
    me = await bot.get_me()
    sent = await bot.send_message(ANA, "Hola <b>Ana</b> &amp; 🎁", reply_markup=KEYBOARD)
    gc.collect()  # pydantic's own cache of generic classes is weak: ours is not
    plain = await bot.send_message(ANA, "¿Qué artículo?")
    edited = await bot.edit_message_text(
        "¿Por qué?", chat_id=ANA, message_id=sent.message_id, reply_markup=KEYBOARD
    )

    assert me.id == 42 and me.is_bot  # the fake's bot
    assert isinstance(sent, Message) and sent.chat.id == ANA and sent.text == "Hola Ana & 🎁"
    assert sent.entities is not None and sent.entities[0].type == "bold"
    assert sent.reply_markup == KEYBOARD  # the keyboard Telegram shows, not read back
    assert plain.message_id == sent.message_id + 1 and plain.reply_markup is None
    assert isinstance(edited, Message) and edited.text == "¿Por qué?"
    assert edited.reply_markup == KEYBOARD
    assert sent.bot is bot and edited.bot is bot  # bound, as aiogram's own reading binds them
    [first, second] = fake.messages_to(ANA)
    assert first["text"] == "¿Por qué?" and second["text"] == "¿Qué artículo?"
    assert first["reply_markup"] == KEYBOARD.model_dump(exclude_none=True)
    assert aiogram_checks == []  # no answer needed aiogram's per-call look-up
    assert response_type(SendMessage(chat_id=1, text="x")) is response_type(
        SendMessage(chat_id=2, text="y")
    )


async def test_telegram_s_errors_raise_what_aiogram_raises(
    served: tuple[FakeTelegram, Bot], aiogram_checks: list[str]
) -> None:
    fake, bot = served
    send = SendMessage(chat_id=ANA, text="uno", reply_markup=KEYBOARD)
    fake.fail_next("sendMessage", status=429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as waited:
        await bot.session.make_request(bot, send)  # the session alone: no retries
    fake.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.session.make_request(bot, send)
    fake.block(ANA)
    with pytest.raises(TelegramForbiddenError):
        await bot.session.make_request(bot, send)

    assert waited.value.retry_after == 7
    assert aiogram_checks == ["sendMessage"] * 3
    assert fake.messages_to(ANA) == []


@pytest.mark.parametrize(
    ("status", "content", "error"),
    [
        (200, "<html><body>502 Bad Gateway</body></html>", ClientDecodeError),  # a proxy's
        (200, json.dumps({"ok": True, "result": {"id": "not a number"}}), ClientDecodeError),
        (
            400,
            json.dumps({"ok": False, "error_code": 400, "description": "odd"}),
            TelegramBadRequest,
        ),
    ],
)
async def test_an_answer_it_cannot_read_is_left_to_aiogram(
    status: int, content: str, error: type[Exception], aiogram_checks: list[str]
) -> None:
    session = TelegramSession()
    bot = Bot("42:TEST", session=session)
    try:
        with pytest.raises(error):
            session.check_response(bot, GetMe(), status, content)
    finally:
        await session.close()
    assert aiogram_checks == ["getMe"]


async def test_a_message_whose_keyboard_cannot_be_read_is_left_to_aiogram(
    aiogram_checks: list[str],
) -> None:
    """The keyboard is not read back, but a broken message around it is still refused."""
    session = TelegramSession()
    bot = Bot("42:TEST", session=session)
    answer = {"ok": True, "result": {"message_id": 1, "reply_markup": {"inline_keyboard": []}}}
    try:
        with pytest.raises(ClientDecodeError):  # no chat, no date: not a message
            session.check_response(
                bot,
                SendMessage(chat_id=1, text="x", reply_markup=KEYBOARD),
                200,
                json.dumps(answer),
            )
    finally:
        await session.close()
    assert aiogram_checks == ["sendMessage"]

"""The bot's session sends each Bot API request as one JSON body, with the fields aiogram's form
would send (bot/delivery/request_bodies.py); a request that uploads a file is still a form."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods import (
    AnswerCallbackQuery,
    BanChatMember,
    CopyMessage,
    EditMessageText,
    SendMediaGroup,
    SendMessage,
    TelegramMethod,
)
from aiogram.types import (
    BufferedInputFile,
    ForceReply,
    InputMediaPhoto,
    LinkPreviewOptions,
    ReplyParameters,
)
from aiohttp import FormData, web
from tests.support.fake_telegram import FakeTelegram

import bot.testing.fake_server as fake_server_module
from bot.factory import create_bot
from tests.telegram.conftest import SERVED_PERSON, SPANISH_KEYBOARD

ANA = SERVED_PERSON
KEYBOARD = SPANISH_KEYBOARD


@pytest.fixture
def content_types(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The content type of every request the fake server reads, in order."""
    seen: list[str] = []
    original = fake_server_module._read_fields

    async def recorded(request: web.Request) -> Any:
        seen.append(request.content_type)
        return await original(request)

    monkeypatch.setattr(fake_server_module, "_read_fields", recorded)
    yield seen


@pytest.fixture
def json_bodies(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every JSON body the fake server reads, as it came over the wire, in order."""
    seen: list[Any] = []
    original = fake_server_module._read_fields

    async def recorded(request: web.Request) -> Any:
        fields = await original(request)
        if request.content_type == "application/json":
            seen.append(await request.json())  # the body aiohttp kept: read again
        return fields

    monkeypatch.setattr(fake_server_module, "_read_fields", recorded)
    yield seen


async def test_requests_go_as_json_and_uploads_as_forms(
    served: tuple[FakeTelegram, Bot], content_types: list[str], json_bodies: list[Any]
) -> None:
    fake, bot = served
    sent = await bot.send_message(
        ANA,
        "Hola <b>Ana</b> &amp; 🎁 «&lt;tu pedido&gt;»",  # the bot's default parse mode: HTML
        reply_markup=KEYBOARD,
        disable_notification=False,  # a false value is sent, not left out
    )
    await bot.edit_message_text("¿Por qué?", chat_id=ANA, message_id=sent.message_id)
    photo = await bot.send_photo(
        ANA, BufferedInputFile(b"\x89PNG not really", "chart.png"), caption="<i>Cifras</i>"
    )

    assert content_types == ["application/json", "application/json", "multipart/form-data"]
    [message, shown] = fake.messages_to(ANA)
    assert message["text"] == "¿Por qué?" and message["message_id"] == sent.message_id
    assert "reply_markup" not in message  # an edit without one takes it away, as Telegram does
    [call] = fake.calls_to("sendMessage")
    assert call.params["parse_mode"] == "HTML" and call.params["disable_notification"] is False
    assert call.result["text"] == sent.text == "Hola Ana & 🎁 «<tu pedido>»"  # read as HTML
    assert call.result["entities"] == [{"type": "bold", "offset": 5, "length": 3}]
    assert call.params["reply_markup"] == KEYBOARD.model_dump(exclude_none=True)
    assert shown["caption"] == "Cifras" and shown["message_id"] == photo.message_id
    assert shown["caption_entities"] == [{"type": "italic", "offset": 0, "length": 6}]
    # over the wire: the keyboard an object of the body, not JSON text inside it
    [first, second] = json_bodies
    assert first == {
        "chat_id": ANA,
        "text": "Hola <b>Ana</b> &amp; 🎁 «&lt;tu pedido&gt;»",
        "parse_mode": "HTML",
        "disable_notification": False,
        "reply_markup": KEYBOARD.model_dump(exclude_none=True),
    }
    assert second == {
        "chat_id": ANA,
        "message_id": sent.message_id,
        "text": "¿Por qué?",
        "parse_mode": "HTML",
    }


def form_fields(session: AiohttpSession, bot: Bot, method: TelegramMethod[Any]) -> dict[str, str]:
    """What aiogram's own session puts in its form for the method, field by field."""
    payload = AiohttpSession.build_form_data(session, bot, method)()
    return dict(parse_qsl(payload.decode(), keep_blank_values=True))


def read_form_value(text: str, like: Any) -> Any:
    """A form field's value read as the JSON body's: strings as they are, anything else JSON."""
    return text if isinstance(like, str) else json.loads(text)


@pytest.mark.parametrize(
    "method",
    [
        SendMessage(chat_id=ANA, text="<b>x</b>", reply_markup=KEYBOARD),
        SendMessage(
            chat_id="@shop",
            text="",  # left out by both
            message_thread_id=0,
            disable_notification=False,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
            reply_parameters=ReplyParameters(message_id=7, allow_sending_without_reply=True),
            reply_markup=ForceReply(force_reply=True, input_field_placeholder="R-2612-0001"),
        ),
        EditMessageText(chat_id=ANA, message_id=3, text="y", reply_markup=KEYBOARD),
        AnswerCallbackQuery(callback_query_id="9", text="", show_alert=False, cache_time=0),
        SendMediaGroup(
            chat_id=ANA,
            media=[
                InputMediaPhoto(media="AgAC-file-id-1", caption="<i>1</i>"),
                InputMediaPhoto(media="AgAC-file-id-2"),
            ],
        ),
        CopyMessage(chat_id=-100123, from_chat_id=ANA, message_id=5, message_thread_id=77),
        BanChatMember(
            chat_id=-100123,
            user_id=ANA,
            until_date=datetime.datetime(2026, 12, 31, tzinfo=datetime.UTC),
            revoke_messages=True,
        ),
    ],
    ids=["keyboard", "falsy-and-nested", "edit", "callback", "album", "copy", "date"],
)
async def test_the_json_body_holds_what_aiogram_s_form_holds(method: TelegramMethod[Any]) -> None:
    bot = create_bot("42:TEST")
    session = bot.session
    try:
        fields = session.json_fields(bot, method)  # type: ignore[attr-defined]
        form = form_fields(session, bot, method)  # type: ignore[arg-type]
    finally:
        await session.close()

    assert fields is not None
    assert fields.keys() == form.keys()
    assert {key: read_form_value(form[key], value) for key, value in fields.items()} == fields
    assert form  # not both empty
    # what the form writes as JSON text (a keyboard, an album) the body holds as JSON itself
    nested = [key for key, text in form.items() if text[:1] in ("{", "[")]
    assert all(not isinstance(fields[key], str) for key in nested)


async def test_a_method_that_uploads_a_file_has_no_json_body() -> None:
    bot = create_bot("42:TEST")
    album = SendMediaGroup(
        chat_id=ANA,
        media=[
            InputMediaPhoto(media="AgAC-file-id-1"),
            InputMediaPhoto(media=BufferedInputFile(b"jpeg", "2.jpg")),  # nested: still a file
        ],
    )
    try:
        assert bot.session.json_fields(bot, album) is None  # type: ignore[attr-defined]
        form = bot.session.build_form_data(bot, album)  # type: ignore[attr-defined]
        assert isinstance(form, FormData) and form.is_multipart  # the file goes as a part
    finally:
        await bot.session.close()

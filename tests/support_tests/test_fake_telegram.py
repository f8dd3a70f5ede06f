"""The fake Telegram behaves like Telegram, through both transports.

A tiny echo/keyboard bot (defined here, independent of the product) is driven
(1) in-process: ``FakeSession`` + ``FeedDriver`` (``Dispatcher.feed_update`` per update), and
(2) over HTTP: the bot's real ``AiohttpSession`` polling a ``FakeTelegramServer`` with
``dp.start_polling``, watched by a ``PollingDriver``.
Tests parametrized with ``world``/``bot`` run once per transport.
"""

from __future__ import annotations

import asyncio
import struct
import sys
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router, html
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    TelegramObject,
    Update,
)
from tests.support.entities import EntityParseError, parse_text
from tests.support.fake_server import FakeTelegramServer
from tests.support.fake_session import FakeSession, create_fake_bot
from tests.support.fake_telegram import FakeApiError, FakeTelegram
from tests.support.people import FeedDriver, Person, PollingDriver, polling

ROOT = Path(__file__).resolve().parents[2]
ANA = 1001

# ------------------------------------------------------------------------ the tiny bot


def make_router() -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        assert message.from_user is not None
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text="Ping", callback_data="ping")],
                [InlineKeyboardButton(text="Docs", url="https://core.telegram.org/bots/api")],
            ]
        )
        name = html.quote(message.from_user.first_name)
        await message.answer(f"Hello, <b>{name}</b>!", reply_markup=keyboard)

    @router.message(F.text == "menu")
    async def menu(message: Message) -> None:
        keyboard = ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text="Share phone", request_contact=True)]],
            resize_keyboard=True,
        )
        await message.answer("Pick one", reply_markup=keyboard)

    @router.message(F.contact)
    async def contact(message: Message) -> None:
        assert message.contact is not None
        await message.answer(f"Phone {message.contact.phone_number}")

    @router.message(F.photo)
    async def photo(message: Message) -> None:
        assert message.photo is not None
        group = f" in album {message.media_group_id}" if message.media_group_id else ""
        await message.answer(f"Photo of {len(message.photo)} sizes{group}")

    @router.message(F.text)
    async def echo(message: Message) -> None:
        assert message.text is not None
        await message.answer(html.quote(message.text))

    @router.callback_query(F.data == "ping")
    async def ping(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.message.edit_text("Pong!")
        await query.answer("pong")

    return router


def make_dispatcher(seen_update_ids: list[int]) -> Dispatcher:
    dp = Dispatcher()

    @dp.update.outer_middleware()
    async def record(
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        seen_update_ids.append(event.update_id)
        return await handler(event, data)

    dp.include_router(make_router())
    return dp


# ---------------------------------------------------------------------- the two worlds


@asynccontextmanager
async def open_bot(fake: FakeTelegram, transport: str) -> AsyncIterator[Bot]:
    """A bot on the fake, in-process ("session") or over HTTP ("http"); closed after."""
    if transport == "session":
        bot = create_fake_bot(fake)
        try:
            yield bot
        finally:
            await bot.session.close()
        return
    async with FakeTelegramServer(fake) as server:
        session = AiohttpSession(api=TelegramAPIServer.from_base(server.url))
        bot = Bot(fake.token, session=session, default=DefaultBotProperties(parse_mode="HTML"))
        try:
            yield bot
        finally:
            await bot.session.close()


@dataclass
class World:
    fake: FakeTelegram
    bot: Bot
    ana: Person
    driver: FeedDriver | PollingDriver
    seen_update_ids: list[int] = field(default_factory=list)


@pytest.fixture
def fake() -> FakeTelegram:
    return FakeTelegram()


@pytest.fixture(params=["session", "http"])
async def bot(fake: FakeTelegram, request: pytest.FixtureRequest) -> AsyncIterator[Bot]:
    fake.add_user(ANA, "Ana", "es")
    async with open_bot(fake, request.param) as bot:
        yield bot


@pytest.fixture(params=["feed", "polling"])
async def world(fake: FakeTelegram, request: pytest.FixtureRequest) -> AsyncIterator[World]:
    seen: list[int] = []
    dp = make_dispatcher(seen)
    if request.param == "feed":
        async with open_bot(fake, "session") as bot:
            driver = FeedDriver(dp, bot)
            yield World(fake, bot, Person(fake, driver, ANA, "Ana", "es"), driver, seen)
        return
    async with open_bot(fake, "http") as bot, polling(dp, bot):
        driver = PollingDriver(fake, timeout=5)
        yield World(fake, bot, Person(fake, driver, ANA, "Ana", "es"), driver, seen)


def png(width: int = 3, height: int = 2) -> bytes:
    """A valid tiny PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height)))
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


# -------------------------------------------------------------- a person and the bot


async def test_person_sees_the_greeting_with_its_buttons_and_the_echo(world: World) -> None:
    answer = await world.ana.send("/start")

    assert [m["text"] for m in answer] == ["Hello, Ana!"]
    assert answer[0]["html"] == "Hello, <b>Ana</b>!"
    assert answer[0]["entities"] == [{"type": "bold", "offset": 7, "length": 3}]
    assert world.ana.buttons() == ["Ping", "Docs"]
    assert world.fake.buttons(answer[0]) == [
        [("Ping", "ping")],
        [("Docs", "https://core.telegram.org/bots/api")],
    ]

    await world.ana.send("1 < 2 & <b>not bold</b>")
    assert world.ana.last() == "1 < 2 & <b>not bold</b>"
    assert world.ana.seen() == ["Hello, Ana!", "1 < 2 & <b>not bold</b>"]


async def test_pressing_a_button_edits_the_message_and_answers_the_query(world: World) -> None:
    await world.ana.send("/start")
    greeting = world.ana.last_message()

    assert await world.ana.press("Ping") == []  # nothing new: the message was edited

    edited = world.ana.last_message()
    assert edited["message_id"] == greeting["message_id"]
    assert edited["text"] == "Pong!"
    assert "edit_date" in edited
    assert "reply_markup" not in edited  # editMessageText without a markup drops the keyboard
    assert world.ana.last_answer is not None
    assert world.ana.last_answer["text"] == "pong"
    assert world.fake.callback_answers[0]["data"] == "ping"


async def test_pressing_a_missing_or_url_button_fails_clearly(world: World) -> None:
    await world.ana.send("/start")
    with pytest.raises(AssertionError, match=r"sees no button 'Refund'.*'Ping', 'Docs'"):
        await world.ana.press("Refund")
    with pytest.raises(AssertionError, match="not a callback button"):
        await world.ana.press("Docs")


async def test_reply_keyboard_buttons_are_pressed_as_a_person_would(world: World) -> None:
    await world.ana.send("menu")
    assert world.ana.buttons() == ["Share phone"]

    answer = await world.ana.press("share phone")

    assert [m["text"] for m in answer] == ["Phone +34600000000"]


async def test_an_album_arrives_as_one_update_per_item(world: World) -> None:
    answer = await world.ana.send_album(3)

    assert len(answer) == 3
    assert len({m["text"] for m in answer}) == 1  # one shared media_group_id
    assert answer[0]["text"].startswith("Photo of 4 sizes in album ")
    assert len(world.seen_update_ids) == 3


async def test_redelivery_repeats_an_update_with_the_same_id(world: World) -> None:
    await world.ana.send("once")
    first = world.seen_update_ids[-1]

    world.fake.redeliver(first)
    await world.driver.deliver()
    await world.ana.send("twice")

    assert world.seen_update_ids == [first, first, first + 1]
    assert world.ana.seen() == ["once", "once", "twice"]


async def test_people_write_in_forum_topics_and_the_bot_answers_there(world: World) -> None:
    world.fake.add_group(-100500, "Staff", is_forum=True)
    thread = world.fake.add_topic(-100500, "Case #7", user_id=ANA)  # a service update

    answer = await world.ana.send_in(-100500, "in the topic", thread)

    assert [m["text"] for m in answer] == ["in the topic"]
    assert world.fake.messages_to(-100500, message_thread_id=thread) == answer
    assert answer[0]["is_topic_message"] is True
    assert len(world.seen_update_ids) == 2


async def test_album_items_can_be_fed_concurrently(fake: FakeTelegram) -> None:
    seen: list[int] = []
    async with open_bot(fake, "session") as bot:
        ana = Person(fake, FeedDriver(make_dispatcher(seen), bot), ANA, "Ana")
        answer = await ana.send_album(["photo", "photo", "photo"], concurrent=True)
    assert len(answer) == 3
    assert sorted(seen) == seen


async def test_polling_helper_stops_a_bot_that_never_got_going(fake: FakeTelegram) -> None:
    async with open_bot(fake, "http") as bot, polling(make_dispatcher([]), bot):
        pass


async def test_polling_driver_fails_clearly_when_nobody_polls(fake: FakeTelegram) -> None:
    person = Person(fake, PollingDriver(fake, timeout=0.2), ANA, "Ana")
    with pytest.raises(AssertionError, match=r"1 update\(s\) not confirmed.*never"):
        await person.send("hello?")


# ------------------------------------------------------- Telegram's rules, both transports


async def test_text_over_4096_characters_is_refused(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(ANA, "x" * 5000)
    await bot.send_message(ANA, "x" * 4096)


async def test_malformed_html_is_refused(bot: Bot, fake: FakeTelegram) -> None:
    for text in ("<b>x", "a < b", "Q&A", "<blink>x</blink>", "<b>x</i>"):
        with pytest.raises(TelegramBadRequest, match="can't parse entities"):
            await bot.send_message(ANA, text)
    assert fake.messages_to(ANA) == []


async def test_markdown_v2_needs_reserved_characters_escaped(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match=r"Character '\.' is reserved"):
        await bot.send_message(ANA, "Done.", parse_mode="MarkdownV2")
    sent = await bot.send_message(ANA, r"*Done*\.", parse_mode="MarkdownV2")
    assert sent.text == "Done."


async def test_empty_text_and_long_caption_are_refused(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(ANA, "   ")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(ANA, BufferedInputFile(png(), "p.png"), caption="c" * 1025)


async def test_callback_data_over_64_bytes_is_refused(bot: Bot) -> None:
    too_long = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Go", callback_data="x" * 65)]]
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(ANA, "Pick", reply_markup=too_long)
    just_fits = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Go", callback_data="é" * 32)]]
    )
    await bot.send_message(ANA, "Pick", reply_markup=just_fits)


async def test_flood_control_raises_retry_after(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", status=429, retry_after=1)

    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(ANA, "hi")

    assert caught.value.retry_after == 1
    await bot.send_message(ANA, "hi")  # only the next call failed


async def test_a_blocked_user_is_forbidden(bot: Bot, fake: FakeTelegram) -> None:
    fake.block(ANA)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(ANA, "hi")
    fake.user_message(ANA, "/start")  # writing again unblocks
    await bot.send_message(ANA, "hi")


async def test_the_bot_cannot_write_first_to_someone_who_never_started_it(
    bot: Bot, fake: FakeTelegram
) -> None:
    fake.add_user(2002, "Bo", "pt-br", started=False)
    with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
        await bot.send_message(2002, "hi")
    fake.user_message(2002, "/start")
    await bot.send_message(2002, "hi")


async def test_unknown_chats_and_messages_are_refused(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(999, "hi")
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("new", chat_id=ANA, message_id=77)
    sent = await bot.send_message(ANA, "same")
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("same", chat_id=ANA, message_id=sent.message_id)


async def test_get_updates_delivers_until_confirmed_by_offset(bot: Bot, fake: FakeTelegram) -> None:
    first = fake.user_message(ANA, "one")["update_id"]

    assert [u.update_id for u in await bot.get_updates()] == [first]
    assert [u.update_id for u in await bot.get_updates()] == [first]  # not confirmed yet
    assert await bot.get_updates(offset=first + 1) == []  # confirmed and gone

    fake.redeliver(first)
    again = await bot.get_updates(offset=first + 1)  # a redelivered copy, same id
    assert [(u.update_id, u.message and u.message.text) for u in again] == [(first, "one")]


async def test_long_polling_wakes_up_for_a_new_update(bot: Bot, fake: FakeTelegram) -> None:
    waiting = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    fake.user_message(ANA, "wake up")

    updates = await asyncio.wait_for(waiting, 2)

    assert [u.message.text for u in updates if u.message] == ["wake up"]


async def test_get_updates_conflicts_with_a_webhook(bot: Bot) -> None:
    await bot.set_webhook("https://example.com/hook", secret_token="s3cret")
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    assert (await bot.get_webhook_info()).url == "https://example.com/hook"
    await bot.delete_webhook()
    assert await bot.get_updates() == []


async def test_an_uploaded_photo_is_stored_and_downloadable(bot: Bot, fake: FakeTelegram) -> None:
    picture = png(3, 2)

    sent = await bot.send_photo(ANA, BufferedInputFile(picture, "p.png"), caption="<i>Look</i>")

    assert sent.caption == "Look"
    assert sent.photo is not None
    assert (sent.photo[-1].width, sent.photo[-1].height) == (3, 2)
    file = await bot.get_file(sent.photo[-1].file_id)
    assert file.file_path is not None
    downloaded = await bot.download(file)
    assert downloaded is not None
    assert downloaded.read() == picture == fake.file_bytes(sent.photo[-1].file_id)

    again = await bot.send_photo(ANA, sent.photo[-1].file_id)  # resend by file_id
    assert again.photo is not None
    assert again.photo[-1].file_unique_id == sent.photo[-1].file_unique_id


async def test_media_groups_hold_two_to_ten_items(bot: Bot, fake: FakeTelegram) -> None:
    one = [InputMediaPhoto(media=BufferedInputFile(png(), "a.png"))]
    with pytest.raises(TelegramBadRequest, match="wrong number of media"):
        await bot.send_media_group(ANA, media=one)

    two = [InputMediaPhoto(media=BufferedInputFile(png(), f"{n}.png")) for n in range(2)]
    sent = await bot.send_media_group(ANA, media=two)

    assert len(sent) == 2
    assert sent[0].media_group_id == sent[1].media_group_id is not None
    assert [m["message_id"] for m in fake.messages_to(ANA)] == [s.message_id for s in sent]


async def test_media_groups_refuse_a_document_as_a_photo_and_keep_documents_apart(
    bot: Bot, fake: FakeTelegram
) -> None:
    """An image sent "as a file" has a document's file_id: Telegram refuses it as a photo,
    and does not mix documents with photos in one group; a group of documents is fine."""
    from aiogram.types import InputMediaDocument

    files = [
        fake.user_document(ANA, f"IMG_{n}.jpg", "image/jpeg", content=png())["message"]["document"][
            "file_id"
        ]
        for n in range(2)
    ]
    photo = fake.user_photo(ANA)["message"]["photo"][-1]["file_id"]
    fake.take_updates()
    before = len(fake.messages_to(ANA))

    with pytest.raises(TelegramBadRequest, match="can't use file of type Document as Photo"):
        await bot.send_media_group(ANA, media=[InputMediaPhoto(media=f) for f in files])
    with pytest.raises(TelegramBadRequest, match="can't be mixed"):
        await bot.send_media_group(
            ANA, media=[InputMediaDocument(media=files[0]), InputMediaPhoto(media=photo)]
        )
    assert len(fake.messages_to(ANA)) == before  # a refused group stores nothing

    sent = await bot.send_media_group(ANA, media=[InputMediaDocument(media=f) for f in files])
    assert [m.document.file_id for m in sent if m.document] == files


async def test_the_network_can_go_down(bot: Bot, fake: FakeTelegram) -> None:
    fake.unreachable = True
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(ANA, "hi")
    fake.unreachable = False
    await bot.send_message(ANA, "hi")


async def test_commands_forum_topics_and_chat_actions(bot: Bot, fake: FakeTelegram) -> None:
    fake.add_group(-100500, "Staff", is_forum=True)
    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    await bot.set_my_commands(
        [BotCommand(command="start", description="Empezar")], language_code="es"
    )
    assert fake.commands[("default", "es")] == [{"command": "start", "description": "Empezar"}]
    assert [c.command for c in await bot.get_my_commands()] == ["start"]

    topic = await bot.create_forum_topic(-100500, "Case #7")
    sent = await bot.send_message(-100500, "New case", message_thread_id=topic.message_thread_id)
    assert sent.message_thread_id == topic.message_thread_id
    await bot.close_forum_topic(-100500, topic.message_thread_id)
    with pytest.raises(TelegramBadRequest, match="TOPIC_CLOSED"):
        await bot.send_message(-100500, "late", message_thread_id=topic.message_thread_id)
    with pytest.raises(TelegramBadRequest, match="not a forum"):
        fake.add_group(-100600, "Plain")
        await bot.create_forum_topic(-100600, "x")

    await bot.send_chat_action(ANA, "typing")
    assert fake.chat_actions == [{"chat_id": ANA, "action": "typing", "message_thread_id": None}]
    assert [m["text"] for m in fake.messages_to(-100500)] == ["New case"]


async def test_copy_and_forward_reach_staff(bot: Bot, fake: FakeTelegram) -> None:
    fake.add_group(-100700, "Staff")
    photo = fake.user_photo(ANA, caption="broken")["message"]

    copied = await bot.copy_message(-100700, ANA, photo["message_id"], caption="From Ana")
    forwarded = await bot.forward_message(-100700, ANA, photo["message_id"])

    staff_saw = fake.messages_to(-100700)
    assert [m["message_id"] for m in staff_saw] == [copied.message_id, forwarded.message_id]
    assert staff_saw[0]["caption"] == "From Ana"
    assert staff_saw[1]["forward_origin"]["sender_user"]["id"] == ANA
    assert forwarded.photo is not None


# ---------------------------------------------------------------- the wire itself


async def test_wire_format_unknown_methods_tokens_and_files(fake: FakeTelegram) -> None:
    fake.add_user(ANA, "Ana")
    async with FakeTelegramServer(fake) as server, aiohttp.ClientSession() as http:
        base = f"{server.url}/bot{fake.token}"
        async with http.post(f"{base}/sendMessage", json={"chat_id": ANA, "text": "json"}) as r:
            assert (r.status, (await r.json())["result"]["text"]) == (200, "json")
        async with http.post(f"{base}/sendMessage", data={"chat_id": str(ANA), "text": "f"}) as r:
            assert r.status == 200
        async with http.get(f"{base}/sendMessage", params={"chat_id": ANA}) as r:
            body = await r.json()
            assert (r.status, body["description"]) == (400, "Bad Request: message text is empty")
        async with http.get(f"{base}/sendMessage") as r:
            assert (await r.json())["description"] == "Bad Request: chat_id is empty"
        async with http.post(f"{base}/frobnicate") as r:
            assert (r.status, await r.json()) == (
                404,
                {"ok": False, "error_code": 404, "description": "Not Found"},
            )
        async with http.post(f"{server.url}/bot1:wrong/getMe") as r:
            assert r.status == 401
        fake.fail_next("getMe", status=429, retry_after=7)
        async with http.get(f"{base}/getMe") as r:
            assert (await r.json())["parameters"] == {"retry_after": 7}
        form = aiohttp.FormData()
        form.add_field("chat_id", str(ANA))
        form.add_field("document", b"%PDF-1.4", filename="label.pdf")
        async with http.post(f"{base}/sendDocument", data=form) as r:
            document = (await r.json())["result"]["document"]
        assert (document["file_name"], document["mime_type"]) == ("label.pdf", "application/pdf")
        async with http.get(f"{base}/getFile", params={"file_id": document["file_id"]}) as r:
            path = (await r.json())["result"]["file_path"]
        async with http.get(f"{server.url}/file/bot{fake.token}/{path}") as r:
            assert await r.read() == b"%PDF-1.4"


async def test_required_parameters_come_from_the_spec(fake: FakeTelegram) -> None:
    with pytest.raises(FakeApiError, match="callback_query_id is empty"):
        await fake.call("answerCallbackQuery", {})
    with pytest.raises(FakeApiError, match="does not implement"):
        await fake.call("sendPoll", {"chat_id": 1, "question": "q", "options": "[]"})
    assert (await fake.call("GETME", {}))["username"] == "ReturnsDeskBot"


async def test_slow_answers_time_out(fake: FakeTelegram) -> None:
    fake.add_user(ANA, "Ana")
    bot = Bot(fake.token, session=FakeSession(fake))
    fake.delay(0.5)
    with pytest.raises(TelegramNetworkError, match="timeout"):
        await bot.send_message(ANA, "hi", request_timeout=0)
    fake.delay(0)
    await bot.send_message(ANA, "hi")
    await bot.session.close()


async def test_standalone_server_prints_its_url() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.testing.fake_server",
        "--port",
        "0",
        "--user",
        "1001:Ana:es",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        url = (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        token = FakeTelegram().token
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/fake/user_message", json={"user_id": 1001, "text": "hi"}):
                pass
            async with http.get(f"{url}/bot{token}/getUpdates") as r:
                updates = (await r.json())["result"]
        assert updates[0]["message"]["text"] == "hi"
    finally:
        process.terminate()
        await process.wait()


# ------------------------------------------------------------------------- parsers


@pytest.mark.parametrize(
    ("source", "mode", "text", "entities"),
    [
        ("<b>a</b> &amp; <i>b</i>", "HTML", "a & b", [("bold", 0, 1), ("italic", 4, 1)]),
        ('<a href="https://x.org">x</a>', "HTML", "x", [("text_link", 0, 1)]),
        ("<pre><code class='language-py'>1</code></pre>", "HTML", "1", [("pre", 0, 1)]),
        ("😀 <u>u</u>", "HTML", "😀 u", [("underline", 3, 1)]),  # UTF-16 offsets
        ("  <b>trim</b>  ", "HTML", "trim", [("bold", 0, 4)]),
        (
            "*b* _i_ __u__ ||s||",
            "MarkdownV2",
            "b i u s",
            [("bold", 0, 1), ("italic", 2, 1), ("underline", 4, 1), ("spoiler", 6, 1)],
        ),
        (r"[x](https://x.org/\)) 1\.5", "MarkdownV2", "x 1.5", [("text_link", 0, 1)]),
        ("*b* [l](https://x.org)", "Markdown", "b l", [("bold", 0, 1), ("text_link", 2, 1)]),
        ("plain <b>", None, "plain <b>", []),
    ],
)
def test_parsers_produce_telegram_text_and_entities(
    source: str, mode: str | None, text: str, entities: list[tuple[str, int, int]]
) -> None:
    plain, found = parse_text(source, mode)
    assert plain == text
    assert [(e["type"], e["offset"], e["length"]) for e in found] == entities


@pytest.mark.parametrize(
    ("source", "mode"),
    [
        ("<b>x", "HTML"),
        ("</b>", "HTML"),
        ('<span class="x">s</span>', "HTML"),
        ("a &nbsp; b", "HTML"),
        ("1+1=2", "MarkdownV2"),
        ("*open", "MarkdownV2"),
        ("_open", "Markdown"),
    ],
)
def test_parsers_refuse_what_telegram_refuses(source: str, mode: str) -> None:
    with pytest.raises(EntityParseError):
        parse_text(source, mode)

"""People who use the bot, for tests that read as a user's story: send, press, see.

A :class:`Person` acts on a :class:`FakeTelegram` (each action makes the update Telegram would
make) and then lets a *driver* deliver the new updates to the bot and wait until the bot is
done answering:

* :class:`FeedDriver` (in-process, with :class:`~bot.testing.fake_session.FakeSession`):
  takes the new updates from the queue and awaits ``dispatcher.feed_update(bot, update)`` for
  each, in order, one update at a time (album items too: one update per photo, as Telegram
  sends them; ``concurrent=True`` feeds one action's updates at once, like polling with
  ``handle_as_tasks``). A handler's exception fails the test with its own traceback.
* :class:`PollingDriver` (the bot polls a :class:`~bot.testing.fake_server.FakeTelegramServer`
  on its own, e.g. ``dp.start_polling`` in a task or the real bot process): waits until every
  queued update was confirmed by getUpdates and the bot made no call for ``quiet`` seconds.

::

    fake = FakeTelegram()
    bot = create_fake_bot(fake)
    ana = Person(fake, FeedDriver(dispatcher, bot), 1001, "Ana", "es")
    await ana.send("/start")
    assert "Hola" in ana.last()
    await ana.press("Open a return")
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from aiogram.methods import TelegramMethod
from aiogram.types import Update

from .fake_telegram import MEDIA_KEYS, FakeTelegram

if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher

__all__ = ["Driver", "FeedDriver", "Person", "PollingDriver", "polling", "visible_text"]

_album_ids = itertools.count(1)


class Driver(Protocol):
    async def deliver(self, *, concurrent: bool | None = None) -> None:
        """Deliver every queued update to the bot and return once the bot is done."""


class FeedDriver:
    """Delivers updates in-process through ``Dispatcher.feed_update``.

    ``fake`` defaults to the bot session's (``FakeSession.fake``). After the updates, waits
    until no Bot API call is in flight and none started for ``quiet`` seconds (raise it for
    bots that answer from background tasks, e.g. an album collector's timer), then awaits
    ``settle()`` if given. ``feed_kwargs`` reach handlers like ``feed_update``'s kwargs.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        *,
        fake: FakeTelegram | None = None,
        concurrent: bool = False,
        quiet: float = 0.0,
        timeout: float = 5.0,
        settle: Callable[[], Awaitable[Any]] | None = None,
        **feed_kwargs: Any,
    ) -> None:
        self.dispatcher = dispatcher
        self.bot = bot
        found = fake or getattr(bot.session, "fake", None)
        if not isinstance(found, FakeTelegram):
            raise TypeError("pass fake=… or give the bot a FakeSession")
        self.fake: FakeTelegram = found
        self.concurrent = concurrent
        self.quiet = quiet
        self.timeout = timeout
        self.settle = settle
        self.feed_kwargs = feed_kwargs
        self.results: list[Any] = []  # feed_update's results, in delivery order

    async def deliver(self, *, concurrent: bool | None = None) -> None:
        updates = self.fake.take_updates()
        if concurrent if concurrent is not None else self.concurrent:
            self.results.extend(await asyncio.gather(*(self._feed(raw) for raw in updates)))
        else:
            for raw in updates:
                self.results.append(await self._feed(raw))
        await self.fake.wait_idle(quiet=self.quiet, timeout=self.timeout)
        if self.settle is not None:
            await self.settle()

    async def _feed(self, raw: dict[str, Any]) -> Any:
        update = Update.model_validate(raw, context={"bot": self.bot})
        result = await self.dispatcher.feed_update(self.bot, update, **self.feed_kwargs)
        if isinstance(result, TelegramMethod):  # a handler answered webhook-style
            await self.bot(result)
        return result


class PollingDriver:
    """Waits for a bot that polls the fake over HTTP by itself.

    ``deliver()`` returns when the update queue is empty (every update confirmed by a
    following getUpdates), no call is in flight and the bot has been quiet for ``quiet``
    seconds; after ``timeout`` seconds it fails saying which of those did not happen.
    """

    def __init__(self, fake: FakeTelegram, *, quiet: float = 0.05, timeout: float = 10.0) -> None:
        self.fake = fake
        self.quiet = quiet
        self.timeout = timeout

    async def deliver(self, *, concurrent: bool | None = None) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            now = time.monotonic()
            idle = not self.fake.in_flight and now - self.fake.last_activity >= self.quiet
            if not self.fake.queued and idle:
                return
            if now >= deadline:
                raise AssertionError(self._why_not_done(now))
            await asyncio.sleep(0.01)

    def _why_not_done(self, now: float) -> str:
        if self.fake.queued:
            last = self.fake.last_poll
            polled = "never" if last is None else f"{now - last:.1f} s ago"
            return (
                f"{self.fake.queued} update(s) not confirmed by getUpdates within "
                f"{self.timeout} s (last getUpdates answered: {polled}); is the bot polling "
                "this server?"
            )
        return (
            f"the bot did not go quiet within {self.timeout} s "
            f"({self.fake.in_flight} call(s) in flight)"
        )


@contextlib.asynccontextmanager
async def polling(
    dispatcher: Dispatcher, bot: Bot, **kwargs: Any
) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``dispatcher.start_polling(bot, handle_signals=False, **kwargs)`` in a task for the
    duration of the block; then stop it gracefully (which closes the bot's session). If
    polling died on its own, its exception is raised here."""
    task = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False, **kwargs))
    try:
        yield task
    finally:
        if not task.done():
            try:
                await dispatcher.stop_polling()
            except RuntimeError:  # not started yet
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def visible_text(message: dict[str, Any]) -> str:
    """What a person reads in a message: its text, else its caption, else ``<photo>`` etc."""
    if "text" in message:
        return str(message["text"])
    if "caption" in message:
        return str(message["caption"])
    kind = next(
        (key for key in (*MEDIA_KEYS, "sticker", "location", "contact") if key in message), ""
    )
    return f"<{kind or 'message'}>"


class Person:
    """Someone talking to the bot in their private chat (``chat_id == user_id``).

    Actions return the messages the bot sent to this person in answer (Bot API dicts, as
    :meth:`FakeTelegram.messages_to` gives them); edits show in :meth:`seen`/:meth:`last`.
    """

    def __init__(
        self,
        fake: FakeTelegram,
        driver: Driver,
        user_id: int,
        first_name: str,
        language: str | None = "en",
        *,
        username: str | None = None,
        started: bool = True,
    ) -> None:
        self.fake = fake
        self.driver = driver
        self.id = user_id
        self.first_name = first_name
        self.language = language
        self.last_answer: dict[str, Any] | None = None  # answerCallbackQuery to the last press
        if user_id not in fake.users:
            fake.add_user(user_id, first_name, language, username=username, started=started)

    @property
    def chat_id(self) -> int:
        return self.id

    def __repr__(self) -> str:
        return f"<Person {self.first_name} ({self.id}, {self.language})>"

    # ------------------------------------------------------------------------- actions

    async def send(self, text: str) -> list[dict[str, Any]]:
        return await self._act(lambda: self.fake.user_message(self.id, text))

    async def send_in(
        self, chat_id: int, text: str, message_thread_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Write in a group or forum topic; returns the bot's new messages in that chat."""
        return await self._act(
            lambda: self.fake.user_message_in(chat_id, self.id, text, message_thread_id),
            chat_id=chat_id,
        )

    async def send_photo(
        self, caption: str | None = None, *, content: bytes | None = None
    ) -> list[dict[str, Any]]:
        return await self._act(lambda: self.fake.user_photo(self.id, caption, content=content))

    async def send_video(self, caption: str | None = None) -> list[dict[str, Any]]:
        return await self._act(lambda: self.fake.user_video(self.id, caption))

    async def send_album(
        self,
        items: int | Sequence[str] = 2,
        *,
        caption: str | None = None,
        concurrent: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Send an album: ``items`` photos, or kinds like ``["photo", "video"]``. Telegram
        delivers one update per item with a shared ``media_group_id``; the caption rides on
        the first item."""
        kinds = ["photo"] * items if isinstance(items, int) else list(items)
        group = f"album-{self.id}-{next(_album_ids)}"

        def make() -> None:
            for index, kind in enumerate(kinds):
                text = caption if index == 0 else None
                if kind == "photo":
                    self.fake.user_photo(self.id, text, group)
                elif kind == "video":
                    self.fake.user_video(self.id, text, group)
                elif kind == "document":
                    self.fake.user_document(
                        self.id, f"file{index + 1}.pdf", caption=text, media_group_id=group
                    )
                else:
                    raise ValueError(f"an album holds photos, videos or documents, not {kind!r}")

        return await self._act(make, concurrent=concurrent)

    async def send_document(
        self,
        file_name: str = "receipt.pdf",
        mime_type: str | None = None,
        content: bytes | None = b"%PDF-1.4\n% fake document\n",
        *,
        size: int | None = None,
        caption: str | None = None,
    ) -> list[dict[str, Any]]:
        return await self._act(
            lambda: self.fake.user_document(
                self.id, file_name, mime_type, size, content, caption=caption
            )
        )

    async def send_sticker(self, emoji: str = "👍") -> list[dict[str, Any]]:
        return await self._act(lambda: self.fake.user_sticker(self.id, emoji))

    async def send_voice(self, duration: int = 3) -> list[dict[str, Any]]:
        return await self._act(lambda: self.fake.user_voice(self.id, duration))

    async def send_location(
        self, latitude: float = 40.4168, longitude: float = -3.7038
    ) -> list[dict[str, Any]]:
        return await self._act(lambda: self.fake.user_location(self.id, latitude, longitude))

    async def send_contact(self, phone_number: str = "+34600000000") -> list[dict[str, Any]]:
        return await self._act(lambda: self.fake.user_contact(self.id, phone_number))

    async def press(self, button_text: str) -> list[dict[str, Any]]:
        """Press the button labelled ``button_text``: an inline button of the newest bot
        message that has it, else a button of the reply keyboard shown now. The exact label
        wins; otherwise a unique case-insensitive part of one. Fails listing what is visible.
        """
        self.last_answer = None
        found = self._find_inline(button_text)
        if found is not None:
            message_id, button = found
            if "callback_data" not in button:
                raise AssertionError(
                    f"{self.first_name}: {button_text!r} is not a callback button ({button}); "
                    "pressing it sends nothing to the bot"
                )
            queries: list[str] = []

            def make() -> None:
                update = self.fake.press(self.id, message_id, button["callback_data"])
                queries.append(update["callback_query"]["id"])

            new = await self._act(make)
            self.last_answer = next(
                (a for a in self.fake.callback_answers if a["callback_query_id"] == queries[0]),
                None,
            )
            return new
        key = self._find_reply_button(button_text)
        if key is None:
            raise AssertionError(
                f"{self.first_name} sees no button {button_text!r}; visible: {self._visible()}"
            )
        if isinstance(key, dict) and key.get("request_contact"):
            return await self.send_contact()
        if isinstance(key, dict) and key.get("request_location"):
            return await self.send_location()
        return await self.send(key if isinstance(key, str) else key["text"])

    async def _act(
        self,
        make_updates: Callable[[], Any],
        *,
        chat_id: int | None = None,
        concurrent: bool | None = None,
    ) -> list[dict[str, Any]]:
        chat = self.fake.chats[self.id if chat_id is None else chat_id]
        before = chat.last_message_id
        make_updates()
        await self.driver.deliver(concurrent=concurrent)
        return [m for m in self.fake.messages_to(chat.id) if m["message_id"] > before]

    # --------------------------------------------------------------------------- seeing

    def messages(self) -> list[dict[str, Any]]:
        """The bot's messages to this person, as they look now."""
        return self.fake.messages_to(self.id)

    def seen(self) -> list[str]:
        """The texts (or captions) of the bot's messages to this person, oldest first."""
        return [visible_text(message) for message in self.messages()]

    def last_message(self) -> dict[str, Any]:
        message = self.fake.last_message(self.id)
        if message is None:
            raise AssertionError(f"the bot has sent nothing to {self.first_name}")
        return message

    def last(self) -> str:
        """The text of the bot's newest message to this person."""
        return visible_text(self.last_message())

    def buttons(self) -> list[str]:
        """Labels of the last message's buttons (inline, then a reply keyboard it carried)."""
        message = self.last_message()
        labels = [text for row in self.fake.buttons(message) for text, _ in row]
        keyboard = message.get("reply_keyboard") or {}
        labels += [_label(key) for row in keyboard.get("keyboard", []) for key in row]
        return labels

    # ------------------------------------------------------------------------ internals

    def _find_inline(self, label: str) -> tuple[int, dict[str, Any]] | None:
        messages = list(reversed(self.messages()))
        for message in messages:
            for button in _inline_buttons(message):
                if button["text"] == label:
                    return message["message_id"], button
        wanted = label.casefold()
        for message in messages:
            matches = [b for b in _inline_buttons(message) if wanted in b["text"].casefold()]
            if len(matches) > 1:
                raise AssertionError(
                    f"{label!r} is ambiguous in message {message['message_id']}: "
                    f"{[b['text'] for b in matches]}"
                )
            if matches:
                return message["message_id"], matches[0]
        return None

    def _find_reply_button(self, label: str) -> str | dict[str, Any] | None:
        keyboard = self.fake.reply_keyboard(self.id) or {}
        keys = [key for row in keyboard.get("keyboard", []) for key in row]
        exact = [key for key in keys if _label(key) == label]
        loose = [key for key in keys if label.casefold() in _label(key).casefold()]
        if exact or len(loose) == 1:
            return (exact or loose)[0]
        return None

    def _visible(self) -> str:
        parts = []
        for message in reversed(self.messages()[-5:]):
            labels = [button["text"] for button in _inline_buttons(message)]
            if labels:
                parts.append(f"message {message['message_id']}: {labels}")
        keyboard = self.fake.reply_keyboard(self.id)
        if keyboard:
            parts.append(f"reply keyboard: {[_label(k) for r in keyboard['keyboard'] for k in r]}")
        return "; ".join(parts) or "no buttons at all"


def _inline_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button for row in rows for button in row]


def _label(key: str | dict[str, Any]) -> str:
    return key if isinstance(key, str) else str(key.get("text", ""))

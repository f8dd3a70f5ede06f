"""A fake Telegram Bot API server for one bot: its state, the people around it, and its rules.

No machine here reaches Telegram, so every bot test and the demo talk to this instead. One
:class:`FakeTelegram` holds what Telegram would hold for one bot, and executes Bot API
methods the way Telegram does, refusing what Telegram refuses, with Telegram's error texts:

* the bot user, people (users), chats (private chats, groups, forum supergroups with topics);
* messages per chat (ids increasing per chat), each stored as the Bot API ``Message`` JSON the
  bot or the person sent, edits applied; files (bytes, ``file_unique_id``, size, path);
* the update queue (``update_id`` counter, ``getUpdates`` long polling with offsets, the
  webhook and its delivery state), callback queries and their answers, commands per
  scope/language, chat actions.

Two transports put it behind aiogram: :class:`bot.testing.fake_session.FakeSession`
(in-process, fast) and :class:`bot.testing.fake_server.FakeTelegramServer` (HTTP on
loopback, for the real bot process). Both end in :meth:`FakeTelegram.call`. While a webhook
is set, the server also POSTs the queued updates to it as Telegram does (this module keeps the
queue and decides what may be sent; ``FakeTelegramServer`` does the HTTP).

Tests play the people with the ``user_*`` methods and :meth:`FakeTelegram.press` (each makes
an update), and read what people saw with :meth:`messages_to`, :meth:`last_message` and
:meth:`buttons`. :mod:`bot.testing.people` wraps this into a ``Person``.

Message dicts returned by :meth:`messages_to`/:meth:`history` are Bot API ``Message`` JSON plus
up to two keys that are not part of the API (never sent to the bot): ``"html"`` (the raw text
or caption as the bot sent it, when its parse mode was HTML; ``"markdown"`` for Markdown
modes) and ``"reply_keyboard"`` (the ``ReplyKeyboardMarkup``/``ReplyKeyboardRemove``/
``ForceReply`` the message carried, which the API's ``Message`` does not show).

Deliberate simplifications: no inline mode, payments, polls, business or channel features;
webhooks are delivered only while a ``FakeTelegramServer`` runs (``FakeSession`` alone never
POSTs), with a fixed short retry delay; URLs sent as files are not fetched; a bare ``&`` in
HTML is refused (Telegram keeps it). Methods that exist in the Bot API but are not implemented
answer 500 with a description saying so (unknown ones answer 404).
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import mimetypes
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from .bot_api_spec import Param, method_params
from .entities import EntityParseError, normalize_parse_mode, parse_text

__all__ = [
    "ApiCall",
    "ChatRecord",
    "FakeApiError",
    "FakeTelegram",
    "FakeUnreachable",
    "FileRecord",
    "TopicRecord",
    "Upload",
    "UserRecord",
    "WebhookDelivery",
]

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64  # bytes
CALLBACK_ANSWER_LIMIT = 200
MEDIA_GROUP_MIN, MEDIA_GROUP_MAX = 2, 10
INLINE_BUTTONS_LIMIT = 100
COMMANDS_LIMIT = 100
TOPIC_NAME_LIMIT = 128
UPLOAD_LIMIT = 50 * 1024 * 1024
PHOTO_UPLOAD_LIMIT = 10 * 1024 * 1024
DOWNLOAD_LIMIT = 20 * 1024 * 1024
TOPIC_ICON_COLORS = (0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, 0xFF93B2, 0xFB6F5F)
CHAT_ACTIONS = frozenset(
    "typing upload_photo record_video upload_video record_voice upload_voice upload_document "
    "choose_sticker find_location record_video_note upload_video_note".split()
)
WEBHOOK_PORTS = ("443", "80", "88", "8443")
# getUpdates' default when allowed_updates is empty or was never given
NOT_DELIVERED_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
INLINE_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
# keys of a stored message that are ours, not the Bot API's (see the module docstring)
PRIVATE_KEYS = ("html", "markdown", "reply_keyboard")
# what copyMessage/forwardMessage carry over
CONTENT_KEYS = (
    "text",
    "entities",
    "caption",
    "caption_entities",
    "show_caption_above_media",
    "has_media_spoiler",
    "photo",
    "video",
    "document",
    "audio",
    "animation",
    "sticker",
    "voice",
    "video_note",
    "location",
    "contact",
    "html",
    "markdown",
)
MEDIA_KEYS = ("photo", "video", "document", "audio", "animation", "voice", "video_note")
SERVICE_KEYS = (
    "forum_topic_created",
    "forum_topic_edited",
    "forum_topic_closed",
    "forum_topic_reopened",
)
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


# ------------------------------------------------------------------------------ value types


class FakeApiError(Exception):
    """A Bot API error answer: HTTP status = ``error_code``, Telegram's ``description``."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(f"{code} {description}")
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def to_response(self) -> dict[str, Any]:
        """The JSON body Telegram answers with."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


class FakeUnreachable(Exception):
    """Raised by :meth:`FakeTelegram.call` while ``unreachable`` is set; transports turn it into
    a refused/dropped connection (``TelegramNetworkError`` in aiogram)."""


@dataclass(frozen=True)
class Upload:
    """A file uploaded with a request (multipart/form-data), as the fake receives it."""

    data: bytes
    filename: str | None = None
    content_type: str | None = None


@dataclass
class UserRecord:
    id: int
    first_name: str
    language_code: str | None = "es"
    last_name: str | None = None
    username: str | None = None
    started: bool = True  # has pressed Start: the bot may write first
    blocked: bool = False  # has blocked the bot

    def as_api(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key):
                user[key] = getattr(self, key)
        return user


@dataclass
class TopicRecord:
    message_thread_id: int
    name: str
    icon_color: int = TOPIC_ICON_COLORS[0]
    icon_custom_emoji_id: str | None = None
    closed: bool = False

    def as_api(self) -> dict[str, Any]:
        topic: dict[str, Any] = {
            "message_thread_id": self.message_thread_id,
            "name": self.name,
            "icon_color": self.icon_color,
        }
        if self.icon_custom_emoji_id:
            topic["icon_custom_emoji_id"] = self.icon_custom_emoji_id
        return topic


@dataclass
class ChatRecord:
    id: int
    type: str  # "private", "group", "supergroup"
    title: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    is_forum: bool = False
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)  # message_id → Message
    deleted: list[dict[str, Any]] = field(default_factory=list)
    topics: dict[int, TopicRecord] = field(default_factory=dict)
    reply_keyboard: dict[str, Any] | None = None  # the reply keyboard people see now
    last_message_id: int = 0

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id

    def as_api(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": self.type}
        for key in ("title", "first_name", "last_name", "username"):
            if getattr(self, key):
                chat[key] = getattr(self, key)
        if self.is_forum:
            chat["is_forum"] = True
        return chat


@dataclass
class FileRecord:
    file_id: str
    file_unique_id: str
    kind: str  # "photo", "video", "document", "sticker", "voice", "audio"
    file_path: str
    size: int
    data: bytes | None = None  # None: ``size`` zero bytes, made on download
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None

    def content(self) -> bytes:
        return self.data if self.data is not None else bytes(self.size)


@dataclass
class ApiCall:
    """One executed Bot API call, as :attr:`FakeTelegram.calls` records it."""

    method: str
    params: dict[str, Any]
    result: Any = None
    error: FakeApiError | None = None
    at: float = 0.0  # time.monotonic() when the request arrived (before any injected delay)
    chat_id: int | str | None = None  # the chat it targets (a callback answer: the query's)


@dataclass(frozen=True)
class WebhookDelivery:
    """One POST of an update to the webhook, as :attr:`FakeTelegram.webhook_deliveries` has it."""

    update_id: int
    result: int | str  # the HTTP status answered, or the error (Telegram's words)
    sent_at: float  # time.monotonic()
    answered_at: float

    @property
    def ok(self) -> bool:
        return isinstance(self.result, int) and 200 <= self.result < 300


@dataclass(eq=False)  # compared by identity: a redelivered copy equals its original
class _Queued:
    update: dict[str, Any]
    redelivered: bool = False
    delivered: bool = False
    sending: bool = False  # POSTed to the webhook, answer not arrived yet
    retry_at: float = 0.0  # a failed webhook POST is not retried before (monotonic)

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])

    @property
    def kind(self) -> str:
        return next(key for key in self.update if key != "update_id")

    @property
    def chat_id(self) -> int | None:
        """The chat the update is about (a callback query: its message's chat, else the
        sender's id, i.e. their private chat): webhooks keep each chat's updates in order."""
        payload = self.update[self.kind]
        chat = payload.get("chat") or (payload.get("message") or {}).get("chat")
        chat = chat or payload.get("from") or {}
        return chat.get("id")


def _bad(description: str) -> FakeApiError:
    return FakeApiError(400, f"Bad Request: {description}")


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _api_view(message: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a stored message without our private keys (what the API returns)."""
    view = {key: copy.deepcopy(value) for key, value in message.items() if key not in PRIVATE_KEYS}
    if "reply_to_message" in view:
        view["reply_to_message"].pop("reply_to_message", None)
    return view


# ------------------------------------------------------------------------------- the fake


class FakeTelegram:
    """Telegram's side of one bot. See the module docstring for the big picture."""

    def __init__(
        self,
        *,
        bot_id: int = 42,
        username: str = "ReturnsDeskBot",
        first_name: str = "Returns Desk",
        token: str | None = None,
        clock: Callable[[], float] = time.time,
        first_update_id: int = 1,
        allow_http_webhooks: bool = False,
    ) -> None:
        """``allow_http_webhooks``: setWebhook also takes ``http://`` URLs on any port (tests
        receive webhooks on ``http://127.0.0.1:<port>``; Telegram wants HTTPS on 443/80/88/8443).
        """
        self.token = token or f"{bot_id}:TEST" + "x" * 30
        if not self.token.startswith(f"{bot_id}:"):
            raise ValueError("the token must start with the bot id and a colon")
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
        }
        self.clock = clock
        self.allow_http_webhooks = allow_http_webhooks
        self.users: dict[int, UserRecord] = {}
        self.chats: dict[int, ChatRecord] = {}
        self.files: dict[str, FileRecord] = {}
        self.calls: list[ApiCall] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.chat_actions: list[dict[str, Any]] = []
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self.webhook: dict[str, Any] = {}  # setWebhook's parameters; empty: no webhook
        self.update_log: list[dict[str, Any]] = []  # every update ever made, redeliveries too
        # update_id → time.monotonic() it was first queued (for latency measurements)
        self.update_queued_at: dict[int, float] = {}
        self.webhook_deliveries: list[WebhookDelivery] = []
        self._webhook_error: tuple[int, str] | None = None  # (date, message) of the last one

        self._commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self._photo_sets: dict[str, list[dict[str, Any]]] = {}  # any size's file_id → sizes
        self._files_by_path: dict[str, FileRecord] = {}
        self._callback_queries: dict[str, dict[str, Any]] = {}
        self._queue: list[_Queued] = []
        self._next_update_id = first_update_id
        self._allowed_updates: list[str] | None = None
        self._counter = 0  # for file ids, query ids, media group ids
        self._poll_generation = 0
        self._changed = asyncio.Event()  # replaced on every change; see _wake()

        # fault injection
        self._failures: dict[str, list[tuple[FakeApiError, str | None]]] = {}  # error, chat
        self._delays: dict[str | None, float] = {}
        self._unreachable = False

        # activity, for drivers waiting until the bot is quiet
        self._in_flight: Counter[str] = Counter()
        self.last_activity = time.monotonic()
        self.last_poll: float | None = None  # monotonic time of the last getUpdates answer

    # ============================================================= people, chats, topics

    def add_user(
        self,
        user_id: int,
        first_name: str,
        language_code: str | None = "es",
        *,
        last_name: str | None = None,
        username: str | None = None,
        started: bool = True,
    ) -> UserRecord:
        """A person, and their private chat with the bot.

        ``started=False``: the person has not pressed Start yet, so the bot may not write
        first (403 "bot can't initiate conversation with a user") until they write.
        """
        if user_id <= 0:
            raise ValueError("user ids are positive")
        user = UserRecord(user_id, first_name, language_code, last_name, username, started)
        self.users[user_id] = user
        chat = self.chats.get(user_id)
        if chat is None:
            self.chats[user_id] = ChatRecord(
                user_id, "private", first_name=first_name, last_name=last_name, username=username
            )
        return user

    def add_group(
        self, chat_id: int, title: str, is_forum: bool = False, *, username: str | None = None
    ) -> ChatRecord:
        """A group the bot is an administrator of; a forum is always a supergroup."""
        if chat_id >= 0:
            raise ValueError("group chat ids are negative (supergroups: -100…)")
        kind = "supergroup" if is_forum or str(chat_id).startswith("-100") else "group"
        chat = ChatRecord(chat_id, kind, title=title, username=username, is_forum=is_forum)
        self.chats[chat_id] = chat
        return chat

    def add_topic(
        self, chat_id: int, name: str, *, user_id: int | None = None, icon_color: int | None = None
    ) -> int:
        """A forum topic that exists already (``user_id`` None) or that a person creates now
        (then the bot gets the ``forum_topic_created`` service message as an update, as from
        Telegram). Returns its ``message_thread_id``. The bot itself uses createForumTopic.
        """
        chat = self._known_chat(chat_id)
        if not chat.is_forum:
            raise ValueError(f"chat {chat_id} is not a forum")
        sender = self.bot_user if user_id is None else self._user(user_id).as_api()
        topic = self._create_topic(chat, name, icon_color or TOPIC_ICON_COLORS[0], None, sender)
        if user_id is not None:
            created = chat.messages[topic.message_thread_id]
            self._enqueue("message", _api_view(created))
        return topic.message_thread_id

    def block(self, user_id: int) -> None:
        """The person blocks the bot: every send to them answers 403 until they write again."""
        self._user(user_id).blocked = True

    def unblock(self, user_id: int) -> None:
        self._user(user_id).blocked = False

    # =================================================== people's actions (each an update)

    def user_message(
        self, user_id: int, text: str, *, reply_to_message_id: int | None = None
    ) -> dict[str, Any]:
        """The person writes ``text`` to the bot in their private chat. Returns the update."""
        return self.user_message_in(user_id, user_id, text, reply_to_message_id=reply_to_message_id)

    def user_message_in(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        message_thread_id: int | None = None,
        *,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """The person writes ``text`` in a chat (a group, or a forum topic). Returns the update."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split()[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self._user_post(
            chat_id, user_id, content, message_thread_id, reply_to_message_id=reply_to_message_id
        )

    def odd_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """An update of ``kind`` holding ``payload`` as it is, whatever it is: what a newer Bot
        API (or a broken proxy) might send that aiogram cannot read. Returns the update."""
        return self._enqueue(kind, payload)

    def user_edit(self, chat_id: int, message_id: int, text: str) -> dict[str, Any]:
        """The person edits a message they sent (its text, or a media message's caption):
        Telegram sends the bot an ``edited_message`` update."""
        chat = self._known_chat(chat_id)
        message = chat.messages.get(message_id)
        if message is None:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        message["caption" if "caption" in message or "photo" in message else "text"] = text
        message["edit_date"] = int(self.clock())
        return self._enqueue("edited_message", _api_view(message))

    def user_photo(
        self,
        user_id: int,
        caption: str | None = None,
        media_group_id: str | None = None,
        size: tuple[int, int] = (1280, 960),
        *,
        content: bytes | None = None,
        chat_id: int | None = None,
        message_thread_id: int | None = None,
    ) -> dict[str, Any]:
        """The person sends a photo (Telegram makes several sizes; the largest holds
        ``content``). Items of one album share a ``media_group_id``. In a forum group
        (``chat_id``), ``message_thread_id`` is the topic."""
        sizes = self._new_photo(content, *size)
        return self._user_media(
            user_id, {"photo": sizes}, caption, media_group_id, chat_id, message_thread_id
        )

    def user_video(
        self,
        user_id: int,
        caption: str | None = None,
        media_group_id: str | None = None,
        duration: int = 5,
        size: tuple[int, int] = (1280, 720),
        *,
        content: bytes | None = None,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """The person sends a video."""
        data = content if content is not None else b"\x00\x00\x00\x18ftypmp42" + bytes(2048)
        record = self._new_file(
            "video",
            data,
            "video.mp4",
            "video/mp4",
            width=size[0],
            height=size[1],
            duration=duration,
        )
        return self._user_media(
            user_id, {"video": self._media_object(record)}, caption, media_group_id, chat_id
        )

    def user_document(
        self,
        user_id: int,
        file_name: str = "receipt.pdf",
        mime_type: str | None = None,
        size: int | None = None,
        content: bytes | None = b"%PDF-1.4\n% fake document\n",
        *,
        caption: str | None = None,
        media_group_id: str | None = None,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """The person sends a file. ``size`` without ``content``: a file of that many bytes
        that takes no memory until downloaded (to test size limits)."""
        if size is not None and (content is None or len(content) != size):
            content = None
        mime = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        record = self._new_file("document", content, file_name, mime, size=size)
        return self._user_media(
            user_id, {"document": self._media_object(record)}, caption, media_group_id, chat_id
        )

    def user_sticker(self, user_id: int, emoji: str = "👍") -> dict[str, Any]:
        record = self._new_file(
            "sticker",
            b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(256),
            "sticker.webp",
            "image/webp",
            width=512,
            height=512,
        )
        sticker = {
            **self._media_object(record),
            "type": "regular",
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self._user_post(user_id, user_id, {"sticker": sticker})

    def user_voice(self, user_id: int, duration: int = 3) -> dict[str, Any]:
        record = self._new_file(
            "voice", b"OggS" + bytes(1024), "voice.ogg", "audio/ogg", duration=duration
        )
        return self._user_post(user_id, user_id, {"voice": self._media_object(record)})

    def user_location(
        self, user_id: int, latitude: float = 40.4168, longitude: float = -3.7038
    ) -> dict[str, Any]:
        location = {"latitude": latitude, "longitude": longitude}
        return self._user_post(user_id, user_id, {"location": location})

    def user_contact(
        self, user_id: int, phone_number: str = "+34600000000", first_name: str | None = None
    ) -> dict[str, Any]:
        """The person shares a contact (their own, unless ``first_name`` names someone else)."""
        user = self._user(user_id)
        contact: dict[str, Any] = {"phone_number": phone_number}
        if first_name is None:
            contact.update(first_name=user.first_name, user_id=user_id)
        else:
            contact["first_name"] = first_name
        return self._user_post(user_id, user_id, {"contact": contact})

    def press(
        self,
        user_id: int,
        message_id: int,
        callback_data: str,
        *,
        chat_id: int | None = None,
        strict: bool = True,
    ) -> dict[str, Any]:
        """The person presses an inline button of a bot message: a ``callback_query`` update.

        ``strict`` (default): the message must exist, be the bot's, and have a button with that
        ``callback_data`` (a person can press only what they see); ``strict=False`` sends any
        data, like a forged or outdated client would.
        """
        user = self._user(user_id)
        chat = self._known_chat(user_id if chat_id is None else chat_id)
        message = chat.messages.get(message_id)
        if strict:
            if message is None:
                raise AssertionError(f"no message {message_id} in chat {chat.id} to press on")
            if message["from"]["id"] != self.bot_user["id"]:
                raise AssertionError(f"message {message_id} was not sent by the bot")
            data_seen = [data for row in self.buttons(message) for _, data in row]
            if callback_data not in data_seen:
                raise AssertionError(
                    f"message {message_id} has no button with callback_data {callback_data!r}; "
                    f"it has {data_seen}"
                )
        query_id = str(4_300_000_000_000_000_000 + self._next_counter())
        query: dict[str, Any] = {
            "id": query_id,
            "from": user.as_api(),
            "chat_instance": str(-7_000_000_000_000 - chat.id),
            "data": callback_data,
        }
        if message is not None:
            query["message"] = _api_view(message)
        self._callback_queries[query_id] = {
            "user_id": user_id,
            "chat_id": chat.id,
            "message_id": message_id,
            "data": callback_data,
            "answered": False,
        }
        return self._enqueue("callback_query", query)

    def redeliver(self, update_id: int) -> dict[str, Any]:
        """Put a copy of a past update back in the queue (Telegram delivers at least once).

        The copy keeps its ``update_id``; getUpdates hands it out even though a later offset
        was already confirmed, then drops it once a following offset confirms it.
        """
        for update in self.update_log:
            if update["update_id"] == update_id:
                duplicate = copy.deepcopy(update)
                self._queue.append(_Queued(duplicate, redelivered=True))
                self.update_log.append(copy.deepcopy(duplicate))
                self._touch()
                self._wake()
                return copy.deepcopy(duplicate)
        raise KeyError(f"no update {update_id} was ever made")

    # =========================================================== what people saw, and more

    def messages_to(
        self, chat_id: int, *, message_thread_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Messages the bot sent to a chat (optionally one forum topic), edits applied, deleted
        ones gone, service messages left out. Copies: Bot API JSON plus our private keys."""
        return [
            copy.deepcopy(message)
            for message in self._known_chat(chat_id).messages.values()
            if message["from"]["id"] == self.bot_user["id"]
            and not any(key in message for key in SERVICE_KEYS)
            and (message_thread_id is None or message.get("message_thread_id") == message_thread_id)
        ]

    def last_message(self, chat_id: int) -> dict[str, Any] | None:
        """The bot's newest message in a chat, or None."""
        messages = self.messages_to(chat_id)
        return messages[-1] if messages else None

    def history(self, chat_id: int) -> list[dict[str, Any]]:
        """Every message in a chat, the people's and the bot's, in order (copies)."""
        return [copy.deepcopy(message) for message in self._known_chat(chat_id).messages.values()]

    def deleted_messages(self, chat_id: int) -> list[dict[str, Any]]:
        return copy.deepcopy(self._known_chat(chat_id).deleted)

    def reply_keyboard(self, chat_id: int) -> dict[str, Any] | None:
        """The ``ReplyKeyboardMarkup`` the person sees now in that chat, if any."""
        return copy.deepcopy(self._known_chat(chat_id).reply_keyboard)

    @staticmethod
    def buttons(message: Mapping[str, Any] | None) -> list[list[tuple[str, str | None]]]:
        """A message's inline keyboard as rows of ``(text, callback_data or url)``."""
        if not message:
            return []
        rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        return [
            [(button["text"], button.get("callback_data", button.get("url"))) for button in row]
            for row in rows
        ]

    @property
    def commands(self) -> dict[tuple[str, str], list[dict[str, str]]]:
        """setMyCommands' lists by ``(scope, language_code)``; scope is ``"default"``,
        ``"all_private_chats"``, ``"chat:<id>"``, ``"chat_member:<chat>:<user>"``…"""
        return copy.deepcopy(self._commands)

    def file_bytes(self, file_id: str) -> bytes:
        """The content of a stored file (what the bot uploaded, or a person sent)."""
        return self.files[file_id].content()

    def file_by_path(self, file_path: str) -> FileRecord | None:
        return self._files_by_path.get(file_path)

    @property
    def queued(self) -> int:
        """How many updates wait in the queue (delivered or not, not yet confirmed)."""
        return len(self._queue)

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates waiting in the queue (not yet confirmed), oldest first."""
        return [copy.deepcopy(queued.update) for queued in self._queue]

    def calls_to(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method.lower() == method.lower()]

    # ====================================================================== fault injection

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 3,
        times: int = 1,
        description: str | None = None,
        chat_id: int | None = None,
    ) -> None:
        """The next ``times`` calls of ``method`` (``"*"``: any method) fail with ``status``;
        with ``chat_id``, only calls to that chat do (others go through meanwhile).

        429 carries ``retry_after`` (aiogram raises ``TelegramRetryAfter``); other statuses get
        Telegram's generic description unless one is given.
        """
        if status == 429:
            error = FakeApiError(
                429, description or f"Too Many Requests: retry after {retry_after}", retry_after
            )
        else:
            error = FakeApiError(status, description or _DEFAULT_DESCRIPTIONS.get(status, "Error"))
        chat = None if chat_id is None else str(chat_id)
        self._failures.setdefault(method.lower(), []).extend([(error, chat)] * times)

    def delay(self, seconds: float, *, method: str | None = None) -> None:
        """Answer every call (or every call of ``method``) ``seconds`` late; 0 clears it."""
        key = method.lower() if method else None
        if seconds > 0:
            self._delays[key] = seconds
        else:
            self._delays.pop(key, None)

    @property
    def unreachable(self) -> bool:
        """While True, every request fails as if the network were down (waiting long polls
        are dropped too)."""
        return self._unreachable

    @unreachable.setter
    def unreachable(self, value: bool) -> None:
        self._unreachable = value
        self._wake()

    # ====================================================================== synchronisation

    def take_updates(self) -> list[dict[str, Any]]:
        """Remove and return every queued update (what an in-process driver delivers)."""
        taken = [queued.update for queued in self._queue]
        self._queue.clear()
        if taken:
            self._touch()
        return taken

    @property
    def in_flight(self) -> int:
        """Bot API calls being executed now (getUpdates' long polls not counted)."""
        return sum(self._in_flight.values())

    async def wait_idle(self, *, quiet: float = 0.0, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until no call is in flight and nothing happened for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        for _ in range(3):  # let tasks the bot just spawned reach their first call
            await asyncio.sleep(0)
        while True:
            now = time.monotonic()
            if not self.in_flight and now - self.last_activity >= quiet:
                return
            if now >= deadline:
                busy = ", ".join(f"{name}×{n}" for name, n in self._in_flight.items() if n)
                raise AssertionError(
                    f"the bot is still busy after {timeout} s (calls in flight: {busy or 'none'})"
                )
            await asyncio.sleep(0.005)

    def _touch(self) -> None:
        self.last_activity = time.monotonic()

    def _wake(self) -> None:
        """Wake every waiting long poll (they re-check the queue and their conditions)."""
        self._changed.set()
        self._changed = asyncio.Event()

    # ================================================================ executing API methods

    async def call(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        files: Mapping[str, Upload] | None = None,
        *,
        token: str | None = None,
    ) -> Any:
        """Execute a Bot API method as Telegram would; return its ``result`` JSON.

        ``params`` are the request's fields as they arrive (form strings, JSON-encoded objects
        or already-decoded JSON values; :class:`Upload` for files); ``files`` are the uploads
        that ``attach://<name>`` values refer to. With ``token`` given it must be the bot's.
        Raises :class:`FakeApiError` (the error answer) or :class:`FakeUnreachable`.
        """
        arrived = time.monotonic()
        if token is not None and token != self.token:
            raise FakeApiError(401, "Unauthorized")
        if self._unreachable:
            raise FakeUnreachable(method)
        found = method_params(method)
        if found is None:
            raise FakeApiError(404, "Not Found")
        name, spec = found
        tracked = name != "getUpdates"
        if tracked:
            self._in_flight[name] += 1
            self._touch()
        args: dict[str, Any] = {}
        try:
            delay = self._delays.get(name.lower(), self._delays.get(None, 0.0))
            if delay:
                await asyncio.sleep(delay)
                if self._unreachable:
                    raise FakeUnreachable(method)
            self._fail_if_told(name, params or {})
            args = _decode_params(spec, params or {}, files or {})
            handler = getattr(self, f"_m_{name}", None)
            if handler is None:
                raise FakeApiError(
                    500, f"Internal Server Error: the fake Telegram does not implement {name}"
                )
            result = await handler(args)
        except FakeApiError as error:
            used = args or dict(params or {})
            self.calls.append(
                ApiCall(name, used, error=error, at=arrived, chat_id=self._call_chat(used))
            )
            raise
        finally:
            if tracked:
                self._in_flight[name] -= 1
                self._touch()
        self.calls.append(
            ApiCall(name, args, copy.deepcopy(result), at=arrived, chat_id=self._call_chat(args))
        )
        return result

    def _call_chat(self, args: Mapping[str, Any]) -> int | str | None:
        query = self._callback_queries.get(str(args.get("callback_query_id")))
        return query["chat_id"] if query else args.get("chat_id")

    def _fail_if_told(self, name: str, params: Mapping[str, Any]) -> None:
        """Raise the first injected failure (``fail_next``) that applies to this call."""
        chat = params.get("chat_id")
        for key in (name.lower(), "*"):
            pending = self._failures.get(key) or []
            for index, (error, only_chat) in enumerate(pending):
                if only_chat is None or (chat is not None and str(chat) == only_chat):
                    del pending[index]
                    raise error

    # ----------------------------------------------------------------- bot, updates, webhook

    async def _m_getMe(self, a: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_getUpdates(self, a: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook.get("url"):
            raise _webhook_conflict()
        limit = a.get("limit") or 100
        if not 1 <= limit <= 100:
            limit = 100
        timeout = max(a.get("timeout") or 0, 0)
        if a.get("allowed_updates") is not None:
            self._allowed_updates = list(a["allowed_updates"])
        self._confirm(a.get("offset"))
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake()  # an older long poll still waiting is now terminated
        deadline = time.monotonic() + timeout
        while True:
            if generation != self._poll_generation:
                raise FakeApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            if self._unreachable:
                raise FakeUnreachable("getUpdates")
            if self.webhook.get("url"):
                raise _webhook_conflict()
            batch = self._next_batch(limit)
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0:
                break
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                pass
        for queued in batch:
            queued.delivered = True
        self.last_poll = time.monotonic()
        if batch:
            self._touch()
        return [copy.deepcopy(queued.update) for queued in batch]

    def _confirm(self, offset: int | None) -> None:
        if offset is None:
            return
        before = len(self._queue)
        if offset < 0:
            self._queue = self._queue[offset:]
        else:
            self._queue = [
                queued
                for queued in self._queue
                if not (queued.update_id < offset and (queued.delivered or not queued.redelivered))
            ]
        if len(self._queue) != before:
            self._touch()

    def _next_batch(self, limit: int) -> list[_Queued]:
        self._drop_unwanted()
        return self._queue[:limit]

    def _drop_unwanted(self) -> None:
        """Forget queued updates of kinds the bot did not ask for (as Telegram does)."""
        allowed = self._allowed_updates
        if allowed:
            self._queue = [queued for queued in self._queue if queued.kind in allowed]
        else:
            self._queue = [q for q in self._queue if q.kind not in NOT_DELIVERED_BY_DEFAULT]

    # The webhook's delivery. FakeTelegramServer does the HTTP: it asks _webhook_next() what to
    # POST, and reports each answer to _webhook_done(); both wake it up through _wake().

    def _webhook_next(self, limit: int) -> tuple[list[_Queued], float | None]:
        """Updates to POST now, marked as sending, and the seconds until a failed one may be
        retried (None: no retry waits). Only the oldest queued update of a chat may be sent,
        and only when none of that chat is in flight: each chat gets its updates in order,
        different chats in parallel, at most ``limit`` (max_connections) in flight in all."""
        if not self.webhook.get("url") or self._unreachable:
            return [], None
        self._drop_unwanted()
        now = time.monotonic()
        in_flight = sum(queued.sending for queued in self._queue)
        chats_seen: set[int] = set()
        batch: list[_Queued] = []
        wait: float | None = None
        for queued in self._queue:
            chat = queued.chat_id
            if chat is not None:
                if chat in chats_seen:
                    continue  # an older update of this chat goes first
                chats_seen.add(chat)
            if queued.sending:
                continue
            if queued.retry_at > now:
                wait = min(wait if wait is not None else math.inf, queued.retry_at - now)
                continue
            if in_flight + len(batch) >= limit:
                break
            batch.append(queued)
        for queued in batch:
            queued.sending = True
        return batch, wait

    def _webhook_done(
        self,
        queued: _Queued,
        result: int | str,
        sent_at: float,
        retry_delay: float,
    ) -> None:
        """A POST was answered (``result``: HTTP status) or failed (``result``: the error). A
        2xx delivers the update; anything else leaves it queued for a retry later."""
        queued.sending = False
        delivery = WebhookDelivery(queued.update_id, result, sent_at, time.monotonic())
        self.webhook_deliveries.append(delivery)
        if delivery.ok:
            self._queue = [other for other in self._queue if other is not queued]
        else:
            queued.retry_at = delivery.answered_at + retry_delay
            self._webhook_error = (int(self.clock()), _webhook_error_message(result))
        self._touch()
        self._wake()

    async def _m_setWebhook(self, a: dict[str, Any]) -> bool:
        url = a.get("url") or ""
        if url:
            match = re.fullmatch(r"(https?)://[^/:]+(?::(\d+))?(/.*)?", url)
            if match is None or (match.group(1) == "http" and not self.allow_http_webhooks):
                raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
            port = match.group(2)
            if port and port not in WEBHOOK_PORTS and not self.allow_http_webhooks:
                raise _bad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        secret = a.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise _bad("secret token contains unallowed characters")
        if a.get("drop_pending_updates"):
            self._queue.clear()
        if a.get("allowed_updates") is not None:
            self._allowed_updates = list(a["allowed_updates"])
        self.webhook = {key: value for key, value in a.items() if key != "certificate"}
        if not url:
            self.webhook = {}
        self._webhook_error = None
        self._wake()  # the webhook delivery starts (or stops)
        return True

    async def _m_deleteWebhook(self, a: dict[str, Any]) -> bool:
        if a.get("drop_pending_updates"):
            self._queue.clear()
        self.webhook = {}
        self._webhook_error = None
        self._wake()
        return True

    async def _m_getWebhookInfo(self, a: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self.webhook.get("url"):
            info["max_connections"] = self.webhook.get("max_connections") or 40
            if self.webhook.get("ip_address"):
                info["ip_address"] = self.webhook["ip_address"]
            if self._webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = self._webhook_error
        if self._allowed_updates is not None:
            info["allowed_updates"] = list(self._allowed_updates)
        return info

    # -------------------------------------------------------------------------- sending

    async def _m_sendMessage(self, a: dict[str, Any]) -> dict[str, Any]:
        chat = self._writable_chat(a["chat_id"])
        thread = self._thread(chat, a.get("message_thread_id"))
        content = self._text_content(a.get("text"), a.get("parse_mode"), a.get("entities"))
        inline, keyboard = self._reply_markup(a.get("reply_markup"))
        reply_to = self._reply_to(chat, a)
        message = self._post(chat, content, thread, reply_to, inline, keyboard)
        return _api_view(message)

    async def _m_sendPhoto(self, a: dict[str, Any]) -> dict[str, Any]:
        return self._send_media("photo", a)

    async def _m_sendVideo(self, a: dict[str, Any]) -> dict[str, Any]:
        return self._send_media("video", a)

    async def _m_sendDocument(self, a: dict[str, Any]) -> dict[str, Any]:
        return self._send_media("document", a)

    async def _m_sendAudio(self, a: dict[str, Any]) -> dict[str, Any]:
        return self._send_media("audio", a)

    async def _m_sendVoice(self, a: dict[str, Any]) -> dict[str, Any]:
        return self._send_media("voice", a)

    def _send_media(self, kind: str, a: dict[str, Any]) -> dict[str, Any]:
        chat = self._writable_chat(a["chat_id"])
        thread = self._thread(chat, a.get("message_thread_id"))
        media = self._input_media(kind, a[kind], a)
        content = {kind: media, **self._caption_content(a)}
        if a.get("has_spoiler"):
            content["has_media_spoiler"] = True
        inline, keyboard = self._reply_markup(a.get("reply_markup"))
        reply_to = self._reply_to(chat, a)
        return _api_view(self._post(chat, content, thread, reply_to, inline, keyboard))

    async def _m_sendMediaGroup(self, a: dict[str, Any]) -> list[dict[str, Any]]:
        chat = self._writable_chat(a["chat_id"])
        thread = self._thread(chat, a.get("message_thread_id"))
        items = a["media"]
        if not isinstance(items, list) or not MEDIA_GROUP_MIN <= len(items) <= MEDIA_GROUP_MAX:
            count = len(items) if isinstance(items, list) else 0
            raise _bad(
                f"wrong number of media in the group: {count}; "
                f"must be {MEDIA_GROUP_MIN}-{MEDIA_GROUP_MAX}"
            )
        kinds = {item.get("type") if isinstance(item, dict) else None for item in items}
        if not kinds <= {"photo", "video", "document", "audio"}:
            raise _bad("can't parse InputMedia: media type is not supported in a media group")
        for alone in ("document", "audio"):
            if alone in kinds and kinds != {alone}:
                raise _bad(f"{alone}s can't be mixed with other media types in a media group")
        prepared = []  # validate everything before storing anything, as Telegram does
        for item in items:
            kind = item["type"]
            if not item.get("media"):
                raise _bad("media is empty")
            media = self._input_media(kind, item["media"], item)
            prepared.append({kind: media, **self._caption_content(item)})
        reply_to = self._reply_to(chat, a)
        group_id = str(13_000_000_000_000_000 + self._next_counter())
        sent = []
        for content in prepared:
            content["media_group_id"] = group_id
            sent.append(_api_view(self._post(chat, content, thread, reply_to, None, None)))
        return sent

    async def _m_copyMessage(self, a: dict[str, Any]) -> dict[str, Any]:
        source = self._source_message(a, "copy")
        chat = self._writable_chat(a["chat_id"])
        thread = self._thread(chat, a.get("message_thread_id"))
        content = {key: copy.deepcopy(source[key]) for key in CONTENT_KEYS if key in source}
        if a.get("caption") is not None and any(key in source for key in MEDIA_KEYS):
            for key in ("caption", "caption_entities", "html", "markdown"):
                content.pop(key, None)
            content.update(self._caption_content(a))
        inline, keyboard = self._reply_markup(a.get("reply_markup"))
        reply_to = self._reply_to(chat, a)
        message = self._post(chat, content, thread, reply_to, inline, keyboard)
        return {"message_id": message["message_id"]}

    async def _m_forwardMessage(self, a: dict[str, Any]) -> dict[str, Any]:
        source = self._source_message(a, "forward")
        chat = self._writable_chat(a["chat_id"])
        thread = self._thread(chat, a.get("message_thread_id"))
        content = {key: copy.deepcopy(source[key]) for key in CONTENT_KEYS if key in source}
        content["forward_origin"] = copy.deepcopy(source.get("forward_origin")) or {
            "type": "user",
            "sender_user": copy.deepcopy(source["from"]),
            "date": source["date"],
        }
        return _api_view(self._post(chat, content, thread, None, None, None))

    def _source_message(self, a: dict[str, Any], verb: str) -> dict[str, Any]:
        source_chat = self._known_chat(a["from_chat_id"])
        source = source_chat.messages.get(a["message_id"])
        if source is None:
            raise _bad(f"message to {verb} not found")
        if any(key in source for key in SERVICE_KEYS):
            raise _bad(f"message can't be {'forwarded' if verb == 'forward' else 'copied'}")
        return source

    async def _m_sendChatAction(self, a: dict[str, Any]) -> bool:
        chat = self._writable_chat(a["chat_id"])
        if a["action"] not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        thread = self._thread(chat, a.get("message_thread_id"))
        self.chat_actions.append(
            {"chat_id": chat.id, "action": a["action"], "message_thread_id": thread}
        )
        return True

    # -------------------------------------------------------------------------- editing

    async def _m_editMessageText(self, a: dict[str, Any]) -> dict[str, Any]:
        chat, message = self._editable(a)
        if "text" not in message:
            raise _bad("there is no text in the message to edit")
        content = self._text_content(a.get("text"), a.get("parse_mode"), a.get("entities"))
        inline, _ = self._reply_markup(a.get("reply_markup"), inline_only=True)
        self._apply_edit(chat, message, content, inline, ("text", "entities"))
        return _api_view(message)

    async def _m_editMessageCaption(self, a: dict[str, Any]) -> dict[str, Any]:
        chat, message = self._editable(a)
        if not any(key in message for key in MEDIA_KEYS):
            raise _bad("there is no caption in the message to edit")
        content = self._caption_content(a)
        inline, _ = self._reply_markup(a.get("reply_markup"), inline_only=True)
        self._apply_edit(chat, message, content, inline, ("caption", "caption_entities"))
        return _api_view(message)

    async def _m_editMessageReplyMarkup(self, a: dict[str, Any]) -> dict[str, Any]:
        chat, message = self._editable(a)
        inline, _ = self._reply_markup(a.get("reply_markup"), inline_only=True)
        self._apply_edit(chat, message, {}, inline, ())
        return _api_view(message)

    def _editable(self, a: dict[str, Any]) -> tuple[ChatRecord, dict[str, Any]]:
        if a.get("inline_message_id"):
            raise _bad("the fake Telegram does not support inline messages")
        if a.get("chat_id") is None or a.get("message_id") is None:
            raise _bad("message identifier is not specified")
        chat = self._writable_chat(a["chat_id"])
        message = chat.messages.get(a["message_id"])
        if message is None:
            raise _bad("message to edit not found")
        if message["from"]["id"] != self.bot_user["id"] or any(k in message for k in SERVICE_KEYS):
            raise _bad("message can't be edited")
        return chat, message

    def _apply_edit(
        self,
        chat: ChatRecord,
        message: dict[str, Any],
        content: dict[str, Any],
        inline: dict[str, Any] | None,
        fields: tuple[str, ...],
    ) -> None:
        def current(msg: Mapping[str, Any]) -> tuple[Any, ...]:
            return (*(msg.get(key) or None for key in fields), msg.get("reply_markup"))

        if current(message) == current({**content, "reply_markup": inline}):
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        for key in (*fields, "html", "markdown"):
            message.pop(key, None)
        message.update(content)
        if inline is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = inline
        message["edit_date"] = int(self.clock())

    async def _m_deleteMessage(self, a: dict[str, Any]) -> bool:
        chat = self._known_chat(a["chat_id"])
        message = chat.messages.pop(a["message_id"], None)
        if message is None:
            raise _bad("message to delete not found")
        chat.deleted.append(message)
        return True

    async def _m_deleteMessages(self, a: dict[str, Any]) -> bool:
        chat = self._known_chat(a["chat_id"])
        ids = a["message_ids"]
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise _bad("message_ids must contain 1-100 message identifiers")
        for message_id in ids:
            message = chat.messages.pop(message_id, None)
            if message is not None:
                chat.deleted.append(message)
        return True

    # ---------------------------------------------------------------------- interaction

    async def _m_answerCallbackQuery(self, a: dict[str, Any]) -> bool:
        query = self._callback_queries.get(a["callback_query_id"])
        if query is None or query["answered"]:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        text = a.get("text")
        if text is not None and len(text) > CALLBACK_ANSWER_LIMIT:
            raise _bad("MESSAGE_TOO_LONG")
        query["answered"] = True
        self.callback_answers.append(
            {
                "callback_query_id": a["callback_query_id"],
                "user_id": query["user_id"],
                "chat_id": query["chat_id"],
                "message_id": query["message_id"],
                "data": query["data"],
                "text": text,
                "show_alert": bool(a.get("show_alert")),
                "url": a.get("url"),
                "cache_time": a.get("cache_time"),
            }
        )
        return True

    async def _m_setMyCommands(self, a: dict[str, Any]) -> bool:
        commands = a["commands"]
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        if len(commands) > COMMANDS_LIMIT:
            raise _bad("too many commands")
        cleaned = []
        for item in commands:
            if not isinstance(item, dict):
                raise _bad("can't parse BotCommand JSON object")
            command, description = item.get("command", ""), item.get("description", "")
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command)):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(description).strip()) <= 256:
                raise _bad("command description must be 1-256 characters long")
            cleaned.append({"command": command, "description": description})
        key = (_scope_key(a.get("scope")), self._language(a.get("language_code")))
        if cleaned:
            self._commands[key] = cleaned
        else:
            self._commands.pop(key, None)
        return True

    async def _m_getMyCommands(self, a: dict[str, Any]) -> list[dict[str, str]]:
        key = (_scope_key(a.get("scope")), self._language(a.get("language_code")))
        return copy.deepcopy(self._commands.get(key, []))

    async def _m_deleteMyCommands(self, a: dict[str, Any]) -> bool:
        key = (_scope_key(a.get("scope")), self._language(a.get("language_code")))
        self._commands.pop(key, None)
        return True

    @staticmethod
    def _language(code: str | None) -> str:
        if code and not re.fullmatch(r"[a-z]{2}", code):
            raise _bad("invalid language code specified")
        return code or ""

    async def _m_setChatMenuButton(self, a: dict[str, Any]) -> bool:
        chat_id = self._known_chat(a["chat_id"]).id if a.get("chat_id") is not None else None
        button = a.get("menu_button") or {"type": "default"}
        if button.get("type") not in ("commands", "web_app", "default"):
            raise _bad("can't parse menu button: unsupported type")
        self.menu_buttons[chat_id] = button
        return True

    async def _m_getChatMenuButton(self, a: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._known_chat(a["chat_id"]).id if a.get("chat_id") is not None else None
        button = self.menu_buttons.get(chat_id) or self.menu_buttons.get(None)
        return copy.deepcopy(button or {"type": "commands"})

    async def _m_setMyDescription(self, a: dict[str, Any]) -> bool:
        return True

    async def _m_setMyShortDescription(self, a: dict[str, Any]) -> bool:
        return True

    # ------------------------------------------------------------------- chats and topics

    async def _m_getChat(self, a: dict[str, Any]) -> dict[str, Any]:
        chat = self._known_chat(a["chat_id"])
        return {
            **chat.as_api(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    async def _m_createForumTopic(self, a: dict[str, Any]) -> dict[str, Any]:
        chat = self._writable_chat(a["chat_id"])
        if not chat.is_forum:
            raise _bad("the chat is not a forum")
        name = a["name"]
        if not 1 <= len(name) <= TOPIC_NAME_LIMIT:
            raise _bad("TOPIC_NAME_INVALID")
        color = a.get("icon_color") or TOPIC_ICON_COLORS[0]
        if color not in TOPIC_ICON_COLORS:
            raise _bad("TOPIC_ICON_COLOR_INVALID")
        topic = self._create_topic(chat, name, color, a.get("icon_custom_emoji_id"), self.bot_user)
        return topic.as_api()

    def _create_topic(
        self,
        chat: ChatRecord,
        name: str,
        color: int,
        emoji_id: str | None,
        sender: dict[str, Any],
    ) -> TopicRecord:
        created: dict[str, Any] = {"name": name, "icon_color": color}
        if emoji_id:
            created["icon_custom_emoji_id"] = emoji_id
        message = self._store(chat, sender, {"forum_topic_created": created})
        thread_id = message["message_id"]
        message.update(message_thread_id=thread_id, is_topic_message=True)
        topic = TopicRecord(thread_id, name, color, emoji_id)
        chat.topics[thread_id] = topic
        return topic

    async def _m_editForumTopic(self, a: dict[str, Any]) -> bool:
        chat, topic = self._topic(a)
        changed: dict[str, Any] = {}
        if a.get("name") is not None and a["name"] != topic.name:
            if not 1 <= len(a["name"]) <= TOPIC_NAME_LIMIT:
                raise _bad("TOPIC_NAME_INVALID")
            topic.name = changed["name"] = a["name"]
        emoji = a.get("icon_custom_emoji_id")
        if emoji is not None and emoji != (topic.icon_custom_emoji_id or ""):
            topic.icon_custom_emoji_id = emoji or None
            changed["icon_custom_emoji_id"] = emoji
        if not changed:
            raise _bad("TOPIC_NOT_MODIFIED")
        self._topic_service(chat, topic, "forum_topic_edited", changed)
        return True

    async def _m_closeForumTopic(self, a: dict[str, Any]) -> bool:
        return self._set_topic_closed(a, closed=True)

    async def _m_reopenForumTopic(self, a: dict[str, Any]) -> bool:
        return self._set_topic_closed(a, closed=False)

    def _set_topic_closed(self, a: dict[str, Any], *, closed: bool) -> bool:
        chat, topic = self._topic(a)
        if topic.closed == closed:
            raise _bad("TOPIC_NOT_MODIFIED")
        topic.closed = closed
        key = "forum_topic_closed" if closed else "forum_topic_reopened"
        self._topic_service(chat, topic, key, {})
        return True

    def _topic(self, a: dict[str, Any]) -> tuple[ChatRecord, TopicRecord]:
        chat = self._writable_chat(a["chat_id"])
        if not chat.is_forum:
            raise _bad("the chat is not a forum")
        topic = chat.topics.get(a["message_thread_id"])
        if topic is None:
            raise _bad("TOPIC_ID_INVALID")
        return chat, topic

    def _topic_service(
        self, chat: ChatRecord, topic: TopicRecord, key: str, value: dict[str, Any]
    ) -> None:
        message = self._store(chat, self.bot_user, {key: value})
        message.update(message_thread_id=topic.message_thread_id, is_topic_message=True)

    # ----------------------------------------------------------------------------- files

    async def _m_getFile(self, a: dict[str, Any]) -> dict[str, Any]:
        record = self.files.get(a["file_id"])
        if record is None:
            raise _bad("invalid file_id")
        if record.size > DOWNLOAD_LIMIT:
            raise _bad("file is too big")
        return {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "file_size": record.size,
            "file_path": record.file_path,
        }

    # ==================================================================== shared machinery

    def _next_counter(self) -> int:
        self._counter += 1
        return self._counter

    def _user(self, user_id: int) -> UserRecord:
        try:
            return self.users[user_id]
        except KeyError:
            raise KeyError(f"no user {user_id}: add_user() first") from None

    def _known_chat(self, chat_id: int | str) -> ChatRecord:
        """The chat, if the bot has ever seen it; else Telegram's 400 "chat not found"."""
        if isinstance(chat_id, str):
            name = chat_id.removeprefix("@").lower()
            for chat in self.chats.values():
                if chat.username and chat.username.lower() == name:
                    return chat
            raise _bad("chat not found")
        chat = self.chats.get(chat_id)
        if chat is None:
            raise _bad("chat not found")
        return chat

    def _writable_chat(self, chat_id: int | str) -> ChatRecord:
        chat = self._known_chat(chat_id)
        user = self.users.get(chat.id) if chat.type == "private" else None
        if user is not None and user.blocked:
            raise FakeApiError(403, "Forbidden: bot was blocked by the user")
        if user is not None and not user.started:
            raise FakeApiError(403, "Forbidden: bot can't initiate conversation with a user")
        return chat

    @staticmethod
    def _thread(chat: ChatRecord, thread_id: int | None) -> int | None:
        """The forum topic a message goes to (None: General topic, or not a forum)."""
        if thread_id is None or not chat.is_forum:
            return None
        topic = chat.topics.get(thread_id)
        if topic is None:
            raise _bad("message thread not found")
        if topic.closed:
            raise _bad("TOPIC_CLOSED")
        return thread_id

    def _reply_to(self, chat: ChatRecord, a: dict[str, Any]) -> dict[str, Any] | None:
        params = a.get("reply_parameters")
        if not params and a.get("reply_to_message_id"):
            params = {
                "message_id": a["reply_to_message_id"],
                "allow_sending_without_reply": a.get("allow_sending_without_reply"),
            }
        if not params:
            return None
        if not isinstance(params, dict) or not isinstance(params.get("message_id"), int):
            raise _bad("can't parse reply parameters JSON object")
        target = self._known_chat(params["chat_id"]) if params.get("chat_id") else chat
        message = target.messages.get(params["message_id"])
        if message is None:
            if params.get("allow_sending_without_reply"):
                return None
            raise _bad("message to be replied not found")
        return _api_view(message)

    def _text_content(self, text: Any, parse_mode: str | None, entities: Any) -> dict[str, Any]:
        if not isinstance(text, str) or not text.strip():
            raise _bad("message text is empty")
        plain, found, raw = self._parse(text, parse_mode, entities)
        if not plain:
            raise _bad("message text is empty")
        if len(plain) > TEXT_LIMIT:
            raise _bad("message is too long")
        content: dict[str, Any] = {"text": plain}
        if found:
            content["entities"] = found
        content.update(raw)
        return content

    def _caption_content(self, a: Mapping[str, Any]) -> dict[str, Any]:
        caption = a.get("caption")
        if not caption:
            return {}
        plain, found, raw = self._parse(caption, a.get("parse_mode"), a.get("caption_entities"))
        if len(plain) > CAPTION_LIMIT:
            raise _bad("message caption is too long")
        content: dict[str, Any] = {"caption": plain} if plain else {}
        if found:
            content["caption_entities"] = found
        if plain:
            content.update(raw)
        if a.get("show_caption_above_media"):
            content["show_caption_above_media"] = True
        return content

    @staticmethod
    def _parse(
        text: str, parse_mode: str | None, entities: Any
    ) -> tuple[str, list[dict[str, Any]], dict[str, str]]:
        """(plain text, entities, private raw-source keys) or a 400 as Telegram words it."""
        if entities is not None and not isinstance(entities, list):
            raise _bad("can't parse entities JSON object")
        try:
            mode = normalize_parse_mode(parse_mode)
            plain, found = parse_text(text, mode, entities)
        except EntityParseError as error:
            raise _bad(f"can't parse entities: {error}") from None
        except ValueError:
            raise _bad(f"unsupported parse_mode {parse_mode!r}") from None
        raw: dict[str, str] = {}
        if mode == "HTML" and not entities:
            raw["html"] = text
        elif mode in ("MarkdownV2", "Markdown") and not entities:
            raw["markdown"] = text
        return plain, found, raw

    def _reply_markup(
        self, markup: Any, *, inline_only: bool = False
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Validate reply_markup: ``(inline keyboard to store, other markup)``."""
        if markup is None:
            return None, None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            return _validate_inline_keyboard(markup), None
        if inline_only:
            raise _bad("inline keyboard expected")
        if "keyboard" in markup:
            _validate_reply_keyboard(markup)
            return None, markup
        if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
            return None, markup
        raise _bad("can't parse reply keyboard markup JSON object")

    def _store(
        self, chat: ChatRecord, sender: dict[str, Any], content: dict[str, Any]
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": chat.next_message_id(),
            "from": copy.deepcopy(sender),
            "chat": chat.as_api(),
            "date": int(self.clock()),
            **content,
        }
        chat.messages[message["message_id"]] = message
        return message

    def _post(
        self,
        chat: ChatRecord,
        content: dict[str, Any],
        thread: int | None,
        reply_to: dict[str, Any] | None,
        inline: dict[str, Any] | None,
        keyboard: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """Store a message the bot sends."""
        message = self._store(chat, self.bot_user, content)
        if thread is not None:
            message.update(message_thread_id=thread, is_topic_message=True)
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        if inline is not None:
            message["reply_markup"] = inline
        if keyboard is not None:
            message["reply_keyboard"] = copy.deepcopy(keyboard)
            chat.reply_keyboard = copy.deepcopy(keyboard) if "keyboard" in keyboard else None
        return message

    def _user_post(
        self,
        chat_id: int,
        user_id: int,
        content: dict[str, Any],
        thread_id: int | None = None,
        *,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """Store a message a person sends, and queue its update."""
        user = self._user(user_id)
        user.started, user.blocked = True, False  # writing to the bot (re)starts it
        chat = self._known_chat(chat_id)
        if thread_id is not None:
            if thread_id not in chat.topics:
                raise ValueError(f"chat {chat_id} has no topic {thread_id}")
            if chat.topics[thread_id].closed:
                raise ValueError(f"topic {thread_id} is closed: people cannot write there")
        message = self._store(chat, user.as_api(), content)
        if thread_id is not None:
            message.update(message_thread_id=thread_id, is_topic_message=True)
        if reply_to_message_id is not None:
            replied = chat.messages.get(reply_to_message_id)
            if replied is None:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat_id}")
            message["reply_to_message"] = _api_view(replied)
        return self._enqueue("message", _api_view(message))

    def _user_media(
        self,
        user_id: int,
        content: dict[str, Any],
        caption: str | None,
        media_group_id: str | None,
        chat_id: int | None,
        message_thread_id: int | None = None,
    ) -> dict[str, Any]:
        if caption:
            content["caption"] = caption
        if media_group_id is not None:
            content["media_group_id"] = str(media_group_id)
        return self._user_post(
            user_id if chat_id is None else chat_id, user_id, content, message_thread_id
        )

    def _enqueue(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": self._next_update_id, kind: payload}
        self.update_queued_at[self._next_update_id] = time.monotonic()
        self._next_update_id += 1
        self._queue.append(_Queued(update))
        self.update_log.append(copy.deepcopy(update))
        self._touch()
        self._wake()
        return copy.deepcopy(update)

    # ---------------------------------------------------------------------------- files

    def _new_file(
        self,
        kind: str,
        data: bytes | None,
        file_name: str | None = None,
        mime_type: str | None = None,
        *,
        size: int | None = None,
        width: int | None = None,
        height: int | None = None,
        duration: int | None = None,
    ) -> FileRecord:
        number = self._next_counter()
        prefixes = {"photo": "AgAC", "video": "BAAC", "document": "BQAC", "sticker": "CAAC"}
        folders = {"photo": "photos", "video": "videos", "voice": "voice", "audio": "music"}
        extension = (file_name or "").rpartition(".")[2] if file_name and "." in file_name else ""
        extension = extension or {"photo": "jpg", "video": "mp4", "voice": "oga"}.get(kind, "bin")
        record = FileRecord(
            file_id=f"{prefixes.get(kind, 'AwAC')}Fake{kind.title()}{number:06d}",
            file_unique_id=f"AQAD{number:06d}",
            kind=kind,
            file_path=f"{folders.get(kind, kind + 's')}/file_{number}.{extension}",
            size=len(data) if data is not None else (size or 0),
            data=data,
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
            duration=duration,
        )
        self.files[record.file_id] = record
        self._files_by_path[record.file_path] = record
        return record

    def _new_photo(self, data: bytes | None, width: int, height: int) -> list[dict[str, Any]]:
        """Telegram's photo sizes for one picture: thumbnails, then the original (``data``)."""
        sizes: list[dict[str, Any]] = []
        for box in (90, 320, 800):
            if box < max(width, height):
                scale = box / max(width, height)
                w, h = max(1, round(width * scale)), max(1, round(height * scale))
                thumb = self._new_file("photo", _fake_jpeg(w * h // 40), width=w, height=h)
                sizes.append(self._photo_size(thumb))
        content = data if data is not None else _fake_jpeg(width * height // 20)
        sizes.append(self._photo_size(self._new_file("photo", content, width=width, height=height)))
        for size in sizes:
            self._photo_sets[size["file_id"]] = sizes
        return copy.deepcopy(sizes)

    @staticmethod
    def _photo_size(record: FileRecord) -> dict[str, Any]:
        return {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "width": record.width or 0,
            "height": record.height or 0,
            "file_size": record.size,
        }

    def _media_object(self, record: FileRecord) -> Any:
        """The Bot API object for a stored file (PhotoSize list, Video, Document…)."""
        if record.kind == "photo":
            return copy.deepcopy(self._photo_sets[record.file_id])
        media: dict[str, Any] = {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "file_size": record.size,
        }
        if record.kind in ("video", "sticker"):
            media.update(width=record.width or 0, height=record.height or 0)
        if record.kind in ("video", "voice", "audio"):
            media["duration"] = record.duration or 0
        if record.kind in ("video", "document", "audio") and record.file_name:
            media["file_name"] = record.file_name
        if record.kind != "sticker" and record.mime_type:
            media["mime_type"] = record.mime_type
        return media

    def _input_media(self, kind: str, value: Any, a: Mapping[str, Any]) -> Any:
        """A file the bot sends: an upload, a URL, or a file_id it already knows."""
        if isinstance(value, Upload):
            if not value.data:
                raise _bad("file must be non-empty")
            limit = PHOTO_UPLOAD_LIMIT if kind == "photo" else UPLOAD_LIMIT
            if len(value.data) > limit:
                raise FakeApiError(413, "Request Entity Too Large")
            return self._store_upload(kind, value.data, value.filename, value.content_type, a)
        if not isinstance(value, str) or not value:
            raise _bad(f"there is no {kind} in the request")
        if value.startswith(("http://", "https://")):
            placeholder = f"(fetched by Telegram from {value})".encode()
            name = value.rstrip("/").rpartition("/")[2] or None
            return self._store_upload(kind, placeholder, name, None, a)
        record = self.files.get(value)
        if record is None:
            raise _bad("wrong file identifier/HTTP URL specified")
        if record.kind != kind:
            raise _bad(f"can't use file of type {record.kind.title()} as {kind.title()}")
        return self._media_object(record)

    def _store_upload(
        self,
        kind: str,
        data: bytes,
        filename: str | None,
        content_type: str | None,
        a: Mapping[str, Any],
    ) -> Any:
        if kind == "photo":
            width, height = _image_size(data) or (1280, 960)
            return self._new_photo(data, width, height)
        mime = (
            content_type
            if content_type and content_type != "application/octet-stream"
            else (mimetypes.guess_type(filename or "")[0] or content_type)
        )
        record = self._new_file(
            kind,
            data,
            filename,
            mime,
            width=a.get("width") or (1280 if kind == "video" else None),
            height=a.get("height") or (720 if kind == "video" else None),
            duration=a.get("duration") or (5 if kind in ("video", "voice", "audio") else None),
        )
        return self._media_object(record)

    # ------------------------------------------------------------------------ inspection

    def __repr__(self) -> str:
        return (
            f"<FakeTelegram @{self.bot_user['username']}: {len(self.users)} users, "
            f"{len(self.chats)} chats, {len(self._queue)} queued updates>"
        )

    def iter_messages(self) -> Iterator[dict[str, Any]]:
        """Every stored message in every chat (copies)."""
        for chat in self.chats.values():
            yield from self.history(chat.id)


# ---------------------------------------------------------------------- module helpers


def _webhook_conflict() -> FakeApiError:
    return FakeApiError(
        409,
        "Conflict: can't use getUpdates method while webhook is active; "
        "use deleteWebhook to delete the webhook first",
    )


def _webhook_error_message(result: int | str) -> str:
    """getWebhookInfo's ``last_error_message``, in Telegram's words."""
    if isinstance(result, str):
        return result
    try:
        reason = HTTPStatus(result).phrase
    except ValueError:
        reason = "Unknown"
    return f"Wrong response from the webhook: {result} {reason}"


def _scope_key(scope: Any) -> str:
    if not scope:
        return "default"
    if not isinstance(scope, dict) or "type" not in scope:
        raise _bad("can't parse BotCommandScope JSON object")
    kind = scope["type"]
    if kind in ("default", "all_private_chats", "all_group_chats", "all_chat_administrators"):
        return str(kind)
    if kind in ("chat", "chat_administrators"):
        return f"{kind}:{scope.get('chat_id')}"
    if kind == "chat_member":
        return f"chat_member:{scope.get('chat_id')}:{scope.get('user_id')}"
    raise _bad("wrong BotCommandScope type specified")


def _validate_inline_keyboard(markup: dict[str, Any]) -> dict[str, Any] | None:
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad(
            'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
        )
    count = 0
    for row in rows:
        for button in row:
            if not isinstance(button, dict):
                raise _bad(
                    "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
                )
            text = button.get("text")
            if not isinstance(text, str):
                raise _bad(
                    'can\'t parse inline keyboard button: Field "text" must be of type String'
                )
            if not text.strip():
                raise _bad("BUTTON_TEXT_INVALID")
            actions = [key for key in INLINE_BUTTON_ACTIONS if key in button]
            if not actions:
                raise _bad(
                    "can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard"
                )
            if len(actions) > 1:
                raise _bad(
                    "can't parse inline keyboard button: "
                    f"exactly one of the optional fields must be used, got {actions}"
                )
            data = button.get("callback_data")
            if "callback_data" in button and (
                not isinstance(data, str) or not 1 <= _utf8_len(data) <= CALLBACK_DATA_LIMIT
            ):
                raise _bad("BUTTON_DATA_INVALID")
            url = button.get("url")
            if "url" in button and not (
                isinstance(url, str) and re.fullmatch(r"(https?|tg)://\S+", url)
            ):
                raise _bad("BUTTON_URL_INVALID")
            count += 1
    if count > INLINE_BUTTONS_LIMIT:
        raise _bad("reply markup is too long")
    return copy.deepcopy(markup) if count else None


def _validate_reply_keyboard(markup: dict[str, Any]) -> None:
    rows = markup["keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad('field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays')
    for row in rows:
        for button in row:
            text = button if isinstance(button, str) else (button or {}).get("text")
            if not isinstance(text, str) or not text.strip():
                raise _bad("keyboard button text must be non-empty")


def _fake_jpeg(size: int) -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(max(size, 16)) + b"\xff\xd9"


def _image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG (others: unknown)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None


# ------------------------------------------------------------------ request decoding


def _decode_params(
    spec: tuple[Param, ...], params: Mapping[str, Any], files: Mapping[str, Upload]
) -> dict[str, Any]:
    """Typed arguments from raw request fields, checked against the method's parameters."""
    args: dict[str, Any] = {}
    for param in spec:
        value = params.get(param.name)
        if value is None or value == "":
            if param.required:
                if param.name == "text":
                    raise _bad("message text is empty")
                raise _bad(f"{param.name} is empty")
            continue
        args[param.name] = _decode_value(param, value, files)
    return args


def _decode_value(param: Param, value: Any, files: Mapping[str, Upload]) -> Any:
    types = param.types
    wrong_type = _bad(f'field "{param.name}" must be of type {types}')
    if isinstance(value, Upload):
        if "InputFile" not in types:
            raise wrong_type
        return value
    if types == "Integer or String":
        if isinstance(value, bool):
            raise wrong_type
        if isinstance(value, int):
            return value
        text = str(value).strip()
        return int(text) if re.fullmatch(r"-?\d+", text) else text
    if types == "Integer":
        if isinstance(value, bool) or not re.fullmatch(r"-?\d+", str(value).strip()):
            raise wrong_type
        return int(value)
    if types == "Float":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise wrong_type from None
    if types == "Boolean":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "1"):
            return True
        if str(value).lower() in ("false", "0"):
            return False
        raise wrong_type
    if types == "String":
        return value if isinstance(value, str) else json.dumps(value)
    if "InputFile" in types and isinstance(value, str):
        return _attach(value, files)
    # JSON-serialized objects and arrays
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _bad(f"can't parse {param.name} JSON object") from None
    return _resolve_attachments(value, files)


def _attach(value: str, files: Mapping[str, Upload]) -> Any:
    if value.startswith("attach://"):
        upload = files.get(value.removeprefix("attach://"))
        if upload is None:
            raise _bad("wrong file identifier/HTTP URL specified")
        return upload
    return value


def _resolve_attachments(value: Any, files: Mapping[str, Upload]) -> Any:
    """Replace ``attach://name`` strings inside decoded JSON with the uploads they name."""
    if isinstance(value, dict):
        return {key: _resolve_attachments(item, files) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve_attachments(item, files) for item in value]
    if isinstance(value, str) and value.startswith("attach://"):
        return _attach(value, files)
    return value

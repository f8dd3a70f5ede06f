"""Small helpers the flows share."""

from __future__ import annotations

import re

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from aiogram.types import InlineKeyboardMarkup, Message, User

from bot.conversations.buyer import conversation
from core.cases.model import Actor

TELEGRAM_TEXT_LIMIT = 4096
# A tag, an entity (&amp;) or one character: the pieces a text may be cut between.
_PIECE = re.compile(r"<[^>]*>|&#?\w+;|.", re.DOTALL)


def buyer(user: User) -> Actor:
    return Actor.buyer(user.id, user.first_name)


async def fresh_start(state: FSMContext) -> None:
    """Forget the conversation, but not that the buyer asked for a person: their next case
    still goes straight to an agent."""
    wants_person = (await conversation.read(state)).wants_person
    await state.clear()
    if wants_person:
        await conversation.write(state, wants_person=True)


def _length(text: str) -> int:
    """Telegram counts UTF-16 code units (an emoji outside the BMP counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def _tag_name(tag: str) -> str:
    return re.split(r"[\s/>]", tag.lstrip("</"), maxsplit=1)[0].lower()


def _closing(tags: list[str]) -> str:
    return "".join(f"</{_tag_name(tag)}>" for tag in reversed(tags))


def _opened_after(tags: list[str], piece: str) -> list[str]:
    """The tags still open after ``piece`` (Telegram's HTML has no void elements)."""
    if not piece.startswith("<") or len(piece) < 3:
        return tags
    if piece.startswith("</"):
        name = _tag_name(piece)
        for index in range(len(tags) - 1, -1, -1):
            if _tag_name(tags[index]) == name:
                return tags[:index] + tags[index + 1 :]
        return tags
    return [*tags, piece]


def _visible(pieces: list[str]) -> bool:
    """Whether these pieces show something (Telegram refuses an empty or blank message)."""
    return any(not (piece.startswith("<") and len(piece) > 1) and piece.strip() for piece in pieces)


def split_text(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Split Telegram HTML into parts of at most ``limit`` characters: at the last line break
    that fits, else between two characters, never inside a tag or an entity. Tags open at a
    cut are closed at the end of the part and opened again at the start of the next."""
    if _length(text) <= limit:
        return [text]
    parts: list[str] = []
    current: list[str] = []  # the pieces of the part being built
    used = 0  # their length
    opened: list[str] = []  # the tags open at the end of ``current``
    newline: tuple[int, list[str]] | None = None  # the last line break: its index, open tags

    def cut(index: int, tags: list[str], rest: list[str]) -> None:
        nonlocal current, used, newline
        parts.append("".join(current[:index]) + _closing(tags))
        current = [*tags, *rest]
        used = sum(_length(piece) for piece in current)
        newline = None

    for piece in _PIECE.findall(text):
        after = _opened_after(opened, piece)
        if used + _length(piece) + _length(_closing(after)) > limit:
            if newline is not None and _visible(current[: newline[0]]):
                index, tags = newline
                cut(index, tags, current[index + 1 :])
            elif _visible(current):
                cut(len(current), opened, [])
        current.append(piece)
        used += _length(piece)
        opened = after
        if piece == "\n":
            newline = (len(current) - 1, opened)
    if _visible(current):
        parts.append("".join(current) + _closing(opened))
    return parts


async def send(
    bot: Bot,
    chat_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
    *,
    thread_id: int | None = None,
) -> Message:
    """Send a possibly long text (into a forum topic with ``thread_id``); the buttons go with
    the last part."""
    parts = split_text(text)
    sent: Message | None = None
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        sent = await bot.send_message(
            chat_id, part, reply_markup=markup if last else None, message_thread_id=thread_id
        )
    assert sent is not None
    return sent

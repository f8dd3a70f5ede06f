"""``returns-desk demo``: the real bot against a fake Telegram on this machine, no token needed.

It starts the fake Bot API on loopback, imports the sample orders (dates shifted so that the
sample scenarios are as true today as on the day they were written), runs the bot through the
same code path as ``returns-desk run`` (with an agents' forum group), and lets you chat in the
terminal as one of the demo's people: buyers, sellers, an agent. Whatever the bot sends to
anybody (your answers, the seller's alert, the buyer's "refunded", the agent's topic) is
printed as it arrives, under a line that says who received it and where. ``--script FILE``
replays commands and prints the transcript; ``core/sample/demo-three-sides.txt`` walks the
three sides of the product.

The demo's own commands (``/help``, ``/who``, ``/as``, ``/in``, ``/photo``…) never reach the
bot; every other line does, bot commands included (``//help`` sends the bot ``/help``).
Buttons are pressed with ``[2]`` or ``[part of the label]``, so an answer made of digits (a
postal code) is an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import struct
import sys
import time
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.config import load_settings
from bot.receiving.runner import run_polling
from bot.testing import FakeTelegram, FakeTelegramServer, PollingDriver
from core.orders.formats.detect import iter_orders
from core.orders.model import Order
from core.policy.config import Config
from core.services.context import CoreContext
from core.services.linking import order_link

SAMPLE_DATE = date(2026, 11, 22)  # the day core/sample/orders.sample.json describes
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "core" / "sample"
SAMPLE_ORDERS = SAMPLE_DIR / "orders.sample.json"
THREE_SIDES_SCRIPT = SAMPLE_DIR / "demo-three-sides.txt"
AGENTS_CHAT_ID = -1007770042  # the demo's agents' forum group (AGENTS_CHAT_ID)


@dataclasses.dataclass(frozen=True)
class Persona:
    """Somebody the person at the terminal can talk as."""

    key: str  # what /as takes (the first name works too)
    user_id: int
    first_name: str
    language: str  # their Telegram's language
    role: str  # "buyer", "seller" or "agent"
    about: str
    order: str | None = None  # a buyer's sample order
    shop: str | None = None  # a seller's shop
    aliases: tuple[str, ...] = ()


PEOPLE: tuple[Persona, ...] = (
    Persona(
        "lucia", 910021, "Lucía", "es", "buyer", "in Spain; her table lamp arrived damaged",
        order="AUR-10021", aliases=("buyer",),
    ),
    Persona(
        "liwei", 910028, "李伟", "zh", "buyer", "in Singapore; his parcel is still on its way",
        order="AUR-10028", aliases=("chinese",),
    ),
    Persona(
        "dmitry", 905501, "Дмитрий", "ru", "buyer", "in Russia; one of his earbuds is dead",
        order="NV-5501", aliases=("russian",),
    ),
    Persona(
        "fang", 905505, "Fang", "en", "buyer",
        "in Malaysia, Telegram in English; her power bank came with a cracked case",
        order="NV-5505",
    ),
    Persona(
        "pedro", 905502, "Pedro", "pt", "buyer", "in Portugal; his branded charger looks fake",
        order="NV-5502",
    ),
    Persona(
        "wang", 600001, "Wang", "zh", "seller", "reads Chinese", shop="aurora",
        aliases=("seller",),
    ),
    Persona("emma", 600002, "Emma", "en", "seller", "reads English", shop="nova"),
    Persona(
        "sam", 700001, "Sam", "en", "agent",
        "cases for a person get a topic in the agents' group",
        aliases=("agent",),
    ),
)  # fmt: skip
FIRST = "lucia"

DEMO_COMMANDS = ("/help", "/who", "/as", "/in", "/link", "/photo", "/album", "/video")
DEMO_COMMANDS += ("/sticker", "/quit", "/exit")

HELP = """\
You talk to the bot as one person at a time; what the bot sends to everybody else shows
too, as it arrives, under a line such as "── to Emma (seller, private chat) · /as emma ──".

  any text          sent to the bot as it is: digits too (46004 answers a postal code)
  /start, /cases …  bot commands go to the bot; //help sends it /help (// → /)
  [2]               press button [2] of the newest message with buttons here
  [Refund]          press the button whose label holds "Refund"
  /photo [caption]  send a sample photo         /album N   an album of N photos
  /video            a short sample video        /sticker   a sticker
  /link [ORDER]     open the order e-mail's link (default: this buyer's own order)
  /as NAME          talk as someone else        /who       who is who, what buyers know
  /in PLACE         where to write: private; an agent: a case number (its topic),
                    topic (the newest); a seller: staff (the shop's staff group)
  Enter             show what arrived since     /help      this help    /quit  leave
In a --script file, a line starting with # is a comment."""


def shift_dates(order: Order, by: timedelta) -> Order:
    """The same order, every date moved by the same offset."""

    def move(value: datetime | None) -> datetime | None:
        return value + by if value is not None else None

    shipments = tuple(
        dataclasses.replace(
            s,
            shipped_at=s.shipped_at + by,
            delivered_at=move(s.delivered_at),
            events=tuple(dataclasses.replace(e, at=e.at + by) for e in s.events),
        )
        for s in order.shipments
    )
    return dataclasses.replace(
        order,
        placed_at=order.placed_at + by,
        cancelled_at=move(order.cancelled_at),
        shipments=shipments,
    )


def sample_png(seed: int = 0) -> bytes:
    """A small real PNG (a coloured square), so evidence downloads store real images."""
    width = height = 16
    colour = bytes(((seed * 70) % 256, (120 + seed * 30) % 256, 200))
    raw = b"".join(b"\x00" + colour * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


class DemoDriver(PollingDriver):
    """Shows the answers as soon as the bot says it is done with every update just sent
    (:meth:`handled`) and nothing is in flight. While the handlers hold an update
    (:meth:`entered`, not yet handled) it waits, however long the handler computes without
    calling Telegram (a slow machine opening a case). Without any word from the bot (an
    update dropped before the handlers), once the bot made no call for ``quiet`` seconds."""

    def __init__(
        self, fake: FakeTelegram, *, quiet: float = 1.0, settle: float = 0.05, timeout: float = 30
    ) -> None:
        super().__init__(fake, quiet=settle, timeout=timeout)
        self.fallback_quiet = quiet
        self.started: Counter[int] = Counter()
        self.done: Counter[int] = Counter()

    def entered(self, update_id: int) -> None:
        self.started[update_id] += 1

    def handled(self, update_id: int) -> None:
        self.done[update_id] += 1

    @property
    def handling(self) -> bool:
        """Some update is in the handlers right now."""
        return any(self.started[i] > self.done[i] for i in self.started)

    async def deliver(self, *, concurrent: bool | None = None) -> None:
        sent = Counter(update["update_id"] for update in self.fake.pending_updates())
        before = self.done.copy()
        deadline = time.monotonic() + self.timeout
        while True:
            await super().deliver(concurrent=concurrent)  # confirmed, idle for ``settle`` s
            if all(self.done[i] - before[i] >= n for i, n in sent.items()):
                return
            quiet_for = time.monotonic() - self.fake.last_activity
            if not self.handling and quiet_for >= self.fallback_quiet:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot did not finish within {self.timeout} s")
            await asyncio.sleep(0.01)


@dataclasses.dataclass(frozen=True)
class Place:
    """A chat, or a topic of a forum group."""

    chat_id: int
    thread: int | None = None


@dataclasses.dataclass
class _Shown:
    """One thing the bot did that somebody sees: a message (new or edited) or a topic."""

    place: Place
    lines: list[str]
    album: str | None = None  # media_group_id: items of one album are shown as one line
    kinds: list[str] = dataclasses.field(default_factory=list)


MEDIA = ("photo", "video", "animation", "document", "audio", "voice", "sticker")
_CASE_NUMBER = re.compile(r"\b[A-Z]{1,6}-\d{4}-\d{3,}\b")
_ICONS = re.compile(r"^[\W_]+")  # the emoji and marks before a label's words
_SEND = {
    "sendmessage",
    "sendphoto",
    "sendvideo",
    "senddocument",
    "sendanimation",
    "sendaudio",
    "sendvoice",
    "sendsticker",
    "sendlocation",
    "sendcontact",
}


def _plain(text: str) -> str:
    """Lower case, without accents: how /as and [label] compare."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _labels(message: dict[str, Any]) -> list[list[str]]:
    """A message's buttons, row by row (inline, then a reply keyboard it carried)."""
    rows = [[text for text, _ in row] for row in FakeTelegram.buttons(message)]
    keyboard = message.get("reply_keyboard") or {}
    for row in keyboard.get("keyboard", []):
        rows.append([key if isinstance(key, str) else str(key.get("text", "")) for key in row])
    return [row for row in rows if row]


def _match(wanted: str, labels: list[str]) -> int | str:
    """The index of the button meant by ``wanted``: its exact label, else the one label that
    starts with it (icons aside), else the one that holds it; or why there is none."""
    text = _plain(wanted)
    for candidates in (
        [i for i, label in enumerate(labels) if label == wanted],
        [i for i, label in enumerate(labels) if _ICONS.sub("", _plain(label)).startswith(text)],
        [i for i, label in enumerate(labels) if text in _plain(label)],
    ):
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            return "several buttons hold"
    return "no button holds"


class Demo:
    """People in a fake Telegram, and what the bot shows them."""

    def __init__(
        self,
        fake: FakeTelegram,
        core: CoreContext,
        out: Callable[[str], None],
        *,
        orders: dict[str, Order],
        agents_chat_id: int | None = AGENTS_CHAT_ID,
        echo: bool = True,
    ) -> None:
        self.fake = fake
        self.core = core
        self.out = out
        self.orders = orders
        self.agents_chat_id = agents_chat_id
        self.echo = echo
        self.driver = DemoDriver(fake, quiet=1.0, timeout=30.0)
        self.personas = {p.key: p for p in PEOPLE}
        self.by_id = {p.user_id: p for p in PEOPLE}
        for p in PEOPLE:
            fake.add_user(p.user_id, p.first_name, p.language)
        self.current = FIRST
        self.places = {p.key: Place(p.user_id) for p in PEOPLE}
        self.photos = 0
        self.albums = 0
        self.seen_calls = len(fake.calls)
        self.shown: dict[tuple[int, int], tuple[str, list[list[str]]]] = {}
        self.topic_names: dict[tuple[int, int], str] = {}

    # ------------------------------------------------------------------------ who, where

    @property
    def persona(self) -> Persona:
        return self.personas[self.current]

    @property
    def place(self) -> Place:
        return self.places[self.current]

    def find_persona(self, name: str) -> Persona | None:
        wanted = _plain(name.strip())
        for p in PEOPLE:
            if wanted in (p.key, _plain(p.first_name), *p.aliases):
                return p
        return None

    def staff_group(self, persona: Persona) -> int | None:
        shop = self.core.config.shops.get(persona.shop or "")
        return shop.staff_chat_id if shop is not None else None

    def topic_label(self, place: Place) -> str:
        name = self.topic_names.get((place.chat_id, place.thread or 0))
        if name is None:
            chat = self.fake.chats.get(place.chat_id)
            topic = chat.topics.get(place.thread or 0) if chat is not None else None
            name = topic.name if topic is not None else str(place.thread)
        found = _CASE_NUMBER.search(name)
        return found.group(0) if found else f"“{name}”"

    def where(self, place: Place) -> str:
        """Where a place is, in words."""
        if place.chat_id > 0:
            persona = self.by_id.get(place.chat_id)
            name = persona.first_name if persona is not None else str(place.chat_id)
            return f"{name}'s private chat with the bot"
        if place.chat_id == self.agents_chat_id:
            if place.thread is None:
                return "the agents' group"
            return f"the agents' group, topic {self.topic_label(place)}"
        for shop in self.core.config.shops.values():
            if shop.staff_chat_id == place.chat_id:
                return f"the staff group of {shop.name}"
        chat = self.fake.chats.get(place.chat_id)
        return f"the group “{chat.title if chat else place.chat_id}”"

    def readers(self, place: Place) -> list[Persona]:
        """The demo's people who read a place."""
        if place.chat_id > 0:
            return [p for p in PEOPLE if p.user_id == place.chat_id]
        if place.chat_id == self.agents_chat_id:
            return [p for p in PEOPLE if p.role == "agent"]
        return [p for p in PEOPLE if p.role == "seller" and self.staff_group(p) == place.chat_id]

    def header(self, place: Place) -> str:
        if place.chat_id > 0:
            p = self.by_id[place.chat_id]
            if p.key == self.current:
                return f"── to {p.first_name} (you, private chat) ──"
            return f"── to {p.first_name} ({p.role}, private chat) · /as {p.key} ──"
        hints = []
        for p in self.readers(place):
            steps = [] if p.key == self.current else [f"/as {p.key}"]
            if self.places[p.key] != place:
                target = self.topic_label(place) if place.thread is not None else None
                if place.chat_id != self.agents_chat_id:
                    target = "staff"
                steps.append(f"/in {target or 'group'}")
            if steps:
                hints.append(" + ".join(steps))
        hint = f" · {', '.join(hints)}" if hints else ""
        return f"── in {self.where(place)}{hint} ──"

    def prompt(self) -> str:
        place, name = self.place, self.persona.first_name
        if place.chat_id > 0:
            return f"{name} › "
        if place.chat_id == self.agents_chat_id:
            where = f"topic {self.topic_label(place)}" if place.thread else "agents' group"
            return f"{name} ({where}) › "
        return f"{name} (staff group) › "

    # ---------------------------------------------------------------------------- seeing

    def flush(self) -> None:
        """Print what the bot did since the last look, in the order it did it."""
        calls = self.fake.calls[self.seen_calls :]
        self.seen_calls += len(calls)
        items: list[_Shown] = []
        new: set[tuple[int, int]] = set()
        for call in calls:
            if call.error is not None or not isinstance(call.chat_id, int):
                continue
            for item in self._what(
                call.method.lower(), call.chat_id, call.params, call.result, new
            ):
                items.append(item)
        self._print(self._albums(items))

    def _what(
        self,
        method: str,
        chat_id: int,
        params: dict[str, Any],
        result: Any,
        new: set[tuple[int, int]],
    ) -> Iterator[_Shown]:
        ids: list[int] = []
        if method in _SEND or method in ("copymessage", "forwardmessage"):
            ids = [int(result["message_id"])]
        elif method == "sendmediagroup":
            ids = [int(m["message_id"]) for m in result]
        elif method.startswith("editmessage") and params.get("message_id") is not None:
            key = (chat_id, int(params["message_id"]))
            if key in new:
                return
            item = self._message(chat_id, key[1], edited=True)
            if item is not None:
                yield item
            return
        elif method in ("createforumtopic", "editforumtopic"):
            thread = int(
                result["message_thread_id"]
                if method == "createforumtopic"
                else params["message_thread_id"]
            )
            if params.get("name"):
                self.topic_names[(chat_id, thread)] = str(params["name"])
            verb = "opens the topic" if method == "createforumtopic" else "renames the topic"
            if params.get("name") and self._visible(Place(chat_id)):
                yield _Shown(Place(chat_id, thread), [f"bot ✱ {verb} “{params['name']}”"])
            return
        elif method in ("closeforumtopic", "reopenforumtopic"):
            place = Place(chat_id, int(params["message_thread_id"]))
            if self._visible(place):
                verb = "closes" if method == "closeforumtopic" else "reopens"
                yield _Shown(place, [f"bot ✱ {verb} the topic"])
            return
        elif method == "answercallbackquery" and params.get("text"):
            place = (
                self.place
                if chat_id in (self.place.chat_id, self.persona.user_id)
                else Place(chat_id)
            )
            mark = "a window pops up" if params.get("show_alert") else "a notice shows"
            yield _Shown(place, [f"bot ⓘ ({mark}) {params['text']}"])
            return
        for message_id in ids:
            new.add((chat_id, message_id))
            item = self._message(chat_id, message_id, edited=False)
            if item is not None:
                yield item

    def _visible(self, place: Place) -> bool:
        """Messages to people who are not in the demo (the other configured staff) are not
        shown; every group is."""
        return place.chat_id < 0 or place.chat_id in self.by_id

    def _message(self, chat_id: int, message_id: int, *, edited: bool) -> _Shown | None:
        chat = self.fake.chats.get(chat_id)
        message = chat.messages.get(message_id) if chat is not None else None
        if message is None or message["from"]["id"] != self.fake.bot_user["id"]:
            return None
        place = Place(chat_id, message.get("message_thread_id") if chat_id < 0 else None)
        if not self._visible(place):
            return None
        body = str(message.get("text") or message.get("caption") or "")
        kind = next((key for key in (*MEDIA, "location", "contact") if key in message), "")
        rows = _labels(message)
        key = (chat_id, message_id)
        if edited:
            before_body, before_rows = self.shown.get(key, (None, []))
            if body == before_body and (rows == before_rows or not rows):
                self.shown[key] = (body, rows)
                return None  # nothing anyone reads changed (or only buttons went away)
        self.shown[key] = (body, rows)
        shown = f"[{kind}] {body}".strip() if kind else body
        head = "bot › (edited) " if edited else "bot › "
        lines = [head + "\n".join(f"      {line}".rstrip() for line in shown.split("\n")).lstrip()]
        number = 1
        for row in rows:
            cells = []
            for label in row:
                cells.append(f"[{number}] {label}")
                number += 1
            lines.append("      " + "   ".join(cells))
        group = message.get("media_group_id")
        return _Shown(place, lines, album=str(group) if group else None, kinds=[kind])

    @staticmethod
    def _albums(items: list[_Shown]) -> list[_Shown]:
        """An album's items as one line: "[album: 3 photos]" (and its caption)."""
        merged: list[_Shown] = []
        for item in items:
            last = merged[-1] if merged else None
            if last is not None and item.album and last.album == item.album:
                last.kinds += item.kinds
                caption = last.lines[0].split("] ", 1)[1] if "] " in last.lines[0] else ""
                counts = Counter(last.kinds)
                what = ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in counts.items())
                last.lines = [f"bot › [album: {what}] {caption}".rstrip()]
                continue
            merged.append(item)
        return merged

    def _print(self, items: list[_Shown]) -> None:
        last: Place | None = self.place  # your own answers come without a heading
        for item in items:
            if item.place != last:
                self.out(self.header(item.place))
                last = item.place
            for line in item.lines:
                self.out(line)

    def newest_buttons(self) -> tuple[dict[str, Any], list[str]] | None:
        """The newest message with buttons where the current person is."""
        place = self.place
        messages = self.fake.messages_to(place.chat_id, message_thread_id=place.thread)
        if place.thread is None and place.chat_id < 0:
            messages = [m for m in messages if m.get("message_thread_id") is None]
        for message in reversed(messages):
            labels = [label for row in _labels(message) for label in row]
            if labels:
                return message, labels
        return None

    # ---------------------------------------------------------------------------- acting

    async def act(self, make_updates: Callable[[], Any]) -> None:
        """Make the person's update(s), let the bot answer, wait until everything it sends
        because of it (through the outbox too) has gone out, and show it."""
        make_updates()
        await self.driver.deliver()
        await self.settle()
        self.flush()

    async def settle(self, within: float = 30.0, quiet: float = 0.25) -> None:
        """Wait until no notification is due or being sent and the bot has been quiet."""
        deadline = time.monotonic() + within
        while True:
            busy = (
                self.fake.in_flight
                or self.fake.queued
                or self.driver.handling
                or await self._outbox_busy()
            )
            if not busy and time.monotonic() - self.fake.last_activity >= quiet:
                return
            if time.monotonic() > deadline:
                self.out("(the bot is still sending: press Enter in a moment to see the rest)")
                return
            await asyncio.sleep(0.05)

    async def _outbox_busy(self) -> bool:
        """A notification due now (or claimed by the sender, which holds it a minute)."""
        horizon = self.core.now() + timedelta(seconds=65)
        async with self.core.unit_of_work() as uow:
            return bool(await uow.outbox.pending(now=horizon, limit=1))

    async def send_text(self, text: str) -> None:
        place, user = self.place, self.persona.user_id
        if place.chat_id > 0:
            await self.act(lambda: self.fake.user_message(user, text))
        else:
            await self.act(
                lambda: self.fake.user_message_in(place.chat_id, user, text, place.thread)
            )

    async def press(self, wanted: str) -> None:
        found = self.newest_buttons()
        if found is None:
            self.out(f"(no buttons to press in {self.where(self.place)} yet)")
            return
        message, labels = found
        if wanted.isdigit():
            index = int(wanted) - 1
            if not 0 <= index < len(labels):
                self.out(
                    f"(no button [{wanted}]: the newest buttons here are [1] to [{len(labels)}])"
                )
                return
        else:
            found = _match(wanted, labels)
            if isinstance(found, str):
                shown = "   ".join(f"[{i + 1}] {label}" for i, label in enumerate(labels))
                self.out(f"({found} “{wanted}”; the newest buttons here: {shown})")
                return
            index = found
        inline = [
            b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row
        ]
        if index >= len(inline):  # a reply keyboard's key: its text is sent
            await self.send_text(labels[index])
            return
        button = inline[index]
        if "callback_data" not in button:
            self.out(f"(the button opens {button.get('url') or 'something outside the chat'})")
            return
        user, chat = self.persona.user_id, self.place.chat_id
        await self.act(
            lambda: self.fake.press(
                user, message["message_id"], button["callback_data"], chat_id=chat
            )
        )

    async def link(self, number: str | None) -> None:
        if self.place.chat_id < 0 or self.persona.role != "buyer":
            self.out("(/link is for a buyer, in their private chat)")
            return
        number = number or self.persona.order
        order = self.orders.get((number or "").upper())
        if order is None:
            self.out(f"(no order {number} in the sample; /who lists the buyers' orders)")
            return
        payload = order_link(self.core, order).split("?start=", 1)[1]
        await self.send_text(f"/start {payload}")

    async def media(self, command: str, rest: str) -> None:
        user, place = self.persona.user_id, self.place
        chat = place.chat_id if place.chat_id < 0 else None
        if command == "/photo":
            self.photos += 1
            content = sample_png(self.photos)
            await self.act(
                lambda: self.fake.user_photo(
                    user,
                    rest or None,
                    content=content,
                    chat_id=chat,
                    message_thread_id=place.thread,
                )
            )
        elif command == "/album":
            count = max(2, min(int(rest) if rest.isdigit() else 3, 10))
            self.albums += 1
            group = f"demo-album-{user}-{self.albums}"

            def album() -> None:
                for _ in range(count):
                    self.photos += 1
                    self.fake.user_photo(
                        user,
                        None,
                        group,
                        content=sample_png(self.photos),
                        chat_id=chat,
                        message_thread_id=place.thread,
                    )

            await self.act(album)
        elif chat is not None:
            self.out(f"(in the demo, {command} is sent from a private chat; /in private)")
        elif command == "/video":
            await self.act(lambda: self.fake.user_video(user, rest or None))
        else:
            await self.act(lambda: self.fake.user_sticker(user))

    # -------------------------------------------------------------------------- commands

    def who(self) -> None:
        self.out("The people in this demo (/as NAME talks as one of them):")
        for p in PEOPLE:
            mark = "*" if p.key == self.current else " "
            also = f" (or /as {', '.join(p.aliases)})" if p.aliases else ""
            if p.role == "buyer":
                role = "buyer"
            elif p.role == "seller":
                shop = self.core.config.shops[p.shop or ""]
                role = f"seller at {shop.name}"
                if shop.staff_chat_id is not None:
                    role += ", also in its staff group"
            else:
                role = "agent"
            self.out(f" {mark} {p.key:7} {p.first_name} ({p.language}), {role}: {p.about}{also}")
            order = self.orders.get(p.order or "")
            if order is not None:
                known = [f"order {order.number}"]
                known += [order.buyer.email or "", order.buyer.phone or ""]
                postal = order.shipping_address.postal_code if order.shipping_address else None
                known.append(f"postal code {postal}" if postal else "")
                self.out("             " + " · ".join(k for k in known if k))
        others = [
            f"seller {seller} of {shop.name}"
            for shop in self.core.config.shops.values()
            for seller in shop.sellers
            if seller not in self.by_id
        ]
        others += [
            f"agent {agent}"
            for agent in self.core.config.deployment.agents_all_shops
            if agent not in self.by_id
        ]
        if others:
            self.out(
                "Configured but not played here (what they receive is not shown): "
                f"{', '.join(others)}."
            )
        self.out(
            "A buyer links an order with /link (the order e-mail's link), or by typing its "
            "number and then the e-mail, the phone's last 4 digits or the postal code."
        )

    def switch(self, name: str) -> None:
        found = self.find_persona(name) if name else None
        if found is None:
            names = ", ".join(p.key for p in PEOPLE)
            said = f"nobody called “{name}” here" if name else "/as whom?"
            self.out(f"({said} /as one of: {names}; /who says who is who)")
            return
        self.current = found.key
        hint = ""
        if found.role == "agent" and self.place.thread is None and self.newest_topic():
            hint = "; /in topic writes in the newest case's topic"
        elif found.role == "seller" and self.staff_group(found) and self.place.chat_id > 0:
            hint = "; /in staff writes in the shop's staff group"
        where = self.where(self.place)
        self.out(f"(now talking as {found.first_name}, {found.role}, in {where}{hint})")

    def newest_topic(self) -> Place | None:
        if self.agents_chat_id is None:
            return None
        topics = self.fake.chats[self.agents_chat_id].topics
        return Place(self.agents_chat_id, max(topics)) if topics else None

    def move(self, target: str) -> None:
        """/in PLACE: where the current person writes."""
        p = self.persona
        wanted = _plain(target.strip())
        choices = ["private"]
        place: Place | None = None
        if wanted in ("private", "chat", "me", ""):
            place = Place(p.user_id)
        elif p.role == "seller" and self.staff_group(p) is not None:
            choices.append("staff")
            if wanted in ("staff", "group"):
                place = Place(self.staff_group(p) or 0)
        elif p.role == "agent" and self.agents_chat_id is not None:
            topics = self.fake.chats[self.agents_chat_id].topics
            matches = [t for t, topic in topics.items() if wanted in _plain(topic.name)]
            choices += ["group", "topic (the newest)"]
            choices += [self.topic_label(Place(self.agents_chat_id, t)) for t in topics]
            if wanted in ("group", "general"):
                place = Place(self.agents_chat_id)
            elif wanted == "topic":
                place = self.newest_topic()
            elif len(matches) == 1:
                place = Place(self.agents_chat_id, matches[0])
        if place is None:
            self.out(f"({p.first_name} can write in: {', '.join(choices)})")
            return
        self.places[p.key] = place
        self.out(f"(now writing in {self.where(place)})")

    async def handle(self, line: str) -> bool:
        """Do one line; False when the demo should end."""
        line = line.strip()
        if not line:
            self.flush()  # Enter: what arrived meanwhile (a timer's notification)
            return True
        if self.echo:
            self.out(f"{self.prompt()}{line}")
        command, _, rest = line.partition(" ")
        command, rest = command.lower(), rest.strip()
        pressed = re.fullmatch(r"\[\s*(.+?)\s*\]", line)
        if line.startswith("//"):
            await self.send_text(line[1:])
        elif pressed:
            await self.press(pressed.group(1))
        elif command not in DEMO_COMMANDS:
            await self.send_text(line)
            if line.isdigit() and len(line) <= 2 and self.newest_buttons() is not None:
                self.out(f"(sent to the bot as text; to press a button, type [{line}])")
        elif command in ("/quit", "/exit"):
            return False
        elif command == "/help":
            self.out(HELP)
        elif command == "/who":
            self.who()
        elif command == "/as":
            self.switch(rest)
        elif command == "/in":
            self.move(rest)
        elif command == "/link":
            await self.link(rest or None)
        else:
            await self.media(command, rest)
        return True


async def run_demo(
    *,
    data_dir: Path,
    script: list[str] | None = None,
    out: Callable[[str], None] = print,
    read: Callable[[str], str] = input,
    today: date | None = None,
) -> int:
    """Run the demo in ``data_dir`` (an absolute path); ``script``: commands to replay
    instead of asking. Returns the exit code."""
    from bot.app import open_app
    from core.services.orders import import_orders

    fake = FakeTelegram(bot_id=4242, token="4242:DEMO" + "x" * 32)
    fake.add_group(AGENTS_CHAT_ID, "Agents", is_forum=True)
    async with FakeTelegramServer(fake) as server:
        settings = load_settings(
            DATA_DIR=str(data_dir),
            DATABASE_URL=f"sqlite+aiosqlite:///{data_dir}/demo.sqlite3",
            BOT_TOKEN=fake.token,
            BOT_API_URL=server.url,
            AGENTS_CHAT_ID=str(AGENTS_CHAT_ID),
        )
        shift = (today or datetime.now(UTC).date()) - SAMPLE_DATE
        orders = {o.number.upper(): o for o in iter_orders(SAMPLE_ORDERS)}
        async with open_app(settings) as app:
            report = await import_orders(
                app.core,
                SAMPLE_ORDERS,
                transform=lambda order: shift_dates(order, timedelta(days=shift.days)),
            )
            config = app.config
        started = asyncio.Event()
        interactive = script is None and read is input and sys.stdin.isatty()
        async with open_app(settings, migrate=False) as reader:
            demo = Demo(fake, reader.core, out, orders=orders, echo=not interactive)
            add_staff(fake, config)
            bot_task = asyncio.create_task(
                run_polling(
                    settings,
                    handle_signals=False,
                    started=started,
                    handled=demo.driver.handled,
                    entered=demo.driver.entered,
                )
            )
            try:
                await _wait_until_polling(bot_task, started)
                await demo.settle()
                demo.seen_calls = len(fake.calls)  # the bot's start-up calls are not news
                for line in banner(server.url, report.orders_read, shift.days):
                    out(line)
                if script is not None:
                    for line in script:
                        if not line.strip().startswith("#") and not await demo.handle(line):
                            break
                    return 0
                while True:
                    prompt = demo.prompt() if interactive else ""
                    try:
                        line = await asyncio.to_thread(read, prompt)
                    except (EOFError, KeyboardInterrupt):
                        return 0
                    if not await demo.handle(line):
                        return 0
            finally:
                logging.getLogger("aiogram").setLevel(logging.CRITICAL)  # a quiet shutdown
                bot_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await bot_task


def banner(url: str, orders: int, days: int) -> list[str]:
    moved = (
        f"{orders} sample orders loaded (dates moved by {days} days). The samples describe "
        f"{SAMPLE_DATE:%d %b %Y}: every date is moved by the same number of days so that "
        "their stories (a lamp delivered ten days ago, a parcel now overdue) hold today."
    )
    return [
        f"Returns Desk demo: the real bot, against a fake Telegram at {url} "
        "(no token, no network).",
        moved,
        "You are Lucía, a buyer in Spain. What the bot sends to the others (sellers, an agent, "
        "other buyers) shows as it arrives; /who lists them, /as NAME talks as one of them.",
        "Buttons: [1] or [part of a label]. /help for the commands, /quit to leave.",
    ]


def add_staff(fake: FakeTelegram, config: Config) -> None:
    """Every seller, agent and staff group of the configuration, so that the bot's
    notifications to the shops reach somebody (the demo's own people keep their names)."""
    for shop in config.shops.values():
        for seller in shop.sellers:
            if seller not in fake.users:
                fake.add_user(seller, f"{shop.name} seller", shop.language)
        if shop.staff_chat_id is not None and shop.staff_chat_id not in fake.chats:
            fake.add_group(shop.staff_chat_id, f"{shop.name} staff")
    agents = {a for shop in config.shops.values() for a in shop.agents}
    for agent in sorted({*config.deployment.agents_all_shops, *agents}):
        if agent not in fake.users:
            fake.add_user(agent, "Support agent", "en")


async def _wait_until_polling(bot_task: asyncio.Task[None], started: asyncio.Event) -> None:
    """The bot is up once it starts polling; if it died instead, say why."""
    waiting = asyncio.create_task(started.wait())
    try:
        await asyncio.wait({bot_task, waiting}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
    if bot_task.done():
        bot_task.result()  # raises what stopped it
        raise RuntimeError("the bot stopped before it started polling")
    if not started.is_set():
        raise RuntimeError("the bot did not start polling within 30 seconds")


__all__ = ["PEOPLE", "Demo", "DemoDriver", "Persona", "run_demo", "sample_png", "shift_dates"]

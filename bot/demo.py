"""``returns-desk demo``: the real bot against a fake Telegram on this machine, no token needed.

It starts the fake Bot API on loopback, imports the sample orders (dates shifted so that the
sample scenarios are as true today as on the day they were written), runs the bot through the
same code path as ``returns-desk run``, and lets you chat in the terminal as a buyer (or
switch to the seller or an agent). ``--script FILE`` replays commands and prints the
transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import shlex
import struct
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.config import Settings, load_settings
from bot.receiving.runner import run_polling
from bot.testing import FakeTelegram, FakeTelegramServer, Person, PollingDriver
from core.orders.model import Order
from core.orders.numbers import normalize_order_number
from core.policy.config import Config
from core.services.linking import order_link

SAMPLE_DATE = date(2026, 11, 22)  # the day the sample orders describe (shared/data/README.md)
SAMPLE_ORDERS = Path(__file__).resolve().parent.parent / "core" / "sample" / "orders.sample.json"

PEOPLE = {
    # name: (Telegram id, first name, language, who)
    "buyer": (910021, "Lucía", "es", "a buyer in Spain (order AUR-10021, a damaged lamp)"),
    "chinese": (910028, "李伟", "zh", "a buyer in Singapore (order AUR-10028, in transit)"),
    "russian": (905501, "Дмитрий", "ru", "a buyer in Russia (order NV-5501, dead earbud)"),
    "seller": (600001, "Wang", "zh", "Aurora's seller"),
    "agent": (700001, "Sam", "en", "a support agent"),
}
DEFAULT_LINKS = {"buyer": "AUR-10021", "chinese": "AUR-10028", "russian": "NV-5501"}

HELP = """Commands:
  any text          send it to the bot as the current person (/start, /cases, /help too)
  1, 2, …           press that button of the bot's last message
  /photo [caption]  send a sample photo          /album N   send an album of N photos
  /video            send a short sample video    /sticker   send a sticker
  /link ORDER       open the order e-mail link (links the buyer to ORDER)
  /as NAME          talk as another person: buyer, chinese, russian, seller, agent
  /who              who is who                   /quit      leave the demo"""


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
    (:meth:`handled`) and nothing is in flight; without that word from the bot (an update
    dropped before the handlers), once the bot made no call for ``quiet`` seconds."""

    def __init__(
        self, fake: FakeTelegram, *, quiet: float = 0.4, settle: float = 0.05, timeout: float = 20
    ) -> None:
        super().__init__(fake, quiet=settle, timeout=timeout)
        self.fallback_quiet = quiet
        self.done: Counter[int] = Counter()

    def handled(self, update_id: int) -> None:
        self.done[update_id] += 1

    async def deliver(self, *, concurrent: bool | None = None) -> None:
        sent = Counter(update["update_id"] for update in self.fake.pending_updates())
        before = self.done.copy()
        deadline = time.monotonic() + self.timeout
        while True:
            await super().deliver(concurrent=concurrent)  # confirmed, idle for ``settle`` s
            if all(self.done[i] - before[i] >= n for i, n in sent.items()):
                return
            if time.monotonic() - self.fake.last_activity >= self.fallback_quiet:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot did not finish within {self.timeout} s")
            await asyncio.sleep(0.01)


class Demo:
    """People in a fake Telegram, and what the bot shows them."""

    def __init__(self, fake: FakeTelegram, settings: Settings, out: Callable[[str], None]) -> None:
        self.fake = fake
        self.settings = settings
        self.out = out
        self.driver = DemoDriver(fake, quiet=0.4, timeout=20.0)
        self.people = {
            name: Person(fake, self.driver, user_id, first, language)
            for name, (user_id, first, language, _) in PEOPLE.items()
        }
        self.current = "buyer"
        self.photos = 0

    @property
    def person(self) -> Person:
        return self.people[self.current]

    def show(self, messages: Iterable[dict[str, Any]]) -> None:
        for message in messages:
            text = message.get("text") or message.get("caption") or "[media]"
            self.out(f"bot › {text}")
            numbered = [label for row in FakeTelegram.buttons(message) for label, _ in row]
            if numbered:
                self.out("      " + "   ".join(f"[{i}] {b}" for i, b in enumerate(numbered, 1)))

    async def link(self, number: str) -> list[dict[str, Any]]:
        from bot.app import open_app

        async with open_app(self.settings, migrate=False) as app:
            async with app.core.unit_of_work() as uow:
                found = await uow.orders.find_by_key(normalize_order_number(number))
            if not found:
                self.out(f"(no order {number} in the sample)")
                return []
            payload = order_link(app.core, found[0]).split("?start=", 1)[1]
        return await self.person.send(f"/start {payload}")

    async def handle(self, line: str) -> bool:
        """Do one command; False when the demo should end."""
        line = line.strip()
        if not line:
            return True
        self.out(f"{self.person.first_name} › {line}")
        words = shlex.split(line) if line.startswith("/") else [line]
        command = words[0].lower()
        answer: list[dict[str, Any]] = []
        if command in ("/quit", "/exit"):
            return False
        if command == "/help":
            self.out(HELP)
        elif command == "/who":
            for name, (user_id, first, language, who) in PEOPLE.items():
                mark = "*" if name == self.current else " "
                self.out(f" {mark} {name:8} {first} ({language}, id {user_id}): {who}")
        elif command == "/as" and len(words) == 2 and words[1] in self.people:
            self.current = words[1]
            self.out(f"(now talking as {self.person.first_name})")
        elif command == "/link" and len(words) == 2:
            answer = await self.link(words[1])
        elif command == "/photo":
            self.photos += 1
            caption = " ".join(words[1:]) or None
            answer = await self.person.send_photo(caption, content=sample_png(self.photos))
        elif command == "/album":
            count = int(words[1]) if len(words) > 1 and words[1].isdigit() else 3
            answer = await self.person.send_album(max(2, min(count, 10)))
        elif command == "/video":
            answer = await self.person.send_video()
        elif command == "/sticker":
            answer = await self.person.send_sticker()
        elif line.isdigit():
            buttons = self.person.buttons() if self.person.messages() else []
            index = int(line) - 1
            if not 0 <= index < len(buttons):
                self.out(f"(no button {line}: the last message has {len(buttons)})")
                return True
            answer = await self.person.press(buttons[index])
        else:
            answer = await self.person.send(line)
        self.show(answer)
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
    async with FakeTelegramServer(fake) as server:
        settings = load_settings(
            DATA_DIR=str(data_dir),
            DATABASE_URL=f"sqlite+aiosqlite:///{data_dir}/demo.sqlite3",
            BOT_TOKEN=fake.token,
            BOT_API_URL=server.url,
        )
        shift = (today or datetime.now(UTC).date()) - SAMPLE_DATE
        async with open_app(settings) as app:
            report = await import_orders(
                app.core,
                SAMPLE_ORDERS,
                transform=lambda order: shift_dates(order, timedelta(days=shift.days)),
            )
            config = app.config
        started = asyncio.Event()
        demo = Demo(fake, settings, out)
        bot_task = asyncio.create_task(
            run_polling(
                settings, handle_signals=False, started=started, handled=demo.driver.handled
            )
        )
        add_staff(fake, config)
        try:
            await _wait_until_polling(bot_task, started)
            out(f"Returns Desk demo: the bot runs against a fake Telegram at {server.url}")
            out(f"{report.orders_read} sample orders loaded (dates moved by {shift.days} days).")
            out("You are Lucía, a buyer in Spain. Type /help for commands, /quit to leave.")
            if script is not None:
                for line in script:
                    if not line.strip().startswith("#") and not await demo.handle(line):
                        break
                return 0
            while True:
                try:
                    line = await asyncio.to_thread(read, f"{demo.person.first_name} › ")
                except (EOFError, KeyboardInterrupt):
                    return 0
                if not await demo.handle(line):
                    return 0
        finally:
            logging.getLogger("aiogram").setLevel(logging.CRITICAL)  # a quiet shutdown
            bot_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await bot_task


def add_staff(fake: FakeTelegram, config: Config) -> None:
    """Every seller, agent and staff group of the configuration, so that the bot's
    notifications to the shops reach somebody (the demo's own people keep their names)."""
    for shop in config.shops.values():
        for seller in shop.sellers:
            if seller not in fake.users:
                fake.add_user(seller, f"{shop.name} seller", shop.language)
        if shop.staff_chat_id is not None and shop.staff_chat_id not in fake.chats:
            fake.add_group(shop.staff_chat_id, f"{shop.name} staff")
    for agent in config.deployment.agents:
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


__all__ = ["Demo", "DemoDriver", "run_demo", "shift_dates"]

"""End to end: the real bot process (``python -m bot run``, the code path of ``returns-desk
run``) polls a fake Telegram served over HTTP from the test process; people talk to it.

* The sample orders are imported once per test session with ``returns-desk import-orders``,
  from a copy whose dates are moved so that the newest scenario date is as far from today as it
  was from 2026-11-22 (the bot uses the real clock). Each test copies that data directory.
* ``e2e`` (fixture): the fake, its HTTP server, ``DATA_DIR``, ``e2e.start_bot()`` /
  ``e2e.kill_bot()`` and ``e2e.person(...)``. Every bot process is killed when the test ends,
  passed or failed.
* :class:`BotDriver` is a :class:`PollingDriver` that also waits until the bot process logged
  every delivered update as handled (aiogram logs ``Update id=N is handled`` at INFO), so a
  flood-control wait or a slow database write is waited for, not guessed with a long quiet
  period.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.app import open_app
from bot.config import load_settings
from core.cases.model import Case
from core.orders.numbers import normalize_order_number
from core.persistence.repositories.users import TelegramUser
from core.persistence.unit_of_work import UnitOfWork
from core.policy.config import load_config
from core.services.link_tokens import make_order_token
from tests.support import FakeTelegram, FakeTelegramServer, Person, PollingDriver

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_ORDERS = ROOT / "core" / "sample" / "orders.sample.json"
SAMPLE_DAY = date(2026, 11, 22)  # the day core/sample/orders.sample.json describes
DB_NAME = "returns-desk.sqlite3"
TOKEN = "4242:E2E" + "x" * 32
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$")
HANDLED = re.compile(r"Update id=(\d+) is (?:not )?handled")
LOG_LINE_START = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|--- ")  # a new log record or log file
START_TIMEOUT = 30.0
T = TypeVar("T")


def clean_env(**values: str) -> dict[str, str]:
    """This environment (which has no Returns Desk setting: tests/conftest.py removed them
    for the session), plus ``values``."""
    return {**os.environ, **values}


def run_demo(
    command: list[str], script: str | Path, data_dir: Path, *, cwd: Path, timeout: float
) -> str:
    """``<command> demo --script <script> --data-dir <data_dir>`` run to its end: it must
    exit 0 with nothing on stderr (no error, no traceback, no refused notification).
    Returns the transcript it printed."""
    result = subprocess.run(
        [*command, "demo", "--script", str(script), "--data-dir", str(data_dir)],
        cwd=cwd,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no error, no traceback, no refused notification
    return result.stdout


def shift_iso_dates(value: Any, by: timedelta) -> Any:
    """A JSON value with every ISO 8601 datetime string moved by ``by`` (same format)."""
    if isinstance(value, dict):
        return {key: shift_iso_dates(item, by) for key, item in value.items()}
    if isinstance(value, list):
        return [shift_iso_dates(item, by) for item in value]
    if isinstance(value, str) and ISO_DATETIME.match(value):
        moved = datetime.fromisoformat(value.replace("Z", "+00:00")) + by
        text = moved.isoformat()
        return text.replace("+00:00", "Z") if value.endswith("Z") else text
    return value


def sample_shift(today: date | None = None) -> timedelta:
    return timedelta(days=((today or datetime.now(UTC).date()) - SAMPLE_DAY).days)


def start_payload(shop: str, number: str) -> str:
    """The /start payload of the link in the order e-mail (``returns-desk link``)."""
    secret = load_config().shop(shop).link_secret
    return make_order_token(shop, normalize_order_number(number), secret)


async def send_album_of(person: Person, contents: list[bytes]) -> list[dict[str, Any]]:
    """An album whose photos hold these bytes (one update per photo, one media group); the
    bot's messages that came after it."""
    chat = person.fake.chats[person.id]
    before = chat.last_message_id
    group = f"album-{person.id}-{len(person.fake.update_log)}"
    for content in contents:
        person.fake.user_photo(person.id, None, group, content=content)
    await person.driver.deliver()
    return [m for m in person.messages() if m["message_id"] > before]


# the lamp return's buttons and words: Spanish, or English for a language with no catalogue
LAMP_WORDS = {
    "es": (
        "Devolución o reembolso",
        "Llegó dañado",
        "La base llegó rota",
        "3 de al menos 3",
        "Listo",
        "Reembolso",
    ),
    "en": (
        "Return or refund",
        "Arrived damaged",
        "The base is broken",
        "Received 3 of at least 3",
        "Done",
        "Refund",
    ),
}


async def lamp_return_up_to_confirm(
    person: Person,
    order: str,
    photos: list[bytes],
    midway: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """An Aurora lamp that arrived damaged, reported from the order e-mail's link with a
    description and an album of three photos, a refund wanted: up to the summary with its
    Confirm button. ``midway`` runs once the photos are in."""
    menu, damaged, story, received, done, refund = LAMP_WORDS[
        "es" if person.language == "es" else "en"
    ]
    await person.send(f"/start {start_payload('aurora', order)}")
    await person.press(menu)
    await person.press(order)
    await person.press(damaged)
    await person.send(story)
    await send_album_of(person, photos)
    assert received in person.last()
    if midway is not None:
        await midway()
    await person.press(done)
    await person.press(refund)


@pytest.fixture(scope="session")
def imported_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DATA_DIR with the sample orders imported by ``returns-desk import-orders``, dates
    shifted to today; tests copy it."""
    base = tmp_path_factory.mktemp("e2e-orders")
    shifted = base / "orders.shifted.json"
    sample = json.loads(SAMPLE_ORDERS.read_text(encoding="utf-8"))
    shifted.write_text(
        json.dumps(shift_iso_dates(sample, sample_shift()), ensure_ascii=False), encoding="utf-8"
    )
    data_dir = base / "data"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "import-orders", "--quiet", str(shifted)],
        cwd=base,
        env=clean_env(DATA_DIR=str(data_dir)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "17 orders" in result.stdout, result.stdout
    return data_dir


class BotProcesses:
    """``python -m bot run`` processes against one fake Telegram and one DATA_DIR."""

    def __init__(
        self,
        fake: FakeTelegram,
        url: str,
        data_dir: Path,
        cwd: Path,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.fake = fake
        self.url = url
        self.data_dir = data_dir
        self.cwd = cwd
        self.settings = dict(settings or {})  # e.g. DATABASE_URL and REDIS_URL
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    @property
    def current(self) -> subprocess.Popen[bytes]:
        assert self.processes, "no bot was started"
        return self.processes[-1]

    def spawn(
        self, crash_at: str | None = None, webhook: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen[bytes], Path]:
        """Start a bot process (logging to a file of its own); it is not up yet. With
        ``crash_at`` it is the real bot that kills itself there (``crashing_bot.py``); with
        ``webhook`` settings it runs ``run --webhook``."""
        log = self.cwd / f"bot-{len(self.logs) + 1}.log"
        self.logs.append(log)
        # the tests run on the bundled sample shops, which `run` refuses without being asked
        command = [sys.executable, "-m", "bot", "run", "--sample-config"]
        extra = dict(self.settings)
        if crash_at is not None:
            command = [
                sys.executable,
                str(Path(__file__).with_name("crashing_bot.py")),
                "run",
                "--sample-config",
            ]
            extra.update(CRASH_AT=crash_at, PYTHONPATH=str(ROOT))
        if webhook is not None:
            command.append("--webhook")
            extra.update(webhook)
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                cwd=self.cwd,
                env=clean_env(
                    DATA_DIR=str(self.data_dir),
                    BOT_TOKEN=self.fake.token,
                    BOT_API_URL=self.url,
                    LOG_LEVEL="INFO",
                    **extra,
                ),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process, log

    async def start(
        self, crash_at: str | None = None, webhook: dict[str, str] | None = None
    ) -> None:
        """Start a bot process and wait until it takes updates."""
        process, log = self.spawn(crash_at, webhook)
        deadline = time.monotonic() + START_TIMEOUT
        while "Returns Desk is running" not in log.read_text(encoding="utf-8", errors="replace"):
            if process.poll() is not None:
                raise AssertionError(f"the bot exited with {process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot did not start polling:\n{self.log()}")
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the machine or container dies."""
        process = self.current
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - the kernel did not comply
                pass

    def log(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(encoding='utf-8', errors='replace')}"
            for path in self.logs
            if path.exists()
        )

    def handled(self) -> collections.Counter[int]:
        """How many times the bot processes logged each update id as handled."""
        counts: collections.Counter[int] = collections.Counter()
        for path in self.logs:
            text = path.read_text(encoding="utf-8", errors="replace")
            counts.update(int(found) for found in HANDLED.findall(text))
        return counts

    def errors(self) -> list[str]:
        """Log lines of errors and tracebacks (a handler that failed, a refused call)."""
        found: list[str] = []
        in_traceback = False
        for line in self.log().splitlines():
            if " ERROR " in line or " CRITICAL " in line:
                found.append(line)
                in_traceback = False
            elif "Traceback" in line:
                found.append(line)
                in_traceback = True
            elif in_traceback and not LOG_LINE_START.match(line):
                found[-1] += "\n" + line  # the traceback's body, so a failure shows its cause
            else:
                in_traceback = False
        return found


class BotDriver(PollingDriver):
    """A :class:`PollingDriver` that also waits until every update delivered so far was
    logged as handled by a bot process."""

    def __init__(
        self, fake: FakeTelegram, bots: BotProcesses, *, quiet: float = 0.05, timeout: float = 15
    ) -> None:
        super().__init__(fake, quiet=quiet, timeout=timeout)
        self.bots = bots

    def unhandled(self) -> list[int]:
        """Updates no process has handled yet. A copy Telegram delivers again is not handled
        again (the inbox keeps it once), so once per update id is enough."""
        made = {update["update_id"] for update in self.fake.update_log}
        handled = self.bots.handled()
        return sorted(update_id for update_id in made if handled[update_id] < 1)

    async def deliver(self, *, concurrent: bool | None = None) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            await super().deliver(concurrent=concurrent)
            missing = self.unhandled()
            if not missing:
                return
            if self.bots.processes and self.bots.current.poll() is not None:
                raise AssertionError(f"the bot process died:\n{self.bots.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"updates {missing} not handled within {self.timeout} s:\n{self.bots.log()}"
                )
            await asyncio.sleep(0.02)


@dataclass
class E2E:
    fake: FakeTelegram
    server_url: str
    data_dir: Path
    bots: BotProcesses
    driver: BotDriver

    def person(self, user_id: int, first_name: str, language: str | None) -> Person:
        """Somebody who talks to the bot process (through :class:`BotDriver`)."""
        return Person(self.fake, self.driver, user_id, first_name, language)

    async def start_bot(self, crash_at: str | None = None) -> None:
        await self.bots.start(crash_at)

    def kill_bot(self) -> None:
        self.bots.kill()

    def evidence_file(self, sha256: str) -> Path:
        """Where the evidence store keeps a file (DATA_DIR/evidence/ab/cd/abcd…)."""
        return self.data_dir / "evidence" / sha256[:2] / sha256[2:4] / sha256

    async def _read(self, read: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Read DATA_DIR's database with the core's repositories (as the bot wrote it)."""
        database = self.bots.settings.get("DATABASE_URL")
        extra = {"DATABASE_URL": database} if database else {}
        settings = load_settings(DATA_DIR=str(self.data_dir), **extra)
        async with open_app(settings, migrate=False) as app:
            async with app.core.unit_of_work() as uow:
                return await read(uow)

    async def cases_of(self, user_id: int) -> list[Case]:
        """The buyer's cases as stored in DATA_DIR's database."""
        return await self._read(lambda uow: uow.cases.list_for_buyer(user_id))

    async def user(self, user_id: int) -> TelegramUser | None:
        return await self._read(lambda uow: uow.users.get(user_id))

    async def audit(self, case: Case) -> list[Any]:
        assert case.id is not None
        return await self._read(lambda uow: uow.cases.audit_trail(case.id))

    def failed_calls(self, *, ignore: Iterable[int] = ()) -> list[str]:
        """Bot API calls that the fake refused (other than the expected statuses)."""
        skip = set(ignore)
        return [
            f"{call.method}: {call.error.code} {call.error.description}"
            for call in self.fake.calls
            if call.error is not None and call.error.code not in skip
        ]


def add_staff(fake: FakeTelegram) -> None:
    """The configured sellers, agents and staff groups, so that the bot's notifications to
    the shops reach somebody (as in production)."""
    config = load_config()
    for shop in config.shops.values():
        for seller in shop.sellers:
            fake.add_user(seller, f"Seller {seller}", shop.language)
        if shop.staff_chat_id is not None:
            fake.add_group(shop.staff_chat_id, f"{shop.name} staff")
    agents = {a for shop in config.shops.values() for a in shop.agents}
    for agent in sorted({*config.deployment.agents_all_shops, *agents}):
        fake.add_user(agent, f"Agent {agent}", "en")


@pytest.fixture
async def e2e(tmp_path: Path, imported_data: Path) -> AsyncIterator[E2E]:
    data_dir = tmp_path / "data"
    shutil.copytree(imported_data, data_dir)
    fake = FakeTelegram(bot_id=4242, token=TOKEN)
    add_staff(fake)
    async with FakeTelegramServer(fake) as server:
        bots = BotProcesses(fake, server.url, data_dir, tmp_path)
        try:
            yield E2E(fake, server.url, data_dir, bots, BotDriver(fake, bots))
        finally:
            bots.stop_all()


async def outbox_of(e2e: E2E, case: Case) -> list[Any]:
    """The case's notifications in DATA_DIR's outbox (pending, sent, given up), oldest first."""
    case_id = case.id
    assert case_id is not None
    return await e2e._read(lambda uow: uow.outbox.list_for_case(case_id))

"""Many buyers at once: the real bot process under load, against a fake Telegram over HTTP.

N simulated buyers (asyncio tasks in this process, each a real user of the fake Telegram)
walk through the complete return conversation at the same time, each waiting for the bot's
answer to a step before taking the next, as a person does: the order link from the e-mail
(``/start o…``), "Return or refund", the order, "Arrived damaged", a description, an album of
3 photos, "Done", "Refund", "Confirm and send", then "Main menu" → "My cases". Every answer is
checked against the screen the step must show. The bot is the real ``python -m bot run``
(``LOG_LEVEL=WARNING``) in its own process, on a database filled with the real
``import-orders`` command. Then a bare aiogram bot (``benchmarks/echo_bot.py``) gets the same
buyers and the same number of updates, as the yardstick.

    python benchmarks/load.py --config sqlite --quick    # 200 buyers, 1,000 open conversations
    python benchmarks/load.py --quick --offered 100 --think 1    # another open-loop load
    python benchmarks/load.py                            # 200 buyers, 10,000 open conversations
    python benchmarks/load.py --config all               # + PostgreSQL/Redis, 1 and 2 processes
    python benchmarks/load.py --quick --profile /tmp/prof    # + py-spy of the bot under load

Figures per configuration, in three phases:

* closed loop (saturation): ``--buyers`` buyers without think time. Updates/s sustained
  (updates the buyers sent / time from the first update queued to the last answer), latency per
  update (update queued in the fake → the first Bot API call to that chat after it:
  sendMessage, editMessageText, answerCallbackQuery…) at p50/p95/p99, errors (a step without
  its answer within ``--step-timeout`` or with another screen), the bot's CPU time per update
  (``/proc/<pid>/stat``), its peak resident memory (VmHWM), and the throughput as a ratio of
  the echo bot's.
* open loop (what a buyer feels): new buyers arrive as a Poisson process so that ``--offered``
  updates/s are offered, each pausing ``--think`` s on average (exponential) between steps;
  after a ramp (not measured) the updates of ``--open-seconds`` are measured: offered and
  achieved rate, p50/p95/p99 of the first answer, errors. Then the buyers still mid-return
  finish it without think time (the drain, not measured).
* memory: ``--memory-conversations`` buyers left in the middle of a return (at the description
  question), then the bot's VmRSS.

Targets are printed with PASS/FAIL (the CPU per update as a soft aim); the exit code is 0 anyway.

Configurations: ``sqlite`` (one process, long polling, as the e2e tests run it); ``pg1`` and
``pg2``: PostgreSQL (a fresh schema per run) and Redis, one or two processes in webhook mode
behind ``bot.testing.balancer.RoundRobinBalancer``. ``--config all`` skips, with the reason,
a configuration whose prerequisites are missing.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import inspect
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.config import without_settings  # noqa: E402
from bot.testing import FakeApiError, FakeTelegram, FakeTelegramServer  # noqa: E402
from bot.testing.postgres import fresh_schema  # noqa: E402
from core.orders.numbers import normalize_order_number  # noqa: E402
from core.policy.config import Config, load_config  # noqa: E402
from core.services.link_tokens import make_order_token  # noqa: E402

# ── what is measured, and against what ──────────────────────────────────────────────────────

TARGET_UPDATES_PER_S = 300.0  # sqlite, closed loop, sustained
TARGET_BUYERS = 200  # the closed loop's buyers (the default of --buyers)
TARGET_ECHO_RATIO = 0.30  # sqlite, of the echo bot's throughput in the same run
AIM_CPU_MS = 3.0  # bot CPU per update: a soft target (printed, not PASS/FAIL)
TARGET_OPEN_P99_MS = 250.0  # open loop, first answer
TARGET_OFFERED = 150.0  # updates/s offered in the open loop (the default of --offered)
TARGET_RSS_OVER_ECHO_MB = 60.0  # VmRSS with TARGET_CONVERSATIONS open ≤ echo's peak + this
TARGET_CONVERSATIONS = 10_000
TARGET_PG1_UPDATES_PER_S = 250.0  # one webhook process, PostgreSQL + Redis
TARGET_PG2_SCALE = 1.5  # two processes ÷ one
OPEN_SEED = 19  # the open loop's arrival times: the same in every run (think times: seeded too)
OPEN_RAMP_FACTOR = 1.3  # ramp = this × a conversation's mean think time, before measuring

CONFIGS = ("sqlite", "pg1", "pg2")
SAMPLE_CONFIG = ROOT / "core" / "sample" / "shops.toml"
ECHO_BOT = ROOT / "benchmarks" / "echo_bot.py"
SHOP = "aurora"  # damaged: 3 photos; the lamp is under auto_approve_below, so it is approved
ITEM = {
    "sku": "LMP-NORD-01",
    "title": "Nordic oak table lamp",
    "category": "lighting",
    "quantity": 1,
    "unit_price": "39.90",
    "supplier": "sz-bright",
}
NUMBER = "LD-{:06d}"  # order numbers of the synthetic book
BOT_ID = 4242
TOKEN = f"{BOT_ID}:LOAD" + "x" * 32
FIRST_BUYER_ID = 5_000_001
WARMUP_BUYERS = 10  # not measured: first statements compiled, caches filled
ECHO_ROUNDS = 3  # the echo bot's load takes seconds: the median of a few rounds
PHOTO_SIZE = (1280, 960)  # the fake makes a ~60 KB original plus thumbnails
GRACE = 1.0  # s to wait for the right screen once the expected number of screens came
START_TIMEOUT = 60.0
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
# Bot API calls that count as "the bot answered" (the first one to the chat after an update);
# the screen methods are the ones that change what the buyer sees.
SCREEN_METHODS = frozenset(
    name.lower()
    for name in (
        "sendMessage",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
        "sendPhoto",
        "sendVideo",
        "sendDocument",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
    )
)
ANSWER_METHODS = SCREEN_METHODS | {"answercallbackquery", "deletemessage"}
CASE_OPENED = re.compile(r"Your case (R-\d{4}-\d{4,}) is open")


# ── the fake Telegram, with the clock this benchmark needs ──────────────────────────────────


class MeasuredTelegram(FakeTelegram):
    """A :class:`FakeTelegram` that times the first answer to each update and wakes the buyer
    who waits in that chat. Everything else is the fake's (its code is not changed)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # per chat: updates not answered yet, oldest first (queued at, phase, step)
        self.pending: dict[int, deque[tuple[float, Phase, str]]] = defaultdict(deque)
        self.screens: Counter[int] = Counter()  # screen calls per chat, ever
        self.waiters: dict[int, asyncio.Event] = {}
        self.query_chats: dict[str, int] = {}  # callback_query_id → chat
        self.polls = 0  # getUpdates calls received
        self.api_errors: Counter[str] = Counter()
        self.methods: Counter[str] = Counter()  # Bot API calls by method (getUpdates too)
        self.keep_update_log = True

    async def call(
        self,
        method: str,
        params: Any = None,
        files: Any = None,
        *,
        token: str | None = None,
    ) -> Any:
        arrived = time.perf_counter()
        name = method.lower()
        self.methods[method] += 1
        chat = self._chat_of(name, params) if name in ANSWER_METHODS else None
        if chat is not None:
            pending = self.pending.get(chat)
            if pending and pending[0][0] <= arrived:
                queued, phase, step = pending.popleft()
                phase.answered(step, queued, arrived)
        elif name == "getupdates":
            self.polls += 1
        try:
            return await super().call(method, params, files, token=token)
        except FakeApiError as error:
            self.api_errors[f"{method}: {error.code} {error.description}"] += 1
            raise
        finally:
            if chat is not None:
                if name in SCREEN_METHODS:
                    self.screens[chat] += 1
                waiter = self.waiters.get(chat)
                if waiter is not None:
                    waiter.set()
            if len(self.calls) > 20_000:  # a log nobody reads here: keep memory flat
                del self.calls[:10_000]

    def _chat_of(self, name: str, params: Any) -> int | None:
        if not params:
            return None
        if name == "answercallbackquery":
            return self.query_chats.get(str(params.get("callback_query_id")))
        try:
            return int(str(params.get("chat_id")))
        except ValueError:
            return None

    def trim_logs(self) -> None:
        self.calls.clear()
        if not self.keep_update_log:
            self.update_log.clear()


def add_staff(fake: FakeTelegram, config: Config) -> None:
    """The configured sellers, agents and staff groups (the bot notifies them of new cases)."""
    for shop in config.shops.values():
        for seller in shop.sellers:
            fake.add_user(seller, f"Seller {seller}", shop.language)
        if shop.staff_chat_id is not None:
            fake.add_group(shop.staff_chat_id, f"{shop.name} staff")
    agents = {*config.deployment.agents_all_shops}
    agents.update(agent for shop in config.shops.values() for agent in shop.agents)
    for agent in sorted(agents):
        fake.add_user(agent, f"Agent {agent}", "en")


# ── phases: what the buyers did and how the bot answered ────────────────────────────────────


@dataclass
class Phase:
    name: str
    buyers: int = 0
    completed: int = 0
    sent: int = 0
    first_queued: float = math.inf
    last_answer: float = 0.0
    latencies: list[float] = field(default_factory=list)  # s, update → first answer
    by_step: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    screens: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    failed: list[tuple[Buyer, Step]] = field(default_factory=list)  # where buyers gave up
    late: int = 0  # of those, the right screen came after the timeout
    never: int = 0  # still no right screen after the settle time
    unanswered: int = 0  # updates without any answer after the settle time
    bot_cpu: float = 0.0  # s of CPU, all bot processes
    own_cpu: float = 0.0  # s of CPU of this process (fake + buyers)
    cpu_wall: float | None = None  # s over which the CPU was measured (default: wall)
    api_calls: Counter[str] = field(default_factory=Counter)  # the bot's Bot API calls
    last_first_answer: float = 0.0  # perf_counter of the latest first answer

    def answered(self, step: str, queued: float, arrived: float) -> None:
        seconds = arrived - queued
        self.latencies.append(seconds)
        self.by_step[step].append(seconds)
        self.last_first_answer = max(self.last_first_answer, arrived)

    def error(self, step: str, what: str, buyer: int) -> None:
        kind = what.partition(" (")[0].partition(":")[0]
        self.errors[f"{kind} at {step!r}"] += 1
        if len(self.samples) < 5:
            self.samples.append(f"buyer {buyer}, step {step!r}: {what}")

    @property
    def wall(self) -> float:
        return max(self.last_answer - self.first_queued, 1e-9)

    @property
    def rate(self) -> float:
        return self.sent / self.wall if self.sent else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def cpu_ms_per_update(self) -> float:
        """The bot processes' CPU time (user + system) over the phase ÷ the updates sent."""
        return self.bot_cpu / self.sent * 1000 if self.sent else math.nan

    def percentile_ms(self, p: float, values: Sequence[float] | None = None) -> float:
        data = sorted(self.latencies if values is None else values)
        return percentile(data, p) * 1000 if data else math.nan


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, min(len(sorted_values), math.ceil(p / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


class StepError(Exception):
    pass


async def settle(phase: Phase, fake: MeasuredTelegram, seconds: float) -> None:
    """After a phase with failed steps: wait up to ``seconds`` for their right screens (and
    for their updates' first answers, still timed), then count late ones and missing ones."""
    deadline = time.monotonic() + seconds

    def shown(buyer: Buyer, step: Step) -> bool:
        return step.expect(buyer, buyer.last_text())

    while time.monotonic() < deadline:
        waiting = any(fake.pending.get(buyer.id) for buyer, _ in phase.failed)
        if not waiting and all(shown(buyer, step) for buyer, step in phase.failed):
            break
        await asyncio.sleep(0.2)
    phase.late = sum(shown(buyer, step) for buyer, step in phase.failed)
    phase.never = len(phase.failed) - phase.late


@dataclass(frozen=True)
class Step:
    name: str
    act: Callable[[Buyer], int]  # makes the step's updates; returns how many
    expect: Callable[[Buyer, str], bool]  # on the text of the bot's newest message to the buyer
    screens: int = 1  # screen calls (messages, edits) the step's answer takes


class Buyer:
    """One person in their private chat with the bot, acting on the fake directly (cheap: no
    copies of the chat), waking when the bot calls the API for this chat."""

    def __init__(
        self, fake: MeasuredTelegram, user_id: int, number: str = "", payload: str = ""
    ) -> None:
        self.fake = fake
        self.id = user_id
        self.number = number
        self.payload = payload
        self.case_number: str | None = None
        self.albums = 0
        fake.add_user(user_id, f"Buyer {user_id - FIRST_BUYER_ID + 1}", "en")
        self.chat = fake.chats[user_id]
        self.bot_id = fake.bot_user["id"]
        self.waiter = fake.waiters.setdefault(user_id, asyncio.Event())

    # -- acting

    def send(self, text: str) -> int:
        self.fake.user_message(self.id, text)
        return 1

    def album(self, photos: int) -> int:
        self.albums += 1
        group = f"album-{self.id}-{self.albums}"
        for _ in range(photos):
            self.fake.user_photo(self.id, None, group, PHOTO_SIZE)
        return photos

    def press(self, label: str, *, prefix: bool = False) -> int:
        """Press the inline button with this label (or starting with it) on the newest bot
        message that has one."""
        for message in reversed(self.chat.messages.values()):
            if message["from"]["id"] != self.bot_id:
                continue
            for row in (message.get("reply_markup") or {}).get("inline_keyboard") or ():
                for button in row:
                    text = button["text"]
                    if (text == label or (prefix and text.startswith(label))) and (
                        "callback_data" in button
                    ):
                        update = self.fake.press(
                            self.id, message["message_id"], button["callback_data"]
                        )
                        self.fake.query_chats[update["callback_query"]["id"]] = self.id
                        return 1
        raise StepError(f"no button {label!r} to press; last screen: {self.last_text()!r}")

    # -- seeing

    def last_message(self) -> dict[str, Any] | None:
        for message in reversed(self.chat.messages.values()):
            if message["from"]["id"] == self.bot_id:
                return message
        return None

    def last_text(self) -> str:
        message = self.last_message()
        if message is None:
            return "(nothing)"
        return str(message.get("text") or message.get("caption") or "(no text)")

    # -- a script

    async def run(self, steps: Sequence[Step], phase: Phase, step_timeout: float) -> bool:
        """Take the steps in order, each after the previous one's answer; False at the first
        step that fails (the rest of the conversation would make no sense)."""
        for step in steps:
            if not await self.take(step, phase, step_timeout):
                return False
        return True

    async def run_open(
        self,
        steps: Sequence[Step],
        phase_now: Callable[[], Phase],
        step_timeout: float,
        think: Callable[[], float],
        stop: asyncio.Event,
        drain: Phase,
        gate: asyncio.Semaphore,
    ) -> tuple[bool, bool]:
        """The open loop: like :meth:`run`, with a think time before every step after the
        first; each step's updates count in ``phase_now()`` (the ramp or the measured window).
        Once ``stop`` is set the rest of the return is taken without think time, ``gate``
        steps at a time, counted in ``drain``. Returns (finished, drained)."""
        drained = False
        for index, step in enumerate(steps):
            if index and not stop.is_set():
                delay = think()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await stop.wait()
            if stop.is_set():
                drained = True
                async with gate:
                    ok = await self.take(step, drain, step_timeout)
            else:
                ok = await self.take(step, phase_now(), step_timeout)
            if not ok:
                return False, drained
        return True, drained

    async def take(self, step: Step, phase: Phase, step_timeout: float) -> bool:
        """One step: its updates, then its screen (False, and an error counted, if not)."""
        base = self.fake.screens[self.id]
        try:
            made = step.act(self)
        except StepError as error:
            phase.error(step.name, str(error), self.id)
            return False
        queued = time.perf_counter()
        self.fake.pending[self.id].extend([(queued, phase, step.name)] * made)
        phase.sent += made
        phase.first_queued = min(phase.first_queued, queued)
        problem = await self._wait(step, base, step_timeout)
        done = time.perf_counter()
        phase.last_answer = max(phase.last_answer, done)
        if problem is not None:  # its updates stay pending: a late answer is still timed
            phase.error(step.name, problem, self.id)
            phase.failed.append((self, step))
            return False
        phase.screens[step.name].append(done - queued)
        return True

    async def _wait(self, step: Step, base: int, step_timeout: float) -> str | None:
        """None once the expected screen shows; else what went wrong."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + step_timeout
        grace_until: float | None = None
        while True:
            came = self.fake.screens[self.id] - base
            if came >= 1 and step.expect(self, self.last_text()):
                return None
            now = loop.time()
            if came >= step.screens and grace_until is None:
                grace_until = now + GRACE
            limit = deadline if grace_until is None else min(deadline, grace_until)
            if now >= limit:
                if came == 0:
                    return f"no answer within {step_timeout:g} s"
                if came < step.screens:
                    return (
                        f"incomplete answer within {step_timeout:g} s ({came} of "
                        f"{step.screens} screens): {self.last_text()[:300]!r}"
                    )
                return f"unexpected answer ({came} screen(s)): {self.last_text()[:300]!r}"
            self.waiter.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(limit - now):
                    await self.waiter.wait()


def _opened(buyer: Buyer, text: str) -> bool:
    found = CASE_OPENED.search(text)
    if found:
        buyer.case_number = found.group(1)
    return found is not None


RETURN_STEPS: tuple[Step, ...] = (
    Step(
        "start link",
        lambda b: b.send(f"/start {b.payload}"),
        lambda b, t: f"Your order {b.number} is linked" in t,
    ),
    Step(
        "Return or refund",
        lambda b: b.press("📦 Return or refund"),
        lambda b, t: "Which order is it about?" in t,
    ),
    Step(
        "the order",
        lambda b: b.press(f"{b.number} · ", prefix=True),
        lambda b, t: t.startswith("What happened?"),
    ),
    Step(
        "Arrived damaged",
        lambda b: b.press("Arrived damaged"),
        lambda b, t: "add a few words about what happened" in t,
    ),
    Step(
        "description",
        lambda b: b.send("The base arrived cracked and the shade is dented."),
        lambda b, t: "Received 0 of at least 3" in t,
    ),
    Step(
        "album of 3 photos",
        lambda b: b.album(3),
        lambda b, t: "Received 3 of at least 3" in t,
        screens=3,
    ),
    Step("Done", lambda b: b.press("✅ Done"), lambda b, t: "What would you prefer?" in t),
    Step("Refund", lambda b: b.press("Refund"), lambda b, t: "Please check your request:" in t),
    Step("Confirm and send", lambda b: b.press("✅ Confirm and send"), _opened),
    Step(
        "Main menu",
        lambda b: b.press("🏠 Main menu"),
        lambda b, t: "What do you need help with?" in t,
    ),
    Step(
        "My cases",
        lambda b: b.press("📂 My cases"),
        lambda b, t: "Your cases:" in t and bool(b.case_number) and b.case_number in t,
    ),
)
MIDDLE_STEPS = RETURN_STEPS[:4]  # left at "add a few words": a conversation in progress
UPDATES_PER_RETURN = sum(3 if step.name.startswith("album") else 1 for step in RETURN_STEPS)


def echo_steps(updates: int) -> tuple[Step, ...]:
    """A message/press loop of ``updates`` updates for the echo bot."""
    steps = []
    for index in range(updates):
        text = f"hello {index // 2}"
        if index % 2 == 0:
            steps.append(
                Step("echo message", lambda b, t=text: b.send(t), lambda b, s, t=text: s == t)
            )
        else:
            steps.append(
                Step(
                    "echo press",
                    lambda b: b.press("Press"),
                    lambda b, s, t=text: s == f"Pressed: {t}",
                )
            )
    return tuple(steps)


# ── the bot processes ───────────────────────────────────────────────────────────────────────

_ALL_PROCESSES: list[subprocess.Popen[bytes]] = []


@atexit.register
def _kill_leftovers() -> None:
    for process in _ALL_PROCESSES:
        if process.poll() is None:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)


def clean_env(**values: str) -> dict[str, str]:
    """This environment without any Returns Desk setting, plus ``values`` (and this checkout
    first on the import path)."""
    env = without_settings(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(values)
    return env


def spawn(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    _ALL_PROCESSES.append(process)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@dataclass
class BotProcess:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    listen_port: int | None = None  # webhook mode

    @property
    def pid(self) -> int:
        return self.process.pid

    def memory_mb(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) in MB (10^6 bytes) from /proc/<pid>/status."""
        values = {"VmRSS": math.nan, "VmHWM": math.nan}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in values:
                    values[key] = int(rest.split()[0]) * 1024 / 1e6
        return values["VmRSS"], values["VmHWM"]

    def cpu_seconds(self) -> float:
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{self.pid}/stat").read_text()
            fields = stat.rpartition(")")[2].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return 0.0

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def error_lines(self) -> list[str]:
        """Warnings, errors and tracebacks in its log (it runs with LOG_LEVEL=WARNING)."""
        return [
            line
            for line in self.log_text().splitlines()
            if any(f" {level} " in line for level in ("WARNING", "ERROR", "CRITICAL"))
            or line.startswith("Traceback")
        ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def port_open(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def run_cli(args: list[str], env: dict[str, str], cwd: Path, what: str) -> str:
    """``python -m bot <args>``; its first line of output, or RuntimeError with its stderr."""
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}): {result.stderr.strip()}")
    return (result.stdout.strip().splitlines() or [""])[0]


# ── the profiler (optional) ─────────────────────────────────────────────────────────────────


class Callgrind:
    """``--callgrind DIR``: the bots run under valgrind's callgrind, counting instructions only
    during the measured closed loop. Instructions per update do not move with the machine's
    other load as CPU seconds do: two checkouts compare within a percent or two. Valgrind runs
    the bot some 50 times slower: use a few buyers (``--buyers 20``) and a long
    ``--step-timeout``."""

    def __init__(self, directory: Path, bots: Sequence[BotProcess]) -> None:
        self.directory, self.bots = directory, list(bots)

    def _control(self, *options: str) -> None:
        for bot in self.bots:
            subprocess.run(
                ["callgrind_control", *options, str(bot.pid)],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

    def start(self) -> None:
        self._control("--zero")
        self._control("--instr=on")

    def stop(self, updates: int) -> None:
        self._control("--dump=closed-loop")
        self._control("--instr=off")
        total = 0
        for bot in self.bots:
            name = bot.name.replace(" ", "-")
            dumps = sorted(self.directory.glob(f"{name}.{bot.pid}*"))
            total += max((self._instructions(path) for path in dumps), default=0)
        if updates:
            print(
                f"    callgrind: {total / updates:,.0f} instructions per update "
                f"({total:,} over {updates:,} updates, {self.directory})"
            )

    @staticmethod
    def _instructions(path: Path) -> int:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
        return 0


class Profiler:
    """``py-spy record --pid`` on a bot process for one phase; raw (collapsed) stacks."""

    def __init__(self, pid: int, out: Path) -> None:
        self.out = out
        binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        # --gil: only samples holding the GIL, i.e. where the Python CPU goes (the bot is one
        # event loop: that is its limit); waits and SQLite's own C work are left out
        argv = [binary, "record", "--pid", str(pid), "--rate", "100", "--gil", "--nonblocking"]
        argv += ["--format", "raw", "-o", str(out)]
        self.process = spawn(argv, clean_env(), out.parent, out.with_suffix(".py-spy.log"))

    def finish(self) -> str | None:
        """Stop recording and write the file; None, or why there is no profile."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        if not self.out.exists():
            log = self.out.with_suffix(".py-spy.log")
            detail = log.read_text(errors="replace").strip()[-500:] if log.exists() else ""
            return f"py-spy wrote no profile ({detail or 'no output'})"
        return None


def frame_key(frame: str) -> tuple[str, str]:
    """('function (path)', package) for a py-spy frame ``function (path:line)``; py-spy writes
    paths relative to the import path (``aiogram/…``, ``asyncio/…``, ``bot/…``)."""
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if match is None:
        return frame, "?"
    function, path = match.groups()
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif path.startswith(str(ROOT) + "/"):
        path = path[len(str(ROOT)) + 1 :]
    elif "/lib/python3" in path:
        path = path.split("/lib/", 1)[1].partition("/")[2]
    top = path.split("/", 1)[0].removesuffix(".py")
    if top in ("bot", "core"):
        package = f"Returns Desk ({top})"
    elif path.startswith("<frozen") or top in sys.stdlib_module_names:
        package = f"stdlib {top.removeprefix('<frozen ').removesuffix('>')}"
    else:
        package = top
    return f"{function} ({path})", package


def thread_of(frames: list[tuple[str, str]]) -> str:
    root = frames[0][0]
    if root.startswith("_run_module_as_main"):
        return "main thread (event loop)"
    if root.startswith("Thread._bootstrap"):
        if any(name.startswith("_connection_worker_thread") for name, _ in frames):
            return "aiosqlite connection threads"
        return "other threads"
    # py-spy --nonblocking reads the stack while the bot runs on: half its samples stop short
    # of the thread's first frame (seen without any greenlet on the hot path too)
    return "stacks cut short (their caller is not shown)"


def print_profile(path: Path, top: int = 15) -> None:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    samples = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_key(frame) for frame in stack.split(";") if frame]
        if not frames:
            continue
        samples += count
        leaf, package = frames[-1]
        own[leaf] += count
        packages[package] += count
        threads[thread_of(frames)] += count
        for key in {name for name, pkg in frames if pkg.startswith("Returns Desk")}:
            total[key] += count
    if not samples:
        print(f"  (no samples in {path})")
        return
    print(f"  {samples:,} samples holding the GIL (100 Hz), {path}")
    print("  by thread:")
    for thread, count in threads.most_common():
        print(f"    {count / samples:6.1%}  {thread}")
    print("  own time by package:")
    for package, count in packages.most_common(12):
        print(f"    {count / samples:6.1%}  {package}")
    print("  own time by function:")
    for name, count in own.most_common(top):
        print(f"    {count / samples:6.1%}  {name}")
    print("  Returns Desk functions, with what they call (stacks cut short not included):")
    for name, count in total.most_common(top):
        print(f"    {count / samples:6.1%}  {name}")


# ── prerequisites of the PostgreSQL configurations ──────────────────────────────────────────


async def postgres_problem(url: str) -> str | None:
    from core.persistence.engine import create_engine

    engine = create_engine(url, connect_args={"timeout": 2})
    try:
        async with asyncio.timeout(5):
            async with engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
        return None
    except Exception as exc:
        return f"PostgreSQL not reachable at {url} ({type(exc).__name__}: {exc})"
    finally:
        await engine.dispose()


async def redis_command(url: str, *command: str) -> list[bytes]:
    """A few commands (SELECT of the URL's database first) over a bare RESP connection."""
    parts = urlsplit(url)
    database = (parts.path or "/0").lstrip("/") or "0"
    commands: list[tuple[str, ...]] = []
    if parts.password:
        user = unquote(parts.username or "")
        commands.append(
            ("AUTH", user, unquote(parts.password)) if user else ("AUTH", parts.password)
        )
    commands += [("SELECT", database), command]
    async with asyncio.timeout(5):
        reader, writer = await asyncio.open_connection(
            parts.hostname or "127.0.0.1", parts.port or 6379
        )
        try:
            replies = []
            for items in commands:
                encoded = b"".join(f"${len(i.encode())}\r\n{i}\r\n".encode() for i in items)
                writer.write(f"*{len(items)}\r\n".encode() + encoded)
                await writer.drain()
                reply = await reader.readline()
                if reply.startswith(b"-"):
                    raise RuntimeError(f"Redis {' '.join(items[:1])}: {reply.decode().strip()}")
                replies.append(reply.strip())
            return replies
        finally:
            writer.close()


async def redis_problem(url: str) -> str | None:
    try:
        await redis_command(url, "PING")
        return None
    except Exception as exc:
        return f"Redis not reachable at {url} ({type(exc).__name__}: {exc})"


def webhook_problem() -> str | None:
    """Why webhook mode cannot run here (its pieces are not in this checkout yet), or None."""
    try:
        from bot.testing import balancer
    except ImportError:
        return "webhook mode not available: no bot.testing.balancer"
    if not hasattr(balancer, "RoundRobinBalancer"):
        return "webhook mode not available: no bot.testing.balancer.RoundRobinBalancer"
    if "allow_http_webhooks" not in inspect.signature(FakeTelegram.__init__).parameters:
        return "webhook mode not available: FakeTelegram has no allow_http_webhooks"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--help"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if "--webhook" not in result.stdout:
        return "webhook mode not available: `python -m bot run` has no --webhook option"
    return None


@contextlib.asynccontextmanager
async def balancer_for(backends: list[str]):  # type: ignore[no-untyped-def]
    """``RoundRobinBalancer(backends)`` started; yields its base URL."""
    from bot.testing.balancer import RoundRobinBalancer

    balancer: Any = RoundRobinBalancer(backends)
    if hasattr(balancer, "__aenter__"):
        async with balancer:
            yield str(balancer.url).rstrip("/")
    else:
        await balancer.start()
        try:
            yield str(balancer.url).rstrip("/")
        finally:
            await balancer.close()


# ── the synthetic order book ────────────────────────────────────────────────────────────────


def write_orders(path: Path, count: int, now: datetime) -> list[str]:
    """``count`` delivered one-lamp orders of one buyer each, in our JSON format, recent
    enough for a damage return (delivered 5 days ago). Returns their numbers."""

    def iso(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    placed, shipped, delivered = (now - timedelta(days=d) for d in (20, 18, 5))
    numbers = [NUMBER.format(index + 1) for index in range(count)]
    orders = [
        {
            "shop": SHOP,
            "number": number,
            "placed_at": iso(placed),
            "status": "delivered",
            "currency": "EUR",
            "buyer": {
                "name": f"Buyer {index + 1}",
                "email": f"buyer{index + 1}@example.com",
                "phone": "+353 1 555 0100",
                "country": "IE",
                "language": "en",
                "telegram_id": None,
            },
            "shipping_address": {
                "line1": f"{index % 200 + 1} Main Street",
                "city": "Dublin",
                "postal_code": "D01 F5P2",
                "country": "IE",
            },
            "shipping_cost": "0.00",
            "items": [ITEM],
            "shipments": [
                {
                    "carrier": "Cainiao",
                    "tracking_number": f"LP{index + 1:011d}CN",
                    "registered": True,
                    "shipped_at": iso(shipped),
                    "delivered_at": iso(delivered),
                    "estimated_days": [12, 25],
                    "events": [
                        {
                            "at": iso(delivered),
                            "status": "delivered",
                            "location": "Dublin",
                            "description": "Delivered",
                        }
                    ],
                }
            ],
        }
        for index, number in enumerate(numbers)
    ]
    path.write_text(json.dumps({"format": "returns-orders/1", "orders": orders}), encoding="utf-8")
    return numbers


# ── running one configuration ───────────────────────────────────────────────────────────────


@dataclass
class Result:
    name: str
    load: Phase | None = None
    memory: Phase | None = None
    peak_rss_mb: list[float] = field(default_factory=list)  # VmHWM per process after the load
    memory_rss_mb: list[float] = field(default_factory=list)  # VmRSS with the conversations
    memory_hwm_mb: list[float] = field(default_factory=list)
    skipped: str | None = None
    failed: str | None = None
    api_errors: Counter[str] = field(default_factory=Counter)
    log_errors: list[str] = field(default_factory=list)
    profile: Path | None = None  # py-spy's raw stacks of the load phase
    open: OpenLoop | None = None


@dataclass
class OpenLoop:
    """The open-loop phase: Poisson arrivals of buyers with think time; only the updates
    queued in the measured window (after the ramp) count in ``phase``."""

    offered: float  # updates/s asked for
    think: float  # s, mean think time between steps
    ramp: float  # s of arrivals before the window: not measured
    window: float  # s measured
    phase: Phase
    ramp_phase: Phase
    drain_phase: Phase
    window_start: float = math.inf  # perf_counter
    arrivals: int = 0  # buyers who started a return (ramp and window)
    completed: int = 0
    failed: int = 0
    drained: int = 0  # mid-return when the window closed: finished without think time
    ran_out: bool = False  # the book had no order left for the next arrival

    @property
    def offered_rate(self) -> float:
        """What the arrivals really offered in the window (Poisson: near ``offered``)."""
        return self.phase.sent / self.window

    @property
    def achieved_rate(self) -> float:
        """The window's updates answered ÷ the time from the window's start to the last of
        their first answers (at least the window): below the offered rate when the bot falls
        behind."""
        span = max(self.window, self.phase.last_first_answer - self.window_start)
        return len(self.phase.latencies) / span

    @property
    def phases(self) -> tuple[Phase, Phase, Phase]:
        return self.ramp_phase, self.phase, self.drain_phase

    @property
    def error_count(self) -> int:
        return sum(phase.error_count for phase in self.phases)


def open_ramp(think: float) -> float:
    """Seconds of arrivals before measuring: about as long as a return lasts (its think
    times), so that the window sees the steady mix of buyers at every step."""
    return OPEN_RAMP_FACTOR * think * (len(RETURN_STEPS) - 1)


def open_buyers_needed(args: argparse.Namespace) -> int:
    """Orders for the open loop's arrivals: the Poisson mean plus a wide margin."""
    if args.open_seconds <= 0 or args.offered <= 0:
        return 0
    mean = args.offered / UPDATES_PER_RETURN * (open_ramp(args.think) + args.open_seconds)
    return math.ceil(mean + 6 * math.sqrt(mean) + 20)


@dataclass
class Book:
    """The orders and who plays which: warm-up, measured buyers, conversations left open."""

    file: Path
    numbers: list[str]
    payloads: list[str]
    warmup: range
    load: range
    open: range
    memory: range


def make_book(directory: Path, args: argparse.Namespace, config: Config) -> Book:
    warmup = min(WARMUP_BUYERS, args.buyers)
    load_end = warmup + args.buyers
    open_end = load_end + open_buyers_needed(args)
    total = open_end + args.memory_conversations
    path = directory / "orders.json"
    numbers = write_orders(path, total, datetime.now(UTC))
    secret = config.shop(SHOP).link_secret
    payloads = [make_order_token(SHOP, normalize_order_number(n), secret) for n in numbers]
    return Book(
        path,
        numbers,
        payloads,
        range(0, warmup),
        range(warmup, load_end),
        range(load_end, open_end),
        range(open_end, total),
    )


class Run:
    """One configuration's fake, server, bot processes and phases."""

    def __init__(self, args: argparse.Namespace, workdir: Path, config: Config) -> None:
        self.args = args
        self.workdir = workdir
        self.config = config
        self.bots: list[BotProcess] = []

    async def wait_until_up(self, fake: MeasuredTelegram, webhook: bool) -> None:
        # valgrind starts the bot some 10 times slower
        deadline = time.monotonic() + START_TIMEOUT * (10 if self.args.callgrind else 1)
        while True:
            for bot in self.bots:
                if bot.process.poll() is not None:
                    raise RuntimeError(
                        f"{bot.name} exited with {bot.process.returncode}:\n"
                        f"{bot.log_text()[-3000:]}"
                    )
            if webhook:
                listening = [await port_open(b.listen_port or 0) for b in self.bots]
                up = bool(fake.webhook.get("url")) and all(listening)
            else:
                up = fake.polls > 0
            if up:
                return
            if time.monotonic() > deadline:
                logs = "\n".join(bot.log_text()[-2000:] for bot in self.bots)
                raise RuntimeError(f"the bot did not come up within {START_TIMEOUT:g} s:\n{logs}")
            await asyncio.sleep(0.05)

    def cpu(self) -> float:
        return sum(bot.cpu_seconds() for bot in self.bots)

    async def phase(
        self,
        name: str,
        buyers: list[Buyer],
        steps: Sequence[Step],
        fake: MeasuredTelegram,
        concurrency: int,
        *,
        quiet: bool = False,
    ) -> Phase:
        phase = Phase(name, buyers=len(buyers))
        semaphore = asyncio.Semaphore(concurrency)
        timeout = self.args.step_timeout

        async def play(buyer: Buyer) -> None:
            async with semaphore:
                if await buyer.run(steps, phase, timeout):
                    phase.completed += 1

        async def progress() -> None:
            started = time.monotonic()
            while True:
                await asyncio.sleep(10)
                fake.trim_logs()
                elapsed = time.monotonic() - started
                print(
                    f"    … {elapsed:4.0f} s: {phase.completed:,}/{len(buyers):,} buyers done, "
                    f"{phase.sent:,} updates ({phase.sent / elapsed:,.0f}/s), "
                    f"{phase.error_count} errors",
                    flush=True,
                )

        cpu_before, own_before = self.cpu(), time.process_time()
        calls_before = fake.methods.copy()
        reporter = None if quiet else asyncio.create_task(progress())
        try:
            await asyncio.gather(*(play(buyer) for buyer in buyers))
        finally:
            if reporter is not None:
                reporter.cancel()
        phase.bot_cpu = self.cpu() - cpu_before
        phase.own_cpu = time.process_time() - own_before
        phase.api_calls = fake.methods - calls_before
        if phase.failed:
            await settle(phase, fake, min(2 * timeout, 30.0))
        for buyer in buyers:
            phase.unanswered += len(fake.pending.pop(buyer.id, ()))
        fake.trim_logs()
        return phase

    async def drive(
        self, result: Result, fake: MeasuredTelegram, book: Book, *, echo: bool
    ) -> None:
        """Warm-up, the measured buyers, then (not for the echo bot) the open conversations."""
        args = self.args

        def buyers(indexes: range, offset: int = 0) -> list[Buyer]:
            return [
                Buyer(fake, FIRST_BUYER_ID + offset + i, book.numbers[i], book.payloads[i])
                for i in indexes
            ]

        steps = echo_steps(UPDATES_PER_RETURN) if echo else RETURN_STEPS
        warm = await self.phase("warm-up", buyers(book.warmup), steps, fake, 50, quiet=True)
        if warm.error_count:
            print(f"  warm-up: {warm.error_count} error(s); first: {warm.samples[:2]}")
        profiler = None
        if args.profile is not None and not echo:
            args.profile.mkdir(parents=True, exist_ok=True)
            out = args.profile / f"{result.name}-bot{'' if len(self.bots) == 1 else 1}.txt"
            out.unlink(missing_ok=True)
            profiler = Profiler(self.bots[0].pid, out)
            await asyncio.sleep(1.0)  # py-spy attaches
        label = "echo" if echo else "load"
        print(f"  {label}: {args.buyers} buyers × {UPDATES_PER_RETURN} updates …", flush=True)
        if echo:  # a few seconds each: the median of three rounds, new buyers each time
            rounds = []
            for number in range(ECHO_ROUNDS):
                offset = (number + 1) * 10_000_000
                rounds.append(
                    await self.phase(label, buyers(book.load, offset), steps, fake, args.buyers)
                )
            rounds.sort(key=lambda phase: phase.rate)
            print(
                f"    {ECHO_ROUNDS} rounds: "
                + ", ".join(f"{phase.rate:,.1f}" for phase in rounds)
                + " updates/s; the median one:"
            )
            result.load = rounds[len(rounds) // 2]
        else:
            counting = Callgrind(args.callgrind, self.bots) if args.callgrind else None
            if counting is not None:
                counting.start()
            result.load = await self.phase(label, buyers(book.load), steps, fake, args.buyers)
            if counting is not None:
                counting.stop(result.load.sent)
        if profiler is not None:
            problem = profiler.finish()
            if problem:
                print(f"  profile: {problem}")
            else:
                result.profile = profiler.out
        result.peak_rss_mb = [bot.memory_mb()[1] for bot in self.bots]
        print_phase(result.load, self.bots)
        if echo:
            return
        if args.open_seconds > 0 and args.offered > 0:
            result.open = await self.open_loop(fake, book)
        if not args.memory_conversations:
            return
        print(
            f"  memory: {args.memory_conversations:,} buyers to the middle of a return "
            f"({len(MIDDLE_STEPS)} updates each, {args.buyers} at a time) …",
            flush=True,
        )
        result.memory = await self.phase(
            "memory", buyers(book.memory), MIDDLE_STEPS, fake, args.buyers
        )
        await asyncio.sleep(1.0)  # the last answers' tasks finish
        figures = [bot.memory_mb() for bot in self.bots]
        result.memory_rss_mb = [rss for rss, _ in figures]
        result.memory_hwm_mb = [hwm for _, hwm in figures]
        print_phase(result.memory, self.bots, latencies=False)
        print(
            f"    {result.memory.completed:,} conversations in progress: bot resident "
            f"{mb_list(result.memory_rss_mb)} MB (VmRSS), peak {mb_list(result.memory_hwm_mb)} MB"
            " (VmHWM)"
        )

    async def open_loop(self, fake: MeasuredTelegram, book: Book) -> OpenLoop:
        """Buyers arrive as a Poisson process (``--offered`` / 13 returns per second), each
        through the whole return with an exponential think time before every step after the
        first. Arrivals for a ramp (not measured), then ``--open-seconds`` measured; when the
        window closes no new step is taken (buyers stop where they are) and the answers to the
        window's updates are awaited."""
        args = self.args
        timeout = args.step_timeout
        returns_per_s = args.offered / UPDATES_PER_RETURN
        ramp = open_ramp(args.think)
        result = OpenLoop(
            offered=args.offered,
            think=args.think,
            ramp=ramp,
            window=args.open_seconds,
            phase=Phase("open loop"),
            ramp_phase=Phase("open-loop ramp"),
            drain_phase=Phase("open-loop drain"),
        )
        print(
            f"  open loop: buyers arrive at random (Poisson), {args.offered:,.0f} updates/s "
            f"offered ({returns_per_s:,.1f} returns/s), think time {args.think:g} s on average "
            f"between steps; {ramp:.0f} s ramp (not measured), then {args.open_seconds:g} s "
            "measured …",
            flush=True,
        )
        arrivals = random.Random(OPEN_SEED)
        thinking = random.Random(OPEN_SEED + 1)

        def think() -> float:
            return thinking.expovariate(1 / args.think) if args.think > 0 else 0.0

        clock = time.perf_counter
        begin = clock()
        result.window_start = begin + ramp
        end = result.window_start + args.open_seconds
        stop = asyncio.Event()

        def phase_now() -> Phase:
            return result.phase if clock() >= result.window_start else result.ramp_phase

        gate = asyncio.Semaphore(args.buyers)  # the drain: as many at once as the closed loop

        async def converse(buyer: Buyer) -> None:
            finished, drained = await buyer.run_open(
                RETURN_STEPS, phase_now, timeout, think, stop, result.drain_phase, gate
            )
            result.drained += drained
            if finished:
                result.completed += 1
            else:
                result.failed += 1

        async def window() -> None:
            """Samples the CPU at the window's edges, closes it, says how it goes."""
            await asyncio.sleep(max(0.0, result.window_start - clock()))
            cpu_before, own_before = self.cpu(), time.process_time()
            while clock() < end:
                await asyncio.sleep(min(10.0, max(0.0, end - clock())))
                fake.trim_logs()
                if clock() < end - 1:
                    phase = result.phase
                    so_far = clock() - result.window_start
                    print(
                        f"    … {so_far:4.0f} s measured: {phase.sent:,} updates "
                        f"({phase.sent / so_far:,.0f}/s), {result.arrivals:,} buyers so far, "
                        f"{result.error_count} errors",
                        flush=True,
                    )
            result.phase.bot_cpu = self.cpu() - cpu_before
            result.phase.own_cpu = time.process_time() - own_before
            result.phase.cpu_wall = args.open_seconds
            stop.set()

        players: list[Buyer] = []
        tasks: list[asyncio.Task[None]] = []
        closer = asyncio.create_task(window())
        try:
            next_at = begin
            orders = iter(book.open)
            while True:
                next_at += arrivals.expovariate(returns_per_s)
                if next_at >= end:
                    break
                index = next(orders, None)
                if index is None:
                    result.ran_out = True
                    break
                delay = next_at - clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                buyer = Buyer(
                    fake, FIRST_BUYER_ID + index, book.numbers[index], book.payloads[index]
                )
                players.append(buyer)
                tasks.append(asyncio.create_task(converse(buyer)))
                result.arrivals += 1
            await closer
            await asyncio.gather(*tasks)
        finally:
            closer.cancel()
            for task in tasks:
                task.cancel()
        result.phase.buyers = result.arrivals
        result.phase.completed = result.completed
        for phase in result.phases:
            if phase.failed:
                await settle(phase, fake, min(2 * timeout, 30.0))
        for buyer in players:
            for _, phase, _ in fake.pending.pop(buyer.id, ()):
                phase.unanswered += 1
        fake.trim_logs()
        print_open_loop(result, self.bots)
        return result

    async def returns_desk(self, name: str, book: Book) -> Result:
        """One configuration of Returns Desk (``sqlite``, ``pg1`` or ``pg2``)."""
        args = self.args
        result = Result(name)
        webhook = name != "sqlite"
        data_dir = self.workdir / "data"
        env = clean_env(DATA_DIR=str(data_dir), CONFIG_FILE=str(SAMPLE_CONFIG), LOG_LEVEL="WARNING")
        async with contextlib.AsyncExitStack() as stack:
            if webhook:
                database_url = await stack.enter_async_context(
                    fresh_schema(args.postgres_url, "load")
                )
                await redis_command(args.redis_url, "FLUSHDB")
                env.update(DATABASE_URL=database_url, REDIS_URL=args.redis_url)
                print(f"  {await run_cli(['db', 'upgrade'], env, self.workdir, 'db upgrade')}")
            imported = await run_cli(
                ["import-orders", "--quiet", str(book.file)], env, self.workdir, "import-orders"
            )
            print(f"  {imported}")
            fake_kwargs: dict[str, Any] = {"bot_id": BOT_ID, "token": TOKEN}
            if webhook:
                fake_kwargs["allow_http_webhooks"] = True
            fake = MeasuredTelegram(**fake_kwargs)
            fake.keep_update_log = webhook  # webhook delivery is not ours to second-guess
            add_staff(fake, self.config)
            server = await stack.enter_async_context(FakeTelegramServer(fake))
            env.update(BOT_TOKEN=fake.token, BOT_API_URL=server.url)
            stack.callback(self.stop_bots)
            if webhook:
                count = 2 if name == "pg2" else 1
                ports = [free_port() for _ in range(count)]
                backends = [f"http://127.0.0.1:{port}" for port in ports]
                front = await stack.enter_async_context(balancer_for(backends))
                secret = secrets.token_urlsafe(24)
                for index, port in enumerate(ports, start=1):
                    self.start_bot(
                        f"{name} bot {index}",
                        ["-m", "bot", "run", "--webhook", "--sample-config"],
                        dict(
                            env,
                            WEBHOOK_URL=f"{front}/telegram",
                            WEBHOOK_LISTEN=f"127.0.0.1:{port}",
                            WEBHOOK_SECRET=secret,
                        ),
                        listen_port=port,
                    )
            else:
                self.start_bot(f"{name} bot", ["-m", "bot", "run", "--sample-config"], env)
            await self.wait_until_up(fake, webhook)
            print(f"  bot up: {', '.join(f'{b.name} (pid {b.pid})' for b in self.bots)}")
            try:
                await self.drive(result, fake, book, echo=False)
            finally:
                result.api_errors = fake.api_errors
                result.log_errors = [line for bot in self.bots for line in bot.error_lines()]
        return result

    async def echo(self, book: Book) -> Result:
        result = Result("echo")
        fake = MeasuredTelegram(bot_id=BOT_ID, token=TOKEN)
        fake.keep_update_log = False
        try:
            async with FakeTelegramServer(fake) as server:
                env = clean_env(BOT_TOKEN=fake.token, BOT_API_URL=server.url, LOG_LEVEL="WARNING")
                self.start_bot("echo bot", [str(ECHO_BOT)], env)
                await self.wait_until_up(fake, webhook=False)
                print(f"  echo bot up (pid {self.bots[0].pid})")
                await self.drive(result, fake, book, echo=True)
                result.api_errors = fake.api_errors
                result.log_errors = self.bots[0].error_lines()
        finally:
            self.stop_bots()
        return result

    def start_bot(
        self, name: str, argv: list[str], env: dict[str, str], *, listen_port: int | None = None
    ) -> None:
        log = self.workdir / f"{name.replace(' ', '-')}.log"
        if os.environ.get("LOAD_CPROFILE"):
            argv = ["-m", "cProfile", "-o", os.environ["LOAD_CPROFILE"], *argv]
        command = [sys.executable, *argv]
        if self.args.callgrind is not None and name != "echo bot":
            out = self.args.callgrind / f"{name.replace(' ', '-')}.%p"
            # counting starts with the measured closed loop (Callgrind.start)
            command = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                       f"--callgrind-out-file={out}", *command]  # fmt: skip
        process = spawn(command, env, self.workdir, log)
        self.bots.append(BotProcess(name, process, log, listen_port))

    def stop_bots(self) -> None:
        for bot in self.bots:
            stop(bot.process)


# ── reporting ───────────────────────────────────────────────────────────────────────────────


def mb_list(values: Sequence[float]) -> str:
    return " + ".join(f"{value:,.1f}" for value in values) or "?"


def print_phase(phase: Phase, bots: Sequence[BotProcess], *, latencies: bool = True) -> None:
    print(
        f"    {phase.sent:,} updates in {phase.wall:.1f} s: {phase.rate:,.1f} updates/s; "
        f"{phase.completed:,}/{phase.buyers:,} buyers done; {phase.error_count} errors"
    )
    print_details(phase, bots, latencies=latencies)


def print_open_loop(result: OpenLoop, bots: Sequence[BotProcess]) -> None:
    phase = result.phase
    print(
        f"    offered {result.offered_rate:,.1f} updates/s ({phase.sent:,} updates queued in the "
        f"{result.window:g} s window; asked for {result.offered:,.0f}), achieved "
        f"{result.achieved_rate:,.1f} updates/s ({len(phase.latencies):,} answered); "
        f"{phase.error_count} errors (+ {result.ramp_phase.error_count} in the ramp, "
        f"{result.drain_phase.error_count} in the drain)"
    )
    print(
        f"    {result.arrivals:,} buyers arrived: {result.completed:,} finished their return "
        f"({result.drained:,} of them, mid-return when the window closed, without think time "
        f"afterwards: {result.drain_phase.sent:,} updates, not measured), {result.failed:,} "
        "stopped at an error"
        + ("; the book ran out of orders: fewer arrivals than asked" if result.ran_out else "")
    )
    if result.offered_rate < 0.9 * result.offered:
        print(
            "    NOTE: fewer updates offered than asked: the bot fell behind, and a buyer takes "
            "the next step only once the screen is there (new buyers still arrive on time)"
        )
    print_details(phase, bots)
    for extra in (result.ramp_phase, result.drain_phase):
        if extra.samples:
            print(f"    first errors in the {extra.name}:")
            for sample in extra.samples:
                print(f"      {sample}")


def print_details(phase: Phase, bots: Sequence[BotProcess], *, latencies: bool = True) -> None:
    if latencies and phase.latencies:
        print(
            f"    first answer: p50 {phase.percentile_ms(50):,.0f} ms, "
            f"p95 {phase.percentile_ms(95):,.0f} ms, p99 {phase.percentile_ms(99):,.0f} ms, "
            f"max {max(phase.latencies) * 1000:,.0f} ms ({len(phase.latencies):,} updates answered)"
        )
        print("    per step (first answer p50/p95 → whole screen p50/p95, ms):")
        order = {step.name: index for index, step in enumerate(RETURN_STEPS)}
        names = sorted({*phase.by_step, *phase.screens}, key=lambda n: (order.get(n, 99), n))
        for step in names:
            first = phase.by_step.get(step, [])
            whole = phase.screens.get(step, [])
            print(
                f"      {step:<20} {phase.percentile_ms(50, first):7,.0f} "
                f"{phase.percentile_ms(95, first):7,.0f} → "
                f"{phase.percentile_ms(50, whole):7,.0f} {phase.percentile_ms(95, whole):7,.0f}"
            )
    if phase.failed:
        print(
            f"    of the {len(phase.failed)} failed steps, {phase.late} got the right screen "
            f"late (after the timeout) and {phase.never} never did; {phase.unanswered} "
            "update(s) never got any answer"
        )
    if phase.samples:
        print("    first errors:")
        for sample in phase.samples:
            print(f"      {sample}")
    cpu_wall = phase.cpu_wall or phase.wall
    bot_share = phase.bot_cpu / cpu_wall
    own_share = phase.own_cpu / cpu_wall
    bots_text = "bot process" if len(bots) == 1 else f"{len(bots)} bot processes together"
    print(
        f"    CPU: {bots_text} {bot_share:.0%} of a core, {phase.cpu_ms_per_update:.2f} ms per "
        f"update; this process (fake Telegram + buyers) {own_share:.0%}"
    )
    calls = {name: count for name, count in phase.api_calls.items() if name != "getUpdates"}
    if calls and phase.sent:
        print(
            f"    Bot API calls: {sum(calls.values()) / phase.sent:.2f} per update ("
            + ", ".join(f"{name} {count:,}" for name, count in sorted(calls.items()))
            + f"; getUpdates {phase.api_calls['getUpdates']:,})"
        )
    if own_share > 0.85:
        print(
            "    NOTE: this process was near a full core: the buyer side may be the bottleneck "
            "here, the figures are then a lower bound for the bot"
        )


def echo_peak_mb(echo: Result | None) -> float:
    """The echo bot's peak resident memory (VmHWM after its load): the floor of any aiogram
    bot here, the base of the memory target."""
    return max(echo.peak_rss_mb) if echo and echo.load and echo.peak_rss_mb else math.nan


def print_table(results: list[Result], echo: Result | None) -> None:
    echo_rate = echo.load.rate if echo and echo.load else math.nan
    print("Closed loop (saturation: every buyer waits for each answer, no think time):")
    header = (
        f"{'config':<8} {'buyers':>6} {'updates':>8} {'updates/s':>10} {'p50 ms':>8} "
        f"{'p95 ms':>8} {'p99 ms':>8} {'errors':>7} {'CPU ms/upd':>10} {'peak RSS MB':>15} "
        f"{'vs echo':>8}"
    )
    print(header)
    print("-" * len(header))
    for result in ([echo] if echo else []) + results:
        if result.skipped or result.failed or result.load is None:
            why = result.skipped or result.failed or "no figures"
            print(f"{result.name:<8} {'skipped' if result.skipped else 'FAILED'}: {why}")
            continue
        load = result.load
        ratio = "" if result is echo else f"{load.rate / echo_rate:.0%}"
        print(
            f"{result.name:<8} {load.buyers:>6} {load.sent:>8,} {load.rate:>10,.1f} "
            f"{load.percentile_ms(50):>8,.0f} {load.percentile_ms(95):>8,.0f} "
            f"{load.percentile_ms(99):>8,.0f} {load.error_count:>7} "
            f"{load.cpu_ms_per_update:>10.2f} {mb_list(result.peak_rss_mb):>15} {ratio:>8}"
        )
    opens = [result for result in results if result.open is not None]
    if opens:
        print()
        print("Open loop (Poisson arrivals, think time between steps; the measured window):")
        header = (
            f"{'config':<8} {'offered/s':>10} {'achieved/s':>10} {'updates':>8} {'p50 ms':>8} "
            f"{'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7} {'CPU ms/upd':>10}"
        )
        print(header)
        print("-" * len(header))
        for result in opens:
            assert result.open is not None
            phase = result.open.phase
            worst = max(phase.latencies) * 1000 if phase.latencies else math.nan
            print(
                f"{result.name:<8} {result.open.offered_rate:>10,.1f} "
                f"{result.open.achieved_rate:>10,.1f} {phase.sent:>8,} "
                f"{phase.percentile_ms(50):>8,.0f} {phase.percentile_ms(95):>8,.0f} "
                f"{phase.percentile_ms(99):>8,.0f} {worst:>8,.0f} {result.open.error_count:>7} "
                f"{phase.cpu_ms_per_update:>10.2f}"
            )
    if any(result.memory is not None for result in results):
        print()
    for result in results:
        if result.memory is not None:
            print(
                f"{result.name}: {result.memory.completed:,} conversations in progress → "
                f"resident {mb_list(result.memory_rss_mb)} MB, peak {mb_list(result.memory_hwm_mb)}"
                f" MB ({result.memory.error_count} errors getting there); the echo bot's peak: "
                f"{echo_peak_mb(echo):,.1f} MB"
            )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_targets(results: list[Result], echo: Result | None, args: argparse.Namespace) -> None:
    print()
    print("Targets:")
    echo_rate = echo.load.rate if echo and echo.load else math.nan
    echo_cpu = echo.load.cpu_ms_per_update if echo and echo.load else math.nan
    echo_peak = echo_peak_mb(echo)
    rates: dict[str, float] = {}
    for result in results:
        load = result.load
        if load is None:
            continue
        name = result.name
        rates[name] = load.rate
        note = "" if args.buyers == TARGET_BUYERS else f" (measured at {args.buyers} buyers)"
        if name == "sqlite":
            print(
                f"  {verdict(load.rate >= TARGET_UPDATES_PER_S)}  {name}: ≥ "
                f"{TARGET_UPDATES_PER_S:g} updates/s sustained (closed loop): "
                f"{load.rate:,.1f}{note}"
            )
            if math.isnan(echo_rate):
                print(f"  FAIL  {name}: ≥ {TARGET_ECHO_RATIO:.0%} of the echo bot: no echo figure")
            else:
                ratio = load.rate / echo_rate
                print(
                    f"  {verdict(ratio >= TARGET_ECHO_RATIO)}  {name}: ≥ {TARGET_ECHO_RATIO:.0%} "
                    f"of the echo bot's throughput in the same run: {ratio:.0%} "
                    f"({load.rate:,.1f} / {echo_rate:,.1f})"
                )
        elif name == "pg1":
            print(
                f"  {verdict(load.rate >= TARGET_PG1_UPDATES_PER_S)}  {name}: ≥ "
                f"{TARGET_PG1_UPDATES_PER_S:g} updates/s, one webhook process (closed loop): "
                f"{load.rate:,.1f}{note}"
            )
        elif name == "pg2":
            if "pg1" in rates:
                scale = load.rate / rates["pg1"]
                print(
                    f"  {verdict(scale >= TARGET_PG2_SCALE)}  {name}: ≥ {TARGET_PG2_SCALE:g} × "
                    f"pg1, two processes: {scale:.2f} × ({load.rate:,.1f} / {rates['pg1']:,.1f})"
                )
            else:
                print(
                    f"  n/a   {name}: ≥ {TARGET_PG2_SCALE:g} × pg1: pg1 did not run "
                    f"(--config all); {load.rate:,.1f} updates/s"
                )
        cpu = load.cpu_ms_per_update
        print(
            f"  soft  {name}: aim at ≤ {AIM_CPU_MS:g} ms of bot CPU per update (not pass/fail): "
            f"{cpu:.2f} ms, {'within' if cpu <= AIM_CPU_MS else 'above'} the aim "
            f"(the echo bot: {echo_cpu:.2f} ms)"
        )
        if load.error_count:
            print(
                f"  FAIL  {name}: {load.error_count} errors under load (closed loop), expected "
                f"none ({load.late} answered late, {load.never} never)"
            )
        if result.open is not None:
            opened = result.open
            p99 = opened.phase.percentile_ms(99)
            p50 = opened.phase.percentile_ms(50)
            asked = (
                ""
                if opened.offered == TARGET_OFFERED
                else f"; the target is at {TARGET_OFFERED:g} offered"
            )
            print(
                f"  {verdict(p99 < TARGET_OPEN_P99_MS)}  {name}: open-loop p99 < "
                f"{TARGET_OPEN_P99_MS:g} ms: {p99:,.0f} ms (p50 {p50:,.0f} ms) at "
                f"{opened.offered_rate:,.1f} updates/s offered, "
                f"{opened.achieved_rate:,.1f} achieved{asked}"
            )
            if opened.error_count:
                print(
                    f"  FAIL  {name}: {opened.error_count} errors in the open loop, expected none "
                    f"({sum(phase.late for phase in opened.phases)} answered late, "
                    f"{sum(phase.never for phase in opened.phases)} never; ramp and drain "
                    "included)"
                )
        if result.memory is not None and result.memory_rss_mb:
            rss = max(result.memory_rss_mb)
            memory = result.memory
            memo = f" ({memory.completed:,} of {memory.buyers:,} got there)"
            if memory.buyers < TARGET_CONVERSATIONS:
                memo += (
                    f"; indicative: the target is at {TARGET_CONVERSATIONS:,} (run without --quick)"
                )
            elif memory.completed == memory.buyers:
                memo = ""
            what = (
                f"{name}: resident ≤ the echo bot's peak + {TARGET_RSS_OVER_ECHO_MB:g} MB with "
                f"{TARGET_CONVERSATIONS:,} conversations in progress"
            )
            if math.isnan(echo_peak):
                print(f"  FAIL  {what}: {rss:,.1f} MB, no echo figure to compare{memo}")
            else:
                limit = echo_peak + TARGET_RSS_OVER_ECHO_MB
                print(
                    f"  {verdict(rss <= limit)}  {what}: {rss:,.1f} MB = echo "
                    f"{rss - echo_peak:+,.1f} MB (limit {limit:,.1f} MB){memo}"
                )
    for result in results:
        if result.skipped:
            print(f"  skip  {result.name}: {result.skipped}")
        elif result.failed:
            print(f"  FAIL  {result.name}: did not run: {result.failed}")


def print_side_notes(results: list[Result], echo: Result | None) -> None:
    for result in ([echo] if echo else []) + results:
        errors = {k: v for k, v in result.api_errors.items() if not k.startswith("getUpdates: 409")}
        if errors:
            print(f"{result.name}: Bot API calls the fake refused: {dict(errors)}")
        if result.log_errors:
            print(
                f"{result.name}: {len(result.log_errors)} warning/error line(s) in the bot's log, "
                "first:"
            )
            for line in result.log_errors[:5]:
                print(f"    {line[:300]}")
    for result in results:
        load = result.load
        if load is None or not load.rate:
            continue
        cycle = load.buyers / load.rate * 1000
        print(
            f"{result.name}: closed loop, no think time: each buyer waits for every answer, so "
            f"an update's round trip is about buyers / throughput = {cycle:,.0f} ms (Little's "
            "law): its latency is queueing, not a target; the open loop's is what a buyer feels."
        )
        break
    for result in results:
        if result.profile is not None:
            print()
            print(f"Profile of the {result.name} bot during the load (py-spy):")
            print_profile(result.profile)


# ── main ────────────────────────────────────────────────────────────────────────────────────


async def run(args: argparse.Namespace) -> None:
    main_task = asyncio.current_task()
    assert main_task is not None
    # SIGTERM stops like Ctrl-C: the task is cancelled, every finally below runs
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    names = list(CONFIGS) if args.config == "all" else [args.config]
    config = load_config(SAMPLE_CONFIG)
    results: list[Result] = []
    echo: Result | None = None
    with contextlib.ExitStack() as cleanup:
        if args.keep:
            base = Path(tempfile.mkdtemp(prefix="load-bench-"))
            print(f"Working in {base} (kept)")
        else:
            base = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="load-bench-")))
        book = make_book(base, args, config)
        print(
            f"{len(book.numbers):,} synthetic orders ({SHOP}, a lamp delivered 5 days ago): "
            f"{len(book.warmup)} warm-up, {len(book.load)} measured buyers, "
            f"{len(book.open):,} for the open loop, {len(book.memory):,} conversations left "
            f"open; {UPDATES_PER_RETURN} updates per "
            f"return ({len(RETURN_STEPS)} steps)"
        )
        print()
        print(f"echo: benchmarks/echo_bot.py, {args.buyers} buyers, message/press loop")
        workdir = base / "echo"
        workdir.mkdir()
        try:
            echo = await Run(args, workdir, config).echo(book)
        except Exception as exc:
            echo = Result("echo", failed=f"{type(exc).__name__}: {exc}")
            print(f"  FAILED: {echo.failed}")
        for name in names:
            print()
            print(f"{name}: {describe(name)}")
            if name != "sqlite":
                problem = (
                    await postgres_problem(args.postgres_url)
                    or await redis_problem(args.redis_url)
                    or await asyncio.to_thread(webhook_problem)
                )
                if problem:
                    print(f"  skipped: {problem}")
                    results.append(Result(name, skipped=problem))
                    continue
            workdir = base / name
            workdir.mkdir()
            try:
                results.append(await Run(args, workdir, config).returns_desk(name, book))
            except Exception as exc:
                detail = f"{type(exc).__name__}: {exc}"
                print(f"  FAILED: {detail}")
                results.append(Result(name, failed=detail.splitlines()[0][:300]))
        print()
        print_table(results, echo)
        print_targets(results, echo, args)
        print()
        print_side_notes(results, echo)


def describe(name: str) -> str:
    return {
        "sqlite": "SQLite, one process, long polling",
        "pg1": "PostgreSQL + Redis, one process, webhook",
        "pg2": "PostgreSQL + Redis, two processes, webhook behind a round-robin balancer",
    }[name]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--buyers",
        type=int,
        default=TARGET_BUYERS,
        help="the closed loop's concurrent buyers (200)",
    )
    parser.add_argument("--config", choices=[*CONFIGS, "all"], default="sqlite")
    parser.add_argument(
        "--memory-conversations",
        type=int,
        default=None,
        help=f"conversations left open for the memory figure ({TARGET_CONVERSATIONS:,}; "
        "--quick: 1,000; 0: none)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="1,000 open conversations, 20 s of open loop"
    )
    parser.add_argument(
        "--offered",
        type=float,
        default=TARGET_OFFERED,
        help=f"open loop: updates/s offered by the arriving buyers ({TARGET_OFFERED:g})",
    )
    parser.add_argument(
        "--think",
        type=float,
        default=2.0,
        help="open loop: mean think time between a buyer's steps, s, exponential (2)",
    )
    parser.add_argument(
        "--open-seconds",
        type=float,
        default=None,
        help="open loop: seconds measured after the ramp (30; --quick: 20; 0: skip the phase)",
    )
    parser.add_argument(
        "--step-timeout", type=float, default=10.0, help="s for a step's answer (10)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="pg1/pg2: a fresh schema is made there and dropped after",
    )
    parser.add_argument(
        "--redis-url", default=DEFAULT_REDIS_URL, help="pg1/pg2: this database is flushed first"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record the bot during the closed loop with py-spy (pip install py-spy) into DIR",
    )
    parser.add_argument(
        "--callgrind",
        type=Path,
        metavar="DIR",
        help="run the bot under valgrind's callgrind and print its instructions per update in "
        "the closed loop (slow: use --buyers 20 --step-timeout 600)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs)")
    args = parser.parse_args()
    if args.memory_conversations is None:
        args.memory_conversations = 1_000 if args.quick else TARGET_CONVERSATIONS
    if args.open_seconds is None:
        args.open_seconds = 20.0 if args.quick else 30.0
    if args.buyers < 1:
        parser.error("--buyers must be at least 1")
    if args.callgrind is not None:
        if shutil.which("valgrind") is None:
            parser.error("--callgrind needs valgrind (apt install valgrind)")
        args.callgrind.mkdir(parents=True, exist_ok=True)
    if args.offered < 0 or args.think < 0 or args.open_seconds < 0:
        parser.error("--offered, --think and --open-seconds cannot be negative")

    try:
        asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\ninterrupted: bot processes stopped", file=sys.stderr)
    finally:
        _kill_leftovers()


if __name__ == "__main__":
    main()

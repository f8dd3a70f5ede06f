"""The optional fast paths (issue 19): uvloop and orjson when installed, the stdlib otherwise,
with the same results and stored rows that a process with either one reads."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import json
import logging
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.methods import SendMessage
from aiogram.types import Chat, Message, Update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import event_loop
from bot.factory import create_bot
from bot.receiving import inbox, replay, webhook
from bot.receiving.together import WriteTogether
from core import fast_json
from core.clock import FixedClock
from core.services.context import CoreContext
from tests.core.factories import NOW, make_context

# what people type that JSON and HTML both care about: markup characters, accents, an emoji
# sequence, text outside the Basic Multilingual Plane (a surrogate pair in \u escapes)
TEXT = '<b>Tom & Jerry</b> "quoted" \\ café Ünïcödé 退货 👩‍👩‍👧 🎉 𝄞 𠜎 \u00a0\u2028end'
SECRET = "s3cret-for-the-test"
PATH = "/telegram/hook"


def _update(update_id: int = 7001, text: str = TEXT) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 12,
            "date": 1764000000,
            "chat": {"id": 501001, "type": "private", "first_name": "Zoë 🦊"},
            "from": {"id": 501001, "is_bot": False, "first_name": "Zoë 🦊", "language_code": "es"},
            "text": text,
            "entities": [{"type": "bold", "offset": 0, "length": 3}],
        },
    }


def _without_orjson(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A fresh copy of core.fast_json loaded as if orjson were not installed."""
    monkeypatch.setitem(sys.modules, "orjson", None)  # `import orjson` raises ImportError
    spec = importlib.util.spec_from_file_location("fast_json_without_orjson", fast_json.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the event loop -------------------------------------------------------------------------


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


def test_commands_run_on_uvloop_when_it_is_installed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    uvloop = pytest.importorskip("uvloop")
    monkeypatch.delenv(event_loop.ENV, raising=False)
    with caplog.at_level(logging.INFO, logger="returns_desk.runtime"):
        assert event_loop.run(_loop_type()) is uvloop.Loop
    [line] = [r.getMessage() for r in caplog.records if r.name == "returns_desk.runtime"]
    assert line.startswith("event loop: uvloop ") and f"JSON: {fast_json.NAME}" in line


@pytest.mark.parametrize("value", ["asyncio", " AsyncIO "])
def test_the_environment_variable_forces_asyncio_s_own_loop(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    pytest.importorskip("uvloop")
    monkeypatch.setenv(event_loop.ENV, value)
    with caplog.at_level(logging.INFO, logger="returns_desk.runtime"):
        loop_type = event_loop.run(_loop_type())
    assert loop_type.__module__.startswith("asyncio.")
    assert issubclass(loop_type, asyncio.BaseEventLoop)
    assert any(r.getMessage().startswith("event loop: asyncio;") for r in caplog.records)


def test_without_uvloop_commands_run_on_asyncio_s_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(event_loop.ENV, raising=False)
    monkeypatch.setitem(sys.modules, "uvloop", None)
    assert event_loop.run(_loop_type()).__module__.startswith("asyncio.")


def test_a_command_s_exception_and_result_come_through_the_helper() -> None:
    async def fails() -> None:
        raise LookupError("from inside")

    with pytest.raises(LookupError, match="from inside"):
        event_loop.run(fails())
    assert event_loop.run(asyncio.sleep(0, result=42)) == 42


# --- JSON -----------------------------------------------------------------------------------


def test_orjson_is_used_when_it_is_installed() -> None:
    pytest.importorskip("orjson")
    assert fast_json.NAME.startswith("orjson ")


@pytest.mark.parametrize("implementation", ["installed", "without orjson"])
def test_json_helpers_give_what_the_stdlib_gives(
    monkeypatch: pytest.MonkeyPatch, implementation: str
) -> None:
    helpers = fast_json if implementation == "installed" else _without_orjson(monkeypatch)
    update = _update()
    # as Telegram sends it (raw UTF-8), as the stdlib writes it (\u escapes), and as bytes
    for text in (json.dumps(update, ensure_ascii=False), json.dumps(update)):
        assert helpers.loads(text) == json.loads(text) == update
        assert helpers.loads(text.encode()) == update
    written = helpers.dumps(update)
    assert isinstance(written, str)
    assert json.loads(written) == update
    assert helpers.loads(written)["message"]["text"] == TEXT
    # what orjson would not do the stdlib's way is done the stdlib's way
    for odd in ('"\\ud83d"', "NaN", '{"a": [1, 2.5, null, true]}'):
        assert repr(helpers.loads(odd)) == repr(json.loads(odd))
    for value in ({1: "int key"}, [2**70], ["lone \ud83d surrogate"]):
        assert helpers.dumps(value) == json.dumps(value)
    for wrong in ("{", '{"update_id": 1', "", b"\xff\xfe{"):
        with pytest.raises(ValueError):
            helpers.loads(wrong)
    with pytest.raises(TypeError):
        helpers.dumps({"at": datetime(2026, 1, 1, tzinfo=UTC)})  # refused, as before


def test_without_orjson_the_helpers_are_the_stdlib(monkeypatch: pytest.MonkeyPatch) -> None:
    helpers = _without_orjson(monkeypatch)
    assert helpers.NAME == "stdlib json"
    assert helpers.loads is json.loads and helpers.dumps is json.dumps


def test_the_bot_s_session_reads_and_writes_with_the_helpers() -> None:
    bot = create_bot("42:TEST", api_url="http://127.0.0.1:9")
    assert bot.session.json_loads is fast_json.loads
    assert bot.session.json_dumps is fast_json.dumps
    keyboard = {"inline_keyboard": [[{"text": TEXT, "callback_data": "x&y<z"}]]}
    field = bot.session.prepare_value(keyboard, bot=bot, files={})
    assert isinstance(field, str) and json.loads(field) == keyboard


# --- stored rows, read by a process with the other implementation ---------------------------


@pytest.fixture
async def core(engine: AsyncEngine, tmp_path: Path) -> CoreContext:
    return make_context(engine, tmp_path / "evidence", FixedClock(NOW))


@pytest.fixture
async def hook(core: CoreContext) -> AsyncIterator[str]:
    app = webhook.make_app(core, path=PATH, secret=SECRET, recorded=lambda: None)
    runner = await webhook.start_server(app, "127.0.0.1", 0)
    try:
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}{PATH}"
    finally:
        await runner.cleanup()


def _use(monkeypatch: pytest.MonkeyPatch, helpers: ModuleType) -> None:
    """This process reads and writes JSON with ``helpers`` from now on."""
    monkeypatch.setattr(fast_json, "loads", helpers.loads)
    monkeypatch.setattr(fast_json, "dumps", helpers.dumps)


@pytest.mark.parametrize("implementation", ["installed", "without orjson"])
async def test_an_update_posted_to_the_webhook_is_stored_as_telegram_sent_it(
    core: CoreContext, hook: str, monkeypatch: pytest.MonkeyPatch, implementation: str
) -> None:
    if implementation != "installed":
        _use(monkeypatch, _without_orjson(monkeypatch))
    update = _update()
    body = json.dumps(update, ensure_ascii=False).encode()  # raw UTF-8, as Telegram sends
    async with aiohttp.ClientSession() as client:
        headers = {webhook.SECRET_HEADER: SECRET, "Content-Type": "application/json"}
        async with client.post(hook, data=body, headers=headers) as response:
            assert response.status == 200
        async with client.post(hook, data=b'{"update_id": ', headers=headers) as response:
            assert response.status == 400
    async with core.unit_of_work() as uow:
        stored = await uow.inbox.get(update["update_id"])
    assert stored is not None
    assert stored.payload == update
    parsed = Update.model_validate(stored.payload)
    assert parsed.message is not None and parsed.message.text == TEXT


async def _post_all(hook: str, updates: list[dict[str, Any]]) -> list[int]:
    """Posts every update at once, as Telegram's parallel webhook connections do."""
    headers = {webhook.SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as client:

        async def post(update: dict[str, Any]) -> int:
            async with client.post(hook, data=json.dumps(update), headers=headers) as response:
                return response.status

        return list(await asyncio.gather(*(post(u) for u in updates)))


async def test_updates_posted_together_are_stored_in_shared_transactions(
    core: CoreContext, hook: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    record = inbox.record

    async def slow_record(core: CoreContext, updates: Any) -> int:
        updates = list(updates)
        batches.append(len(updates))
        await asyncio.sleep(0.05)  # a database under load: the next ones come meanwhile
        return await record(core, updates)

    monkeypatch.setattr(inbox, "record", slow_record)
    updates = [_update(7100 + n, f"message {n}") for n in range(30)]
    assert await _post_all(hook, updates) == [200] * 30
    async with core.unit_of_work() as uow:
        stored = [await uow.inbox.get(u["update_id"]) for u in updates]
    assert [s.payload if s else None for s in stored] == updates  # each one, as it was sent
    assert sum(batches) == 30 and len(batches) < 30  # fewer transactions than updates

    # one alone is written at once
    batches.clear()
    assert await _post_all(hook, [_update(7200)]) == [200]
    assert batches == [1]


async def test_a_batch_the_database_refuses_answers_503_to_each_and_stores_nothing(
    core: CoreContext, hook: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = inbox.record
    down = True

    async def flaky_record(core: CoreContext, updates: Any) -> int:
        await asyncio.sleep(0.02)
        if down:
            raise ConnectionRefusedError("the database is restarting")
        return await record(core, updates)

    monkeypatch.setattr(inbox, "record", flaky_record)
    updates = [_update(7300 + n) for n in range(10)]
    assert await _post_all(hook, updates) == [503] * 10  # Telegram sends them again
    async with core.unit_of_work() as uow:
        assert [await uow.inbox.get(u["update_id"]) for u in updates] == [None] * 10
    down = False
    assert await _post_all(hook, updates) == [200] * 10  # Telegram's retry: stored
    async with core.unit_of_work() as uow:
        assert all([await uow.inbox.get(u["update_id"]) for u in updates])


async def test_an_update_the_database_refuses_fails_alone_not_its_whole_batch(
    core: CoreContext, hook: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = inbox.record
    sizes: list[int] = []

    async def picky_record(core: CoreContext, updates: Any) -> int:
        updates = list(updates)
        sizes.append(len(updates))
        await asyncio.sleep(0.05)
        if any(u["update_id"] == 7404 for u in updates):
            raise ValueError("a value the database refuses")
        return await record(core, updates)

    monkeypatch.setattr(inbox, "record", picky_record)
    updates = [_update(7400 + n) for n in range(10)]
    statuses = await _post_all(hook, updates)
    assert statuses == [503 if u["update_id"] == 7404 else 200 for u in updates]
    assert max(sizes) > 1  # they did come together
    async with core.unit_of_work() as uow:
        stored = [await uow.inbox.get(u["update_id"]) is not None for u in updates]
    assert stored == [u["update_id"] != 7404 for u in updates]


async def test_a_shared_write_that_hangs_fails_its_callers_at_the_timeout_not_the_next() -> None:
    written: list[list[str]] = []

    async def write(items: list[str]) -> None:
        if "stuck" in items:
            await asyncio.sleep(3600)  # a database that stopped answering
        written.append(items)

    together = WriteTogether(write, "test-writes", timeout=0.2)
    with pytest.raises(TimeoutError):
        await together.add("stuck")
    await together.add("fine")  # the writes after it go through
    assert written == [["fine"]]


async def test_a_shared_writer_stopped_before_it_ran_leaves_nobody_waiting() -> None:
    written: list[list[str]] = []

    async def write(items: list[str]) -> None:
        written.append(items)

    together = WriteTogether(write, "test-writes")
    caller = asyncio.create_task(together.add("a"))
    await asyncio.sleep(0)  # the caller queued its write and started the writer
    writer = together._writer
    assert writer is not None
    writer.cancel()  # the process stops before the writer took its first step
    with pytest.raises(RuntimeError, match="stopping"):
        await asyncio.wait_for(caller, 1)
    await asyncio.wait_for(together.add("b"), 1)  # a new writer serves the next caller
    assert written == [["b"]]


@pytest.mark.parametrize(
    "writer, reader", [("installed", "without orjson"), ("without orjson", "installed")]
)
async def test_answers_noted_by_one_implementation_are_replayed_by_the_other(
    core: CoreContext, monkeypatch: pytest.MonkeyPatch, writer: str, reader: str
) -> None:
    """The inbox row's ``answers``: a process with orjson dies after sending, one without it
    runs the update again (or the other way round), and the message is not sent twice."""
    implementations = {"installed": fast_json, "without orjson": _without_orjson(monkeypatch)}
    write_with, read_with = implementations[writer], implementations[reader]
    update = _update(7002)
    await inbox.record(core, [update])
    bot = Bot("42:TEST")
    middleware = replay.ReplayAnswers(core)
    method = SendMessage(chat_id=501001, text=TEXT)
    sent: list[SendMessage] = []

    async def telegram(bot: Bot, method: Any) -> Message:
        sent.append(method)
        return Message(
            message_id=99,
            date=datetime(2026, 11, 22, 12, 0, tzinfo=UTC),
            chat=Chat(id=501001, type="private", first_name="Zoë 🦊"),
            text=method.text,
        )

    _use(monkeypatch, write_with)
    replay.begin(update["update_id"])
    first = await middleware(telegram, bot, method)
    assert len(sent) == 1

    _use(monkeypatch, read_with)
    async with core.unit_of_work() as uow:
        row = await uow.inbox.get(update["update_id"])
    assert row is not None and row.answers is not None
    replay.begin(update["update_id"], row.answers)
    again = await middleware(telegram, bot, method)
    assert len(sent) == 1, "the message was sent again"
    assert isinstance(again, Message) and isinstance(first, Message)
    assert again.text == first.text == TEXT and again.message_id == 99


async def test_the_notes_of_handlers_sending_together_share_a_transaction_and_replay(
    core: CoreContext,
) -> None:
    """Eight updates' handlers each send a message at the same moment: their notes are stored
    in fewer units of work than notes, each handler goes on only once its own note is
    stored, and each update run again sends nothing twice."""
    updates = [_update(7500 + n, f"hello {n}") for n in range(8)]
    await inbox.record(core, updates)
    middleware = replay.ReplayAnswers(core)
    bot = Bot("42:TEST")
    units = 0
    make_unit = core.unit_of_work

    def counted() -> Any:
        nonlocal units
        units += 1
        return make_unit()

    core = dataclasses.replace(core, unit_of_work=counted)
    middleware.core = core
    sent: list[str] = []

    async def telegram(bot: Bot, method: Any) -> Message:
        await asyncio.sleep(0)  # the answers come back together, as from one network read
        sent.append(method.text)
        return Message(
            message_id=100 + len(sent),
            date=datetime(2026, 11, 22, 12, 0, tzinfo=UTC),
            chat=Chat(id=method.chat_id, type="private", first_name="Zoë 🦊"),
            text=method.text,
        )

    async def handler(update: dict[str, Any], answers: str | None) -> tuple[int, str | None]:
        replay.begin(update["update_id"], answers)  # in this task's context, as the worker
        message = SendMessage(
            chat_id=501000 + update["update_id"], text=f"re {update['update_id']}"
        )
        await middleware(telegram, bot, message)
        async with make_unit() as uow:  # what a crash right now would leave
            row = await uow.inbox.get(update["update_id"])
        assert row is not None
        return update["update_id"], row.answers

    noted = await asyncio.gather(*(handler(u, None) for u in updates))
    assert len(sent) == 8 and all(answers for _, answers in noted)  # each stored before it went on
    for update_id, answers in noted:  # each row holds its own update's message, no other
        assert answers is not None
        [[_, message]] = json.loads(answers)
        assert json.loads(message)["text"] == f"re {update_id}"
    assert 1 <= units < 8  # fewer transactions than notes

    rerun = await asyncio.gather(
        *(handler(u, answers) for u, (_, answers) in zip(updates, noted, strict=True))
    )
    assert len(sent) == 8, "a message was sent again"
    assert [answers for _, answers in rerun] == [answers for _, answers in noted]


# --- freed heap memory goes back to the system ------------------------------------------------


def _resident_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))


@pytest.mark.skipif(event_loop._malloc_trim() is None, reason="glibc's malloc_trim only")
async def test_memory_freed_under_memory_still_in_use_goes_back_to_the_system() -> None:
    """A burst's buffers freed below one still in use stay resident (``free`` only gives back
    the top of the heap); the bot's periodic trim returns them."""
    burst = [bytearray(64 * 1024) for _ in range(1600)]  # 100 MB in heap-sized pieces
    for piece in burst:
        piece[::4096] = b"x" * len(piece[::4096])  # touched: resident
    kept = burst[-1]  # in use, above all the rest: the heap's top cannot shrink
    del burst
    before = _resident_kb()  # freed, but still resident
    stop = asyncio.Event()
    task = asyncio.create_task(event_loop.give_back_memory(stop, every=0.05))
    try:
        for _ in range(100):  # the first trim comes after 0.05 s; a busy machine is slower
            await asyncio.sleep(0.05)
            if before - _resident_kb() > 50_000:
                break
        after = _resident_kb()
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert len(kept) == 64 * 1024
    assert before - after > 50_000, (before, after)  # most of the 100 MB went back


async def test_the_memory_loop_trims_again_and_again_and_stops_with_its_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(event_loop, "_malloc_trim", lambda: calls.append)
    stop = asyncio.Event()
    task = asyncio.create_task(event_loop.give_back_memory(stop, every=0.02))
    for _ in range(250):
        await asyncio.sleep(0.02)
        if len(calls) >= 3:
            break
    stop.set()
    await asyncio.wait_for(task, 5)  # stops at once, not after its pause
    assert len(calls) >= 3 and set(calls) == {0}
    count = len(calls)
    await asyncio.sleep(0.1)
    assert len(calls) == count  # none after the stop

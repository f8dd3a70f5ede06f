"""FakeTelegramServer POSTs queued updates to the webhook as Telegram does.

The webhook receiver is a tiny aiohttp app defined here (no bot needed), except in the last
tests, where aiogram's own webhook handler receives and answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.methods import SendMessage
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.testing import FakeApiError, FakeTelegram, FakeTelegramServer, create_fake_bot, fake_server

ANA, BOB = 1001, 1002
SECRET = "s3cret"


# ------------------------------------------------------------------------ helpers


class Receiver:
    """A webhook endpoint that records what arrives and answers ``statuses`` in turn (then
    200), after ``delay`` seconds; it counts when a chat had two updates in flight at once."""

    def __init__(self, statuses: tuple[int, ...] = (), delay: float = 0.0) -> None:
        self.statuses = list(statuses)
        self.delay = delay
        self.received: list[dict[str, Any]] = []  # update JSON, in arrival order
        self.headers: list[dict[str, str]] = []
        self.in_flight: dict[int, int] = {}  # chat → updates being handled now
        self.peak = 0  # most updates handled at once, all chats
        self.overlaps = 0  # times an update arrived while one of its chat was being handled

    async def handle(self, request: web.Request) -> web.Response:
        update = await request.json()
        self.received.append(update)
        self.headers.append(dict(request.headers))
        chat = update["message"]["chat"]["id"] if "message" in update else 0
        self.in_flight[chat] = self.in_flight.get(chat, 0) + 1
        self.overlaps += self.in_flight[chat] > 1
        self.peak = max(self.peak, sum(self.in_flight.values()))
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight[chat] -= 1
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    def ids(self, chat: int | None = None) -> list[int]:
        return [
            update["update_id"]
            for update in self.received
            if chat is None or update["message"]["chat"]["id"] == chat
        ]


@asynccontextmanager
async def serve(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]], port: int = 0
) -> AsyncIterator[str]:
    """An aiohttp app answering every POST with ``handler``; yields its base URL."""
    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.005)


async def set_webhook(fake: FakeTelegram, url: str, **params: Any) -> None:
    await fake.call("setWebhook", {"url": url, **params})


async def webhook_info(fake: FakeTelegram) -> dict[str, Any]:
    info: dict[str, Any] = await fake.call("getWebhookInfo", {})
    return info


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram(allow_http_webhooks=True)
    fake.add_user(ANA, "Ana", "es")
    fake.add_user(BOB, "Bob", "en")
    async with FakeTelegramServer(fake, webhook_retry_delay=0.05):
        yield fake


# -------------------------------------------------------------------------- delivery


async def test_updates_are_posted_as_json_with_the_secret_header(fake: FakeTelegram) -> None:
    receiver = Receiver()
    async with serve(receiver.handle) as url:
        await set_webhook(fake, f"{url}/hook", secret_token=SECRET)
        update = fake.user_message(ANA, "hola")
        await until(lambda: fake.queued == 0)

    assert receiver.received == [update]
    headers = receiver.headers[0]
    assert headers["Content-Type"].startswith("application/json")
    assert headers["X-Telegram-Bot-Api-Secret-Token"] == SECRET
    assert [(d.update_id, d.result, d.ok) for d in fake.webhook_deliveries] == [
        (update["update_id"], 200, True)
    ]
    delivery = fake.webhook_deliveries[0]
    assert fake.update_queued_at[update["update_id"]] <= delivery.sent_at <= delivery.answered_at


async def test_without_a_secret_token_no_secret_header_is_sent(fake: FakeTelegram) -> None:
    receiver = Receiver()
    async with serve(receiver.handle) as url:
        await set_webhook(fake, f"{url}/hook")
        fake.user_message(ANA, "hola")
        await until(lambda: fake.queued == 0)
    assert "X-Telegram-Bot-Api-Secret-Token" not in receiver.headers[0]


async def test_a_500_is_retried_and_the_update_delivered_once(fake: FakeTelegram) -> None:
    receiver = Receiver(statuses=(500,))
    async with serve(receiver.handle) as url:
        await set_webhook(fake, f"{url}/hook")
        update_id = fake.user_message(ANA, "hola")["update_id"]
        await until(lambda: fake.queued == 0)
        await asyncio.sleep(0.1)  # nothing more comes

    assert receiver.ids() == [update_id, update_id]
    assert [d.result for d in fake.webhook_deliveries] == [500, 200]
    info = await webhook_info(fake)
    assert info["pending_update_count"] == 0
    assert (
        info["last_error_message"] == "Wrong response from the webhook: 500 Internal Server Error"
    )
    assert abs(info["last_error_date"] - time.time()) < 5


async def test_a_refused_connection_is_retried_until_the_bot_listens(fake: FakeTelegram) -> None:
    port = free_port()
    await set_webhook(fake, f"http://127.0.0.1:{port}/hook")
    update_id = fake.user_message(ANA, "hola")["update_id"]
    await until(lambda: len(fake.webhook_deliveries) >= 2)  # refused, and retried

    info = await webhook_info(fake)
    assert (info["pending_update_count"], info["last_error_message"]) == (1, "Connection refused")
    assert {d.result for d in fake.webhook_deliveries} == {"Connection refused"}

    receiver = Receiver()
    async with serve(receiver.handle, port):
        await until(lambda: fake.queued == 0)
    assert receiver.ids() == [update_id]
    assert fake.webhook_deliveries[-1].result == 200


async def test_a_slow_answer_times_out_and_is_retried() -> None:
    fake = FakeTelegram(allow_http_webhooks=True)
    fake.add_user(ANA, "Ana")
    slow = Receiver(delay=0.3)
    async with (
        FakeTelegramServer(fake, webhook_retry_delay=0.05, webhook_timeout=0.1),
        serve(slow.handle) as url,
    ):
        await set_webhook(fake, url)
        fake.user_message(ANA, "hola")
        await until(lambda: bool(fake.webhook_deliveries))
        assert fake.webhook_deliveries[0].result == "Read timeout expired"
        slow.delay = 0
        await until(lambda: fake.queued == 0)
        await asyncio.sleep(0.35)  # let the abandoned handler end before the app closes


@pytest.mark.parametrize("max_connections", [1, 4])
async def test_each_chat_gets_its_updates_in_order_and_one_at_a_time(
    fake: FakeTelegram, max_connections: int
) -> None:
    receiver = Receiver(delay=0.03)
    async with serve(receiver.handle) as url:
        await set_webhook(fake, url, max_connections=max_connections)
        made = [fake.user_message(who, f"{n}")["update_id"] for n in range(4) for who in (ANA, BOB)]
        await until(lambda: fake.queued == 0)

    assert sorted(receiver.ids()) == made  # each exactly once
    assert receiver.ids(ANA) == made[0::2]
    assert receiver.ids(BOB) == made[1::2]
    assert receiver.overlaps == 0
    assert receiver.peak == min(max_connections, 2)  # the two chats in parallel, if allowed


async def test_an_update_queued_later_for_a_chat_waits_for_the_failing_one(
    fake: FakeTelegram,
) -> None:
    receiver = Receiver(statuses=(502, 502))
    async with serve(receiver.handle) as url:
        await set_webhook(fake, url)
        first = fake.user_message(ANA, "1")["update_id"]
        second = fake.user_message(ANA, "2")["update_id"]
        await until(lambda: fake.queued == 0)
    assert receiver.ids() == [first, first, first, second]


async def test_delete_webhook_stops_delivery_and_get_updates_works_again(
    fake: FakeTelegram,
) -> None:
    receiver = Receiver()
    async with serve(receiver.handle) as url:
        await set_webhook(fake, url)
        first = fake.user_message(ANA, "one")["update_id"]
        await until(lambda: fake.queued == 0)
        with pytest.raises(FakeApiError, match="webhook is active"):
            await fake.call("getUpdates", {})

        await fake.call("deleteWebhook", {})
        second = fake.user_message(ANA, "two")["update_id"]
        await asyncio.sleep(0.1)

        assert receiver.ids() == [first]
        assert (await webhook_info(fake))["pending_update_count"] == 1
        updates = await fake.call("getUpdates", {})
        assert [update["update_id"] for update in updates] == [second]


async def test_allowed_updates_filter_what_is_posted(fake: FakeTelegram) -> None:
    receiver = Receiver()
    async with serve(receiver.handle) as url:
        await set_webhook(fake, url, allowed_updates=["callback_query"])
        fake.user_message(ANA, "dropped")
        pressed = fake.press(ANA, 1, "ok", strict=False)
        await until(lambda: fake.queued == 0)
    assert receiver.received == [pressed]
    assert (await webhook_info(fake))["allowed_updates"] == ["callback_query"]


async def test_webhook_info_counts_pending_updates_while_the_bot_fails(
    fake: FakeTelegram,
) -> None:
    receiver = Receiver(statuses=(503,) * 1000)
    async with serve(receiver.handle) as url:
        await set_webhook(fake, url, max_connections=7)
        for n in range(3):
            fake.user_message(ANA, f"{n}")
        await until(lambda: len(fake.webhook_deliveries) >= 2)
        info = await webhook_info(fake)
        assert (info["url"], info["pending_update_count"], info["max_connections"]) == (url, 3, 7)
        assert info["last_error_message"] == (
            "Wrong response from the webhook: 503 Service Unavailable"
        )
        receiver.statuses.clear()
        await until(lambda: fake.queued == 0)
        assert (await webhook_info(fake))["pending_update_count"] == 0


async def test_delivery_pauses_while_telegram_is_unreachable(fake: FakeTelegram) -> None:
    receiver = Receiver()
    async with serve(receiver.handle) as url:
        await set_webhook(fake, url)
        fake.unreachable = True
        fake.user_message(ANA, "hola")
        await asyncio.sleep(0.05)
        assert receiver.received == []
        fake.unreachable = False
        await until(lambda: fake.queued == 0)


# ------------------------------------------------------------- what setWebhook takes


async def test_http_and_odd_ports_are_refused_unless_allowed() -> None:
    strict = FakeTelegram()
    with pytest.raises(FakeApiError, match="An HTTPS URL must be provided"):
        await strict.call("setWebhook", {"url": "http://127.0.0.1:8080/hook"})
    with pytest.raises(FakeApiError, match="only on ports 80, 88, 443 or 8443"):
        await strict.call("setWebhook", {"url": "https://example.com:8080/hook"})
    assert await strict.call("setWebhook", {"url": "https://example.com:8443/hook"}) is True

    relaxed = FakeTelegram(allow_http_webhooks=True)
    assert await relaxed.call("setWebhook", {"url": "http://127.0.0.1:8080/hook"}) is True
    assert (await webhook_info(relaxed))["url"] == "http://127.0.0.1:8080/hook"


async def test_the_standalone_server_takes_allow_http_webhooks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = fake_server._parser().parse_args(["--port", "0", "--allow-http-webhooks"])
    serving = asyncio.create_task(fake_server._serve(args))  # in-process: no interpreter start
    try:
        url = await first_line_printed(capsys)
        token = FakeTelegram().token
        async with aiohttp.ClientSession() as http:
            hook = {"url": "http://127.0.0.1:9/hook"}
            async with http.post(f"{url}/bot{token}/setWebhook", json=hook) as response:
                assert (response.status, (await response.json())["result"]) == (200, True)
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving


async def first_line_printed(capsys: pytest.CaptureFixture[str]) -> str:
    for _ in range(300):
        out = capsys.readouterr().out
        if out:
            return out.splitlines()[0]
        await asyncio.sleep(0.01)
    raise AssertionError("the server printed nothing")


# ------------------------------------------------------------- what benchmarks read


async def test_calls_record_when_they_arrived_and_their_chat() -> None:
    fake = FakeTelegram()
    fake.add_user(ANA, "Ana")
    bot = create_fake_bot(fake)
    before = time.monotonic()
    update = fake.user_message(ANA, "hola")
    await bot.send_message(ANA, "hi")
    pressed = fake.press(ANA, 1, "x", strict=False)
    await bot.answer_callback_query(pressed["callback_query"]["id"])
    await bot.session.close()

    assert before <= fake.update_queued_at[update["update_id"]] <= fake.calls[0].at
    assert [(call.method, call.chat_id) for call in fake.calls] == [
        ("sendMessage", ANA),
        ("answerCallbackQuery", ANA),
    ]
    assert fake.calls[0].at <= fake.calls[1].at <= time.monotonic()


# ---------------------------------------------------------- aiogram as the receiver


def echo_dispatcher() -> Dispatcher:
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> SendMessage:  # answered in the webhook response
        return message.answer(f"echo: {message.text}")

    return dp


async def test_aiogram_webhook_handler_receives_and_its_reply_is_executed(
    fake: FakeTelegram,
) -> None:
    bot = Bot(fake.token)  # the reply travels in the webhook answer: no Bot API session used
    handler = SimpleRequestHandler(
        echo_dispatcher(), bot, secret_token=SECRET, handle_in_background=False
    )
    async with serve(handler.handle) as url:
        await set_webhook(fake, f"{url}/webhook", secret_token=SECRET)
        fake.user_message(ANA, "hola")
        await until(lambda: fake.queued == 0 and fake.last_message(ANA) is not None)
        assert fake.last_message(ANA)["text"] == "echo: hola"  # type: ignore[index]

        await set_webhook(fake, f"{url}/webhook", secret_token="wrong")  # 401 from aiogram
        fake.user_message(ANA, "again")
        await until(lambda: any(not delivery.ok for delivery in fake.webhook_deliveries))
        assert (await webhook_info(fake))["last_error_message"] == (
            "Wrong response from the webhook: 401 Unauthorized"
        )
        await fake.call("deleteWebhook", {})
    await bot.session.close()

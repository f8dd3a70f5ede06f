"""RoundRobinBalancer: one URL in front of several targets, as nginx would put it."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web

from bot.testing import FakeTelegram, FakeTelegramServer, RoundRobinBalancer

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@asynccontextmanager
async def target(name: str, seen: list[dict[str, Any]]) -> AsyncIterator[str]:
    """A server that answers every request with its name, and records what it got."""

    async def handle(request: web.Request) -> web.Response:
        seen.append(
            {
                "target": name,
                "method": request.method,
                "path_qs": request.path_qs,
                "headers": dict(request.headers),
                "body": await request.read(),
            }
        )
        return web.Response(
            status=201, text=name, headers={"X-Served-By": name, "Keep-Alive": "timeout=5"}
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def dead_url() -> str:
    """A loopback URL where nobody listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


async def get_names(url: str, count: int) -> list[tuple[int, str]]:
    async with aiohttp.ClientSession() as http:
        answers = []
        for _ in range(count):
            async with http.get(f"{url}/ping") as response:
                answers.append((response.status, await response.text()))
        return answers


async def test_requests_go_to_the_targets_in_turn() -> None:
    seen: list[dict[str, Any]] = []
    async with (
        target("a", seen) as a,
        target("b", seen) as b,
        RoundRobinBalancer([a, b]) as balancer,
    ):
        answers = await get_names(balancer.url, 4)
    assert answers == [(201, "a"), (201, "b"), (201, "a"), (201, "b")]
    assert balancer.forwarded == {a: 2, b: 2}


async def test_a_target_that_refuses_is_skipped() -> None:
    seen: list[dict[str, Any]] = []
    dead = dead_url()
    async with target("live", seen) as live, RoundRobinBalancer([dead, live]) as balancer:
        answers = await get_names(balancer.url, 3)
    assert answers == [(201, "live")] * 3
    assert balancer.forwarded == {dead: 0, live: 3}


async def test_502_when_every_target_refuses() -> None:
    async with RoundRobinBalancer([dead_url(), dead_url()]) as balancer:
        assert await get_names(balancer.url, 1) == [(502, "502 Bad Gateway")]
    assert set(balancer.forwarded.values()) == {0}


async def test_method_path_query_headers_and_body_go_through_both_ways() -> None:
    seen: list[dict[str, Any]] = []
    async with (
        target("a", seen) as a,
        RoundRobinBalancer([a]) as balancer,
        aiohttp.ClientSession() as http,
    ):
        async with http.put(
            f"{balancer.url}/webhook/x?y=1&z=%20",
            data=b'{"update_id": 1}',
            headers={
                SECRET_HEADER: "s3cret",
                "Content-Type": "application/json",
                "X-Custom": "kept",
                "Proxy-Authorization": "Basic eDp5",  # hop-by-hop: not passed on
            },
        ) as response:
            assert (response.status, await response.text()) == (201, "a")
            assert response.headers["X-Served-By"] == "a"
            assert "Keep-Alive" not in response.headers

    [request] = seen
    assert (request["method"], request["path_qs"], request["body"]) == (
        "PUT",
        "/webhook/x?y=1&z=%20",
        b'{"update_id": 1}',
    )
    headers = request["headers"]
    assert headers[SECRET_HEADER] == "s3cret"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Custom"] == "kept"
    assert "Proxy-Authorization" not in headers


async def test_webhook_updates_spread_over_two_receivers_behind_the_balancer() -> None:
    fake = FakeTelegram(allow_http_webhooks=True)
    for user_id in (1001, 1002):
        fake.add_user(user_id, f"User {user_id}")
    seen: list[dict[str, Any]] = []
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(target("a", seen))
        b = await stack.enter_async_context(target("b", seen))
        balancer = await stack.enter_async_context(RoundRobinBalancer([a, b]))
        await stack.enter_async_context(FakeTelegramServer(fake))
        await fake.call("setWebhook", {"url": f"{balancer.url}/hook", "secret_token": "s3cret"})
        made = [fake.user_message(1001 + n % 2, str(n))["update_id"] for n in range(6)]
        for _ in range(300):  # until all are delivered, at most 3 s
            if not fake.queued:
                break
            await asyncio.sleep(0.01)

    assert fake.queued == 0
    assert sorted(json.loads(r["body"])["update_id"] for r in seen) == made
    assert {r["headers"][SECRET_HEADER] for r in seen} == {"s3cret"}
    assert balancer.forwarded == {a: 3, b: 3}

"""``returns-desk web``: the board served on its own beside a polling bot, with /healthz."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from bot.board import api as board_api
from bot.board.server import serve
from bot.config import load_settings
from bot.receiving import webhook
from bot.receiving.runner import board_app
from bot.testing.webapp import signed_init_data
from tests.board.conftest import AURORA_SELLER, BoardWorld
from tests.telegram.conftest import CATALOGS


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_web_command_serves_the_board_and_its_health(tmp_path: Path) -> None:
    settings = load_settings(DATA_DIR=tmp_path / "data", BOT_TOKEN="123456:" + "A" * 35)
    port = free_port()
    started, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(settings, "127.0.0.1", port, started=started, stop=stop))
    try:
        await asyncio.wait_for(started.wait(), 30)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.get("/healthz") as health:
                assert health.status == 200 and await health.text() == "ok"
            async with http.get("/board/") as page:
                assert page.status == 200 and "board.js" in await page.text()
            async with http.post("/board/api/session", json={"init_data": "user=1&hash=0"}) as no:
                assert no.status == 401
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_the_webhook_server_serves_the_board_beside_the_webhook(board: BoardWorld) -> None:
    token = "123456:" + "B" * 35
    settings = load_settings(BOT_TOKEN=token, WEBAPP_URL="https://bot.example.com/board")
    assert settings.webapp_url == "https://bot.example.com/board/"
    app = webhook.make_app(board.core, path="/telegram", secret="s" * 20, recorded=lambda: None)
    board_api.mount(app, board_app(settings, board.core, CATALOGS))
    async with TestClient(TestServer(app)) as client:
        page = await client.get("/board/")
        assert page.status == 200
        refused = await client.post("/telegram", json={"update_id": 1})
        assert refused.status == 403  # the webhook keeps its secret
        signed_in = await client.post(
            "/board/api/session",
            json={
                "init_data": signed_init_data(
                    token, {"id": AURORA_SELLER, "first_name": "Mei"}, board.world.clock.now()
                )
            },
        )
        assert signed_in.status == 200

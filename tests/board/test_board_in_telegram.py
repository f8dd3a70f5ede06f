"""Opening the board from Telegram: /board in a seller's private chat (a Mini App button, a
one-time login link and the menu button), ``/start board-<case>`` from a group alert's link,
and the board's link under every staff alert, only when WEBAPP_URL is set."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient

from bot.board import links as board_links
from tests.board.conftest import AURORA_SELLER, LUCIA, BoardWorld, damaged_lamp
from tests.telegram.conftest import CATALOGS

WEBAPP = "https://desk.example.com/board/"


@pytest.fixture
def configured() -> Iterator[board_links.BoardLinks]:
    links = board_links.BoardLinks(WEBAPP, "ReturnsDeskBot", None)
    board_links.configure(links)
    try:
        yield links
    finally:
        board_links.configure(None)


def keyboard(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [button for row in message["reply_markup"]["inline_keyboard"] for button in row]


async def test_board_sends_a_mini_app_button_and_a_login_link_that_works_once(
    board: BoardWorld, configured: board_links.BoardLinks
) -> None:
    seller = board.world.person(AURORA_SELLER, "Mei", "en")
    await seller.send("/board")
    message = board.fake.last_message(AURORA_SELLER)
    assert message is not None and "works once" in message["text"]
    app, browser = keyboard(message)
    assert app["web_app"]["url"] == WEBAPP
    login = parse_qs(urlsplit(browser["url"]).query)["login"][0]
    assert board.fake.menu_buttons[AURORA_SELLER]["web_app"]["url"] == WEBAPP

    async with TestClient(board.server) as client:
        first = await client.post("/board/api/session", json={"login": login})
        assert first.status == 200
        second = await client.post("/board/api/session", json={"login": login})
        assert second.status == 401


async def test_a_group_alerts_link_gets_a_login_link_to_that_case(
    board: BoardWorld, configured: board_links.BoardLinks
) -> None:
    seller = board.world.person(AURORA_SELLER, "Mei", "en")
    await seller.send("/start")
    number = await damaged_lamp(board.world)
    await board.notifier.send_due()
    alert = board.fake.last_message(AURORA_SELLER)
    assert alert is not None
    links = [b["url"] for b in keyboard(alert) if "url" in b]
    assert links == [f"https://t.me/ReturnsDeskBot?start=board-{number}"]

    await seller.send(f"/start board-{number}")
    message = board.fake.last_message(AURORA_SELLER)
    assert message is not None
    app, browser = keyboard(message)
    assert parse_qs(urlsplit(app["web_app"]["url"]).query)["case"] == [number]
    assert parse_qs(urlsplit(browser["url"]).query)["case"] == [number]


async def test_with_a_short_name_the_link_opens_the_mini_app_at_the_case(
    board: BoardWorld,
) -> None:
    board_links.configure(board_links.BoardLinks(WEBAPP, "ReturnsDeskBot", "desk"))
    try:
        await board.world.person(AURORA_SELLER, "Mei", "en").send("/start")
        number = await damaged_lamp(board.world)
        await board.notifier.send_due()
        alert = board.fake.last_message(AURORA_SELLER)
        assert alert is not None
        links = [b["url"] for b in keyboard(alert) if "url" in b]
        assert links == [f"https://t.me/ReturnsDeskBot/desk?startapp={number}"]
    finally:
        board_links.configure(None)


async def test_without_webapp_url_no_board_button_and_board_says_so(board: BoardWorld) -> None:
    seller = board.world.person(AURORA_SELLER, "Mei", "en")
    await seller.send("/start")
    await damaged_lamp(board.world)
    await board.notifier.send_due()
    alert = board.fake.last_message(AURORA_SELLER)
    assert alert is not None and not [b for b in keyboard(alert) if "url" in b]
    await seller.send("/board")
    assert "WEBAPP_URL" in seller.last()


async def test_a_buyer_gets_no_login_link(
    board: BoardWorld, configured: board_links.BoardLinks
) -> None:
    buyer = board.world.person(LUCIA, "Lucía", "es")
    await buyer.send("/board")
    sent = board.fake.messages_to(LUCIA)
    assert not any(
        "login=" in (b.get("url") or "") for m in sent for b in keyboard(m) if m.get("reply_markup")
    )


async def test_at_start_every_staff_chat_gets_the_boards_menu_button(
    board: BoardWorld, configured: board_links.BoardLinks
) -> None:
    done = await board_links.set_menu_buttons(board.bot, board.core, CATALOGS)
    # Aurora's seller has talked to the bot; the others have no chat with it yet: skipped
    assert done == 1
    assert board.fake.menu_buttons[AURORA_SELLER] == {
        "type": "web_app",
        "text": "Board",
        "web_app": {"url": WEBAPP},
    }

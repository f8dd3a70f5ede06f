"""The board in a real browser: Debian's Chromium, headless, driven by Playwright for Python.

A seller opens the board as Telegram opens a Mini App (Telegram's script stubbed: the browser
never leaves loopback), filters to "waiting on me", opens the case, sees its three photos and
approves a partial refund; the database and the buyer's message say it happened once. The
same in English, Chinese and Arabic (right to left). One browser for the module; screenshots
of each page are kept in the test's temporary directory (``BOARD_README_SCREENSHOT=path``
also writes the English case page there: docs/board.png in the README).

Skipped where /usr/bin/chromium or Playwright is missing (``.ci/run`` installs Chromium from
Debian; nothing here downloads a browser).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.board.views import plain
from bot.testing.webapp import telegram_web_app_js
from bot.views import texts
from core.cases.lifecycle import CaseStatus
from core.cases.reasons import Resolution
from core.money import Money
from tests.board.conftest import (
    AURORA_SELLER,
    LUCIA,
    BoardWorld,
    board_world,
    damaged_lamp,
    wrong_item,
)
from tests.telegram.conftest import CATALOGS

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TELEGRAM_JS = "https://telegram.org/js/telegram-web-app.js"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium"),
]
async_api = pytest.importorskip("playwright.async_api")


async def only_loopback(route: Any) -> None:
    """Telegram's script is stubbed; anything else off loopback is refused, not fetched."""
    url = route.request.url
    if url.startswith("http://127.0.0.1:"):
        await route.continue_()
    else:
        await route.abort()


async def seller_story(browser: Any, board: BoardWorld, language: str, shots: Path) -> None:
    tr = CATALOGS.get(language)
    lamp = await damaged_lamp(board.world)
    other = await wrong_item(board.world)  # waits on the buyer's parcel, not on the seller
    await board.notifier.send_due()
    told_before = len(board.fake.messages_to(LUCIA))

    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=1, locale=language
    )
    try:
        init_data = board.init_data(AURORA_SELLER, "Mei", language)
        dark = language == "ar"  # one run in Telegram's dark theme
        stub = telegram_web_app_js(init_data, dark=dark)
        await context.route("**/*", only_loopback)
        await context.route(
            TELEGRAM_JS,
            lambda route: route.fulfill(content_type="application/javascript", body=stub),
        )
        page = await context.new_page()
        await page.goto(str(board.server.make_url("/board/")))

        # the list: both cases, then only the one waiting on the seller
        await page.wait_for_selector(f"#cases li[data-number='{other}']")
        direction = await page.get_attribute("html", "dir")
        assert direction == ("rtl" if language == "ar" else "ltr"), language
        assert await page.get_attribute("html", "lang") == language
        background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == ("rgb(23, 33, 43)" if dark else "rgb(255, 255, 255)"), background
        assert await page.text_content("#mine-label") == plain(tr("Waiting on me"))
        await page.screenshot(path=str(shots / f"list-{language}.png"), full_page=True)
        await page.check("#mine")
        await page.wait_for_selector(f"#cases li[data-number='{other}']", state="detached")
        numbers = await page.eval_on_selector_all(
            "#cases li", "items => items.map(i => i.dataset.number)"
        )
        assert numbers == [lamp], (language, numbers)

        # the case: three photos, the partial refund asked with the button's question
        await page.click(f"#cases li[data-number='{lamp}'] .main")
        await page.wait_for_selector("#case-view:not([hidden])")
        await page.wait_for_function(
            "() => [...document.querySelectorAll('#c-evidence img')]"
            ".filter(i => i.complete && i.naturalWidth > 0).length === 3"
        )
        words = await page.text_content("#c-words")
        assert words is not None and "La base llegó rota <b>&</b> 💡" in words  # as typed
        await page.screenshot(path=str(shots / f"case-{language}.png"), full_page=True)
        readme_copy = os.environ.get("BOARD_README_SCREENSHOT")
        if readme_copy and language == "en":
            shutil.copyfile(shots / f"case-{language}.png", readme_copy)

        await page.click("#c-actions button[data-code='part']")
        question = await page.text_content("#c-question")
        assert question == plain(
            tr("Type the amount to refund (the buyer keeps the item), for example 12.50.")
        )
        await page.fill("#c-text", "12.50")
        await page.click("#c-send")
        resolved = plain(texts.status_for(tr, CaseStatus.AWAITING_RESOLUTION, staff=True))
        await page.wait_for_function(
            "label => document.getElementById('c-title').textContent.includes(label)", arg=resolved
        )
        await page.screenshot(path=str(shots / f"decided-{language}.png"), full_page=True)
    finally:
        await context.close()

    case = await board.case(lamp)
    assert case.resolution is Resolution.PARTIAL_REFUND, language
    assert case.refund_amount == Money.parse("12.50", "EUR")
    assert (await board.trail(lamp)).count("approve") == 1
    await board.notifier.send_due()
    told = board.fake.messages_to(LUCIA)[told_before:]
    assert len(told) == 1, (language, [m.get("text") for m in told])
    assert lamp in told[0]["text"] and "12,50" in told[0]["text"]  # to Lucía, in Spanish


async def test_a_seller_approves_a_partial_refund_on_the_board_in_three_languages(
    tmp_path: Path,
) -> None:
    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=ARGS, headless=True
        )
        try:
            for language in ("en", "zh", "ar"):
                async with board_world(tmp_path / language) as board:
                    await seller_story(browser, board, language, tmp_path)
        finally:
            await browser.close()

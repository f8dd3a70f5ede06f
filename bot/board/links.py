"""Where the board opens from: the links under staff alerts and cards, the one-time login
links, and the staff's menu button. Set once at start (``configure``) when WEBAPP_URL is set;
with no board configured, nothing here adds a button.

Mini App buttons (``web_app``) work in private chats only; under an alert in the shop's staff
group or an agents' topic the button is a link: ``t.me/<bot>/<app>?startapp=<case>`` when the
Mini App has a short name (WEBAPP_SHORT_NAME, from @BotFather's /newapp), else
``t.me/<bot>?start=board-<case>``, which makes the bot send that person a one-time login link
in private chat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlencode

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import InlineKeyboardButton, MenuButtonWebApp, WebAppInfo

from bot.views.i18n import Catalogs, Translator
from core.services import people
from core.services.access import agent_ids, seller_ids
from core.services.context import CoreContext

log = logging.getLogger("returns_desk.board")

START_PREFIX = "board-"  # /start board-<case>: a login link, opening that case


@dataclass(frozen=True, slots=True)
class BoardLinks:
    webapp_url: str  # ends with /
    bot_username: str
    short_name: str | None = None

    def page(self, case: str | None = None, login: str | None = None) -> str:
        query = {key: value for key, value in (("case", case), ("login", login)) if value}
        return self.webapp_url + (f"?{urlencode(query)}" if query else "")

    def case_link(self, number: str) -> str:
        bot = self.bot_username.lstrip("@")
        if self.short_name:
            return f"https://t.me/{bot}/{self.short_name}?startapp={number}"
        return f"https://t.me/{bot}?start={START_PREFIX}{number}"


_current: BoardLinks | None = None


def configure(links: BoardLinks | None) -> None:
    global _current
    _current = links


def current() -> BoardLinks | None:
    return _current


def case_button(tr: Translator, number: str) -> InlineKeyboardButton | None:
    """The link to a case on the board, under every staff alert and card (none without a
    board)."""
    links = current()
    if links is None:
        return None
    return InlineKeyboardButton(text="📋 " + tr("Open on the board"), url=links.case_link(number))


def menu_button(tr: Translator, links: BoardLinks) -> MenuButtonWebApp:
    return MenuButtonWebApp(text=tr("Board"), web_app=WebAppInfo(url=links.page()))


async def set_menu_buttons(bot: Bot, core: CoreContext, catalogs: Catalogs) -> int:
    """The board's menu button in the private chat of every seller and agent (in their
    language); a person who never started the bot has no chat yet and is skipped."""
    links = current()
    if links is None:
        return 0
    staff: set[int] = set()
    async with core.unit_of_work() as uow:
        for shop in core.config.shops:
            staff.update(await seller_ids(uow, core.config, shop))
            staff.update(await agent_ids(uow, core.config, shop))
    done = 0
    for user_id in sorted(staff):
        tr = catalogs.get(await people.language_of(core, user_id))
        try:
            await bot.set_chat_menu_button(chat_id=user_id, menu_button=menu_button(tr, links))
        except TelegramAPIError as exc:
            log.info("no board menu button for %s: %s", user_id, exc)
            continue
        done += 1
    return done

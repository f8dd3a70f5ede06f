"""A buyer-side test world: the sample shops and orders, the real Dispatcher from the
product's factory, and a fake Telegram that people talk to, update by update."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.support.fake_server import FakeTelegramServer

from bot.delivery.notifier import Notifier, SendLimits
from bot.factory import create_bot, create_dispatcher
from bot.views.i18n import Catalogs
from core.cases.model import Actor, Case, Evidence, EvidenceKind
from core.cases.reasons import Reason
from core.clock import FixedClock
from core.orders.model import Order
from core.orders.numbers import normalize_order_number
from core.persistence.engine import create_engine, create_session_factory
from core.persistence.migrate import upgrade
from core.persistence.unit_of_work import UnitOfWork
from core.policy.config import load_config
from core.policy.decision import Claim
from core.services import cases as case_service
from core.services.context import CoreContext
from core.services.evidence_store import EvidenceStore
from core.services.linking import order_link
from core.services.orders import import_orders
from tests.support import FakeTelegram, FeedDriver, Person, create_fake_bot

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SAMPLES = Path(__file__).resolve().parents[2] / "core" / "sample"
CATALOGS = Catalogs()  # parsing the catalogues once is enough for the whole run


@dataclass
class World:
    core: CoreContext
    fake: FakeTelegram
    clock: FixedClock
    person: Callable[..., Person]
    restart: Callable[[], Awaitable[None]]

    async def order(self, shop: str, number: str) -> Order:
        async with self.core.unit_of_work() as uow:
            order = await uow.orders.get_by_key(shop, normalize_order_number(number))
        assert order is not None
        return order

    async def start_link(self, shop: str, number: str) -> str:
        """The /start payload of the link in the order e-mail."""
        link = order_link(self.core, await self.order(shop, number))
        return link.split("?start=", 1)[1]

    async def cases_of(self, user_id: int):
        async with self.core.unit_of_work() as uow:
            return await uow.cases.list_for_buyer(user_id)


async def counterfeit_charger(world: World, buyer: Person) -> Case:
    """The buyer follows NV-5502's link and reports its charger counterfeit with three photos
    they uploaded: a case only an agent decides (awaiting an agent)."""
    await buyer.send(f"/start {await world.start_link('nova', 'NV-5502')}")
    order = await world.order("nova", "NV-5502")
    assert order.id is not None
    photos = tuple(
        Evidence(
            EvidenceKind.PHOTO,
            f"fake-{n}",
            file_id=world.fake.user_photo(buyer.id)["message"]["photo"][-1]["file_id"],
        )
        for n in range(3)
    )
    world.fake.take_updates()  # those uploads only made files; the bot need not see them
    opened = await case_service.open_case(
        world.core,
        Actor.buyer(buyer.id),
        case_service.NewCase(
            order_id=order.id,
            claims=(Claim(2, 1),),
            reason=Reason.COUNTERFEIT,
            description="O carregador parece falso",
            evidence=photos,
        ),
    )
    return opened.case


async def asks_for_a_person(world: World, buyer: Person, description: str) -> Case:
    """The buyer follows NV-5502's link and reports its charger counterfeit, asking for a
    person, with no evidence: an escalated case, for the agents' forum group."""
    await buyer.send(f"/start {await world.start_link('nova', 'NV-5502')}")
    order = await world.order("nova", "NV-5502")
    opened = await case_service.open_case(
        world.core,
        Actor.buyer(buyer.id),
        case_service.NewCase(
            order_id=order.id or 0,
            claims=(Claim(2, 1),),
            reason=Reason.COUNTERFEIT,
            description=description,
            evidence=(),
            wants_person=True,
        ),
    )
    return opened.case


def unpaced_notifier(bot: Bot, world: World, agents_chat_id: int | None = None) -> Notifier:
    """The outbox sender of that world, without Telegram's pacing (tests call send_due())."""
    limits = SendLimits(per_second=1e6, private_interval=0, group_interval=0)
    return Notifier(bot, world.core, CATALOGS, agents_chat_id=agents_chat_id, limits=limits)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/bot.sqlite3")
    async with world_on(engine, tmp_path) as made:
        yield made


@contextlib.asynccontextmanager
async def world_on(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[World]:
    """The world of the ``world`` fixture on ``engine`` (migrated here; disposed after)."""
    await upgrade(engine)
    sessions = create_session_factory(engine)
    clock = FixedClock(NOW)
    core = CoreContext(
        config=load_config(),
        unit_of_work=lambda: UnitOfWork(sessions),
        evidence=EvidenceStore(tmp_path / "evidence"),
        clock=clock,
    )
    await import_orders(core, SAMPLES / "orders.sample.json")
    fake = FakeTelegram()
    bot = create_fake_bot(fake)
    state = {"dispatcher": create_dispatcher(core, CATALOGS)}
    drivers: list[FeedDriver] = []

    def person(user_id: int, name: str, language: str = "en") -> Person:
        driver = FeedDriver(state["dispatcher"], bot)
        drivers.append(driver)
        return Person(fake, driver, user_id, name, language)

    async def restart() -> None:
        """A new Dispatcher, as after a process restart: only the database remembers."""
        state["dispatcher"] = create_dispatcher(core, Catalogs())
        for driver in drivers:
            driver.dispatcher = state["dispatcher"]

    try:
        yield World(core, fake, clock, person, restart)
    finally:
        await bot.session.close()
        await engine.dispose()


@pytest.fixture
async def notifier(world: World) -> AsyncIterator[Notifier]:
    """The outbox sender of that world, without Telegram's pacing (tests call send_due())."""
    bot = create_fake_bot(world.fake)
    try:
        yield unpaced_notifier(bot, world)
    finally:
        await bot.session.close()


# the person of the `served` fixture, and a keyboard the bot might send her
SERVED_PERSON = 5001
SPANISH_KEYBOARD = InlineKeyboardMarkup(
    inline_keyboard=[
        [InlineKeyboardButton(text="Llegó dañado <&> 📦", callback_data="reason:damaged")],
        [InlineKeyboardButton(text="‹ Atrás", callback_data="nav:back")],
    ]
)


@pytest.fixture
async def served() -> AsyncIterator[tuple[FakeTelegram, Bot]]:
    """The production bot and its HTTP session (``create_bot``) against the fake Telegram on
    loopback, where Ana (``SERVED_PERSON``, Spanish) has started the bot."""
    fake = FakeTelegram()
    fake.add_user(SERVED_PERSON, "Ana", "es")
    async with FakeTelegramServer(fake) as server:
        bot = create_bot(fake.token, api_url=server.url)
        try:
            yield fake, bot
        finally:
            await bot.session.close()

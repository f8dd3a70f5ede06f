"""The board's test world: the sample shops and orders on a real database, the real Dispatcher
and notifier on the fake Telegram, and the board served over HTTP on loopback by aiohttp's
test server (the same application the bot's server mounts)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from bot.board.api import make_board_app, mount
from bot.delivery.notifier import Notifier
from bot.factory import create_dispatcher
from bot.testing.webapp import signed_init_data
from core.cases.lifecycle import CaseStatus
from core.cases.model import Actor, Case, Evidence, EvidenceKind
from core.cases.reasons import Reason, Resolution
from core.clock import FixedClock
from core.persistence.engine import create_engine, create_session_factory
from core.persistence.migrate import upgrade
from core.persistence.unit_of_work import UnitOfWork
from core.policy.config import load_config
from core.policy.decision import Claim
from core.services import cases as case_service
from core.services.context import CoreContext
from core.services.evidence_store import EvidenceStore
from core.services.orders import import_orders
from tests.support import FakeTelegram, FeedDriver, Person, create_fake_bot
from tests.telegram.conftest import CATALOGS, NOW, SAMPLES, World, unpaced_notifier

AURORA_SELLER = 600001  # Aurora's seller (reads Chinese)
NOVA_SELLER = 600002
LUCIA = 910021  # the buyer of AUR-10021, a lamp (39.90 EUR)
DMITRI = 935501
COLOURS = ((200, 60, 60), (60, 160, 80), (60, 90, 200))


@dataclass
class BoardWorld:
    world: World
    server: TestServer
    bot: Bot
    notifier: Notifier

    @property
    def core(self) -> CoreContext:
        return self.world.core

    @property
    def fake(self) -> FakeTelegram:
        return self.world.fake

    def init_data(
        self,
        user_id: int,
        name: str = "Mei",
        language: str = "en",
        *,
        at: datetime | None = None,
        start_param: str | None = None,
    ) -> str:
        user = {"id": user_id, "first_name": name, "language_code": language}
        return signed_init_data(
            self.fake.token, user, at or self.world.clock.now(), start_param=start_param
        )

    async def case(self, number: str) -> Case:
        async with self.core.unit_of_work() as uow:
            case = await uow.cases.get_by_number(number)
        assert case is not None
        return case

    async def trail(self, number: str) -> list[str]:
        case = await self.case(number)
        async with self.core.unit_of_work() as uow:
            return [event.action for event in await uow.cases.audit_trail(case.id or 0)]


def photo(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), colour).save(out, "PNG")
    return out.getvalue()


async def damaged_lamp(world: World) -> str:
    """Lucía reports her AUR-10021 lamp damaged with three photos (parcel, item, close-up) and
    asks for a partial refund: a case waiting on Aurora's seller (a partial refund always
    needs a person to set the amount)."""
    lucia = world.person(LUCIA, "Lucía", "es")
    await lucia.send(f"/start {await world.start_link('aurora', 'AUR-10021')}")
    order = await world.order("aurora", "AUR-10021")
    evidence = []
    for n, colour in enumerate(COLOURS, start=1):
        stored = world.core.evidence.put_bytes(photo(colour))
        evidence.append(
            Evidence(
                EvidenceKind.PHOTO, f"lamp-{n}", file_id=f"lamp-file-{n}", sha256=stored.sha256
            )
        )
    opened = await case_service.open_case(
        world.core,
        Actor.buyer(LUCIA),
        case_service.NewCase(
            order_id=order.id or 0,
            claims=(Claim(1, 1),),
            reason=Reason.DAMAGED,
            description="La base llegó rota <b>&</b> 💡",
            evidence=tuple(evidence),
            preferred_resolution=Resolution.PARTIAL_REFUND,
        ),
    )
    assert opened.case.status is CaseStatus.AWAITING_SELLER, opened.case.status
    return opened.case.number


async def wrong_item(world: World) -> str:
    """AUR-10022 came as the wrong item: approved at once (a replacement), the goods to come
    back: a case waiting on the buyer's return parcel."""
    buyer = world.person(920022, "Jonas", "de")
    await buyer.send(f"/start {await world.start_link('aurora', 'AUR-10022')}")
    order = await world.order("aurora", "AUR-10022")
    stored = world.core.evidence.put_bytes(photo((90, 90, 90)))
    opened = await case_service.open_case(
        world.core,
        Actor.buyer(buyer.id),
        case_service.NewCase(
            order_id=order.id or 0,
            claims=(Claim(1, 1),),
            reason=Reason.WRONG_ITEM,
            description="Not what I ordered",
            evidence=(
                Evidence(EvidenceKind.PHOTO, "wrong-1", file_id="w-1", sha256=stored.sha256),
            ),
        ),
    )
    assert opened.case.status is CaseStatus.AWAITING_RETURN, opened.case.status
    return opened.case.number


async def earbuds(world: World) -> str:
    """Dmitri's NV-5501 earbuds that do not work: a case of the other shop, Nova."""
    dmitri = world.person(DMITRI, "Дмитрий", "ru")
    await dmitri.send(f"/start {await world.start_link('nova', 'NV-5501')}")
    order = await world.order("nova", "NV-5501")
    opened = await case_service.open_case(
        world.core,
        Actor.buyer(DMITRI),
        case_service.NewCase(
            order_id=order.id or 0,
            claims=(Claim(1, 1),),
            reason=Reason.DOES_NOT_WORK,
            description="Левый наушник не включается",
            evidence=(
                Evidence(EvidenceKind.VIDEO, "vid-1", file_id="vid-file-1", mime_type="video/mp4"),
            ),
        ),
    )
    return opened.case.number


@asynccontextmanager
async def board_world(tmp_path: Path) -> AsyncIterator[BoardWorld]:
    """A fresh world with the board served on 127.0.0.1 (a free port)."""
    await asyncio.to_thread(tmp_path.mkdir, parents=True, exist_ok=True)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/board.sqlite3")
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
    dispatcher = create_dispatcher(core, CATALOGS)

    def person(user_id: int, name: str, language: str = "en") -> Person:
        return Person(fake, FeedDriver(dispatcher, bot), user_id, name, language)

    async def restart() -> None:  # pragma: no cover - not used by the board's tests
        raise NotImplementedError

    world = World(core, fake, clock, person, restart)
    await person(AURORA_SELLER, "Mei", "en").send("/start")  # the seller's chat, for alerts
    app = web.Application()
    mount(app, make_board_app(core, CATALOGS, bot_token=fake.token, max_age=3600))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield BoardWorld(world, server, bot, unpaced_notifier(bot, world))
    finally:
        await server.close()
        await bot.session.close()
        await engine.dispose()


@pytest.fixture
async def board(tmp_path: Path) -> AsyncIterator[BoardWorld]:
    async with board_world(tmp_path) as found:
        yield found


@pytest.fixture
async def client(board: BoardWorld) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(board.server) as found:
        yield found

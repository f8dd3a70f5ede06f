"""Builders for use-case tests: a CoreContext on the test database with the sample orders.

The clock stands still at 2026-11-22 12:00 UTC, the date the sample data is written for; tests
move it with ``clock.advance(hours=…)``. Users are plain Telegram ids: the sample configuration
(``core/sample/shops.toml``) makes 600001 aurora's seller, 600002/600003 nova's, 600004
lumen's, and 700001/700002 agents. Any other id is an ordinary buyer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from core.cases.model import Actor, Case, Evidence, EvidenceKind
from core.cases.reasons import Reason, Resolution
from core.clock import FixedClock
from core.orders.model import Order
from core.orders.numbers import normalize_order_number
from core.persistence.engine import create_session_factory
from core.persistence.tables import cases
from core.persistence.unit_of_work import UnitOfWork
from core.policy.config import load_config
from core.policy.decision import Claim
from core.services import cases as case_service
from core.services.cases import CaseOpened, NewCase
from core.services.context import CoreContext
from core.services.evidence_store import EvidenceStore
from core.services.linking import link_by_token as _link_by_token
from core.services.linking import order_link
from core.services.orders import ImportReport, import_orders

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "core" / "sample"
SAMPLE_JSON = SAMPLE_DIR / "orders.sample.json"
SAMPLE_CSV = SAMPLE_DIR / "orders.sample.csv"
SHOPIFY_CSV = SAMPLE_DIR / "shopify-orders-export.sample.csv"
SAMPLE_ORDER_COUNT = 17

AURORA_SELLER = 600001
AURORA_STAFF_CHAT = -1001000000001
NOVA_SELLER = 600002
NOVA_SELLER_2 = 600003
LUMEN_SELLER = 600004
AGENT = 700001
AGENT_2 = 700002

# Buyers (any id the configuration does not name).
LUCIA = 100021  # AUR-10021, damaged lamp
MARIE = 100022
AHMED = 100026  # AUR-10026, high-value lamp
LI_WEI = 100028  # AUR-10028, in transit
EMILY = 100025  # AUR-10025, too late
DMITRI = 105501  # NV-5501, dead earbud
MARIA = 105506  # NV-5506, cables
STRANGER = 199999  # linked to nothing


def make_context(engine: AsyncEngine, evidence_root: Path, clock: FixedClock) -> CoreContext:
    """The same composition as bot.app.open_app, on the test engine and a fixed clock."""
    config = load_config()
    sessions = create_session_factory(engine)
    return CoreContext(
        config=config,
        unit_of_work=lambda: UnitOfWork(sessions),
        evidence=EvidenceStore(evidence_root, max_bytes=config.deployment.evidence_max_bytes),
        clock=clock,
    )


async def import_samples(ctx: CoreContext) -> ImportReport:
    return await import_orders(ctx, SAMPLE_JSON)


async def get_order(ctx: CoreContext, shop: str, number: str) -> Order:
    async with ctx.unit_of_work() as uow:
        order = await uow.orders.get_by_key(shop, normalize_order_number(number))
    assert order is not None, f"{shop} {number} is not in the order book"
    return order


def shop_of(number: str) -> str:
    return "nova" if number.upper().startswith("NV") else "aurora"


async def link(ctx: CoreContext, user_id: int, number: str, shop: str | None = None) -> Order:
    """Link a buyer to an order the way the order e-mail's deep link does."""
    order = await get_order(ctx, shop or shop_of(number), number)
    token = order_link(ctx, order).rsplit("start=", 1)[1]
    result = await _link_by_token(ctx, user_id, token)
    return result.order


def photos(count: int, prefix: str = "ph") -> tuple[Evidence, ...]:
    return tuple(
        Evidence(EvidenceKind.PHOTO, f"{prefix}-uniq-{n}", file_id=f"{prefix}-file-{n}")
        for n in range(1, count + 1)
    )


def video(name: str = "vid") -> Evidence:
    return Evidence(
        EvidenceKind.VIDEO, f"{name}-uniq", file_id=f"{name}-file", mime_type="video/mp4"
    )


async def open_case(
    ctx: CoreContext,
    buyer: int,
    number: str,
    reason: Reason,
    *,
    claims: Sequence[tuple[int, int]] = ((1, 1),),
    evidence: Sequence[Evidence] = (),
    description: str | None = None,
    preferred: Resolution | None = None,
    wants_person: bool = False,
    shop: str | None = None,
    link_first: bool = True,
) -> CaseOpened:
    """A buyer (linked first, unless told otherwise) opens a case on a sample order."""
    order = await get_order(ctx, shop or shop_of(number), number)
    if link_first:
        await link(ctx, buyer, number, shop)
    assert order.id is not None
    return await case_service.open_case(
        ctx,
        Actor.buyer(buyer),
        NewCase(
            order_id=order.id,
            claims=tuple(Claim(line_no, quantity) for line_no, quantity in claims),
            reason=reason,
            description=description,
            evidence=tuple(evidence),
            preferred_resolution=preferred,
            wants_person=wants_person,
        ),
    )


async def damaged_lamp(ctx: CoreContext, buyer: int = LUCIA) -> Case:
    """AUR-10021 with three photos: approved at once (refund, nothing to send back)."""
    opened = await open_case(
        ctx,
        buyer,
        "AUR-10021",
        Reason.DAMAGED,
        evidence=photos(3),
        description="The lamp arrived with a cracked base",
        preferred=Resolution.REFUND,
    )
    return opened.case


async def earbud_for_seller(ctx: CoreContext, buyer: int = DMITRI) -> Case:
    """NV-5501 'does not work' with video and description: waits on nova's seller (45 > 30)."""
    opened = await open_case(
        ctx,
        buyer,
        "NV-5501",
        Reason.DOES_NOT_WORK,
        evidence=(video(),),
        description="The left earbud does not turn on",
        preferred=Resolution.REFUND,
    )
    return opened.case


async def stored_case(ctx: CoreContext, number: str) -> Case:
    async with ctx.unit_of_work() as uow:
        case = await uow.cases.get_by_number(number)
    assert case is not None
    return case


async def case_count(ctx: CoreContext) -> int:
    async with ctx.unit_of_work() as uow:
        result = await uow.session.execute(select(func.count()).select_from(cases))
        return int(result.scalar_one())

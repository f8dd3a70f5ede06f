"""The seller's board (a Telegram Mini App, or a browser page): the queries it needs that the
bot's chat flows do not, and its one-time login links.

Everything is read for a seller or agent, scoped to the shops they work for (the same checks
as every other service: ``core.services.access``); the changes go through the case services
(``core.services.cases``) with the version the page read, so a stale page gets a Conflict and
never decides twice.

A login link (``/board`` in the bot's private chat) is a random nonce stored in
``board_logins``: used once (in one statement: two browsers racing, one gets in), within
``LOGIN_MINUTES``. The signing key of the board's session tokens and file links is made once
and kept in ``runtime_values`` (``BOARD_KEY``), like the invitation key.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from core.cases.lifecycle import CaseStatus, Role, WaitingOn
from core.cases.model import Actor, Case, Owner
from core.cases.reasons import Reason
from core.errors import Forbidden, NotFound
from core.orders.model import Order
from core.persistence.sqlite_driver import long_statements
from core.services.access import agents_on_duty, staff_shops
from core.services.context import CoreContext

BOARD_KEY = "board_key"  # in runtime_values: made once, by the first who needs it
LOGIN_MINUTES = 10  # a login link works once, within this time
MAX_QUERY = 100


async def board_key(ctx: CoreContext) -> str:
    """The deployment's board key: generated once, by whoever needs it first."""
    async with ctx.unit_of_work() as uow:
        key = await uow.runtime_values.get_or_create(BOARD_KEY, secrets.token_urlsafe(32))
        await uow.commit()
    return key


async def create_login(ctx: CoreContext, actor: Actor) -> str:
    """A one-time login link's nonce for a seller or agent (anybody else: Forbidden)."""
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        if actor.user_id is None or not await staff_shops(uow, ctx.config, actor):
            raise Forbidden("only staff open the board", code="not_staff")
        nonce = secrets.token_urlsafe(24)
        await uow.board_logins.purge(now)  # the expired ones are of no use to anybody
        await uow.board_logins.add(
            nonce, actor.user_id, now, now + timedelta(minutes=LOGIN_MINUTES)
        )
        await uow.commit()
    return nonce


async def use_login(ctx: CoreContext, nonce: str) -> int:
    """The Telegram user a login link was made for; the link is spent. An unknown, used or
    expired link: NotFound (``login_link_invalid``), the same answer for each."""
    if not nonce or len(nonce) > 64:
        raise NotFound("no such login link", code="login_link_invalid")
    async with ctx.unit_of_work() as uow:
        user_id = await uow.board_logins.use(nonce, ctx.now())
        await uow.commit()
    if user_id is None:
        raise NotFound("no such login link", code="login_link_invalid")
    return user_id


@dataclass(frozen=True, slots=True)
class BoardFilter:
    """What the board's list is narrowed to; empty fields narrow nothing."""

    status: CaseStatus | None = None
    reason: Reason | None = None
    shop: str | None = None
    supplier: str | None = None
    mine: bool = False  # "waiting on me": the case waits on this person's role (or them)
    query: str = ""  # a case or order number, a buyer's name, a tracking number


@dataclass(frozen=True, slots=True)
class BoardRow:
    case: Case
    order: Order | None
    waiting_on_me: bool


@dataclass(frozen=True, slots=True)
class BoardList:
    rows: list[BoardRow]
    counts: dict[str, int]  # open cases per status, before the status filter
    shops: list[str]  # the shops this person may filter by
    suppliers: list[str]  # the suppliers of their open cases' lines
    waiting_on_me: int = 0
    agents_on_duty: dict[str, bool] = field(default_factory=dict)


def waits_on(case: Case, actor: Actor) -> bool:
    """Whether ``case`` waits on ``actor``: a seller for the shop's decision or completion,
    an agent for agents (or for them, on a conversation they took)."""
    waiting = case.status.waiting_on
    if actor.role is Role.SELLER:
        return waiting is WaitingOn.SELLER
    if actor.role is Role.AGENT:
        if case.owner is Owner.AGENT and case.owner_agent_id == actor.user_id:
            return case.is_open
        return waiting is WaitingOn.AGENT
    return False


def _suppliers(case: Case, order: Order | None) -> set[str]:
    if order is None:
        return set()
    found = set()
    for claimed in case.lines:
        line = order.line(claimed.line_no)
        if line is not None and line.supplier:
            found.add(line.supplier)
    return found


def _matches(query: str, case: Case, order: Order | None) -> bool:
    words = [case.number, case.order_number, case.return_tracking, case.replacement_tracking]
    if order is not None:
        words.append(order.buyer.name)
        words += [s.tracking_number for s in order.shipments]
    needle = query.casefold()
    return any(needle in word.casefold() for word in words if word)


@long_statements
async def board_cases(ctx: CoreContext, actor: Actor, wanted: BoardFilter) -> BoardList:
    """The open cases of this person's shops, the nearest deadline first, narrowed by
    ``wanted``; the counts per status are of the whole list (each filter but the status)."""
    query = (wanted.query or "").strip()[:MAX_QUERY]
    async with ctx.unit_of_work() as uow:
        if actor.role not in (Role.SELLER, Role.AGENT):
            raise Forbidden("only staff see the board", code="not_staff")
        shops = await staff_shops(uow, ctx.config, actor)
        if not shops:
            raise Forbidden("not a seller of any shop", code="not_staff")
        chosen = [wanted.shop] if wanted.shop in shops else shops
        cases = await uow.cases.list_open_for_shops(
            chosen, reason=wanted.reason.value if wanted.reason else None
        )
        orders = await uow.orders.get_many({case.order_id for case in cases})
        on_duty = {shop: await agents_on_duty(uow, ctx.config, shop) for shop in shops}
    suppliers: set[str] = set()
    kept: list[BoardRow] = []
    mine = 0
    for case in cases:
        order = orders.get(case.order_id)
        case_suppliers = _suppliers(case, order)
        suppliers |= case_suppliers
        if wanted.supplier and wanted.supplier not in case_suppliers:
            continue
        if query and not _matches(query, case, order):
            continue
        waiting = waits_on(case, actor)
        mine += waiting
        if wanted.mine and not waiting:
            continue
        kept.append(BoardRow(case, order, waiting))
    counts = Counter(row.case.status.value for row in kept)
    if wanted.status is not None:
        kept = [row for row in kept if row.case.status is wanted.status]
    return BoardList(
        rows=kept,
        counts=dict(counts),
        shops=shops,
        suppliers=sorted(suppliers),
        waiting_on_me=mine,
        agents_on_duty=on_duty,
    )


async def translations(ctx: CoreContext, texts: Sequence[str], language: str) -> dict[str, str]:
    """The stored machine translations (core.translation) of these texts into ``language``
    (its base: ``zh`` takes ``zh-Hans`` too), by text; a text never translated is left out."""
    from core.persistence.repositories.translations import TranslationRepository, text_hash

    by_hash = {text_hash(text): text for text in texts if text}
    if not by_hash:
        return {}
    async with ctx.unit_of_work() as uow:
        found = await TranslationRepository(uow.session).of_hashes(by_hash)
    wanted = language.replace("_", "-").split("-")[0].lower()
    return {
        by_hash[item.source_hash]: item.text
        for item in found
        if item.target_language.replace("_", "-").split("-")[0].lower() == wanted
    }


async def reading_language(ctx: CoreContext, user_id: int, app_language: str | None) -> str | None:
    """The language the board speaks to a person: the one they chose with /language, else
    the language of the Telegram app they open it from, else the one Telegram last told."""
    async with ctx.unit_of_work() as uow:
        user = await uow.users.get(user_id)
    if user is not None and user.chosen_language:
        return user.chosen_language
    return app_language or (user.language_code if user is not None else None)

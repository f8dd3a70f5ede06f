"""Buyer ownership: a Telegram user acts on an order only once linked to it.

Two ways in: the signed deep link from the store's order e-mail, or the order number plus a
check the store knows (e-mail, the phone's last four digits, or the postal code). Failed
checks are rate-limited per user, and no answer ever reveals whether an order number exists.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from core.cases.lifecycle import Role
from core.cases.model import Actor
from core.errors import Forbidden, NotFound, RateLimited
from core.orders.model import Order
from core.orders.numbers import normalize_order_number
from core.persistence.unit_of_work import UnitOfWork
from core.services.context import CoreContext
from core.services.link_tokens import TokenError, make_order_token, verify_order_token


class NoMatch(NotFound):
    """The number and check did not match an order: deliberately vague."""

    code = "order_check_failed"


@dataclass(frozen=True, slots=True)
class LinkResult:
    order: Order
    newly_linked: bool


def order_link(ctx: CoreContext, order: Order) -> str:
    """The t.me link a store puts in its order e-mail."""
    shop = ctx.config.shop(order.shop)
    token = make_order_token(order.shop, normalize_order_number(order.number), shop.link_secret)
    return f"https://t.me/{ctx.config.deployment.bot_username}?start={token}"


async def link_by_token(ctx: CoreContext, user_id: int, token: str) -> LinkResult:
    def secret(shop_id: str) -> str | None:
        shop = ctx.config.shops.get(shop_id)
        return shop.link_secret if shop else None

    shop_id, key = verify_order_token(token, secret)  # TokenError when forged
    async with ctx.unit_of_work() as uow:
        order = await uow.orders.get_by_key(shop_id, key)
        if order is None:
            raise TokenError("the order of this link is not in the order book")
        created = await _link(uow, order, user_id, "token", ctx)
        await uow.commit()
    return LinkResult(order, created)


def _digits(text: str | None) -> str:
    return re.sub(r"\D", "", unicodedata.normalize("NFKC", text or ""))


def _compact(text: str | None) -> str:
    return re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", text or "")).upper()


def check_matches(order: Order, check: str, allowed: tuple[str, ...]) -> bool:
    """Does what the buyer typed match something the store knows about this order?"""
    typed = unicodedata.normalize("NFKC", check).strip()
    if not typed:
        return False
    if "email" in allowed and order.buyer.email and "@" in typed:
        return typed.casefold() == order.buyer.email.strip().casefold()
    if "phone_last4" in allowed and order.buyer.phone:
        digits = _digits(typed)
        if len(digits) == 4 and _digits(order.buyer.phone).endswith(digits):
            return True
    if "postal_code" in allowed and order.shipping_address and order.shipping_address.postal_code:
        return len(_compact(typed)) >= 3 and _compact(typed) == _compact(
            order.shipping_address.postal_code
        )
    return False


async def link_by_check(ctx: CoreContext, user_id: int, number: str, check: str) -> LinkResult:
    """Link with the order number plus a check; every failure looks the same."""
    now = ctx.now()
    limit = ctx.config.lifecycle.link_attempts_per_hour
    async with ctx.unit_of_work() as uow:
        failures = await uow.links.failed_attempts_since(user_id, now - timedelta(hours=1))
        if failures >= limit:
            raise RateLimited("too many failed order checks", retry_after_minutes=60)
        key = normalize_order_number(number)
        matched = None
        for order in await uow.orders.find_by_key(key) if key else []:
            shop = ctx.config.shops.get(order.shop)
            if shop is not None and check_matches(order, check, shop.link_checks):
                matched = order
                break
        await uow.links.record_attempt(user_id, now, matched is not None)
        if matched is None:
            await uow.commit()  # the failed attempt counts even though nothing else changes
            raise NoMatch(
                "no order matches this number and check", attempts_left=limit - failures - 1
            )
        created = await _link(uow, matched, user_id, "check", ctx)
        await uow.commit()
    return LinkResult(matched, created)


async def _link(uow: UnitOfWork, order: Order, user_id: int, via: str, ctx: CoreContext) -> bool:
    assert order.id is not None
    return await uow.links.link(order.id, user_id, via, ctx.now())


async def owns(uow: UnitOfWork, actor: Actor, order: Order) -> bool:
    if actor.role is not Role.BUYER or actor.user_id is None or order.id is None:
        return False
    if order.buyer.telegram_id is not None and order.buyer.telegram_id == actor.user_id:
        return True
    return await uow.links.is_linked(order.id, actor.user_id)


async def buyer_orders(ctx: CoreContext, actor: Actor) -> list[Order]:
    """Every order a buyer is linked to, newest first (for "my orders" and free text)."""
    if actor.role is not Role.BUYER or actor.user_id is None:
        raise Forbidden("only buyers have orders", code="forbidden")
    async with ctx.unit_of_work() as uow:
        found = await uow.orders.get_many(await uow.links.linked_orders(actor.user_id))
    orders = list(found.values())
    return sorted(orders, key=lambda o: o.placed_at, reverse=True)


async def buyer_order(ctx: CoreContext, actor: Actor, order_id: int) -> Order | None:
    """One of the buyer's orders by id; None when it is not theirs (or does not exist)."""
    async with ctx.unit_of_work() as uow:
        order = await uow.orders.get(order_id)
        if order is None or not await owns(uow, actor, order):
            return None
    return order


async def find_linked_order(ctx: CoreContext, actor: Actor, number: str) -> Order:
    """A number as the buyer typed it, among the orders they are linked to."""
    key = normalize_order_number(number)
    async with ctx.unit_of_work() as uow:
        for order in await uow.orders.find_by_key(key):
            if await owns(uow, actor, order):
                return order
    raise Forbidden("not linked to this order", code="order_not_linked")

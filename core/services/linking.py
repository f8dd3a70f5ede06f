"""Buyer ownership: a Telegram user acts on an order only once linked to it.

Two ways in: the signed deep link from the store's order e-mail, or the order number plus a
check the store knows (e-mail, the phone's last four digits, or the postal code). Each link
records how the account proved it; several accounts may link one order, and each earlier one
is told of a new one. Failed checks are limited per account (atomically, across chats), and no
answer ever reveals whether an order number exists.
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


# How an account proved that an order is theirs (``buyer_links.via``, ``cases.buyer_proof``).
PROOF_TOKEN = "token"  # the signed link of the order e-mail
PROOF_EMAIL = "email"
PROOF_PHONE = "phone_last4"
PROOF_POSTAL = "postal_code"
PROOF_IMPORT = "import"  # the shop's order book names this Telegram account
# (core.policy.decision.WEAK_PROOFS: the proofs too weak to change an address or cancel alone)

COLINKED = "order_colinked"  # the outbox kind that tells earlier accounts of a new one


@dataclass(frozen=True, slots=True)
class LinkResult:
    order: Order
    newly_linked: bool
    proof: str = PROOF_TOKEN  # how this account proved it (the first proof, when linked before)


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
        result = await _link(uow, order, user_id, PROOF_TOKEN, ctx)
        await uow.commit()
    return result


def _digits(text: str | None) -> str:
    return re.sub(r"\D", "", unicodedata.normalize("NFKC", text or ""))


def _compact(text: str | None) -> str:
    return re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", text or "")).upper()


def check_matches(order: Order, check: str, allowed: tuple[str, ...]) -> str | None:
    """Which detail the store knows about this order the buyer typed: ``email``,
    ``phone_last4`` or ``postal_code``; None when it matches none of those allowed."""
    typed = unicodedata.normalize("NFKC", check).strip()
    if not typed:
        return None
    if "email" in allowed and order.buyer.email and "@" in typed:
        matched = typed.casefold() == order.buyer.email.strip().casefold()
        return PROOF_EMAIL if matched else None
    if "phone_last4" in allowed and order.buyer.phone:
        digits = _digits(typed)
        if len(digits) == 4 and _digits(order.buyer.phone).endswith(digits):
            return PROOF_PHONE
    if "postal_code" in allowed and order.shipping_address and order.shipping_address.postal_code:
        postal = _compact(order.shipping_address.postal_code)
        if len(_compact(typed)) >= 3 and _compact(typed) == postal:
            return PROOF_POSTAL
    return None


async def link_by_check(ctx: CoreContext, user_id: int, number: str, check: str) -> LinkResult:
    """Link with the order number plus a check; every failure looks the same.

    At most ``link_attempts_per_hour`` failed checks per account, whatever the chat: a slot is
    reserved (one conditional UPDATE, committed) before the check is evaluated, so concurrent
    attempts cannot all slip under the limit; a check that matches gives its slot back."""
    now = ctx.now()
    limit = ctx.config.lifecycle.link_attempts_per_hour
    window = timedelta(hours=1)
    async with ctx.unit_of_work() as uow:
        reserved = await uow.links.reserve_attempt(user_id, now, now - window, limit)
        await uow.commit()
    if reserved is None:
        raise RateLimited("too many failed order checks", retry_after_minutes=60)
    async with ctx.unit_of_work() as uow:
        key = normalize_order_number(number)
        matched, proof = None, None
        for order in await uow.orders.find_by_key(key) if key else []:
            shop = ctx.config.shops.get(order.shop)
            proof = check_matches(order, check, shop.link_checks) if shop is not None else None
            if proof is not None:
                matched = order
                break
        await uow.links.record_attempt(user_id, now, matched is not None)
        if matched is None or proof is None:
            await uow.commit()  # the history of checks; the slot stays taken
            raise NoMatch(
                "no order matches this number and check",
                attempts_left=max(limit - reserved.failures, 0),
            )
        await uow.links.release_attempt(user_id)
        result = await _link(uow, matched, user_id, proof, ctx)
        await uow.commit()
    return result


async def _link(
    uow: UnitOfWork, order: Order, user_id: int, via: str, ctx: CoreContext
) -> LinkResult:
    """Link the account; a new link to an order other accounts hold already is told to each
    of them (in the same transaction, through the outbox), as the shop sees it on its cards."""
    assert order.id is not None
    now = ctx.now()
    created = await uow.links.link(order.id, user_id, via, now)
    if not created:
        return LinkResult(order, False, await proof_of(uow, Actor.buyer(user_id), order) or via)
    earlier = {link.telegram_id for link in await uow.links.links_of_order(order.id)}
    if order.buyer.telegram_id is not None:
        earlier.add(order.buyer.telegram_id)
    earlier.discard(user_id)
    for account in sorted(earlier):
        await uow.outbox.enqueue(
            kind=COLINKED,
            recipient_role="buyer",
            chat_id=account,
            shop=order.shop,
            case_id=None,
            payload={"order": order.number, "order_id": order.id, "proof": via},
            dedupe_key=f"colink:{order.id}:{user_id}:{account}",
            at=now,
        )
    return LinkResult(order, True, via)


async def proof_of(uow: UnitOfWork, actor: Actor, order: Order) -> str | None:
    """How this buyer proved the order is theirs, or None when it is not theirs."""
    if actor.role is not Role.BUYER or actor.user_id is None or order.id is None:
        return None
    linked = await uow.links.proof(order.id, actor.user_id)
    if linked is not None:
        return linked
    if order.buyer.telegram_id is not None and order.buyer.telegram_id == actor.user_id:
        return PROOF_IMPORT
    return None


async def order_and_proof(
    uow: UnitOfWork, actor: Actor, order_id: int
) -> tuple[Order | None, str | None]:
    """An order and how this buyer proved it is theirs (None when it is not), read together."""
    if actor.role is not Role.BUYER or actor.user_id is None:
        return None, None
    order, linked = await uow.orders.get_with_link(order_id, actor.user_id)
    if order is None or linked is not None:
        return order, linked
    if order.buyer.telegram_id is not None and order.buyer.telegram_id == actor.user_id:
        return order, PROOF_IMPORT
    return order, None


async def owns(uow: UnitOfWork, actor: Actor, order: Order) -> bool:
    return await proof_of(uow, actor, order) is not None


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
        order, proof = await order_and_proof(uow, actor, order_id)
    return order if proof is not None else None


async def find_linked_order(ctx: CoreContext, actor: Actor, number: str) -> Order:
    """A number as the buyer typed it, among the orders they are linked to."""
    key = normalize_order_number(number)
    async with ctx.unit_of_work() as uow:
        for order in await uow.orders.find_by_key(key):
            if await owns(uow, actor, order):
                return order
    raise Forbidden("not linked to this order", code="order_not_linked")

"""Sellers and agents: who they are, and how they join with an invitation link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.cases.lifecycle import Role
from core.cases.model import Actor
from core.errors import ValidationFailed
from core.services.access import is_agent, seller_shops
from core.services.context import CoreContext
from core.services.link_tokens import TokenError, make_invite_token, verify_invite_token

INVITE_DAYS = 7
ROLES = ("seller", "agent")


@dataclass(frozen=True, slots=True)
class StaffIdentity:
    actor: Actor
    shops: list[str]  # the shops a seller acts for; every shop for an agent


async def identify(ctx: CoreContext, user_id: int, name: str | None = None) -> StaffIdentity | None:
    """The staff role of a Telegram user (agent before seller), or None for a buyer."""
    async with ctx.unit_of_work() as uow:
        if await is_agent(uow, ctx.config, user_id):
            return StaffIdentity(Actor.agent(user_id, name), sorted(ctx.config.shops))
        shops = await seller_shops(uow, ctx.config, user_id)
    if shops:
        return StaffIdentity(Actor.seller(user_id, name), shops)
    return None


def invite_link(ctx: CoreContext, shop: str, role: str) -> str:
    if shop not in ctx.config.shops:
        raise ValidationFailed(f"unknown shop {shop!r}", code="unknown_shop")
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}", code="unknown_role")
    expires = (ctx.now() + timedelta(days=INVITE_DAYS)).strftime("%Y%m%d")
    token = make_invite_token(shop, role, expires, ctx.config.shop(shop).link_secret)
    return f"https://t.me/{ctx.config.deployment.bot_username}?start={token}"


async def accept_invite(ctx: CoreContext, user_id: int, token: str) -> tuple[str, Role]:
    """Make the user a seller or agent of the invitation's shop; (shop, role)."""

    def secret(shop_id: str) -> str | None:
        shop = ctx.config.shops.get(shop_id)
        return shop.link_secret if shop else None

    shop, role, expires = verify_invite_token(token, secret)
    if role not in ROLES:
        raise TokenError("not an invitation")
    if ctx.now().strftime("%Y%m%d") > expires:
        raise TokenError("the invitation has expired", code="invite_expired")
    async with ctx.unit_of_work() as uow:
        await uow.staff.add(shop, user_id, role, "invite", ctx.now())
        await uow.commit()
    return shop, Role(role)

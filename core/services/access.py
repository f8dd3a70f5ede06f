"""Who may act on what. Callback data and deep links are untrusted: every service checks here."""

from __future__ import annotations

from core.cases.lifecycle import Role
from core.cases.model import Actor, Case
from core.errors import Forbidden, NotFound
from core.persistence.unit_of_work import UnitOfWork
from core.policy.config import Config


async def seller_shops(uow: UnitOfWork, config: Config, user_id: int) -> list[str]:
    """Shops a Telegram user is staff of: listed in the configuration or invited."""
    shops = {shop_id for shop_id, shop in config.shops.items() if user_id in shop.sellers}
    shops.update(s for s in await uow.staff.shops_of(user_id, "seller") if s in config.shops)
    return sorted(shops)


async def agent_shops(uow: UnitOfWork, config: Config, user_id: int) -> list[str]:
    """Shops a Telegram user is an agent of: every shop only when the configuration says so
    (``agents_all_shops``), else the shops listing them and the shops they were invited to.
    Read from the database on every call: a removed agent loses access at once."""
    if user_id in config.deployment.agents_all_shops:
        return sorted(config.shops)
    shops = {shop_id for shop_id, shop in config.shops.items() if user_id in shop.agents}
    shops.update(s for s in await uow.staff.shops_of(user_id, "agent") if s in config.shops)
    return sorted(shops)


async def is_agent(uow: UnitOfWork, config: Config, user_id: int) -> bool:
    return bool(await agent_shops(uow, config, user_id))


async def staff_shops(uow: UnitOfWork, config: Config, actor: Actor) -> list[str]:
    """The shops a seller or agent acts for (none for anybody else)."""
    if actor.user_id is None:
        return []
    if actor.role is Role.SELLER:
        return await seller_shops(uow, config, actor.user_id)
    if actor.role is Role.AGENT:
        return await agent_shops(uow, config, actor.user_id)
    return []


async def check_actor_role(uow: UnitOfWork, config: Config, actor: Actor) -> None:
    """A seller or agent must really be one; buyers are checked against the case or order."""
    if actor.role is Role.SELLER:
        if actor.user_id is None or not await seller_shops(uow, config, actor.user_id):
            raise Forbidden("not a seller of any shop", code="not_staff")
    elif actor.role is Role.AGENT:
        if actor.user_id is None or not await is_agent(uow, config, actor.user_id):
            raise Forbidden("not an agent", code="not_staff")


async def check_case_access(uow: UnitOfWork, config: Config, actor: Actor, case: Case) -> None:
    """Buyers see their own cases; sellers their shops' cases; agents every case."""
    if actor.role is Role.SYSTEM:
        return
    if actor.role is Role.BUYER:
        # only the account that opened the case: a co-linked account opens its own claims
        if actor.user_id is not None and case.buyer_id == actor.user_id:
            return
        # the same answer as for a number that does not exist: nothing leaks
        raise NotFound("no such case", code="case_not_found")
    if actor.role is Role.SELLER:
        if actor.user_id is not None and case.shop in await seller_shops(
            uow, config, actor.user_id
        ):
            return
        # the same answer as for a number that does not exist: nothing leaks across shops
        raise NotFound("no such case", code="case_not_found")
    if actor.role is Role.AGENT:
        if actor.user_id is not None and case.shop in await agent_shops(uow, config, actor.user_id):
            return
        # an agent of another shop hears what a number that does not exist gets
        raise NotFound("no such case", code="case_not_found")
    raise Forbidden("unknown role", code="forbidden")


async def seller_ids(uow: UnitOfWork, config: Config, shop_id: str) -> list[int]:
    """Every seller of a shop: from the configuration and the invited staff."""
    ids = set(config.shop(shop_id).sellers)
    ids.update(await uow.staff.members(shop_id, "seller"))
    return sorted(ids)


async def agent_ids(uow: UnitOfWork, config: Config, shop_id: str) -> list[int]:
    """Every agent of a shop: of every shop, listed for it, or invited to it."""
    ids = set(config.deployment.agents_all_shops)
    shop = config.shops.get(shop_id)
    if shop is not None:
        ids.update(shop.agents)
    ids.update(await uow.staff.members(shop_id, "agent"))
    return sorted(ids)


async def agents_on_duty(uow: UnitOfWork, config: Config, shop_id: str) -> bool:
    """Whether any support agent of this shop can take its cases (else its sellers decide)."""
    return bool(await agent_ids(uow, config, shop_id))

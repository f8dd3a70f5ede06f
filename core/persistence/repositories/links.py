"""Which Telegram users may see which orders, and the attempts to prove it (rate limiting)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import ensure_utc
from core.persistence.repositories._common import insert_ignore
from core.persistence.tables import buyer_links, link_attempts


class LinkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def link(self, order_id: int, telegram_id: int, via: str, at: datetime) -> bool:
        """Link a buyer to an order (via 'token' | 'check' | 'import'); False if already linked."""
        row = {"order_id": order_id, "telegram_id": telegram_id, "via": via, "linked_at": at}
        return (
            await insert_ignore(self.session, buyer_links, row, ("order_id", "telegram_id"))
            is not None
        )

    async def is_linked(self, order_id: int, telegram_id: int) -> bool:
        result = await self.session.execute(
            select(buyer_links.c.id).where(
                buyer_links.c.order_id == order_id, buyer_links.c.telegram_id == telegram_id
            )
        )
        return result.first() is not None

    async def linked_orders(self, telegram_id: int) -> list[int]:
        """Order ids linked to this user, in the order they were linked."""
        result = await self.session.execute(
            select(buyer_links.c.order_id)
            .where(buyer_links.c.telegram_id == telegram_id)
            .order_by(buyer_links.c.linked_at, buyer_links.c.id)
        )
        return list(result.scalars())

    async def record_attempt(self, telegram_id: int, at: datetime, success: bool) -> None:
        await self.session.execute(
            insert(link_attempts).values(telegram_id=telegram_id, at=at, success=success)
        )

    async def failed_attempts_since(self, telegram_id: int, since: datetime) -> int:
        result = await self.session.execute(
            select(func.count())
            .select_from(link_attempts)
            .where(
                link_attempts.c.telegram_id == telegram_id,
                link_attempts.c.at >= ensure_utc(since),
                link_attempts.c.success.is_(False),
            )
        )
        return int(result.scalar_one())

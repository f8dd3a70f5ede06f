"""Which Telegram users may see which orders, how each proved it, and the attempts to prove it
(rate limiting)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, case, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import ensure_utc
from core.persistence.repositories._common import dialect_insert, insert_ignore
from core.persistence.tables import buyer_links, link_attempt_counters, link_attempts
from core.persistence.types import UTCDateTime


@dataclass(frozen=True, slots=True)
class Reservation:
    """A failed-check slot taken before a check is evaluated."""

    failures: int  # counting this attempt, in the current window
    window_start: datetime


@dataclass(frozen=True, slots=True)
class OrderLink:
    telegram_id: int
    via: str
    linked_at: datetime


class LinkRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self.session = session

    async def link(self, order_id: int, telegram_id: int, via: str, at: datetime) -> bool:
        """Link a buyer to an order; ``via`` says how they proved it (token | email |
        phone_last4 | postal_code | import). False if already linked (the first proof stays)."""
        row = {"order_id": order_id, "telegram_id": telegram_id, "via": via, "linked_at": at}
        return (
            await insert_ignore(self.session, buyer_links, row, ("order_id", "telegram_id"))
            is not None
        )

    async def is_linked(self, order_id: int, telegram_id: int) -> bool:
        return await self.proof(order_id, telegram_id) is not None

    async def proof(self, order_id: int, telegram_id: int) -> str | None:
        """How this user proved the order is theirs (``via``), or None when not linked."""
        result = await self.session.execute(
            _PROOF, {"order_id": order_id, "telegram_id": telegram_id}
        )
        return result.scalar_one_or_none()

    async def links_of_order(self, order_id: int) -> list[OrderLink]:
        """Every account linked to an order, in the order they were linked."""
        result = await self.session.execute(_LINKS_OF_ORDER, {"order_id": order_id})
        return [OrderLink(row.telegram_id, row.via, ensure_utc(row.linked_at)) for row in result]

    async def linked_orders(self, telegram_id: int) -> list[int]:
        """Order ids linked to this user, in the order they were linked."""
        result = await self.session.execute(_LINKED_ORDERS, {"telegram_id": telegram_id})
        return list(result.scalars())

    # --- failed checks ------------------------------------------------------------------------

    async def reserve_attempt(
        self, telegram_id: int, now: datetime, since: datetime, limit: int
    ) -> Reservation | None:
        """Take one failed-check slot for this user, or None when ``limit`` slots are taken
        in the window that started after ``since``.

        One conditional ``UPDATE … WHERE failures < limit OR window_start < since RETURNING``
        counts and decides together: PostgreSQL (READ COMMITTED) re-checks the condition on
        the row a concurrent attempt just committed, SQLite runs one writer at a time; either
        way two attempts never both take the last slot. A window that has passed restarts at
        ``now`` with this attempt."""
        stmt = dialect_insert(self.session, link_attempt_counters)
        assert stmt is not None, "SQLite or PostgreSQL"
        await self.session.execute(
            stmt.values(
                telegram_id=telegram_id, window_start=now, failures=0
            ).on_conflict_do_nothing(index_elements=["telegram_id"])
        )
        counters = link_attempt_counters.c
        expired = counters.window_start < literal(since, UTCDateTime())
        result = await self.session.execute(
            update(link_attempt_counters)
            .where(counters.telegram_id == telegram_id, (counters.failures < limit) | expired)
            .values(
                failures=case((expired, 1), else_=counters.failures + 1),
                window_start=case(
                    (expired, literal(now, UTCDateTime())), else_=counters.window_start
                ),
            )
            .returning(counters.failures, counters.window_start)
        )
        row = result.first()
        if row is None:
            return None
        return Reservation(int(row.failures), ensure_utc(row.window_start))

    async def release_attempt(self, telegram_id: int) -> None:
        """Give back a slot taken by a check that matched: only failures count."""
        counters = link_attempt_counters.c
        await self.session.execute(
            update(link_attempt_counters)
            .where(counters.telegram_id == telegram_id, counters.failures > 0)
            .values(failures=counters.failures - 1)
        )

    async def record_attempt(self, telegram_id: int, at: datetime, success: bool) -> None:
        """The history of checks evaluated (the limit is kept by ``reserve_attempt``)."""
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


# a buyer's steps read these; built once (building a statement costs more CPU than running it)
_PROOF = select(buyer_links.c.via).where(
    buyer_links.c.order_id == bindparam("order_id"),
    buyer_links.c.telegram_id == bindparam("telegram_id"),
)
_LINKS_OF_ORDER = (
    select(buyer_links.c.telegram_id, buyer_links.c.via, buyer_links.c.linked_at)
    .where(buyer_links.c.order_id == bindparam("order_id"))
    .order_by(buyer_links.c.linked_at, buyer_links.c.id)
)
_LINKED_ORDERS = (
    select(buyer_links.c.order_id)
    .where(buyer_links.c.telegram_id == bindparam("telegram_id"))
    .order_by(buyer_links.c.linked_at, buyer_links.c.id)
)

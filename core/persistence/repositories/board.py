"""One-time login links to the seller's board (``board_logins``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import ensure_utc
from core.persistence.tables import board_logins


class BoardLoginRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self.session = session

    async def add(self, nonce: str, user_id: int, at: datetime, expires_at: datetime) -> None:
        await self.session.execute(
            insert(board_logins).values(
                nonce=nonce, user_id=user_id, created_at=at, expires_at=expires_at
            )
        )

    async def use(self, nonce: str, at: datetime) -> int | None:
        """Mark the link used, in one statement (two browsers racing: one gets in); the
        user it was made for, or None when it is unknown, used or expired."""
        result: Any = await self.session.execute(
            update(board_logins)
            .where(
                board_logins.c.nonce == nonce,
                board_logins.c.used_at.is_(None),
                board_logins.c.expires_at > ensure_utc(at),
            )
            .values(used_at=at)
        )
        if result.rowcount != 1:
            return None
        found = await self.session.execute(
            select(board_logins.c.user_id).where(board_logins.c.nonce == nonce)
        )
        return int(found.scalar_one())

    async def purge(self, before: datetime) -> int:
        result: Any = await self.session.execute(
            delete(board_logins).where(board_logins.c.expires_at < ensure_utc(before))
        )
        return int(result.rowcount or 0)

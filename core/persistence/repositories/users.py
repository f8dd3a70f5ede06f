"""Telegram users (language, reachability); shop staff live in ``staff.py``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.persistence.repositories._common import dialect_insert
from core.persistence.repositories.staff import StaffRepository
from core.persistence.tables import telegram_users

_USER = select(telegram_users).where(telegram_users.c.telegram_id == bindparam("id"))


@dataclass(frozen=True, slots=True)
class TelegramUser:
    telegram_id: int
    first_name: str | None
    language_code: str | None  # what Telegram says
    chosen_language: str | None  # what the user picked
    reachable: bool
    created_at: datetime
    updated_at: datetime

    @property
    def language(self) -> str | None:
        """The language to speak: the user's choice, else Telegram's."""
        return self.chosen_language or self.language_code


class UserRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self.session = session

    async def touch(
        self, telegram_id: int, first_name: str | None, language_code: str | None, at: datetime
    ) -> None:
        """Record (or refresh) what Telegram says about a user who just wrote to the bot."""
        await self._upsert(
            telegram_id,
            at,
            {"first_name": first_name, "language_code": language_code, "reachable": True},
        )

    async def set_language(self, telegram_id: int, lang: str | None, at: datetime) -> None:
        await self._upsert(telegram_id, at, {"chosen_language": lang})

    async def set_reachable(self, telegram_id: int, reachable: bool, at: datetime) -> None:
        await self._upsert(telegram_id, at, {"reachable": reachable})

    async def get(self, telegram_id: int) -> TelegramUser | None:
        result = await self.session.execute(_USER, {"id": telegram_id})
        row = result.mappings().first()
        if row is None:
            return None
        return TelegramUser(
            telegram_id=row["telegram_id"],
            first_name=row["first_name"],
            language_code=row["language_code"],
            chosen_language=row["chosen_language"],
            reachable=row["reachable"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    async def _upsert(self, telegram_id: int, at: datetime, changes: dict[str, Any]) -> None:
        stmt = dialect_insert(self.session, telegram_users)
        new_row = {
            "telegram_id": telegram_id,
            "first_name": None,
            "language_code": None,
            "chosen_language": None,
            "reachable": True,
            "created_at": at,
            "updated_at": at,
            **changes,
        }
        if stmt is not None:
            await self.session.execute(
                stmt.values(**new_row).on_conflict_do_update(
                    index_elements=["telegram_id"], set_={**changes, "updated_at": at}
                )
            )
            return
        result: Any = await self.session.execute(  # pragma: no cover - other dialects
            update(telegram_users)
            .where(telegram_users.c.telegram_id == telegram_id)
            .values(**changes, updated_at=at)
        )
        if result.rowcount == 0:  # pragma: no cover
            await self.session.execute(insert(telegram_users).values(**new_row))


__all__ = ["StaffRepository", "TelegramUser", "UserRepository"]

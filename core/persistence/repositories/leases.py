"""Leases (one process at a time does a job) and runtime values (made once, shared by all)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import ensure_utc
from core.persistence.repositories._common import dialect_insert
from core.persistence.tables import leases, runtime_values


class LeaseRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self.session = session

    async def acquire(self, name: str, owner: str, *, now: datetime, until: datetime) -> bool:
        """Take or renew the lease ``name`` for ``owner`` until ``until``; False while another
        owner holds it unexpired. A lease ending more than twice its length ahead was taken
        before the wall clock stepped back: it does not hold (a live holder renews it long
        before; a dead one's would otherwise hold until the clock caught up)."""
        now, until = ensure_utc(now), ensure_utc(until)
        stmt = dialect_insert(self.session, leases)
        if stmt is None:  # pragma: no cover - only SQLite and PostgreSQL are supported
            raise RuntimeError("leases need SQLite or PostgreSQL")
        inserted = await self.session.execute(
            stmt.values(name=name, owner=owner, expires_at=until).on_conflict_do_nothing(
                index_elements=["name"]
            )
        )
        if inserted.rowcount:  # type: ignore[attr-defined]
            return True
        taken = await self.session.execute(
            update(leases)
            .where(
                leases.c.name == name,
                or_(
                    leases.c.owner == owner,
                    leases.c.expires_at < now,
                    # further ahead than a lease can be: set before the clock went back
                    leases.c.expires_at > until + (until - now),
                ),
            )
            .values(owner=owner, expires_at=until)
        )
        return bool(taken.rowcount)  # type: ignore[attr-defined]

    async def release(self, name: str, owner: str) -> None:
        await self.session.execute(
            delete(leases).where(leases.c.name == name, leases.c.owner == owner)
        )

    async def release_all(self) -> int:
        result = await self.session.execute(delete(leases))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def holder(self, name: str, now: datetime) -> str | None:
        row = (
            await self.session.execute(
                select(leases.c.owner).where(
                    leases.c.name == name, leases.c.expires_at >= ensure_utc(now)
                )
            )
        ).one_or_none()
        return None if row is None else str(row.owner)


class RuntimeValueRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self.session = session

    async def get_or_create(self, key: str, value: str) -> str:
        """The stored value of ``key``; ``value`` is stored first when there is none (the first
        process to ask wins, the others read its value)."""
        stmt = dialect_insert(self.session, runtime_values)
        if stmt is None:  # pragma: no cover
            raise RuntimeError("runtime values need SQLite or PostgreSQL")
        await self.session.execute(
            stmt.values(key=key, value=value).on_conflict_do_nothing(index_elements=["key"])
        )
        stored = await self.session.execute(
            select(runtime_values.c.value).where(runtime_values.c.key == key)
        )
        return str(stored.scalar_one())

    async def get(self, key: str) -> str | None:
        stored = await self.session.execute(
            select(runtime_values.c.value).where(runtime_values.c.key == key)
        )
        value = stored.scalar_one_or_none()
        return None if value is None else str(value)

    async def put(self, key: str, value: str) -> None:
        stmt = dialect_insert(self.session, runtime_values)
        if stmt is None:  # pragma: no cover
            raise RuntimeError("runtime values need SQLite or PostgreSQL")
        await self.session.execute(
            stmt.values(key=key, value=value).on_conflict_do_update(
                index_elements=["key"], set_={"value": value}
            )
        )

    async def delete(self, keys: Iterable[str]) -> None:
        names = list(keys)
        if names:
            await self.session.execute(
                delete(runtime_values).where(runtime_values.c.key.in_(names))
            )

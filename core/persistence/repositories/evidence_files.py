"""Evidence rows whose file is not in our store yet (its download failed: Telegram did not
answer, the disk was full), for the background job that fetches them again."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.persistence.tables import evidence


@dataclass(frozen=True, slots=True)
class MissingFile:
    row_id: int
    file_id: str
    size: int | None


class EvidenceFileRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self.session = session

    async def missing(
        self, *, max_bytes: int, limit: int, skip: Collection[int] = ()
    ) -> list[MissingFile]:
        """Rows with a Telegram file but no stored copy, of a size within ``max_bytes`` or
        unknown, oldest first; ``skip``: rows not to try now (waiting out their backoff)."""
        query = (
            select(evidence.c.id, evidence.c.file_id, evidence.c.size)
            .where(
                evidence.c.file_id.is_not(None),
                evidence.c.sha256.is_(None),
                or_(evidence.c.size.is_(None), evidence.c.size <= max_bytes),
            )
            .order_by(evidence.c.id)
            .limit(limit)
        )
        if skip:
            query = query.where(evidence.c.id.not_in(sorted(skip)))
        rows = await self.session.execute(query)
        return [MissingFile(row.id, row.file_id, row.size) for row in rows]

    async def stored(self, row_id: int, sha256: str, size: int, mime_type: str) -> bool:
        """Record the stored copy of a row (False when the row is gone or was filled since)."""
        result = await self.session.execute(
            update(evidence)
            .where(evidence.c.id == row_id, evidence.c.sha256.is_(None))
            .values(sha256=sha256, size=size, mime_type=mime_type)
        )
        return bool(getattr(result, "rowcount", 0))

    async def referenced(self, sha256: str) -> bool:
        """Whether any evidence row holds the stored file ``sha256``."""
        found = await self.session.execute(
            select(evidence.c.id).where(evidence.c.sha256 == sha256).limit(1)
        )
        return found.first() is not None

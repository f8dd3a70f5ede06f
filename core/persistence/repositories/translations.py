"""Machine translations of people's own words and the language each message was written in,
both by the hash of the message's text (core/translation)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import ensure_utc
from core.persistence.tables import message_languages, message_translations


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredTranslation:
    source_hash: str
    source_language: str
    target_language: str
    provider: str
    text: str
    created_at: datetime


class TranslationRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self.session = session

    async def get(self, source_hash: str, source: str, target: str) -> StoredTranslation | None:
        row = (
            await self.session.execute(
                select(message_translations).where(
                    message_translations.c.source_hash == source_hash,
                    message_translations.c.source_language == source,
                    message_translations.c.target_language == target,
                )
            )
        ).first()
        return _translation(row) if row is not None else None

    async def add(
        self, source_hash: str, source: str, target: str, provider: str, text: str, at: datetime
    ) -> None:
        """Unique by (hash, source, target): a second writer's commit raises IntegrityError."""
        await self.session.execute(
            message_translations.insert().values(
                source_hash=source_hash,
                source_language=source,
                target_language=target,
                provider=provider,
                text=text,
                created_at=at,
            )
        )

    async def of_hashes(self, hashes: Iterable[str]) -> list[StoredTranslation]:
        wanted = sorted(set(hashes))
        if not wanted:
            return []
        rows = (
            await self.session.execute(
                select(message_translations)
                .where(message_translations.c.source_hash.in_(wanted))
                .order_by(message_translations.c.created_at, message_translations.c.id)
            )
        ).all()
        return [_translation(row) for row in rows]

    async def forget(self, hashes: Iterable[str]) -> None:
        """Erase what was kept of these texts (a buyer's personal data is erased)."""
        wanted = sorted(set(hashes))
        if not wanted:
            return
        await self.session.execute(
            delete(message_translations).where(message_translations.c.source_hash.in_(wanted))
        )
        await self.session.execute(
            delete(message_languages).where(message_languages.c.source_hash.in_(wanted))
        )

    async def language(self, source_hash: str) -> tuple[str, bool] | None:
        row = (
            await self.session.execute(
                select(message_languages.c.language, message_languages.c.detected).where(
                    message_languages.c.source_hash == source_hash
                )
            )
        ).first()
        return (row.language, row.detected) if row is not None else None

    async def set_language(
        self, source_hash: str, language: str, detected: bool, at: datetime
    ) -> None:
        """Unique by hash: a second writer's commit raises IntegrityError."""
        await self.session.execute(
            message_languages.insert().values(
                source_hash=source_hash, language=language, detected=detected, created_at=at
            )
        )


def _translation(row) -> StoredTranslation:  # type: ignore[no-untyped-def]
    return StoredTranslation(
        row.source_hash,
        row.source_language,
        row.target_language,
        row.provider,
        row.text,
        ensure_utc(row.created_at),
    )

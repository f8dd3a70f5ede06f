"""Evidence whose file could not be stored when it came (Telegram did not answer, the disk was
full) is fetched again later: the rows still to fetch, and keeping what a later download got.

The download itself is the bot's (it needs Telegram); the retry pace is the caller's.
"""

from __future__ import annotations

from collections.abc import Collection

from core.persistence.repositories.evidence_files import MissingFile
from core.services.context import CoreContext
from core.services.evidence_store import OCTET_STREAM, EvidenceTooLarge, StoredFile

__all__ = ["MissingFile", "keep_fetched", "still_missing"]


async def still_missing(
    ctx: CoreContext, *, limit: int, skip: Collection[int] = ()
) -> list[MissingFile]:
    """Up to ``limit`` evidence rows with a Telegram file and no stored copy, whose size is
    within the evidence limit or unknown (a file known to be too large is never fetched)."""
    async with ctx.unit_of_work() as uow:
        return await uow.evidence_files.missing(
            max_bytes=ctx.config.deployment.evidence_max_bytes, limit=limit, skip=skip
        )


async def keep_fetched(ctx: CoreContext, missing: MissingFile, data: bytes) -> StoredFile | None:
    """Store a late download and record it on its row, as what its bytes really are. None when
    the row went meanwhile (its case erased): the file is not kept then, unless another row
    holds the same bytes. Raises ``EvidenceTooLarge`` for a file over the limit (nothing is
    stored)."""
    if len(data) > ctx.config.deployment.evidence_max_bytes:
        raise EvidenceTooLarge(f"{len(data)} bytes downloaded")
    saved = ctx.evidence.put_bytes(data)
    mime = saved.type.mime if saved.type is not None else OCTET_STREAM
    async with ctx.unit_of_work() as uow:
        recorded = await uow.evidence_files.stored(missing.row_id, saved.sha256, saved.size, mime)
        kept = recorded or await uow.evidence_files.referenced(saved.sha256)
        await uow.commit()
    if not kept:
        ctx.evidence.delete(saved.sha256)
    return saved if recorded else None

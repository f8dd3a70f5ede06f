"""Photos, videos and image files as evidence: what a message carries, and keeping it.

Shared by every conversation that takes evidence (opening a case, adding to one, a buyer
talking to an agent), so that none of them reaches into another's internals.
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.types import Message

from bot.conversations.buyer.conversation import EvidenceItem
from core.cases.model import Evidence, EvidenceKind
from core.services.context import CoreContext
from core.services.evidence_store import EvidenceTooLarge

log = logging.getLogger(__name__)


def evidence_of(message: Message) -> tuple[EvidenceItem | None, str | None]:
    """(evidence item, None) for a photo, video or image/video file; (None, why) otherwise."""
    if message.photo:
        photo = message.photo[-1]
        return EvidenceItem(
            kind="photo",
            file_id=photo.file_id,
            file_unique_id=photo.file_unique_id,
            size=photo.file_size,
            mime="image/jpeg",
        ), None
    if message.video:
        video = message.video
        return EvidenceItem(
            kind="video",
            file_id=video.file_id,
            file_unique_id=video.file_unique_id,
            size=video.file_size,
            mime=video.mime_type or "video/mp4",
        ), None
    if message.document:
        doc = message.document
        mime = doc.mime_type or ""
        if mime.startswith("image/") or mime.startswith("video/"):
            return EvidenceItem(
                kind="video" if mime.startswith("video/") else "photo",
                file_id=doc.file_id,
                file_unique_id=doc.file_unique_id,
                size=doc.file_size,
                mime=mime,
                document=True,
            ), None
        return None, "not_media_file"
    return None, "not_media"


async def store_evidence(bot: Bot, core: CoreContext, items: list[EvidenceItem]) -> list[Evidence]:
    """Download each file into the evidence store (it must outlive Telegram); a download that
    fails keeps the Telegram reference so that nothing the buyer sent is lost."""
    stored = []
    for item in items:
        sha, size = None, item.size
        try:
            buffer = await bot.download(item.file_id)
            if buffer is not None:
                saved = core.evidence.put_bytes(buffer.getvalue())
                sha, size = saved.sha256, saved.size
        except EvidenceTooLarge:
            log.warning("evidence over the size limit kept by reference: %s", item.file_id)
        except Exception:
            log.warning("could not download evidence %s", item.file_id, exc_info=True)
        kind = EvidenceKind.DOCUMENT if item.document else EvidenceKind(item.kind)
        stored.append(
            Evidence(
                kind=kind,
                file_unique_id=item.file_unique_id,
                file_id=item.file_id,
                sha256=sha,
                size=size,
                mime_type=item.mime,
                media_group_id=item.media_group_id,
                caption=item.caption,
            )
        )
    return stored

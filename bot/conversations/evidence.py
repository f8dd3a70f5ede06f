"""Photos, videos and image files as evidence: what a message carries, and keeping it.

Shared by every conversation that takes evidence (opening a case, adding to one, a buyer
talking to an agent), so that none of them reaches into another's internals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiogram import Bot
from aiogram.types import BufferedInputFile, Message
from aiohttp.payload import AsyncIterablePayload

from bot.conversations.buyer.conversation import EvidenceItem
from core.cases.model import Evidence, EvidenceKind
from core.services.context import CoreContext
from core.services.evidence_store import OCTET_STREAM, EvidenceTooLarge, StoredFile
from core.services.fingerprints import fingerprint

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
        mime = (doc.mime_type or "").lower()
        if _script_capable(mime, doc.file_name):
            return None, "not_media_file"  # an SVG "photo" is a web page, not a picture
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


_SCRIPT_CAPABLE_NAMES = (".svg", ".svgz", ".htm", ".html", ".xht", ".xhtml", ".xml")


def _script_capable(mime: str, file_name: str | None) -> bool:
    """SVG, HTML and XML files can carry scripts: never evidence, whatever they claim to be."""
    return (
        "svg" in mime
        or "html" in mime
        or "xml" in mime
        or (file_name or "").lower().endswith(_SCRIPT_CAPABLE_NAMES)
    )


async def store_evidence(bot: Bot, core: CoreContext, items: list[EvidenceItem]) -> list[Evidence]:
    """Download each file into the evidence store (it must outlive Telegram); a download that
    fails keeps the Telegram reference so that nothing the buyer sent is lost, and the
    background job (bot/delivery/evidence_fetch.py) fetches it later. A stored file is
    recorded as what its bytes are, not what the sender's app called it."""
    stored = []
    limit = core.config.deployment.evidence_max_bytes
    for item in items:
        sha, size, mime = None, item.size, item.mime
        printed = None
        kind = EvidenceKind.DOCUMENT if item.document else EvidenceKind(item.kind)
        try:
            if size is not None and size > limit:  # never read a huge file to learn it is huge
                raise EvidenceTooLarge(f"{size} bytes declared")
            buffer = await bot.download(item.file_id)
            if buffer is not None:
                data = buffer.getvalue()
                saved = core.evidence.put_bytes(data)
                sha, size = saved.sha256, saved.size
                mime = what_it_is(saved)
                if saved.type is not None and saved.type.is_image:  # for the abuse signals
                    # decoding a picture takes milliseconds: off the event loop
                    printed = await asyncio.to_thread(fingerprint, data, document=item.document)
        except EvidenceTooLarge:
            log.warning("evidence over the size limit kept by reference: %s", item.file_id)
        except Exception:
            log.warning(
                "could not download evidence %s, to be fetched again later",
                item.file_id,
                exc_info=True,
            )
        stored.append(
            Evidence(
                kind=kind,
                file_unique_id=item.file_unique_id,
                file_id=item.file_id,
                sha256=sha,
                size=size,
                mime_type=mime,
                media_group_id=item.media_group_id,
                caption=item.caption,
                phash=printed.phash if printed else None,
                taken_at=printed.taken_at if printed else None,
            )
        )
    return stored


def what_it_is(saved: StoredFile) -> str:
    """The MIME type of a stored file from its bytes; a file that is no photo, video or PDF
    format we know (an SVG, HTML…) is plain bytes, never to be shown as a picture. (The kind
    stays: Telegram re-encodes what it sends as a photo or video, so its file_id is one.)"""
    return saved.type.mime if saved.type is not None else OCTET_STREAM


class _TypedChunks(AsyncIterablePayload):
    """An upload's chunks with their real Content-Type (aiogram sends every file as
    application/octet-stream); still iterable for sessions that read the chunks themselves."""

    def __init__(self, chunks: AsyncIterator[bytes], content_type: str) -> None:
        super().__init__(chunks, content_type=content_type)
        self._chunks = chunks

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks


class ZipDocument(BufferedInputFile):
    """The evidence pack as Telegram and the staff's computer should see it: a .zip name and
    the application/zip type, so that it opens as an archive, not as unknown bytes."""

    def __init__(self, data: bytes, filename: str) -> None:
        if not filename.lower().endswith(".zip"):
            filename += ".zip"
        super().__init__(data, filename)

    def read(self, bot: Bot) -> Any:  # type: ignore[override]
        return _TypedChunks(super().read(bot), "application/zip")

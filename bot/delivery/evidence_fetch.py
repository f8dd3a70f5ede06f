"""Evidence that could not be stored when it came (Telegram did not answer, the disk was full)
is fetched again later, by the process that holds the background lease, next to the timers.

Each pass takes at most ``per_pass`` rows. A row that fails again waits longer before the next
try (1, 2, 4 … minutes, at most 6 hours), remembered in memory: a restart simply tries every
row once more. After ``give_up_after`` failures this process leaves the row alone; the row keeps
its Telegram file id, so the file can still be sent on, only not put in a pack. One log line
per outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiogram import Bot

from core.services.context import CoreContext
from core.services.evidence_store import EvidenceTooLarge
from core.services.missing_evidence import MissingFile, keep_fetched, still_missing

log = logging.getLogger("returns_desk.evidence")

EVERY = 60.0  # seconds between two passes
PER_PASS = 20  # rows tried per pass at most
FIRST_DELAY = 60.0  # seconds before a row that failed is tried again; doubled each time
MAX_DELAY = 6 * 3600.0
GIVE_UP_AFTER = 12  # failures; about two days of tries

Download = Callable[[str], Awaitable[bytes | None]]


@dataclass
class _Retry:
    failures: int
    due: float  # monotonic


class EvidenceFetcher:
    """The retry pass, with its memory of which rows failed and when to try them again."""

    def __init__(
        self,
        core: CoreContext,
        download: Download,
        *,
        per_pass: int = PER_PASS,
        first_delay: float = FIRST_DELAY,
        give_up_after: int = GIVE_UP_AFTER,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.core = core
        self.download = download
        self.per_pass = per_pass
        self.first_delay = first_delay
        self.give_up_after = give_up_after
        self.monotonic = monotonic
        self.retries: dict[int, _Retry] = {}

    def _waiting(self) -> set[int]:
        now = self.monotonic()
        return {
            row
            for row, retry in self.retries.items()
            if retry.failures >= self.give_up_after or retry.due > now
        }

    async def run_once(self) -> dict[str, int]:
        """One pass: {"fetched": …, "failed": …} (rows waiting out their delay are not tried)."""
        done = {"fetched": 0, "failed": 0}
        for missing in await still_missing(self.core, limit=self.per_pass, skip=self._waiting()):
            if await self._fetch(missing):
                done["fetched"] += 1
            else:
                done["failed"] += 1
        return done

    async def _fetch(self, missing: MissingFile) -> bool:
        try:
            data = await self.download(missing.file_id)
            if data is None:
                raise RuntimeError("the download returned nothing")
            saved = await keep_fetched(self.core, missing, data)
        except EvidenceTooLarge:
            self.retries[missing.row_id] = _Retry(self.give_up_after, float("inf"))
            log.warning(
                "evidence %s is over the size limit: kept by its Telegram file id only",
                missing.row_id,
            )
            return False
        except Exception as exc:  # Telegram, the network or the disk: later
            retry = self.retries.get(missing.row_id) or _Retry(0, 0.0)
            retry.failures += 1
            delay = min(self.first_delay * 2 ** (retry.failures - 1), MAX_DELAY)
            retry.due = self.monotonic() + delay
            self.retries[missing.row_id] = retry
            if retry.failures >= self.give_up_after:
                log.warning(
                    "evidence %s still not fetched after %d tries: left as a Telegram file id "
                    "until the next start (%s: %s)",
                    missing.row_id,
                    retry.failures,
                    type(exc).__name__,
                    exc,
                )
            else:
                log.warning(
                    "evidence %s not fetched (try %d, next in %d s): %s: %s",
                    missing.row_id,
                    retry.failures,
                    delay,
                    type(exc).__name__,
                    exc,
                )
            return False
        self.retries.pop(missing.row_id, None)
        if saved is None:
            log.info("evidence %s was erased meanwhile: not kept", missing.row_id)
        else:
            log.info(
                "evidence %s fetched and stored (%d bytes, %s)",
                missing.row_id,
                saved.size,
                saved.type.mime if saved.type is not None else "unknown format",
            )
        return True


def telegram_download(bot: Bot) -> Download:
    async def download(file_id: str) -> bytes | None:
        buffer = await bot.download(file_id)
        return None if buffer is None else buffer.getvalue()

    return download


async def run_evidence_fetch(
    core: CoreContext,
    bot: Bot,
    stop: asyncio.Event,
    every: float = EVERY,
    may_run: Callable[[], bool] = lambda: True,
) -> None:
    """Started beside the timers, under the same background lease: only its holder fetches."""
    fetcher = EvidenceFetcher(core, telegram_download(bot))
    while not stop.is_set():
        if may_run():
            try:
                await fetcher.run_once()
            except Exception:  # the database did not answer: the next pass tries again
                log.exception("the evidence fetch pass failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every if may_run() else 5.0)


__all__ = ["EvidenceFetcher", "run_evidence_fetch", "telegram_download"]

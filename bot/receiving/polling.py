"""Long polling into the inbox: an update is confirmed to Telegram (the next getUpdates'
offset) only after it is stored, so a crash or a deploy never drops one.

The updates are stored as Telegram wrote them and parsed once, when the inbox runs them: parsing
each here too and writing it back out as JSON was about 0.1 ms per update, and an update
aiogram cannot read stopped the polling, where now the inbox parks it with the reason."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiogram import Bot
from aiogram.methods import GetUpdates

from bot.receiving import inbox
from core.services.context import CoreContext

log = logging.getLogger("returns_desk.polling")


class GetRawUpdates(GetUpdates):
    """``getUpdates``, its updates kept as the JSON objects Telegram sent."""

    __returning__ = list[dict[str, Any]]  # type: ignore[assignment]


POLL_TIMEOUT = 10  # seconds Telegram holds an empty getUpdates open
MAX_BACKOFF = 30.0


async def poll(
    bot: Bot,
    core: CoreContext,
    stop: asyncio.Event,
    *,
    allowed_updates: list[str] | None,
    recorded: Callable[[], None],
    poll_timeout: int = POLL_TIMEOUT,
) -> None:
    """Fetch, store, then confirm, until ``stop``. ``recorded`` hears of each stored batch."""
    request = GetRawUpdates(timeout=poll_timeout, allowed_updates=allowed_updates)
    request_timeout = int((bot.session.timeout or 60) + poll_timeout)
    backoff = 0.5
    while not stop.is_set():
        fetch = asyncio.ensure_future(bot(request, request_timeout=request_timeout))
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({fetch, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not fetch.done():  # stopping: what this call would return is not confirmed
            fetch.cancel()
            await asyncio.gather(fetch, return_exceptions=True)
            return
        try:
            updates = fetch.result()
        except Exception as exc:  # Telegram unreachable: wait, then ask again
            log.error("could not fetch updates (%r); again in %.1fs", exc, backoff)
            await _pause(stop, backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            continue
        backoff = 0.5
        if not updates:
            continue
        ids = [_update_id(u) for u in updates]
        updates = [u for u, update_id in zip(updates, ids, strict=True) if update_id >= 0]
        while updates:
            try:
                await inbox.record(core, updates)
                break
            except Exception:  # the database is away: keep them unconfirmed, try again
                log.exception("could not store %s update(s); trying again", len(updates))
                if await _pause(stop, backoff):
                    return  # stopping: Telegram hands them out again next time
                backoff = min(backoff * 2, MAX_BACKOFF)
        backoff = 0.5
        if updates:
            request.offset = max(ids) + 1  # confirmed with the next call
            recorded()
        elif await _pause(stop, MAX_BACKOFF):  # none it can store: not asked again at once
            return


def _update_id(update: dict[str, Any]) -> int:
    """Its ``update_id``; -1 for an object without one (Telegram always sends it; such an
    object cannot be stored or run, and is passed over with a line in the log)."""
    found = update.get("update_id")
    if isinstance(found, int) and not isinstance(found, bool) and 0 <= found < 2**63:
        return found
    log.error("getUpdates answered an object without an update_id; passed over: %.200r", update)
    return -1


async def _pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep unless stopped; True when stopping."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
        return True
    except TimeoutError:
        return False

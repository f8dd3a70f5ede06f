"""Long polling into the inbox: an update is confirmed to Telegram (the next getUpdates'
offset) only after it is stored, so a crash or a deploy never drops one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiogram import Bot
from aiogram.methods import GetUpdates
from aiogram.types import Update

from bot.receiving import inbox
from core.services.context import CoreContext

log = logging.getLogger("returns_desk.polling")

POLL_TIMEOUT = 10  # seconds Telegram holds an empty getUpdates open
MAX_BACKOFF = 30.0


async def poll(
    bot: Bot,
    core: CoreContext,
    stop: asyncio.Event,
    *,
    allowed_updates: list[str] | None,
    recorded: Callable[[list[Update]], None],
    poll_timeout: int = POLL_TIMEOUT,
) -> None:
    """Fetch, store, then confirm, until ``stop``. ``recorded`` hears of each stored batch."""
    request = GetUpdates(timeout=poll_timeout, allowed_updates=allowed_updates)
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
        while True:
            try:
                await inbox.record(core, (inbox.raw_update(u) for u in updates))
                break
            except Exception:  # the database is away: keep them unconfirmed, try again
                log.exception("could not store %s update(s); trying again", len(updates))
                if await _pause(stop, backoff):
                    return  # stopping: Telegram hands them out again next time
                backoff = min(backoff * 2, MAX_BACKOFF)
        backoff = 0.5
        request.offset = updates[-1].update_id + 1  # confirmed with the next call
        recorded(updates)


async def _pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep unless stopped; True when stopping."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
        return True
    except TimeoutError:
        return False

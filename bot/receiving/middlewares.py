"""Per-update context: who is talking, in which language, and the core to talk to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from bot.views.i18n import Catalogs, resolve_language
from core.services import people
from core.services.context import CoreContext


class UserContext(BaseMiddleware):
    """Remembers the Telegram user and hands the handler ``tr`` in the user's language: the
    language they chose with /language, else Telegram's, else English."""

    def __init__(self, core: CoreContext, catalogs: Catalogs) -> None:
        self.core = core
        self.catalogs = catalogs

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        language = resolve_language(user.language_code if user else None)
        if user is not None and not user.is_bot:
            chosen = await people.remember(self.core, user.id, user.first_name, user.language_code)
            if chosen:
                language = resolve_language(chosen)
        data["tr"] = self.catalogs.get(language)
        data["core"] = self.core
        data["catalogs"] = self.catalogs
        return await handler(event, data)


class DropRedelivered(BaseMiddleware):
    """Telegram delivers an update at least once: the same update_id a second time is
    dropped, silently, before it reaches any handler (the last few thousand are remembered).
    For updates fed to the dispatcher directly; the inbox does it durably in production."""

    def __init__(self, remember: int = 5000) -> None:
        self.remember = remember
        self._seen: dict[int, None] = {}  # insertion-ordered: the oldest goes first

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        update_id = getattr(event, "update_id", None)
        if update_id is not None:
            if update_id in self._seen:
                return None
            self._seen[update_id] = None
            if len(self._seen) > self.remember:
                del self._seen[next(iter(self._seen))]
        return await handler(event, data)

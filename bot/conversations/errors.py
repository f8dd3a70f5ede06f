"""A handler that fails is logged with its context and the person gets an apology, not silence.

Updates run by the inbox (``inbox_attempt`` in the handler data) are tried again after a
failure: the error goes back to the inbox worker, and the apology is only sent with the last
attempt, so a passing fault (the database restarting) costs the buyer a short wait, not a
"sorry".
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, Router
from aiogram.exceptions import TelegramForbiddenError
from aiogram.types import ErrorEvent

from bot.views.i18n import Catalogs, Translator
from core.services import people

log = logging.getLogger("returns_desk.errors")


async def on_error(event: ErrorEvent, bot: Bot, **data: Any) -> bool:
    update = event.update
    user = data.get("event_from_user")
    chat = data.get("event_chat")
    if isinstance(event.exception, TelegramForbiddenError) and user is not None:
        # the person blocked the bot: nothing to apologise to; remember it for the senders
        core = data.get("core")
        if core is not None:
            await people.mark_unreachable(core, user.id)
        log.info("user %s blocked the bot (update %s)", user.id, update.update_id)
        return True
    from_inbox = "inbox_attempt" in data
    if from_inbox and not data.get("inbox_final_attempt"):
        raise event.exception  # the inbox logs it and tries again shortly
    log.error(
        "update %s from user %s in chat %s failed: %r",
        update.update_id,
        getattr(user, "id", None),
        getattr(chat, "id", None),
        event.exception,
        exc_info=event.exception,
    )
    catalogs: Catalogs = data["catalogs"]  # workflow data, set by the dispatcher's factory
    tr: Translator = data.get("tr") or catalogs.get(getattr(user, "language_code", None))
    if update.callback_query is not None:
        try:
            await update.callback_query.answer()
        except Exception:
            log.debug("could not answer the callback", exc_info=True)
    chat_id = getattr(chat, "id", None)
    if chat_id is not None and getattr(chat, "type", "private") == "private":
        try:
            await bot.send_message(
                chat_id,
                tr(
                    "Sorry, something went wrong on our side. Nothing you sent is lost: "
                    "please try again in a moment, or type /human to reach a person."
                ),
            )
        except Exception:
            log.warning("could not apologise to chat %s", chat_id, exc_info=True)
    if from_inbox:
        raise event.exception  # the inbox parks it
    return True


def make_router() -> Router:
    router = Router(name="errors")
    router.errors.register(on_error)
    return router

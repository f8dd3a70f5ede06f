"""A handler that fails is logged with its context and the person gets an apology, not silence.

Telegram refusing what is already so ("message is not modified", a press too old to answer)
ends the update as done. While infrastructure does not answer (Redis, the database), nobody
gets an apology: the inbox waits for it and runs the update again.

Updates run by the inbox (``inbox_attempt`` in the handler data) are tried again after a
failure: the error goes back to the inbox worker, and the apology is only sent with the last
attempt, so a passing fault (the database restarting) costs the buyer a short wait, not a
"sorry".
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramForbiddenError
from aiogram.types import ErrorEvent

from bot.delivery import retries
from bot.receiving.routing import Router
from bot.views.i18n import Catalogs, Translator
from core.services import people

log = logging.getLogger("returns_desk.errors")


def failed_where(exc: BaseException) -> str:
    """The handler an exception came from (the outermost frame in bot.conversations, else
    the innermost of the product) as ``module.function:line``: identifies a failure without
    quoting its text."""
    handler, inner = None, "?"
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        here = f"{module}.{tb.tb_frame.f_code.co_name}:{tb.tb_lineno}"
        if handler is None and module.startswith("bot.conversations.") and module != __name__:
            handler = here
        if module.startswith(("bot.", "core.")) and module != __name__:
            inner = here
        tb = tb.tb_next
    return handler or inner


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
    if retries.is_outcome(event.exception):
        # Telegram says it is already so (a second tap on a stale button, a press too old to
        # answer, a message gone): the update is done, nothing to apologise for
        log.info(
            "update %s: %s in %s (already so: done)",
            update.update_id,
            getattr(event.exception, "message", type(event.exception).__name__),
            failed_where(event.exception),
        )
        return True
    from_inbox = "inbox_attempt" in data
    if from_inbox and not data.get("inbox_final_attempt"):
        raise event.exception  # the inbox logs it and tries again shortly
    healthy = data.get("inbox_healthy")
    if from_inbox and healthy is not None and not await healthy():
        # Redis or the database does not answer: the inbox waits for it and runs the update
        # again, which does not count as a failure; the buyer gets the answer, not a "sorry"
        raise event.exception
    # no message text or SQL parameter at INFO and above: the exception's type and where it
    # was raised; its text and traceback (which may quote the buyer) only at DEBUG
    log.error(
        "update %s from user %s in chat %s failed in %s: %s",
        update.update_id,
        getattr(user, "id", None),
        getattr(chat, "id", None),
        failed_where(event.exception),
        type(event.exception).__name__,
    )
    log.debug("update %s traceback", update.update_id, exc_info=event.exception)
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

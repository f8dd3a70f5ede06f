"""People's own words in a notification, translated for its reader (README, "Languages and
translation"): the buyer's words under a staff alert, the staff's words (a question, a reason,
a message) under a buyer's notice; the original stays where it is. A provider that is down,
slow or failing costs the translation only, never the notification; for a buyer, a
translation that would change a number is not shown."""

from __future__ import annotations

import logging
from typing import Any

from bot.conversations.translation import buyer_words
from bot.views import translation as views
from bot.views.i18n import SUPPORTED, Catalogs, Translator
from core.cases import events as ev
from core.cases.model import Case
from core.services.context import CoreContext
from core.translation.service import Direction, Translation, service_of

log = logging.getLogger("returns_desk.notifier")

# alerts that show the buyer's story (the case's description) as news
WITH_STORY = frozenset(
    {ev.CaseOpened.kind, ev.Escalated.kind, ev.InfoProvided.kind, ev.Reopened.kind}
)


def buyer_texts(kind: str, payload: dict[str, Any], case: Case) -> list[str]:
    """The buyer's words an alert of this kind shows."""
    texts: list[str] = []
    if kind in WITH_STORY and case.description:
        texts.append(case.description[:500])  # as much as the card shows
    if kind == ev.MessagePosted.kind and payload.get("author", "buyer") == "buyer":
        texts.append(str(payload.get("text") or ""))
    if kind == ev.LowScore.kind and payload.get("comment"):
        texts.append(str(payload["comment"]))
    return [text for text in texts if text.strip()]


def staff_texts(kind: str, payload: dict[str, Any]) -> list[str]:
    """The staff's own words a buyer's notice of this kind shows (a question, a reason, a
    message from the shop)."""
    field = {
        ev.InfoRequested.kind: "question",
        ev.Rejected.kind: "reason",
        ev.Cancelled.kind: "reason",
        ev.MessagePosted.kind: "text",
    }.get(kind)
    if field is None or (kind == ev.MessagePosted.kind and payload.get("author") == "buyer"):
        return []
    text = str(payload.get(field) or "")
    return [text] if text.strip() else []


async def _for_buyer(core: CoreContext, tr: Translator, text: str, shop: str) -> Translation | None:
    """Staff words for the buyer: the translation when one keeps every number, else None
    (the notice shows them as written)."""
    service = service_of(core)
    if not service.enabled:
        return None
    config = core.config.shops.get(shop)
    written = await service.language_of(text, SUPPORTED, config.language if config else "en")
    if written.language == tr.language:
        return None
    found = await service.translate(text, written.language, tr.language, Direction.TO_BUYER)
    return found if found.machine else None


async def translation_block(
    core: CoreContext,
    catalogs: Catalogs,
    tr: Translator,
    recipient_role: str,
    kind: str,
    payload: dict[str, Any],
    case: Case,
) -> str:
    """A new line and the translations of people's own words in a notice, for a reader of
    ``tr`` (the buyer's words for staff, the staff's for the buyer), or ""."""
    try:
        if recipient_role == "buyer":
            found = [
                t
                for text in staff_texts(kind, payload)
                if (t := await _for_buyer(core, tr, text, case.shop)) is not None
            ]
        else:
            found = [
                t
                for text in buyer_texts(kind, payload, case)
                if (t := await buyer_words(core, catalogs, text, case.buyer_id, tr.language))
                is not None
            ]
    except Exception:
        log.exception("the words in a notice could not be translated")
        return ""
    return "\n" + views.staff_block(tr, found) if found else ""

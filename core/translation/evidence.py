"""Translations in the evidence pack (core/services/export.py): ``translations.txt``, every
translated message with its original, the provider and the time, and
``conversation.<language>.txt``, the conversation in the exporting person's reading language
(each message in its machine translation where one was made, marked so; else as written)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from core.cases.lifecycle import Role
from core.cases.model import Actor, AuditEvent, Case
from core.orders.model import Order
from core.persistence.repositories.translations import (
    StoredTranslation,
    TranslationRepository,
    text_hash,
)
from core.services import people
from core.services.context import CoreContext
from core.translation.detect import base

# audit actions whose note one side wrote to the other (export.TRANSCRIPT_ACTIONS)
Who = Callable[[AuditEvent], str]


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else ""


def _indented(text: str, prefix: str = "    ") -> list[str]:
    return [prefix + line for line in text.splitlines() or [""]]


async def reading_language(ctx: CoreContext, actor: Actor, case: Case) -> str:
    """The exporting person's reading language (a base code: zh, es …), else the shop's."""
    own = await people.language_of(ctx, actor.user_id) if actor.user_id else None
    shop = ctx.config.shops.get(case.shop)
    tag = own or (shop.language if shop is not None else None) or "en"
    parts = tag.replace("-", "_").lower().split("_")
    if parts[0] == "zh" and {"hant", "tw", "hk", "mo"} & set(parts[1:]):
        return "zh_Hant"
    return parts[0]


async def translation_documents(
    ctx: CoreContext,
    actor: Actor,
    case: Case,
    order: Order,
    timeline: Sequence[AuditEvent],
    actions: dict[str, str],
    who: Who,
) -> list[tuple[str, bytes]]:
    """The pack's translation files; none when nothing on the case was ever translated."""
    messages: list[tuple[datetime | None, str, str]] = []  # (time, who and what, text)
    buyer = f"Buyer {order.buyer.name}"
    if case.description:
        messages.append((case.opened_at, f"{buyer}, opening the case", case.description))
    for event in timeline:
        if event.action in actions and event.note:
            name = buyer if event.actor_role is Role.BUYER else who(event)
            messages.append((event.at, f"{name} {actions[event.action]}", event.note))
    async with ctx.unit_of_work() as uow:
        stored = await TranslationRepository(uow.session).of_hashes(
            text_hash(text) for _, _, text in messages
        )
    if not stored:
        return []
    by_hash: dict[str, list[StoredTranslation]] = {}
    for row in stored:
        by_hash.setdefault(row.source_hash, []).append(row)
    reader = await reading_language(ctx, actor, case)
    listing = [f"Machine translations on case {case.number} (times in UTC)", ""]
    conversation = [
        f"Conversation on case {case.number}, order {order.number}, in {reader} "
        "(machine translations marked; times in UTC)",
        "",
    ]
    for at, heading, text in messages:
        rows = by_hash.get(text_hash(text), [])
        conversation.append(f"[{_iso(at)}] {heading}:")
        shown = next(
            (r for r in rows if r.target_language == reader),
            next((r for r in rows if base(r.target_language) == base(reader)), None),
        )
        if shown is not None:
            conversation.append(
                f"    (machine translation from {shown.source_language} by {shown.provider})"
            )
            conversation += _indented(shown.text)
        else:
            conversation += _indented(text)
        conversation.append("")
        if not rows:
            continue
        listing.append(f"[{_iso(at)}] {heading}, original ({rows[0].source_language}):")
        listing += _indented(text)
        for row in rows:
            listing.append(
                f"  → {row.target_language}, machine translation by {row.provider} "
                f"at {_iso(row.created_at)}:"
            )
            listing += _indented(row.text)
        listing.append("")
    return [
        ("translations.txt", ("\n".join(listing).rstrip() + "\n").encode("utf-8")),
        (f"conversation.{reader}.txt", ("\n".join(conversation).rstrip() + "\n").encode("utf-8")),
    ]

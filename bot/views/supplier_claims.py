"""Supplier claims as staff read them (the list, a claim's card, the notice when one opens,
the buttons for the moves its lifecycle allows) and the message to the supplier, written
from fixed sentences in the Chinese and English catalogues (never machine-translated)."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.conversations.callbacks import RowId
from bot.views import texts
from bot.views.i18n import Catalogs, Translator, escape
from core.money import Money
from core.services.supplier_claims import ClaimView
from core.suppliers.lifecycle import ClaimMove, ClaimStatus, SupplierClaim
from core.suppliers.pack import ClaimBatch


class ClaimCb(CallbackData, prefix="sc"):
    claim: RowId
    action: str  # show | order | pack | batch | a ClaimMove
    status: str = ""  # the status the button was made for


def status_name(tr: Translator, status: ClaimStatus | str) -> str:
    words = {
        ClaimStatus.DRAFT: tr("draft, not sent yet"),
        ClaimStatus.SENT: tr("sent to the supplier"),
        ClaimStatus.AGREED: tr("the supplier agreed"),
        ClaimStatus.REFUSED: tr("the supplier refused"),
        ClaimStatus.ESCALATED: tr("escalated"),
        ClaimStatus.RECOVERED: tr("recovered"),
        ClaimStatus.WRITTEN_OFF: tr("written off"),
    }
    return words[ClaimStatus(status)]


ICONS = {
    ClaimStatus.DRAFT: "📝",
    ClaimStatus.SENT: "📤",
    ClaimStatus.AGREED: "🤝",
    ClaimStatus.REFUSED: "✋",
    ClaimStatus.ESCALATED: "⚠️",
    ClaimStatus.RECOVERED: "💰",
    ClaimStatus.WRITTEN_OFF: "🗑",
}


def move_label(tr: Translator, move: ClaimMove) -> str:
    words = {
        ClaimMove.SEND: "📤 " + tr("Mark as sent"),
        ClaimMove.AGREE: "🤝 " + tr("Supplier agreed"),
        ClaimMove.REFUSE: "✋ " + tr("Supplier refused"),
        ClaimMove.ESCALATE: "⚠️ " + tr("Escalate"),
        ClaimMove.RECOVER: "💰 " + tr("Recovered…"),
        ClaimMove.WRITE_OFF: "🗑 " + tr("Write off"),
    }
    return words[move]


def _amounts(tr: Translator, amounts: list[Money] | list[dict[str, str]]) -> str:
    return " + ".join(tr.money(m) for m in amounts)


def warning_lines(
    tr: Translator,
    warnings: list[str] | tuple[str, ...],
    supplier: str,
    deadline: datetime | str | None,
) -> list[str]:
    """What may stop the supplier from paying, in words."""
    lines = []
    for code in warnings:
        if code == "late":
            if deadline:
                lines.append(
                    "⚠️ "
                    + tr(
                        "The buyer's case came after {supplier}'s window had closed on "
                        "{date}: the supplier may refuse the claim.",
                        supplier=supplier,
                        date=tr.date(deadline),
                    )
                )
        elif code == "cost_unknown":
            lines.append(
                "ℹ️ "
                + tr(
                    "No unit cost was imported for some of these goods: their sale price "
                    "stands in for the cost (returns-desk import-costs sets it)."
                )
            )
        elif code == "mixed_currencies":
            lines.append("ℹ️ " + tr("The goods cost in several currencies: check the amount."))
        elif code == "goods_not_returned":
            lines.append(
                "⚠️ "
                + tr(
                    "{supplier} pays when the goods come back, and the buyer keeps them: "
                    "the supplier may refuse.",
                    supplier=supplier,
                )
            )
        elif code == "needs_photos":
            lines.append(
                "⚠️ "
                + tr(
                    "{supplier} credits defects shown in photos, and the case has none.",
                    supplier=supplier,
                )
            )
        elif code == "needs_video":
            lines.append(
                "⚠️ "
                + tr(
                    "{supplier} wants a video for this reason, and the case has none.",
                    supplier=supplier,
                )
            )
        elif code == "postage_shared":
            lines.append(
                "ℹ️ " + tr("The postage is not claimed: several suppliers share this case.")
            )
    return lines


def claim_line(tr: Translator, claim: SupplierClaim) -> str:
    """One claim in the list: case, status, amount, deadline."""
    parts = [
        f"{ICONS[claim.status]} <b>{escape(claim.case_number)}</b>",
        escape(status_name(tr, claim.status)),
        escape(_amounts(tr, claim.claimed)),
    ]
    if claim.recovered is not None:
        parts.append(escape(tr("recovered {amount}", amount=claim.recovered)))
    elif claim.deadline_at is not None and claim.is_open:
        parts.append(escape(tr("by {date}", date=tr.date(claim.deadline_at))))
    line = " · ".join(parts)
    if claim.late and claim.is_open:
        line += " ⚠️"
    return line


def claims_list(
    tr: Translator,
    claims: list[SupplierClaim],
    names: dict[str, str],
    batch_since: datetime | None = None,
) -> tuple[str, InlineKeyboardMarkup | None]:
    """``/claims``: per supplier, each claim with its status and deadline; a button per claim
    and one per supplier for the week's message and ZIP (only when a draft was opened since
    ``batch_since``: the core batches none older)."""
    if not claims:
        return tr("No open supplier claims."), None
    lines = [texts.bold(tr("Supplier claims, by supplier, nearest deadline first:"))]
    rows: list[list[InlineKeyboardButton]] = []
    current = None
    for claim in claims[:40]:
        if claim.supplier != current:
            current = claim.supplier
            lines += ["", f"<b>{escape(names.get(claim.supplier, claim.supplier))}</b>"]
            draft = next(
                (
                    c
                    for c in claims
                    if c.supplier == current
                    and c.status is ClaimStatus.DRAFT
                    and (batch_since is None or c.opened_at >= batch_since)
                ),
                None,
            )
            if draft is not None and draft.id is not None:
                rows.append(
                    [
                        InlineKeyboardButton(
                            text="📦 "
                            + tr(
                                "{supplier}: this week's claims, one message and ZIP",
                                supplier=names.get(current, current),
                            ),
                            callback_data=ClaimCb(claim=draft.id, action="batch").pack(),
                        )
                    ]
                )
        lines.append(claim_line(tr, claim))
        if claim.id is not None:
            rows.append(
                [
                    InlineKeyboardButton(
                        text=f"{ICONS[claim.status]} {claim.case_number} · {claim.supplier}",
                        callback_data=ClaimCb(claim=claim.id, action="show").pack(),
                    )
                ]
            )
    if len(claims) > 40:
        lines.append(tr("… and {n} more.", n=len(claims) - 40))
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def claim_card(tr: Translator, view: ClaimView) -> tuple[str, InlineKeyboardMarkup]:
    claim = view.claim
    lines = [
        texts.bold(
            tr(
                "Supplier claim for case {case}: {supplier}",
                case=claim.case_number,
                supplier=view.supplier_name,
            )
        ),
        tr("Status: {status}", status=status_name(tr, claim.status)),
        tr("Reason: {reason}", reason=texts.reason(tr, claim.reason)),
        tr(
            "Supplier's order number: {number}",
            number=claim.supplier_order or tr("not given yet"),
        ),
    ]
    for line in claim.lines:
        lines.append(
            tr(
                "{quantity} × {sku} {title}: {cost} each",
                quantity=line.quantity,
                sku=line.sku,
                title=line.title,
                cost=line.unit_cost,
            )
        )
    if claim.postage.minor:
        lines.append(tr("Postage: {amount}", amount=claim.postage))
    lines.append(tr("Claimed: {amounts}", amounts=_amounts(tr, claim.claimed)))
    if claim.recovered is not None:
        lines.append(tr("Recovered: {amount}", amount=claim.recovered))
    if claim.deadline_at is not None:
        lines.append(tr("The supplier's deadline: {date}", date=tr.date(claim.deadline_at)))
    lines += warning_lines(tr, claim.warnings, view.supplier_name, claim.deadline_at)
    if view.history:
        lines += ["", tr("History:")]
        for event in view.history[-10:]:
            what = (
                status_name(tr, event.to_status)
                if event.to_status and event.action != "supplier_order"
                else tr("order number set")
            )
            lines.append(f"{escape(tr.date(event.at))} · {escape(what)}")
    return "\n".join(lines), claim_keys(tr, claim)


def claim_keys(tr: Translator, claim: SupplierClaim) -> InlineKeyboardMarkup:
    """Exactly the moves the lifecycle allows now, and what else can be done with it."""
    assert claim.id is not None
    rows: list[list[InlineKeyboardButton]] = []
    moves = claim.allowed_moves()
    for pair in (moves[i : i + 2] for i in range(0, len(moves), 2)):
        rows.append(
            [
                InlineKeyboardButton(
                    text=move_label(tr, move),
                    callback_data=ClaimCb(
                        claim=claim.id, action=move.value, status=claim.status.value
                    ).pack(),
                )
                for move in pair
            ]
        )
    if claim.is_open:
        rows.append(
            [
                InlineKeyboardButton(
                    text="✏️ " + tr("Supplier's order number…"),
                    callback_data=ClaimCb(claim=claim.id, action="order").pack(),
                ),
                InlineKeyboardButton(
                    text="📦 " + tr("Message and ZIP"),
                    callback_data=ClaimCb(claim=claim.id, action="pack").pack(),
                ),
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def opened_notice(tr: Translator, payload: dict[str, Any]) -> Any:
    """Not about a case's status: a supplier claim was opened beside an approved case."""
    from bot.views.events import Rendered

    supplier = str(payload.get("supplier_name") or payload.get("supplier") or "")
    lines = [
        texts.bold(
            tr(
                "Case {case}: a claim on {supplier} was opened",
                case=str(payload.get("case", "")),
                supplier=supplier,
            )
        ),
        tr(
            "Claim back from the supplier: {amounts}.",
            amounts=_amounts(tr, payload.get("claimed") or []),
        ),
    ]
    if payload.get("postage"):
        lines.append(tr("Postage: {amount}", amount=tr.money(payload["postage"])))
    deadline = payload.get("deadline")
    if deadline and not payload.get("late"):
        lines.append(tr("The supplier's deadline: {date}", date=tr.date(deadline)))
    lines += warning_lines(tr, payload.get("warnings") or [], supplier, deadline)
    command = f"/claim_{int(payload.get('claim') or 0)}"
    if payload.get("needs_order"):
        lines.append(
            tr(
                "Which order did you place with the supplier for these goods? Open the claim "
                "with {command} and type the supplier's order number there.",
                command=command,
            )
        )
    else:
        lines.append(tr("Open the claim with {command}.", command=command))
    lines.append(tr("/claims lists every supplier claim."))
    # no buttons: this notice must not stand in front of the case's own alert and its buttons
    return Rendered("\n".join(lines))


# ── the message to the supplier ────────────────────────────────────────────────────────────


def _plain(text: str) -> str:
    """The translator escapes values for Telegram's HTML; a letter is plain text."""
    return html.unescape(text)


def letter(tr: Translator, batch: ClaimBatch, terms_accept: str | None) -> str:
    """The message to the supplier in the translator's language, from fixed sentences."""
    covered = tr("defects") if terms_accept == "defects" else tr("defects and returns")
    lines = [
        tr("Dear {supplier},", supplier=batch.supplier_name),
        "",
        tr(
            "Under your return terms ({terms}), we claim back the cost of the goods below. "
            "Our customers reported them and we have settled with them.",
            terms=covered,
        ),
    ]
    for n, item in enumerate(batch.claims, start=1):
        claim = item.claim
        lines += [
            "",
            tr("{n}. Our reference {reference}", n=n, reference=claim.case_number),
            tr(
                "Your order number: {number}",
                number=claim.supplier_order or tr("please find it by the items below"),
            ),
            tr("Reason: {reason}", reason=texts.reason(tr, claim.reason)),
        ]
        for line in claim.lines:
            lines.append(
                tr(
                    "{quantity} × {sku} {title}: {cost} each",
                    quantity=line.quantity,
                    sku=line.sku,
                    title=line.title,
                    cost=line.unit_cost,
                )
            )
        if claim.postage.minor:
            lines.append(tr("Postage: {amount}", amount=claim.postage))
        lines.append(tr("Claimed: {amounts}", amounts=_amounts(tr, claim.claimed)))
        if claim.deadline_at is not None and not claim.late:
            lines.append(
                tr("Within your window, which ends on {date}.", date=tr.date(claim.deadline_at))
            )
        if item.photos or item.description:
            lines.append(
                tr(
                    "The photos and the description of the defect are in the folder "
                    "{folder} of the attached ZIP.",
                    folder=claim.case_number,
                )
            )
    totals: dict[str, Money] = {}
    for item in batch.claims:
        for amount in item.claim.claimed:
            totals[amount.currency] = totals.get(amount.currency, Money.zero(amount.currency)) + (
                amount
            )
    lines += [
        "",
        tr("In all: {amounts}", amounts=_amounts(tr, list(totals.values()))),
        tr("Please reply with how you will settle it (a refund or a credit) and when."),
        "",
        tr("Thank you,"),
        ", ".join(batch.shop_names),
    ]
    return _plain("\n".join(lines))


def letter_writer(catalogs: Catalogs, accepts: dict[str, str]):  # type: ignore[no-untyped-def]
    """The core's ``Letter``: (language, batch) → the message in that language."""

    def write(language: str, batch: ClaimBatch) -> str:
        return letter(catalogs.get(language), batch, accepts.get(batch.supplier))

    return write


__all__ = ["ClaimCb", "claim_card", "claims_list", "letter", "opened_notice"]

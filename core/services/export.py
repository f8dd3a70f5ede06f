"""The evidence pack: one ZIP a seller or agent uploads to a marketplace dispute.

It holds the case in words (``summary.txt``) and as data (``case.json``, with the policy
decision that was shown to the buyer), the order with its shipments and tracking
(``order.json``), the audit trail (``timeline.csv``), the conversation (``transcript.txt``),
the ORIGINAL photos and videos from the evidence store (``evidence/01-photo-<sha8>.jpg`` …)
and ``manifest.json``, which lists every file with its SHA-256 and size. A file that was never
downloaded (or is gone from the store) is not silently missing: the manifest and the summary
name it as "only on Telegram", with its file_id. Times are UTC, ISO 8601.

The pack is built in memory (evidence files are at most 20 MB each) and capped at 50 MB, what
a Telegram bot may send as a document; a larger pack is refused with ``pack_too_large``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.cases.lifecycle import Role
from core.cases.model import STAFF_ONLY_ACTIONS, Actor, AuditEvent, Case, Evidence, EvidenceKind
from core.errors import Forbidden, ValidationFailed
from core.money import Money
from core.orders.model import Order, Shipment
from core.persistence.sqlite_driver import long_statements
from core.policy.record import DecisionRecord, MoneyValue
from core.services.cases import get_case
from core.services.context import CoreContext
from core.services.evidence_store import EvidenceStore
from core.spreadsheet import csv_bytes
from core.translation.evidence import translation_documents
from core.zip_pack import ZipPack

MAX_PACK_BYTES = 50 * 1024 * 1024  # the largest document a Telegram bot may send
PACK_FORMAT = "returns-evidence-pack/1"
# Audit events whose note is something one side wrote to the other.
TRANSCRIPT_ACTIONS = {
    "message": "wrote",
    "request_info": "asked for more information",
    "reject": "rejected the claim",
}
# Staff's internal notes are never shown to the buyer, so never put in a pack meant for a
# marketplace dispute: the timeline keeps the event, not its text.
WITHHELD = "(internal note, not exported)"


@dataclass(frozen=True, slots=True)
class ExportedPack:
    filename: str  # R-2611-0001-evidence.zip
    data: bytes  # the ZIP
    files: list[str]  # every name in the ZIP, in order (manifest.json last)
    only_on_telegram: list[str] = field(default_factory=list)  # file_ids not in the pack


@dataclass(frozen=True, slots=True)
class _Item:
    """One piece of evidence as the pack shows it: a file in the ZIP, or a Telegram file_id."""

    number: int
    evidence: Evidence
    path: str | None  # evidence/01-photo-….jpg; None when only Telegram has the file


@long_statements
async def evidence_pack(
    ctx: CoreContext, actor: Actor, number: str, *, limit: int | None = None
) -> ExportedPack:
    """The evidence pack of one case, for its shop's sellers and for agents (buyers: Forbidden;
    another shop's seller and no such case alike: NotFound ``case_not_found``)."""
    if actor.role not in (Role.SELLER, Role.AGENT):
        raise Forbidden("only sellers and agents export a case", code="not_staff")
    view = await get_case(ctx, actor, number)  # checks that this seller may see this case
    names = await _staff_names(ctx, view.timeline)
    limit = MAX_PACK_BYTES if limit is None else limit
    generated = _utc(ctx.now())
    # translations.txt and conversation.<reader's language>.txt, when anything was translated
    translated = await translation_documents(
        ctx,
        actor,
        view.case,
        view.order,
        view.timeline,
        TRANSCRIPT_ACTIONS,
        lambda event: _who(event, names),
    )
    # Reading up to 50 MB and compressing it is file and CPU work: off the event loop.
    return await asyncio.to_thread(
        _build,
        ctx,
        view.case,
        view.order,
        view.timeline,
        generated,
        limit,
        names,
        translated,
    )


async def _staff_names(ctx: CoreContext, timeline: Sequence[AuditEvent]) -> dict[int, str]:
    """The display names (Telegram first names, as stored) of the staff on the timeline: the
    pack names people by role and name, never by their Telegram id."""
    ids = {
        event.actor_id
        for event in timeline
        if event.actor_id is not None and event.actor_role in (Role.SELLER, Role.AGENT)
    }
    names: dict[int, str] = {}
    async with ctx.unit_of_work() as uow:
        for user_id in sorted(ids):
            user = await uow.users.get(user_id)
            if user is not None and user.first_name:
                names[user_id] = user.first_name
    return names


def _build(
    ctx: CoreContext,
    case: Case,
    order: Order,
    timeline: Sequence[AuditEvent],
    generated: datetime,
    limit: int,
    staff_names: dict[int, str],
    translated: Sequence[tuple[str, bytes]] = (),
) -> ExportedPack:
    items = _items(ctx.evidence, case.evidence)
    shop = ctx.config.shops.get(case.shop)
    shop_name = shop.name if shop is not None else case.shop
    evidence_entries = [_evidence_entry(item) for item in items]
    documents: list[tuple[str, bytes]] = [
        (
            "summary.txt",
            _text(_summary(case, order, shop_name, timeline, items, generated, staff_names)),
        ),
        ("case.json", _json(_case_json(case, order, shop_name, evidence_entries))),
        ("order.json", _json(_order_json(order))),
        ("timeline.csv", _timeline_csv(timeline, staff_names)),
        ("transcript.txt", _text(_transcript(case, order, timeline, staff_names))),
        *translated,
    ]
    with ZipPack(generated, mode=0o644) as pack:

        def add(name: str, data: bytes) -> None:
            pack.add(name, data)
            if pack.size > limit:  # stop early: no need to compress the rest
                raise _too_large(limit)

        for name, data in documents:
            add(name, data)
        for item, entry in zip(items, evidence_entries, strict=True):
            if item.path is None:
                continue
            assert item.evidence.sha256 is not None
            content = ctx.evidence.read(item.evidence.sha256)
            add(item.path, content)
            # the manifest says whether the stored file still matches its content address
            entry["verified"] = hashlib.sha256(content).hexdigest() == item.evidence.sha256
        manifest = {
            "format": PACK_FORMAT,
            "case": case.number,
            "shop": case.shop,
            "order": order.number,
            "generated_at": _iso(generated),
            "files": pack.manifest,
            "evidence": evidence_entries,
        }
        add("manifest.json", _json(manifest))
    data = pack.data
    if len(data) > limit:
        raise _too_large(limit)
    return ExportedPack(
        filename=f"{case.number}-evidence.zip",
        data=data,
        files=pack.names,
        only_on_telegram=[
            item.evidence.file_id or item.evidence.file_unique_id
            for item in items
            if item.path is None
        ],
    )


def _too_large(limit: int) -> ValidationFailed:
    return ValidationFailed(
        f"the evidence pack is over {limit} bytes",
        code="pack_too_large",
        limit=limit,
        limit_mb=limit // (1024 * 1024),
    )


# ── evidence ───────────────────────────────────────────────────────────────────────────────


def _items(store: EvidenceStore, evidence: Sequence[Evidence]) -> list[_Item]:
    items = []
    for number, piece in enumerate(evidence, start=1):
        path = None
        if piece.sha256 and _in_store(store, piece.sha256):
            extension = _extension(store, piece.sha256)
            path = f"evidence/{number:02d}-{_kind(piece)}-{piece.sha256[:8]}{extension}"
        items.append(_Item(number, piece, path))
    return items


def _in_store(store: EvidenceStore, sha256: str) -> bool:
    try:
        return store.exists(sha256)
    except ValueError:  # not a SHA-256: nothing was ever stored under it
        return False


def _kind(piece: Evidence) -> str:
    if piece.is_video:
        return "video"
    if piece.kind is EvidenceKind.PHOTO or (piece.mime_type or "").startswith("image/"):
        return "photo"
    return "document"


def _extension(store: EvidenceStore, sha256: str) -> str:
    """The extension of what the file really is (its first bytes), whatever its sender's app
    called it: a PNG is never named .jpg, and anything that is not a known photo, video or
    PDF format (an SVG, HTML…) is ``.bin``, so that no viewer runs it."""
    found = store.sniff(sha256)
    return found.extension if found is not None else ".bin"


def _evidence_entry(item: _Item) -> dict[str, Any]:
    piece = item.evidence
    entry: dict[str, Any] = {
        "number": item.number,
        "kind": piece.kind.value,
        "path": item.path,
        "sha256": piece.sha256,
        "size": piece.size,
        "mime_type": piece.mime_type,
        "caption": piece.caption,
        "added_at": _iso(piece.added_at),
        "added_by": piece.added_by.value,
        "telegram_file_id": piece.file_id,
        "telegram_file_unique_id": piece.file_unique_id,
    }
    if item.path is None:
        entry["note"] = f"only on Telegram: file_id {piece.file_id or piece.file_unique_id}"
    return entry


# ── the documents ──────────────────────────────────────────────────────────────────────────


def _summary(
    case: Case,
    order: Order,
    shop_name: str,
    timeline: Sequence[AuditEvent],
    items: Sequence[_Item],
    generated: datetime,
    names: dict[int, str],
) -> str:
    decision = case.decision
    buyer = order.buyer
    lines = [
        f"Evidence pack for return case {case.number}",
        f"Generated: {_iso(generated)} (all times UTC)",
        "",
        "CASE",
        f"Case number: {case.number}",
        f"Shop: {shop_name} ({case.shop})",
        f"Order number: {order.number}",
        f"Order placed: {_iso(order.placed_at)}",
        f"Order status: {order.status.value}",
        f"Order total: {order.grand_total}",
        f"Case opened: {_iso(case.opened_at)}",
        f"Last change: {_iso(case.updated_at)}",
        f"Reason: {case.reason.value}",
        f"Status: {case.status.value}",
        f"Buyer's preferred outcome: {_value(case.preferred_resolution)}",
        f"Resolution: {_value(case.resolution)}",
        f"Decided by: {_value(case.decided_by)}",
        f"Decision note: {_value(case.decision_note)}",
        f"Refund granted: {_value(case.refund_amount)}",
        f"Refunded: {_value(case.refunded_amount)}",
        f"Refund reference: {_value(case.refund_reference)}",
        f"Return required: {'yes' if case.return_required else 'no'}"
        + (f", postage paid by {case.return_paid_by.value}" if case.return_paid_by else ""),
        f"Goods: {case.goods.value}",
        f"Money: {case.money.value}",
        f"Return tracking: {_value(case.return_tracking)}",
        f"Replacement tracking: {_value(case.replacement_tracking)}",
        f"Escalated to an agent: {'yes' if case.escalated else 'no'}",
        f"Next deadline: {_iso(case.deadline_at) or '-'}",
        "",
        "BUYER",
        f"Name: {buyer.name}",
        f"Country: {_value(buyer.country)}",
        f"Language: {_value(buyer.language)}",
        f"Telegram user id: {_value(case.buyer_id)}",
        "",
        "ITEMS CLAIMED",
    ]
    for claimed in case.lines:
        line = order.line(claimed.line_no)
        if line is None:
            lines.append(f"- line {claimed.line_no}: quantity {claimed.quantity}")
            continue
        lines.append(
            f"- line {line.line_no}: {line.title} (SKU {line.sku}), "
            f"quantity {claimed.quantity} of {line.quantity}, unit price {line.unit_price}"
            + (f", supplier {line.supplier}" if line.supplier else "")
        )
    lines += ["", "BUYER'S DESCRIPTION", case.description or "-", ""]
    lines += ["POLICY DECISION (as recorded with the case)"]
    lines += _decision_lines(decision)
    lines += ["", "SHIPMENTS"]
    if not order.shipments:
        lines.append("- none")
    for shipment in order.shipments:
        lines += _shipment_lines(shipment)
    lines += ["", "EVIDENCE"]
    if not items:
        lines.append("- none")
    for item in items:
        piece = item.evidence
        if item.path is not None:
            size = f"{piece.size} bytes, " if piece.size is not None else ""
            lines.append(
                f"{item.number:02d}. {_kind(piece)}: {item.path} ({size}sha256 {piece.sha256})"
            )
        else:
            lines.append(
                f"{item.number:02d}. {_kind(piece)}: only on Telegram: "
                f"file_id {piece.file_id or piece.file_unique_id}"
            )
        if piece.caption:
            lines.append(f"    caption: {piece.caption}")
    lines += ["", "TIMELINE"]
    for event in timeline:
        change = (
            f" ({_value(event.from_status)} -> {_value(event.to_status)})"
            if event.from_status != event.to_status
            else ""
        )
        lines.append(f"- {_iso(event.at)} {_who(event, names)}: {event.action}{change}")
    lines += [
        "",
        "The conversation is in transcript.txt; manifest.json lists every file with its SHA-256.",
    ]
    return "\n".join(lines) + "\n"


def _money_line(value: MoneyValue | None) -> str:
    return _param(value.as_dict() if value else None)


def _decision_lines(decision: DecisionRecord) -> list[str]:
    lines = [
        f"Eligible: {'yes' if decision.eligible else 'no'}"
        + (f" (refused: {decision.refusal})" if decision.refusal else ""),
        f"Review: {_value(decision.review)}",
        f"Outcomes allowed: {', '.join(decision.resolutions) or '-'}",
        f"Refund total: {_money_line(decision.refund_total)}",
        f"Shipping refunded: {_money_line(decision.shipping_refund)}",
        f"Fees: {_money_line(decision.fees)}",
        f"Return required: {'yes' if decision.return_required else 'no'}"
        + (f", postage paid by {decision.return_paid_by}" if decision.return_paid_by else ""),
        "Explanation codes:",
    ]
    if not decision.explanations:
        lines.append("- none")
    for explanation in decision.explanations:
        lines.append(f"- {explanation.code}{_params(explanation.params)}")
    lines.append("Supplier gaps (what the supplier's terms will not cover):")
    if not decision.supplier_gaps:
        lines.append("- none")
    for gap in decision.supplier_gaps:
        lines.append(
            f"- supplier {gap.supplier}, line {gap.line_no}: {gap.code}, "
            f"unrecoverable {_money_line(gap.unrecoverable)}{_params(gap.params)}"
        )
    return lines


def _params(params: dict[str, Any]) -> str:
    if not params:
        return ""
    return ": " + ", ".join(f"{key}={_param(value)}" for key, value in params.items())


def _param(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict) and set(value) == {"amount", "currency"}:
        return f"{value['amount']} {value['currency']}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_param(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_param(v)}" for k, v in value.items()) + "}"
    return str(value)


def _shipment_lines(shipment: Shipment) -> list[str]:
    lines = [
        f"- carrier {_value(shipment.carrier)}, tracking number {_value(shipment.tracking_number)}"
        f" ({'registered' if shipment.registered else 'unregistered'})",
        f"  shipped {_iso(shipment.shipped_at)}, delivered {_iso(shipment.delivered_at) or '-'}",
    ]
    if shipment.estimated_days:
        low, high = shipment.estimated_days
        lines.append(f"  estimated transit {low}-{high} days")
    for event in sorted(shipment.events, key=lambda e: e.at):
        where = f" {event.location}" if event.location else ""
        what = f": {event.description}" if event.description else ""
        lines.append(f"  {_iso(event.at)} [{event.status}]{where}{what}")
    return lines


def _transcript(
    case: Case, order: Order, timeline: Sequence[AuditEvent], names: dict[int, str]
) -> str:
    lines = [f"Conversation on case {case.number}, order {order.number} (times in UTC)", ""]
    buyer = f"Buyer {order.buyer.name}" + (
        f" (Telegram {case.buyer_id})" if case.buyer_id is not None else ""
    )
    lines.append(f"[{_iso(case.opened_at)}] {buyer}, opening the case:")
    lines += _indented(case.description or "(no description)")
    for event in timeline:
        if event.action not in TRANSCRIPT_ACTIONS or not event.note:
            continue
        who = _who(event, names, buyer if event.actor_role is Role.BUYER else None)
        lines += ["", f"[{_iso(event.at)}] {who} {TRANSCRIPT_ACTIONS[event.action]}:"]
        lines += _indented(event.note)
    return "\n".join(lines) + "\n"


def _indented(text: str) -> list[str]:
    return ["    " + line for line in text.splitlines() or [""]]


def _who(event: AuditEvent, names: dict[int, str], buyer: str | None = None) -> str:
    """Who acted, as the pack names them: "Seller (Li Wei)", "Agent", "System"; staff are
    never named by their Telegram id."""
    if buyer is not None:
        return buyer
    role = event.actor_role.value.capitalize()
    name = names.get(event.actor_id) if event.actor_id is not None else None
    return f"{role} ({name})" if name else role


def _timeline_csv(timeline: Sequence[AuditEvent], names: dict[int, str]) -> bytes:
    """The audit trail for a spreadsheet: buyers' and staff's words can never run as formulas."""
    return csv_bytes(
        ["at", "actor_role", "actor", "action", "from", "to", "note"],
        (
            [
                _iso(event.at),
                event.actor_role.value,
                _who(event, names),
                event.action,
                event.from_status.value if event.from_status else "",
                event.to_status.value if event.to_status else "",
                WITHHELD if event.action in STAFF_ONLY_ACTIONS and event.note else event.note or "",
            ]
            for event in timeline
        ),
    )


def _case_json(
    case: Case, order: Order, shop_name: str, evidence: list[dict[str, Any]]
) -> dict[str, Any]:
    claimed = []
    for item in case.lines:
        line = order.line(item.line_no)
        claimed.append(
            {
                "line_no": item.line_no,
                "quantity": item.quantity,
                "sku": line.sku if line else None,
                "title": line.title if line else None,
                "unit_price": _money(line.unit_price) if line else None,
                "supplier": line.supplier if line else None,
            }
        )
    return {
        "format": PACK_FORMAT,
        "number": case.number,
        "shop": {"id": case.shop, "name": shop_name},
        "order_number": order.number,
        "buyer": {
            "name": order.buyer.name,
            "country": order.buyer.country,
            "language": order.buyer.language,
            "telegram_id": case.buyer_id,
        },
        "opened_at": _iso(case.opened_at),
        "updated_at": _iso(case.updated_at),
        "deadline_at": _iso(case.deadline_at),
        "reason": case.reason.value,
        "status": case.status.value,
        "lines": claimed,
        "description": case.description,
        "preferred_resolution": _enum(case.preferred_resolution),
        "resolution": _enum(case.resolution),
        "decided_by": _enum(case.decided_by),
        "decision_note": case.decision_note,
        "refund_amount": _money(case.refund_amount),
        "refunded_amount": _money(case.refunded_amount),
        "refund_reference": case.refund_reference,
        "return_required": case.return_required,
        "return_paid_by": _enum(case.return_paid_by),
        "return_tracking": case.return_tracking,
        "replacement_tracking": case.replacement_tracking,
        "goods": case.goods.value,
        "money": case.money.value,
        "owner": case.owner.value,
        "owner_agent_id": case.owner_agent_id,
        "escalated": case.escalated,
        "version": case.version,
        "decision": case.decision.to_json(),
        "evidence": evidence,
    }


def _order_json(order: Order) -> dict[str, Any]:
    address = order.shipping_address
    return {
        "shop": order.shop,
        "number": order.number,
        "external_id": order.external_id,
        "placed_at": _iso(order.placed_at),
        "status": order.status.value,
        "currency": order.currency,
        "buyer": {
            "name": order.buyer.name,
            "email": order.buyer.email,
            "phone": order.buyer.phone,
            "country": order.buyer.country,
            "language": order.buyer.language,
            "telegram_id": order.buyer.telegram_id,
        },
        "shipping_address": None if address is None else address.as_dict(),
        "shipping_cost": _money(order.shipping_cost),
        "items_total": _money(order.items_total),
        "grand_total": _money(order.grand_total),
        "items": [
            {
                "line_no": line.line_no,
                "sku": line.sku,
                "title": line.title,
                "category": line.category,
                "quantity": line.quantity,
                "unit_price": _money(line.unit_price),
                "supplier": line.supplier,
                "refunded_quantity": line.refunded_quantity,
            }
            for line in order.lines
        ],
        "shipments": [
            {
                "carrier": shipment.carrier,
                "tracking_number": shipment.tracking_number,
                "registered": shipment.registered,
                "shipped_at": _iso(shipment.shipped_at),
                "delivered_at": _iso(shipment.delivered_at),
                "estimated_days": list(shipment.estimated_days)
                if shipment.estimated_days
                else None,
                "items": list(shipment.skus) if shipment.skus is not None else None,
                "events": [
                    {
                        "at": _iso(event.at),
                        "status": event.status,
                        "location": event.location,
                        "description": event.description,
                    }
                    for event in sorted(shipment.events, key=lambda e: e.at)
                ],
            }
            for shipment in order.shipments
        ],
        "cancelled_at": _iso(order.cancelled_at),
        "refunded_amount": _money(order.refunded_amount),
    }


# ── small formatters ───────────────────────────────────────────────────────────────────────


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    """UTC, ISO 8601, to the second: 2026-11-22T12:00:00Z."""
    if value is None:
        return None
    return _utc(value).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _money(value: Money | None) -> dict[str, str] | None:
    if value is None:
        return None
    return value.as_dict()


def _enum(value: Any) -> str | None:
    return None if value is None else str(value.value)


def _value(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, Money):
        return str(value)
    return str(getattr(value, "value", value))


def _text(text: str) -> bytes:
    return text.encode("utf-8")


def _json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n").encode("utf-8")

"""Personal data: a person's copy of what is held about them, erasure, retention.

* :func:`personal_data` + :func:`data_zip`: everything held about one Telegram user (their
  profile, the orders they are linked to, the cases they opened with timeline and their own
  words, the evidence files, their order checks), as a ZIP. The bot adds a README in the
  person's language (core renders no sentence).
* :func:`request_erasure`: /forgetme and ``returns-desk privacy erase``. With no hold it is
  done at once; a hold (an open case, or the dispute window after one closed) makes it wait,
  and the answer says why and until when. The nightly purge does what falls due.
* :func:`nightly_purge`: once a day (the first timer pass of a UTC day, by the process that
  holds the background lease; a day claimed in ``runtime_values`` so only one does it) applies
  ``[retention]`` and the due erasures.
* :func:`report`: what is held, per kind, and what the next purge will remove.

Erasure keeps SKU (order lines), reason, status, amounts and dates: the shop's figures still
count the case. Placeholders are fixed strings: nothing of the original can be recovered.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from core.cases.lifecycle import Role
from core.cases.model import STAFF_ONLY_ACTIONS, Actor, AuditEvent, Case
from core.errors import Forbidden, NotFound
from core.orders.model import Order
from core.orders.numbers import normalize_order_number
from core.persistence.repositories.privacy import ERASED, ErasureRequest, HeldCase
from core.persistence.sqlite_driver import long_statements
from core.persistence.tables import (
    conversation_states,
    erasure_requests,
    inbox_updates,
    link_attempts,
    outbox,
)
from core.services.context import CoreContext
from core.services.evidence_store import EvidenceStore
from core.zip_pack import ZipPack

DATA_FORMAT = "returns-desk-personal-data/1"
DAILY_KEY = "privacy_purge_day"
# a processed update is remembered at least this long, whatever the retention says, so that
# Telegram's redelivery (up to 24 hours) is still recognised
MIN_DONE_UPDATES = timedelta(hours=48)


# ── who may ask ────────────────────────────────────────────────────────────────────────────


def _check(actor: Actor, telegram_id: int) -> None:
    """A buyer acts on their own data; the shop (the CLI, as the system) on anyone's."""
    if actor.role is Role.SYSTEM:
        return
    if actor.role is Role.BUYER and actor.user_id == telegram_id:
        return
    raise Forbidden("only the person themselves or the shop", code="forbidden")


# ── holds and erasure ──────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Hold:
    """Why an erasure waits: ``open_case`` (until it closes, then the dispute window) or
    ``dispute_window`` (until ``until``)."""

    kind: str  # open_case | dispute_window
    case: str
    until: datetime | None  # None while the case is open
    window_days: int


@dataclass(frozen=True, slots=True)
class Erasure:
    telegram_id: int
    requested_at: datetime
    due_at: datetime
    done_at: datetime | None
    hold: Hold | None
    already_requested: bool = False

    @property
    def done(self) -> bool:
        return self.done_at is not None


def _hold(held: Sequence[HeldCase], now: datetime, window_days: int) -> Hold | None:
    window = timedelta(days=window_days)
    open_cases = [case for case in held if case.open]
    if open_cases:
        return Hold("open_case", open_cases[0].number, None, window_days)
    closed = [case for case in held if case.closed_at is not None]
    if not closed:
        return None
    latest = max(closed, key=lambda case: case.closed_at or now)
    assert latest.closed_at is not None
    until = latest.closed_at + window
    if until > now:
        return Hold("dispute_window", latest.number, until, window_days)
    return None


async def _hold_for(ctx: CoreContext, uow: Any, telegram_id: int, now: datetime) -> Hold | None:
    owned = await uow.privacy.owned_order_ids(telegram_id)
    held = await uow.privacy.held_cases(telegram_id, owned)
    return _hold(held, now, ctx.config.retention.dispute_window_days)


def _due(hold: Hold | None, now: datetime) -> datetime:
    if hold is None:
        return now
    if hold.until is not None:
        return hold.until
    return now + timedelta(days=hold.window_days)  # the earliest it can be; checked again then


@long_statements
async def request_erasure(
    ctx: CoreContext, actor: Actor, telegram_id: int, *, by: str = "buyer"
) -> Erasure:
    """Ask for a person's data to be erased: at once when no hold applies, else recorded and
    done by the nightly purge once the hold ends. Asking again changes nothing but the due
    date (recomputed)."""
    _check(actor, telegram_id)
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        earlier = await uow.privacy.pending_request(telegram_id)
        hold = await _hold_for(ctx, uow, telegram_id, now)
        due = _due(hold, now)
        await uow.privacy.save_request(telegram_id, at=now, by=by, due_at=due)
        if hold is None:
            erased = await _erase(uow, telegram_id)
            await uow.privacy.mark_done(telegram_id, now)
        await uow.commit()
    ctx.pending_erasures = None
    if hold is None:
        _delete_files(ctx.evidence, erased)
        _forget_cached(ctx, telegram_id)
    return Erasure(
        telegram_id,
        earlier.requested_at if earlier else now,
        due,
        now if hold is None else None,
        hold,
        already_requested=earlier is not None,
    )


async def pending_erasure(ctx: CoreContext, actor: Actor, telegram_id: int) -> Erasure | None:
    """The person's erasure request still waiting, with its hold; None when there is none."""
    _check(actor, telegram_id)
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        pending = await uow.privacy.pending_request(telegram_id)
        if pending is None:
            return None
        hold = await _hold_for(ctx, uow, telegram_id, now)
    return Erasure(
        telegram_id, pending.requested_at, max(pending.due_at, _due(hold, now)), None, hold
    )


PENDING_READ_EVERY = 5.0  # seconds: how stale another process's new request may be seen


async def has_pending_erasure(ctx: CoreContext, telegram_id: int) -> bool:
    """Whether this person asked to be forgotten and is waiting. Asked at every private
    message, so the (few) waiting people are read once every few seconds per process, and
    at once after a change made here."""
    now = time.monotonic()
    cached = ctx.pending_erasures
    if cached is None or now - cached[0] > PENDING_READ_EVERY:
        async with ctx.unit_of_work() as uow:
            cached = (now, frozenset(await uow.privacy.pending_ids()))
        ctx.pending_erasures = cached
    return telegram_id in cached[1]


async def cancel_erasure(ctx: CoreContext, actor: Actor, telegram_id: int) -> bool:
    """Withdraw a pending request (done erasures cannot be undone); False if none waited."""
    _check(actor, telegram_id)
    async with ctx.unit_of_work() as uow:
        cancelled = await uow.privacy.cancel_request(telegram_id)
        await uow.commit()
    ctx.pending_erasures = None
    return cancelled


async def _erase(uow: Any, telegram_id: int) -> list[str]:
    owned = await uow.privacy.owned_order_ids(telegram_id)
    erased = await uow.privacy.erase_person(telegram_id, owned)
    return list(erased.orphan_files)


def _delete_files(store: EvidenceStore, shas: Sequence[str]) -> int:
    return sum(1 for sha in shas if store.delete(sha))


def _forget_cached(ctx: CoreContext, telegram_id: int) -> None:
    if ctx.known_users is not None:
        ctx.known_users.pop(telegram_id, None)


@long_statements
async def find_people(
    ctx: CoreContext, actor: Actor, *, email: str | None = None, order: str | None = None
) -> list[int]:
    """The Telegram users behind an e-mail address or an order number (the shop's tools)."""
    if actor.role is not Role.SYSTEM:
        raise Forbidden("only the shop looks people up", code="forbidden")
    async with ctx.unit_of_work() as uow:
        order_ids: list[int] = []
        if order is not None:
            order_ids += [
                o.id for o in await uow.orders.find_by_key(normalize_order_number(order)) if o.id
            ]
        people = await uow.privacy.people_of(order_ids=order_ids, email=email)
    if not people:
        raise NotFound("nobody found", code="not_found")
    return people


# ── the nightly purge ──────────────────────────────────────────────────────────────────────


@long_statements
async def nightly_purge(ctx: CoreContext) -> dict[str, int]:
    """The retention purge and the due erasures, once per UTC day (whoever claims the day);
    an empty dict when today's purge was already done."""
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        mine = await uow.privacy.claim_day(DAILY_KEY, now.astimezone(UTC).date().isoformat())
        await uow.commit()
    if not mine:
        return {}
    return await purge(ctx)


@long_statements
async def purge(ctx: CoreContext) -> dict[str, int]:
    """Apply ``[retention]`` and the erasure requests that fell due; counts of what went."""
    now = ctx.now()
    keep = ctx.config.retention
    window = timedelta(days=keep.dispute_window_days)
    case_cutoff = now - max(timedelta(days=keep.closed_case_days), window)
    done: dict[str, int] = {}
    files: list[str] = []
    async with ctx.unit_of_work() as uow:
        # 1. erasure requests whose hold ended (a hold that still applies moves the date on)
        erased_people = 0
        for request in await uow.privacy.due_requests(now):
            hold = await _hold_for(ctx, uow, request.telegram_id, now)
            if hold is not None:
                await uow.privacy.set_due(request.telegram_id, _due(hold, now))
                continue
            files += await _erase(uow, request.telegram_id)
            await uow.privacy.mark_done(request.telegram_id, now)
            _forget_cached(ctx, request.telegram_id)
            ctx.pending_erasures = None
            erased_people += 1
        done["people_erased"] = erased_people
        # 2. closed cases past their retention, and their orders once no case holds them
        closed = await uow.privacy.closed_cases_before(case_cutoff)
        erased = await uow.privacy.erase_cases([case_id for case_id, _ in closed])
        files += erased.orphan_files
        done["cases_erased"] = erased.counts["cases"]
        free = await uow.privacy.orders_free_of_holds(
            [order_id for _, order_id in closed], now - window
        )
        # 3. orders nobody opened a case on
        stale = await uow.privacy.orders_without_cases_before(
            now - timedelta(days=keep.orders_without_cases_days)
        )
        done["orders_erased"] = await uow.privacy.erase_orders(free + stale)
        done["links_removed"] = await uow.privacy.unlink_orders(free + stale)
        # 4. technical data
        done["order_checks"] = await uow.privacy.purge_link_attempts(
            now - timedelta(days=keep.link_attempts_days)
        )
        done["notifications"] = await uow.privacy.purge_outbox(
            now - timedelta(days=keep.sent_outbox_days)
        )
        done["updates"] = await uow.inbox.purge_done(_done_updates_cutoff(ctx, now))
        done["parked_updates"] = await uow.privacy.purge_parked_updates(
            now - timedelta(days=keep.parked_updates_days)
        )
        done["conversations"] = await uow.conversations.purge_idle(
            now - timedelta(days=ctx.config.lifecycle.conversation_idle_days)
        )
        await uow.commit()
    done["evidence_files"] = _delete_files(ctx.evidence, sorted(set(files)))
    return done


def _done_updates_cutoff(ctx: CoreContext, now: datetime) -> datetime:
    return now - max(timedelta(days=ctx.config.retention.done_updates_days), MIN_DONE_UPDATES)


# ── the report ─────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class PrivacyReport:
    held: dict[str, tuple[int, datetime | None]]  # kind → (rows, oldest)
    pending: list[Erasure]
    next_purge: dict[str, int]  # what the next purge removes, per kind


@long_statements
async def report(ctx: CoreContext, actor: Actor) -> PrivacyReport:
    if actor.role is not Role.SYSTEM:
        raise Forbidden("only the shop reports on the data held", code="forbidden")
    now = ctx.now()
    keep = ctx.config.retention
    window = timedelta(days=keep.dispute_window_days)
    async with ctx.unit_of_work() as uow:
        held = await uow.privacy.held()
        pending = []
        due_now = 0
        for request in await uow.privacy.pending_requests():
            hold = await _hold_for(ctx, uow, request.telegram_id, now)
            due = max(request.due_at, _due(hold, now))
            pending.append(Erasure(request.telegram_id, request.requested_at, due, None, hold))
            due_now += hold is None and request.due_at <= now
        closed = await uow.privacy.closed_cases_before(
            now - max(timedelta(days=keep.closed_case_days), window)
        )
        stale = await uow.privacy.orders_without_cases_before(
            now - timedelta(days=keep.orders_without_cases_days)
        )
        p = uow.privacy
        next_purge = {
            "people erased": due_now,
            "closed cases erased": len(closed),
            "orders without cases erased": len(stale),
            "order checks": await p.count_where(
                link_attempts, link_attempts.c.at < now - timedelta(days=keep.link_attempts_days)
            ),
            "notifications": await p.count_where(
                outbox,
                outbox.c.status.in_(("sent", "failed", "unreachable")),
                outbox.c.created_at < now - timedelta(days=keep.sent_outbox_days),
            ),
            "incoming updates": await p.count_done_updates_before(_done_updates_cutoff(ctx, now))
            + await p.count_where(
                inbox_updates,
                inbox_updates.c.status == "parked",
                inbox_updates.c.received_at < now - timedelta(days=keep.parked_updates_days),
            ),
            "conversations": await p.count_where(
                conversation_states,
                conversation_states.c.updated_at
                < now - timedelta(days=ctx.config.lifecycle.conversation_idle_days),
            ),
        }
        next_purge["erasure requests pending"] = await p.count_where(
            erasure_requests, erasure_requests.c.done_at.is_(None)
        )
    return PrivacyReport(held, pending, next_purge)


# ── a person's copy of their data ──────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class CaseData:
    case: Case
    timeline: list[AuditEvent]


@dataclass(frozen=True, slots=True)
class PersonalData:
    telegram_id: int
    generated_at: datetime
    profile: dict[str, Any] | None  # the telegram_users row
    language: str | None
    orders: list[tuple[Order, str, bool]]  # order, how linked, whether theirs (details shown)
    cases: list[CaseData]
    order_checks: list[dict[str, Any]]
    erasure: ErasureRequest | None
    retention: dict[str, int] = field(default_factory=dict)


@long_statements
async def personal_data(ctx: CoreContext, actor: Actor, telegram_id: int) -> PersonalData:
    _check(actor, telegram_id)
    async with ctx.unit_of_work() as uow:
        user = await uow.privacy.user(telegram_id)
        links = {row["order_id"]: str(row["via"]) for row in await uow.privacy.links(telegram_id)}
        order_ids = await uow.privacy.order_ids(telegram_id)
        owned = set(await uow.privacy.owned_order_ids(telegram_id))
        found = await uow.orders.get_many(order_ids)
        cases = []
        for case in await uow.cases.list_for_buyer(telegram_id):
            assert case.id is not None
            timeline = await uow.cases.audit_trail(case.id)
            shown = [e for e in timeline if e.action not in STAFF_ONLY_ACTIONS]
            cases.append(CaseData(case, shown))
        checks = await uow.privacy.attempts(telegram_id)
        erasure = await uow.privacy.request(telegram_id)
    profile = None
    language = None
    if user is not None:
        profile = {
            "telegram_id": telegram_id,
            "first_name": user["first_name"],
            "telegram_language": user["language_code"],
            "chosen_language": user["chosen_language"],
            "reachable": bool(user["reachable"]),
            "first_seen": _iso(user["created_at"]),
            "last_seen": _iso(user["updated_at"]),
        }
        language = user["chosen_language"] or user["language_code"]
    return PersonalData(
        telegram_id=telegram_id,
        generated_at=ctx.now(),
        profile=profile,
        language=language,
        orders=[
            (found[order_id], links.get(order_id, "import"), order_id in owned)
            for order_id in order_ids
            if order_id in found
        ],
        cases=cases,
        order_checks=checks,
        erasure=erasure,
        retention=ctx.config.retention.model_dump(),
    )


@dataclass(frozen=True, slots=True)
class DataZip:
    filename: str
    data: bytes
    files: list[str]


@long_statements
async def data_zip(ctx: CoreContext, data: PersonalData, readme: str) -> DataZip:
    """The ZIP: ``README.txt`` (given, in the person's language), ``profile.json``,
    ``orders.json``, ``cases/<number>.json`` with each case's timeline and words,
    ``cases/<number>/NN-<sha8>`` evidence files, ``order_checks.json``, ``manifest.json``."""
    return await asyncio.to_thread(_zip, ctx.evidence, data, readme)


def _zip(store: EvidenceStore, data: PersonalData, readme: str) -> DataZip:
    at = data.generated_at.astimezone(UTC)
    with ZipPack(at, mode=0o600) as pack:
        pack.add("README.txt", readme.encode("utf-8"))
        pack.add(
            "profile.json", _json({"profile": data.profile, "erasure_request": _erasure(data)})
        )
        pack.add(
            "orders.json", _json([_order(order, via, theirs) for order, via, theirs in data.orders])
        )
        for item in data.cases:
            case = item.case
            files = []
            for number, piece in enumerate(case.evidence, start=1):
                entry = {
                    "number": number,
                    "kind": piece.kind.value,
                    "added_at": _iso(piece.added_at),
                    "caption": piece.caption,
                    "file": None,
                }
                if piece.sha256 and _in_store(store, piece.sha256):
                    name = f"cases/{case.number}/{number:02d}-{piece.kind.value}-{piece.sha256[:8]}"
                    pack.add(name, store.read(piece.sha256))
                    entry["file"] = name
                files.append(entry)
            pack.add(f"cases/{case.number}.json", _json(_case(item, files)))
        pack.add("order_checks.json", _json(data.order_checks))
        pack.add(
            "manifest.json",
            _json(
                {
                    "format": DATA_FORMAT,
                    "telegram_id": data.telegram_id,
                    "generated_at": _iso(data.generated_at),
                    "files": pack.manifest,
                    "retention_days": data.retention,
                }
            ),
        )
    return DataZip(f"my-data-{data.telegram_id}-{at:%Y%m%d}.zip", pack.data, pack.names)


def _erasure(data: PersonalData) -> dict[str, Any] | None:
    request = data.erasure
    if request is None:
        return None
    return {
        "requested_at": _iso(request.requested_at),
        "requested_by": request.requested_by,
        "due_at": _iso(request.due_at),
        "done_at": _iso(request.done_at),
    }


def _order(order: Order, via: str, theirs: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "shop": order.shop,
        "number": order.number,
        "placed_at": _iso(order.placed_at),
        "status": order.status.value,
        "linked_by": via,
        "items": [
            {
                "line_no": line.line_no,
                "sku": line.sku,
                "title": line.title,
                "quantity": line.quantity,
                "unit_price": line.unit_price.as_dict(),
            }
            for line in order.lines
        ],
    }
    if not theirs:
        # linked with a postal code or phone digits only: the buyer's details are not shown
        entry["buyer"] = "not shown: this account proved the order with a partial detail only"
        return entry
    address = order.shipping_address
    entry["buyer"] = {
        "name": order.buyer.name,
        "email": order.buyer.email,
        "phone": order.buyer.phone,
        "country": order.buyer.country,
        "language": order.buyer.language,
    }
    entry["shipping_address"] = None if address is None else address.as_dict()
    entry["shipments"] = [
        {
            "carrier": shipment.carrier,
            "tracking_number": shipment.tracking_number,
            "shipped_at": _iso(shipment.shipped_at),
            "delivered_at": _iso(shipment.delivered_at),
        }
        for shipment in order.shipments
    ]
    return entry


def _case(item: CaseData, evidence: list[dict[str, Any]]) -> dict[str, Any]:
    case = item.case
    return {
        "number": case.number,
        "shop": case.shop,
        "order_number": case.order_number,
        "reason": case.reason.value,
        "status": case.status.value,
        "opened_at": _iso(case.opened_at),
        "updated_at": _iso(case.updated_at),
        "description": case.description,
        "preferred_resolution": _value(case.preferred_resolution),
        "resolution": _value(case.resolution),
        "decision_note": case.decision_note,
        "refund_amount": case.refund_amount.as_dict() if case.refund_amount else None,
        "refunded_amount": case.refunded_amount.as_dict() if case.refunded_amount else None,
        "refund_reference": case.refund_reference,
        "return_tracking": case.return_tracking,
        "replacement_tracking": case.replacement_tracking,
        "lines": [{"line_no": line.line_no, "quantity": line.quantity} for line in case.lines],
        "evidence": evidence,
        "timeline": [
            {
                "at": _iso(event.at),
                "by": event.actor_role.value,
                "action": event.action,
                "from": _value(event.from_status),
                "to": _value(event.to_status),
                "words": event.note,
            }
            for event in item.timeline
        ],
    }


def _in_store(store: EvidenceStore, sha256: str) -> bool:
    try:
        return store.exists(sha256)
    except ValueError:
        return False


def _value(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n").encode("utf-8")


__all__ = [
    "ERASED",
    "CaseData",
    "DataZip",
    "Erasure",
    "Hold",
    "PersonalData",
    "PrivacyReport",
    "cancel_erasure",
    "data_zip",
    "find_people",
    "has_pending_erasure",
    "nightly_purge",
    "pending_erasure",
    "personal_data",
    "purge",
    "report",
    "request_erasure",
]

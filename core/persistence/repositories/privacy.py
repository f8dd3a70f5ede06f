"""Personal data: what is held about a Telegram user, erasing it, and purging by retention.

Erasure and retention replace personal fields with fixed placeholders (``ERASED``) and keep
what the shop's figures need: SKU (order lines), reason, status, amounts and dates. Every
statement here is idempotent: running an erasure or a purge twice changes nothing the second
time (rows already erased are not selected again).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, delete, func, literal, null, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from core.cases.lifecycle import OPEN_STATUSES
from core.clock import ensure_utc
from core.persistence.repositories._common import dialect_insert
from core.persistence.repositories.translations import TranslationRepository, text_hash
from core.persistence.tables import (
    audit_events,
    buyer_links,
    cases,
    conversation_states,
    disputes,
    erasure_requests,
    evidence,
    evidence_fingerprints,
    inbox_updates,
    link_attempt_counters,
    link_attempts,
    orders,
    outbox,
    runtime_values,
    shipments,
    surveys,
    telegram_users,
)

ERASED = "[erased]"  # what stands in for erased words
ERASED_NAME = "erased"  # an order's buyer name once erased (the column is NOT NULL)
# Proofs strong enough to say an account is the order's buyer (its details may be erased at
# their request); a postal code or phone digits only let them see it.
STRONG_PROOFS = frozenset({"token", "email", "import", "check"})
# audit event data that may identify the buyer (tracking and payment references)
PERSONAL_EVENT_KEYS = frozenset({"tracking", "reference"})
_OPEN = sorted(status.value for status in OPEN_STATUSES)


@dataclass(frozen=True, slots=True)
class ErasureRequest:
    telegram_id: int
    requested_at: datetime
    requested_by: str
    due_at: datetime
    done_at: datetime | None


@dataclass(frozen=True, slots=True)
class HeldCase:
    number: str
    open: bool
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Erased:
    """What one erasure changed (counts), and the evidence files no row refers to any more."""

    counts: dict[str, int]
    orphan_files: list[str]


def _count(result: Any) -> int:
    return int(result.rowcount or 0)


class PrivacyRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self.session = session

    # --- what is held about one person ------------------------------------------------------

    async def user(self, telegram_id: int) -> RowMapping | None:
        result = await self.session.execute(
            select(telegram_users).where(telegram_users.c.telegram_id == telegram_id)
        )
        return result.mappings().one_or_none()

    async def links(self, telegram_id: int) -> list[RowMapping]:
        result = await self.session.execute(
            select(buyer_links)
            .where(buyer_links.c.telegram_id == telegram_id)
            .order_by(buyer_links.c.id)
        )
        return list(result.mappings())

    async def order_ids(self, telegram_id: int) -> list[int]:
        """Orders the person is linked to, or that name them as the buyer."""
        linked = select(buyer_links.c.order_id).where(buyer_links.c.telegram_id == telegram_id)
        result = await self.session.execute(
            select(orders.c.id)
            .where(or_(orders.c.id.in_(linked), orders.c.buyer_telegram_id == telegram_id))
            .order_by(orders.c.id)
        )
        return list(result.scalars())

    async def owned_order_ids(self, telegram_id: int) -> list[int]:
        """Orders whose buyer details this person may have erased: they are the order's
        Telegram buyer, or linked it with a strong proof."""
        strong = select(buyer_links.c.order_id).where(
            buyer_links.c.telegram_id == telegram_id, buyer_links.c.via.in_(STRONG_PROOFS)
        )
        result = await self.session.execute(
            select(orders.c.id).where(
                or_(orders.c.id.in_(strong), orders.c.buyer_telegram_id == telegram_id)
            )
        )
        return list(result.scalars())

    async def case_numbers(self, telegram_id: int) -> list[str]:
        result = await self.session.execute(
            select(cases.c.number).where(cases.c.buyer_id == telegram_id).order_by(cases.c.id)
        )
        return list(result.scalars())

    async def link_attempt_count(self, telegram_id: int) -> int:
        result = await self.session.execute(
            select(func.count()).where(link_attempts.c.telegram_id == telegram_id)
        )
        return int(result.scalar_one())

    async def attempts(self, telegram_id: int) -> list[dict[str, Any]]:
        result = await self.session.execute(
            select(link_attempts.c.at, link_attempts.c.success)
            .where(link_attempts.c.telegram_id == telegram_id)
            .order_by(link_attempts.c.id)
        )
        return [
            {"at": ensure_utc(row.at).isoformat(), "success": bool(row.success)} for row in result
        ]

    async def people_of(self, *, order_ids: list[int], email: str | None) -> list[int]:
        """Telegram users linked to these orders, or to orders with this e-mail address."""
        ids = list(order_ids)
        if email:
            ids += list(
                (
                    await self.session.execute(
                        select(orders.c.id).where(
                            func.lower(orders.c.buyer_email) == email.strip().lower()
                        )
                    )
                ).scalars()
            )
        if not ids:
            return []
        linked = await self.session.execute(
            select(buyer_links.c.telegram_id).where(buyer_links.c.order_id.in_(ids))
        )
        named = await self.session.execute(
            select(orders.c.buyer_telegram_id).where(
                orders.c.id.in_(ids), orders.c.buyer_telegram_id.is_not(None)
            )
        )
        return sorted({int(i) for i in [*linked.scalars(), *named.scalars()]})

    async def held_cases(self, telegram_id: int, order_ids: Iterable[int]) -> list[HeldCase]:
        """The cases whose holds apply to this person: those they opened, and any case on an
        order whose details their erasure would change."""
        ids = list(order_ids)
        condition = cases.c.buyer_id == telegram_id
        if ids:
            condition = or_(condition, cases.c.order_id.in_(ids))
        result = await self.session.execute(
            select(cases.c.number, cases.c.status, cases.c.closed_at, cases.c.updated_at)
            .where(condition)
            .order_by(cases.c.id)
        )
        return [
            HeldCase(
                row.number,
                row.status in _OPEN,
                None if row.status in _OPEN else ensure_utc(row.closed_at or row.updated_at),
            )
            for row in result
        ]

    # --- erasure requests -------------------------------------------------------------------

    async def request(self, telegram_id: int) -> ErasureRequest | None:
        result = await self.session.execute(
            select(erasure_requests).where(erasure_requests.c.telegram_id == telegram_id)
        )
        row = result.mappings().one_or_none()
        return None if row is None else _request(row)

    async def pending_ids(self) -> list[int]:
        """Everyone whose erasure request waits (a handful: requests end with the hold)."""
        result = await self.session.execute(
            select(erasure_requests.c.telegram_id).where(erasure_requests.c.done_at.is_(None))
        )
        return list(result.scalars())

    async def pending_request(self, telegram_id: int) -> ErasureRequest | None:
        found = await self.request(telegram_id)
        return found if found is not None and found.done_at is None else None

    async def save_request(
        self, telegram_id: int, *, at: datetime, by: str, due_at: datetime
    ) -> None:
        """Record a request (a new one replaces an earlier, done one; a pending one keeps its
        first date and gets the new due date)."""
        stmt = dialect_insert(self.session, erasure_requests)
        if stmt is None:  # pragma: no cover - only SQLite and PostgreSQL are supported
            raise RuntimeError("erasure requests need SQLite or PostgreSQL")
        pending = await self.pending_request(telegram_id)
        values = {
            "requested_at": pending.requested_at if pending else at,
            "requested_by": pending.requested_by if pending else by,
            "due_at": due_at,
            "done_at": None,
        }
        await self.session.execute(
            stmt.values(telegram_id=telegram_id, **values).on_conflict_do_update(
                index_elements=["telegram_id"], set_=values
            )
        )

    async def cancel_request(self, telegram_id: int) -> bool:
        result = await self.session.execute(
            delete(erasure_requests).where(
                erasure_requests.c.telegram_id == telegram_id,
                erasure_requests.c.done_at.is_(None),
            )
        )
        return bool(_count(result))

    async def due_requests(self, now: datetime) -> list[ErasureRequest]:
        result = await self.session.execute(
            select(erasure_requests)
            .where(erasure_requests.c.done_at.is_(None), erasure_requests.c.due_at <= now)
            .order_by(erasure_requests.c.due_at)
        )
        return [_request(row) for row in result.mappings()]

    async def pending_requests(self) -> list[ErasureRequest]:
        result = await self.session.execute(
            select(erasure_requests)
            .where(erasure_requests.c.done_at.is_(None))
            .order_by(erasure_requests.c.due_at)
        )
        return [_request(row) for row in result.mappings()]

    async def set_due(self, telegram_id: int, due_at: datetime) -> None:
        await self.session.execute(
            update(erasure_requests)
            .where(erasure_requests.c.telegram_id == telegram_id)
            .values(due_at=due_at)
        )

    async def mark_done(self, telegram_id: int, at: datetime) -> None:
        await self.session.execute(
            update(erasure_requests)
            .where(erasure_requests.c.telegram_id == telegram_id)
            .values(done_at=at)
        )

    # --- erasing ----------------------------------------------------------------------------

    async def erase_person(self, telegram_id: int, owned_orders: Iterable[int]) -> Erased:
        """Erase everything held about ``telegram_id``: their cases' words and evidence, the
        buyer details of the orders they own, their links, checks, messages, updates,
        conversations and their user row. Cases keep SKU, reason, status, amounts, dates."""
        counts: dict[str, int] = {}
        case_ids = list(
            (
                await self.session.execute(
                    select(cases.c.id).where(cases.c.buyer_id == telegram_id)
                )
            ).scalars()
        )
        erased_cases = await self.erase_cases(case_ids)
        counts["cases"] = erased_cases.counts.get("cases", 0)
        counts["evidence"] = erased_cases.counts.get("evidence", 0)
        counts["orders"] = await self.erase_orders(list(owned_orders))
        counts["links"] = _count(
            await self.session.execute(
                delete(buyer_links).where(buyer_links.c.telegram_id == telegram_id)
            )
        )
        counts["link_attempts"] = _count(
            await self.session.execute(
                delete(link_attempts).where(link_attempts.c.telegram_id == telegram_id)
            )
        )
        await self.session.execute(
            delete(link_attempt_counters).where(link_attempt_counters.c.telegram_id == telegram_id)
        )
        counts["messages"] = _count(
            await self.session.execute(delete(outbox).where(outbox.c.chat_id == telegram_id))
        )
        counts["updates"] = _count(
            await self.session.execute(
                delete(inbox_updates).where(
                    inbox_updates.c.chat_key == telegram_id,
                    inbox_updates.c.status != "processing",
                )
            )
        )
        counts["conversations"] = _count(
            await self.session.execute(
                delete(conversation_states).where(
                    conversation_states.c.key.like(f"%:{int(telegram_id)}:%")
                )
            )
        )
        counts["user"] = _count(
            await self.session.execute(
                delete(telegram_users).where(telegram_users.c.telegram_id == telegram_id)
            )
        )
        return Erased(counts, erased_cases.orphan_files)

    async def erase_cases(self, case_ids: list[int]) -> Erased:
        """Replace a case's words with placeholders, forget who opened it, drop its evidence
        files (the rows stay, as counts) and the texts of its notifications."""
        if not case_ids:
            return Erased({"cases": 0, "evidence": 0}, [])
        todo = list(
            (
                await self.session.execute(
                    select(cases.c.id).where(
                        cases.c.id.in_(case_ids),
                        or_(
                            cases.c.description.is_(None),
                            cases.c.description != ERASED,
                            cases.c.buyer_id.is_not(None),
                        ),
                    )
                )
            ).scalars()
        )
        shas = set(
            (
                await self.session.execute(
                    select(evidence.c.sha256).where(
                        evidence.c.case_id.in_(case_ids), evidence.c.sha256.is_not(None)
                    )
                )
            ).scalars()
        )
        changed = 0
        if todo:
            # the machine translations and detected languages of their words go with them
            words = [
                *(
                    await self.session.execute(
                        select(cases.c.description).where(cases.c.id.in_(todo))
                    )
                ).scalars(),
                *(
                    await self.session.execute(
                        select(audit_events.c.note).where(audit_events.c.case_id.in_(todo))
                    )
                ).scalars(),
            ]
            await TranslationRepository(self.session).forget(text_hash(w) for w in words if w)
            changed = _count(
                await self.session.execute(
                    update(cases)
                    .where(cases.c.id.in_(todo))
                    .values(
                        buyer_id=None,
                        description=ERASED,
                        decision_note=_placeholder(cases.c.decision_note),
                        refund_reference=_placeholder(cases.c.refund_reference),
                        return_tracking=_placeholder(cases.c.return_tracking),
                        replacement_tracking=_placeholder(cases.c.replacement_tracking),
                        version=cases.c.version + 1,
                    )
                )
            )
            await self.session.execute(
                update(audit_events)
                .where(audit_events.c.case_id.in_(todo))
                .values(note=_placeholder(audit_events.c.note))
            )
            # the event's data keeps resolutions and amounts (the figures), not references
            found = await self.session.execute(
                select(audit_events.c.id, audit_events.c.data).where(
                    audit_events.c.case_id.in_(todo)
                )
            )
            for event_id, data in list(found):
                personal = set(data or {}) & PERSONAL_EVENT_KEYS
                if personal:
                    kept = {k: v for k, v in data.items() if k not in personal}
                    await self.session.execute(
                        update(audit_events)
                        .where(audit_events.c.id == event_id)
                        .values(data={**kept, **dict.fromkeys(personal, ERASED)})
                    )
            await self.session.execute(
                update(audit_events)
                .where(audit_events.c.case_id.in_(todo), audit_events.c.actor_role == "buyer")
                .values(actor_id=None)
            )
        pieces = _count(
            await self.session.execute(
                update(evidence)
                .where(
                    evidence.c.case_id.in_(case_ids),
                    or_(
                        evidence.c.file_id.is_not(None),
                        evidence.c.sha256.is_not(None),
                        evidence.c.caption.is_not(None),
                    ),
                )
                .values(
                    file_id=None,
                    sha256=None,
                    caption=None,
                    media_group_id=None,
                    file_unique_id=literal("erased-").concat(cast(evidence.c.id, String)),
                )
            )
        )
        # the abuse signals go with the buyer: their photos' fingerprints and their cases' signals
        await self.session.execute(
            delete(evidence_fingerprints).where(
                evidence_fingerprints.c.evidence_id.in_(
                    select(evidence.c.id).where(evidence.c.case_id.in_(case_ids))
                )
            )
        )
        await self.session.execute(
            update(cases).where(cases.c.id.in_(case_ids)).values(signals=null())
        )
        await self.session.execute(delete(outbox).where(outbox.c.case_id.in_(case_ids)))
        # satisfaction surveys keep their score (the figures), not the words nor who wrote them
        await self.session.execute(
            update(surveys)
            .where(surveys.c.case_id.in_(case_ids))
            .values(buyer_id=None, comment=_placeholder(surveys.c.comment))
        )
        # platform disputes keep the platform's reference, not who recorded them (the buyer, maybe)
        await self.session.execute(
            update(disputes).where(disputes.c.case_id.in_(case_ids)).values(recorded_by=None)
        )
        # a file is deleted only when no remaining evidence row refers to it
        still = set()
        if shas:
            still = set(
                (
                    await self.session.execute(
                        select(evidence.c.sha256).where(evidence.c.sha256.in_(shas))
                    )
                ).scalars()
            )
        return Erased({"cases": changed, "evidence": pieces}, sorted(shas - still))

    async def erase_orders(self, order_ids: list[int]) -> int:
        """Replace an order's buyer details with placeholders; SKUs, amounts, dates and the
        countries stay."""
        if not order_ids:
            return 0
        changed = _count(
            await self.session.execute(
                update(orders)
                .where(
                    orders.c.id.in_(order_ids),
                    or_(
                        orders.c.buyer_name != ERASED_NAME, orders.c.buyer_telegram_id.is_not(None)
                    ),
                )
                .values(
                    buyer_name=ERASED_NAME,
                    buyer_email=None,
                    buyer_phone=None,
                    buyer_email_key=None,
                    buyer_phone_key=None,
                    buyer_telegram_id=None,
                    ship_line1=None,
                    ship_line2=None,
                    ship_city=None,
                    ship_postal_code=None,
                    ship_region=None,
                )
            )
        )
        await self.session.execute(
            update(shipments)
            .where(shipments.c.order_id.in_(order_ids), shipments.c.tracking_number.is_not(None))
            .values(tracking_number=None, events=[])
        )
        return changed

    # --- retention --------------------------------------------------------------------------

    async def closed_cases_before(self, before: datetime) -> list[tuple[int, int]]:
        """(case id, order id) of cases closed before ``before`` and not yet erased."""
        result = await self.session.execute(
            select(cases.c.id, cases.c.order_id).where(
                cases.c.status.not_in(_OPEN),
                cases.c.closed_at.is_not(None),
                cases.c.closed_at < before,
                or_(
                    cases.c.description.is_(None),
                    cases.c.description != ERASED,
                    cases.c.buyer_id.is_not(None),
                ),
            )
        )
        return [(row.id, row.order_id) for row in result]

    async def orders_free_of_holds(
        self, order_ids: Iterable[int], held_after: datetime
    ) -> list[int]:
        """Of these orders, those with no open case and no case closed after ``held_after``."""
        ids = list(set(order_ids))
        if not ids:
            return []
        held = select(cases.c.order_id).where(
            cases.c.order_id.in_(ids),
            or_(
                cases.c.status.in_(_OPEN),
                cases.c.closed_at.is_(None),
                cases.c.closed_at >= held_after,
            ),
        )
        result = await self.session.execute(
            select(orders.c.id).where(orders.c.id.in_(ids), orders.c.id.not_in(held))
        )
        return list(result.scalars())

    async def orders_without_cases_before(self, before: datetime) -> list[int]:
        any_case = select(cases.c.order_id)
        result = await self.session.execute(
            select(orders.c.id).where(
                orders.c.placed_at < before,
                orders.c.id.not_in(any_case),
                or_(orders.c.buyer_name != ERASED_NAME, orders.c.buyer_telegram_id.is_not(None)),
            )
        )
        return list(result.scalars())

    async def unlink_orders(self, order_ids: list[int]) -> int:
        if not order_ids:
            return 0
        return _count(
            await self.session.execute(
                delete(buyer_links).where(buyer_links.c.order_id.in_(order_ids))
            )
        )

    async def purge_link_attempts(self, before: datetime) -> int:
        await self.session.execute(
            delete(link_attempt_counters).where(link_attempt_counters.c.window_start < before)
        )
        return _count(
            await self.session.execute(delete(link_attempts).where(link_attempts.c.at < before))
        )

    async def purge_outbox(self, before: datetime) -> int:
        """Sent notifications (and those that could never be sent) older than ``before``."""
        return _count(
            await self.session.execute(
                delete(outbox).where(
                    or_(
                        and_(outbox.c.status == "sent", outbox.c.sent_at < before),
                        and_(
                            outbox.c.status.in_(("failed", "unreachable")),
                            outbox.c.created_at < before,
                        ),
                    )
                )
            )
        )

    async def purge_parked_updates(self, before: datetime) -> int:
        return _count(
            await self.session.execute(
                delete(inbox_updates).where(
                    inbox_updates.c.status == "parked", inbox_updates.c.received_at < before
                )
            )
        )

    # --- the report -------------------------------------------------------------------------

    async def held(self) -> dict[str, tuple[int, datetime | None]]:
        """Per kind of data: how many rows, and the oldest one's date."""
        kinds: dict[str, tuple[Any, Any, Any]] = {
            "orders (buyer details)": (
                orders,
                orders.c.placed_at,
                orders.c.buyer_name != ERASED_NAME,
            ),
            "cases (with personal data)": (
                cases,
                cases.c.opened_at,
                or_(cases.c.description.is_(None), cases.c.description != ERASED),
            ),
            "evidence files": (evidence, evidence.c.added_at, evidence.c.sha256.is_not(None)),
            "buyer links": (buyer_links, buyer_links.c.linked_at, None),
            "order checks": (link_attempts, link_attempts.c.at, None),
            "telegram users": (telegram_users, telegram_users.c.created_at, None),
            "notifications": (outbox, outbox.c.created_at, None),
            "incoming updates": (inbox_updates, inbox_updates.c.received_at, None),
            "conversations": (conversation_states, conversation_states.c.updated_at, None),
        }
        out: dict[str, tuple[int, datetime | None]] = {}
        for name, (table, column, condition) in kinds.items():
            stmt = select(func.count(), func.min(column)).select_from(table)
            if condition is not None:
                stmt = stmt.where(condition)
            row = (await self.session.execute(stmt)).one()
            out[name] = (int(row[0]), ensure_utc(row[1]) if row[1] is not None else None)
        return out

    async def count_done_updates_before(self, before: datetime) -> int:
        result = await self.session.execute(
            select(func.count()).where(
                inbox_updates.c.status == "done", inbox_updates.c.finished_at < before
            )
        )
        return int(result.scalar_one())

    async def count_where(self, table: Any, *conditions: Any) -> int:
        result = await self.session.execute(
            select(func.count()).select_from(table).where(*conditions)
        )
        return int(result.scalar_one())

    # --- once a day ---------------------------------------------------------------------------

    async def claim_day(self, key: str, day: str) -> bool:
        """True for the first caller on ``day`` (``YYYY-MM-DD``): the daily job is theirs."""
        stmt = dialect_insert(self.session, runtime_values)
        if stmt is None:  # pragma: no cover
            raise RuntimeError("runtime values need SQLite or PostgreSQL")
        inserted = await self.session.execute(
            stmt.values(key=key, value=day).on_conflict_do_nothing(index_elements=["key"])
        )
        if _count(inserted):
            return True
        taken = await self.session.execute(
            update(runtime_values)
            .where(runtime_values.c.key == key, runtime_values.c.value < day)
            .values(value=day)
        )
        return bool(_count(taken))


def _placeholder(column: Any) -> Any:
    """The column's value replaced by the placeholder, NULL staying NULL."""
    from sqlalchemy import case as sql_case

    return sql_case((column.is_(None), None), else_=ERASED)


def _request(row: RowMapping) -> ErasureRequest:
    return ErasureRequest(
        telegram_id=int(row["telegram_id"]),
        requested_at=ensure_utc(row["requested_at"]),
        requested_by=str(row["requested_by"]),
        due_at=ensure_utc(row["due_at"]),
        done_at=ensure_utc(row["done_at"]) if row["done_at"] is not None else None,
    )

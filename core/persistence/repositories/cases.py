"""Cases with their lines, evidence and audit trail; case numbers; optimistic locking."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, literal, null, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from core.cases.lifecycle import OPEN_STATUSES, CaseStatus, GoodsStatus, MoneyStatus, Role
from core.cases.model import AuditEvent, Case, CaseLine, Evidence, EvidenceKind, Owner
from core.cases.reasons import Party, Reason, Resolution
from core.clock import ensure_utc
from core.errors import Conflict, NotFound
from core.persistence.repositories._common import dialect_insert, insert_ignore, minor, money
from core.persistence.tables import (
    audit_events,
    case_lines,
    case_number_counters,
    cases,
    evidence,
    evidence_fingerprints,
    open_case_lines_index,
    order_lines,
    orders,
)
from core.persistence.types import UTCDateTime
from core.policy.record import DecisionRecord
from core.policy.signals import Signal

_OPEN = sorted(status.value for status in OPEN_STATUSES)
_OPEN_LINE_INDEX = str(open_case_lines_index.name)

# The hot path's statements, built once: building a statement and its cache key costs more
# CPU than SQLite takes to run it (benchmarks/README.md, issue 19).
_CASES = select(cases, orders.c.number.label("order_number")).join(
    orders, orders.c.id == cases.c.order_id
)
_NEWEST_FIRST = (cases.c.opened_at.desc(), cases.c.id.desc())
_CASE_BY_ID = _CASES.where(cases.c.id == bindparam("id"))
_BUYER_CASES = _CASES.where(cases.c.buyer_id == bindparam("buyer_id")).order_by(*_NEWEST_FIRST)
_BUYER_OPEN_CASES = _CASES.where(
    cases.c.buyer_id == bindparam("buyer_id"), cases.c.status.in_(_OPEN)
).order_by(*_NEWEST_FIRST)
_ADD_AUDIT = insert(audit_events)
_LINES_OF = (
    select(case_lines.c.case_id, case_lines.c.line_no, case_lines.c.quantity)
    .where(case_lines.c.case_id.in_(bindparam("ids", expanding=True)))
    .order_by(case_lines.c.case_id, case_lines.c.line_no)
)
_EVIDENCE_OF = (
    select(evidence)
    .where(evidence.c.case_id.in_(bindparam("ids", expanding=True)))
    .order_by(evidence.c.case_id, evidence.c.id)
)


def _quantities_where(condition: ColumnElement[bool]) -> Select[Any]:
    return (
        select(case_lines.c.line_no, func.sum(case_lines.c.quantity))
        .join(cases, cases.c.id == case_lines.c.case_id)
        .where(
            cases.c.order_id == bindparam("order_id"),
            cases.c.id != bindparam("exclude"),
            condition,
        )
        .group_by(case_lines.c.line_no)
    )


_OPEN_QUANTITIES = _quantities_where(case_lines.c.is_open.is_(True))
_CLAIMED_QUANTITIES = _quantities_where(
    or_(case_lines.c.is_open.is_(True), cases.c.status == CaseStatus.RESOLVED.value)
)


class CaseRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self.session = session

    # --- numbers ----------------------------------------------------------------------------

    async def take_number(self, period: str, prefix: str = "R") -> str:
        """The number of a case about to be stored: call it before this unit of work writes.

        On PostgreSQL the number is taken apart from the case: the counter's upsert runs alone
        and commits by itself (``postgres_driver.run_next_statement_alone``), after which the
        case's writes begin a transaction. The counter row is locked for that one statement.
        In the case's transaction it stayed locked until the
        case committed, a dozen round trips later, so every case being opened, in every
        process, waited for the one before it: 5 to 10 s for "Confirm and send" under load.
        The price: a case that then fails to commit (two confirmations of the same claim
        racing, an outage) leaves a gap in the month's numbers. The unit of work's reads
        before it lose nothing: they ran outside any transaction (postgres_driver), each with
        a fresh snapshot as read committed gives. Raises if the unit of work already wrote,
        which this commit would commit apart from the case.

        SQLite has one writer at a time whatever the statements: the number is taken in the
        case's own transaction there, and a case that fails gives it back.
        """
        if self.session.dialect.name != "postgresql":
            return await self.next_number(period, prefix)
        from core.persistence import postgres_driver  # loaded with the engine: not on SQLite

        raw = await self.session.get_raw_connection()
        if postgres_driver.has_written(raw.dbapi_connection):
            raise RuntimeError("take_number() after a write would commit it apart from the case")
        await self.session.commit()  # ends the reads (no round trip: no transaction began)
        # the upsert alone, committing by itself: no BEGIN and COMMIT round trips, and the
        # counter row is locked for the statement only
        postgres_driver.run_next_statement_alone(raw.dbapi_connection)
        number = await self.next_number(period, prefix)
        await self.session.commit()
        return number

    async def next_number(self, period: str, prefix: str = "R") -> str:
        """The next case number of a period ("2611" → "R-2611-0001", "R-2611-0002", …).

        One atomic ``INSERT … ON CONFLICT DO UPDATE SET last = last + 1 RETURNING last``: two
        concurrent callers never get the same number (the row stays locked until commit).
        """
        stmt = dialect_insert(self.session, case_number_counters)
        if stmt is not None:
            stmt = (
                stmt.values(period=period, last=1)
                .on_conflict_do_update(
                    index_elements=["period"],
                    set_={"last": case_number_counters.c.last + 1},
                )
                .returning(case_number_counters.c.last)
            )
            last = (await self.session.execute(stmt)).scalar_one()
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            bumped = await self.session.execute(
                update(case_number_counters)
                .where(case_number_counters.c.period == period)
                .values(last=case_number_counters.c.last + 1)
                .returning(case_number_counters.c.last)
            )
            last = bumped.scalar_one_or_none()
            if last is None:
                await self.session.execute(
                    insert(case_number_counters).values(period=period, last=1)
                )
                last = 1
        return f"{prefix}-{period}-{int(last):04d}"

    # --- writing ----------------------------------------------------------------------------

    async def add(self, case: Case, order_line_ids: dict[int, int] | None = None) -> Case:
        """Insert a new case with its lines and evidence; sets ``case.id``.

        The case lines point at the order's ``order_lines`` rows, looked up here by line_no
        in one query (``order_line_ids`` is accepted for compatibility and not needed: the
        database's ids are always used). Raises ``Conflict(code="line_has_open_case")`` when
        an open case already covers one of the lines (the partial unique index decides, so it
        holds under races too); the insert runs in a SAVEPOINT, so the session stays usable.
        """
        del order_line_ids  # the ids come from the database, never from the caller
        line_ids = await self._order_line_ids(case.order_id)
        if not line_ids and not await self._order_exists(case.order_id):
            raise NotFound(f"order {case.order_id} does not exist", code="order_not_found")
        missing = [line.line_no for line in case.lines if line.line_no not in line_ids]
        if missing:
            raise NotFound(
                f"order {case.order_id} has no line {missing[0]}",
                code="order_line_not_found",
                line_no=missing[0],
            )
        values = _case_row(case)
        try:
            async with self.session.begin_nested():
                result = await self.session.execute(
                    insert(cases).values(**values, closed_at=_closed_at(case)).returning(cases.c.id)
                )
                case_id = int(result.scalar_one())
                if case.lines:
                    await self.session.execute(
                        _INSERT_CASE_LINES,
                        [
                            {
                                "case_id": case_id,
                                "order_line_id": line_ids[line.line_no],
                                "line_no": line.line_no,
                                "quantity": line.quantity,
                                "is_open": case.is_open,
                            }
                            for line in case.lines
                        ],
                    )
                unique: dict[str, Evidence] = {}
                for item in case.evidence:
                    unique.setdefault(item.file_unique_id, item)
                if unique:
                    await self.session.execute(
                        _INSERT_EVIDENCE,
                        [_evidence_row(case_id, item, case.opened_at) for item in unique.values()],
                    )
                    await self._fingerprints(case_id, list(unique.values()))
        except IntegrityError as exc:
            raise _conflict(exc) from exc
        case.id = case_id
        return case

    async def save(self, case: Case) -> Case:
        """Write every mutable field if nobody changed the case since it was read.

        ``UPDATE … WHERE id = :id AND version = :seen`` bumps the version; no row updated
        means somebody else saved first: ``Conflict(code="stale_case")``. Also marks the case
        lines open/closed (reopening a case whose line another open case now covers raises
        ``Conflict(code="line_has_open_case")``), sets ``closed_at`` when the case closes, and
        stores evidence not stored yet.
        """
        if case.id is None:
            raise ValueError("save() needs a stored case; use add() for a new one")
        values = _case_row(case)
        for name in ("number", "shop", "order_id", "opened_at", "version"):
            values.pop(name)
        if case.is_open:
            closed_at: Any = None
        else:
            closed_at = func.coalesce(cases.c.closed_at, literal(case.updated_at, UTCDateTime()))
        stmt = (
            update(cases)
            .where(cases.c.id == case.id, cases.c.version == case.version)
            .values(**values, closed_at=closed_at, version=case.version + 1)
        )
        try:
            async with self.session.begin_nested():
                result: Any = await self.session.execute(stmt)
                if result.rowcount != 1:
                    raise Conflict(
                        f"case {case.number} was changed by someone else",
                        code="stale_case",
                        number=case.number,
                    )
                await self.session.execute(
                    update(case_lines)
                    .where(case_lines.c.case_id == case.id, case_lines.c.is_open != case.is_open)
                    .values(is_open=case.is_open)
                )
        except IntegrityError as exc:
            raise _conflict(exc) from exc
        case.version += 1
        if case.evidence:
            stored = set(
                (
                    await self.session.execute(
                        select(evidence.c.file_unique_id).where(evidence.c.case_id == case.id)
                    )
                ).scalars()
            )
            for item in case.evidence:
                if item.file_unique_id not in stored:
                    await self.add_evidence(case.id, item)
                    stored.add(item.file_unique_id)
        return case

    async def add_evidence(self, case_id: int, item: Evidence) -> bool:
        """Store a photo/video of a case; False when this file is already there."""
        row = _evidence_row(case_id, item, datetime.now(UTC))
        row_id = await insert_ignore(self.session, evidence, row, ("case_id", "file_unique_id"))
        if row_id is not None and (item.phash or item.taken_at):
            await self.session.execute(
                insert(evidence_fingerprints).values(
                    evidence_id=row_id, phash=item.phash, taken_at=item.taken_at
                )
            )
        return row_id is not None

    async def _fingerprints(self, case_id: int, items: list[Evidence]) -> None:
        """Keep what the new pictures of a case look like (the abuse signals)."""
        printed = {i.file_unique_id: i for i in items if i.phash or i.taken_at}
        if not printed:
            return
        ids = await self.session.execute(
            select(evidence.c.id, evidence.c.file_unique_id).where(
                evidence.c.case_id == case_id, evidence.c.file_unique_id.in_(sorted(printed))
            )
        )
        await self.session.execute(
            insert(evidence_fingerprints),
            [
                {
                    "evidence_id": row_id,
                    "phash": printed[unique_id].phash,
                    "taken_at": printed[unique_id].taken_at,
                }
                for row_id, unique_id in ids
            ],
        )

    async def set_signals(self, case_id: int, signals: list[dict[str, Any]] | None) -> None:
        """Replace a case's abuse signals (refreshed when evidence is added); no version bump:
        they are staff's information about the case, not a change of it."""
        await self.session.execute(
            update(cases).where(cases.c.id == case_id).values(signals=_signals_json(signals))
        )

    async def add_audit(self, event: AuditEvent, case_id: int) -> None:
        await self.session.execute(
            _ADD_AUDIT,
            {
                "case_id": case_id,
                "at": event.at,
                "actor_role": event.actor_role.value,
                "actor_id": event.actor_id,
                "action": str(event.action),
                "from_status": event.from_status.value if event.from_status else None,
                "to_status": event.to_status.value if event.to_status else None,
                "note": event.note,
                "data": event.data,
            },
        )

    # --- reading ----------------------------------------------------------------------------

    async def get(self, case_id: int) -> Case | None:
        rows = list((await self.session.execute(_CASE_BY_ID, {"id": case_id})).mappings())
        found = await self._with_children(rows)
        return found[0] if found else None

    async def get_by_number(self, number: str) -> Case | None:
        found = await self._load(cases.c.number == number)
        return found[0] if found else None

    async def list_for_buyer(self, buyer_id: int, *, open_only: bool = False) -> list[Case]:
        """The buyer's cases, newest first."""
        statement = _BUYER_OPEN_CASES if open_only else _BUYER_CASES
        result = await self.session.execute(statement, {"buyer_id": buyer_id})
        return await self._with_children(list(result.mappings()))

    async def agent_owned_for_buyer(self, buyer_id: int) -> Case | None:
        """The buyer's open case an agent has taken over, if any (the newest)."""
        found = await self._load(
            cases.c.buyer_id == buyer_id,
            cases.c.status.in_(_OPEN),
            cases.c.owner == "agent",
            order_by=(cases.c.updated_at.desc(), cases.c.id.desc()),
        )
        return found[0] if found else None

    async def set_agent_topic(self, case_id: int, topic_id: int) -> None:
        """Remember the agents' forum topic of a case. Not a change of the case itself: the
        version stays, so staff buttons made before remain valid."""
        await self.session.execute(
            update(cases).where(cases.c.id == case_id).values(agent_topic_id=topic_id)
        )

    async def by_agent_topic(self, topic_id: int) -> Case | None:
        found = await self._load(cases.c.agent_topic_id == topic_id)
        return found[0] if found else None

    async def list_open_for_shops(
        self, shops: list[str], *, status: str | None = None, reason: str | None = None
    ) -> list[Case]:
        """Open cases of these shops, the most urgent first (earliest deadline; none last).

        ``status`` narrows to one status (any status, so a closed one lists closed cases).
        """
        if not shops:
            return []
        conditions: list[ColumnElement[bool]] = [cases.c.shop.in_(shops)]
        conditions.append(cases.c.status == status if status else cases.c.status.in_(_OPEN))
        if reason:
            conditions.append(cases.c.reason == reason)
        return await self._load(
            *conditions,
            order_by=(cases.c.deadline_at.asc().nulls_last(), cases.c.opened_at, cases.c.id),
        )

    async def due(self, before: datetime) -> list[Case]:
        """Open cases whose deadline is at or before ``before`` (oldest deadline first)."""
        return await self._load(
            cases.c.status.in_(_OPEN),
            cases.c.deadline_at <= ensure_utc(before),
            order_by=(cases.c.deadline_at, cases.c.id),
        )

    async def open_quantities(
        self, order_id: int, *, exclude_case: int | None = None
    ) -> dict[int, int]:
        """line_no → quantity covered by open cases of this order (but case ``exclude_case``)."""
        return await self._quantities(_OPEN_QUANTITIES, order_id, exclude_case)

    async def claimed_quantities(
        self, order_id: int, *, exclude_case: int | None = None
    ) -> dict[int, int]:
        """line_no → quantity covered by open or resolved cases (not rejected/cancelled).

        ``exclude_case`` (a case id) leaves one case out: deciding a reopened case again.
        """
        return await self._quantities(_CLAIMED_QUANTITIES, order_id, exclude_case)

    async def audit_trail(self, case_id: int) -> list[AuditEvent]:
        result = await self.session.execute(
            select(audit_events, cases.c.number.label("case_number"))
            .join(cases, cases.c.id == audit_events.c.case_id)
            .where(audit_events.c.case_id == case_id)
            .order_by(audit_events.c.id)
        )
        return [
            AuditEvent(
                case_number=row["case_number"],
                at=row["at"],
                actor_role=Role(row["actor_role"]),
                actor_id=row["actor_id"],
                action=row["action"],
                from_status=CaseStatus(row["from_status"]) if row["from_status"] else None,
                to_status=CaseStatus(row["to_status"]) if row["to_status"] else None,
                note=row["note"],
                data=dict(row["data"] or {}),
            )
            for row in result.mappings()
        ]

    # --- helpers ----------------------------------------------------------------------------

    async def _order_line_ids(self, order_id: int) -> dict[int, int]:
        result = await self.session.execute(_ORDER_LINE_IDS, {"order_id": order_id})
        return {line_no: line_id for line_no, line_id in result}

    async def _order_exists(self, order_id: int) -> bool:
        result = await self.session.execute(_ORDER_EXISTS, {"order_id": order_id})
        return result.first() is not None

    async def _quantities(
        self, stmt: Select[Any], order_id: int, exclude_case: int | None
    ) -> dict[int, int]:
        # case ids start at 1: excluding case 0 excludes none
        params = {"order_id": order_id, "exclude": exclude_case or 0}
        result = await self.session.execute(stmt, params)
        return {line_no: int(quantity) for line_no, quantity in result}

    async def _load(self, *conditions: Any, order_by: Iterable[Any] = ()) -> list[Case]:
        result = await self.session.execute(_CASES.where(*conditions).order_by(*order_by))
        return await self._with_children(list(result.mappings()))

    async def _with_children(self, rows: list[RowMapping]) -> list[Case]:
        """Cases from their rows, with their lines and evidence (two statements)."""
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        lines: dict[int, list[CaseLine]] = {}
        items: dict[int, list[Evidence]] = {}
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            line_rows = await self.session.execute(_LINES_OF, {"ids": chunk})
            for case_id, line_no, quantity in line_rows:
                lines.setdefault(case_id, []).append(CaseLine(line_no, quantity))
            evidence_rows = await self.session.execute(_EVIDENCE_OF, {"ids": chunk})
            for row in evidence_rows.mappings():
                items.setdefault(row["case_id"], []).append(_to_evidence(row))
        return [
            _to_case(row, tuple(lines.get(row["id"], ())), tuple(items.get(row["id"], ())))
            for row in rows
        ]


# --- mapping -------------------------------------------------------------------------------


def _conflict(exc: IntegrityError) -> Exception:
    message = str(exc.orig)
    if _OPEN_LINE_INDEX in message or "case_lines.order_line_id" in message:
        return Conflict(
            "an open case already covers one of these order lines", code="line_has_open_case"
        )
    if "uq_cases_number" in message or "cases.number" in message:
        return Conflict("this case number is taken", code="duplicate_case_number")
    return exc


def _case_row(case: Case) -> dict[str, Any]:
    currency = case.currency
    return {
        "number": case.number,
        "shop": case.shop,
        "order_id": case.order_id,
        "buyer_id": case.buyer_id,
        "reason": case.reason.value,
        "status": case.status.value,
        "description": case.description,
        "preferred_resolution": _value(case.preferred_resolution),
        "resolution": _value(case.resolution),
        "decided_by": _value(case.decided_by),
        "decision_note": case.decision_note,
        "currency": currency,
        "refund_minor": minor(case.refund_amount, currency),
        "refunded_minor": minor(case.refunded_amount, currency),
        "refund_reference": case.refund_reference,
        "return_required": case.return_required,
        "return_paid_by": _value(case.return_paid_by),
        "goods": case.goods.value,
        "money": case.money.value,
        "owner": case.owner.value,
        "owner_agent_id": case.owner_agent_id,
        "agent_topic_id": case.agent_topic_id,
        "buyer_proof": case.buyer_proof,
        "escalated": case.escalated,
        "deadline_at": case.deadline_at,
        "return_tracking": case.return_tracking,
        "replacement_tracking": case.replacement_tracking,
        "decision": case.decision.to_json(),
        "signals": _signals_json(
            None if case.signals is None else [s.to_json() for s in case.signals]
        ),
        "opened_at": case.opened_at,
        "updated_at": case.updated_at,
        "version": case.version,
    }


def _closed_at(case: Case) -> datetime | None:
    return None if case.is_open else case.updated_at


def _value(member: Any) -> str | None:
    return None if member is None else str(member.value)


def _evidence_row(case_id: int, item: Evidence, default_at: datetime) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "kind": item.kind.value,
        "file_unique_id": item.file_unique_id,
        "file_id": item.file_id,
        "sha256": item.sha256,
        "size": item.size,
        "mime_type": item.mime_type,
        "media_group_id": item.media_group_id,
        "caption": item.caption,
        "added_at": item.added_at or default_at,
        "added_by": item.added_by.value,
    }


def _to_evidence(row: RowMapping) -> Evidence:
    return Evidence(
        kind=EvidenceKind(row["kind"]),
        file_unique_id=row["file_unique_id"],
        file_id=row["file_id"],
        sha256=row["sha256"],
        size=row["size"],
        mime_type=row["mime_type"],
        media_group_id=row["media_group_id"],
        caption=row["caption"],
        added_at=row["added_at"],
        added_by=Role(row["added_by"]),
    )


def _to_case(row: RowMapping, lines: tuple[CaseLine, ...], items: tuple[Evidence, ...]) -> Case:
    currency = row["currency"]
    return Case(
        number=row["number"],
        shop=row["shop"],
        order_id=row["order_id"],
        order_number=row["order_number"],
        buyer_id=row["buyer_id"],
        reason=Reason(row["reason"]),
        status=CaseStatus(row["status"]),
        lines=lines,
        opened_at=row["opened_at"],
        updated_at=row["updated_at"],
        description=row["description"],
        preferred_resolution=_enum(Resolution, row["preferred_resolution"]),
        resolution=_enum(Resolution, row["resolution"]),
        decided_by=_enum(Role, row["decided_by"]),
        decision_note=row["decision_note"],
        currency=currency,
        refund_amount=money(row["refund_minor"], currency),
        refunded_amount=money(row["refunded_minor"], currency),
        refund_reference=row["refund_reference"],
        return_required=row["return_required"],
        return_paid_by=_enum(Party, row["return_paid_by"]),
        goods=GoodsStatus(row["goods"]),
        money=MoneyStatus(row["money"]),
        owner=Owner(row["owner"]),
        owner_agent_id=row["owner_agent_id"],
        agent_topic_id=row["agent_topic_id"],
        buyer_proof=row["buyer_proof"],
        escalated=row["escalated"],
        deadline_at=row["deadline_at"],
        return_tracking=row["return_tracking"],
        replacement_tracking=row["replacement_tracking"],
        decision=DecisionRecord.model_validate(row["decision"] or {}),
        evidence=items,
        signals=None
        if row["signals"] is None
        else tuple(Signal.from_json(item) for item in row["signals"]),
        version=row["version"],
        id=row["id"],
    )


def _signals_json(signals: list[dict[str, Any]] | None) -> Any:
    return null() if signals is None else signals  # SQL NULL, not a JSON null


def _enum(kind: Any, value: str | None) -> Any:
    return None if value is None else kind(value)


# a case opening's statements, built once (building one costs more CPU than running it)
_INSERT_CASE_LINES = insert(case_lines)
_INSERT_EVIDENCE = insert(evidence)
_ORDER_LINE_IDS = select(order_lines.c.line_no, order_lines.c.id).where(
    order_lines.c.order_id == bindparam("order_id")
)
_ORDER_EXISTS = select(orders.c.id).where(orders.c.id == bindparam("order_id"))

"""Platform disputes on cases, their deadlines and the reminders sent before them. Marking a
deadline missed and sending a reminder are conditional writes the database settles, so two
timer processes (or one that runs twice) act once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import ensure_utc
from core.persistence.repositories._common import insert_ignore
from core.persistence.tables import cases, dispute_deadlines, dispute_reminders, disputes


@dataclass(frozen=True, slots=True)
class DisputeDeadline:
    id: int
    dispute_id: int
    code: str
    stage: str
    due_at: datetime
    seller_must_act: bool
    then: str | None
    active: bool
    missed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Dispute:
    id: int
    case_id: int
    shop: str
    platform: str
    external_id: str
    rules_version: str
    stage: str
    opened_at: datetime
    stage_since: datetime
    due_given: datetime | None
    recorded_at: datetime
    recorded_by: int | None
    deadlines: tuple[DisputeDeadline, ...] = ()

    def coming(self, now: datetime) -> list[DisputeDeadline]:
        """The active deadlines still ahead, the nearest first."""
        return sorted(
            (d for d in self.deadlines if d.active and d.due_at > now), key=lambda d: d.due_at
        )


def _utc(value: datetime | None) -> datetime | None:
    return ensure_utc(value) if value is not None else None


def _deadline(row: RowMapping) -> DisputeDeadline:
    return DisputeDeadline(
        id=row["id"],
        dispute_id=row["dispute_id"],
        code=row["code"],
        stage=row["stage"],
        due_at=ensure_utc(row["due_at"]),
        seller_must_act=row["seller_must_act"],
        then=row["then"],
        active=row["active"],
        missed_at=_utc(row["missed_at"]),
    )


def _dispute(row: RowMapping, deadlines: tuple[DisputeDeadline, ...]) -> Dispute:
    return Dispute(
        id=row["id"],
        case_id=row["case_id"],
        shop=row["shop"],
        platform=row["platform"],
        external_id=row["external_id"],
        rules_version=row["rules_version"],
        stage=row["stage"],
        opened_at=ensure_utc(row["opened_at"]),
        stage_since=ensure_utc(row["stage_since"]),
        due_given=_utc(row["due_given"]),
        recorded_at=ensure_utc(row["recorded_at"]),
        recorded_by=row["recorded_by"],
        deadlines=deadlines,
    )


@dataclass(frozen=True, slots=True)
class DeadlineDue:
    """An active deadline with what the timer needs: its dispute and case number."""

    deadline: DisputeDeadline
    dispute: Dispute
    case_number: str


class DisputeRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self.session = session

    async def add(
        self,
        *,
        case_id: int,
        shop: str,
        platform: str,
        external_id: str,
        rules_version: str,
        stage: str,
        opened_at: datetime,
        due_given: datetime | None,
        recorded_at: datetime,
        recorded_by: int | None,
    ) -> int | None:
        """The new dispute's id, or None when this platform's id is recorded already."""
        return await insert_ignore(
            self.session,
            disputes,
            {
                "case_id": case_id,
                "shop": shop,
                "platform": platform,
                "external_id": external_id,
                "rules_version": rules_version,
                "stage": stage,
                "opened_at": opened_at,
                "stage_since": opened_at,
                "due_given": due_given,
                "recorded_at": recorded_at,
                "recorded_by": recorded_by,
            },
            ["platform", "external_id"],
        )

    async def add_deadline(
        self,
        dispute_id: int,
        *,
        code: str,
        stage: str,
        due_at: datetime,
        seller_must_act: bool,
        then: str | None,
    ) -> None:
        await self.session.execute(
            insert(dispute_deadlines).values(
                dispute_id=dispute_id,
                code=code,
                stage=stage,
                due_at=due_at,
                seller_must_act=seller_must_act,
                then=then,
                active=True,
                missed_at=None,
            )
        )

    async def set_stage(self, dispute_id: int, stage: str, since: datetime) -> None:
        """The dispute moved on: its stage's deadlines no longer count."""
        await self.session.execute(
            update(disputes)
            .where(disputes.c.id == dispute_id)
            .values(stage=stage, stage_since=since)
        )
        await self.session.execute(
            update(dispute_deadlines)
            .where(dispute_deadlines.c.dispute_id == dispute_id)
            .values(active=False)
        )

    async def _deadlines(self, ids: list[int]) -> dict[int, list[DisputeDeadline]]:
        found: dict[int, list[DisputeDeadline]] = {i: [] for i in ids}
        if not ids:
            return found
        rows = await self.session.execute(
            select(dispute_deadlines)
            .where(dispute_deadlines.c.dispute_id.in_(ids))
            .order_by(dispute_deadlines.c.due_at, dispute_deadlines.c.id)
        )
        for row in rows.mappings():
            found[row["dispute_id"]].append(_deadline(row))
        return found

    async def _load(self, rows: list[RowMapping]) -> list[Dispute]:
        deadlines = await self._deadlines([row["id"] for row in rows])
        return [_dispute(row, tuple(deadlines[row["id"]])) for row in rows]

    async def get(self, dispute_id: int) -> Dispute | None:
        rows = await self.session.execute(select(disputes).where(disputes.c.id == dispute_id))
        found = await self._load(list(rows.mappings()))
        return found[0] if found else None

    async def by_external(self, platform: str, external_id: str) -> Dispute | None:
        rows = await self.session.execute(
            select(disputes).where(
                disputes.c.platform == platform, disputes.c.external_id == external_id
            )
        )
        found = await self._load(list(rows.mappings()))
        return found[0] if found else None

    async def for_cases(self, case_ids: list[int]) -> dict[int, list[Dispute]]:
        """Each case's disputes, the oldest first."""
        found: dict[int, list[Dispute]] = {i: [] for i in case_ids}
        if not case_ids:
            return found
        rows = await self.session.execute(
            select(disputes).where(disputes.c.case_id.in_(case_ids)).order_by(disputes.c.id)
        )
        for dispute in await self._load(list(rows.mappings())):
            found[dispute.case_id].append(dispute)
        return found

    async def active_due_before(self, until: datetime) -> list[DeadlineDue]:
        """Active deadlines the seller must meet, due before ``until`` and not missed yet."""
        rows = await self.session.execute(
            select(dispute_deadlines, cases.c.number.label("case_number"))
            .join(disputes, disputes.c.id == dispute_deadlines.c.dispute_id)
            .join(cases, cases.c.id == disputes.c.case_id)
            .where(
                dispute_deadlines.c.active.is_(True),
                dispute_deadlines.c.seller_must_act.is_(True),
                dispute_deadlines.c.missed_at.is_(None),
                dispute_deadlines.c.due_at <= until,
            )
            .order_by(dispute_deadlines.c.due_at, dispute_deadlines.c.id)
        )
        found = []
        cache: dict[int, Dispute | None] = {}
        for row in rows.mappings():
            dispute_id = row["dispute_id"]
            if dispute_id not in cache:
                cache[dispute_id] = await self.get(dispute_id)
            dispute = cache[dispute_id]
            if dispute is not None:
                found.append(DeadlineDue(_deadline(row), dispute, row["case_number"]))
        return found

    async def mark_missed(self, deadline_id: int, at: datetime) -> bool:
        """True for the one caller that marks it (another process may be first)."""
        result = await self.session.execute(
            update(dispute_deadlines)
            .where(dispute_deadlines.c.id == deadline_id, dispute_deadlines.c.missed_at.is_(None))
            .values(missed_at=at)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def reminders_sent(self, deadline_id: int) -> list[int]:
        rows = await self.session.execute(
            select(dispute_reminders.c.hours).where(dispute_reminders.c.deadline_id == deadline_id)
        )
        return [row[0] for row in rows]

    async def mark_reminded(self, deadline_id: int, hours: int, at: datetime) -> bool:
        """True for the one caller that records this reminder: it sends it."""
        added = await insert_ignore(
            self.session,
            dispute_reminders,
            {"deadline_id": deadline_id, "hours": hours, "sent_at": at},
            ["deadline_id", "hours"],
        )
        return added is not None

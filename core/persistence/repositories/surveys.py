"""Satisfaction surveys: one per resolution round of a case (scheduled, asked, answered or
withdrawn). Every change of status is a conditional update, so two presses or two timer
processes settle in the database, not in the code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import RowMapping, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import ensure_utc
from core.persistence.repositories._common import insert_ignore
from core.persistence.tables import cases, surveys

SCHEDULED = "scheduled"
ASKED = "asked"
ANSWERED = "answered"
WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class Survey:
    id: int
    case_id: int
    round: int
    shop: str
    buyer_id: int | None
    agent_id: int | None
    status: str
    due_at: datetime
    asked_at: datetime | None
    answered_at: datetime | None
    score: int | None
    comment: str | None


@dataclass(frozen=True, slots=True)
class SurveyFact:
    """One asked survey, as the figures need it: who, for which reason, what came back."""

    shop: str
    agent_id: int | None
    reason: str
    status: str
    score: int | None


def _survey(row: RowMapping) -> Survey:
    def utc(value: datetime | None) -> datetime | None:
        return ensure_utc(value) if value is not None else None

    return Survey(
        id=row["id"],
        case_id=row["case_id"],
        round=row["round"],
        shop=row["shop"],
        buyer_id=row["buyer_id"],
        agent_id=row["agent_id"],
        status=row["status"],
        due_at=ensure_utc(row["due_at"]),
        asked_at=utc(row["asked_at"]),
        answered_at=utc(row["answered_at"]),
        score=row["score"],
        comment=row["comment"],
    )


class SurveyRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self.session = session

    async def schedule(
        self,
        *,
        case_id: int,
        shop: str,
        buyer_id: int | None,
        agent_id: int | None,
        due_at: datetime,
    ) -> int | None:
        """The next round's survey of a case; None when that round exists already."""
        last = await self.session.scalar(
            select(func.max(surveys.c.round)).where(surveys.c.case_id == case_id)
        )
        row = {
            "case_id": case_id,
            "round": (last or 0) + 1,
            "shop": shop,
            "buyer_id": buyer_id,
            "agent_id": agent_id,
            "status": SCHEDULED,
            "due_at": due_at,
        }
        return await insert_ignore(self.session, surveys, row, ("case_id", "round"))

    async def withdraw_open(self, case_id: int) -> int:
        """The case's unanswered survey (scheduled or asked) is withdrawn; how many were."""
        result = await self.session.execute(
            update(surveys)
            .where(surveys.c.case_id == case_id, surveys.c.status.in_((SCHEDULED, ASKED)))
            .values(status=WITHDRAWN)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def get(self, survey_id: int) -> Survey | None:
        row = (
            (await self.session.execute(select(surveys).where(surveys.c.id == survey_id)))
            .mappings()
            .first()
        )
        return _survey(row) if row is not None else None

    async def due(self, now: datetime, limit: int = 100) -> list[Survey]:
        rows = (
            await self.session.execute(
                select(surveys)
                .where(surveys.c.status == SCHEDULED, surveys.c.due_at <= now)
                .order_by(surveys.c.due_at, surveys.c.id)
                .limit(limit)
            )
        ).mappings()
        return [_survey(row) for row in rows]

    async def low_scores_answered(self, since: datetime, until: datetime) -> list[Survey]:
        """Answered with 1 or 2 in [since, until): the alerts a buyer's silence held back."""
        rows = (
            await self.session.execute(
                select(surveys).where(
                    surveys.c.status == ANSWERED,
                    surveys.c.score <= 2,
                    surveys.c.answered_at >= since,
                    surveys.c.answered_at < until,
                )
            )
        ).mappings()
        return [_survey(row) for row in rows]

    async def _move(self, survey_id: int, source: str, **values: object) -> bool:
        result = await self.session.execute(
            update(surveys)
            .where(surveys.c.id == survey_id, surveys.c.status == source)
            .values(**values)
        )
        return bool(getattr(result, "rowcount", 0))

    async def mark_asked(self, survey_id: int, now: datetime) -> bool:
        return await self._move(survey_id, SCHEDULED, status=ASKED, asked_at=now)

    async def answer(self, survey_id: int, score: int, now: datetime) -> bool:
        """Only an asked survey takes a score, once: False when another press came first."""
        return await self._move(survey_id, ASKED, status=ANSWERED, score=score, answered_at=now)

    async def set_comment(self, survey_id: int, comment: str) -> bool:
        result = await self.session.execute(
            update(surveys)
            .where(
                surveys.c.id == survey_id,
                surveys.c.status == ANSWERED,
                surveys.c.comment.is_(None),
            )
            .values(comment=comment)
        )
        return bool(getattr(result, "rowcount", 0))

    async def facts(
        self, since: datetime, until: datetime, shops: list[str] | None = None
    ) -> list[SurveyFact]:
        """The surveys asked in [since, until) (answered or not), with their case's reason."""
        query = (
            select(
                surveys.c.shop,
                surveys.c.agent_id,
                cases.c.reason,
                surveys.c.status,
                surveys.c.score,
            )
            .join(cases, cases.c.id == surveys.c.case_id)
            .where(
                surveys.c.asked_at.is_not(None),
                surveys.c.asked_at >= since,
                surveys.c.asked_at < until,
            )
        )
        if shops is not None:
            query = query.where(surveys.c.shop.in_(shops))
        rows = (await self.session.execute(query)).mappings()
        return [
            SurveyFact(r["shop"], r["agent_id"], r["reason"], r["status"], r["score"]) for r in rows
        ]

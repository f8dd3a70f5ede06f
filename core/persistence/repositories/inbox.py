"""The inbox: incoming updates, stored before they are confirmed, processed once in chat order.

A row is ``pending`` until a process claims it (``processing``, with a lease it renews while
the handler runs), then ``done``; a failed attempt puts it back to ``pending`` with a later
``next_attempt_at``, and the last failed attempt ``parked``. A claim whose lease ran out (its
process died) can be claimed again. A chat's update is only claimable when no earlier update
of the same chat is unfinished, so one buyer's updates never run concurrently or out of order,
whichever processes share the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Integer,
    and_,
    any_,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import ensure_utc
from core.persistence.repositories._common import conflict_insert
from core.persistence.tables import inbox_updates

PENDING = "pending"
PROCESSING = "processing"
DONE = "done"
PARKED = "parked"
UNFINISHED = (PENDING, PROCESSING)
# no pause before another attempt is longer: one ending further ahead was set by a clock
# that has since gone back
LONGEST_PAUSE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class InboxUpdate:
    update_id: int
    chat_key: int
    payload: dict[str, Any]
    status: str
    attempts: int  # failed attempts so far
    received_at: datetime
    last_error: str | None
    answers: str | None = None  # the messages an earlier run sent (JSON), for replay


# The hot path's statements, built once: building a statement and its cache key costs more
# CPU than SQLite takes to run it (benchmarks/README.md, issue 19).
_EARLIER = inbox_updates.alias("earlier")


def _ready(just_marked: Any = None) -> Any:
    """The ready rows' ids: each the oldest unfinished update of its chat. ``just_marked``: the
    ids a done-mark in the same statement is setting (its snapshot still shows them unfinished)."""
    earlier = [
        _EARLIER.c.chat_key == inbox_updates.c.chat_key,
        _EARLIER.c.update_id < inbox_updates.c.update_id,
        _EARLIER.c.status.in_(UNFINISHED),
    ]
    mine = []
    if just_marked is not None:
        earlier.append(_EARLIER.c.update_id.not_in(just_marked))
        mine.append(inbox_updates.c.update_id.not_in(just_marked))  # a row is changed once
    return (
        select(inbox_updates.c.update_id)
        .where(
            or_(
                and_(
                    inbox_updates.c.status == PENDING,
                    or_(
                        inbox_updates.c.attempts == 0,
                        inbox_updates.c.next_attempt_at <= bindparam("now"),
                        inbox_updates.c.next_attempt_at > bindparam("later"),
                    ),
                ),
                and_(
                    inbox_updates.c.status == PROCESSING,
                    or_(
                        inbox_updates.c.lease_until < bindparam("now"),
                        inbox_updates.c.lease_until > bindparam("impossible_lease"),
                    ),
                ),
            ),
            ~exists().where(*earlier).correlate(inbox_updates),
            *mine,
        )
        .order_by(inbox_updates.c.update_id)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(skip_locked=True)
    )


# The claim in one statement: the ready rows locked (skipping those another transaction is
# claiming), then leased; one round trip instead of two, each of which waits for a turn of a
# busy event loop under load (benchmarks/README.md, thirteenth round). On PostgreSQL the ready
# rows are a MATERIALIZED CTE, so that the locking subquery runs once and no more than
# ``limit`` rows are taken. On SQLite the statement must start with UPDATE: Python's sqlite3
# begins a transaction only before INSERT, UPDATE, DELETE or REPLACE, and a claim starting
# with WITH would commit by itself.
_READY = _ready()


def _claim_of(ready: Any) -> Any:
    return (
        update(inbox_updates)
        .where(inbox_updates.c.update_id.in_(ready))
        .values(status=PROCESSING, lease_owner=bindparam("owner"), lease_until=bindparam("until"))
        .returning(*inbox_updates.c)
    )


_READY_ONCE = _READY.cte("ready").prefix_with("MATERIALIZED", dialect="postgresql")
_CLAIM = {"postgresql": _claim_of(select(_READY_ONCE.c.update_id)), "sqlite": _claim_of(_READY)}
_UNFINISHED_IN = (
    select(inbox_updates.c.update_id)
    .where(
        inbox_updates.c.chat_key.in_(bindparam("chats", expanding=True)),
        inbox_updates.c.status.in_(UNFINISHED),
    )
    .limit(1)
)
_DONE = (
    update(inbox_updates)
    .where(inbox_updates.c.update_id.in_(bindparam("ids", expanding=True)))
    .values(
        status=DONE, finished_at=bindparam("at"), lease_owner=None, lease_until=None, answers=None
    )
)
# the same, only for the updates this process still holds (returns those it marked)
_DONE_BY = _DONE.where(inbox_updates.c.lease_owner == bindparam("owner")).returning(
    inbox_updates.c.update_id
)
# PostgreSQL: the done-marks and the claim that follows them in one statement, a round trip
# fewer on every pass that finished something (benchmarks/README.md, fourteenth round). Its
# parts share one snapshot, so the claim would still see the rows being marked as unfinished:
# it is told which they are (``marked``). The ids are one array parameter, so that the
# statement is prepared once whatever their number. The result is one row at least: the ids
# marked (those this process still held), beside each row claimed, if any.
_MARKED = (
    update(inbox_updates)
    .where(
        inbox_updates.c.update_id == any_(bindparam("ids", type_=ARRAY(BigInteger))),
        inbox_updates.c.lease_owner == bindparam("owner"),
    )
    .values(
        status=DONE, finished_at=bindparam("at"), lease_owner=None, lease_until=None, answers=None
    )
    .returning(inbox_updates.c.update_id)
    .cte("marked")
)
_READY_AFTER_MARKS = _ready(select(_MARKED.c.update_id)).cte("ready").prefix_with("MATERIALIZED")
_CLAIMED = _claim_of(select(_READY_AFTER_MARKS.c.update_id)).cte("claimed")
_MARKS = select(func.array_agg(_MARKED.c.update_id).label("marked_ids")).subquery("marks")
_MARK_AND_CLAIM = select(_MARKS.c.marked_ids, *_CLAIMED.c).select_from(
    _MARKS.outerjoin(_CLAIMED, true())
)
_NOTE_ANSWERS = (
    update(inbox_updates)
    .where(inbox_updates.c.update_id == bindparam("id"))
    .values(answers=bindparam("notes"))
)


class InboxRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self.session = session

    def records_in_one_statement(self, count: int) -> bool:
        """Whether ``count`` updates are recorded in one ``INSERT``: SQLAlchemy sends a larger
        batch as several, which must then share a transaction (``UnitOfWork.one_statement``
        is for one)."""
        return count <= self.session.dialect.insertmanyvalues_page_size

    async def record(self, updates: Sequence[tuple[int, int, dict[str, Any]]], at: datetime) -> int:
        """Store ``(update_id, chat_key, payload)`` rows; an update already there is ignored
        (Telegram delivers at least once). Returns how many were new."""
        if not updates:
            return 0
        at = ensure_utc(at)
        rows = [
            {
                "update_id": update_id,
                "chat_key": chat_key,
                "payload": payload,
                "status": PENDING,
                "attempts": 0,
                "received_at": at,
                "next_attempt_at": at,
            }
            for update_id, chat_key, payload in updates
        ]
        stmt = conflict_insert(
            self.session,
            inbox_updates,
            "record",
            lambda insert: insert.on_conflict_do_nothing(index_elements=["update_id"]).returning(
                inbox_updates.c.update_id
            ),
        )
        # The rows as parameters of one compiled statement: SQLAlchemy sends them as one
        # multi-row INSERT ("insertmanyvalues"). Rows in .values() were compiled afresh for
        # each batch, 4 to 5 times the CPU (benchmarks/README.md, eighth round); RETURNING
        # counts the new rows, which asyncpg's executemany does not.
        result = await self.session.execute(stmt, rows)
        return len(result.all())

    async def claim(
        self,
        *,
        owner: str,
        now: datetime,
        lease_until: datetime,
        limit: int,
    ) -> list[InboxUpdate]:
        """Claim up to ``limit`` updates, each the oldest unfinished one of its chat, oldest
        first. Rows another transaction is claiming are skipped (``FOR UPDATE SKIP LOCKED`` on
        PostgreSQL; SQLite has one writer at a time).

        Readiness does not rely on the wall clock moving forward (NTP may step it back): a
        new update (no failed attempt) is ready at once, whatever time it was recorded at; a
        pause before a new attempt, or a lease, ending further ahead than any can
        (``LONGEST_PAUSE``; twice the lease) was set by a clock that has since gone back,
        and is over."""
        now = ensure_utc(now)
        lease_until = ensure_utc(lease_until)
        rows = (
            (
                await self.session.execute(
                    _CLAIM[self.session.dialect.name],
                    self._claim_parameters(owner, now, lease_until, limit),
                )
            )
            .mappings()
            .all()
        )
        # RETURNING follows no order: oldest first, as the updates came
        return sorted((_to_update(row) for row in rows), key=lambda item: item.update_id)

    @staticmethod
    def _claim_parameters(
        owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> dict[str, Any]:
        return {
            "now": now,
            "later": now + LONGEST_PAUSE,
            "impossible_lease": lease_until + (lease_until - now),
            "limit": limit,
            "owner": owner,
            "until": lease_until,
        }

    async def any_unfinished_in(self, chat_keys: Iterable[int]) -> bool:
        """Whether any of these chats has an unfinished update (one waiting for its turn)."""
        found = await self.session.execute(_UNFINISHED_IN, {"chats": list(chat_keys)})
        return found.first() is not None

    async def claims_see_marks(self) -> bool:
        """Whether a claim may run in the transaction of the done-marks made just before it:
        where each statement reads what is committed when it starts (PostgreSQL at read
        committed, its default) or one writer works at a time (SQLite). Under repeatable read
        or serializable the snapshot of the first mark would make the claim's ``FOR UPDATE``
        fail on rows another process changed since, and undo the marks with it."""
        if self.session.dialect.name != "postgresql":
            return True
        from core.persistence import postgres_driver  # loaded with the engine: not on SQLite

        raw = await self.session.get_raw_connection()
        return postgres_driver.reads_per_statement(raw.dbapi_connection)

    async def renew(self, owner: str, until: datetime, update_ids: Iterable[int]) -> None:
        """Extend the leases of these updates, which ``owner`` is processing (it is alive).
        Only those it names: a claim whose answer was lost (the connection dropped after the
        server ran it) holds rows the process never started; not renewed, their leases run
        out and they are claimed again."""
        await self.session.execute(
            update(inbox_updates)
            .where(
                inbox_updates.c.lease_owner == owner,
                inbox_updates.c.status == PROCESSING,
                inbox_updates.c.update_id.in_(list(update_ids)),
            )
            .values(lease_until=ensure_utc(until))
        )

    async def mark_done(
        self, update_ids: Iterable[int], at: datetime, *, owner: str | None = None
    ) -> set[int]:
        """Mark updates done; returns the ids marked. With ``owner``, only those it still
        holds: one whose lease ran out while this process could not write (an outage) and
        that another process took and ran is left to that process."""
        ids = list(update_ids)
        if not ids:
            return set()
        if owner is None:
            await self.session.execute(_DONE, {"ids": ids, "at": ensure_utc(at)})
            return set(ids)
        marked = await self.session.execute(
            _DONE_BY, {"ids": ids, "at": ensure_utc(at), "owner": owner}
        )
        return {int(update_id) for (update_id,) in marked}

    async def mark_done_and_claim(
        self,
        update_ids: Iterable[int],
        at: datetime,
        *,
        owner: str,
        now: datetime,
        lease_until: datetime,
        limit: int,
        only_if_waiting_in: Iterable[int] | None = None,
    ) -> tuple[set[int], list[InboxUpdate]]:
        """:meth:`mark_done` with ``owner``, then :meth:`claim` (which sees the marks): the ids
        marked and the updates claimed. For a transaction whose claim may see its marks
        (:meth:`claims_see_marks`).

        On PostgreSQL this is one statement (a round trip each costs under load). Elsewhere
        it is two, and with ``only_if_waiting_in`` (chats) the claim is made only when one of
        them has an update waiting: on SQLite that look costs less than a claim, and PostgreSQL
        claims in the same statement, whatever is ready."""
        ids = list(update_ids)
        if self.session.dialect.name != "postgresql" or not ids:
            marked = await self.mark_done(ids, at, owner=owner)
            if only_if_waiting_in is not None and not await self.any_unfinished_in(
                only_if_waiting_in
            ):
                return marked, []
            claimed = await self.claim(owner=owner, now=now, lease_until=lease_until, limit=limit)
            return marked, claimed
        now, lease_until = ensure_utc(now), ensure_utc(lease_until)
        rows = (
            (
                await self.session.execute(
                    _MARK_AND_CLAIM,
                    {
                        "ids": ids,
                        "at": ensure_utc(at),
                        **self._claim_parameters(owner, now, lease_until, limit),
                    },
                )
            )
            .mappings()
            .all()
        )
        marked = {int(update_id) for update_id in rows[0]["marked_ids"] or ()}
        claimed = [_to_update(row) for row in rows if row["update_id"] is not None]
        return marked, sorted(claimed, key=lambda item: item.update_id)

    async def note_answers(self, notes: Sequence[tuple[int, str]]) -> None:
        """What updates' handlers sent so far, ``(update_id, answers)`` (see
        bot/receiving/replay.py): several updates' notes in one statement."""
        if notes:
            await self.session.execute(
                _NOTE_ANSWERS, [{"id": update_id, "notes": answers} for update_id, answers in notes]
            )

    async def mark_failed(
        self,
        update_id: int,
        error: str,
        *,
        retry_at: datetime | None,
        at: datetime,
        owner: str | None = None,
    ) -> bool:
        """A failed attempt: tried again at ``retry_at``, or parked when it is None. With
        ``owner``, only while it still holds the update (as :meth:`mark_done`): one another
        process took over is that process's. Returns whether it was written."""
        values: dict[str, Any] = {
            "attempts": inbox_updates.c.attempts + 1,
            "last_error": error[:2000],
            "lease_owner": None,
            "lease_until": None,
        }
        if retry_at is None:
            values.update(status=PARKED, finished_at=ensure_utc(at), answers=None)
        else:
            values.update(status=PENDING, next_attempt_at=ensure_utc(retry_at))
        condition = [inbox_updates.c.update_id == update_id]
        if owner is not None:
            condition.append(inbox_updates.c.lease_owner == owner)
        result = await self.session.execute(
            update(inbox_updates).where(*condition).values(**values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def release(self, *, owner: str | None = None, update_ids: Iterable[int] = ()) -> int:
        """Give claimed updates back (a stop that could not finish them, or a restart of the
        only process): those of ``owner``, or every claim when ``owner`` is None."""
        condition = [inbox_updates.c.status == PROCESSING]
        ids = list(update_ids)
        if ids:
            condition.append(inbox_updates.c.update_id.in_(ids))
        if owner is not None:
            condition.append(inbox_updates.c.lease_owner == owner)
        result = await self.session.execute(
            update(inbox_updates)
            .where(*condition)
            .values(status=PENDING, lease_owner=None, lease_until=None)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def parked(self, limit: int = 100) -> list[InboxUpdate]:
        result = await self.session.execute(
            select(inbox_updates)
            .where(inbox_updates.c.status == PARKED)
            .order_by(inbox_updates.c.update_id)
            .limit(limit)
        )
        return [_to_update(row) for row in result.mappings()]

    async def retry_parked(self, update_ids: Iterable[int] | None, at: datetime) -> int:
        """Parked updates back in the queue (all when ``update_ids`` is None), attempts reset."""
        stmt = update(inbox_updates).where(inbox_updates.c.status == PARKED)
        if update_ids is not None:
            stmt = stmt.where(inbox_updates.c.update_id.in_(list(update_ids)))
        result = await self.session.execute(
            stmt.values(
                status=PENDING, attempts=0, next_attempt_at=ensure_utc(at), finished_at=None
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def purge_done(self, before: datetime) -> int:
        """Forget processed updates older than ``before`` (Telegram redelivers for 24 hours)."""
        result = await self.session.execute(
            delete(inbox_updates).where(
                inbox_updates.c.status == DONE, inbox_updates.c.finished_at < ensure_utc(before)
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def counts(self) -> dict[str, int]:
        result = await self.session.execute(
            select(inbox_updates.c.status, func.count()).group_by(inbox_updates.c.status)
        )
        return {status: count for status, count in result.all()}

    async def get(self, update_id: int) -> InboxUpdate | None:
        row = (
            await self.session.execute(
                select(inbox_updates).where(inbox_updates.c.update_id == update_id)
            )
        ).first()
        if row is None:
            return None
        return InboxUpdate(
            update_id=row.update_id,
            chat_key=row.chat_key,
            payload=dict(row.payload),
            status=row.status,
            attempts=row.attempts,
            received_at=row.received_at,
            last_error=row.last_error,
            answers=row.answers,
        )


def _to_update(row: RowMapping) -> InboxUpdate:
    return InboxUpdate(
        update_id=row["update_id"],
        chat_key=row["chat_key"],
        payload=dict(row["payload"]),
        status=row["status"],
        attempts=row["attempts"],
        received_at=row["received_at"],
        last_error=row["last_error"],
        answers=row["answers"],
    )

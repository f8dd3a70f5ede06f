"""The outbox: notifications written in the same transaction as the change that causes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import ensure_utc
from core.persistence.repositories._common import insert_ignore
from core.persistence.tables import live_alerts, outbox

PENDING = "pending"
SENDING = "sending"  # claimed by a sender until next_attempt_at
SENT = "sent"
FAILED = "failed"
UNREACHABLE = "unreachable"


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    created_at: datetime
    case_id: int | None
    recipient_role: str  # buyer | seller | agents | staff_chat
    chat_id: int | None  # None: resolve the recipients at send time (e.g. the shop's staff)
    shop: str | None
    kind: str  # a notification code like "case_opened"
    payload: dict[str, Any]
    dedupe_key: str
    status: str
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None


class OutboxRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self.session = session

    async def enqueue(
        self,
        *,
        kind: str,
        recipient_role: str,
        chat_id: int | None,
        shop: str | None,
        case_id: int | None,
        payload: dict[str, Any],
        dedupe_key: str,
        at: datetime,
        due: datetime | None = None,
    ) -> bool:
        """Queue a notification (sent from ``due``, else at once); False when one with this
        dedupe key is already queued."""
        row = {
            "created_at": at,
            "case_id": case_id,
            "recipient_role": recipient_role,
            "chat_id": chat_id,
            "shop": shop,
            "kind": kind,
            "payload": payload,
            "dedupe_key": dedupe_key,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": due or at,
        }
        return await insert_ignore(self.session, outbox, row, ("dedupe_key",)) is not None

    async def pending(self, *, now: datetime, limit: int = 100) -> list[OutboxMessage]:
        """Messages due for a (first or next) attempt, oldest first; a claim whose sender
        died (still ``sending`` past its expiry) is due again."""
        result = await self.session.execute(
            select(outbox)
            .where(
                outbox.c.status.in_((PENDING, SENDING)),
                outbox.c.next_attempt_at <= ensure_utc(now),
            )
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
        )
        return [_to_message(row) for row in result.mappings()]

    async def claim(self, message_id: int, *, now: datetime, until: datetime) -> bool:
        """Take a due message for sending until ``until``; False when another sender has it
        (or it was settled meanwhile). The row's own update decides, on any database."""
        result = await self.session.execute(
            update(outbox)
            .where(
                outbox.c.id == message_id,
                outbox.c.status.in_((PENDING, SENDING)),
                outbox.c.next_attempt_at <= ensure_utc(now),
            )
            .values(status=SENDING, next_attempt_at=ensure_utc(until))
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def release_claims(self, now: datetime) -> int:
        """Every claim due at once (the process that held them is known to be gone)."""
        result = await self.session.execute(
            update(outbox)
            .where(outbox.c.status == SENDING)
            .values(status=PENDING, next_attempt_at=ensure_utc(now))
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def mark_sent(
        self,
        message_id: int,
        at: datetime,
        note: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """Delivered; ``note`` says to whom it was not (a fan-out's unreachable recipients),
        ``payload`` what was sent when the sender completed it (a coalesced alert's count)."""
        values: dict[str, Any] = {"payload": payload} if payload is not None else {}
        await self._update(
            message_id,
            status=SENT,
            sent_at=at,
            attempts=outbox.c.attempts + 1,
            last_error=note,
            **values,
        )

    async def mark_failed(self, message_id: int, error: str, retry_at: datetime | None) -> None:
        """A failed attempt: retried at ``retry_at``, or given up (status failed) if None."""
        if retry_at is None:
            await self._update(
                message_id, status=FAILED, attempts=outbox.c.attempts + 1, last_error=error
            )
        else:
            await self._update(
                message_id,
                status=PENDING,
                attempts=outbox.c.attempts + 1,
                last_error=error,
                next_attempt_at=retry_at,
            )

    async def mark_unreachable(self, message_id: int, error: str) -> None:
        """The recipient blocked the bot or never started it: do not retry."""
        await self._update(
            message_id, status=UNREACHABLE, attempts=outbox.c.attempts + 1, last_error=error
        )

    async def undelivered(self, limit: int = 200) -> list[OutboxMessage]:
        """Notifications given up on (failed for good, or the recipient unreachable), newest
        first: what ``returns-desk outbox failed`` lists."""
        result = await self.session.execute(
            select(outbox)
            .where(outbox.c.status.in_((FAILED, UNREACHABLE)))
            .order_by(outbox.c.id.desc())
            .limit(limit)
        )
        return [_to_message(row) for row in result.mappings()]

    async def count_by_status(self) -> dict[str, int]:
        result = await self.session.execute(
            select(outbox.c.status, func.count()).group_by(outbox.c.status)
        )
        return {status: int(count) for status, count in result.all()}

    async def requeue(self, ids: list[int] | None, now: datetime) -> list[int]:
        """Given-up notifications (these ids, or all when None) pending again, with a fresh
        count of attempts; returns the ids requeued."""
        query = select(outbox.c.id).where(outbox.c.status.in_((FAILED, UNREACHABLE)))
        if ids is not None:
            query = query.where(outbox.c.id.in_(ids))
        found = await self.session.execute(query)
        requeued = sorted(found.scalars())
        if requeued:
            await self.session.execute(
                update(outbox)
                .where(outbox.c.id.in_(requeued), outbox.c.status.in_((FAILED, UNREACHABLE)))
                .values(status=PENDING, attempts=0, next_attempt_at=ensure_utc(now))
            )
        return requeued

    async def list_for_case(self, case_id: int) -> list[OutboxMessage]:
        result = await self.session.execute(
            select(outbox).where(outbox.c.case_id == case_id).order_by(outbox.c.id)
        )
        return [_to_message(row) for row in result.mappings()]

    async def replace_live_alert(
        self, case_id: int, chat_id: int, message_id: int, at: datetime
    ) -> int | None:
        """``message_id`` is now the alert whose buttons act on the case in this chat; returns
        the one it replaces (whose buttons must go), if any."""
        where = (live_alerts.c.case_id == case_id) & (live_alerts.c.chat_id == chat_id)
        result = await self.session.execute(select(live_alerts.c.message_id).where(where))
        older = result.scalar_one_or_none()
        if older is None:
            await self.session.execute(
                live_alerts.insert().values(
                    case_id=case_id, chat_id=chat_id, message_id=message_id, sent_at=at
                )
            )
        else:
            await self.session.execute(
                update(live_alerts).where(where).values(message_id=message_id, sent_at=at)
            )
        return older if older != message_id else None

    async def _update(self, message_id: int, **values: Any) -> None:
        await self.session.execute(update(outbox).where(outbox.c.id == message_id).values(**values))


def _to_message(row: RowMapping) -> OutboxMessage:
    return OutboxMessage(
        id=row["id"],
        created_at=row["created_at"],
        case_id=row["case_id"],
        recipient_role=row["recipient_role"],
        chat_id=row["chat_id"],
        shop=row["shop"],
        kind=row["kind"],
        payload=dict(row["payload"] or {}),
        dedupe_key=row["dedupe_key"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        sent_at=row["sent_at"],
        last_error=row["last_error"],
    )

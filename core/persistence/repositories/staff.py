"""Shop staff: who is a seller or agent of which shop (invited ones; the configuration file
lists the others), the single-use invitations, and the audit trail of every membership change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.cases.lifecycle import OPEN_STATUSES
from core.clock import ensure_utc
from core.persistence.repositories._common import insert_ignore
from core.persistence.tables import cases, invitations, staff, staff_events

# read at most updates (who to alert, who may act): built once, as building a statement
# costs more CPU than running it
_MEMBERS = (
    select(staff.c.telegram_id)
    .where(staff.c.shop == bindparam("shop"), staff.c.role == bindparam("role"))
    .order_by(staff.c.added_at, staff.c.id)
)
_SHOPS_OF = (
    select(staff.c.shop)
    .where(staff.c.telegram_id == bindparam("id"), staff.c.role == bindparam("role"))
    .order_by(staff.c.shop)
)


@dataclass(frozen=True, slots=True)
class Member:
    shop: str
    telegram_id: int
    role: str  # seller | agent
    added_at: datetime
    via: str  # invite (the configuration's people are not stored)


@dataclass(frozen=True, slots=True)
class Invitation:
    id: int
    nonce: str
    shops: tuple[str, ...]
    role: str
    created_at: datetime
    created_by: str
    expires_at: datetime
    accepted_by: int | None
    accepted_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        """pending | accepted | revoked | expired"""
        if self.accepted_by is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "pending"


@dataclass(frozen=True, slots=True)
class StaffEvent:
    id: int
    at: datetime
    action: str  # invited | joined | removed | revoked | refused_used | refused_revoked | …
    shop: str | None
    telegram_id: int | None
    role: str | None
    by: str
    data: dict[str, Any] = field(default_factory=dict)


def _invitation(row: Any) -> Invitation:
    return Invitation(
        id=row["id"],
        nonce=row["nonce"],
        shops=tuple(row["shops"] or ()),
        role=row["role"],
        created_at=ensure_utc(row["created_at"]),
        created_by=row["created_by"],
        expires_at=ensure_utc(row["expires_at"]),
        accepted_by=row["accepted_by"],
        accepted_at=ensure_utc(row["accepted_at"]) if row["accepted_at"] else None,
        revoked_at=ensure_utc(row["revoked_at"]) if row["revoked_at"] else None,
    )


class StaffRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self.session = session
        # (shop, role) → members, read once per unit of work: a case opening alerts the
        # sellers twice (the case, its supplier claim); add() and remove() forget it
        self._members: dict[tuple[str, str], list[int]] = {}

    # ── members ─────────────────────────────────────────────────────────────────────────────

    async def add(self, shop: str, telegram_id: int, role: str, via: str, at: datetime) -> bool:
        """Make a user a seller or agent of a shop; False if they already are."""
        self._members.clear()
        row = {"shop": shop, "telegram_id": telegram_id, "role": role, "via": via, "added_at": at}
        return (
            await insert_ignore(self.session, staff, row, ("shop", "telegram_id", "role"))
            is not None
        )

    async def shops_of(self, telegram_id: int, role: str) -> list[str]:
        result = await self.session.execute(_SHOPS_OF, {"id": telegram_id, "role": role})
        return list(result.scalars())

    async def members(self, shop: str, role: str) -> list[int]:
        """Telegram ids of a shop's sellers or agents, in the order they were added."""
        known = self._members.get((shop, role))
        if known is None:
            result = await self.session.execute(_MEMBERS, {"shop": shop, "role": role})
            known = self._members[(shop, role)] = list(result.scalars())
        return list(known)

    async def all_members(self, shop: str | None = None) -> list[Member]:
        query = select(staff).order_by(staff.c.shop, staff.c.role, staff.c.added_at, staff.c.id)
        if shop is not None:
            query = query.where(staff.c.shop == shop)
        result = await self.session.execute(query)
        return [
            Member(
                row["shop"],
                row["telegram_id"],
                row["role"],
                ensure_utc(row["added_at"]),
                row["via"],
            )
            for row in result.mappings()
        ]

    async def memberships(self, telegram_id: int) -> list[tuple[str, str]]:
        """(shop, role) of every stored membership of a user."""
        result = await self.session.execute(
            select(staff.c.shop, staff.c.role)
            .where(staff.c.telegram_id == telegram_id)
            .order_by(staff.c.shop, staff.c.role)
        )
        return [(row.shop, row.role) for row in result]

    async def remove(self, telegram_id: int, shop: str, role: str) -> bool:
        self._members.clear()
        result: Any = await self.session.execute(
            delete(staff).where(
                staff.c.telegram_id == telegram_id, staff.c.shop == shop, staff.c.role == role
            )
        )
        return bool(result.rowcount)

    async def owned_cases(self, agent_id: int, shops: Sequence[str]) -> list[str]:
        """Numbers of the open cases of ``shops`` whose conversation this agent owns."""
        result = await self.session.execute(
            select(cases.c.number)
            .where(
                cases.c.owner == "agent",
                cases.c.owner_agent_id == agent_id,
                cases.c.status.in_([status.value for status in OPEN_STATUSES]),
                cases.c.shop.in_(list(shops)),
            )
            .order_by(cases.c.id)
        )
        return list(result.scalars())

    # ── invitations ─────────────────────────────────────────────────────────────────────────

    async def create_invitation(
        self,
        *,
        nonce: str,
        shops: Sequence[str],
        role: str,
        created_at: datetime,
        created_by: str,
        expires_at: datetime,
    ) -> int:
        result = await self.session.execute(
            insert(invitations)
            .values(
                nonce=nonce,
                shops=list(shops),
                role=role,
                created_at=created_at,
                created_by=created_by,
                expires_at=expires_at,
            )
            .returning(invitations.c.id)
        )
        return int(result.scalar_one())

    async def invitation(
        self, *, nonce: str | None = None, invitation_id: int | None = None
    ) -> Invitation | None:
        query = select(invitations)
        if nonce is not None:
            query = query.where(invitations.c.nonce == nonce)
        else:
            query = query.where(invitations.c.id == invitation_id)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else _invitation(row)

    async def invitations(self) -> list[Invitation]:
        result = await self.session.execute(select(invitations).order_by(invitations.c.id))
        return [_invitation(row) for row in result.mappings()]

    async def consume_invitation(self, invitation_id: int, telegram_id: int, at: datetime) -> bool:
        """Mark an invitation used by this account, in one statement: of two accounts racing
        on one link exactly one gets True. False when it was used, revoked or has expired."""
        return await self._unused_update(
            invitation_id, invitations.c.expires_at > at, accepted_by=telegram_id, accepted_at=at
        )

    async def revoke_invitation(self, invitation_id: int, at: datetime) -> bool:
        """Withdraw an invitation nobody used yet; False when it was used or revoked already."""
        return await self._unused_update(invitation_id, revoked_at=at)

    async def _unused_update(self, invitation_id: int, *also: Any, **values: Any) -> bool:
        """Update an invitation that nobody used and nobody revoked (and ``also`` holds), in
        one statement; True when this statement changed it."""
        result: Any = await self.session.execute(
            update(invitations)
            .where(
                invitations.c.id == invitation_id,
                invitations.c.accepted_by.is_(None),
                invitations.c.revoked_at.is_(None),
                *also,
            )
            .values(**values)
        )
        return result.rowcount == 1

    # ── the audit trail of membership ───────────────────────────────────────────────────────

    async def record(
        self,
        action: str,
        at: datetime,
        *,
        by: str,
        shop: str | None = None,
        telegram_id: int | None = None,
        role: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        await self.session.execute(
            insert(staff_events).values(
                at=at,
                action=action,
                shop=shop,
                telegram_id=telegram_id,
                role=role,
                by=by,
                data=data or {},
            )
        )

    async def events(self, shop: str | None = None) -> list[StaffEvent]:
        query = select(staff_events).order_by(staff_events.c.at, staff_events.c.id)
        if shop is not None:
            query = query.where(staff_events.c.shop == shop)
        result = await self.session.execute(query)
        return [
            StaffEvent(
                id=row["id"],
                at=ensure_utc(row["at"]),
                action=row["action"],
                shop=row["shop"],
                telegram_id=row["telegram_id"],
                role=row["role"],
                by=row["by"],
                data=dict(row["data"] or {}),
            )
            for row in result.mappings()
        ]

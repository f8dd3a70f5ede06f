"""Supplier claims and the history of their moves (migration 0009).

A move is a conditional update on the version read, so two sellers pressing at once settle in
the database: the second press changes nothing and is told so."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.cases.lifecycle import Role
from core.money import Money
from core.persistence.repositories._common import insert_ignore
from core.persistence.tables import (
    case_costs,
    cases,
    sku_costs,
    supplier_claim_events,
    supplier_claims,
)
from core.suppliers.lifecycle import ClaimLine, ClaimStatus, SupplierClaim


@dataclass(frozen=True, slots=True)
class ClaimEvent:
    at: datetime
    actor_role: Role
    actor_id: int | None
    action: str
    from_status: ClaimStatus | None
    to_status: ClaimStatus | None
    note: str | None
    data: dict[str, Any]


def _claim(row: RowMapping) -> SupplierClaim:
    recovered = None
    if row["recovered_minor"] is not None and row["recovered_currency"]:
        recovered = Money(row["recovered_minor"], row["recovered_currency"])
    return SupplierClaim(
        id=row["id"],
        case_id=row["case_id"],
        case_number=row["number"],
        shop=row["shop"],
        supplier=row["supplier"],
        reason=row["reason"],
        lines=tuple(ClaimLine.from_dict(line) for line in row["lines"] or []),
        goods=Money(row["goods_minor"], row["goods_currency"]),
        postage=Money(row["postage_minor"], row["postage_currency"]),
        opened_at=row["opened_at"],
        updated_at=row["updated_at"],
        status=ClaimStatus(row["status"]),
        supplier_order=row["supplier_order"],
        recovered=recovered,
        deadline_at=row["deadline_at"],
        late=bool(row["late"]),
        warnings=tuple(row["warnings"] or ()),
        version=row["version"],
        case_opened_at=row["case_opened_at"],
    )


class SupplierClaimRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self.session = session

    def _select(self):  # type: ignore[no-untyped-def]
        return select(
            supplier_claims,
            cases.c.number.label("number"),
            cases.c.opened_at.label("case_opened_at"),
        ).join(cases, cases.c.id == supplier_claims.c.case_id)

    async def add(self, claim: SupplierClaim) -> int | None:
        """Store a new claim; None when the case already has one for this supplier."""
        return await insert_ignore(
            self.session,
            supplier_claims,
            {
                "case_id": claim.case_id,
                "shop": claim.shop,
                "supplier": claim.supplier,
                "status": claim.status.value,
                "reason": claim.reason,
                "supplier_order": claim.supplier_order,
                "lines": [line.as_dict() for line in claim.lines],
                "goods_minor": claim.goods.minor,
                "goods_currency": claim.goods.currency,
                "postage_minor": claim.postage.minor,
                "postage_currency": claim.postage.currency,
                "recovered_minor": None,
                "recovered_currency": None,
                "deadline_at": claim.deadline_at,
                "late": claim.late,
                "warnings": list(claim.warnings),
                "opened_at": claim.opened_at,
                "updated_at": claim.updated_at,
                "version": claim.version,
            },
            ("case_id", "supplier"),
        )

    async def get(self, claim_id: int) -> SupplierClaim | None:
        row = (
            (await self.session.execute(self._select().where(supplier_claims.c.id == claim_id)))
            .mappings()
            .first()
        )
        return _claim(row) if row is not None else None

    async def list_for(
        self,
        shops: Iterable[str],
        *,
        supplier: str | None = None,
        statuses: Iterable[ClaimStatus] | None = None,
        opened_since: datetime | None = None,
        case_id: int | None = None,
    ) -> list[SupplierClaim]:
        """Claims of these shops: by supplier, then the nearest deadline first."""
        stmt = self._select().where(supplier_claims.c.shop.in_(list(shops)))
        if supplier is not None:
            stmt = stmt.where(supplier_claims.c.supplier == supplier)
        if statuses is not None:
            stmt = stmt.where(supplier_claims.c.status.in_([s.value for s in statuses]))
        if opened_since is not None:
            stmt = stmt.where(supplier_claims.c.opened_at >= opened_since)
        if case_id is not None:
            stmt = stmt.where(supplier_claims.c.case_id == case_id)
        stmt = stmt.order_by(
            supplier_claims.c.supplier,
            supplier_claims.c.deadline_at.is_(None),
            supplier_claims.c.deadline_at,
            supplier_claims.c.id,
        )
        return [_claim(row) for row in (await self.session.execute(stmt)).mappings()]

    async def save(self, claim: SupplierClaim, read_version: int) -> bool:
        """Write a moved claim if nobody moved it since ``read_version``; False otherwise."""
        assert claim.id is not None
        result = await self.session.execute(
            update(supplier_claims)
            .where(supplier_claims.c.id == claim.id, supplier_claims.c.version == read_version)
            .values(
                status=claim.status.value,
                supplier_order=claim.supplier_order,
                postage_minor=claim.postage.minor,
                postage_currency=claim.postage.currency,
                recovered_minor=claim.recovered.minor if claim.recovered else None,
                recovered_currency=claim.recovered.currency if claim.recovered else None,
                updated_at=claim.updated_at,
                version=claim.version,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def add_event(self, claim_id: int, event: ClaimEvent) -> None:
        await self.session.execute(
            _INSERT_EVENT,
            {
                "claim_id": claim_id,
                "at": event.at,
                "actor_role": event.actor_role.value,
                "actor_id": event.actor_id,
                "action": event.action,
                "from_status": event.from_status.value if event.from_status else None,
                "to_status": event.to_status.value if event.to_status else None,
                "note": event.note,
                "data": event.data,
            },
        )

    async def events(self, claim_id: int) -> list[ClaimEvent]:
        rows = await self.session.execute(
            select(supplier_claim_events)
            .where(supplier_claim_events.c.claim_id == claim_id)
            .order_by(supplier_claim_events.c.id)
        )
        return [
            ClaimEvent(
                at=row["at"],
                actor_role=Role(row["actor_role"]),
                actor_id=row["actor_id"],
                action=row["action"],
                from_status=ClaimStatus(row["from_status"]) if row["from_status"] else None,
                to_status=ClaimStatus(row["to_status"]) if row["to_status"] else None,
                note=row["note"],
                data=row["data"] or {},
            )
            for row in rows.mappings()
        ]

    async def postage(self, case_id: int, kinds: Iterable[str]) -> Money | None:
        """What the shop recorded on the case for moving the goods (in its first currency)."""
        rows = await self.session.execute(_POSTAGE, {"case_id": case_id, "kinds": list(kinds)})
        found = [(currency, int(total or 0)) for currency, total in rows.all()]
        if not found:
            return None
        return Money(found[0][1], found[0][0])

    async def unit_costs(
        self, shop: str, skus: Iterable[str]
    ) -> dict[str, list[tuple[datetime, Money]]]:
        """The unit costs imported for these SKUs of a shop, oldest first."""
        rows = await self.session.execute(_UNIT_COSTS, {"shop": shop, "skus": list(skus)})
        found: dict[str, list[tuple[datetime, Money]]] = {}
        for sku, valid_from, minor, currency in rows.all():
            found.setdefault(sku, []).append((valid_from, Money(int(minor), currency)))
        return found


# what every approved case with a supplier runs; built once (building a statement costs more
# CPU than running it)
_INSERT_EVENT = supplier_claim_events.insert()
_POSTAGE = (
    select(case_costs.c.currency, func.sum(case_costs.c.amount_minor))
    .where(
        case_costs.c.case_id == bindparam("case_id"),
        case_costs.c.kind.in_(bindparam("kinds", expanding=True)),
    )
    .group_by(case_costs.c.currency)
    .order_by(case_costs.c.currency)
)
_UNIT_COSTS = (
    select(
        sku_costs.c.sku, sku_costs.c.valid_from, sku_costs.c.unit_cost_minor, sku_costs.c.currency
    )
    .where(
        sku_costs.c.shop == bindparam("shop"),
        sku_costs.c.sku.in_(bindparam("skus", expanding=True)),
    )
    .order_by(sku_costs.c.valid_from)
)

"""What the abuse signals read (core/services/signals.py): one person's cases and orders across
Telegram accounts, order e-mails and phones; the pictures that look alike; files' camera dates.
Only data the shop already holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.cases.lifecycle import CaseStatus
from core.clock import ensure_utc
from core.persistence.tables import (
    buyer_links,
    case_lines,
    cases,
    evidence,
    evidence_fingerprints,
    order_lines,
    orders,
)


@dataclass(frozen=True, slots=True)
class Person:
    """Everything that names one buyer in a shop's order book."""

    accounts: frozenset[int]
    orders: frozenset[int]


@dataclass(frozen=True, slots=True)
class PersonCase:
    case_id: int
    buyer_id: int | None
    currency: str
    lines: tuple[tuple[int, int, int], ...]  # (order line id, quantity, unit price minor)


@dataclass(frozen=True, slots=True)
class LookAlike:
    case_id: int
    number: str
    buyer_id: int | None
    phash: str


class SignalRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self.session = session

    async def person(
        self, shop: str, order_id: int, account: int | None, shared_limit: int = 20
    ) -> Person:
        """The accounts and orders of the buyer of ``order_id`` (and of ``account``): orders
        linked to the account, orders with the same e-mail or phone, and every account linked
        to one of those orders (one round: enough to join two accounts of one e-mail).

        An e-mail or phone on more than ``shared_limit`` orders is nobody's own (a parcel
        forwarder's, a marketplace's relay number, a placeholder the checkout filled in): it
        joins no one, or every buyer behind it would read as one person with many cases."""
        accounts = {account} if account is not None else set()
        seed = {order_id}
        if accounts:
            linked = await self.session.execute(
                _ORDERS_OF_ACCOUNTS, {"accounts": sorted(accounts), "shop": shop}
            )
            seed |= set(linked.scalars())
        contacts = await self.session.execute(_CONTACTS_OF_ORDERS, {"orders": sorted(seed)})
        emails: set[str] = set()
        phones: set[str] = set()
        for email_key, phone_key in contacts:
            if email_key is not None:
                emails.add(email_key)
            if phone_key is not None:
                phones.add(phone_key)
        found = set(seed)
        # one index look-up per value, reading at most one row past the limit: a value shared
        # by thousands of orders costs no more than one shared by shared_limit + 1
        for statement, values in ((_ORDERS_OF_EMAIL, emails), (_ORDERS_OF_PHONE, phones)):
            for value in sorted(values):
                same = await self.session.execute(
                    statement, {"shop": shop, "value": value, "limit": shared_limit + 1}
                )
                ids = set(same.scalars())
                if len(ids) <= shared_limit:
                    found |= ids
        linked_accounts = await self.session.execute(_ACCOUNTS_OF_ORDERS, {"orders": sorted(found)})
        accounts |= set(linked_accounts.scalars())
        return Person(frozenset(accounts), frozenset(found))

    async def cases_of(
        self, shop: str, person: Person, since: datetime, exclude_case: int | None
    ) -> list[PersonCase]:
        """The person's cases opened since ``since`` (withdrawn or cancelled ones are no
        claim), with the order lines each claims.

        One statement per way a case can be the person's (by order, by Telegram account): an
        ``OR`` of the two made SQLite walk every case of the shop instead of either index."""
        ways = [(_CASES_OF_ORDERS, sorted(person.orders))]
        if person.accounts:
            ways.append((_CASES_OF_ACCOUNTS, sorted(person.accounts)))
        found: dict[int, PersonCase] = {}
        seen: set[tuple[int, int | None]] = set()  # (case, order line): a case found both ways
        for statement, keys in ways:
            params = {
                "shop": shop,
                "since": since,
                # no case has id 0: "every case" when none is left out
                "exclude_case": exclude_case if exclude_case is not None else 0,
                "keys": keys,
            }
            for row in await self.session.execute(statement, params):
                if (row.id, row.order_line_id) in seen:
                    continue
                seen.add((row.id, row.order_line_id))
                case = found.get(row.id) or PersonCase(row.id, row.buyer_id, row.currency, ())
                if row.order_line_id is not None:
                    line = (row.order_line_id, row.quantity, row.unit_price_minor)
                    case = PersonCase(
                        case.case_id, case.buyer_id, case.currency, (*case.lines, line)
                    )
                found[row.id] = case
        return [found[case_id] for case_id in sorted(found)]

    async def bought(self, person: Person, since: datetime, currency: str) -> int:
        """The value (minor units) of the person's orders in ``currency`` placed since ``since``
        (cancelled ones aside)."""
        total = await self.session.execute(
            _BOUGHT, {"orders": sorted(person.orders), "since": since, "currency": currency}
        )
        return int(total.scalar_one() or 0)

    async def look_alikes(
        self, shop: str, since: datetime, exclude_case: int | None
    ) -> list[LookAlike]:
        """Every hashed picture of ``shop``'s cases stored since ``since`` (the caller measures
        the distance): another shop's pictures and case numbers are not this shop's data."""
        query = (
            select(cases.c.id, cases.c.number, cases.c.buyer_id, evidence_fingerprints.c.phash)
            .select_from(evidence_fingerprints)
            .join(evidence, evidence.c.id == evidence_fingerprints.c.evidence_id)
            .join(cases, cases.c.id == evidence.c.case_id)
            .where(
                cases.c.shop == shop,
                evidence_fingerprints.c.phash.is_not(None),
                evidence.c.added_at >= since,
            )
            .order_by(cases.c.opened_at, cases.c.id)
        )
        if exclude_case is not None:
            query = query.where(cases.c.id != exclude_case)
        rows = await self.session.execute(query)
        return [LookAlike(r.id, r.number, r.buyer_id, r.phash) for r in rows]

    async def fingerprints_of(self, case_id: int) -> tuple[list[str], list[datetime]]:
        """The pHashes of a case's pictures and the camera dates of its files."""
        rows = await self.session.execute(
            select(evidence_fingerprints.c.phash, evidence_fingerprints.c.taken_at)
            .join(evidence, evidence.c.id == evidence_fingerprints.c.evidence_id)
            .where(evidence.c.case_id == case_id)
        )
        phashes, taken = [], []
        for phash, taken_at in rows:
            if phash:
                phashes.append(phash)
            if taken_at is not None:
                taken.append(ensure_utc(taken_at))
        return phashes, taken


# The statements of every case opening, built once: building a statement and its cache key
# costs more CPU than SQLite takes to run it (benchmarks/README.md, eighth round).
_ORDERS_OF_ACCOUNTS = (
    select(buyer_links.c.order_id)
    .join(orders, orders.c.id == buyer_links.c.order_id)
    .where(
        buyer_links.c.telegram_id.in_(bindparam("accounts", expanding=True)),
        orders.c.shop == bindparam("shop"),
    )
)
_CONTACTS_OF_ORDERS = select(orders.c.buyer_email_key, orders.c.buyer_phone_key).where(
    orders.c.id.in_(bindparam("orders", expanding=True))
)
_ORDERS_OF_EMAIL, _ORDERS_OF_PHONE = (
    select(orders.c.id)
    .where(orders.c.shop == bindparam("shop"), column == bindparam("value"))
    .limit(bindparam("limit", type_=Integer))
    for column in (orders.c.buyer_email_key, orders.c.buyer_phone_key)
)
_ACCOUNTS_OF_ORDERS = select(buyer_links.c.telegram_id).where(
    buyer_links.c.order_id.in_(bindparam("orders", expanding=True))
)


def _cases_where(condition: ColumnElement[bool]) -> Select[Any]:
    return (
        select(
            cases.c.id,
            cases.c.buyer_id,
            cases.c.currency,
            case_lines.c.order_line_id,
            case_lines.c.quantity,
            order_lines.c.unit_price_minor,
        )
        .select_from(cases)
        .outerjoin(case_lines, case_lines.c.case_id == cases.c.id)
        .outerjoin(order_lines, order_lines.c.id == case_lines.c.order_line_id)
        .where(
            cases.c.shop == bindparam("shop"),
            cases.c.opened_at >= bindparam("since"),
            cases.c.status != CaseStatus.CANCELLED.value,
            cases.c.id != bindparam("exclude_case"),
            condition,
        )
        .order_by(cases.c.id, case_lines.c.id)
    )


_CASES_OF_ORDERS = _cases_where(cases.c.order_id.in_(bindparam("keys", expanding=True)))
_CASES_OF_ACCOUNTS = _cases_where(cases.c.buyer_id.in_(bindparam("keys", expanding=True)))
_BOUGHT = (
    select(func.coalesce(func.sum(order_lines.c.quantity * order_lines.c.unit_price_minor), 0))
    .join(orders, orders.c.id == order_lines.c.order_id)
    .where(
        orders.c.id.in_(bindparam("orders", expanding=True)),
        orders.c.placed_at >= bindparam("since"),
        orders.c.currency == bindparam("currency"),
        orders.c.status != "cancelled",  # refunded in full: nothing bought
    )
)

"""Orders: idempotent (batch) upsert from imports, and loading whole domain Orders.

How ``upsert_many`` stays fast (a batch of 1,000 orders costs a handful of statements):

* one ``SELECT`` of the orders already stored for the batch's number keys (the
  ``ix_orders_number_key`` index), then lines and shipments of only those orders, in two
  more ``SELECT … WHERE order_id IN (…)``;
* new orders go in with one multi-row ``INSERT … RETURNING id, shop, number_key``
  (SQLAlchemy's "insertmanyvalues" batches; returning the key means the rows need not come
  back in parameter order, which on SQLite would force one statement per row), their lines
  and shipments with one executemany ``INSERT`` each;
* existing orders are merged in Python and written back only when something changed, with
  one executemany ``UPDATE`` per table; a re-import of an unchanged file writes nothing.

All statements are Core statements on the mapped tables: no ORM identity map, no per-object
unit-of-work bookkeeping.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter

from core.clock import ensure_utc
from core.money import Money
from core.orders.contacts import normal_email, phone_digits
from core.orders.model import (
    Address,
    Buyer,
    Order,
    OrderLine,
    OrderStatus,
    Shipment,
    TrackingEvent,
)
from core.persistence.repositories._common import dialect_name, minor, money
from core.persistence.tables import buyer_links, import_runs, order_lines, orders, shipments

_ORDER_MUTABLE = (
    "number",
    "placed_at",
    "status",
    "currency",
    "buyer_name",
    "buyer_email",
    "buyer_phone",
    "buyer_email_key",  # follow buyer_email / buyer_phone (see _order_row)
    "buyer_phone_key",
    "buyer_country",
    "buyer_language",
    "buyer_telegram_id",
    "ship_line1",
    "ship_line2",
    "ship_city",
    "ship_postal_code",
    "ship_region",
    "ship_country",
    "shipping_cost_minor",
    "cancelled_at",
    "refunded_minor",
    "external_id",
)
_ADDRESS_COLUMNS = (
    "ship_line1",
    "ship_line2",
    "ship_city",
    "ship_postal_code",
    "ship_region",
    "ship_country",
)
_LINE_MUTABLE = (
    "sku",
    "title",
    "category",
    "supplier",
    "quantity",
    "unit_price_minor",
    "refunded_quantity",
    "supplier_order",
)
_SHIPMENT_COLUMNS = (
    "seq",
    "carrier",
    "tracking_number",
    "registered",
    "shipped_at",
    "delivered_at",
    "est_min_days",
    "est_max_days",
    "skus",
    "events",
)
# SQLite allows 32,766 bound parameters per statement; stay well below for IN (…) lists.
_IN_CHUNK = 5000


class OrderRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self.session = session

    # --- writing ----------------------------------------------------------------------------

    async def upsert(
        self, order: Order, number_key: str, *, at: datetime | None = None
    ) -> tuple[int, bool]:
        """Store an imported order, or merge it into the stored one: (order id, created?)."""
        (result,) = await self._upsert([(order, number_key)], _now(at))
        return result.order_id, result.created

    async def upsert_many(
        self, batch: Sequence[tuple[Order, str]], *, at: datetime | None = None
    ) -> tuple[int, int]:
        """Upsert a batch: (created, updated). Unchanged existing orders count as neither."""
        results = await self._upsert(batch, _now(at))
        created = sum(1 for r in results if r.created)
        updated = sum(1 for r in results if not r.created and r.changed)
        return created, updated

    async def _upsert(
        self, batch: Sequence[tuple[Order, str]], at: datetime
    ) -> list[_UpsertResult]:
        results: list[_UpsertResult | None] = [None] * len(batch)
        pending = list(range(len(batch)))
        while pending:
            # The same order twice in one batch: the later one merges into the earlier one.
            seen: set[tuple[str, str]] = set()
            now_round: list[int] = []
            later: list[int] = []
            for index in pending:
                key = (batch[index][0].shop, batch[index][1])
                (later if key in seen else now_round).append(index)
                seen.add(key)
            for index, result in zip(
                now_round, await self._upsert_unique([batch[i] for i in now_round], at), strict=True
            ):
                results[index] = result
            pending = later
        return [r for r in results if r is not None]

    async def _upsert_unique(
        self, batch: Sequence[tuple[Order, str]], at: datetime
    ) -> list[_UpsertResult]:
        if not batch:
            return []
        existing = await self._existing({key for _, key in batch})
        results: list[_UpsertResult | None] = [None] * len(batch)
        new: list[int] = []
        old: list[int] = []
        for index, (order, key) in enumerate(batch):
            (old if (order.shop, key) in existing else new).append(index)

        if new:
            rows = [_order_row(batch[i][0], batch[i][1], at) for i in new]
            # RETURNING the key with the id: no need for the rows to come back in order (which
            # SQLite can only promise one row per statement), so the INSERT stays multi-row.
            stmt = insert(orders).returning(orders.c.id, orders.c.shop, orders.c.number_key)
            ids = {
                (shop, number_key): order_id
                for order_id, shop, number_key in await self.session.execute(stmt, rows)
            }
            line_rows: list[dict[str, Any]] = []
            shipment_rows: list[dict[str, Any]] = []
            for index in new:
                order, number_key = batch[index]
                order_id = ids[(order.shop, number_key)]
                line_rows.extend(
                    {"order_id": order_id, **_line_row(line, order.currency)}
                    for line in order.lines
                )
                shipment_rows.extend(
                    {"order_id": order_id, **_shipment_row(seq, shipment)}
                    for seq, shipment in enumerate(order.shipments, start=1)
                )
                results[index] = _UpsertResult(order_id, created=True, changed=True)
            if line_rows:
                await self.session.execute(insert(order_lines), line_rows)
            if shipment_rows:
                await self.session.execute(insert(shipments), shipment_rows)

        if old:
            merged = await self._merge_existing(
                [(batch[i][0], existing[(batch[i][0].shop, batch[i][1])]) for i in old], at
            )
            for index, result in zip(old, merged, strict=True):
                results[index] = result
        return [r for r in results if r is not None]

    async def _existing(self, keys: set[str]) -> dict[tuple[str, str], RowMapping]:
        found: dict[tuple[str, str], RowMapping] = {}
        key_list = sorted(keys)
        # On PostgreSQL the keys are rendered into the SQL text: a prepared statement reused
        # across batches gets a generic plan, and one planned while the table was still empty
        # (the first import) stays a sequential scan: 100 ms a batch at 20,000 orders.
        literal = dialect_name(self.session) == "postgresql"
        for chunk in _chunks(key_list, _IN_CHUNK):
            in_keys: BindParameter[str] = bindparam(
                "keys", chunk, expanding=True, literal_execute=literal
            )
            result = await self.session.execute(
                select(orders).where(orders.c.number_key.in_(in_keys))
            )
            for row in result.mappings():
                found[(row["shop"], row["number_key"])] = row
        return found

    async def _merge_existing(
        self, pairs: list[tuple[Order, RowMapping]], at: datetime
    ) -> list[_UpsertResult]:
        ids = [row["id"] for _, row in pairs]
        lines_by_order = await self._children(order_lines, ids, order_lines.c.line_no)
        shipments_by_order = await self._children(shipments, ids, shipments.c.seq)

        order_updates: list[dict[str, Any]] = []
        line_updates: list[dict[str, Any]] = []
        line_inserts: list[dict[str, Any]] = []
        shipment_replaced: list[int] = []
        shipment_inserts: list[dict[str, Any]] = []
        results: list[_UpsertResult] = []

        for order, row in pairs:
            order_id = row["id"]
            changed = False

            values = _merge_order(row, _order_row(order, row["number_key"], at))
            if any(values[name] != row[name] for name in _ORDER_MUTABLE):
                changed = True

            stored_lines = {line["line_no"]: line for line in lines_by_order.get(order_id, [])}
            for line in order.lines:
                new_line = _line_row(line, order.currency)
                stored = stored_lines.get(line.line_no)
                if stored is None:
                    line_inserts.append({"order_id": order_id, **new_line})
                    changed = True
                    continue
                new_line["refunded_quantity"] = max(
                    new_line["refunded_quantity"], stored["refunded_quantity"]
                )
                if new_line["supplier_order"] is None:  # a file without it keeps the stored one
                    new_line["supplier_order"] = stored["supplier_order"]
                if any(new_line[name] != stored[name] for name in _LINE_MUTABLE):
                    line_updates.append({"_id": stored["id"], **new_line})
                    changed = True

            stored_shipments = [
                {name: s[name] for name in _SHIPMENT_COLUMNS}
                for s in shipments_by_order.get(order_id, [])
            ]
            new_shipments = [
                _shipment_row(seq, shipment)
                for seq, shipment in enumerate(order.shipments, start=1)
            ]
            merged_shipments = _merge_shipments(stored_shipments, new_shipments)
            if merged_shipments != stored_shipments:
                shipment_replaced.append(order_id)
                shipment_inserts.extend({"order_id": order_id, **s} for s in merged_shipments)
                changed = True

            if changed:
                order_updates.append({"_id": order_id, **values, "updated_at": at})
            results.append(_UpsertResult(order_id, created=False, changed=changed))

        if order_updates:
            await self.session.execute(
                update(orders).where(orders.c.id == bindparam("_id")), order_updates
            )
        if line_updates:
            await self.session.execute(
                update(order_lines).where(order_lines.c.id == bindparam("_id")), line_updates
            )
        if line_inserts:
            await self.session.execute(insert(order_lines), line_inserts)
        for chunk in _chunks(shipment_replaced, _IN_CHUNK):
            await self.session.execute(delete(shipments).where(shipments.c.order_id.in_(chunk)))
        if shipment_inserts:
            await self.session.execute(insert(shipments), shipment_inserts)
        return results

    # --- reading ----------------------------------------------------------------------------

    async def get(self, order_id: int) -> Order | None:
        found = self._fold(
            (await self.session.execute(_ORDER_BY_ID, {"order_id": order_id})).mappings()
        )
        return found[0] if found else None

    async def get_with_link(
        self, order_id: int, telegram_id: int
    ) -> tuple[Order | None, str | None]:
        """An order and how this Telegram user linked it (``buyer_links.via``, None when not
        linked), in the one statement: a buyer's conversation reads both at most steps."""
        rows = list(
            (
                await self.session.execute(
                    _ORDER_WITH_LINK, {"order_id": order_id, "telegram_id": telegram_id}
                )
            ).mappings()
        )
        found = self._fold(rows)
        return (found[0], rows[0]["link_via"]) if found else (None, None)

    async def get_by_key(self, shop: str, number_key: str) -> Order | None:
        found = self._fold(
            (
                await self.session.execute(_ORDER_BY_KEY, {"shop": shop, "number_key": number_key})
            ).mappings()
        )
        return found[0] if found else None

    async def find_by_key(self, number_key: str) -> list[Order]:
        """Orders with this normalized number, in every shop (oldest first)."""
        return await self._load(orders.c.number_key == number_key)

    async def get_many(self, order_ids: Iterable[int]) -> dict[int, Order]:
        ids = sorted(set(order_ids))
        found: dict[int, Order] = {}
        for chunk in _chunks(ids, _IN_CHUNK):
            for order in await self._load(orders.c.id.in_(chunk)):
                assert order.id is not None
                found[order.id] = order
        return found

    async def line_ids(self, order_id: int) -> dict[int, int]:
        """line_no → order_lines.id (what CaseRepository.add needs)."""
        result = await self.session.execute(
            select(order_lines.c.line_no, order_lines.c.id).where(
                order_lines.c.order_id == order_id
            )
        )
        return {line_no: line_id for line_no, line_id in result}

    async def _load(self, *where: Any) -> list[Order]:
        """Orders with their lines and parcels in ONE statement (the hot path reads an order at
        almost every step of a conversation): the rows are each order's lines × parcels, a
        handful, folded back here; oldest order first, lines and parcels in their order."""
        return self._fold(
            (await self.session.execute(_ORDER_WITH_CHILDREN.where(*where))).mappings()
        )

    @staticmethod
    def _fold(rows: Iterable[RowMapping]) -> list[Order]:
        heads: dict[int, RowMapping] = {}
        lines: dict[int, dict[int, dict[str, Any]]] = {}
        parcels: dict[int, dict[int, dict[str, Any]]] = {}
        for row in rows:
            order_id = row["id"]
            if order_id not in heads:
                heads[order_id] = row
                lines[order_id] = {}
                parcels[order_id] = {}
            line_id = row["l_id"]
            if line_id is not None and line_id not in lines[order_id]:
                lines[order_id][line_id] = {name: row[f"l_{name}"] for name in _LINE_NAMES}
            parcel_id = row["s_id"]
            if parcel_id is not None and parcel_id not in parcels[order_id]:
                parcels[order_id][parcel_id] = {name: row[f"s_{name}"] for name in _SHIP_NAMES}
        return [
            _to_order(row, list(lines[oid].values()), list(parcels[oid].values()))  # type: ignore[arg-type]
            for oid, row in heads.items()
        ]

    async def _children(
        self, table: Any, order_ids: list[int], order_by: Any
    ) -> dict[int, list[RowMapping]]:
        """The lines or parcels of many orders (the import compares them, in batches)."""
        found: dict[int, list[RowMapping]] = {}
        for chunk in _chunks(order_ids, _IN_CHUNK):
            result = await self.session.execute(
                select(table).where(table.c.order_id.in_(chunk)).order_by(order_by)
            )
            for row in result.mappings():
                found.setdefault(row["order_id"], []).append(row)
        return found


_LINE_NAMES = [column.name for column in order_lines.c]
_SHIP_NAMES = [column.name for column in shipments.c]
_ORDER_WITH_CHILDREN = (
    select(
        orders,
        *(column.label(f"l_{column.name}") for column in order_lines.c),
        *(column.label(f"s_{column.name}") for column in shipments.c),
    )
    .select_from(
        orders.outerjoin(order_lines, order_lines.c.order_id == orders.c.id).outerjoin(
            shipments, shipments.c.order_id == orders.c.id
        )
    )
    .order_by(orders.c.id, order_lines.c.line_no, shipments.c.seq)
)
# the hot path's reads, built once (building a statement costs more CPU than running it)
_ORDER_BY_ID = _ORDER_WITH_CHILDREN.where(orders.c.id == bindparam("order_id"))
_ORDER_BY_KEY = _ORDER_WITH_CHILDREN.where(
    orders.c.shop == bindparam("shop"), orders.c.number_key == bindparam("number_key")
)
_ORDER_WITH_LINK = _ORDER_WITH_CHILDREN.add_columns(
    select(buyer_links.c.via)
    .where(
        buyer_links.c.order_id == orders.c.id,
        buyer_links.c.telegram_id == bindparam("telegram_id"),
    )
    .scalar_subquery()
    .label("link_via")
).where(orders.c.id == bindparam("order_id"))


class ImportRunRepository:
    """One row per import of an orders file: what it did, for the staff's /imports view."""

    def __init__(self, session: AsyncConnection) -> None:
        self.session = session

    async def start(self, *, file: str, format: str, shop: str | None, at: datetime) -> int:
        result = await self.session.execute(
            insert(import_runs)
            .values(
                file=file,
                format=format,
                shop=shop,
                started_at=at,
                orders_created=0,
                orders_updated=0,
                rows=0,
            )
            .returning(import_runs.c.id)
        )
        return int(result.scalar_one())

    async def finish(
        self, run_id: int, *, at: datetime, created: int, updated: int, rows: int
    ) -> None:
        await self.session.execute(
            update(import_runs)
            .where(import_runs.c.id == run_id)
            .values(finished_at=at, orders_created=created, orders_updated=updated, rows=rows)
        )


# --- mapping -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _UpsertResult:
    order_id: int
    created: bool
    changed: bool


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is UTC else ensure_utc(value)


def _now(at: datetime | None) -> datetime:
    return datetime.now(UTC) if at is None else _utc(at)


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _order_row(order: Order, number_key: str, at: datetime) -> dict[str, Any]:
    buyer = order.buyer
    address = order.shipping_address
    return {
        "shop": order.shop,
        "number": order.number,
        "number_key": number_key,
        "placed_at": _utc(order.placed_at),
        "status": order.status.value,
        "currency": order.currency,
        "buyer_name": buyer.name,
        "buyer_email": buyer.email,
        "buyer_phone": buyer.phone,
        "buyer_email_key": normal_email(buyer.email),
        "buyer_phone_key": phone_digits(buyer.phone),
        "buyer_country": buyer.country,
        "buyer_language": buyer.language,
        "buyer_telegram_id": buyer.telegram_id,
        "ship_line1": address.line1 if address else None,
        "ship_line2": address.line2 if address else None,
        "ship_city": address.city if address else None,
        "ship_postal_code": address.postal_code if address else None,
        "ship_region": address.region if address else None,
        "ship_country": address.country if address else None,
        "shipping_cost_minor": minor(order.shipping_cost, order.currency),
        "cancelled_at": _utc(order.cancelled_at) if order.cancelled_at else None,
        "refunded_minor": minor(order.refunded_amount, order.currency),
        "external_id": order.external_id,
        "created_at": at,
        "updated_at": at,
    }


def _merge_order(stored: RowMapping, new: dict[str, Any]) -> dict[str, Any]:
    """The imported values, except where they would lose what the database knows."""
    merged = {name: new[name] for name in _ORDER_MUTABLE}
    if OrderStatus(new["status"]).rank < OrderStatus(stored["status"]).rank:
        merged["status"] = stored["status"]  # forward only; cancelled is final
    for name in ("buyer_telegram_id", "cancelled_at", "external_id", "shipping_cost_minor"):
        if merged[name] is None:
            merged[name] = stored[name]
    if new["ship_line1"] is None and stored["ship_line1"] is not None:
        for name in _ADDRESS_COLUMNS:  # a file without an address keeps the stored one
            merged[name] = stored[name]
    refunds = [v for v in (stored["refunded_minor"], new["refunded_minor"]) if v is not None]
    merged["refunded_minor"] = max(refunds) if refunds else None
    return merged


def _line_row(line: OrderLine, currency: str) -> dict[str, Any]:
    return {
        "line_no": line.line_no,
        "sku": line.sku,
        "title": line.title,
        "category": line.category,
        "supplier": line.supplier,
        "quantity": line.quantity,
        "unit_price_minor": minor(line.unit_price, currency),
        "refunded_quantity": line.refunded_quantity,
        "supplier_order": line.supplier_order,
    }


def _shipment_row(seq: int, shipment: Shipment) -> dict[str, Any]:
    estimated = shipment.estimated_days
    return {
        "seq": seq,
        "carrier": shipment.carrier,
        "tracking_number": shipment.tracking_number,
        "registered": shipment.registered,
        "shipped_at": _utc(shipment.shipped_at),
        "delivered_at": _utc(shipment.delivered_at) if shipment.delivered_at else None,
        "est_min_days": estimated[0] if estimated else None,
        "est_max_days": estimated[1] if estimated else None,
        "skus": list(shipment.skus) if shipment.skus is not None else None,
        "events": _sorted_events([_event_json(event) for event in shipment.events]),
    }


def _event_json(event: TrackingEvent) -> dict[str, Any]:
    return {
        "at": _utc(event.at).isoformat(),
        "status": event.status,
        "location": event.location,
        "description": event.description,
    }


def _sorted_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(events, key=lambda e: (datetime.fromisoformat(e["at"]), e["status"]))


def _merge_shipments(
    stored: list[dict[str, Any]], new: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The imported parcels replace the stored ones only if they carry at least as much.

    Fewer parcels than stored: keep the stored set. Otherwise each imported parcel is matched
    to a stored one (same tracking number, else same position) and keeps what that one knew:
    a delivery time never goes back to None, and tracking events are the union by (at, status).
    """
    if len(new) < len(stored):
        return stored
    by_tracking = {s["tracking_number"]: s for s in stored if s["tracking_number"]}
    used: set[int] = set()
    merged: list[dict[str, Any]] = []
    for position, parcel in enumerate(new):
        match = by_tracking.get(parcel["tracking_number"]) if parcel["tracking_number"] else None
        if match is None and position < len(stored) and position not in used:
            candidate = stored[position]
            if not (
                candidate["tracking_number"]
                and parcel["tracking_number"]
                and candidate["tracking_number"] != parcel["tracking_number"]
            ):
                match = candidate
        if match is None:
            merged.append(parcel)
            continue
        used.add(stored.index(match))
        result = dict(parcel)
        for name in ("carrier", "tracking_number", "delivered_at", "est_min_days", "est_max_days"):
            if result[name] is None:
                result[name] = match[name]
        events = {(_event_key(e)): e for e in match["events"]}
        events.update({_event_key(e): e for e in parcel["events"]})
        result["events"] = _sorted_events(list(events.values()))
        merged.append(result)
    return merged


def _event_key(event: dict[str, Any]) -> tuple[datetime, str]:
    return _utc(datetime.fromisoformat(event["at"])), event["status"]


def _to_order(row: RowMapping, lines: list[RowMapping], parcels: list[RowMapping]) -> Order:
    currency = row["currency"]
    address = None
    if row["ship_line1"] is not None:
        address = Address(
            line1=row["ship_line1"],
            city=row["ship_city"] or "",
            postal_code=row["ship_postal_code"],
            country=row["ship_country"] or "",
            region=row["ship_region"],
            line2=row["ship_line2"],
        )
    return Order(
        shop=row["shop"],
        number=row["number"],
        placed_at=row["placed_at"],
        status=OrderStatus(row["status"]),
        currency=currency,
        buyer=Buyer(
            name=row["buyer_name"],
            email=row["buyer_email"],
            phone=row["buyer_phone"],
            country=row["buyer_country"],
            language=row["buyer_language"],
            telegram_id=row["buyer_telegram_id"],
        ),
        lines=tuple(
            OrderLine(
                line_no=line["line_no"],
                sku=line["sku"],
                title=line["title"],
                quantity=line["quantity"],
                unit_price=Money(line["unit_price_minor"], currency),
                category=line["category"],
                supplier=line["supplier"],
                refunded_quantity=line["refunded_quantity"],
                supplier_order=line["supplier_order"],
            )
            for line in lines
        ),
        shipping_address=address,
        shipping_cost=money(row["shipping_cost_minor"], currency),
        shipments=tuple(_to_shipment(parcel) for parcel in parcels),
        cancelled_at=row["cancelled_at"],
        refunded_amount=money(row["refunded_minor"], currency),
        external_id=row["external_id"],
        id=row["id"],
    )


def _to_shipment(row: RowMapping) -> Shipment:
    estimated = None
    if row["est_min_days"] is not None and row["est_max_days"] is not None:
        estimated = (row["est_min_days"], row["est_max_days"])
    return Shipment(
        carrier=row["carrier"],
        tracking_number=row["tracking_number"],
        registered=row["registered"],
        shipped_at=row["shipped_at"],
        delivered_at=row["delivered_at"],
        estimated_days=estimated,
        events=tuple(
            TrackingEvent(
                at=_utc(datetime.fromisoformat(event["at"])),
                status=event["status"],
                location=event.get("location"),
                description=event.get("description"),
            )
            for event in row["events"] or ()
        ),
        skus=tuple(row["skus"]) if row["skus"] is not None else None,
    )

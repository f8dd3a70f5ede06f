"""Costs: the kinds staff record on a case, and the unit-cost file ``import-costs`` reads.

A cost file is CSV with the columns ``shop, sku, supplier, unit_cost, currency, valid_from``
(a header line first; supplier may be empty). A bad line stops the import and is named like
the order importers name theirs: ``costs.csv, line 7, field 'unit_cost': …``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path

from core.money import Money, MoneyError
from core.orders.formats.errors import ImportFileError


class CostKind(StrEnum):
    """What a case cost the shop (out) or brought back (in)."""

    REFUND = "refund"  # money back to the buyer outside the case's own refund step
    RESHIP_GOODS = "reship_goods"  # the goods sent again (at cost)
    RESHIP_POSTAGE = "reship_postage"
    RETURN_LABEL = "return_label"
    CHARGEBACK_FEE = "chargeback_fee"
    RESTOCKING_FEE = "restocking_fee"  # kept from the buyer's refund: comes back in
    SUPPLIER_CREDIT = "supplier_credit"  # what the supplier paid back: comes back in

    @property
    def is_income(self) -> bool:
        return self in INCOME


INCOME = frozenset({CostKind.RESTOCKING_FEE, CostKind.SUPPLIER_CREDIT})
COLUMNS = ("shop", "sku", "supplier", "unit_cost", "currency", "valid_from")


@dataclass(frozen=True, slots=True)
class UnitCost:
    shop: str
    sku: str
    supplier: str | None
    cost: Money
    valid_from: datetime  # midnight UTC of the day it applies from


def parse_cost_kind(text: str) -> CostKind | None:
    """``reship-postage``, ``Reship postage`` and ``reship_postage`` are the same kind."""
    key = "_".join(text.strip().lower().replace("-", " ").split())
    try:
        return CostKind(key)
    except ValueError:
        return None


def read_cost_file(path: Path, known_shops: set[str] | None = None) -> list[UnitCost]:
    """Every line of a unit-cost CSV, or an ImportFileError naming the first bad line."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(name, "not UTF-8 text") from exc
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ImportFileError(
            name, f"missing column(s): {', '.join(missing)} (expected {', '.join(COLUMNS)})", line=1
        )
    reader.fieldnames = header
    costs: list[UnitCost] = []
    seen: dict[tuple[str, str, datetime], int] = {}
    for line, raw in enumerate(reader, start=2):
        row = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue

        def bad(field: str, reason: str, line: int = line) -> ImportFileError:
            return ImportFileError(name, reason, line=line, field=field)

        shop, sku = row["shop"], row["sku"]
        if not shop:
            raise bad("shop", "required")
        if known_shops is not None and shop not in known_shops:
            raise bad("shop", f"no shop {shop!r} in the configuration")
        if not sku:
            raise bad("sku", "required")
        if len(sku) > 128:
            raise bad("sku", "longer than 128 characters")
        try:
            cost = Money.parse(row["unit_cost"], row["currency"] or "")
        except MoneyError as exc:
            field = "currency" if "currency" in str(exc) else "unit_cost"
            raise bad(field, str(exc)) from exc
        if cost.minor < 0:
            raise bad("unit_cost", "a cost cannot be negative")
        try:
            day = date.fromisoformat(row["valid_from"])
        except ValueError as exc:
            raise bad("valid_from", f"not a date like 2026-11-01: {row['valid_from']!r}") from exc
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        key = (shop, sku, start)
        if key in seen:
            raise bad("valid_from", f"the same shop, SKU and day as line {seen[key]}")
        seen[key] = line
        costs.append(UnitCost(shop, sku, row["supplier"] or None, cost, start))
    return costs

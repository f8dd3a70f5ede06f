"""The figures, defined once: what each number means, computed from plain rows.

Definitions (README, "Figures"):

* The **period** is the last N days before now. Rates, costs and the supplier gap follow the
  orders *placed* in the period (a cohort), grouped by the month each order was placed: a
  claim counts against the sales it came from. Times and the share decided automatically
  follow the cases *opened* in the period.
* **Item return rate** = units claimed ÷ units sold, per month × SKU × supplier × reason;
  a rate on fewer than ``FEW_UNITS`` units sold is marked ``few``. Claims to cancel an order
  or change its address are not returns and are left out everywhere.
* **Claims per 100 orders** per month.
* **Priority** per SKU × supplier: return rate × claims (a high rate on many claims first),
  with the rate of the previous period of the same length and the trend.
* **Cost of returns** per currency (never added across currencies): refunds recorded on cases
  plus the costs staff recorded (reship goods and postage, return labels, chargeback fees,
  refunds outside the case); **recovered**: restocking fees and supplier credits; **net loss**
  = cost − recovered.
* **Supplier recovery gap** per supplier and currency: what the supplier's terms make it
  liable for (unit cost × units of approved claims on lines the decision did not flag as
  unrecoverable) minus the supplier credit recorded; claims still unrecovered whose supplier
  window closes within ``CLOSING_DAYS`` are listed.
* **Times**: first response (the first action of a seller or agent), decision (the first
  approval or rejection, automatic ones included) and resolution (closing), from opening;
  median and 90th percentile (nearest rank), in hours.
* **Carriers**: per carrier × destination country, the share of parcels whose order was
  claimed as not received, and the median transit days of delivered parcels.
* **Automatic share**: cases decided by the policy alone ÷ cases decided.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from core.money import Money

FEW_UNITS = 20  # a return rate on fewer units sold than this is marked "few units"
CLOSING_DAYS = 7  # a supplier window closing within this many days is "closing soon"
PRIORITY_ROWS = 10
TREND_STEP = Decimal("0.005")  # half a point of return rate: less is "same"
PERIODS = (7, 30, 90)
MAX_PERIOD_DAYS = 366


def parse_period(text: str | None, default: int = 30) -> int | None:
    """``"30d"``, ``"30"`` → 30; None for anything else (1 to 366 days)."""
    if text is None or not text.strip():
        return default
    match = re.fullmatch(r"\s*(\d{1,3})\s*d?\s*", text.lower())
    if not match:
        return None
    days = int(match.group(1))
    return days if 1 <= days <= MAX_PERIOD_DAYS else None


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime

    @classmethod
    def last(cls, days: int, now: datetime) -> Period:
        return cls(now - timedelta(days=days), now)

    @property
    def days(self) -> int:
        return round((self.end - self.start) / timedelta(days=1))

    def previous(self) -> Period:
        return Period(self.start - (self.end - self.start), self.start)

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "days": self.days}


def ratio(part: int, whole: int, places: str = "0.0001") -> Decimal | None:
    if whole <= 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p % of values at or below."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return float(ordered[rank - 1])


def median_of_histogram(counts: dict[int, int]) -> float | None:
    """The median of integer values given as value → how many times (transit days)."""
    expanded_len = sum(counts.values())
    if expanded_len == 0:
        return None
    ordered = sorted(counts.items())

    def at(index: int) -> int:
        seen = 0
        for value, count in ordered:
            seen += count
            if index < seen:
                return value
        raise IndexError(index)

    if expanded_len % 2:
        return float(at(expanded_len // 2))
    return (at(expanded_len // 2 - 1) + at(expanded_len // 2)) / 2


# ── the figures ──────────────────────────────────────────────────────────────────────────────


class UnitRate:
    """Units claimed / units sold, and whether too few were sold for the rate to mean much."""

    __slots__ = ()
    units_sold: int
    units_claimed: int

    @property
    def rate(self) -> Decimal | None:
        return ratio(self.units_claimed, self.units_sold)

    @property
    def few(self) -> bool:
        return self.units_sold < FEW_UNITS


@dataclass(frozen=True, slots=True)
class RateRow(UnitRate):
    month: str  # "2026-11": the month the orders were placed
    sku: str
    supplier: str | None
    reason: str | None  # None: sold, nothing claimed
    units_sold: int
    units_claimed: int
    claims: int


@dataclass(frozen=True, slots=True)
class MonthRow:
    month: str
    orders: int
    claims: int

    @property
    def per_100_orders(self) -> Decimal | None:
        if self.orders <= 0:
            return None
        return (Decimal(self.claims) * 100 / Decimal(self.orders)).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )


@dataclass(frozen=True, slots=True)
class PriorityRow(UnitRate):
    sku: str
    supplier: str | None
    units_sold: int
    units_claimed: int
    claims: int
    previous_rate: Decimal | None

    @property
    def score(self) -> Decimal:
        return ((self.rate or Decimal(0)) * self.claims).quantize(Decimal("0.0001"))

    @property
    def trend(self) -> str:
        """up | down | same | new (nothing sold in the previous period)."""
        rate = self.rate
        if rate is None or self.previous_rate is None:
            return "new"
        if rate - self.previous_rate >= TREND_STEP:
            return "up"
        if self.previous_rate - rate >= TREND_STEP:
            return "down"
        return "same"


@dataclass(slots=True)
class MoneyRow:
    """Cost of returns in one currency, by kind (refunds recorded on cases are ``refunded``)."""

    currency: str
    by_kind: dict[str, int] = field(default_factory=dict)  # minor units

    def add(self, kind: str, minor: int) -> None:
        self.by_kind[kind] = self.by_kind.get(kind, 0) + minor

    @property
    def cost(self) -> Money:
        from core.analytics.costs import INCOME

        return Money(sum(v for k, v in self.by_kind.items() if k not in INCOME), self.currency)

    @property
    def recovered(self) -> Money:
        from core.analytics.costs import INCOME

        return Money(sum(v for k, v in self.by_kind.items() if k in INCOME), self.currency)

    @property
    def net_loss(self) -> Money:
        return self.cost - self.recovered


@dataclass(slots=True)
class GapRow:
    supplier: str
    currency: str
    liable_minor: int = 0
    recovered_minor: int = 0
    closing_soon: list[str] = field(default_factory=list)  # case numbers

    @property
    def liable(self) -> Money:
        return Money(self.liable_minor, self.currency)

    @property
    def recovered(self) -> Money:
        return Money(self.recovered_minor, self.currency)

    @property
    def gap(self) -> Money:
        return self.liable - self.recovered


@dataclass(frozen=True, slots=True)
class TimeRow:
    measure: str  # first_response | decision | resolution
    hours: tuple[float, ...]

    @property
    def count(self) -> int:
        return len(self.hours)

    @property
    def median(self) -> float | None:
        return median(self.hours)

    @property
    def p90(self) -> float | None:
        return percentile(self.hours, 90)


@dataclass(frozen=True, slots=True)
class CarrierRow:
    carrier: str
    country: str
    parcels: int  # parcels of the period's orders sent with this carrier to this country
    not_received: int  # of them, parcels of orders claimed as not received
    transit_days: dict[int, int]  # delivered parcels: whole days → how many

    @property
    def rate(self) -> Decimal | None:
        return ratio(self.not_received, self.parcels)

    @property
    def median_transit_days(self) -> float | None:
        return median_of_histogram(self.transit_days)

    @property
    def few(self) -> bool:
        return self.parcels < FEW_UNITS


@dataclass(frozen=True, slots=True)
class Automation:
    decided: int
    automatic: int

    @property
    def share(self) -> Decimal | None:
        return ratio(self.automatic, self.decided)


@dataclass
class Figures:
    shops: tuple[str, ...]
    period: Period
    rates: list[RateRow]
    months: list[MonthRow]
    priority: list[PriorityRow]
    money: list[MoneyRow]
    gaps: list[GapRow]
    times: list[TimeRow]
    carriers: list[CarrierRow]
    automation: Automation
    lines_without_cost: int = 0  # approved claim lines with no unit cost on file

    @property
    def orders(self) -> int:
        return sum(m.orders for m in self.months)

    @property
    def claims(self) -> int:
        return sum(m.claims for m in self.months)


def priority_list(
    current: Iterable[RateRow], previous: Iterable[RateRow], limit: int = PRIORITY_ROWS
) -> list[PriorityRow]:
    """SKU × supplier with claims, by return rate × claims, highest first."""

    def totals(rows: Iterable[RateRow]) -> dict[tuple[str, str | None], list[int]]:
        out: dict[tuple[str, str | None], list[int]] = {}
        sold_seen: set[tuple[str, str, str | None]] = set()
        for row in rows:
            key = (row.sku, row.supplier)
            acc = out.setdefault(key, [0, 0, 0])
            if (row.month, row.sku, row.supplier) not in sold_seen:  # sales repeat per reason
                sold_seen.add((row.month, row.sku, row.supplier))
                acc[0] += row.units_sold
            acc[1] += row.units_claimed
            acc[2] += row.claims
        return out

    now, before = totals(current), totals(previous)
    rows = []
    for (sku, supplier), (sold, claimed, claims) in now.items():
        if claims == 0:
            continue
        prev = before.get((sku, supplier))
        previous_rate = ratio(prev[1], prev[0]) if prev else None
        rows.append(PriorityRow(sku, supplier, sold, claimed, claims, previous_rate))
    rows.sort(key=lambda r: (-r.score, -r.claims, r.sku, r.supplier or ""))
    return rows[:limit]


# ── as data: one tidy table (CSV, JSON) ───────────────────────────────────────────────────────

COLUMNS = (
    "figure",
    "month",
    "sku",
    "supplier",
    "reason",
    "carrier",
    "country",
    "currency",
    "measure",
    "value",
    "note",
)


def _num(value: Decimal | float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def tidy_rows(f: Figures) -> list[dict[str, Any]]:
    """Every figure as rows of ``COLUMNS``: one measure per row, ready to pivot."""
    out: list[dict[str, Any]] = []

    def put(figure: str, measure: str, value: Any, note: Any = "", **keys: Any) -> None:
        row = dict.fromkeys(COLUMNS, "")
        row.update({k: ("" if v is None else v) for k, v in keys.items()})
        row.update(figure=figure, measure=measure, value=_num(value), note=note)
        out.append(row)

    for r in f.rates:
        keys = {"month": r.month, "sku": r.sku, "supplier": r.supplier, "reason": r.reason}
        note = "few units" if r.few else ("no sales" if r.units_sold == 0 else "")
        put("return_rate", "units_sold", r.units_sold, **keys)
        put("return_rate", "units_claimed", r.units_claimed, **keys)
        put("return_rate", "rate", r.rate, note, **keys)
    for m in f.months:
        put("claims_per_100_orders", "orders", m.orders, month=m.month)
        put("claims_per_100_orders", "claims", m.claims, month=m.month)
        put("claims_per_100_orders", "per_100_orders", m.per_100_orders, month=m.month)
    for p in f.priority:
        keys = {"sku": p.sku, "supplier": p.supplier}
        note = "few units" if p.few else ""
        put("priority", "score", p.score, note, **keys)
        put("priority", "rate", p.rate, note, **keys)
        put("priority", "claims", p.claims, **keys)
        put("priority", "previous_rate", p.previous_rate, **keys)
        put("priority", "trend", p.trend, **keys)
    for money in f.money:
        for kind in sorted(money.by_kind):
            amount = Money(money.by_kind[kind], money.currency).as_decimal_string()
            put("cost_of_returns", kind, amount, currency=money.currency)
        put("cost_of_returns", "cost", money.cost.as_decimal_string(), currency=money.currency)
        put(
            "cost_of_returns",
            "recovered",
            money.recovered.as_decimal_string(),
            currency=money.currency,
        )
        put(
            "cost_of_returns",
            "net_loss",
            money.net_loss.as_decimal_string(),
            currency=money.currency,
        )
    for g in f.gaps:
        keys = {"supplier": g.supplier, "currency": g.currency}
        put("supplier_gap", "liable", g.liable.as_decimal_string(), **keys)
        put("supplier_gap", "recovered", g.recovered.as_decimal_string(), **keys)
        put("supplier_gap", "gap", g.gap.as_decimal_string(), **keys)
        put("supplier_gap", "closing_soon", len(g.closing_soon), " ".join(g.closing_soon), **keys)
    if f.lines_without_cost:
        put("supplier_gap", "lines_without_unit_cost", f.lines_without_cost)
    for t in f.times:
        put("times_hours", f"{t.measure}_count", t.count)
        put("times_hours", f"{t.measure}_median", t.median)
        put("times_hours", f"{t.measure}_p90", t.p90)
    for c in f.carriers:
        keys = {"carrier": c.carrier, "country": c.country}
        note = "few parcels" if c.few else ""
        put("carriers", "parcels", c.parcels, **keys)
        put("carriers", "not_received", c.not_received, **keys)
        put("carriers", "not_received_rate", c.rate, note, **keys)
        put("carriers", "median_transit_days", c.median_transit_days, **keys)
    put("automation", "decided", f.automation.decided)
    put("automation", "automatic", f.automation.automatic)
    put("automation", "share", f.automation.share)
    return out


def as_json(f: Figures) -> dict[str, Any]:
    """The figures as JSON: amounts as decimal strings with their currency, rates as decimals."""
    return {
        "shops": list(f.shops),
        "period": f.period.as_dict(),
        "return_rates": [
            {
                "month": r.month,
                "sku": r.sku,
                "supplier": r.supplier,
                "reason": r.reason,
                "units_sold": r.units_sold,
                "units_claimed": r.units_claimed,
                "claims": r.claims,
                "rate": _num(r.rate) or None,
                "few_units": r.few,
            }
            for r in f.rates
        ],
        "claims_per_100_orders": [
            {
                "month": m.month,
                "orders": m.orders,
                "claims": m.claims,
                "per_100_orders": _num(m.per_100_orders) or None,
            }
            for m in f.months
        ],
        "priority": [
            {
                "sku": p.sku,
                "supplier": p.supplier,
                "units_sold": p.units_sold,
                "units_claimed": p.units_claimed,
                "claims": p.claims,
                "rate": _num(p.rate) or None,
                "score": str(p.score),
                "previous_rate": _num(p.previous_rate) or None,
                "trend": p.trend,
                "few_units": p.few,
            }
            for p in f.priority
        ],
        "cost_of_returns": [
            {
                "currency": m.currency,
                "by_kind": {
                    k: Money(v, m.currency).as_decimal_string()
                    for k, v in sorted(m.by_kind.items())
                },
                "cost": m.cost.as_decimal_string(),
                "recovered": m.recovered.as_decimal_string(),
                "net_loss": m.net_loss.as_decimal_string(),
            }
            for m in f.money
        ],
        "supplier_gap": [
            {
                "supplier": g.supplier,
                "currency": g.currency,
                "liable": g.liable.as_decimal_string(),
                "recovered": g.recovered.as_decimal_string(),
                "gap": g.gap.as_decimal_string(),
                "closing_soon": g.closing_soon,
            }
            for g in f.gaps
        ],
        "lines_without_unit_cost": f.lines_without_cost,
        "times_hours": {
            t.measure: {"count": t.count, "median": t.median, "p90": t.p90} for t in f.times
        },
        "carriers": [
            {
                "carrier": c.carrier,
                "country": c.country,
                "parcels": c.parcels,
                "not_received": c.not_received,
                "not_received_rate": _num(c.rate) or None,
                "median_transit_days": c.median_transit_days,
                "few_parcels": c.few,
            }
            for c in f.carriers
        ],
        "automation": {
            "decided": f.automation.decided,
            "automatic": f.automation.automatic,
            "share": _num(f.automation.share) or None,
        },
    }


DIMENSIONS = ("sku", "supplier", "reason")


@dataclass(frozen=True, slots=True)
class GroupRate(UnitRate):
    key: str  # a SKU, a supplier id or a reason code ("" when the line has no supplier)
    units_sold: int
    units_claimed: int
    claims: int


def rates_by(f: Figures, dimension: str, limit: int = 10) -> list[GroupRate]:
    """Return rates over the whole period by SKU, supplier or reason, highest first. By
    reason, each reason's units are set against every unit sold in the period."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension must be one of {DIMENSIONS}")
    sold: dict[str, int] = {}
    seen: set[tuple[str, str, str | None]] = set()
    claimed: dict[str, list[int]] = {}
    total_sold = 0
    for r in f.rates:
        if (r.month, r.sku, r.supplier) not in seen:
            seen.add((r.month, r.sku, r.supplier))
            total_sold += r.units_sold
            if dimension != "reason":
                key = r.sku if dimension == "sku" else (r.supplier or "")
                sold[key] = sold.get(key, 0) + r.units_sold
        if r.reason is None:
            continue
        key = {"sku": r.sku, "supplier": r.supplier or "", "reason": r.reason}[dimension]
        acc = claimed.setdefault(key, [0, 0])
        acc[0] += r.units_claimed
        acc[1] += r.claims
    rows = [
        GroupRate(
            key,
            total_sold if dimension == "reason" else sold.get(key, 0),
            units,
            claims,
        )
        for key, (units, claims) in claimed.items()
    ]
    rows.sort(key=lambda g: (-(g.rate or Decimal(0)), -g.claims, g.key))
    return rows[:limit]

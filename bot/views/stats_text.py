"""The figures as a plain-text table for the terminal (``returns-desk stats``), in English
like the rest of the command line; the bot's words are in bot/views/charts.py and texts."""

from __future__ import annotations

from collections.abc import Sequence

from core.analytics.figures import Figures


def _pct(value: object) -> str:
    return "" if value is None else f"{float(str(value)) * 100:.1f}%"


def _hours(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} h"


def text_table(
    title: str,
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    empty: str = "(nothing in this period)",
) -> list[str]:
    """A titled plain-text table, columns padded to their widest cell (None shows empty)."""
    cells = [[str(c) for c in header], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [title, "-" * len(title)]
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    if not rows:
        lines.append(empty)
    return [*lines, ""]


def figures_table(f: Figures) -> str:
    days = f.period.days
    lines = [
        f"Shops: {', '.join(f.shops)} · orders placed in the last {days} days "
        f"({f.period.start:%Y-%m-%d} to {f.period.end:%Y-%m-%d}): {f.orders} orders, "
        f"{f.claims} claims",
        "",
    ]
    lines += text_table(
        "Item return rate (units claimed / units sold; * = fewer than 20 units sold)",
        ("month", "sku", "supplier", "reason", "sold", "claimed", "rate"),
        [
            (
                r.month or "-",
                r.sku,
                r.supplier or "",
                r.reason or "",
                r.units_sold,
                r.units_claimed,
                (_pct(r.rate) or "no sales") + (" *" if r.few and r.units_sold else ""),
            )
            for r in f.rates
        ],
    )
    lines += text_table(
        "Claims per 100 orders",
        ("month", "orders", "claims", "per 100"),
        [(m.month, m.orders, m.claims, m.per_100_orders) for m in f.months],
    )
    lines += text_table(
        "Priority (return rate x claims; trend against the previous period)",
        ("sku", "supplier", "claims", "rate", "score", "previous", "trend"),
        [
            (
                p.sku,
                p.supplier or "",
                p.claims,
                _pct(p.rate) + (" *" if p.few else ""),
                p.score,
                _pct(p.previous_rate),
                p.trend,
            )
            for p in f.priority
        ],
    )
    lines += text_table(
        "Cost of returns (per currency, never added together)",
        ("currency", "cost", "recovered", "net loss"),
        [
            (
                m.currency,
                m.cost.as_decimal_string(),
                m.recovered.as_decimal_string(),
                m.net_loss.as_decimal_string(),
            )
            for m in f.money
        ],
    )
    lines += text_table(
        "Supplier recovery gap (liable under the supplier's terms minus recovered)",
        ("supplier", "currency", "liable", "recovered", "gap", "window closing soon"),
        [
            (
                g.supplier,
                g.currency,
                g.liable.as_decimal_string(),
                g.recovered.as_decimal_string(),
                g.gap.as_decimal_string(),
                " ".join(g.closing_soon),
            )
            for g in f.gaps
        ],
    )
    if f.lines_without_cost:
        lines += [f"({f.lines_without_cost} approved claim lines have no unit cost on file)", ""]
    lines += text_table(
        "Times from opening (cases opened in the period)",
        ("measure", "cases", "median", "p90"),
        [(t.measure.replace("_", " "), t.count, _hours(t.median), _hours(t.p90)) for t in f.times],
    )
    lines += text_table(
        "Carriers (not received = parcels of orders claimed as not received / parcels)",
        ("carrier", "country", "parcels", "not received", "rate", "median transit days"),
        [
            (
                c.carrier,
                c.country,
                c.parcels,
                c.not_received,
                _pct(c.rate) + (" *" if c.few else ""),
                "" if c.median_transit_days is None else f"{c.median_transit_days:g}",
            )
            for c in f.carriers
        ],
    )
    a = f.automation
    lines.append(
        f"Decided automatically: {a.automatic} of {a.decided} decided cases "
        f"({_pct(a.share) or '-'})"
    )
    return "\n".join(lines)

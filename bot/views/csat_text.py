"""The satisfaction figures (core/services/csat.py) for the terminal, in English like the rest
of the command line (``returns-desk csat`` and the end of ``returns-desk stats``), and as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.views.stats_text import text_table
from core.services.csat import CsatFigures, CsatRow


def _pct(value: object) -> str:
    return "" if value is None else f"{float(str(value)) * 100:.1f}%"


def _key(value: object, none: str) -> str:
    return none if value is None else str(value)


def _table(title: str, first: str, rows: Sequence[CsatRow], none: str) -> list[str]:
    return text_table(
        title,
        (first, "asked", "answered", "4-5 share", "response rate"),
        [
            (
                _key(r.key, none),
                r.asked,
                r.answered,
                _pct(r.satisfied_share),
                _pct(r.response_rate),
            )
            for r in rows
        ],
        empty="(no survey asked in this period)",
    )


def csat_table(f: CsatFigures) -> str:
    t = f.total
    lines = [
        f"Satisfaction: surveys asked in the last {f.period.days} days "
        f"({f.period.start:%Y-%m-%d} to {f.period.end:%Y-%m-%d}): {t.asked} asked, "
        f"{t.answered} answered, {_pct(t.satisfied_share) or '-'} rated 4 or 5, "
        f"response rate {_pct(t.response_rate) or '-'}",
        "",
    ]
    lines += _table("Satisfaction by shop", "shop", f.by_shop, "-")
    lines += _table("Satisfaction by agent", "agent", f.by_agent, "(no agent)")
    lines += _table("Satisfaction by reason", "reason", f.by_reason, "-")
    return "\n".join(lines).rstrip() + "\n"


def _row(r: CsatRow) -> dict[str, Any]:
    return {
        "key": r.key,
        "asked": r.asked,
        "answered": r.answered,
        "rated_4_or_5": r.satisfied,
        "share_4_or_5": None if r.satisfied_share is None else str(r.satisfied_share),
        "response_rate": None if r.response_rate is None else str(r.response_rate),
    }


def csat_json(f: CsatFigures) -> dict[str, Any]:
    return {
        "shops": list(f.shops),
        "period": f.period.as_dict(),
        "total": _row(f.total),
        "by_shop": [_row(r) for r in f.by_shop],
        "by_agent": [_row(r) for r in f.by_agent],
        "by_reason": [_row(r) for r in f.by_reason],
    }

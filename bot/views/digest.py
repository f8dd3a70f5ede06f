"""The weekly digest to each shop's sellers (core.services.stats.queue_digests), in the
seller's language: the week's figures in a few lines and how to get the charts."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from bot.views import texts
from bot.views.i18n import Translator


def closing_soon(tr: Translator, cases: Sequence[str]) -> str:
    """The cases whose supplier claim window closes within a week (stats and the digest)."""
    return tr.plural(
        "Supplier window closing within a week: {cases}",
        "Supplier windows closing within a week: {cases}",
        len(cases),
        cases=tr.join(cases),
    )


def weekly_digest(tr: Translator, payload: dict[str, Any]) -> Any:
    """Not about a case: an outbox row of kind ``weekly_digest``."""
    from bot.views.events import Rendered  # events registers this renderer

    days = int(payload.get("days") or 30)
    lines = [
        texts.bold(
            tr.plural(
                "{shop}: returns in the last day",
                "{shop}: returns in the last {n} days",
                days,
                shop=payload.get("shop_name") or payload.get("shop", ""),
            )
        ),
        tr(
            "Orders placed: {orders} · claims on them: {claims}",
            orders=int(payload.get("orders") or 0),
            claims=int(payload.get("claims") or 0),
        ),
    ]
    if payload.get("net_loss"):
        lines.append(
            tr(
                "Net loss on returns: {amounts}",
                amounts=" · ".join(tr.money(m) for m in payload["net_loss"]),
            )
        )
    if payload.get("gap"):
        lines.append(
            tr(
                "Suppliers still owe: {amounts}",
                amounts=" · ".join(tr.money(m) for m in payload["gap"]),
            )
        )
    soon = payload.get("closing_soon") or []
    if soon:
        lines.append(closing_soon(tr, soon))
    if payload.get("top_sku"):
        lines.append(
            tr(
                "Most returned: {sku} ({rate} of units sold)",
                sku=payload["top_sku"],
                rate=tr.percent(Decimal(str(payload.get("top_rate") or 0)) * 100),
            )
        )
    lines.append(tr("Charts and the full table: /stats {days}d", days=days))
    return Rendered("\n".join(lines))

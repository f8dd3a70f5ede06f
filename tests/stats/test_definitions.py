"""The pure definitions: periods, percentiles, medians of histograms, the priority trend."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.analytics.costs import CostKind, parse_cost_kind
from core.analytics.figures import (
    PriorityRow,
    median,
    median_of_histogram,
    parse_period,
    percentile,
)


@pytest.mark.parametrize(
    ("text", "days"),
    [("30d", 30), ("7", 7), (" 90D ", 90), (None, 30), ("", 30), ("0d", None), ("367d", None),
     ("forever", None), ("-5d", None)],
)  # fmt: skip
def test_periods(text: str | None, days: int | None) -> None:
    assert parse_period(text) == days


def test_nearest_rank_percentile_and_median() -> None:
    assert percentile([6, 2, 1, 4], 90) == 6.0
    assert percentile([0, 1, 4, 6, 24], 90) == 24.0
    assert percentile(list(range(1, 11)), 90) == 9.0
    assert percentile([], 90) is None
    assert median([6, 2, 1, 4]) == 3.0
    assert median([]) is None


def test_median_of_a_histogram_equals_the_median_of_its_values() -> None:
    counts = {4: 1, 6: 1, 7: 1, 10: 1}
    assert median_of_histogram(counts) == 6.5
    assert median_of_histogram({5: 3, 9: 1}) == 5.0
    assert median_of_histogram({}) is None


@pytest.mark.parametrize(
    ("previous", "trend"),
    [(None, "new"), (Decimal("0.1000"), "up"), (Decimal("0.5000"), "down"),
     (Decimal("0.2980"), "same")],
)  # fmt: skip
def test_trend_against_the_previous_period(previous: Decimal | None, trend: str) -> None:
    row = PriorityRow("SKU", "sup", 10, 3, 3, previous)
    assert row.rate == Decimal("0.3000") and row.score == Decimal("0.9000")
    assert row.trend == trend


@pytest.mark.parametrize(
    ("text", "kind"),
    [("reship-postage", CostKind.RESHIP_POSTAGE), ("Supplier credit", CostKind.SUPPLIER_CREDIT),
     ("refund", CostKind.REFUND), ("bribe", None)],
)  # fmt: skip
def test_cost_kinds_as_typed(text: str, kind: CostKind | None) -> None:
    assert parse_cost_kind(text) == kind

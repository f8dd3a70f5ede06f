"""Order and case numbers as people type them."""

from __future__ import annotations

import pytest

from core.cases.numbers import find_case_numbers
from core.orders.numbers import find_order_numbers, normalize_order_number


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("AUR-10021", "AUR10021"),
        ("#aur 10021", "AUR10021"),
        ("  ＡＵＲ－１００２１ ", "AUR10021"),  # full-width, as phone keyboards in Asia type it
        ("#1001", "1001"),
        ("nv_5501", "NV5501"),
        ("", ""),
    ],
)
def test_order_numbers_are_matched_forgivingly(typed: str, key: str) -> None:
    assert normalize_order_number(typed) == key


def test_order_numbers_are_found_in_a_sentence_in_order_without_repeats() -> None:
    text = "my order #AUR-10021 arrived broken, like AUR 10021 and nv-5501 before"
    assert find_order_numbers(text) == ["AUR10021", "NV5501"]


def test_a_case_number_is_not_mistaken_for_an_order_number() -> None:
    text = "what about R-2611-0001? it was about order #1001"
    assert find_case_numbers(text) == ["R-2611-0001"]
    assert find_order_numbers(text) == ["1001"]
    assert find_case_numbers("r-2611-0042 and RD-2612-10000") == ["R-2611-0042", "RD-2612-10000"]

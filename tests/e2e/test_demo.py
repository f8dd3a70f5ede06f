"""``returns-desk demo``: the real bot against a fake Telegram on this machine, no token."""

from __future__ import annotations

import dataclasses
import re
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.demo import SAMPLE_ORDERS, _match, shift_dates
from core.orders.formats.detect import iter_orders
from tests.e2e.conftest import SAMPLE_DAY, run_demo

SCRIPT = """\
# a buyer in Spain reports her damaged lamp, then a buyer in Singapore says hello
# (a button pressed before the bot has said anything is refused, not a crash)
[1]
/help
/start
/link AUR-10021
[Devolución]
[1]
[1]
La base llegó rota & 💡 <b>
/album 3
[Listo]
[1]
[Confirmar y enviar]
/cases
/as nobody
1
//help
/as chinese
/start
/quit
/start
"""


def test_the_demo_replays_a_script_as_a_spanish_buyer_then_a_chinese_one(tmp_path: Path) -> None:
    script = tmp_path / "script.txt"
    script.write_text(SCRIPT, encoding="utf-8")
    data_dir = tmp_path / "demo-data"
    printed = run_demo([sys.executable, "-m", "bot"], script, data_dir, cwd=tmp_path, timeout=90)
    transcript = printed.replace("\u00a0", " ").replace("\u202f", " ")

    shift = (datetime.now(UTC).date() - SAMPLE_DAY).days
    assert f"17 sample orders loaded (dates moved by {shift} days)." in transcript
    assert "The samples describe 22 Nov 2026" in transcript  # and why they were moved
    assert "Lucía › [1]\n(no buttons to press in Lucía's private chat with the bot yet)" in (
        transcript
    )
    # /help is the demo's: the bot never hears it (its greeting comes only after /start)
    helped = transcript.split("Lucía › /help\n", 1)[1].split("Lucía › /start\n", 1)[0]
    assert "[1] press button [1]" not in helped and "/as NAME" in helped
    assert "bot ›" not in helped
    assert "¡Hola, Lucía!" in transcript
    assert "Tu pedido AUR-10021 está vinculado" in transcript
    assert "Lo que escribiste: La base llegó rota & 💡 <b>" in transcript
    number = re.search(r"Tu caso (R-\d{4}-0001) está abierto", transcript)
    assert number is not None, transcript
    assert "te reembolsaremos 39,90 €" in transcript
    assert f"✅ {number.group(1)} · Llegó dañado" in transcript  # /cases lists it

    # what the shop receives shows too: the seller's alert and the staff group's
    seller = transcript.split("── to Wang (seller, private chat) · /as wang ──\n", 1)
    assert len(seller) == 2, transcript
    assert seller[1].startswith(f"bot › [album: 3 photos]\nbot › New case {number.group(1)}")
    staff = "── in the staff group of Aurora Home & Living · /as wang + /in staff ──\n"
    assert f"{staff}bot › [album: 3 photos]\nbot › New case {number.group(1)}" in transcript

    # an unknown name is not sent to the bot: the names are listed instead
    nobody = transcript.split("Lucía › /as nobody\n", 1)[1].split("\n", 1)[0]
    assert nobody == (
        "(nobody called “nobody” here /as one of: lucia, liwei, dmitry, fang, pedro, wang, "
        "emma, sam; /who says who is who)"
    )
    # digits are text for the bot (with a word on how to press), //help is the bot's /help
    digits = transcript.split("Lucía › 1\n", 1)[1].split("Lucía › //help\n", 1)
    assert digits[0].startswith("bot › ")
    assert "(sent to the bot as text; to press a button, type [1])" in digits[0]
    assert digits[1].startswith("bot › Toca un botón de abajo o escríbeme")

    chinese = transcript.split(
        "(now talking as 李伟, buyer, in 李伟's private chat with the bot)", 1
    )
    assert len(chinese) == 2, transcript
    assert "李伟 › /start" in chinese[1] and "您好" in chinese[1]
    assert "Hola" not in chinese[1]
    assert transcript.rstrip().endswith("李伟 › /quit")  # nothing after /quit runs

    database = sqlite3.connect(data_dir / "demo.sqlite3")
    try:
        rows = database.execute("SELECT number, description FROM cases").fetchall()
    finally:
        database.close()
    assert rows == [(number.group(1), "La base llegó rota & 💡 <b>")]


def _dates(value: Any) -> list[datetime]:
    """Every datetime in an order, depth first, in field order."""
    if isinstance(value, datetime):
        return [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [d for f in dataclasses.fields(value) for d in _dates(getattr(value, f.name))]
    if isinstance(value, tuple | list):
        return [d for item in value for d in _dates(item)]
    return []


def _without_dates(value: Any) -> Any:
    """The order with every datetime blanked: its shape."""
    if isinstance(value, datetime):
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return tuple(
            (f.name, _without_dates(getattr(value, f.name))) for f in dataclasses.fields(value)
        )
    if isinstance(value, tuple | list):
        return tuple(_without_dates(item) for item in value)
    return value


@pytest.mark.parametrize("days", [0, 1, 45, -30])
def test_shifting_an_order_moves_every_date_and_keeps_its_shape(days: int) -> None:
    orders = list(iter_orders(SAMPLE_ORDERS))
    assert len(orders) == 17
    for order in orders:
        moved = shift_dates(order, timedelta(days=days))
        assert _without_dates(moved) == _without_dates(order), order.number
        before, after = _dates(order), _dates(moved)
        assert len(after) == len(before) and before, order.number
        assert {b - a for a, b in zip(before, after, strict=True)} == {timedelta(days=days)}


def test_a_label_presses_the_button_it_starts_before_one_that_only_holds_it() -> None:
    labels = [
        "📦 Return or refund",
        "📜 Return policy",
        "⚠️ Report a problem",
        "✅ Confirm and send",
    ]
    assert _match("📜 Return policy", labels) == 1  # the exact label
    assert _match("return or", labels) == 0  # the start of one, icons aside
    assert _match("Confirm", labels) == 3
    assert _match("policy", labels) == 1  # else a part of one
    assert _match("Return", labels) == "several buttons hold"
    assert _match("46004", labels) == "no button holds"

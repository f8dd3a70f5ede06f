"""The heart of the product: a buyer reports a damaged item with a photo album."""

from __future__ import annotations

from core.cases.lifecycle import CaseStatus, MoneyStatus
from core.cases.reasons import Reason, Resolution
from core.money import Money
from tests.telegram.conftest import World

LUCIA = 910021


async def test_a_spanish_buyer_reports_a_damaged_lamp_with_an_album(world: World) -> None:
    lucia = world.person(LUCIA, "Lucía", "es")
    payload = await world.start_link("aurora", "AUR-10021")

    await lucia.send(f"/start {payload}")
    assert "AUR-10021" in lucia.last()
    await lucia.press("Devolución o reembolso")
    await lucia.press("AUR-10021")
    assert "¿Qué" in lucia.last()  # one line, one unit: straight to the reason
    await lucia.press("Llegó dañado")
    await lucia.send("La base llegó rota <b>&</b> 💡")
    assert "paquete" in lucia.last()  # the guide asks for the parcel first

    await lucia.send_album(3)
    answers = [m for m in lucia.messages() if "3" in m.get("text", "")]
    assert answers, lucia.seen()
    assert "Listo" in " ".join(lucia.buttons())  # three photos: the minimum is met
    await lucia.press("Listo")
    await lucia.press("Reembolso")
    summary = lucia.last()
    assert "AUR-10021" in summary and "La base llegó rota <b>&</b> 💡" in summary
    assert "39,90" in summary

    await lucia.press("Confirmar")
    opened = lucia.last()
    assert "R-2611-0001" in opened

    [case] = await world.cases_of(LUCIA)
    assert case.number == "R-2611-0001"
    assert case.reason is Reason.DAMAGED
    assert case.description == "La base llegó rota <b>&</b> 💡"
    assert len(case.evidence) == 3 and all(e.sha256 for e in case.evidence)
    assert case.status is CaseStatus.AWAITING_RESOLUTION
    assert case.resolution is Resolution.REFUND and case.money is MoneyStatus.PENDING
    assert case.refund_amount == Money.parse("39.90", "EUR")
    for item in case.evidence:  # the photos outlive Telegram
        assert world.core.evidence.exists(item.sha256)

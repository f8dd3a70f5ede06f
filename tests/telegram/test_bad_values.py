"""Bad values get a clear answer, never a frozen bot or a parked update (issue 12)."""

from __future__ import annotations

import pytest

from bot.views import texts
from core.cases.lifecycle import MoneyStatus
from core.cases.model import Actor
from core.cases.reasons import Resolution
from core.money import Money
from core.services import cases as case_service
from tests.support import Person
from tests.telegram.conftest import CATALOGS, World
from tests.telegram.test_staff import DMITRI, NOVA_SELLER, NOVA_SELLER_2, earbud_case


@pytest.mark.parametrize("typed", ["1e999990", "1e1000000", "9" * 200, "0.0000000000001"])
async def test_an_absurd_refund_amount_gets_the_amount_sentence(world: World, typed: str) -> None:
    seller = world.person(NOVA_SELLER, "Wang", "en")
    number = await earbud_case(world)
    await case_service.approve(world.core, Actor.seller(NOVA_SELLER_2), number, Resolution.REFUND)
    await case_service.mark_goods_received(world.core, Actor.seller(NOVA_SELLER_2), number)
    await seller.send(f"/case {number}")
    await seller.press("Record the refund")

    await seller.send(f"{typed} PAY-1")

    assert seller.last() == "That is not an amount: type it in digits, for example 12.50."
    async with world.core.unit_of_work() as uow:
        case = await uow.cases.get_by_number(number)
    assert case is not None and case.money is MoneyStatus.PENDING
    await seller.send("45.00 PAY-1")  # still asked: a right amount now records it
    async with world.core.unit_of_work() as uow:
        case = await uow.cases.get_by_number(number)
    assert case is not None and case.money is MoneyStatus.REFUNDED
    assert case.refunded_amount == Money.parse("45", "USD")


@pytest.mark.parametrize(
    "data", ["o:99999999999999999999999", "q:1:-99999999999999999999", "w:1e5", "o:", "zz"]
)
async def test_a_forged_button_is_answered_neutrally(world: World, data: str) -> None:
    buyer = world.person(501001, "Mallory", "en")
    await buyer.send("/start")
    sent = world.fake.messages_to(buyer.id)[-1]

    pressed: list[str] = []

    def press() -> None:
        pressed.append(
            world.fake.press(buyer.id, sent["message_id"], data, strict=False)["callback_query"][
                "id"
            ]
        )

    await buyer._act(press)

    answers = [a for a in world.fake.callback_answers if a["callback_query_id"] == pressed[0]]
    assert [a.get("text") for a in answers] == [
        "This button is no longer active. Please use the newest message."
    ]


RU = CATALOGS.get("ru")


async def _adding_photos(world: World) -> tuple[Person, str]:
    """Dmitri opens his earbud case (a video and a photo) and chooses to add more."""
    number = await earbud_case(world)
    await case_service.request_info(
        world.core, Actor.seller(NOVA_SELLER), number, "A photo of the box, please"
    )
    dmitri = world.person(DMITRI, "Дмитрий", "ru")
    await dmitri.send("/cases")
    await dmitri.press(number)
    await dmitri.press(RU("Add photos or videos"))
    assert dmitri.last() == RU("Send the photos or videos now, then press Done.")
    return dmitri, number


async def test_a_huge_file_added_later_is_refused_from_its_size_without_a_download(
    world: World,
) -> None:
    dmitri, number = await _adding_photos(world)

    await dmitri.send_document("earbud.jpg", "image/jpeg", None, size=100 * 1024 * 1024)

    assert dmitri.last() == RU(
        "That file is too large (over {mb} MB). Please send a photo or a shorter video.", mb=20
    )
    async with world.core.unit_of_work() as uow:
        case = await uow.cases.get_by_number(number)
    assert case is not None and len(case.evidence) == 2
    assert not world.fake.calls_to("getFile")  # never fetched


async def test_evidence_added_later_has_the_same_cap_as_at_opening(world: World) -> None:
    dmitri, number = await _adding_photos(world)

    for _ in range(19):  # 2 at opening + 18 fit; the 19th is one too many
        await dmitri.send_photo()

    assert dmitri.last() == texts.too_much_evidence(RU, 20)
    async with world.core.unit_of_work() as uow:
        case = await uow.cases.get_by_number(number)
    assert case is not None and len(case.evidence) == 20

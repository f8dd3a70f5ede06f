"""Every change a buyer should know of reaches them, in their language, within Telegram's
limits, and nothing is sent twice."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.delivery.notifier import Notifier, SendLimits
from core.cases.lifecycle import CaseStatus
from core.cases.model import Actor
from core.cases.reasons import Reason, Resolution
from core.money import Money
from core.policy.decision import Claim
from core.services import cases as case_service
from tests.support import create_fake_bot
from tests.telegram.conftest import CATALOGS, World

LUCIA = 920021
DMITRI = 925501
NOVA_SELLER = 600002
NOVA_SELLER_2 = 600003


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def open_other_case(world: World, buyer: int, number: str) -> case_service.CaseOpened:
    """A case a seller must decide ("something else"), opened through the core."""
    order = await world.order("nova", number)
    opened = await case_service.open_case(
        world.core,
        Actor.buyer(buyer),
        case_service.NewCase(
            order_id=order.id or 0,
            claims=(Claim(1, 1),),
            reason=Reason.OTHER,
            description="Falta un cable & 💡",
        ),
    )
    assert opened.case.status is CaseStatus.AWAITING_SELLER
    return opened


@pytest.fixture
async def sender(world: World) -> AsyncIterator[tuple[Notifier, ManualClock]]:
    clock = ManualClock()
    bot = create_fake_bot(world.fake)
    notifier = Notifier(bot, world.core, CATALOGS, limits=SendLimits(clock=clock, per_second=1e6))
    try:
        yield notifier, clock
    finally:
        await bot.session.close()


async def test_a_seller_decision_reaches_the_buyer_in_spanish_once(
    world: World, sender: tuple[Notifier, ManualClock]
) -> None:
    notifier, clock = sender
    lucia = world.person(LUCIA, "Lucía", "es")
    await lucia.send(f"/start {await world.start_link('nova', 'NV-5506')}")
    opened = await open_other_case(world, LUCIA, "NV-5506")
    before = len(lucia.messages())

    await case_service.approve(
        world.core,
        Actor.seller(NOVA_SELLER),
        opened.case.number,
        Resolution.REFUND,
        refund_amount=Money.parse("3.50", "EUR"),
    )
    assert await notifier.send_due() >= 1
    new = lucia.messages()[before:]
    assert len(new) == 1
    text = new[0]["text"]
    assert opened.case.number in text and "3,50" in text
    assert "aprobado" in text.lower()

    clock.now += 5
    assert await notifier.send_due() == 0  # nothing is sent twice
    assert len(lucia.messages()) == before + 1


async def test_flood_control_is_waited_out_and_the_message_still_arrives(
    world: World, sender: tuple[Notifier, ManualClock]
) -> None:
    notifier, _ = sender
    lucia = world.person(LUCIA, "Lucía", "es")
    await lucia.send(f"/start {await world.start_link('nova', 'NV-5506')}")
    opened = await open_other_case(world, LUCIA, "NV-5506")
    await notifier.send_due()  # the new-case alerts go first
    before = len(lucia.messages())
    await case_service.reject(
        world.core, Actor.seller(NOVA_SELLER), opened.case.number, "Las fotos muestran 3 cables"
    )

    world.fake.fail_next("sendMessage", status=429, retry_after=30)
    await notifier.send_due()
    assert len(lucia.messages()) == before
    async with world.core.unit_of_work() as uow:
        [row] = [
            m
            for m in await uow.outbox.list_for_case(opened.case.id or 0)
            if m.kind == "rejected" and m.recipient_role == "buyer"
        ]
    assert row.status == "pending" and row.attempts == 1 and "429" in (row.last_error or "")

    world.clock.advance(seconds=31)  # the row is due again once retry_after has passed
    assert await notifier.send_due() >= 1
    [rejected] = lucia.messages()[before:]
    assert (
        opened.case.number in rejected["text"]
        and "Las fotos muestran 3 cables" in (rejected["text"])
    )


async def test_a_buyer_who_blocked_the_bot_is_marked_unreachable_and_the_shop_is_told(
    world: World, sender: tuple[Notifier, ManualClock]
) -> None:
    notifier, clock = sender
    lucia = world.person(LUCIA, "Lucía", "es")
    world.person(NOVA_SELLER_2, "Chen", "zh")  # a seller who has started the bot
    await lucia.send(f"/start {await world.start_link('nova', 'NV-5506')}")
    opened = await open_other_case(world, LUCIA, "NV-5506")
    world.fake.block(LUCIA)
    await case_service.approve(
        world.core,
        Actor.seller(NOVA_SELLER),
        opened.case.number,
        Resolution.REFUND,
        refund_amount=Money.parse("3.50", "EUR"),
    )

    for _ in range(3):
        await notifier.send_due()
        clock.now += 5
    async with world.core.unit_of_work() as uow:
        user = await uow.users.get(LUCIA)
        rows = await uow.outbox.list_for_case(opened.case.id or 0)
    assert user is not None and not user.reachable
    assert {(r.kind, r.status) for r in rows if r.recipient_role == "buyer"} >= {
        ("approved", "unreachable")
    }
    alerts = {r.chat_id: r.status for r in rows if r.kind == "buyer_unreachable"}
    assert alerts[NOVA_SELLER_2] == "sent"
    told = world.fake.messages_to(NOVA_SELLER_2)
    assert any(opened.case.number in m.get("text", "") for m in told)


async def test_one_chat_gets_at_most_one_message_a_second_in_order(
    world: World, sender: tuple[Notifier, ManualClock]
) -> None:
    notifier, clock = sender
    lucia = world.person(LUCIA, "Lucía", "es")
    await lucia.send(f"/start {await world.start_link('nova', 'NV-5506')}")
    opened = await open_other_case(world, LUCIA, "NV-5506")
    number = opened.case.number
    seller = Actor.seller(NOVA_SELLER)
    await case_service.request_info(world.core, seller, number, "¿Cuántos cables llegaron?")
    await case_service.add_message(world.core, seller, number, "Gracias por tu paciencia")
    before = len(lucia.messages())

    await notifier.send_due()
    assert len(lucia.messages()) == before + 1  # the second waits for its turn
    await notifier.send_due()
    assert len(lucia.messages()) == before + 1
    clock.now += 1.0
    await notifier.send_due()
    texts = [m["text"] for m in lucia.messages()[before:]]
    assert len(texts) == 2
    assert "¿Cuántos cables llegaron?" in texts[0] and "Gracias por tu paciencia" in texts[1]

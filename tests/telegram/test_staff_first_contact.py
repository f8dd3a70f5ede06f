"""Staff first contact: a seller or agent who sends /start gets the staff greeting (their
shops, what waits for them, how to decide), never the buyer menu; an order's link still reaches
the buyer's flow. Cards and alerts say who is writing to the bot, and in which language, when
that is not plainly the order's buyer."""

from __future__ import annotations

from bot.delivery.notifier import Notifier
from core.cases.lifecycle import CaseStatus
from core.cases.model import Actor, Evidence, EvidenceKind
from core.cases.reasons import Reason, Resolution
from core.policy.decision import Claim
from core.services import cases as case_service
from core.services.staff import invite
from tests.support import Person
from tests.telegram.conftest import World

DMITRI, LI_WEI = 935501, 955502
NOVA_SELLER = 600002  # configured in the sample's shops.toml, never invited
NEWCOMER_AGENT = 711111


async def broken_earbuds(world: World, buyer: Person, order_number: str) -> str:
    """``buyer`` follows the order's link and reports that its first item does not work,
    with a video. Below $30 it is approved at once, else it waits for nova's decision."""
    await buyer.send(f"/start {await world.start_link('nova', order_number)}")
    order = await world.order("nova", order_number)
    video = world.fake.user_video(buyer.id)["message"]["video"]["file_id"]
    world.fake.take_updates()  # the upload only made a file; the bot need not see it
    opened = await case_service.open_case(
        world.core,
        Actor.buyer(buyer.id, buyer.first_name),
        case_service.NewCase(
            order_id=order.id or 0,
            claims=(Claim(1, 1),),
            reason=Reason.DOES_NOT_WORK,
            description="It does not switch on",
            evidence=(Evidence(EvidenceKind.VIDEO, f"vid-{buyer.id}", file_id=video),),
            preferred_resolution=Resolution.REFUND,
        ),
    )
    return opened.case.number


async def status_of(world: World, number: str) -> CaseStatus:
    async with world.core.unit_of_work() as uow:
        case = await uow.cases.get_by_number(number)
    assert case is not None
    return case.status


async def three_cases(world: World) -> None:
    """Two cases wait for nova's decision; a third was approved and its return is on its way."""
    dmitri = world.person(DMITRI, "Дмитрий", "ru")
    li_wei = world.person(LI_WEI, "李伟", "zh-hans")
    waiting = [
        await broken_earbuds(world, dmitri, "NV-5501"),  # $45
        await broken_earbuds(world, li_wei, "NV-5505"),  # $35
    ]
    travelling = await broken_earbuds(world, dmitri, "NV-5502")  # $8.99: approved at once
    await case_service.mark_return_shipped(world.core, Actor.buyer(DMITRI), travelling, "DHL 1")
    assert [await status_of(world, n) for n in waiting] == [CaseStatus.AWAITING_SELLER] * 2
    assert await status_of(world, travelling) is CaseStatus.RETURN_IN_TRANSIT


def is_buyer_menu(person: Person) -> bool:
    menu = "Return or refund" in " ".join(person.buttons())
    return menu or "I am the customer service assistant" in person.last()


async def test_a_configured_seller_gets_the_staff_greeting_with_what_waits(
    world: World,
) -> None:
    await three_cases(world)
    seller = world.person(NOVA_SELLER, "Wang", "en")

    await seller.send("/start")

    greeting = seller.last()
    assert not is_buyer_menu(seller)
    assert "You are a seller for Nova Gadgets." in greeting
    assert "3 open cases:" in greeting
    assert "Waiting for the shop's decision: 2" in greeting
    assert "Return parcel on its way: 1" in greeting
    assert "/case" in greeting and "/export" in greeting and "/cases" in greeting


async def test_an_invited_agent_gets_the_staff_greeting_too(world: World) -> None:
    await three_cases(world)
    agent = world.person(NEWCOMER_AGENT, "Sam", "en")
    await agent.send(f"/start {(await invite(world.core, ['nova'], 'agent')).token}")
    assert "You are now a support agent" in agent.last()  # the invitation still works

    await agent.send("/start")

    greeting = agent.last()
    assert not is_buyer_menu(agent)
    assert "You are a support agent for" in greeting and "Nova Gadgets" in greeting
    assert "Waiting for the shop's decision: 2" in greeting
    assert "Return parcel on its way: 1" in greeting
    assert "/take" in greeting and "/handback" in greeting


async def test_a_seller_with_nothing_waiting_is_told_so(world: World) -> None:
    seller = world.person(NOVA_SELLER, "Wang", "en")
    await seller.send("/start")
    assert "You are a seller for Nova Gadgets." in seller.last()
    assert "No open cases." in seller.last()


async def test_an_orders_link_from_a_seller_still_reaches_the_buyer_flow(world: World) -> None:
    seller = world.person(NOVA_SELLER, "Wang", "en")  # a seller who bought something too
    await seller.send(f"/start {await world.start_link('aurora', 'AUR-10025')}")
    assert "Your order AUR-10025 is linked to this chat." in seller.last()
    assert "Return or refund" in " ".join(seller.buttons())


async def test_staff_see_who_writes_and_in_which_language_when_not_the_orders_buyer(
    world: World, notifier: Notifier
) -> None:
    seller = world.person(NOVA_SELLER, "Wang", "en")
    await seller.send("/cases")  # the bot learns the seller's language
    li_wei = world.person(LI_WEI, "李伟", "zh-hans")  # writes for Дмитрий Петров (RU, ru)
    number = await broken_earbuds(world, li_wei, "NV-5501")

    await notifier.send_due()
    alert = seller.last()
    assert f"New case {number}" in alert
    assert "Buyer: Дмитрий Петров (RU, ru) · writing: 李伟, in Chinese (zh)" in alert

    await seller.send(f"/case {number}")
    assert "Buyer: Дмитрий Петров (RU, ru) · writing: 李伟, in Chinese (zh)" in seller.last()


async def test_the_orders_own_buyer_is_named_once(world: World, notifier: Notifier) -> None:
    seller = world.person(NOVA_SELLER, "Wang", "en")
    dmitri = world.person(DMITRI, "Дмитрий", "ru")  # Дмитрий Петров, RU, ru: the same person
    number = await broken_earbuds(world, dmitri, "NV-5501")

    await notifier.send_due()
    assert "Buyer: Дмитрий Петров (RU, ru)" in seller.last()
    assert f"New case {number}" in seller.last()
    assert "writing:" not in seller.last()
    await seller.send(f"/case {number}")
    assert "writing:" not in seller.last()
    assert number in seller.last() and "Buyer: Дмитрий Петров (RU, ru)" in seller.last()

"""A return on its way back is never lost to a timer: the buyer says they posted it, the case
waits on the carrier for the configured transit time, and the shop receives it and refunds.
Staff reach "parcel lost", "refund failed" and "cancel" from the buttons too."""

from __future__ import annotations

from datetime import timedelta

from bot.delivery.notifier import Notifier
from core.cases.lifecycle import CaseStatus, GoodsStatus, MoneyStatus
from core.cases.model import Actor
from core.money import Money
from core.services import cases as case_service
from tests.support import Person
from tests.telegram.conftest import World

ANNA = 920024
AURORA_SELLER = 600001


async def stored(world: World):
    [case] = await world.cases_of(ANNA)
    return case


async def approved_return(world: World) -> tuple[Person, Person]:
    """Anna changes her mind about four cushion covers: approved at once, to be sent back."""
    seller = world.person(AURORA_SELLER, "Wang", "en")
    await seller.send("/cases")  # the bot learns the seller's language
    anna = world.person(ANNA, "Anna", "en")
    await anna.send(f"/start {await world.start_link('aurora', 'AUR-10024')}")
    await anna.press("Return or refund")
    await anna.press("AUR-10024")
    await anna.press("Velvet cushion cover")
    await anna.press("Continue")
    await anna.press("4")
    await anna.press("Changed my mind")
    await anna.press("Skip")
    await anna.press("Done")
    await anna.press("Refund")
    await anna.press("Confirm and send")
    case = await stored(world)
    assert case.status is CaseStatus.AWAITING_RETURN and case.money is MoneyStatus.PENDING
    assert "I've sent it" in " ".join(anna.buttons())
    return anna, seller


def new_texts(person: Person, before: int) -> list[str]:
    return person.seen()[before:]


async def trail(world: World, number: str) -> list[tuple[str, str | None]]:
    """The case's audit trail as the shop reads it: (action, note) per line."""
    view = await case_service.get_case(world.core, Actor.seller(AURORA_SELLER), number)
    return [(event.action, event.note) for event in view.timeline]


async def test_a_change_of_mind_return_travels_for_20_days_and_ends_refunded(
    world: World, notifier: Notifier
) -> None:
    anna, seller = await approved_return(world)
    number = (await stored(world)).number
    await notifier.send_due()
    # the alert, with its buttons (the supplier claim opened on approval is noticed after it)
    [alert] = [m for m in seller.messages() if f"New case {number}" in m.get("text", "")]
    labels = [b["text"] for row in alert["reply_markup"]["inline_keyboard"] for b in row]
    assert "Mark the return as sent" in " ".join(labels)

    # two days later Anna posts it and says so, with the carrier and tracking number
    world.clock.advance(days=2)
    await anna.press("I've sent it")
    assert "tracking number" in anna.last()
    await anna.send("DHL 00340434161234567890")
    assert "postage receipt" in anna.last()
    await anna.send_photo()
    assert "is on its way" in anna.last() and number in anna.last()
    case = await stored(world)
    assert case.status is CaseStatus.RETURN_IN_TRANSIT and case.goods is GoodsStatus.IN_TRANSIT
    assert case.return_tracking == "DHL 00340434161234567890"
    assert len(case.evidence) == 1  # the receipt is evidence
    assert case.deadline_at == world.clock.now() + timedelta(days=45)
    await notifier.send_due()
    assert seller.last().startswith(f"Case {number}: the return is on its way")
    assert "Tracking: DHL 00340434161234567890" in seller.last()

    # 20 days on the clock: past the 14 days to send it, but it is on its way
    world.clock.advance(days=20)
    await case_service.run_timers(world.core)
    await case_service.send_reminders(world.core)
    await notifier.send_due()
    case = await stored(world)
    assert case.status is CaseStatus.RETURN_IN_TRANSIT and case.money is MoneyStatus.PENDING

    # the seller marks it received, then records the refund, from the alert's buttons
    before = len(anna.seen())
    await seller.press("Goods received")
    assert (await stored(world)).status is CaseStatus.AWAITING_RESOLUTION
    await notifier.send_due()
    assert any("received your return" in text for text in new_texts(anna, before))
    await seller.press("Record the refund")
    await seller.send("27.60 SEPA-1")
    case = await stored(world)
    assert case.status is CaseStatus.RESOLVED and case.money is MoneyStatus.REFUNDED
    assert case.refunded_amount == Money.parse("27.60", "EUR")
    assert case.refund_reference == "SEPA-1"
    await notifier.send_due()
    told = new_texts(anna, before)
    assert any("27.60" in text and "refunded" in text for text in told), told
    view = await case_service.get_case(world.core, Actor.seller(AURORA_SELLER), number)
    actions = [e.action for e in view.timeline]
    assert actions == [
        "open",
        "approve",
        "evidence_added",
        "return_shipped",
        "goods_received",
        "refund_recorded",
    ]
    assert "expire" not in actions and case.status is not CaseStatus.CANCELLED
    refund = view.timeline[-1]
    assert refund.actor_id == AURORA_SELLER
    assert refund.data == {"amount": Money.parse("27.60", "EUR").as_dict(), "reference": "SEPA-1"}


async def test_a_return_overdue_is_put_in_front_of_the_shop_not_closed(
    world: World, notifier: Notifier
) -> None:
    anna, seller = await approved_return(world)
    await anna.press("I've sent it")
    await anna.press("Skip")
    await anna.press("Skip")
    case = await stored(world)
    assert case.status is CaseStatus.RETURN_IN_TRANSIT and case.return_tracking is None

    world.clock.advance(days=44)  # a day before the transit deadline: the shop is reminded
    assert await case_service.send_reminders(world.core) >= 1
    assert await case_service.send_reminders(world.core) == 0  # once per waiting period
    world.clock.advance(days=2)
    done = await case_service.run_timers(world.core)
    assert done["return_overdue"] == 1 and done["expired"] == 0
    assert (await case_service.run_timers(world.core))["return_overdue"] == 0  # told once
    await notifier.send_due()
    assert any("should have arrived by now" in text for text in seller.seen())
    case = await stored(world)
    assert case.status is CaseStatus.RETURN_IN_TRANSIT  # the goods may still arrive
    assert [action for action, _ in await trail(world, case.number)].count("return_overdue") == 1

    # the carrier confirms the loss: the buyer sent it, so the refund stands
    before = len(anna.seen())
    await seller.press("Return parcel lost")
    await seller.send("Carrier: lost in the sorting centre")
    case = await stored(world)
    assert case.status is CaseStatus.AWAITING_RESOLUTION and case.goods is GoodsStatus.LOST
    assert case.money is MoneyStatus.PENDING
    assert (await trail(world, case.number))[-1] == (
        "goods_lost",
        "Carrier: lost in the sorting centre",
    )
    await notifier.send_due()
    assert any("seems to be lost" in text for text in new_texts(anna, before))


async def test_a_failed_refund_and_a_staff_cancel_are_buttons_and_the_buyer_reads_them(
    world: World, notifier: Notifier
) -> None:
    anna, seller = await approved_return(world)
    number = (await stored(world)).number
    await case_service.mark_goods_received(world.core, Actor.seller(AURORA_SELLER), number)
    await seller.send(f"/case {number}")
    before = len(anna.seen())

    await seller.press("Refund failed")
    await seller.send("IBAN rejected by the bank")
    case = await stored(world)
    assert case.money is MoneyStatus.FAILED and case.status is CaseStatus.AWAITING_RESOLUTION
    assert (await trail(world, number))[-1] == ("refund_failed", "IBAN rejected by the bank")
    await notifier.send_due()
    assert any("could not be paid out" in text for text in new_texts(anna, before))

    await seller.press("Cancel the case")
    await seller.send("We agreed by e-mail to keep the covers at a discount")
    case = await stored(world)
    assert case.status is CaseStatus.CANCELLED and case.money is MoneyStatus.NONE
    assert (await trail(world, number))[-1] == (
        "cancel",
        "We agreed by e-mail to keep the covers at a discount",
    )
    await notifier.send_due()
    assert any(
        "closed by the shop: We agreed by e-mail to keep the covers at a discount" in text
        for text in new_texts(anna, before)
    )

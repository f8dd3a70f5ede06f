"""/dispute R-…: a seller records a platform dispute on a case of their shop and sees its
deadlines with a countdown (in the reply, on the card, in /cases); reminders reach the
sellers through the outbox; every bad input gets its words, and another shop's case gets
the words of a case that does not exist."""

from __future__ import annotations

from bot.conversations.buyer.dispute_report import DisputeCb
from bot.views import texts
from core.cases.model import Actor, Evidence, EvidenceKind
from core.cases.reasons import Reason, Resolution
from core.errors import NotFound
from core.policy.decision import Claim
from core.services import cases as case_service
from core.services import disputes as dispute_service
from tests.support import create_fake_bot
from tests.telegram.conftest import CATALOGS, World, asks_for_a_person, unpaced_notifier

LUCIA = 930021  # AUR-10021, the damaged lamp
AURORA_SELLER = 600001
NOVA_SELLER = 600002
EN = CATALOGS.get("en")


async def lamp_case(world: World, language: str = "es") -> str:
    """Lucia follows AUR-10021's link and reports the lamp damaged, with three photos."""
    lucia = world.person(LUCIA, "Lucía", language)
    await lucia.send(f"/start {await world.start_link('aurora', 'AUR-10021')}")
    order = await world.order("aurora", "AUR-10021")
    opened = await case_service.open_case(
        world.core,
        Actor.buyer(LUCIA),
        case_service.NewCase(
            order_id=order.id or 0,
            claims=(Claim(1, 1),),
            reason=Reason.DAMAGED,
            description="La lámpara llegó rota",
            evidence=tuple(
                Evidence(EvidenceKind.PHOTO, f"lamp-{n}", file_id=f"lamp-file-{n}")
                for n in range(3)
            ),
            preferred_resolution=Resolution.REFUND,
        ),
    )
    return opened.case.number


def text_of(messages: list[dict]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


async def test_a_seller_records_an_aliexpress_dispute_and_sees_its_deadlines(
    world: World,
) -> None:
    number = await lamp_case(world)
    seller = world.person(AURORA_SELLER, "Wang", "en")

    answer = text_of(
        await seller.send(f"/dispute {number} aliexpress 8123456789 opened 2026-11-20")
    )

    assert f"Dispute recorded on case {number}." in answer
    assert "Dispute: AliExpress 8123456789, opened" in answer
    # opened on 20 November at midnight in China: 5 days to answer, 7 before AliExpress steps in
    assert "the seller's answer: in 2 d 4 h" in answer
    assert "then the buyer's proposal is carried out" in answer
    assert "the platform steps in: in 4 d 4 h" in answer
    stored = await dispute_service.of_case(world.core, Actor.seller(AURORA_SELLER), number)
    assert [(d.platform, d.external_id, d.stage) for d in stored] == [
        ("aliexpress", "8123456789", "opened")
    ]
    # the same again: nothing doubled, said so
    again = text_of(await seller.send(f"/dispute {number} aliexpress 8123456789 opened 2026-11-20"))
    assert f"This dispute is already on case {number}." in again
    assert len(await dispute_service.of_case(world.core, Actor.seller(AURORA_SELLER), number)) == 1
    # the card and the queue show the countdown
    card = text_of(await seller.send(f"/case {number}"))
    assert "Dispute: AliExpress 8123456789" in card and "in 2 d 4 h" in card
    assert "Platform dispute recorded" in card  # the history
    queue = text_of(await seller.send("/cases"))
    assert f"{number}" in queue and "⚖️ 2 d 4 h" in queue
    # /dispute with the case alone lists its disputes
    listed = text_of(await seller.send(f"/dispute {number}"))
    assert "Dispute: AliExpress 8123456789" in listed


async def test_a_chargeback_needs_its_due_date_and_a_stage_can_move(world: World) -> None:
    number = await lamp_case(world)
    seller = world.person(AURORA_SELLER, "Wang", "en")

    missing = text_of(await seller.send(f"/dispute {number} shopify CB-1"))
    assert "A chargeback needs the evidence due date" in missing
    recorded = text_of(await seller.send(f"/dispute {number} shopify CB-1 --due 2026-11-30"))
    assert "Dispute: Shopify Payments chargeback CB-1" in recorded
    assert "the evidence is due: in 8 d 11 h" in recorded
    moved = text_of(await seller.send(f"/dispute {number} shopify CB-1 stage submitted"))
    assert "No deadline ahead." in moved


async def test_bad_input_gets_clear_words_and_changes_nothing(world: World) -> None:
    number = await lamp_case(world)
    seller = world.person(AURORA_SELLER, "Wang", "en")
    other = world.person(NOVA_SELLER, "Emma", "en")

    usage = text_of(await seller.send("/dispute"))
    assert "Record a dispute with the case number" in usage
    assert "Record a dispute" in text_of(await seller.send(f"/dispute {number} aliexpress"))
    assert "Record a dispute" in text_of(
        await seller.send(f"/dispute {number} aliexpress 1 opened")
    )
    unknown = text_of(await seller.send(f"/dispute {number} wish 123"))
    assert "Unknown platform wish. Known: aliexpress, amazon, ebay, paypal" in unknown
    bad_date = text_of(await seller.send(f"/dispute {number} aliexpress 1 opened 2026-02-30"))
    assert "That is not a date in the past" in bad_date
    future = text_of(await seller.send(f"/dispute {number} aliexpress 1 opened 2027-01-01"))
    assert "That is not a date in the past" in future
    stage = text_of(await seller.send(f"/dispute {number} aliexpress 1 stage won"))
    assert "Unknown stage won. This platform's stages: opened, return_agreed" in stage
    # another shop's seller: the words of a case that does not exist
    not_found = texts.error(EN, NotFound("no such case", code="case_not_found"))
    assert text_of(await other.send(f"/dispute {number} aliexpress 1")) == not_found
    assert text_of(await other.send("/dispute R-2611-9999 aliexpress 1")) == not_found
    # nothing was recorded by any of it
    assert await dispute_service.of_case(world.core, Actor.seller(AURORA_SELLER), number) == []


async def test_the_sellers_are_reminded_and_the_agents_called_when_it_is_missed(
    world: World,
) -> None:
    number = await lamp_case(world)
    seller = world.person(AURORA_SELLER, "Wang", "en")
    await seller.send(f"/dispute {number} amazon A2Z-9 opened 2026-11-22T01:00")
    bot = create_fake_bot(world.fake)
    notifier = unpaced_notifier(bot, world)
    try:
        await notifier.send_due()
        before = len(world.fake.messages_to(AURORA_SELLER))
        # 72 hours after 01:00 in Los Angeles (09:00 UTC): 25 November, 09:00 UTC
        world.clock.at = world.clock.at.replace(day=23, hour=9, minute=30)
        assert (await dispute_service.run_timers(world.core))["dispute_reminders"] == 1
        assert (await dispute_service.run_timers(world.core))["dispute_reminders"] == 0
        await notifier.send_due()
        [reminder] = [
            m for m in world.fake.messages_to(AURORA_SELLER)[before:] if "dispute" in m["text"]
        ]
        assert "a dispute deadline comes in 48 hours" in reminder["text"]
        assert "Dispute: Amazon A-to-z Guarantee A2Z-9" in reminder["text"]
        assert "Deadline: the seller's answer" in reminder["text"]
        world.clock.advance(hours=48)  # past the deadline: the agents are called, once
        assert (await dispute_service.run_timers(world.core))["dispute_missed"] == 1
        assert (await dispute_service.run_timers(world.core))["dispute_missed"] == 0
        await notifier.send_due()
        alerts = [m["text"] for m in world.fake.messages_to(AURORA_SELLER)[before + 1 :]]
        assert any("a dispute deadline was missed" in t for t in alerts)
        assert any("On the platform, now: Amazon decides" in t for t in alerts)
        case = (await world.cases_of(LUCIA))[0]
        assert case.escalated
    finally:
        await bot.session.close()


async def test_a_buyer_who_mentions_a_dispute_is_asked_for_the_platform_and_its_id(
    world: World,
) -> None:
    number = await lamp_case(world, "en")
    lucia = world.person(LUCIA, "Lucia", "en")
    await lucia.send("/cases")
    await lucia.press(number)
    await lucia.press("Add a message")

    await lucia.send("I opened a dispute on AliExpress because nobody answered")

    assert lucia.last().startswith(f"Have you opened a dispute about case {number}")
    assert lucia.buttons() == [
        "AliExpress",
        "Amazon A-to-z Guarantee",
        "eBay Money Back Guarantee",
        "PayPal",
        "No, I have not opened one",
    ]  # no chargeback: its due date is the processor's, for the shop to record
    # nor through a forged button: the buyer is not asked for the chargeback's id
    sent = lucia.last_message()
    forged = DisputeCb(number=number, platform="shopify_payments").pack()
    await lucia._act(lambda: world.fake.press(LUCIA, sent["message_id"], forged, strict=False))
    assert lucia.last() == "That choice is no longer available."
    await lucia.press("AliExpress")
    assert lucia.last() == "Type the dispute's number as AliExpress shows it."
    await lucia.send("not a number!")
    assert lucia.last() == "Please type the number only, with its letters and digits, as shown."
    await lucia.send("8123456789")
    assert lucia.last() == (
        f"Thank you: the dispute 8123456789 is now part of case {number}, and the shop sees it."
    )
    stored = await dispute_service.of_case(world.core, Actor.buyer(LUCIA), number)
    assert [(d.platform, d.external_id, d.recorded_by) for d in stored] == [
        ("aliexpress", "8123456789", LUCIA)
    ]
    # a message without those words is just added
    await lucia.press("Main menu")
    await lucia.send("/cases")
    await lucia.press(number)
    await lucia.press("Add a message")
    await lucia.send("The base is cracked in two places")
    assert lucia.last() == f"Your message was added to case {number}. The shop will see it."


async def test_the_case_card_offers_to_record_a_dispute(world: World) -> None:
    number = await lamp_case(world)
    seller = world.person(AURORA_SELLER, "Wang", "en")
    await seller.send(f"/case {number}")

    await seller.press("Record a platform dispute")
    assert seller.last() == f"Case {number}: on which platform was the dispute opened?"
    await seller.press("PayPal")
    assert seller.last().startswith("Type the dispute's id on PayPal and the day it opened")
    await seller.send("PP-D-77 2026-13-01")
    assert "That is not a date in the past" in seller.last()
    await seller.send("PP-D-77 2026-11-21")  # the question is still open: typed again
    assert f"Dispute recorded on case {number}." in seller.last()
    # PayPal counts in Los Angeles: opened at its midnight, 08:00 UTC; 20 days to escalate
    assert "the dispute may become a claim: in 18 d 20 h" in seller.last()
    stored = await dispute_service.of_case(world.core, Actor.seller(AURORA_SELLER), number)
    assert [d.external_id for d in stored] == ["PP-D-77"]


async def test_the_agents_topic_name_counts_down_to_the_nearest_deadline(world: World) -> None:
    agents_chat = -1009000000001
    bot = create_fake_bot(world.fake)
    world.fake.add_group(agents_chat, "Returns Desk agents", is_forum=True)
    buyer = world.person(931234, "João", "pt")
    case = await asks_for_a_person(world, buyer, "O carregador parece falso")
    notifier = unpaced_notifier(bot, world, agents_chat)
    try:
        await notifier.send_due()
        seller = world.person(NOVA_SELLER, "Emma", "en")
        await seller.send(f"/dispute {case.number} ebay EB-55 opened 2026-11-20")
        await notifier.send_due()
        names = [
            m.get("forum_topic_created", m.get("forum_topic_edited", {})).get("name")
            for m in world.fake.history(agents_chat)
        ]
        names = [n for n in names if n]
        assert case.number in names[0] and "⚖️" not in names[0]
        # eBay: 3 business days from Friday 20 November, Los Angeles: Wednesday 25th, 08:00 UTC
        assert names[-1].endswith("· ⚖️ 2 d 20 h"), names
    finally:
        await bot.session.close()

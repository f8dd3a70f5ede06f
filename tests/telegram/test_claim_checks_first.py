"""What can be known early is said early, and the photo step says only what is true.

- A buyer whose claim was rejected, whose item is in an open case, or whose items were all
  refunded is told right after choosing the items: not after the story, the photos, the outcome
  and the summary. "Talk to a person" then reaches a person about that very claim.
- The reason menu follows where the parcel is: no "Arrived damaged" for a parcel still on its
  way, cancel or a new address before it ships.
- At the photo step, "press Done" only when Done is there, and the count is said once.
"""

from __future__ import annotations

import dataclasses

from core.cases.lifecycle import CaseStatus
from core.cases.model import Actor, Evidence, EvidenceKind
from core.cases.reasons import Reason, Resolution
from core.orders.numbers import normalize_order_number
from core.policy.decision import Claim
from core.services import cases as case_service
from tests.support import Person
from tests.telegram.conftest import World

AURORA_SELLER = Actor.seller(600001)
PILLOWCASES = "Linen pillowcase, sage × 2"
GENERIC = "Sorry, that did not work"
LATER_STEPS = (
    "How many",
    "What happened?",
    "Please describe",
    "Would you like to add a few words",
    "Please send a photo",
    "What would you prefer?",
    "Please check your request",
)


async def linked(world: World, user_id: int, name: str, number: str) -> Person:
    person = world.person(user_id, name, "en")
    await person.send(f"/start {await world.start_link('aurora', number)}")
    assert number in person.last()
    return person


async def pillowcases_case(world: World, user_id: int) -> str:
    """A "something else" case about the two pillowcases of AUR-10022, for the shop to decide."""
    order = await world.order("aurora", "AUR-10022")
    assert order.id is not None
    opened = await case_service.open_case(
        world.core,
        Actor.buyer(user_id),
        case_service.NewCase(
            order_id=order.id,
            claims=(Claim(2, 2),),
            reason=Reason.OTHER,
            description="The pillowcases shrank after one wash",
            evidence=(Evidence(EvidenceKind.PHOTO, "shrunk-uniq", file_id="shrunk-file"),),
            preferred_resolution=Resolution.REFUND,
        ),
    )
    assert opened.case.status is CaseStatus.AWAITING_SELLER
    return opened.case.number


async def choose_the_pillowcases_again(marie: Person) -> int:
    """Start a return and pick the pillowcases; the number of messages seen before."""
    await marie.press("Return or refund")
    await marie.press("AUR-10022")
    before = len(marie.seen())
    await marie.press(f"⬜ {PILLOWCASES}")
    await marie.press("Continue")
    return before


def said_since(person: Person, before: int) -> str:
    return "\n".join(person.seen()[before:])


# ── checks made before the work ────────────────────────────────────────────────────────────


async def test_a_rejected_claim_is_said_right_after_choosing_the_item_and_a_person_reviews_it(
    world: World,
) -> None:
    marie = await linked(world, 950001, "Marie", "AUR-10022")
    number = await pillowcases_case(world, 950001)
    await case_service.reject(world.core, AURORA_SELLER, number, "Washing at 90 °C shrinks linen")

    before = await choose_the_pillowcases_again(marie)

    refusal = marie.last()
    assert not refusal.startswith(GENERIC), refusal
    assert number in refusal  # which claim was decided
    assert marie.buttons() == ["🙋 Talk to a person", "🏠 Main menu"]
    assert not [step for step in LATER_STEPS if step in said_since(marie, before)]
    assert [c.number for c in await world.cases_of(950001)] == [number]  # nothing new stored

    await marie.press("🙋 Talk to a person")  # the rejected case goes to a person for review
    [reviewed] = await world.cases_of(950001)
    assert reviewed.number == number
    assert reviewed.status is CaseStatus.AWAITING_AGENT and reviewed.escalated


async def test_an_item_in_an_open_case_is_said_before_the_reason_and_a_person_takes_that_case(
    world: World,
) -> None:
    marie = await linked(world, 950002, "Marie", "AUR-10022")
    number = await pillowcases_case(world, 950002)

    before = await choose_the_pillowcases_again(marie)

    assert not marie.last().startswith(GENERIC), marie.last()
    assert "already part of an open case" in marie.last()
    assert "🙋 Talk to a person" in marie.buttons()
    assert not [step for step in LATER_STEPS if step in said_since(marie, before)]

    await marie.press("🙋 Talk to a person")
    [escalated] = await world.cases_of(950002)
    assert escalated.number == number and escalated.escalated
    assert escalated.status is CaseStatus.AWAITING_AGENT


async def test_items_already_refunded_are_said_right_after_choosing_them(world: World) -> None:
    marie = await linked(world, 950003, "Marie", "AUR-10022")
    order = await world.order("aurora", "AUR-10022")
    refunded = dataclasses.replace(order.lines[1], refunded_quantity=2)  # both pillowcases
    async with world.core.unit_of_work() as uow:
        await uow.orders.upsert(
            dataclasses.replace(order, lines=(order.lines[0], refunded)),
            normalize_order_number(order.number),
        )
        await uow.commit()

    before = await choose_the_pillowcases_again(marie)

    assert not marie.last().startswith(GENERIC), marie.last()
    assert "🙋 Talk to a person" in marie.buttons()
    assert not [step for step in LATER_STEPS if step in said_since(marie, before)]
    assert await world.cases_of(950003) == []

    await marie.press("🙋 Talk to a person")  # "something is wrong": a person looks at it
    [asked] = await world.cases_of(950003)
    assert asked.reason is Reason.OTHER and asked.status is CaseStatus.AWAITING_AGENT


async def test_a_whole_order_change_on_a_rejected_cancellation_is_refused_at_once(
    world: World,
) -> None:
    olga = await linked(world, 950004, "Olga", "AUR-10027")
    order = await world.order("aurora", "AUR-10027")
    assert order.id is not None
    opened = await case_service.open_case(
        world.core,
        Actor.buyer(950004),
        case_service.NewCase(
            order_id=order.id,
            claims=(Claim(1, 1),),
            reason=Reason.CANCEL_ORDER,
            preferred_resolution=Resolution.CANCEL,
        ),
    )
    await case_service.reject(world.core, AURORA_SELLER, opened.case.number, "Already packed")

    await olga.press("✏️ Change or cancel an order")
    await olga.press("AUR-10027 · Jute table runner, 180 cm")

    assert opened.case.number in olga.last()
    assert "What would you like to change?" not in olga.last()
    assert "🙋 Talk to a person" in olga.buttons()
    [only] = await world.cases_of(950004)  # nothing new stored, the rejection stands
    assert only.number == opened.case.number and only.status is CaseStatus.REJECTED


# ── the reasons follow the parcel ──────────────────────────────────────────────────────────


async def test_a_parcel_still_on_its_way_offers_not_received_and_never_arrived_damaged(
    world: World,
) -> None:
    joao = await linked(world, 950005, "João", "AUR-10023")
    await joao.press("Return or refund")
    await joao.press("AUR-10023")

    assert joao.last() == "Your parcel has not been delivered yet.\n\nWhat happened?"
    assert joao.buttons() == ["Not received", "Something else", "⬅️ Back", "✖️ Cancel"]
    await joao.press("Something else")  # open for a person, but no "you keep the item"
    await joao.send("The tracking says it went back to China")
    await joao.press("Done")
    await joao.press("Refund")
    summary = joao.last()
    assert "Please check your request:" in summary
    assert "keep the item" not in summary and "you keep it" not in summary


async def test_an_order_not_shipped_yet_offers_to_cancel_it_from_the_return_menu(
    world: World,
) -> None:
    olga = await linked(world, 950006, "Olga", "AUR-10027")
    await olga.press("Return or refund")
    await olga.press("AUR-10027")

    assert olga.last() == (
        "Your order has not shipped yet. You can cancel the order instead.\n\nWhat happened?"
    )
    assert olga.buttons() == [
        "Cancel the order",
        "Change the delivery address",
        "⬅️ Back",
        "✖️ Cancel",
    ]
    await olga.press("Cancel the order")
    assert "Please check your request:" in olga.last()
    await olga.press("Confirm and send")
    [case] = await world.cases_of(950006)
    assert case.reason is Reason.CANCEL_ORDER and case.status is CaseStatus.AWAITING_SELLER


# ── the photo step ─────────────────────────────────────────────────────────────────────────


async def test_the_photo_step_offers_done_only_when_it_is_there_and_counts_once(
    world: World,
) -> None:
    lucia = await linked(world, 950007, "Lucía", "AUR-10021")
    await lucia.press("Return or refund")
    await lucia.press("AUR-10021")
    await lucia.press("Arrived damaged")
    await lucia.press("Skip")

    await lucia.send_sticker()  # no Done button yet: not "or press Done"
    assert lucia.last() == "Please send photos or a video here.\nStill needed: 3 more photos."
    assert "✅ Done" not in lucia.buttons()

    await lucia.send_photo()
    assert lucia.last().count("Received") == 1
    assert "Received 1 of at least 3." in lucia.last()

    await lucia.send_album(2)
    assert lucia.last().count("Received") == 1, lucia.last()
    assert "Received 3 of at least 3." in lucia.last()
    assert "✅ Done" in lucia.buttons()

    await lucia.send_sticker()  # Done is there now: it may be named
    assert lucia.last() == "Please send photos or a video here, or press Done."
    assert "✅ Done" in lucia.buttons()


async def test_optional_photos_are_counted_once_with_the_way_on(world: World) -> None:
    anna = await linked(world, 950008, "Anna", "AUR-10024")
    await anna.press("Return or refund")
    await anna.press("AUR-10024")
    await anna.press("Velvet cushion cover")
    await anna.press("Continue")
    await anna.press("4")
    await anna.press("Changed my mind")
    await anna.press("Skip")
    assert "Send them, or press Done." in anna.last()  # photos are optional: Done is there

    await anna.send_album(2)

    assert anna.last() == "Received 2 photos or videos.\nSend more if you like, or press Done."
    assert "✅ Done" in anna.buttons()

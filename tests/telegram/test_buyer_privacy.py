"""Buyers see only their own: each attack of issue 11 ("Buyers see only their own"), replayed
through the bot, update by update.

- A stranger who links AUR-10026 with the postal code printed on its parcel label reads and
  withdraws nothing of the owner's case: not in "My cases", not by typing the number, not with
  a forged button; the answers are those for a number that does not exist.
- The owner is told when another account links their order, and how it proved it.
- The stranger's address change or cancellation waits for the seller, whatever the policy
  would approve on its own; the alert and the card say which account and which proof.
- The order check: unknown commands at the check are no answer and cost no attempt; in a
  group, no buyer flow starts.
- A seller gets the same words for another shop's case and for a number that does not exist;
  the evidence pack names staff by role and name, not by Telegram id.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.conversations.callbacks import CaseCb
from bot.delivery.notifier import Notifier, SendLimits
from bot.factory import create_dispatcher
from core.cases.lifecycle import CaseStatus
from core.cases.model import Actor, Case
from core.cases.reasons import Reason
from core.policy.config import ReasonRule
from core.policy.decision import Claim
from core.services import cases as case_service
from core.services.context import CoreContext
from tests.support import FeedDriver, Person, create_fake_bot
from tests.telegram.conftest import CATALOGS, World

LUCIA = 930021  # AUR-10021's buyer
AHMED = 930026  # AUR-10026's buyer
OLGA = 930027  # AUR-10027's buyer (paid, not shipped yet)
MALLORY = 930666  # a stranger holding the parcel label
AURORA_SELLER = 600001
NOVA_SELLER = 600002
AURORA_STAFF_CHAT = -1001000000001
WORDS = "The lamp flickers. Refund to my IBAN AE07 0331 2345 6789 0123 456 please"
NO_CASE = "I cannot find that case among yours."


async def ahmeds_case(world: World) -> tuple[Person, Case]:
    """Ahmed follows the link of his order e-mail and opens a case with his bank details."""
    ahmed = world.person(AHMED, "Ahmed", "en")
    await ahmed.send(f"/start {await world.start_link('aurora', 'AUR-10026')}")
    order = await world.order("aurora", "AUR-10026")
    opened = await case_service.open_case(
        world.core,
        Actor.buyer(AHMED),
        case_service.NewCase(
            order_id=order.id or 0, claims=(Claim(1, 1),), reason=Reason.OTHER, description=WORDS
        ),
    )
    assert opened.case.number == "R-2611-0001"
    assert opened.case.buyer_proof == "token"
    return ahmed, opened.case


async def link_by_check(mallory: Person, number: str, check: str) -> None:
    """The number-and-check form, from the main menu, as anybody can use it."""
    await mallory.send("/start")
    await mallory.press("Return or refund")
    await mallory.send(number)
    await mallory.send(check)
    assert f"order {number} is now linked to this chat" in "\n".join(mallory.seen()[-3:])


async def forged_press(world: World, person: Person, data: str) -> str | None:
    """A button the person was never shown, sent as a modified client would."""
    sent = person.last_message()
    pressed: list[str] = []

    def press() -> None:
        update = world.fake.press(person.id, sent["message_id"], data, strict=False)
        pressed.append(update["callback_query"]["id"])

    await person._act(press)
    answers = [a for a in world.fake.callback_answers if a["callback_query_id"] == pressed[0]]
    return answers[-1].get("text") if answers else None


async def stored(world: World, number: str) -> Case:
    async with world.core.unit_of_work() as uow:
        case = await uow.cases.get_by_number(number)
    assert case is not None
    return case


async def audit_actions(world: World, case: Case) -> list[str]:
    async with world.core.unit_of_work() as uow:
        return [event.action for event in await uow.cases.audit_trail(case.id or 0)]


async def failed_checks(world: World, user_id: int) -> int:
    async with world.core.unit_of_work() as uow:
        return await uow.links.failed_attempts_since(user_id, world.clock.now().replace(year=2000))


# ── a stranger on a co-linked order ───────────────────────────────────────────────────────


async def test_a_stranger_who_links_the_order_by_its_postal_code_sees_and_withdraws_nothing(
    world: World,
) -> None:
    _, case = await ahmeds_case(world)
    mallory = world.person(MALLORY, "Mallory", "en")
    await link_by_check(mallory, "AUR-10026", "00000")  # the postal code on the label
    await mallory.send("/cancel")

    await mallory.send(f"what about {case.number}?")
    about_theirs = mallory.last()
    await mallory.send("what about R-2611-0999?")
    assert about_theirs == mallory.last()  # exactly as for a case that does not exist

    await mallory.send("/cases")
    assert mallory.last() == "You have no cases yet."

    show = await forged_press(world, mallory, CaseCb(number=case.number).pack())
    withdraw = await forged_press(
        world, mallory, CaseCb(number=case.number, action="withdraw_yes").pack()
    )
    unknown = await forged_press(
        world, mallory, CaseCb(number="R-2611-0999", action="withdraw_yes").pack()
    )
    assert show == withdraw == unknown == NO_CASE

    assert not any("IBAN" in text or "flickers" in text for text in mallory.seen())
    after = await stored(world, case.number)
    assert after.status is case.status and after.version == case.version
    assert await audit_actions(world, case) == ["open"]
    # the owner still has it all
    assert (await case_service.get_case(world.core, Actor.buyer(AHMED), case.number)).case


async def test_the_owner_is_told_once_when_another_account_links_their_order(
    world: World, notifier: Notifier
) -> None:
    ahmed, _ = await ahmeds_case(world)
    await notifier.send_due()
    before = len(ahmed.seen())
    mallory = world.person(MALLORY, "Mallory", "en")

    await link_by_check(mallory, "AUR-10026", "00000")
    await mallory.send("AUR-10026")  # typed again: already linked, nothing new
    await ahmed.send(f"/start {await world.start_link('aurora', 'AUR-10026')}")  # his again
    await notifier.send_due()

    told = [text for text in ahmed.seen()[before:] if "Another Telegram account" in text]
    assert told == [
        "Another Telegram account just linked your order AUR-10026 to its chat, with the "
        "postal code. It can open its own requests on the order but cannot see yours. If this "
        "was not you, tell the shop."
    ]
    assert not any("Another Telegram account" in text for text in mallory.seen())
    async with world.core.unit_of_work() as uow:
        order = await world.order("aurora", "AUR-10026")
        links = await uow.links.links_of_order(order.id or 0)
    assert [(link.telegram_id, link.via) for link in links] == [
        (AHMED, "token"),
        (MALLORY, "postal_code"),
    ]


# ── changes that redirect goods or money ──────────────────────────────────────────────────


@pytest.fixture
async def auto_changes(world: World) -> AsyncIterator[tuple[CoreContext, Any]]:
    """Aurora approving address changes and cancellations on its own, with the people and
    the sender of that configuration."""
    config = world.core.config
    aurora = config.shops["aurora"]
    reasons = {
        **aurora.policy.reasons,
        Reason.CHANGE_ADDRESS: ReasonRule(review="auto"),
        Reason.CANCEL_ORDER: ReasonRule(review="auto"),
    }
    policy = aurora.policy.model_copy(update={"reasons": reasons})
    config = config.model_copy(
        update={"shops": {**config.shops, "aurora": aurora.model_copy(update={"policy": policy})}}
    )
    core = dataclasses.replace(world.core, config=config)
    bot = create_fake_bot(world.fake)
    dispatcher = create_dispatcher(core, CATALOGS)
    notifier = Notifier(
        bot, core, CATALOGS, limits=SendLimits(per_second=1e6, private_interval=0, group_interval=0)
    )
    world.fake.add_group(AURORA_STAFF_CHAT, "Aurora staff")

    def person(user_id: int, name: str) -> Person:
        return Person(world.fake, FeedDriver(dispatcher, bot), user_id, name, "en")

    try:
        yield core, (person, notifier)
    finally:
        await bot.session.close()


async def change_address(person: Person, address: str) -> None:
    await person.press("Change or cancel an order")
    await person.press("AUR-10027")
    await person.press("Change the delivery address")
    await person.send(address)


async def test_the_owner_with_the_signed_link_gets_an_address_change_approved_at_once(
    world: World, auto_changes: tuple[CoreContext, Any]
) -> None:
    _, (person, _) = auto_changes
    olga = person(OLGA, "Olga")
    await olga.send(f"/start {await world.start_link('aurora', 'AUR-10027')}")

    await change_address(olga, "Tverskaya 1, 125009 Moscow")
    await olga.press("Confirm and send")

    [case] = await world.cases_of(OLGA)
    assert case.buyer_proof == "token"
    assert case.decision.review == "automatic" and case.decision.weak_proof is None
    assert case.status is not CaseStatus.AWAITING_SELLER


async def test_a_strangers_address_change_waits_for_the_seller_who_is_told_why_and_by_whom(
    world: World, auto_changes: tuple[CoreContext, Any]
) -> None:
    _, (person, notifier) = auto_changes
    seller = person(AURORA_SELLER, "Li Wei")
    olga = person(OLGA, "Olga")
    await olga.send(f"/start {await world.start_link('aurora', 'AUR-10027')}")
    mallory = person(MALLORY, "Mallory")
    await link_by_check(mallory, "AUR-10027", "125009")  # Olga's postal code
    await mallory.send("/start")

    await mallory.press("Change or cancel an order")
    await mallory.press("AUR-10027")
    await mallory.press("Change the delivery address")
    await mallory.send("Mallory Street 1, 10115 Berlin")
    summary = mallory.last()
    await mallory.press("Confirm and send")

    assert (
        "The shop will confirm it personally, because this chat proved the order is yours with "
        "the postal code only." in summary
    )
    assert "approved straight away" not in summary
    [case] = await world.cases_of(MALLORY)
    assert case.status is CaseStatus.AWAITING_SELLER
    assert case.buyer_proof == "postal_code"
    assert case.decision.review == "seller" and case.decision.weak_proof == "postal_code"
    assert "approved_automatically" not in [e.code for e in case.decision.explanations]

    await notifier.send_due()
    account = "Account: Mallory (Telegram id 930666), linked by the postal code"
    confirm = (
        "Confirm it yourself: this account proved the order only with the postal code. "
        "If in doubt, contact the buyer by the order's e-mail."
    )
    alert = seller.last()
    assert alert.startswith("New case R-2611-0001")
    assert account in alert.splitlines() and confirm in alert.splitlines()
    group = world.fake.messages_to(AURORA_STAFF_CHAT)[-1]["text"]
    assert account in group and confirm in group

    await seller.send(f"/case {case.number}")  # the card says it too
    assert account in seller.last().splitlines() and confirm in seller.last().splitlines()


async def test_a_cancellation_by_phone_digits_is_never_approved_automatically(
    world: World, auto_changes: tuple[CoreContext, Any]
) -> None:
    _, (person, _) = auto_changes
    mallory = person(MALLORY, "Mallory")
    await link_by_check(mallory, "AUR-10027", "4567")  # the phone's last four digits
    await mallory.send("/start")

    await mallory.press("Change or cancel an order")
    await mallory.press("AUR-10027")
    await mallory.press("Cancel the order")
    summary = mallory.last()
    await mallory.press("Confirm and send")

    assert "with the last 4 digits of the phone number only" in summary
    [case] = await world.cases_of(MALLORY)
    assert case.buyer_proof == "phone_last4" and case.status is CaseStatus.AWAITING_SELLER
    assert case.decision.weak_proof == "phone_last4"


# ── the order check ───────────────────────────────────────────────────────────────────────


async def test_an_unknown_command_at_the_check_is_no_answer_and_costs_no_attempt(
    world: World,
) -> None:
    mallory = world.person(MALLORY, "Mallory", "en")
    await mallory.send("/start")
    await mallory.press("Return or refund")
    await mallory.send("AUR-10026")
    question = mallory.last()

    for _ in range(world.core.config.lifecycle.link_attempts_per_hour + 1):
        answer = await mallory.send("/foo")
        assert [m["text"] for m in answer] == ["That is not a command I know.", question]

    assert await failed_checks(world, MALLORY) == 0
    await mallory.send("00000")  # the right answer still counts as the first one
    assert "Thank you, order AUR-10026 is now linked to this chat." in mallory.seen()[-2:]


async def test_no_buyer_flow_and_no_order_check_in_a_group(world: World) -> None:
    group = -1002000000042
    world.fake.add_group(group, "Parcel swap")
    mallory = world.person(MALLORY, "Mallory", "en")

    started = await mallory.send_in(group, "/start")
    assert [m["text"] for m in started] == [
        "I help with orders in a private chat only: please write to me there."
    ]
    assert "reply_markup" not in started[0]  # no menu to start a flow from
    helped = await mallory.send_in(group, "/help")
    assert [m["text"] for m in helped] == [started[0]["text"]]
    typed = await mallory.send_in(group, "AUR-10026")
    checked = await mallory.send_in(group, "00000")
    listed = await mallory.send_in(group, "/cases")
    person = await mallory.send_in(group, "/human")
    word = await mallory.send_in(group, "human")

    assert typed == checked == listed == person == word == []
    assert await failed_checks(world, MALLORY) == 0
    async with world.core.unit_of_work() as uow:
        assert await uow.links.linked_orders(MALLORY) == []


# ── staff ─────────────────────────────────────────────────────────────────────────────────


async def test_a_seller_gets_the_same_words_for_another_shops_case_and_for_no_case(
    world: World,
) -> None:
    _, case = await ahmeds_case(world)  # an aurora case
    wang = world.person(NOVA_SELLER, "Wang", "en")

    await wang.send(f"/case {case.number}")
    other_shop = wang.last()
    await wang.send("/case R-2611-0999")
    no_case = wang.last()
    await wang.send(f"/export {case.number}")
    export_other_shop = wang.last()

    assert other_shop == no_case == export_other_shop == NO_CASE
    assert not any("shop you do not work for" in text for text in wang.seen())


async def test_the_evidence_pack_names_staff_by_role_and_name_never_by_telegram_id(
    world: World,
) -> None:
    lucia = world.person(LUCIA, "Lucía", "es")
    await lucia.send(f"/start {await world.start_link('aurora', 'AUR-10021')}")
    order = await world.order("aurora", "AUR-10021")
    opened = await case_service.open_case(
        world.core,
        Actor.buyer(LUCIA),
        case_service.NewCase(
            order_id=order.id or 0,
            claims=(Claim(1, 1),),
            reason=Reason.OTHER,
            description="La lámpara parpadea",
        ),
    )
    number = opened.case.number
    assert opened.case.status is CaseStatus.AWAITING_SELLER
    li = world.person(AURORA_SELLER, "Li Wei", "en")
    await li.send(f"/case {number}")  # the bot knows Li Wei by name now
    await case_service.request_info(
        world.core, Actor.seller(AURORA_SELLER), number, "Please film the lamp"
    )

    await li.send(f"/export {number}")

    [sent] = [m for m in world.fake.messages_to(AURORA_SELLER) if "document" in m]
    archive = zipfile.ZipFile(io.BytesIO(world.fake.file_bytes(sent["document"]["file_id"])))
    transcript = archive.read("transcript.txt").decode()
    assert "Seller (Li Wei) asked for more information:\n    Please film the lamp" in transcript
    assert "Seller (Li Wei): request_info" in archive.read("summary.txt").decode()
    assert "Seller (Li Wei)" in archive.read("timeline.csv").decode("utf-8-sig")
    for name in archive.namelist():
        assert str(AURORA_SELLER).encode() not in archive.read(name), name

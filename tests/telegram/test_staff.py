"""Sellers on Telegram: the alert with the evidence, one-tap decisions, the race between two
sellers, and joining by invitation."""

from __future__ import annotations

from bot.delivery.notifier import Notifier
from core.cases.lifecycle import CaseStatus, MoneyStatus
from core.cases.model import Actor, Evidence, EvidenceKind
from core.cases.reasons import Reason, Resolution
from core.money import Money
from core.policy.decision import Claim
from core.services import cases as case_service
from core.services.staff import invite
from tests.support import Person
from tests.telegram.conftest import World, counterfeit_charger

DMITRI = 935501
NOVA_SELLER, NOVA_SELLER_2 = 600002, 600003


async def earbud_case(world: World) -> str:
    """NV-5501: 'does not work' with a video and a photo, waiting on nova's sellers."""
    dmitri = world.person(DMITRI, "Дмитрий", "ru")
    await dmitri.send(f"/start {await world.start_link('nova', 'NV-5501')}")
    order = await world.order("nova", "NV-5501")
    evidence = (
        Evidence(
            EvidenceKind.VIDEO,
            "vid-1",
            file_id=world.fake.user_video(DMITRI)["message"]["video"]["file_id"],
            mime_type="video/mp4",
        ),
        Evidence(
            EvidenceKind.PHOTO,
            "ph-1",
            file_id=world.fake.user_photo(DMITRI)["message"]["photo"][-1]["file_id"],
        ),
    )
    world.fake.take_updates()  # those uploads only made files; the bot need not see them
    opened = await case_service.open_case(
        world.core,
        Actor.buyer(DMITRI),
        case_service.NewCase(
            order_id=order.id or 0,
            claims=(Claim(1, 1),),
            reason=Reason.DOES_NOT_WORK,
            description="Левый наушник не включается <b>&</b>",
            evidence=evidence,
            preferred_resolution=Resolution.REPLACEMENT,
        ),
    )
    assert opened.case.status is CaseStatus.AWAITING_SELLER
    return opened.case.number


async def two_sellers_alerted(world: World, notifier: Notifier) -> tuple[Person, Person, str]:
    """Wang and Li, both nova's sellers, each got the alert of Dmitri's earbud case."""
    first = world.person(NOVA_SELLER, "Wang", "en")
    second = world.person(NOVA_SELLER_2, "Li", "en")
    number = await earbud_case(world)
    await notifier.send_due()
    return first, second, number


async def decision_of(world: World, number: str) -> tuple[Resolution | None, int | None, int]:
    """What was decided, by whom (the approving user), and how many approvals the trail has."""
    async with world.core.unit_of_work() as uow:
        case = await uow.cases.get_by_number(number)
        assert case is not None and case.id is not None
        trail = await uow.cases.audit_trail(case.id)
    approvals = [e for e in trail if e.action == "approve"]
    return case.resolution, approvals[0].actor_id if approvals else None, len(approvals)


async def test_a_seller_gets_the_alert_with_the_evidence_and_approves_in_one_tap(
    world: World, notifier: Notifier
) -> None:
    seller = world.person(NOVA_SELLER, "Wang", "en")
    number = await earbud_case(world)
    await notifier.send_due()

    alerts = world.fake.messages_to(NOVA_SELLER)
    album = [m for m in alerts if m.get("media_group_id")]
    assert len(album) == 2  # the video and the photo, as one album
    alert = seller.last()
    assert number in alert and "NV-5501" in alert
    assert "Левый наушник не включается <b>&</b>" in alert  # escaped by the bot, shown as typed
    assert "RU" in alert and "ru" in alert  # buyer country and language
    assert any("Approve" in b and "Replacement" in b for b in seller.buttons())

    await seller.press("Approve: Replacement")
    async with world.core.unit_of_work() as uow:
        case = await uow.cases.get_by_number(number)
    assert case is not None and case.status is CaseStatus.AWAITING_RETURN
    assert case.resolution is Resolution.REPLACEMENT and case.decided_by.value == "seller"
    assert number in seller.last()


async def test_two_sellers_pressing_at_once_apply_one_decision(
    world: World, notifier: Notifier
) -> None:
    first, second, number = await two_sellers_alerted(world, notifier)

    await first.press("Approve: Replacement")
    await second.press("Approve: Refund")
    assert second.last_answer is not None and second.last_answer.get("show_alert")
    async with world.core.unit_of_work() as uow:
        case = await uow.cases.get_by_number(number)
        trail = await uow.cases.audit_trail(case.id or 0)
    assert case is not None and case.resolution is Resolution.REPLACEMENT
    assert [e.action for e in trail].count("approve") == 1


async def test_a_partial_refund_and_a_rejection_are_typed_and_checked(
    world: World, notifier: Notifier
) -> None:
    seller = world.person(NOVA_SELLER, "Wang", "en")
    number = await earbud_case(world)
    await notifier.send_due()

    await seller.press("Reject")
    await seller.send("/cancel")  # a command is never taken as the reason
    async with world.core.unit_of_work() as uow:
        case = await uow.cases.get_by_number(number)
    assert case is not None and case.status is CaseStatus.AWAITING_SELLER

    await seller.press("Reject")
    await seller.send("The video shows the earbud working")
    async with world.core.unit_of_work() as uow:
        case = await uow.cases.get_by_number(number)
    assert case is not None and case.status is CaseStatus.REJECTED
    assert case.decision_note == "The video shows the earbud working"
    await notifier.send_due()
    told = world.fake.messages_to(DMITRI)[-1]["text"]
    assert number in told and "The video shows the earbud working" in told


async def test_recording_the_refund_needs_a_valid_amount(world: World, notifier: Notifier) -> None:
    seller = world.person(NOVA_SELLER, "Wang", "en")
    number = await earbud_case(world)
    await case_service.approve(world.core, Actor.seller(NOVA_SELLER_2), number, Resolution.REFUND)
    await case_service.mark_goods_received(world.core, Actor.seller(NOVA_SELLER_2), number)
    await seller.send(f"/case {number}")
    await seller.press("Record the refund")
    await seller.send("forty dollars")
    assert "amount" in seller.last().lower() or "not" in seller.last().lower()
    assert seller.last() == "That is not an amount: type it in digits, for example 12.50."
    await seller.send("99.00 PAY-123")  # more than was approved: asked again, nothing stored
    assert seller.last() == "The amount must be above zero and at most $45.00. Type it again."
    async with world.core.unit_of_work() as uow:
        unchanged = await uow.cases.get_by_number(number)
    assert unchanged is not None and unchanged.money is MoneyStatus.PENDING
    await seller.send("45.00 PAY-123")
    async with world.core.unit_of_work() as uow:
        case = await uow.cases.get_by_number(number)
    assert case is not None and case.status is CaseStatus.RESOLVED
    assert case.money is MoneyStatus.REFUNDED and case.refunded_amount == Money.parse("45", "USD")
    assert case.refund_reference == "PAY-123"


async def test_a_seller_joins_by_invitation_and_sees_only_their_shop(world: World) -> None:
    newcomer = world.person(611111, "Chen", "en")
    await earbud_case(world)
    payload = (await invite(world.core, ["nova"], "seller")).token

    await newcomer.send("/cases")
    assert "NV-5501" not in newcomer.last()  # not staff yet: a buyer's empty list
    await newcomer.send(f"/start {payload}")
    assert "Nova Gadgets" in newcomer.last()
    await newcomer.send("/cases")
    assert "R-2611-0001" in newcomer.last()

    forged = payload[:-3] + ("aaa" if not payload.endswith("aaa") else "bbb")
    stranger = world.person(622222, "Eve", "en")
    await stranger.send(f"/start {forged}")
    await stranger.send("/cases")
    assert "R-2611-0001" not in stranger.last()


async def test_the_alert_offers_the_outcome_the_buyer_asked_for_first(
    world: World, notifier: Notifier
) -> None:
    seller = world.person(NOVA_SELLER, "Wang", "en")
    await earbud_case(world)  # Dmitri asked for a replacement
    await notifier.send_due()
    approvals = [b for b in seller.buttons() if "Approve" in b]
    assert approvals[0] == "✅ Approve: Replacement (asked for)"
    assert "✅ Approve: Refund" in approvals


async def test_after_one_seller_decides_the_others_old_alert_loses_its_buttons(
    world: World, notifier: Notifier
) -> None:
    first, second, number = await two_sellers_alerted(world, notifier)
    [old_alert] = [m for m in second.messages() if m.get("reply_markup", {}).get("inline_keyboard")]

    await first.press("Approve: Replacement")
    await notifier.send_due()
    [old] = [m for m in second.messages() if m["message_id"] == old_alert["message_id"]]
    assert not (old.get("reply_markup") or {}).get("inline_keyboard")  # nothing stale to press
    # the newest alert about the case, then the supplier claim the approval opened
    *_, approved, claim = second.messages()
    assert claim["text"].startswith(f"Case {number}: a claim on Shenzhen Volt")
    assert approved["text"].startswith(f"Case {number} was approved by Wang")
    labels = [text for row in world.fake.buttons(approved) for text, _ in row]
    assert "📥 Goods received" in labels and not any("Approve" in b for b in labels)
    assert await decision_of(world, number) == (Resolution.REPLACEMENT, NOVA_SELLER, 1)


async def test_a_late_press_refreshes_the_pressed_alert_and_says_who_decided(
    world: World, notifier: Notifier
) -> None:
    first, second, number = await two_sellers_alerted(world, notifier)
    pressed = second.last_message()["message_id"]

    await first.press("Approve: Replacement")
    await second.press("Approve: Refund")  # before the sender told Li
    assert second.last_answer is not None
    assert second.last_answer["text"].startswith("This case has just changed: Approved (a seller, ")
    [refreshed] = [m for m in second.messages() if m["message_id"] == pressed]
    assert number in refreshed["text"]
    assert "Status: Approved: waiting for the buyer to send it back" in refreshed["text"]
    labels = [text for row in world.fake.buttons(refreshed) for text, _ in row]
    assert "📥 Goods received" in labels and not any("Approve" in label for label in labels)
    # Li's late press changed nothing: Wang's replacement stands, approved once
    assert await decision_of(world, number) == (Resolution.REPLACEMENT, NOVA_SELLER, 1)


async def test_sellers_read_staff_wording_with_one_name_per_status(
    world: World, notifier: Notifier
) -> None:
    seller = world.person(NOVA_SELLER, "Wang", "en")
    number = await earbud_case(world)
    await seller.send("/cases")
    listed = seller.last()
    assert "Waiting for the shop's decision" in listed
    assert "With the shop for a decision" not in listed  # the buyer's wording
    await seller.send(f"/case {number}")
    assert "Status: Waiting for the shop's decision" in seller.last()


async def test_a_counterfeit_claim_is_decided_by_an_agent_not_in_one_tap_by_a_seller(
    world: World, notifier: Notifier
) -> None:
    seller = world.person(NOVA_SELLER, "Wang", "en")
    case = await counterfeit_charger(world, world.person(945502, "João", "pt"))
    assert case.status is CaseStatus.AWAITING_AGENT
    await notifier.send_due()
    alert = [m for m in seller.messages() if case.number in (m.get("text") or "")][-1]
    labels = [text for row in world.fake.buttons(alert) for text, _ in row]
    assert not any("Approve" in label or "Reject" in label for label in labels)
    await seller.send(f"/case {case.number}")
    assert not any("Approve" in b or "Reject" in b for b in seller.buttons())
    assert await decision_of(world, case.number) == (None, None, 0)  # still the agents' to decide


async def test_a_forged_outcome_in_a_button_changes_nothing_and_shows_the_case(
    world: World, notifier: Notifier
) -> None:
    seller = world.person(NOVA_SELLER, "Wang", "en")
    number = await earbud_case(world)
    await notifier.send_due()
    alert = seller.last_message()
    [real] = [
        data
        for row in world.fake.buttons(alert)
        for _, data in row
        if data.startswith("t:") and ":ok:" in data
    ][:1]
    forged = real.replace(":replacement:", ":bitcoin:").replace(":refund:", ":bitcoin:")
    world.fake.press(NOVA_SELLER, alert["message_id"], forged, strict=False)
    await seller.driver.deliver()
    assert seller.last_answer is None or "Sorry" not in (seller.last_answer.get("text") or "")
    answers = [a for a in world.fake.callback_answers if a.get("show_alert")]
    assert answers and answers[-1]["text"].startswith("This case has just changed")
    async with world.core.unit_of_work() as uow:
        case = await uow.cases.get_by_number(number)
    assert case is not None and case.status is CaseStatus.AWAITING_SELLER
    assert case.resolution is None

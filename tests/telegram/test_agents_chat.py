"""The agents' chat and the staff groups, as people use them: a buyer whose case an agent owns
can still start something else; the buttons that ask staff for a line of text ask it where
they were pressed, of the person who pressed; service messages in the agents' group are not
words for the buyer; a note stays internal even when made by editing a relayed message; and
the agents' group is ordered per topic."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.delivery.notifier import Notifier
from bot.factory import create_dispatcher
from bot.receiving import inbox
from bot.receiving.inbox import InboxWorker
from bot.views.actions import StaffCb
from core.cases.lifecycle import CaseStatus
from core.cases.model import Actor, Evidence, EvidenceKind, Owner
from core.cases.reasons import Reason, Resolution
from core.money import Money
from core.policy.decision import Claim
from core.services import cases as case_service
from tests.support import FeedDriver, Person, create_fake_bot
from tests.telegram.conftest import CATALOGS, World, asks_for_a_person, unpaced_notifier

AGENTS_CHAT = -1007770001
AGENT = 700001
BUYER = 945502
STAFF_GROUP = -1001000000001  # aurora's staff_chat_id in the sample shops.toml
AURORA_SELLER = 600001
STRANGER = 960001  # a member of the staff group who is nobody's staff
MARIE = 950001  # AUR-10022's buyer


class InboxDriver:
    """Takes the fake's updates as a receiver would (records them, nothing else) and waits
    until the worker has finished everything recorded."""

    def __init__(self, world: World, worker: InboxWorker) -> None:
        self.world = world
        self.worker = worker

    async def deliver(self, *, concurrent: bool | None = None) -> None:
        await inbox.record(self.world.core, self.world.fake.take_updates())
        self.worker.wake()
        for _ in range(500):
            async with self.world.core.unit_of_work() as uow:
                counts = await uow.inbox.counts()
            if not counts.get("pending") and not counts.get("processing"):
                break
            await asyncio.sleep(0.01)
        await self.world.fake.wait_idle(timeout=5)


@dataclass
class Desk:
    buyer: Person
    agent: Person
    notifier: Notifier
    number: str
    topic: int
    worker: InboxWorker


@pytest.fixture
async def desk(world: World) -> AsyncIterator[Desk]:
    """NV-5502's buyer (English) asked for a person about a counterfeit charger; the case has
    its topic in the agents' forum group and the agent has written there, so owns the case.
    Updates go through the inbox, as in production."""
    bot = create_fake_bot(world.fake)
    dispatcher = create_dispatcher(world.core, CATALOGS, agents_chat_id=AGENTS_CHAT, inbox=True)
    worker = InboxWorker(world.core, dispatcher, bot, retry_delays=(0, 0, 0, 0), idle=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, grace=2))
    driver = InboxDriver(world, worker)
    world.fake.add_group(AGENTS_CHAT, "Returns Desk agents", is_forum=True)
    buyer = Person(world.fake, driver, BUYER, "Joan", "en")
    agent = Person(world.fake, driver, AGENT, "Sam", "en")
    case = await asks_for_a_person(world, buyer, "The charger looks fake")
    notifier = unpaced_notifier(bot, world, AGENTS_CHAT)
    await notifier.send_due()
    topic = (await stored(world, case.number)).agent_topic_id
    assert topic is not None
    await agent.send_in(AGENTS_CHAT, "Hello Joan, could you send a photo of the label?", topic)
    assert (await stored(world, case.number)).owner_agent_id == AGENT
    try:
        yield Desk(buyer, agent, notifier, case.number, topic, worker)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await bot.session.close()


async def stored(world: World, number: str):
    async with world.core.unit_of_work() as uow:
        case = await uow.cases.get_by_number(number)
    assert case is not None
    return case


def topic_texts(world: World, topic: int) -> list[str]:
    """Everything in the case's topic, from the bot and from people, oldest first."""
    return [
        m.get("text") or m.get("caption") or ""
        for m in world.fake.history(AGENTS_CHAT)
        if m.get("message_thread_id") == topic
    ]


async def inbox_counts(world: World) -> dict[str, int]:
    async with world.core.unit_of_work() as uow:
        return await uow.inbox.counts()


# ── a buyer talking with an agent can start something else ─────────────────────────────────


async def test_a_buyer_talking_with_an_agent_starts_a_new_case_with_another_order(
    world: World, desk: Desk
) -> None:
    buyer = desk.buyer
    # /menu says which conversation is open, then shows the menu as usual
    await buyer.send("/menu")
    said = buyer.seen()
    assert desk.number in said[-2] and "support team" in said[-2] and "/menu" in said[-2]
    assert "Report a problem with an order" in " ".join(buyer.buttons())
    in_topic = topic_texts(world, desk.topic)

    # a bare order number and the check are the normal flow's, not the agent's
    await buyer.send("NV-5506")
    await buyer.send("6543")  # the detail only the owner knows
    assert any("NV-5506" in text for text in buyer.seen()[-2:])  # linked
    await buyer.press("Braided USB-C cable")
    await buyer.press("Continue")
    await buyer.press("1")
    await buyer.press("Missing part or quantity")
    await buyer.send("Only 2 of the 3 cables came")
    await buyer.send_photo()
    await buyer.press("Done")
    await buyer.press("Refund")
    await buyer.press("Confirm and send")

    cases = {case.order_number: case for case in await world.cases_of(BUYER)}
    assert set(cases) == {"NV-5502", "NV-5506"}  # the new case is opened
    assert cases["NV-5506"].reason is Reason.MISSING_PART
    assert topic_texts(world, desk.topic) == in_topic  # nothing of it reached the agent
    owned = await stored(world, desk.number)
    assert owned.owner is Owner.AGENT and owned.owner_agent_id == AGENT  # still with the agent

    # plain words, outside any flow, go to the agent again
    await buyer.send("Here is the label photo you asked for")
    assert topic_texts(world, desk.topic)[-1] == "Here is the label photo you asked for"
    assert await inbox_counts(world) == {"done": len(world.fake.update_log)}


async def test_the_buyer_is_told_which_conversation_is_open_when_the_agent_joins(
    world: World, desk: Desk
) -> None:
    joined = [text for text in desk.buyer.seen() if "has joined" in text]
    assert len(joined) == 1
    assert desk.number in joined[0] and "/menu" in joined[0]


async def test_another_case_s_number_shows_that_case_and_other_numbers_go_to_the_agent(
    world: World, desk: Desk
) -> None:
    other = await case_service.open_case(
        world.core,
        Actor.buyer(BUYER),
        case_service.NewCase(
            order_id=(await world.order("nova", "NV-5502")).id or 0,
            claims=(Claim(1, 1),),
            reason=Reason.DAMAGED,
            description="The case of the phone is cracked",
            evidence=(Evidence(EvidenceKind.PHOTO, "crack", file_id="crack-file"),),
        ),
    )
    in_topic = topic_texts(world, desk.topic)
    await desk.buyer.send(other.case.number)
    assert other.case.number in desk.buyer.last()  # the case's card, from the bot
    assert topic_texts(world, desk.topic) == in_topic
    await desk.buyer.send(desk.number)  # the conversation's own number is for the agent
    assert topic_texts(world, desk.topic)[-1] == desk.number
    await desk.buyer.send("NV-5502")  # and so is its order's number
    assert topic_texts(world, desk.topic)[-1] == "NV-5502"
    await desk.buyer.send("48213312")  # bare digits: an answer (a serial number), not an order
    assert topic_texts(world, desk.topic)[-1] == "48213312"


# ── service messages in the agents' group ──────────────────────────────────────────────────


def service_messages(world: World, topic: int) -> list[dict[str, Any]]:
    """What Telegram sends the bot when someone pins the topic's last message, renames the
    topic, closes it and reopens it."""
    pinned = world.fake.messages_to(AGENTS_CHAT, message_thread_id=topic)[-1]
    return [
        {"pinned_message": {k: v for k, v in pinned.items() if k != "reply_markup"}},
        {"forum_topic_edited": {"name": "Look at this first"}},
        {"forum_topic_closed": {}},
        {"forum_topic_reopened": {}},
    ]


async def test_the_owning_agent_s_pin_and_topic_edits_reach_nobody_and_fail_nothing(
    world: World, desk: Desk
) -> None:
    before = len(world.fake.messages_to(BUYER))
    copies = len(world.fake.calls_to("copyMessage"))
    for content in service_messages(world, desk.topic):
        world.fake._user_post(AGENTS_CHAT, AGENT, content, desk.topic)
    await desk.agent.driver.deliver()

    assert len(world.fake.messages_to(BUYER)) == before  # nothing copied to the buyer
    assert len(world.fake.calls_to("copyMessage")) == copies  # not even tried
    assert await inbox_counts(world) == {"done": len(world.fake.update_log)}  # none failed
    async with world.core.unit_of_work() as uow:
        assert await uow.inbox.parked() == []

    await desk.agent.send_in(AGENTS_CHAT, "Thanks, checking it now", desk.topic)
    assert world.fake.messages_to(BUYER)[-1]["text"] == "Thanks, checking it now"


async def test_a_pin_in_a_new_topic_does_not_take_the_case_over(
    world: World, topic: Topic, caplog: pytest.LogCaptureFixture
) -> None:
    """Nobody owns the case yet: an agent's pin and topic edits are not words, so they do
    not take it (writing there would)."""
    to_buyer = len(world.fake.messages_to(MARIE))
    in_topic = len(world.fake.messages_to(AGENTS_CHAT, message_thread_id=topic.topic))
    with caplog.at_level(logging.WARNING):
        for content in service_messages(world, topic.topic):
            world.fake._user_post(AGENTS_CHAT, AGENT, content, topic.topic)
        await topic.agent.driver.deliver()

    case = await stored(world, topic.number)
    assert case.owner is Owner.BOT and case.owner_agent_id is None  # not taken over
    assert len(world.fake.messages_to(MARIE)) == to_buyer  # no "an agent joined", no copy
    assert len(world.fake.messages_to(AGENTS_CHAT, message_thread_id=topic.topic)) == in_topic
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # nothing failed


# ── notes stay internal ─────────────────────────────────────────────────────────────────────


async def test_editing_a_relayed_message_into_a_note_never_reaches_the_buyer(
    world: World, desk: Desk
) -> None:
    await desk.agent.send_in(AGENTS_CHAT, "The refund goes out today", desk.topic)
    [*_, sent] = [
        m for m in world.fake.history(AGENTS_CHAT) if m.get("from", {}).get("id") == AGENT
    ]
    assert world.fake.messages_to(BUYER)[-1]["text"] == "The refund goes out today"

    world.fake.user_edit(AGENTS_CHAT, sent["message_id"], "/note refund only after the audit")
    await desk.agent.driver.deliver()
    shown = [m["text"] for m in world.fake.messages_to(BUYER)]
    assert shown[-1] == "The refund goes out today"  # the buyer's copy is as it was sent
    assert not any("audit" in text for text in shown)
    trail = await case_service.get_case(world.core, Actor.agent(AGENT), desk.number)
    assert ("note", "refund only after the audit") in [(e.action, e.note) for e in trail.timeline]
    assert "not shown to the buyer" in world.fake.messages_to(AGENTS_CHAT)[-1]["text"]

    # the message is a note now: editing it again stays internal too
    world.fake.user_edit(AGENTS_CHAT, sent["message_id"], "refund after the audit, tell nobody")
    await desk.agent.driver.deliver()
    assert [m["text"] for m in world.fake.messages_to(BUYER)] == shown


async def test_a_note_edited_into_plain_words_stays_internal(world: World, desk: Desk) -> None:
    await desk.agent.send_in(AGENTS_CHAT, "/note the seller is slow to answer", desk.topic)
    [*_, note] = [
        m for m in world.fake.history(AGENTS_CHAT) if m.get("from", {}).get("id") == AGENT
    ]
    shown = [m.get("text") for m in world.fake.messages_to(BUYER)]
    world.fake.user_edit(AGENTS_CHAT, note["message_id"], "the seller is slow to answer")
    await desk.agent.driver.deliver()
    assert [m.get("text") for m in world.fake.messages_to(BUYER)] == shown


# ── questions asked by staff buttons, in a staff group and in a topic ──────────────────────


@dataclass
class Group:
    seller: Person
    stranger: Person
    notifier: Notifier
    number: str


@pytest.fixture
async def group(world: World) -> AsyncIterator[Group]:
    """Aurora's staff group got the alert of a case about AUR-10022's pillowcases."""
    bot = create_fake_bot(world.fake)
    world.fake.add_group(STAFF_GROUP, "Aurora staff")
    seller = world.person(AURORA_SELLER, "Lin", "en")
    stranger = world.person(STRANGER, "Pat", "en")
    marie = world.person(MARIE, "Marie", "fr")
    await marie.send(f"/start {await world.start_link('aurora', 'AUR-10022')}")
    photo = world.fake.user_photo(MARIE)["message"]["photo"][-1]["file_id"]
    world.fake.take_updates()  # the upload only made the file; the bot need not see it
    order = await world.order("aurora", "AUR-10022")
    opened = await case_service.open_case(
        world.core,
        Actor.buyer(MARIE),
        case_service.NewCase(
            order_id=order.id or 0,
            claims=(Claim(2, 2),),
            reason=Reason.OTHER,
            description="The pillowcases shrank after one wash",
            evidence=(Evidence(EvidenceKind.PHOTO, "shrunk", file_id=photo),),
            preferred_resolution=Resolution.REFUND,
        ),
    )
    assert opened.case.status is CaseStatus.AWAITING_SELLER
    notifier = unpaced_notifier(bot, world)
    await notifier.send_due()
    try:
        yield Group(seller, stranger, notifier, opened.case.number)
    finally:
        await bot.session.close()


def press_in(
    world: World, person: Person, chat: int, code: str, thread: int | None = None
) -> dict[str, Any]:
    """``person`` presses, in ``chat`` (and topic), the newest button for ``code``."""
    for message in reversed(world.fake.messages_to(chat, message_thread_id=thread)):
        for row in world.fake.buttons(message):
            for _, data in row:
                if data and data.startswith("t:") and StaffCb.unpack(data).action == code:
                    return world.fake.press(person.id, message["message_id"], data, chat_id=chat)
    raise AssertionError(f"no {code!r} button in chat {chat}")


async def test_a_reject_reason_is_asked_and_taken_in_the_staff_group_from_who_pressed(
    world: World, group: Group
) -> None:
    private_before = len(world.fake.messages_to(AURORA_SELLER))
    press_in(world, group.seller, STAFF_GROUP, "no")
    await group.seller.driver.deliver()
    asked = world.fake.messages_to(STAFF_GROUP)[-1]
    assert "Type the reason for the buyer" in asked["text"] and "Lin" in asked["text"]
    assert len(world.fake.messages_to(AURORA_SELLER)) == private_before  # not in private

    # another member's line, and another seller's, are not the answer
    await group.stranger.send_in(STAFF_GROUP, "Looks fine to me")
    nova_seller = world.person(600002, "Wang", "en")
    await nova_seller.send_in(STAFF_GROUP, "No idea")
    assert (await stored(world, group.number)).status is CaseStatus.AWAITING_SELLER

    await group.seller.send_in(STAFF_GROUP, "Washing at 90 °C shrinks linen")
    case = await stored(world, group.number)
    assert case.status is CaseStatus.REJECTED
    trail = await case_service.get_case(world.core, Actor.seller(AURORA_SELLER), group.number)
    assert ("reject", "Washing at 90 °C shrinks linen") in [
        (e.action, e.note) for e in trail.timeline
    ]
    assert group.number in world.fake.messages_to(STAFF_GROUP)[-1]["text"]  # done, there
    assert len(world.fake.messages_to(AURORA_SELLER)) == private_before


async def test_a_partial_amount_and_a_refund_reference_are_answered_in_the_staff_group(
    world: World, group: Group
) -> None:
    press_in(world, group.seller, STAFF_GROUP, "part")
    await group.seller.driver.deliver()
    assert "amount to refund" in world.fake.messages_to(STAFF_GROUP)[-1]["text"]
    await group.stranger.send_in(STAFF_GROUP, "5.00")  # not theirs to answer
    await group.seller.send_in(STAFF_GROUP, "12.50")
    case = await stored(world, group.number)
    assert case.resolution is Resolution.PARTIAL_REFUND
    assert case.refund_amount == Money.parse("12.50", case.currency)

    press_in(world, group.seller, STAFF_GROUP, "paid")
    await group.seller.driver.deliver()
    assert "payment reference" in world.fake.messages_to(STAFF_GROUP)[-1]["text"]
    await group.stranger.send_in(STAFF_GROUP, "99.00 FAKE-1")
    await group.seller.send_in(STAFF_GROUP, "12.50 PAY-123")
    case = await stored(world, group.number)
    assert case.refund_reference == "PAY-123"  # the seller's line, not the stranger's
    trail = await case_service.get_case(world.core, Actor.seller(AURORA_SELLER), group.number)
    assert [e.action for e in trail.timeline].count("refund_recorded") == 1


@dataclass
class Topic:
    agent: Person
    stranger: Person
    number: str
    topic: int


@pytest.fixture
async def topic(world: World, group: Group) -> AsyncIterator[Topic]:
    """The seller passed the pillowcases case to an agent: it has its topic in the agents'
    forum group, with the card and the agent's buttons."""
    bot = create_fake_bot(world.fake)
    driver = FeedDriver(create_dispatcher(world.core, CATALOGS, agents_chat_id=AGENTS_CHAT), bot)
    world.fake.add_group(AGENTS_CHAT, "Returns Desk agents", is_forum=True)
    await case_service.escalate(
        world.core, Actor.seller(AURORA_SELLER), group.number, "seller_asked"
    )
    notifier = unpaced_notifier(bot, world, AGENTS_CHAT)
    await notifier.send_due()
    thread = (await stored(world, group.number)).agent_topic_id
    assert thread is not None
    agent = Person(world.fake, driver, AGENT, "Sam", "en")
    stranger = Person(world.fake, driver, STRANGER, "Pat", "en")
    try:
        yield Topic(agent, stranger, group.number, thread)
    finally:
        await bot.session.close()


async def test_a_reject_reason_is_asked_and_taken_in_the_topic_where_it_was_pressed(
    world: World, topic: Topic
) -> None:
    private_before = len(world.fake.messages_to(AGENT))
    press_in(world, topic.agent, AGENTS_CHAT, "no", topic.topic)
    await topic.agent.driver.deliver()
    asked = world.fake.messages_to(AGENTS_CHAT, message_thread_id=topic.topic)[-1]
    assert "Type the reason for the buyer" in asked["text"] and "Sam" in asked["text"]

    # the same agent in another topic, and another member here, are not answering
    elsewhere = world.fake.add_topic(AGENTS_CHAT, "Team chat")
    await topic.agent.send_in(AGENTS_CHAT, "lunch at one?", elsewhere)
    await topic.stranger.send_in(AGENTS_CHAT, "I think they are fine", topic.topic)
    assert (await stored(world, topic.number)).status is CaseStatus.AWAITING_AGENT

    await topic.agent.send_in(AGENTS_CHAT, "Washing at 90 °C shrinks linen", topic.topic)
    case = await stored(world, topic.number)
    assert case.status is CaseStatus.REJECTED
    trail = await case_service.get_case(world.core, Actor.agent(AGENT), topic.number)
    assert ("reject", "Washing at 90 °C shrinks linen") in [
        (e.action, e.note) for e in trail.timeline
    ]
    done = world.fake.messages_to(AGENTS_CHAT, message_thread_id=topic.topic)[-1]
    assert topic.number in done["text"]
    assert len(world.fake.messages_to(AGENT)) == private_before  # nothing in private chat
    relayed = [m.get("text") for m in world.fake.messages_to(MARIE)]
    assert "lunch at one?" not in relayed and "Washing at 90 °C shrinks linen" not in relayed


async def test_a_partial_amount_and_a_refund_reference_are_answered_in_a_topic(
    world: World, topic: Topic
) -> None:
    press_in(world, topic.agent, AGENTS_CHAT, "part", topic.topic)
    await topic.agent.driver.deliver()
    asked = world.fake.messages_to(AGENTS_CHAT, message_thread_id=topic.topic)[-1]
    assert "amount to refund" in asked["text"]
    await topic.stranger.send_in(AGENTS_CHAT, "1.00", topic.topic)
    await topic.agent.send_in(AGENTS_CHAT, "10.00", topic.topic)
    case = await stored(world, topic.number)
    assert case.resolution is Resolution.PARTIAL_REFUND
    assert case.refund_amount == Money.parse("10.00", case.currency)

    press_in(world, topic.agent, AGENTS_CHAT, "paid", topic.topic)
    await topic.agent.driver.deliver()
    asked = world.fake.messages_to(AGENTS_CHAT, message_thread_id=topic.topic)[-1]
    assert "payment reference" in asked["text"]
    await topic.agent.send_in(AGENTS_CHAT, "10.00 PAY-777", topic.topic)
    case = await stored(world, topic.number)
    assert case.refund_reference == "PAY-777"
    trail = await case_service.get_case(world.core, Actor.agent(AGENT), topic.number)
    assert [e.action for e in trail.timeline].count("refund_recorded") == 1
    assert "PAY-777" not in [m.get("text") for m in world.fake.messages_to(MARIE)]


# ── the agents' group is ordered per topic ─────────────────────────────────────────────────


async def test_a_reply_in_one_topic_does_not_wait_behind_another_topic(
    world: World, desk: Desk
) -> None:
    """The agent's first words in the case's topic are held up (a slow handler); a message in
    another topic is handled meanwhile, and the case topic's next words wait for the first."""
    release = asyncio.Event()
    handled: list[str] = []

    async def hold(handler: Any, event: Any, data: dict[str, Any]) -> Any:
        text = event.message.text if event.message is not None else None
        if text == "first words":
            handled.append("first words: started")
            await asyncio.wait_for(release.wait(), 10)  # only a safety net: set by the other
        result = await handler(event, data)
        if text is not None:
            handled.append(text)
        if text == "in the team topic":
            release.set()
        return result

    desk.worker.dispatcher.update.outer_middleware(hold)
    team = world.fake.add_topic(AGENTS_CHAT, "Team chat")
    Person(world.fake, desk.agent.driver, 700002, "Kim", "en")
    world.fake.user_message_in(AGENTS_CHAT, AGENT, "first words", desk.topic)
    world.fake.user_message_in(AGENTS_CHAT, AGENT, "second words", desk.topic)
    world.fake.user_message_in(AGENTS_CHAT, 700002, "in the team topic", team)
    await desk.agent.driver.deliver()

    assert handled == [
        "first words: started",
        "in the team topic",  # the other topic did not wait
        "first words",
        "second words",  # the case's topic kept its order
    ]
    assert [m.get("text") for m in world.fake.messages_to(BUYER)][-2:] == [
        "first words",
        "second words",
    ]
    assert await inbox_counts(world) == {"done": len(world.fake.update_log)}

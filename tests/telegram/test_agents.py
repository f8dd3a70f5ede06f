"""Agents take over a conversation: a topic per escalated case in the agents' forum group,
everything the buyer sends reaches the topic, what the agent writes reaches the buyer from the
bot, internal notes stay internal, and the bot answers again after /handback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.delivery.notifier import Notifier
from bot.factory import create_dispatcher
from bot.views.actions import StaffCb
from core.cases.model import Actor, Evidence, EvidenceKind, Owner
from core.services import cases as case_service
from tests.support import FeedDriver, Person, create_fake_bot
from tests.telegram.conftest import (
    CATALOGS,
    World,
    asks_for_a_person,
    counterfeit_charger,
    unpaced_notifier,
)

AGENTS_CHAT = -1007770001
AGENT = 700001
JOAO = 945502


@dataclass
class Desk:
    buyer: Person
    agent: Person
    notifier: Notifier
    number: str


@pytest.fixture
async def desk(world: World) -> AsyncIterator[Desk]:
    bot = create_fake_bot(world.fake)
    dispatcher = create_dispatcher(world.core, CATALOGS, agents_chat_id=AGENTS_CHAT)
    driver = FeedDriver(dispatcher, bot)
    world.fake.add_group(AGENTS_CHAT, "Returns Desk agents", is_forum=True)
    buyer = Person(world.fake, driver, JOAO, "João", "pt")
    agent = Person(world.fake, driver, AGENT, "Sam", "en")
    case = await asks_for_a_person(world, buyer, "O carregador parece falso")
    notifier = unpaced_notifier(bot, world, AGENTS_CHAT)
    try:
        yield Desk(buyer, agent, notifier, case.number)
    finally:
        await bot.session.close()


async def stored(world: World, number: str):
    async with world.core.unit_of_work() as uow:
        return await uow.cases.get_by_number(number)


async def trail(world: World, number: str) -> list[tuple[str, str | None]]:
    """The case's audit trail as staff read it: (action, note) per line."""
    view = await case_service.get_case(world.core, Actor.agent(AGENT), number)
    return [(event.action, event.note) for event in view.timeline]


async def test_an_escalated_case_gets_its_own_topic_with_the_card(world: World, desk: Desk) -> None:
    await desk.notifier.send_due()
    case = await stored(world, desk.number)
    assert case.escalated and case.agent_topic_id is not None
    posted = world.fake.messages_to(AGENTS_CHAT, message_thread_id=case.agent_topic_id)
    assert posted and desk.number in posted[-1]["text"]
    assert "O carregador parece falso" in posted[-1]["text"]
    assert world.fake.chats[AGENTS_CHAT]  # the topic lives in the agents' group


async def test_the_agent_and_the_buyer_talk_through_the_bot(world: World, desk: Desk) -> None:
    await desk.notifier.send_due()
    topic = (await stored(world, desk.number)).agent_topic_id
    await desk.agent.send_in(AGENTS_CHAT, "Olá João, pode enviar uma foto da etiqueta?", topic)

    case = await stored(world, desk.number)
    assert case.owner is Owner.AGENT and case.owner_agent_id == AGENT
    relayed = world.fake.messages_to(JOAO)[-1]
    assert relayed["text"] == "Olá João, pode enviar uma foto da etiqueta?"
    assert relayed["from"]["is_bot"]  # from the bot, not from the agent's account

    before = len(world.fake.messages_to(JOAO))
    await desk.buyer.send("Aqui está: a etiqueta não tem selo <b>&</b>")
    await desk.buyer.send_photo("etiqueta")
    assert len(world.fake.messages_to(JOAO)) == before  # the bot keeps quiet: a person talks
    in_topic = world.fake.messages_to(AGENTS_CHAT, message_thread_id=topic)
    assert any(m.get("text") == "Aqui está: a etiqueta não tem selo <b>&</b>" for m in in_topic)
    assert any(m.get("photo") for m in in_topic)
    case = await stored(world, desk.number)
    assert len(case.evidence) == 1  # the photo is kept as evidence

    await desk.agent.send_in(AGENTS_CHAT, "/note seller has the brand authorisation", topic)
    async with world.core.unit_of_work() as uow:
        trail = await uow.cases.audit_trail(case.id or 0)
    assert ("note", "seller has the brand authorisation") in [(e.action, e.note) for e in trail]
    await desk.buyer.send("/cases")
    await desk.buyer.press(desk.number)
    assert "brand authorisation" not in desk.buyer.last()  # internal notes stay internal

    await desk.agent.send_in(AGENTS_CHAT, "/handback", topic)
    assert (await stored(world, desk.number)).owner is Owner.BOT
    await desk.buyer.send("olá")
    assert len(world.fake.messages_to(JOAO)) > before + 1  # the assistant answers again


async def test_the_topic_follows_the_case_and_closes_with_it(world: World, desk: Desk) -> None:
    await desk.notifier.send_due()
    case = await stored(world, desk.number)
    topic = world.fake.chats[AGENTS_CHAT].topics[case.agent_topic_id]
    assert desk.number in topic.name and "PT" in topic.name and not topic.closed

    await case_service.cancel(
        world.core, Actor.agent(AGENT), desk.number, "The supplier holds the brand authorisation"
    )
    await desk.notifier.send_due()
    topic = world.fake.chats[AGENTS_CHAT].topics[case.agent_topic_id]
    assert topic.closed and topic.name.startswith("▫️")  # named with its new status


async def test_edits_are_mirrored_both_ways(world: World, desk: Desk) -> None:
    await desk.notifier.send_due()
    topic = (await stored(world, desk.number)).agent_topic_id
    await desk.agent.send_in(AGENTS_CHAT, "Pode enviar a foto amanha?", topic)
    [*_, sent_by_agent] = [
        m for m in world.fake.history(AGENTS_CHAT) if m.get("from", {}).get("id") == AGENT
    ]
    world.fake.user_edit(AGENTS_CHAT, sent_by_agent["message_id"], "Pode enviar a foto hoje?")
    await desk.agent.driver.deliver()
    assert world.fake.messages_to(JOAO)[-1]["text"] == "Pode enviar a foto hoje?"

    await desk.buyer.send("A etiqueta diz 65W")
    [*_, sent_by_buyer] = [
        m for m in world.fake.history(JOAO) if m.get("from", {}).get("id") == JOAO
    ]
    world.fake.user_edit(JOAO, sent_by_buyer["message_id"], "A etiqueta diz 45W")
    await desk.buyer.driver.deliver()
    in_topic = world.fake.messages_to(AGENTS_CHAT, message_thread_id=topic)
    assert in_topic[-1]["text"] == "A etiqueta diz 45W"


async def test_an_agent_who_wrote_in_the_topic_decides_from_the_card_there(
    world: World, desk: Desk
) -> None:
    await desk.notifier.send_due()
    topic = (await stored(world, desk.number)).agent_topic_id
    [first_card] = [
        m
        for m in world.fake.messages_to(AGENTS_CHAT, message_thread_id=topic)
        if m.get("reply_markup")
    ]
    photos = [Evidence(EvidenceKind.PHOTO, f"label-{n}", file_id=f"file-{n}") for n in range(3)]
    await case_service.add_evidence(world.core, Actor.buyer(JOAO), desk.number, photos)
    await case_service.provide_info(world.core, Actor.buyer(JOAO), desk.number)
    await desk.notifier.send_due()  # "the buyer sent what was asked": a fresh card
    [card] = [
        m
        for m in world.fake.messages_to(AGENTS_CHAT, message_thread_id=topic)
        if m.get("reply_markup", {}).get("inline_keyboard")
    ]
    assert card["message_id"] > first_card["message_id"]  # the older card lost its buttons
    refund = [
        data
        for row in world.fake.buttons(card)
        for _, data in row
        if data.startswith("t:") and StaffCb.unpack(data).resolution == "refund"
    ]
    assert len(refund) == 1  # an agent decides a counterfeit claim: the buttons are theirs
    before_private = len(world.fake.messages_to(AGENT))

    # writing in the topic takes the case: the buyer reads "an agent joined", then the words
    await desk.agent.send_in(AGENTS_CHAT, "Olá João, vou resolver já.", topic)
    to_buyer = [m.get("text") or "" for m in world.fake.messages_to(JOAO)]
    assert to_buyer[-1] == "Olá João, vou resolver já."
    assert desk.number in to_buyer[-2]  # the joining notice, just before
    await desk.notifier.send_due()
    assert [m.get("text") for m in world.fake.messages_to(JOAO)][-1] == to_buyer[-1]  # once

    # the card's buttons were made before the agent took the case: they still decide
    world.fake.press(AGENT, card["message_id"], refund[0], chat_id=AGENTS_CHAT)
    await desk.agent.driver.deliver()
    case = await stored(world, desk.number)
    assert case.resolution is not None and case.resolution.value == "refund"
    assert case.decided_by is not None and case.decided_by.value == "agent"
    [refreshed] = [
        m
        for m in world.fake.messages_to(AGENTS_CHAT, message_thread_id=topic)
        if m["message_id"] == card["message_id"]
    ]
    assert refreshed["text"] != card["text"]  # the card shows the case as it is now, in place
    now_offered = [
        StaffCb.unpack(data).action
        for row in world.fake.buttons(refreshed)
        for _, data in row
        if data.startswith("t:")  # the case's actions (not its ready replies)
    ]
    assert "ok" not in now_offered and "no" not in now_offered
    assert len(world.fake.messages_to(AGENT)) == before_private  # nothing in private chat


async def test_after_handback_the_buyer_is_told_the_assistant_is_back(
    world: World, desk: Desk
) -> None:
    await desk.notifier.send_due()
    topic = (await stored(world, desk.number)).agent_topic_id
    await desk.agent.send_in(AGENTS_CHAT, "Tudo certo?", topic)
    await desk.agent.send_in(AGENTS_CHAT, "/handback", topic)
    before = len(world.fake.messages_to(JOAO))
    await desk.notifier.send_due()
    told = [m.get("text") or "" for m in world.fake.messages_to(JOAO)][before:]
    assert len(told) == 1 and desk.number in told[0]
    async with world.core.unit_of_work() as uow:
        case = await uow.cases.get_by_number(desk.number)
        rows = await uow.outbox.list_for_case(case.id)
    assert [(r.kind, r.status) for r in rows if r.recipient_role == "buyer"][-1] == (
        "bot_back",
        "sent",
    )
    assert case.owner is Owner.BOT and case.owner_agent_id is None  # the bot answers again


async def test_an_agent_in_private_chat_answers_a_button_question_and_keeps_talking(
    world: World,
) -> None:
    opened = await counterfeit_charger(world, world.person(JOAO, "João", "pt"))
    agent = world.person(AGENT, "Sam", "en")  # no forum group: the agent works in private
    await agent.send(f"/take {opened.number}")
    await agent.press("Ask for more")
    await agent.send("Please send a photo of the serial number")
    case = await stored(world, opened.number)
    assert case.status.value == "awaiting_buyer_info"
    assert case.owner is Owner.AGENT and case.owner_agent_id == AGENT
    asked = await trail(world, opened.number)
    assert asked[-1] == ("request_info", "Please send a photo of the serial number")

    await agent.send("Obrigado, João")  # still talking to the buyer, as before the question
    assert world.fake.messages_to(JOAO)[-1]["text"] == "Obrigado, João"
    case = await stored(world, opened.number)
    assert case.status.value == "awaiting_buyer_info"  # words are not an answer to the question
    assert (await trail(world, opened.number))[-1] == ("message", "Obrigado, João")

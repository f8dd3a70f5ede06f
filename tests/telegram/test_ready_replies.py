"""Ready replies: a seller or an agent picks a sentence in their own language and the buyer
reads it in theirs, with the case's values formatted for the buyer, recorded on the case's
conversation; staff of another shop can neither list nor send them."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.delivery.notifier import Notifier
from bot.factory import create_dispatcher
from bot.views import replies as views
from bot.views import texts
from bot.views.i18n import RTL, SUPPORTED
from core.cases.lifecycle import CaseStatus
from core.cases.model import Actor, Owner
from core.cases.reasons import Resolution
from core.cases.replies import ReadyReply
from core.errors import CoreError
from core.money import Money
from core.services import cases as case_service
from core.services import people
from tests.support import FeedDriver, Person, create_fake_bot
from tests.telegram.conftest import CATALOGS, World, asks_for_a_person, unpaced_notifier
from tests.telegram.test_staff import DMITRI, NOVA_SELLER, NOVA_SELLER_2, earbud_case

AURORA_SELLER = 600001
AGENT = 700001
AGENTS_CHAT = -1007770002
JOAO = 945502
REFUND = {"amount": "45.00", "currency": "USD"}


async def refund_due(world: World) -> str:
    """Dmitri's earbuds: approved for a refund, the return received, the refund not yet made."""
    number = await earbud_case(world)
    await case_service.approve(world.core, Actor.seller(NOVA_SELLER_2), number, Resolution.REFUND)
    await case_service.mark_goods_received(world.core, Actor.seller(NOVA_SELLER_2), number)
    return number


async def stored(world: World, number: str):
    async with world.core.unit_of_work() as uow:
        return await uow.cases.get_by_number(number)


async def messages_on(world: World, number: str) -> list[tuple[int | None, str | None]]:
    """The staff's messages on the case's conversation: (who, what)."""
    view = await case_service.get_case(world.core, Actor.seller(NOVA_SELLER), number)
    return [
        (e.actor_id, e.note)
        for e in view.timeline
        if e.action == "message" and e.actor_role.value != "buyer"
    ]


def plain(text: str) -> str:
    """A sentence as Telegram shows it (the HTML parsed)."""
    return html.unescape(text)


def press_in(
    world: World, person: Person, chat: int, label: str, thread: int | None = None
) -> dict[str, Any]:
    """``person`` presses, in a group (and topic), the newest button labelled ``label``."""
    for message in reversed(world.fake.messages_to(chat, message_thread_id=thread)):
        for row in world.fake.buttons(message):
            for text, data in row:
                if text == label:
                    return world.fake.press(person.id, message["message_id"], data, chat_id=chat)
    raise AssertionError(f"no {label!r} button in chat {chat}")


async def test_a_seller_reading_chinese_sends_a_ready_reply_the_buyer_reads_in_russian(
    world: World, notifier: Notifier
) -> None:
    seller = world.person(NOVA_SELLER, "Wang", "zh")
    number = await refund_due(world)
    await notifier.send_due()
    zh, ru, en = CATALOGS.get("zh"), CATALOGS.get("ru"), CATALOGS.get("en")

    await seller.send(f"/reply {number}")
    offered = [ReadyReply.LOOKING_INTO_IT, ReadyReply.RETURN_RECEIVED, ReadyReply.REFUND_SENT]
    assert seller.buttons() == [views.label(zh, reply) for reply in offered]
    await seller.press(views.label(zh, ReadyReply.REFUND_SENT))
    values = {"case": number, "amount": REFUND}
    for_buyer = plain(views.sentence(ru, ReadyReply.REFUND_SENT, values))
    assert for_buyer in seller.last()  # what Dmitri will read, before it goes
    assert plain(views.sentence(zh, ReadyReply.REFUND_SENT, values)) in seller.last()

    before = len(world.fake.messages_to(DMITRI))
    await seller.press("✉️ " + zh("Send to the buyer"))
    assert seller.buttons() == []  # sent once: the preview loses its buttons
    await notifier.send_due()
    received = world.fake.messages_to(DMITRI)[before:]
    assert [m["text"] for m in received] == [for_buyer]
    # the amount as a Russian reader writes it, not as the seller's or the English source
    assert ru.money(Money.parse("45", "USD")) in for_buyer
    assert en.money(Money.parse("45", "USD")) not in for_buyer
    recorded = plain(views.sentence(en, ReadyReply.REFUND_SENT, values))
    assert await messages_on(world, number) == [(NOVA_SELLER, recorded)]
    case = await stored(world, number)
    assert case.status is CaseStatus.AWAITING_RESOLUTION  # words, not a decision

    # each reads the history in their own language too
    buyer = world.person(DMITRI, "Дмитрий", "ru")
    await buyer.send("/cases")
    await buyer.press(number)
    assert for_buyer in buyer.last()
    await seller.send(f"/case {number}")
    assert plain(views.sentence(zh, ReadyReply.REFUND_SENT, values)) in seller.last()


@dataclass
class Topic:
    agent: Person
    buyer: Person
    notifier: Notifier
    number: str
    topic: int


@pytest.fixture
async def topic(world: World) -> AsyncIterator[Topic]:
    bot = create_fake_bot(world.fake)
    dispatcher = create_dispatcher(world.core, CATALOGS, agents_chat_id=AGENTS_CHAT)
    driver = FeedDriver(dispatcher, bot)
    world.fake.add_group(AGENTS_CHAT, "Returns Desk agents", is_forum=True)
    buyer = Person(world.fake, driver, JOAO, "João", "pt")
    agent = Person(world.fake, driver, AGENT, "Sam", "en")
    case = await asks_for_a_person(world, buyer, "O carregador parece falso")
    notifier = unpaced_notifier(bot, world, AGENTS_CHAT)
    await notifier.send_due()  # the case's topic, with its card
    opened = await stored(world, case.number)
    try:
        yield Topic(agent, buyer, notifier, case.number, opened.agent_topic_id)
    finally:
        await bot.session.close()


async def test_an_agent_sends_a_ready_reply_from_the_topic_and_takes_the_conversation(
    world: World, topic: Topic
) -> None:
    en, pt = CATALOGS.get("en"), CATALOGS.get("pt")
    await topic.agent.send_in(AGENTS_CHAT, "/reply", topic.topic)
    menu = world.fake.messages_to(AGENTS_CHAT, message_thread_id=topic.topic)[-1]
    assert topic.number in menu["text"] and "Português" in menu["text"]
    labels = [text for row in world.fake.buttons(menu) for text, _ in row]
    assert labels == [
        views.label(en, ReadyReply.LOOKING_INTO_IT),
        views.label(en, ReadyReply.ITEM_PHOTOS),  # a counterfeit claim: photos of the item
    ]
    press_in(world, topic.agent, AGENTS_CHAT, views.label(en, ReadyReply.ITEM_PHOTOS), topic.topic)
    await topic.agent.driver.deliver()
    values = {"case": topic.number}
    for_buyer = plain(views.sentence(pt, ReadyReply.ITEM_PHOTOS, values))
    preview = world.fake.messages_to(AGENTS_CHAT, message_thread_id=topic.topic)[-1]
    assert for_buyer in preview["text"]

    before = len(world.fake.messages_to(JOAO))
    press_in(world, topic.agent, AGENTS_CHAT, "✉️ " + en("Send to the buyer"), topic.topic)
    await topic.agent.driver.deliver()
    await topic.notifier.send_due()
    received = [m["text"] for m in world.fake.messages_to(JOAO)[before:]]
    assert len(received) == 2 and received[-1] == for_buyer
    assert topic.number in received[0]  # "an agent has joined" comes first
    case = await stored(world, topic.number)
    assert case.owner is Owner.AGENT and case.owner_agent_id == AGENT
    trail = await case_service.get_case(world.core, Actor.agent(AGENT), topic.number)
    assert ("message", plain(views.sentence(en, ReadyReply.ITEM_PHOTOS, values))) in [
        (e.action, e.note) for e in trail.timeline
    ]

    # the conversation is the agent's now: the buyer's answer goes to the topic
    await topic.buyer.send("Vou enviar as fotos hoje")
    in_topic = world.fake.messages_to(AGENTS_CHAT, message_thread_id=topic.topic)
    assert any(m.get("text") == "Vou enviar as fotos hoje" for m in in_topic)


async def test_staff_of_another_shop_can_neither_list_nor_send_ready_replies(
    world: World, notifier: Notifier
) -> None:
    stranger = world.person(AURORA_SELLER, "Lin", "en")
    number = await refund_due(world)
    await notifier.send_due()
    before = len(world.fake.messages_to(DMITRI))
    en = CATALOGS.get("en")
    not_found = texts.error(en, CoreError("x", code="case_not_found"))

    await stranger.send(f"/reply {number}")
    assert stranger.last() == not_found
    assert stranger.buttons() == []

    # a forged "send" button: refused with the same words, nothing sent or recorded
    forged = views.ReplyCb(number=number, step="send", reply="refund_sent", status="")
    answer_to = stranger.messages()[-1]["message_id"]
    world.fake.press(AURORA_SELLER, answer_to, forged.pack(), strict=False)
    await stranger.driver.deliver()
    assert world.fake.callback_answers[-1]["text"] == not_found
    await notifier.send_due()
    assert len(world.fake.messages_to(DMITRI)) == before
    assert await messages_on(world, number) == []

    # the buyer himself pressing it is not staff at all
    buyer = world.person(DMITRI, "Дмитрий", "ru")
    world.fake.press(
        DMITRI, world.fake.messages_to(DMITRI)[-1]["message_id"], forged.pack(), strict=False
    )
    await buyer.driver.deliver()
    await notifier.send_due()
    assert await messages_on(world, number) == []


async def test_a_forged_ready_reply_code_is_refused_in_words_and_nothing_is_sent(
    world: World, notifier: Notifier
) -> None:
    seller = world.person(NOVA_SELLER, "Wang", "en")
    number = await refund_due(world)
    await notifier.send_due()
    before = len(world.fake.messages_to(DMITRI))
    en = CATALOGS.get("en")
    await seller.send(f"/reply {number}")
    forged = views.ReplyCb(number=number, step="send", reply="free_money", status="")
    world.fake.press(NOVA_SELLER, seller.messages()[-1]["message_id"], forged.pack(), strict=False)
    await seller.driver.deliver()
    unavailable = texts.error(en, CoreError("x", code="ready_reply_unavailable"))
    assert world.fake.callback_answers[-1]["text"] == unavailable
    await notifier.send_due()
    assert len(world.fake.messages_to(DMITRI)) == before
    assert await messages_on(world, number) == []


async def test_the_card_offers_ready_replies_only_while_the_person_may_write_to_the_buyer(
    world: World, notifier: Notifier
) -> None:
    seller = world.person(NOVA_SELLER, "Wang", "en")
    en = CATALOGS.get("en")
    number = await earbud_case(world)  # "does not work", waiting on the sellers
    await notifier.send_due()
    await seller.send(f"/case {number}")
    assert "💬 " + en("Ready replies") in seller.buttons()
    await seller.press("💬 " + en("Ready replies"))
    assert seller.buttons() == [
        views.label(en, ReadyReply.LOOKING_INTO_IT),
        views.label(en, ReadyReply.DEFECT_VIDEO),  # a device that does not work: a video
    ]

    # an agent takes the conversation over: the seller's menu goes, and /reply says why
    await case_service.take_over(world.core, Actor.agent(AGENT), number)
    await seller.send(f"/case {number}")
    assert "💬 " + en("Ready replies") not in seller.buttons()
    await seller.send(f"/reply {number}")
    assert seller.last() == texts.error(en, CoreError("x", code="conversation_with_agent"))

    # a stale menu pressed after the case was rejected sends nothing
    await case_service.hand_back(world.core, Actor.agent(AGENT), number)
    await seller.send(f"/reply {number}")
    await case_service.reject(world.core, Actor.seller(NOVA_SELLER_2), number, "Works as designed")
    await seller.press(views.label(en, ReadyReply.DEFECT_VIDEO))
    assert seller.last_answer is not None
    assert seller.last_answer["text"] == texts.error(en, CoreError("x", code="case_closed"))
    assert await messages_on(world, number) == []


@pytest.mark.parametrize("language", SUPPORTED)
async def test_ready_replies_render_for_staff_and_buyer_in_every_language(
    world: World, notifier: Notifier, language: str
) -> None:
    tr = CATALOGS.get(language)
    seller = world.person(NOVA_SELLER, "Wang", language)
    number = await refund_due(world)
    await people.choose_language(world.core, DMITRI, language)  # the buyer reads it too
    await notifier.send_due()

    await seller.send(f"/reply {number}")
    assert seller.buttons() == [
        views.label(tr, ReadyReply.LOOKING_INTO_IT),
        views.label(tr, ReadyReply.RETURN_RECEIVED),
        views.label(tr, ReadyReply.REFUND_SENT),
    ]
    assert all(label.strip() for label in seller.buttons())
    await seller.press(views.label(tr, ReadyReply.REFUND_SENT))
    await seller.press("✉️ " + tr("Send to the buyer"))
    await notifier.send_due()
    received = world.fake.messages_to(DMITRI)[-1]["text"]
    assert received == plain(
        views.sentence(tr, ReadyReply.REFUND_SENT, {"case": number, "amount": REFUND})
    )
    amount = tr.money(Money.parse("45", "USD"))
    if language in RTL:  # the case number and the amount keep their direction in Arabic
        assert f"\u2068{number}\u2069" in received and f"\u2068{amount}\u2069" in received
    else:
        assert number in received and amount in received

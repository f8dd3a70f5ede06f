"""Buyer and staff each in their own language (README, "Languages and translation"), through
the real Dispatcher and the outbox sender, with fake LibreTranslate and DeepL servers on
loopback and, where it is installed, the real Apertium."""

from __future__ import annotations

import io
import shutil
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.delivery.notifier import Notifier
from bot.factory import create_dispatcher
from bot.testing.fake_translate import FakeDeepL, FakeLibreTranslate
from core.cases.model import Actor, Case
from core.cases.reasons import Reason
from core.persistence.repositories.translations import TranslationRepository, text_hash
from core.policy.decision import Claim
from core.services import cases as case_service
from core.services.export import evidence_pack
from core.translation.config import TranslationSettings
from core.translation.providers import Apertium
from tests.support import FeedDriver, Person, create_fake_bot
from tests.telegram.conftest import CATALOGS, World, unpaced_notifier

AGENTS_CHAT = -1007770001
SELLER = 600001  # aurora's seller, who reads Chinese
AGENT = 700001
LUCIA = 910021  # AUR-10021's buyer, Spanish

STORY = "La lámpara llegó rota. La base de roble está partida y el cable no funciona."
STORY_ZH = "台灯到货时已损坏。 橡木底座裂开了，电线也不能用。"  # as the phrase book joins it
BOOK = {
    ("es", "zh"): {
        "La lámpara llegó rota.": "台灯到货时已损坏。",
        "La base de roble está partida y el cable no funciona.": "橡木底座裂开了，电线也不能用。",
        "Sigue sin funcionar, ¿qué hago?": "还是不能用，我该怎么办？",
    },
    ("es", "ru"): {"Sigue sin funcionar, ¿qué hago?": "Всё ещё не работает, что мне делать?"},
    ("ru", "es"): {
        "Здравствуйте, Лусия! Мы вернём вам": "¡Hola, Lucía! Le devolveremos",
        "за заказ": "por el pedido",
        "до": "antes del",
        "Номер отслеживания": "Número de seguimiento",
    },
    ("es", "ru_back"): {},
}
BOOK[("es", "ru")].update(
    {
        "¡Hola, Lucía! Le devolveremos": "Здравствуйте, Лусия! Мы вернём вам",
        "por el pedido": "за заказ",
        "antes del": "до",
        "Número de seguimiento": "Номер отслеживания",
    }
)
REPLY = (
    "Здравствуйте, Лусия! Мы вернём вам 39,90 € за заказ AUR-10021 до 2026-12-10. "
    "Номер отслеживания LP00123456789CN."
)
REPLY_ES = (
    "¡Hola, Lucía! Le devolveremos 39,90 € por el pedido AUR-10021 antes del 2026-12-10. "
    "Número de seguimiento LP00123456789CN."
)


def translate_with(world: World, **settings: object) -> None:
    """The deployment's [translation] section, as the configuration file would say it."""
    config = world.core.config.model_copy(
        update={"translation": TranslationSettings.model_validate(settings)}
    )
    world.core.config = config
    world.core.translation = None  # made again from the configuration on first use


@pytest.fixture
async def libre() -> AsyncIterator[FakeLibreTranslate]:
    async with FakeLibreTranslate(BOOK) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
async def deepl(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDeepL]:
    monkeypatch.setenv("DEEPL_AUTH_KEY", "fake-key")
    async with FakeDeepL(BOOK) as server:
        yield server  # type: ignore[misc]


async def lamp_case(world: World, lucia: Person, *, wants_person: bool = False) -> Case:
    """Lucía follows AUR-10021's link and reports her Nordic oak lamp damaged."""
    await lucia.send(f"/start {await world.start_link('aurora', 'AUR-10021')}")
    order = await world.order("aurora", "AUR-10021")
    opened = await case_service.open_case(
        world.core,
        Actor.buyer(lucia.id),
        case_service.NewCase(
            order_id=order.id or 0,
            claims=(Claim(1, 1),),
            reason=Reason.DAMAGED,
            description=STORY,
            evidence=(),
            wants_person=wants_person,
        ),
    )
    return opened.case


def zh(msgid: str, **values: str) -> str:
    return CATALOGS.get("zh")(msgid, **values)


# ── the buyer's words reach staff in their language ────────────────────────────────────────


async def test_a_spanish_buyers_damaged_lamp_story_reaches_the_chinese_seller_translated(
    world: World, notifier: Notifier, libre: FakeLibreTranslate
) -> None:
    translate_with(world, providers=["libretranslate"], libretranslate={"url": libre.url})
    seller = world.person(SELLER, "Li", "zh")
    await seller.send("/help")  # the seller's Telegram speaks Chinese
    lucia = world.person(LUCIA, "Lucía", "es")
    case = await lamp_case(world, lucia)

    await notifier.send_due()

    alert = seller.last()
    assert case.number in alert
    assert STORY in alert  # the original, in the card
    assert zh("🌐 {source}→{target} · machine", source="ES", target="ZH") in alert
    assert STORY_ZH in alert  # and in the seller's language, below it
    assert alert.index(STORY) < alert.index(STORY_ZH)
    # what went to the server: the story, for the seller (zh) and the staff group (en), once each
    assert sorted((r["source"], r["target"], r["format"]) for r in libre.requests) == [
        ("es", "en", "html"),
        ("es", "zh", "html"),
    ]
    assert all(r["q"] == [STORY] for r in libre.requests)
    async with world.core.unit_of_work() as uow:
        repo = TranslationRepository(uow.session)
        stored = await repo.get(text_hash(STORY), "es", "zh")
        language = await repo.language(text_hash(STORY))
    assert stored is not None and stored.text == STORY_ZH and stored.provider == "libretranslate"
    assert language == ("es", True)  # detected, kept with the message


async def test_a_seller_chooses_the_reading_language_with_slash_language(
    world: World, notifier: Notifier, libre: FakeLibreTranslate
) -> None:
    translate_with(world, providers=["libretranslate"], libretranslate={"url": libre.url})
    libre.book[("es", "ru")] = {"La lámpara llegó rota.": "Лампа пришла сломанной."}
    seller = world.person(SELLER, "Li", "zh")
    await seller.send("/language")
    await seller.press("Русский")
    case = await lamp_case(world, world.person(LUCIA, "Lucía", "es"))

    await notifier.send_due()

    alert = seller.last()
    assert case.number in alert and STORY in alert
    assert CATALOGS.get("ru")("🌐 {source}→{target} · machine", source="ES", target="RU") in alert
    assert "Лампа пришла сломанной." in alert


async def test_with_no_provider_the_original_is_shown_marked_and_nothing_is_sent(
    world: World, notifier: Notifier, libre: FakeLibreTranslate
) -> None:
    seller = world.person(SELLER, "Li", "zh")
    await seller.send("/help")
    case = await lamp_case(world, world.person(LUCIA, "Lucía", "es"))

    await notifier.send_due()

    alert = seller.last()
    assert case.number in alert and STORY in alert
    assert zh("🌐 {source} · original, not translated", source="ES") in alert
    assert libre.requests == [] and libre.listed == 0  # not configured: nothing leaves


async def test_a_provider_that_is_down_does_not_lose_the_alert(
    world: World, notifier: Notifier, libre: FakeLibreTranslate
) -> None:
    translate_with(world, providers=["libretranslate"], libretranslate={"url": libre.url})
    libre.down = True
    seller = world.person(SELLER, "Li", "zh")
    await seller.send("/help")
    case = await lamp_case(world, world.person(LUCIA, "Lucía", "es"))

    assert await notifier.send_due() >= 1

    alert = seller.last()
    assert case.number in alert and STORY in alert
    assert zh("🌐 {source} · original, not translated", source="ES") in alert


async def test_an_unreachable_provider_does_not_lose_the_alert(
    world: World, notifier: Notifier
) -> None:
    translate_with(
        world, providers=["libretranslate"], libretranslate={"url": "http://127.0.0.1:9"}
    )
    seller = world.person(SELLER, "Li", "zh")
    await seller.send("/help")
    case = await lamp_case(world, world.person(LUCIA, "Lucía", "es"))
    await notifier.send_due()
    assert case.number in seller.last() and STORY in seller.last()


async def test_the_sellers_message_reaches_the_buyer_translated_with_its_numbers(
    world: World, notifier: Notifier, deepl: FakeDeepL
) -> None:
    translate_with(world, providers=["deepl"], deepl={"url": deepl.url})
    deepl.book[("zh", "es")] = {"请拍一张底座的照片，订单": "Haga una foto de la base, pedido"}
    seller = world.person(SELLER, "Li", "zh")
    await seller.send("/help")
    lucia = world.person(LUCIA, "Lucía", "es")
    case = await lamp_case(world, lucia)
    await notifier.send_due()
    question = "请拍一张底座的照片，订单 AUR-10021"
    await case_service.add_message(world.core, Actor.seller(SELLER), case.number, question)

    await notifier.send_due()

    read = lucia.last()
    assert question in read  # as the seller wrote it
    assert "🌐 ZH→ES" in read and "Haga una foto de la base, pedido AUR-10021" in read

    deepl.drop_numbers = True  # a translation that loses the order number is not shown
    await case_service.add_message(
        world.core, Actor.seller(SELLER), case.number, "请拍一张底座的照片，订单 AUR-10021 谢谢"
    )
    await notifier.send_due()
    assert "谢谢" in lucia.last() and "Haga una foto" not in lucia.last()


needs_apertium = pytest.mark.skipif(
    shutil.which("apertium") is None, reason="apertium is not installed"
)


@needs_apertium
async def test_apertium_gives_an_english_reader_the_gist_offline(
    world: World, notifier: Notifier
) -> None:
    if "spa-eng" not in await Apertium(TranslationSettings().apertium, 10).pairs():
        pytest.skip("apertium-eng-spa is not installed")
    translate_with(world, providers=["apertium"])
    seller = world.person(SELLER, "Li", "en")
    await seller.send("/help")
    await lamp_case(world, world.person(LUCIA, "Lucía", "es"))
    await notifier.send_due()
    alert = seller.last()
    assert "🌐 ES→EN · machine" in alert and STORY in alert
    assert "lamp" in alert.split("🌐 ES→EN · machine", 1)[1].lower()


# ── an agent writes in Russian, the buyer reads Spanish ────────────────────────────────────


@dataclass
class Desk:
    lucia: Person
    agent: Person
    notifier: Notifier
    case: Case
    topic: int


@pytest.fixture
async def desk(world: World) -> AsyncIterator[Desk]:
    """Lucía asked for a person about her lamp; the case has its topic in the agents' forum
    group, where a Russian agent reads."""
    bot = create_fake_bot(world.fake)
    dispatcher = create_dispatcher(world.core, CATALOGS, agents_chat_id=AGENTS_CHAT)
    driver = FeedDriver(dispatcher, bot)
    world.fake.add_group(AGENTS_CHAT, "Returns Desk agents", is_forum=True)
    lucia = Person(world.fake, driver, LUCIA, "Lucía", "es")
    agent = Person(world.fake, driver, AGENT, "Oleg", "ru")
    case = await lamp_case(world, lucia, wants_person=True)
    notifier = unpaced_notifier(bot, world, AGENTS_CHAT)
    await notifier.send_due()
    async with world.core.unit_of_work() as uow:
        stored = await uow.cases.get_by_number(case.number)
    assert stored is not None and stored.agent_topic_id is not None
    try:
        yield Desk(lucia, agent, notifier, stored, stored.agent_topic_id)
    finally:
        await bot.session.close()


def to_lucia(world: World) -> list[str]:
    return [m.get("text") or "" for m in world.fake.messages_to(LUCIA)]


async def test_the_russian_agents_reply_reaches_the_spanish_buyer_translated_numbers_intact(
    world: World, desk: Desk, deepl: FakeDeepL
) -> None:
    translate_with(world, providers=["deepl"], deepl={"url": deepl.url}, ask="never")

    await desk.agent.send_in(AGENTS_CHAT, REPLY, desk.topic)

    read = to_lucia(world)[-1]
    assert read.startswith(REPLY_ES)
    for kept in ("39,90 €", "AUR-10021", "2026-12-10", "LP00123456789CN"):
        assert read.count(kept) == 2  # in the translation and in the original below it
    es = CATALOGS.get("es")
    assert es("🌐 Machine-translated from {language}. The original:", language="RU") in read
    [quote] = [
        e
        for e in world.fake.messages_to(LUCIA)[-1].get("entities", [])
        if "blockquote" in e["type"]
    ]
    assert quote["type"] == "expandable_blockquote"  # one tap opens the original
    assert REPLY in read
    [sent] = deepl.requests
    assert sent["source_lang"] == "RU" and sent["target_lang"] == "ES"
    assert "<x>39,90 €</x>" in sent["text"][0] and sent["ignore_tags"] == ["x"]
    view = await case_service.get_case(world.core, Actor.agent(AGENT), desk.case.number)
    assert [e.note for e in view.timeline if e.action == "message"][-1] == REPLY  # as written


async def test_a_translation_that_drops_a_number_is_not_sent(
    world: World, desk: Desk, deepl: FakeDeepL
) -> None:
    translate_with(world, providers=["deepl"], deepl={"url": deepl.url}, ask="never")
    deepl.drop_numbers = True

    replies = await desk.agent.send_in(AGENTS_CHAT, REPLY, desk.topic)

    read = to_lucia(world)[-1]
    assert read.startswith(REPLY)  # the original goes, with a note
    assert "¡Hola, Lucía!" not in read
    assert "39,90 €" in read and "LP00123456789CN" in read
    note = CATALOGS.get("es")(
        "🌐 Written in {language}. A machine translation would have changed its numbers, "
        "so you get it as written.",
        language="RU",
    )
    assert note in read
    told = replies[-1]["text"]
    assert "39,90 €" in told and desk.case.number not in told  # the agent hears which values


async def test_the_agent_previews_then_sends_and_the_buyers_words_come_back_translated(
    world: World, desk: Desk, libre: FakeLibreTranslate
) -> None:
    translate_with(
        world, providers=["libretranslate"], libretranslate={"url": libre.url}, ask="always"
    )

    shown = await desk.agent.send_in(AGENTS_CHAT, REPLY, desk.topic)

    preview = shown[-1]
    assert REPLY_ES in preview["text"] and REPLY in preview["text"]  # there and back
    before = len(to_lucia(world))
    labels = [label for row in world.fake.buttons(preview) for label, _ in row]
    assert labels == [
        CATALOGS.get("ru")("Send"),
        CATALOGS.get("ru")("Send original"),
        CATALOGS.get("ru")("Cancel"),
    ]
    [[(_, send), _], [(_, cancel)]] = world.fake.buttons(preview)
    # another agent cannot send it
    Person(world.fake, desk.agent.driver, 700002, "Ana", "en")
    world.fake.press(700002, preview["message_id"], send, chat_id=AGENTS_CHAT)
    await desk.agent.driver.deliver()
    assert len(to_lucia(world)) == before
    world.fake.press(AGENT, preview["message_id"], send, chat_id=AGENTS_CHAT)
    await desk.agent.driver.deliver()
    assert to_lucia(world)[-1].startswith(REPLY_ES)
    world.fake.press(AGENT, preview["message_id"], cancel, chat_id=AGENTS_CHAT, strict=False)
    await desk.agent.driver.deliver()
    assert len(to_lucia(world)) == before + 1  # sent once

    # the buyer answers: the copy in the topic, then its translation for the agent
    await desk.lucia.send("Sigue sin funcionar, ¿qué hago?")
    topic = [
        m.get("text") or ""
        for m in world.fake.messages_to(AGENTS_CHAT, message_thread_id=desk.topic)
    ]
    assert topic[-2] == "Sigue sin funcionar, ¿qué hago?"
    assert "🌐 ES→RU" in topic[-1] and "Всё ещё не работает, что мне делать?" in topic[-1]


async def test_the_evidence_pack_has_every_translation_and_the_conversation_in_my_language(
    world: World, desk: Desk, libre: FakeLibreTranslate
) -> None:
    translate_with(
        world, providers=["libretranslate"], libretranslate={"url": libre.url}, ask="never"
    )
    await desk.agent.send_in(AGENTS_CHAT, REPLY, desk.topic)
    await desk.lucia.send("Sigue sin funcionar, ¿qué hago?")  # relayed, translated for Oleg

    pack = await evidence_pack(world.core, Actor.agent(AGENT), desk.case.number)

    files = zipfile.ZipFile(io.BytesIO(pack.data))
    assert "translations.txt" in pack.files and "conversation.ru.txt" in pack.files
    listing = files.read("translations.txt").decode()
    assert REPLY in listing and REPLY_ES in listing and "libretranslate" in listing
    assert "Sigue sin funcionar, ¿qué hago?" in listing
    conversation = files.read("conversation.ru.txt").decode()
    assert REPLY in conversation  # the agent's own words, as written
    assert "Всё ещё не работает, что мне делать?" in conversation  # the buyer's, in Russian
    assert "Sigue sin funcionar" not in conversation
    assert "translations.txt" in files.read("manifest.json").decode()

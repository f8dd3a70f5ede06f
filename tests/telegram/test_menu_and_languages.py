"""First contact: the greeting and the menu in the buyer's language, the order link from the
e-mail, choosing a language, the command menu, and the return policy written from the
configuration."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from bot.factory import create_dispatcher, register_commands
from bot.views.i18n import NATIVE_NAMES, NEW_LANGUAGES_ON, SUPPORTED, telegram_code
from core.cases.reasons import Party, Reason
from core.policy.config import Config, MinimumRights, ReasonRule, WindowFrom
from tests.support import FeedDriver, Person, create_fake_bot
from tests.telegram.conftest import CATALOGS, World

MENU_ICONS = ["📦", "⚠️", "🚚", "📂", "✏️", "📜", "🙋", "🌐"]

# language → (the greeting's first words, the "Where is my order?" button)
GREETINGS = {
    "en": ("Hello, Ana!", "🚚 Where is my order?"),
    "zh": ("Ana，您好！我是客服助手。", "🚚 我的订单到哪了？"),
    "ru": ("Здравствуйте, Ana!", "🚚 Где мой заказ?"),
    "es": ("¡Hola, Ana! Soy el asistente", "🚚 ¿Dónde está mi pedido?"),
    "pt": ("Olá, Ana! Sou o assistente", "🚚 Onde está meu pedido?"),
    "fr": ("Bonjour Ana", "🚚 Où est ma commande\u202f?"),
    "de": ("Hallo Ana! Ich bin der Kundenservice-Assistent.", "🚚 Wo ist meine Bestellung?"),
    "it": ("Ciao Ana! Sono l'assistente del servizio clienti.", "🚚 Dov'è il mio ordine?"),
    "nl": ("Hallo Ana! Ik ben de assistent van de klantenservice.", "🚚 Waar is mijn bestelling?"),
    "pl": ("Witaj, Ana! Jestem asystentem obsługi klienta.", "🚚 Gdzie jest moje zamówienie?"),
    "zh_Hant": ("Ana，您好！我是客服助理。", "🚚 我的訂單在哪裡？"),
    # a Latin name in Arabic text is isolated (FSI … PDI), so it keeps its own direction
    "ar": ("مرحبًا \u2068Ana\u2069! أنا مساعد خدمة العملاء.", "🚚 أين طلبي؟"),
}


def menu_icons(labels: list[str]) -> list[str]:
    return [label.split(" ", 1)[0] for label in labels]


async def user_row(world: World, user_id: int):
    async with world.core.unit_of_work() as uow:
        return await uow.users.get(user_id)


async def is_linked(world: World, shop: str, number: str, user_id: int) -> bool:
    order = await world.order(shop, number)
    assert order.id is not None
    async with world.core.unit_of_work() as uow:
        return await uow.links.is_linked(order.id, user_id)


# ── greeting and menu ──────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("language", SUPPORTED)
async def test_plain_start_greets_in_the_telegram_language_with_the_eight_entry_menu(
    world: World, language: str
) -> None:
    ana = world.person(120001, "Ana", language)
    await ana.send("/start")
    hello, where_is_my_order = GREETINGS[language]
    assert ana.last().startswith(hello)
    assert menu_icons(ana.buttons()) == MENU_ICONS
    assert where_is_my_order in ana.buttons()


@pytest.mark.parametrize(("tag", "language"), [("pt-br", "pt"), ("zh-hans", "zh"), ("es-MX", "es")])
async def test_a_regional_language_tag_gets_its_base_language(
    world: World, tag: str, language: str
) -> None:
    ana = world.person(120002, "Ana", tag)
    await ana.send("/start")
    hello, where_is_my_order = GREETINGS[language]
    assert ana.last().startswith(hello)
    assert where_is_my_order in ana.buttons()


async def test_a_language_without_a_catalogue_falls_back_to_english(world: World) -> None:
    sofia = world.person(120003, "Sofia", "ja")
    await sofia.send("/start")
    assert sofia.last().startswith("Hello, Sofia! I am the customer service assistant.")
    assert sofia.buttons() == [
        "📦 Return or refund",
        "⚠️ Report a problem with an order",
        "🚚 Where is my order?",
        "📂 My cases",
        "✏️ Change or cancel an order",
        "📜 Return policy",
        "🙋 Talk to a person",
        "🌐 Language",
    ]


# ── the order link from the e-mail ─────────────────────────────────────────────────────────


async def test_start_with_the_order_link_links_the_buyer_at_once_and_shows_the_order(
    world: World,
) -> None:
    li = world.person(120004, "Li", "zh")
    payload = await world.start_link("aurora", "AUR-10028")
    assert not await is_linked(world, "aurora", "AUR-10028", li.id)

    await li.send(f"/start {payload}")

    shown = li.last()
    assert shown.startswith("您的订单 AUR-10028 已关联到此对话。")
    assert "订单 AUR-10028：已发货" in shown
    assert "Bamboo towel set, 3 pcs × 1" in shown
    assert "J&T Express" in shown and "JT5012345678901" in shown
    assert menu_icons(li.buttons()) == MENU_ICONS
    assert await is_linked(world, "aurora", "AUR-10028", li.id)  # the buyer_links row

    await li.press("🚚 我的订单到哪了？")  # the linked order is offered straight away
    assert "AUR-10028 · Bamboo towel set, 3 pcs" in li.buttons()


async def test_a_tampered_order_link_is_refused_clearly_and_the_menu_follows(
    world: World,
) -> None:
    camille = world.person(120005, "Camille", "fr")
    payload = await world.start_link("nova", "NV-5504")
    forged = payload[:-1] + ("A" if payload[-1] != "A" else "B")

    answers = await camille.send(f"/start {forged}")

    texts = [answer["text"] for answer in answers]
    assert texts[0] == "Ce lien n’est pas valide. Saisissez plutôt votre numéro de commande."
    assert texts[-1].startswith("Bonjour Camille")
    assert menu_icons(camille.buttons()) == MENU_ICONS
    assert not await is_linked(world, "nova", "NV-5504", camille.id)


# ── choosing a language ────────────────────────────────────────────────────────────────────


async def test_a_chosen_language_answers_at_once_and_outlives_a_restart_and_telegram(
    world: World,
) -> None:
    ana = world.person(120006, "Ana", "es")
    await ana.send("/language")
    assert ana.last() == "Elige tu idioma:"
    eight = ["English", "中文", "Русский", "Español", "Português", "Français", "Deutsch", "العربية"]
    twelve = [
        *("English", "简体中文", "繁體中文", "Русский", "Español", "Português", "Français"),
        *("Italiano", "Deutsch", "Nederlands", "Polski", "العربية"),
    ]
    assert ana.buttons() == (twelve if NEW_LANGUAGES_ON else eight)

    await ana.press("Deutsch")
    assert ana.last() == "Ab jetzt spreche ich Deutsch mit Ihnen."
    assert "🚚 Wo ist meine Bestellung?" in ana.buttons()
    assert (await user_row(world, ana.id)).chosen_language == "de"

    await world.restart()
    world.fake.users[ana.id].language_code = "fr"  # her Telegram app now says French
    await ana.send("/start")
    assert ana.last().startswith("Hallo Ana!")
    assert "🚚 Wo ist meine Bestellung?" in ana.buttons()


async def test_the_language_button_of_the_menu_switches_to_arabic(world: World) -> None:
    ahmed = world.person(120007, "Ahmed", "en")
    await ahmed.send("/start")
    await ahmed.press("🌐 Language")
    rows = [[label for label, _ in row] for row in world.fake.buttons(ahmed.last_message())]
    assert [name for row in rows for name in row] == [NATIVE_NAMES[code] for code in SUPPORTED]
    assert [len(row) for row in rows] == [2] * (len(SUPPORTED) // 2) + [1] * (len(SUPPORTED) % 2)
    await ahmed.press("العربية")
    assert ahmed.last() == "سأتحدث معك بالعربية من الآن فصاعدًا."
    await ahmed.send("/help")
    assert "/cases" in ahmed.last() and "Tap a button" not in ahmed.last()


# ── the command menu ───────────────────────────────────────────────────────────────────────


async def test_register_commands_sets_the_command_menu_in_every_language(world: World) -> None:
    bot = create_fake_bot(world.fake)
    try:
        await register_commands(bot, CATALOGS)
    finally:
        await bot.session.close()

    menus = world.fake.commands
    assert set(menus) == {("all_private_chats", "")} | {
        ("all_private_chats", language) for language in SUPPORTED if telegram_code(language)
    }
    names = ["start", "cases", "language", "human", "cancel", "help", "mydata", "forgetme"]
    for menu in menus.values():
        assert [command["command"] for command in menu] == names
    telegram = [lang for lang in SUPPORTED if telegram_code(lang)]
    described = {lang: menus[("all_private_chats", lang)][0]["description"] for lang in telegram}
    assert described["en"] == menus[("all_private_chats", "")][0]["description"] == "Main menu"
    assert described["zh"] == "主菜单"
    assert described["ru"] == "Главное меню"
    assert described["es"] == "Menú principal"
    assert described["de"] == "Hauptmenü"
    assert described["ar"] == "القائمة الرئيسية"
    human = {lang: menus[("all_private_chats", lang)][3]["description"] for lang in telegram}
    assert len(set(human.values())) == len(telegram)  # every language has its own words


# ── the return policy, written from the configuration ──────────────────────────────────────


async def test_aurora_policy_states_its_window_exclusions_threshold_and_eu_right(
    world: World,
) -> None:
    emily = world.person(120008, "Emily", "en")
    await emily.send(f"/start {await world.start_link('aurora', 'AUR-10025')}")
    await emily.press("📜 Return policy")

    policy = emily.last()
    assert policy.startswith("Return policy of Aurora Home & Living")
    assert "Return it within 30 days of delivery." in policy
    assert "Not returnable for a change of mind: swimwear, underwear." in policy
    assert "Items worth less than €10.00 do not need to be sent back." in policy
    assert "may always withdraw within 14 days of delivery" in policy
    assert "restocking fee" not in policy
    assert "You pay the return postage for a change of mind." in policy
    assert emily.buttons() == ["🏠 Main menu"]


async def test_nova_policy_in_spanish_has_15_days_and_a_10_percent_restocking_fee(
    world: World,
) -> None:
    maria = world.person(120009, "María", "es")
    await maria.send(f"/start {await world.start_link('nova', 'NV-5506')}")
    await maria.press("📜 Política de devoluciones")

    policy = maria.last()
    assert policy.startswith("Política de devoluciones de Nova Gadgets")
    assert "Devuélvelo en un plazo de 15 días desde la entrega." in policy
    assert "cargo de reposición del 10\xa0%" in policy
    assert "5,00\xa0US$" in policy  # nothing under this needs to go back
    assert "Aurora" not in policy  # only the shop she bought from


async def test_a_buyer_without_orders_picks_the_shop_first(world: World) -> None:
    joao = world.person(120010, "João", "pt")
    await joao.send("/start")
    await joao.press("📜 Política de devolução")
    assert joao.last() == "Em qual loja você comprou?"
    assert joao.buttons() == ["Aurora Home & Living", "Nova Gadgets", "Lumen Beauty"]
    await joao.press("Aurora Home & Living")
    policy = joao.last()
    assert policy.startswith("Política de devolução de Aurora Home & Living")
    assert "€\xa010,00" in policy
    assert "14 dias após a entrega" in policy


def reconfigured(config: Config) -> Config:
    """Aurora with other numbers, and the UK's withdrawal right instead of the EU's."""
    aurora = config.shops["aurora"]
    policy = aurora.policy.model_copy(
        update={
            "window_from": WindowFrom.SHIPPING,
            "change_of_mind_days": 45,
            "defect_days": 60,
            "restocking_fee_percent": Decimal("5"),
            "refund_without_return_below": Decimal("0"),
            "non_returnable_categories": ("swimwear", "home-textiles"),
            "reasons": {
                **aurora.policy.reasons,
                Reason.CHANGED_MIND: ReasonRule(return_shipping=Party.SELLER),
            },
        }
    )
    return config.model_copy(
        update={
            "shops": {**config.shops, "aurora": aurora.model_copy(update={"policy": policy})},
            "minimum_rights": {"uk": MinimumRights(countries=("GB",), change_of_mind_days=14)},
        }
    )


async def test_the_policy_text_follows_a_changed_configuration(world: World) -> None:
    config = reconfigured(world.core.config)
    core = dataclasses.replace(world.core, config=config)
    bot = create_fake_bot(world.fake)
    try:
        emily = Person(
            world.fake, FeedDriver(create_dispatcher(core, CATALOGS), bot), 120011, "Emily", "ja"
        )
        await emily.send(f"/start {await world.start_link('aurora', 'AUR-10025')}")
        await emily.press("📜 Return policy")
    finally:
        await bot.session.close()

    policy = emily.last()
    assert "Return it within 45 days of shipping." in policy
    assert "30 days" not in policy
    assert "A restocking fee of 5% applies to change-of-mind returns." in policy
    assert "The shop pays the return postage, even for a change of mind." in policy
    assert "Not returnable for a change of mind: swimwear, home textiles." in policy
    assert "Tell us within 60 days of shipping" in policy
    assert "do not need to be sent back" not in policy
    assert "Buyers in GB may always withdraw within 14 days" in policy
    assert "EU and EEA" not in policy

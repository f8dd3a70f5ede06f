"""A buyer who does not follow the script: Back and Cancel everywhere, odd input at every step,
double taps, updates delivered twice, albums at once, a bot restart mid-case, forged buttons,
wrong checks, markup in text, overlong text. Nothing is lost, nothing is doubled."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey

from core.cases.lifecycle import CaseStatus
from core.cases.model import Actor, CaseLine
from core.cases.reasons import Reason
from core.services import cases as case_service
from core.services import linking
from tests.support import Person
from tests.telegram.conftest import World

# ── one two-line order (AUR-10022: a duvet cover and two pillowcases), step by step ────────

STEPS = ("order", "items", "quantity", "reason", "description", "evidence", "resolution", "confirm")

WORDS = {
    "es": {
        "menu": "Devolución o reembolso",
        "continue": "Continuar",
        "reason": "Talla o color incorrecto",
        "done": "Listo",
        "refund": "Reembolso",
        "confirm": "Confirmar y enviar",
        "back": "⬅️ Atrás",
        "cancel": "✖️ Cancelar",
        "cancelled": "Cancelado. No se envió nada.",
        "order?": "¿De qué pedido se trata?",
        "items?": "¿De qué artículos se trata?",
        "quantity?": "¿Cuántas unidades de “Linen pillowcase, sage”? Compraste 2.",
        "reason?": "¿Qué pasó?",
        "description?": "¿Quieres contar en pocas palabras qué pasó?",
        "evidence?": "Envía una foto",
        "resolution?": "¿Qué prefieres?",
        "confirm?": "Revisa tu solicitud:",
    },
    "en": {
        "menu": "Return or refund",
        "continue": "Continue",
        "reason": "Wrong size or colour",
        "done": "Done",
        "refund": "Refund",
        "confirm": "Confirm and send",
        "back": "⬅️ Back",
        "cancel": "✖️ Cancel",
        "cancelled": "Cancelled. Nothing was sent.",
        "order?": "Which order is it about?",
        "items?": "Which items is it about?",
        "quantity?": "How many of “Linen pillowcase, sage”? You bought 2.",
        "reason?": "What happened?",
        "description?": "Would you like to add a few words about what happened?",
        "evidence?": "Please send a photo",
        "resolution?": "What would you prefer?",
        "confirm?": "Please check your request:",
    },
}
PILLOWCASES = "Linen pillowcase, sage × 2"


async def linked(world: World, user_id: int, name: str, language: str, shop: str, number: str):
    person = world.person(user_id, name, language)
    await person.send(f"/start {await world.start_link(shop, number)}")
    assert number in person.last()
    return person


async def answer(person: Person, step: str, words: dict[str, str]) -> None:
    """Answer the question of ``step`` as a buyer of two wrong-size pillowcases would."""
    match step:
        case "order":
            await person.press("AUR-10022")
        case "items":
            if f"☑️ {PILLOWCASES}" not in person.buttons():
                await person.press(f"⬜ {PILLOWCASES}")
            await person.press(words["continue"])
        case "quantity":
            await person.press("2")
        case "reason":
            await person.press(words["reason"])
        case "description":
            await person.send("50x70 <instead of> 50x75 & 😕")
        case "evidence":
            if words["done"] not in " ".join(person.buttons()):
                await person.send_photo()
            await person.press(words["done"])
        case "resolution":
            await person.press(words["refund"])
        case "confirm":
            await person.press(words["confirm"])


def asks(person: Person, step: str, words: dict[str, str]) -> bool:
    return words[f"{step}?"] in person.last()


async def walk_to(person: Person, step: str, words: dict[str, str]) -> None:
    await person.press(words["menu"])
    for current in STEPS:
        assert asks(person, current, words), (current, person.last())
        if current == step:
            return
        await answer(person, current, words)


async def state_of(world: World, user_id: int) -> tuple[str | None, dict]:
    """The conversation state the bot keeps for this private chat, from the database."""
    key = DefaultKeyBuilder(with_destiny=True).build(
        StorageKey(bot_id=world.fake.bot_user["id"], chat_id=user_id, user_id=user_id)
    )
    async with world.core.unit_of_work() as uow:
        return await uow.conversations.get(key)


# ── Back and Cancel ────────────────────────────────────────────────────────────────────────


async def test_back_at_every_step_returns_to_the_previous_question_and_keeps_the_answers(
    world: World,
) -> None:
    en = WORDS["en"]
    ana = await linked(world, 940001, "Ana", "en", "aurora", "AUR-10022")
    await walk_to(ana, "items", en)
    assert en["back"] in ana.buttons()
    previous = None
    for step in STEPS[1:]:  # the order list is the first question: nothing before it
        assert asks(ana, step, en), (step, ana.last())
        if step == "evidence":
            await ana.send_photo()  # then Back: the photo must survive the detour
        await ana.press(en["back"])
        assert asks(ana, STEPS[STEPS.index(step) - 1], en), (step, ana.last())
        previous = STEPS[STEPS.index(step) - 1]
        await answer(ana, previous, en)
        assert asks(ana, step, en), (step, ana.last())
        if step == "items":
            assert f"☑️ {PILLOWCASES}" not in ana.buttons()  # nothing chosen yet
        if step == "quantity":
            assert ana.buttons()[:2] == ["1", "2"]
        if step == "resolution":
            assert "Received 1 of at least 1." in ana.seen()[-2]  # the photo was kept
        await answer(ana, step, en)
    assert previous == "resolution"

    [case] = await world.cases_of(940001)
    assert case.lines == (CaseLine(line_no=2, quantity=2),)
    assert case.reason is Reason.WRONG_SIZE_COLOUR
    assert case.description == "50x70 <instead of> 50x75 & 😕"
    assert len(case.evidence) == 1  # one photo, although the evidence step was seen twice


async def test_back_from_the_question_after_a_quantity_asks_the_quantity_again(
    world: World,
) -> None:
    es = WORDS["es"]
    lucia = await linked(world, 940002, "Lucía", "es", "aurora", "AUR-10022")
    await walk_to(lucia, "reason", es)
    await lucia.press(es["back"])
    assert lucia.last() == es["quantity?"]
    await lucia.press("1")
    assert lucia.last() == es["reason?"]
    await lucia.press(es["back"])
    await lucia.press(es["back"])
    assert es["items?"] in lucia.last()
    assert f"☑️ {PILLOWCASES}" in lucia.buttons()  # the choice is still there


@pytest.mark.parametrize("step", STEPS)
async def test_cancel_at_any_step_ends_with_nothing_sent_and_no_case(
    world: World, step: str
) -> None:
    es = WORDS["es"]
    pablo = await linked(world, 940003, "Pablo", "es", "aurora", "AUR-10022")
    await walk_to(pablo, step, es)
    old_buttons = pablo.last_message()
    await pablo.press(es["cancel"])
    assert pablo.last() == es["cancelled"]
    assert "📦 " + es["menu"] in pablo.buttons()  # a way on, not a dead end
    assert await world.cases_of(940003) == []
    assert await state_of(world, 940003) == (None, {})
    if step == "confirm":  # the summary's old Confirm button is dead now
        data = next(d for row in world.fake.buttons(old_buttons) for t, d in row if "✅" in t)
        world.fake.press(940003, old_buttons["message_id"], data or "")
        await pablo.driver.deliver()
        assert await world.cases_of(940003) == []


async def test_the_cancel_command_in_the_middle_of_a_case_sends_nothing(world: World) -> None:
    es = WORDS["es"]
    pablo = await linked(world, 940004, "Pablo", "es", "aurora", "AUR-10022")
    await walk_to(pablo, "evidence", es)
    await pablo.send_photo()
    await pablo.send("/cancel")
    assert pablo.last() == es["cancelled"]
    assert await world.cases_of(940004) == []


async def test_back_and_cancel_while_typing_an_order_number_and_its_check(world: World) -> None:
    marie = world.person(940005, "Marie", "fr")
    await marie.send("/start")
    await marie.press("Retour ou remboursement")
    assert marie.last().startswith("Veuillez saisir votre numéro de commande")
    await marie.send("AUR-10022")
    assert marie.last().startswith("Pour protéger votre commande")
    await marie.press("Précédent")
    assert marie.last().startswith("Veuillez saisir votre numéro de commande")
    await marie.send("AUR-10022")
    await marie.press("Annuler")
    assert marie.last() == "C’est annulé. Rien n’a été envoyé."
    assert await linking.buyer_orders(world.core, Actor.buyer(940005, "M")) == []


async def test_back_from_typing_another_order_number_returns_to_the_list(world: World) -> None:
    en = WORDS["en"]
    ana = await linked(world, 940006, "Ana", "en", "aurora", "AUR-10022")
    await ana.press(en["menu"])
    await ana.press("Another order")
    assert ana.last() == "Please type your order number."
    await ana.press(en["back"])
    assert asks(ana, "order", en)
    assert "AUR-10022 · Linen duvet cover 200x200, sage" in ana.buttons()


# ── unexpected input ───────────────────────────────────────────────────────────────────────


async def test_odd_input_at_every_step_gets_a_clear_re_ask_and_loses_nothing(world: World) -> None:
    olga = world.person(940010, "Ольга", "ru")
    as_text = "Пожалуйста, напишите это текстом."
    use_buttons = "Пожалуйста, нажмите одну из кнопок выше."
    type_answer = "Пожалуйста, напишите ответ текстом"
    still_needed = "Осталось прислать: 1 фото."  # no Done button yet: no "or press Done"

    await olga.send("/start")
    await olga.press("Вернуть товар или деньги")
    await olga.send_sticker()  # the order number
    assert olga.last() == as_text
    await olga.send("AUR-10022")
    await olga.send_location()  # the check
    assert olga.last() == as_text
    await olga.send("marie.dubois@example.fr")
    assert "Спасибо! Заказ AUR-10022 теперь привязан к этому чату." in olga.seen()[-2]

    await olga.send("наволочки")  # items: text where a button is expected
    assert olga.last() == use_buttons
    await olga.press(f"⬜ {PILLOWCASES}")
    await olga.send_voice()
    assert olga.last() == use_buttons
    await olga.press("Продолжить")  # the tick survived the detours
    assert "Сколько штук «Linen pillowcase, sage»?" in olga.last()

    await olga.send_sticker()  # quantity
    assert olga.last() == "Пожалуйста, выберите количество кнопками выше или введите число."
    await olga.send("7")
    assert olga.last() == "Пожалуйста, выберите число от 1 до 2."
    await olga.send("2")
    assert olga.last() == "Что случилось?"

    await olga.send_location()  # reason
    assert olga.last() == use_buttons
    await olga.send("размер не тот")
    assert olga.last() == use_buttons
    await olga.press("Не тот размер или цвет")

    for odd in (olga.send_sticker, olga.send_voice, olga.send_location):  # description
        await odd()
        assert olga.last().startswith(type_answer)
        assert "⬅️ Назад" in olga.buttons()
    await olga.send("Наволочки 50x70, а заказывала 50x75")

    await olga.send("фото сейчас будет")  # evidence
    assert olga.last().endswith("\n" + still_needed) and "Готово" not in olga.last()
    assert "✅ Готово" not in olga.buttons()
    await olga.send_sticker()
    assert olga.last().endswith("\n" + still_needed) and "Готово" not in olga.last()
    await olga.send_document("invoice.pdf")
    assert olga.last() == "Этот файл не фото и не видео. Пожалуйста, пришлите фото или видео."
    world.fake.user_video(940010, content=bytes(30 * 1024 * 1024))  # a 30 MB video
    await olga.driver.deliver()
    assert olga.last().startswith("Файл слишком большой (больше 20 МБ).")
    assert "✖️ Отмена" in olga.buttons()
    await olga.send_photo()
    assert "Получено: 1, нужно не менее 1." in olga.last()
    await olga.press("Готово")

    await olga.send("деньги верните")  # resolution
    assert olga.last() == use_buttons
    await olga.press("Возврат денег")
    await olga.send_sticker()  # confirm
    assert olga.last() == use_buttons
    await olga.press("Подтвердить и отправить")
    assert "R-2611-0001" in olga.last()

    [case] = await world.cases_of(940010)
    assert case.lines == (CaseLine(line_no=2, quantity=2),)
    assert case.description == "Наволочки 50x70, а заказывала 50x75"
    assert [e.mime_type for e in case.evidence] == ["image/jpeg"]  # no PDF, no 30 MB video
    stored = [p for p in world.core.evidence.root.rglob("*") if p.is_file()]
    assert len(stored) == 1 and stored[0].stat().st_size < 1024 * 1024


async def test_a_short_description_that_mentions_the_lamp_support_is_kept(world: World) -> None:
    en = WORDS["en"]
    ana = await linked(world, 940012, "Ana", "en", "aurora", "AUR-10022")
    await walk_to(ana, "description", en)
    await ana.send("The support is broken")
    assert asks(ana, "evidence", en)
    _, data = await state_of(world, 940012)
    assert data["description"] == "The support is broken"


async def test_a_description_of_5000_characters_is_too_long_and_the_step_stays(
    world: World,
) -> None:
    es = WORDS["es"]
    lucia = await linked(world, 940011, "Lucía", "es", "aurora", "AUR-10022")
    await walk_to(lucia, "description", es)
    await lucia.send("x" * 5000)
    assert lucia.last() == "Es demasiado largo: usa menos de 4.000 caracteres."
    assert lucia.buttons() == [es["back"], es["cancel"]]
    await lucia.send("La funda es más pequeña")
    assert asks(lucia, "evidence", es)
    _, data = await state_of(world, 940011)
    assert data["description"] == "La funda es más pequeña"


# ── the same thing twice ───────────────────────────────────────────────────────────────────


async def damaged_lamp_until_confirm(world: World, person: Person) -> None:
    """A zh buyer of AUR-10021 up to the summary, with a three-photo album."""
    await person.press("退货或退款")
    await person.press("AUR-10021")
    await person.press("到货破损")
    await person.press("跳过")
    await person.send_album(3)
    await person.press("完成")
    await person.press("退款")
    assert "请核对您的申请" in person.last()


async def test_a_double_tap_on_confirm_opens_exactly_one_case_with_every_photo(
    world: World,
) -> None:
    li = await linked(world, 940020, "李伟", "zh", "aurora", "AUR-10021")
    await damaged_lamp_until_confirm(world, li)
    summary = li.last_message()
    [data] = [d for row in world.fake.buttons(summary) for t, d in row if "确认并提交" in t]
    world.fake.press(940020, summary["message_id"], data or "")
    world.fake.press(940020, summary["message_id"], data or "")
    await li.driver.deliver(concurrent=True)

    [case] = await world.cases_of(940020)
    assert len(case.evidence) == 3
    opened = [text for text in li.seen() if "已创建" in text]
    assert len(opened) == 1 and "R-2611-0001" in opened[0]
    assert "此按钮已失效。请使用最新的消息。" in [a["text"] for a in world.fake.callback_answers]


async def test_updates_delivered_twice_create_one_case_and_keep_each_photo_once(
    world: World,
) -> None:
    li = await linked(world, 940021, "李伟", "zh", "aurora", "AUR-10021")
    await li.press("退货或退款")
    await li.press("AUR-10021")
    await li.press("到货破损")
    reason_press = world.fake.update_log[-1]["update_id"]
    await li.press("跳过")
    await li.send_album(2)
    second_photo = world.fake.update_log[-1]["update_id"]
    for update_id in (second_photo, reason_press):  # Telegram delivers at least once
        world.fake.redeliver(update_id)
        await li.driver.deliver()
    await li.send_photo()
    assert "已收到 3 个，至少需要 3 个。" in li.last()
    await li.press("完成")
    await li.press("退款")
    await li.press("确认并提交")
    confirm_press = world.fake.update_log[-1]["update_id"]
    world.fake.redeliver(confirm_press)
    await li.driver.deliver()

    [case] = await world.cases_of(940021)
    assert len(case.evidence) == 3
    assert len({e.file_unique_id for e in case.evidence}) == 3


async def test_a_redelivered_button_press_is_ignored_without_an_apology(world: World) -> None:
    li = await linked(world, 940022, "李伟", "zh", "aurora", "AUR-10021")
    await damaged_lamp_until_confirm(world, li)
    await li.press("确认并提交")
    world.fake.redeliver(world.fake.update_log[-1]["update_id"])
    await li.driver.deliver()
    assert not [text for text in li.seen() if "出了点问题" in text]


async def test_two_albums_at_once_keep_every_photo(world: World) -> None:
    en = WORDS["en"]
    ana = await linked(world, 940023, "Ana", "en", "aurora", "AUR-10021")
    await ana.press(en["menu"])
    await ana.press("AUR-10021")
    await ana.press("Arrived damaged")
    await ana.press("Skip")
    for _ in range(2):  # two albums of two, their items interleaved, all handled at once
        world.fake.user_photo(940023, None, "album-a")
        world.fake.user_photo(940023, None, "album-b")
    await ana.driver.deliver(concurrent=True)
    await ana.send_album(3, concurrent=True)
    assert ana.last() == "Received 7 of at least 3. You can send several at once."
    await ana.press("Done")
    await ana.press("Refund")
    assert "7 photos or videos attached." in ana.last()
    await ana.press("Confirm and send")

    [case] = await world.cases_of(940023)
    assert len(case.evidence) == 7
    assert len({e.file_unique_id for e in case.evidence}) == 7
    groups = [e.media_group_id for e in case.evidence]
    assert groups.count("album-a") == 2 and groups.count("album-b") == 2


async def test_a_restart_in_the_middle_of_a_case_continues_where_the_buyer_was(
    world: World,
) -> None:
    lucia = await linked(world, 940024, "Lucía", "es", "aurora", "AUR-10021")
    await lucia.press("Devolución o reembolso")
    await lucia.press("AUR-10021")
    await lucia.press("Llegó dañado")
    await lucia.send("La base llegó partida")
    await lucia.send_album(2)
    assert "Recibí 2 de al menos 3." in lucia.last()

    await world.restart()  # only the database remembers

    await lucia.send_photo()
    assert "Recibí 3 de al menos 3." in lucia.last()
    await lucia.press("Listo")
    await lucia.press("Reembolso")
    await lucia.press("Confirmar y enviar")
    [case] = await world.cases_of(940024)
    assert case.description == "La base llegó partida"
    assert len(case.evidence) == 3


# ── forged buttons ─────────────────────────────────────────────────────────────────────────


async def test_forged_buttons_naming_someone_elses_order_or_case_are_refused(
    world: World,
) -> None:
    en = WORDS["en"]
    joao = await linked(world, 940030, "João", "pt", "aurora", "AUR-10023")
    await joao.press("Devolução ou reembolso")
    await joao.press("AUR-10023")
    await joao.press("Não recebido")
    await joao.press("Reembolso")
    await joao.press("Confirmar e enviar")
    [victim] = await world.cases_of(940030)
    victims_order = await world.order("aurora", "AUR-10023")

    mallory = await linked(world, 940031, "Mallory", "en", "aurora", "AUR-10022")
    await mallory.press(en["menu"])
    order_list = mallory.last_message()["message_id"]

    async def forge(data: str) -> None:
        world.fake.press(940031, order_list, data, strict=False)
        await mallory.driver.deliver()

    await forge(f"o:{victims_order.id}")
    assert mallory.last() == (
        "I could not match that order number with those details. Check both and try again."
    )
    await forge(f"w:{victims_order.id}")
    for action in ("show", "message", "evidence", "sent", "human", "reopen", "withdraw_yes"):
        await forge(f"c:{victim.number}:{action}")
    refusals = [a["text"] for a in world.fake.callback_answers[-8:]]
    assert refusals[0] == (
        "I could not match that order number with those details. Check both and try again."
    )
    assert refusals[1:] == ["I cannot find that case among yours."] * 7

    [after] = await world.cases_of(940030)
    assert (after.status, after.version, after.escalated) == (
        victim.status,
        victim.version,
        victim.escalated,
    )
    assert await world.cases_of(940031) == []
    mine = await linking.buyer_orders(world.core, Actor.buyer(940031, "M"))
    assert [o.number for o in mine] == ["AUR-10022"]
    async with world.core.unit_of_work() as uow:
        queued = await uow.outbox.pending(now=datetime(2027, 1, 1, tzinfo=UTC))
    assert not [m for m in queued if m.kind == "parcel_reminder"]

    # still at the order question: the real button works
    await answer(mallory, "order", en)
    assert asks(mallory, "items", en)


async def test_forged_quantity_and_outcome_buttons_are_asked_again(world: World) -> None:
    en = WORDS["en"]
    ana = await linked(world, 940032, "Ana", "en", "aurora", "AUR-10022")
    await walk_to(ana, "quantity", en)
    question = ana.last_message()["message_id"]
    for data in ("q:2:99", "q:2:0", "q:2:-1"):
        world.fake.press(940032, question, data, strict=False)
        await ana.driver.deliver()
        assert ana.last() == en["quantity?"]
    await answer(ana, "quantity", en)
    await answer(ana, "reason", en)
    await answer(ana, "description", en)
    await answer(ana, "evidence", en)
    assert asks(ana, "resolution", en)
    offered = ana.last_message()["message_id"]
    world.fake.press(940032, offered, "s:store_credit", strict=False)  # not offered here
    await ana.driver.deliver()
    assert asks(ana, "resolution", en)
    await answer(ana, "resolution", en)
    assert "Linen pillowcase, sage × 2" in ana.last()
    assert "You prefer: Refund" in ana.last()
    await answer(ana, "confirm", en)
    [case] = await world.cases_of(940032)
    assert case.lines == (CaseLine(line_no=2, quantity=2),)
    assert case.preferred_resolution is not None
    assert case.preferred_resolution.value == "refund"


# ── the ownership check ────────────────────────────────────────────────────────────────────


async def test_three_wrong_checks_then_the_right_one_links_the_order(world: World) -> None:
    marie = world.person(940040, "Marie", "fr")
    await marie.send("/start")
    await marie.press("Retour ou remboursement")
    for wrong in ("marie@example.fr", "1234", "75001"):
        await marie.send("AUR-10022")
        assert marie.last().startswith("Pour protéger votre commande")
        await marie.send(wrong)
        assert marie.last() == (
            "Je n’ai pas pu associer ce numéro de commande à ces informations. Vérifiez les deux "
            "et réessayez.\nVeuillez saisir à nouveau votre numéro de commande."
        )
    await marie.send("AUR-10022")
    await marie.send("69003")
    assert "Merci, la commande AUR-10022 est maintenant liée" in marie.seen()[-2]
    assert marie.last().startswith("Quels articles sont concernés")
    mine = await linking.buyer_orders(world.core, Actor.buyer(940040, "M"))
    assert [o.number for o in mine] == ["AUR-10022"]


async def test_after_five_failed_checks_even_the_right_one_waits_an_hour(world: World) -> None:
    joao = world.person(940041, "João", "pt")
    await joao.send("/start")
    await joao.press("Devolução ou reembolso")
    for attempt in range(5):
        await joao.send("AUR-10023")
        await joao.send(f"0000{attempt}")
        assert joao.last().startswith("Não consegui associar esse número de pedido")
    await joao.send("AUR-10023")
    await joao.send("01304-001")  # right, but too late
    assert joao.last() == "Muitas tentativas. Tente de novo daqui a uma hora."
    assert joao.buttons() == ["🏠 Menu principal"]
    actor = Actor.buyer(940041, "J")
    assert await linking.buyer_orders(world.core, actor) == []

    world.clock.advance(minutes=61)
    await joao.press("Menu principal")
    await joao.press("Devolução ou reembolso")
    await joao.send("AUR-10023")
    await joao.send("01304-001")
    assert [o.number for o in await linking.buyer_orders(world.core, actor)] == ["AUR-10023"]


# ── markup and emoji in what buyers type ───────────────────────────────────────────────────


async def test_markup_and_emoji_are_shown_escaped_and_stored_verbatim(world: World) -> None:
    words = "Mi pedido AUR-10021 llegó <b>roto</b> & 😡"
    note = "¿Y el <reembolso> & 💸?"
    lucia = world.person(940050, "Lucía <b>", "es")
    await lucia.send("/start")
    await lucia.press("Devolución o reembolso")
    await lucia.send("<b>&</b> 🎉")  # not an order number: asked for the check, no crash
    assert lucia.last().startswith("Para proteger tu pedido")
    await lucia.send("/cancel")
    await lucia.send(f"/start {await world.start_link('aurora', 'AUR-10021')}")

    await lucia.send(words)  # free text naming the order starts a case with these words
    await lucia.press("Llegó dañado")
    await lucia.send_album(3)
    await lucia.press("Listo")
    await lucia.press("Reembolso")
    summary = lucia.last_message()
    assert f"Lo que escribiste: {words}" in summary["text"]
    assert "llegó &lt;b&gt;roto&lt;/b&gt; &amp; 😡" in summary["html"]
    await lucia.press("Confirmar y enviar")

    await lucia.press("Menú principal")
    await lucia.press("Mis casos")
    await lucia.press("R-2611-0001")
    await lucia.press("Añadir un mensaje")
    await lucia.send(note)
    assert lucia.last().startswith("Tu mensaje se añadió al caso R-2611-0001.")
    await lucia.send("/cases")
    await lucia.press("R-2611-0001")
    assert note in lucia.last()
    assert "¿Y el &lt;reembolso&gt; &amp; 💸?" in lucia.last_message()["html"]

    [case] = await world.cases_of(940050)
    assert case.description == words
    view = await case_service.get_case(world.core, Actor.buyer(940050, "L"), case.number)
    assert [e.note for e in view.timeline if e.action == "message"] == [note]


async def test_every_button_fits_telegrams_64_bytes_of_callback_data(world: World) -> None:
    en = WORDS["en"]
    ana = await linked(world, 940060, "Ana", "en", "aurora", "AUR-10022")
    await ana.send(f"/start {await world.start_link('aurora', 'AUR-10028')}")
    await walk_to(ana, "confirm", en)
    await answer(ana, "confirm", en)
    await ana.press("Main menu")
    await ana.press("Where is my order?")
    await ana.press("AUR-10028")
    await ana.press("Remind me then")
    await ana.send("/cases")
    await ana.press("R-2611-0001")
    await ana.press("Withdraw this case")
    await ana.send("/language")

    seen = [data for m in ana.messages() for row in world.fake.buttons(m) for _, data in row]
    assert len(seen) > 40
    assert all(data and 1 <= len(data.encode()) <= 64 for data in seen)
    case = (await world.cases_of(940060))[0]
    assert case.status is CaseStatus.AWAITING_RETURN

"""Reaching a person (a button, /human, the word in the buyer's language, a chargeback threat,
disagreeing with a rejection), and what happens when something fails or a text is too long
for one Telegram message."""

from __future__ import annotations

import logging
import re

import pytest

from bot.conversations.common import TELEGRAM_TEXT_LIMIT, split_text
from bot.testing.entities import parse_text
from core.cases.lifecycle import CaseStatus
from core.cases.model import Actor
from core.cases.reasons import Reason, Resolution
from core.policy.decision import Claim
from core.services import cases as case_service
from tests.support import Person
from tests.telegram.conftest import World

BUYER = 140001
AURORA_SELLER = Actor.seller(600001)

NEXT_STEPS = {  # "A support agent will take over … within 24 hours …"
    "en": "A support agent will take over this conversation and reply here within 24 hours.",
    "ru": "Сотрудник поддержки подключится к этому разговору и ответит здесь в течение 24 часов.",
    "zh": "客服人员将接手本次对话，并在 24 小时内在这里回复您。",
    "es": "Un agente de soporte se hará cargo de esta conversación y te responderá aquí en menos "
    "de 24 horas.",
}


async def linked(world: World, person: Person, shop: str, number: str) -> None:
    await person.send(f"/start {await world.start_link(shop, number)}")
    assert number in person.last()


async def open_case(
    world: World, user_id: int, shop: str, number: str, reason: Reason, **values
) -> str:
    """A case opened through the core (the flows themselves are tested elsewhere)."""
    order = await world.order(shop, number)
    assert order.id is not None
    opened = await case_service.open_case(
        world.core,
        Actor.buyer(user_id),
        case_service.NewCase(
            order_id=order.id,
            claims=tuple(Claim(line.line_no, line.quantity) for line in order.lines),
            reason=reason,
            **values,
        ),
    )
    return opened.case.number


async def case(world: World, number: str):
    async with world.core.unit_of_work() as uow:
        found = await uow.cases.get_by_number(number)
    assert found is not None
    return found


async def queued_for_agents(world: World, number: str) -> list[str]:
    async with world.core.unit_of_work() as uow:
        found = await uow.cases.get_by_number(number)
        assert found is not None and found.id is not None
        messages = await uow.outbox.list_for_case(found.id)
    return [m.kind for m in messages if m.recipient_role == "agents"]


# ── talk to a person ───────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("language", "ask"),
    [
        ("en", "press:🙋 Talk to a person"),
        ("ru", "/human"),
        ("en", "agent"),
        ("ru", "оператор"),
        ("zh", "人工"),
        ("es", "persona"),
    ],
)
async def test_asking_for_a_person_escalates_the_newest_open_case(
    world: World, language: str, ask: str
) -> None:
    buyer = world.person(BUYER, "Dana", language)
    await linked(world, buyer, "aurora", "AUR-10027")
    await linked(world, buyer, "nova", "NV-5505")
    older = await open_case(
        world,
        BUYER,
        "aurora",
        "AUR-10027",
        Reason.CANCEL_ORDER,
        preferred_resolution=Resolution.CANCEL,
    )
    newer = await open_case(
        world, BUYER, "nova", "NV-5505", Reason.OTHER, description="How do I charge it?"
    )
    assert (await case(world, newer)).status is CaseStatus.AWAITING_SELLER

    if ask.startswith("press:"):
        await buyer.press(ask.removeprefix("press:"))
    else:
        await buyer.send(ask)

    assert buyer.last().startswith(NEXT_STEPS[language])
    escalated = await case(world, newer)
    assert escalated.status is CaseStatus.AWAITING_AGENT and escalated.escalated
    assert await queued_for_agents(world, newer) == ["escalated"]
    untouched = await case(world, older)
    assert untouched.status is CaseStatus.AWAITING_SELLER and not untouched.escalated


async def test_with_no_case_the_bot_explains_and_the_next_case_goes_to_an_agent(
    world: World,
) -> None:
    olga = world.person(BUYER, "Olga", "ru")
    await olga.send("оператор")
    assert olga.last() == (
        "Сотрудник поддержки с радостью поможет. Сначала укажите, о каком заказе речь, чтобы у "
        "него была вся информация: выберите «Проблема с заказом»."
    )
    assert len(olga.buttons()) == 8

    await linked(world, olga, "aurora", "AUR-10027")  # the link from her e-mail, in between
    await olga.press("✏️ Изменить или отменить заказ")
    await olga.press("AUR-10027 · Jute table runner, 180 cm")
    await olga.press("Отмена заказа")
    await olga.press("✅ Подтвердить и отправить")

    assert "Сотрудник поддержки лично рассмотрит обращение" in olga.last()
    [opened] = await world.cases_of(BUYER)
    assert opened.status is CaseStatus.AWAITING_AGENT and opened.escalated
    assert await queued_for_agents(world, opened.number) == ["case_opened"]


async def test_asking_for_a_person_in_the_middle_of_a_request_sends_it_to_an_agent(
    world: World,
) -> None:
    dana = world.person(BUYER, "Dana", "en")
    await linked(world, dana, "aurora", "AUR-10027")
    await dana.press("✏️ Change or cancel an order")
    await dana.press("AUR-10027 · Jute table runner, 180 cm")
    await dana.press("Cancel the order")
    await dana.send("agent")
    assert dana.last() == (
        "Noted: when you confirm this request, it goes straight to a support agent."
    )
    await dana.press("✅ Confirm and send")
    [opened] = await world.cases_of(BUYER)
    assert opened.status is CaseStatus.AWAITING_AGENT


async def test_at_the_description_step_the_words_are_the_story_and_human_still_works(
    world: World,
) -> None:
    dana = world.person(BUYER, "Dana", "en")
    await linked(world, dana, "aurora", "AUR-10021")
    await dana.press("⚠️ Report a problem with an order")
    await dana.press("AUR-10021 · Nordic oak table lamp")
    await dana.press("Arrived damaged")
    await dana.send("/human")
    assert dana.last() == (
        "Noted: when you confirm this request, it goes straight to a support agent."
    )
    await dana.send("The support is broken")  # the lamp's support, not a request
    assert dana.last().startswith("Please send a photo of the parcel as it arrived")
    await dana.send_album(3)
    await dana.press("✅ Done")
    await dana.press("Refund")
    await dana.press("✅ Confirm and send")
    [opened] = await world.cases_of(BUYER)
    assert opened.description == "The support is broken"
    assert opened.status is CaseStatus.AWAITING_AGENT


@pytest.mark.parametrize(
    ("story", "status"),
    [
        (
            "Llegó rota. Si no me devuelven el dinero abriré un chargeback.",
            CaseStatus.AWAITING_AGENT,
        ),
        ("Pagué con PayPal y abriré una disputa allí.", CaseStatus.AWAITING_AGENT),
        ("Voy a reclamar a mi banco.", CaseStatus.AWAITING_AGENT),
        ("La base llegó rota.", CaseStatus.AWAITING_RESOLUTION),  # approved at once
    ],
)
async def test_a_story_that_threatens_a_chargeback_goes_to_a_person(
    world: World, story: str, status: CaseStatus
) -> None:
    lucia = world.person(BUYER, "Lucía", "es")
    await linked(world, lucia, "aurora", "AUR-10021")
    await lucia.press("⚠️ Problema con un pedido")
    await lucia.press("AUR-10021 · Nordic oak table lamp")
    await lucia.press("Llegó dañado")
    await lucia.send(story)
    await lucia.send_album(3)
    await lucia.press("✅ Listo")
    await lucia.press("Reembolso")
    await lucia.press("✅ Confirmar y enviar")

    [opened] = await world.cases_of(BUYER)
    assert opened.status is status
    assert opened.escalated is (status is CaseStatus.AWAITING_AGENT)
    if opened.escalated:
        assert "Un agente de soporte lo revisará personalmente" in lucia.last()
        assert await queued_for_agents(world, opened.number) == ["case_opened"]


async def test_free_text_that_threatens_a_chargeback_also_goes_to_a_person(world: World) -> None:
    lucia = world.person(BUYER, "Lucía", "es")
    await linked(world, lucia, "aurora", "AUR-10021")
    await lucia.send("Mi pedido AUR-10021 llegó roto y si no, chargeback")
    await lucia.press("Llegó dañado")
    await lucia.send_album(3)
    await lucia.press("✅ Listo")
    await lucia.press("Reembolso")
    await lucia.press("✅ Confirmar y enviar")

    [opened] = await world.cases_of(BUYER)
    assert opened.description == "Mi pedido AUR-10021 llegó roto y si no, chargeback"
    assert opened.status is CaseStatus.AWAITING_AGENT and opened.escalated


async def test_a_rejected_case_offers_a_review_by_a_person(world: World) -> None:
    carmen = world.person(BUYER, "Carmen", "es")
    await linked(world, carmen, "aurora", "AUR-10027")
    number = await open_case(
        world,
        BUYER,
        "aurora",
        "AUR-10027",
        Reason.CANCEL_ORDER,
        preferred_resolution=Resolution.CANCEL,
    )
    await case_service.reject(world.core, AURORA_SELLER, number, "Ya salió del almacén <hoy>")

    await carmen.send("/cases")
    await carmen.press(number)
    card = carmen.last()
    assert "Estado: Rechazado" in card
    assert "Motivo indicado: Ya salió del almacén <hoy>" in card
    assert "🙋 En desacuerdo: pedir revisión" in carmen.buttons()

    await carmen.press("🙋 En desacuerdo: pedir revisión")
    assert carmen.last().startswith(NEXT_STEPS["es"])
    reviewed = await case(world, number)
    assert reviewed.status is CaseStatus.AWAITING_AGENT and reviewed.escalated
    assert await queued_for_agents(world, number) == ["reopened"]


async def test_a_photo_sent_outside_any_request_is_acknowledged_with_the_way_forward(
    world: World,
) -> None:
    sofia = world.person(BUYER, "Sofia", "ja")  # no catalogue: English
    await sofia.send_photo()
    assert sofia.last() == (
        "Thank you. To send photos or videos, first choose below what they are about, or "
        "open your case under “My cases”."
    )
    assert len(sofia.buttons()) == 8
    await sofia.send_sticker()
    assert sofia.last().startswith("I can only read text, photos and videos here.")


# ── errors ─────────────────────────────────────────────────────────────────────────────────


async def fail(*args, **kwargs):
    raise RuntimeError("the database is on fire")


async def test_a_failing_handler_apologises_in_the_buyers_language_and_logs_the_update(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ahmed = world.person(BUYER, "Ahmed", "ar")
    monkeypatch.setattr(case_service, "buyer_cases", fail)

    with caplog.at_level(logging.ERROR, logger="returns_desk.errors"):
        await ahmed.send("/cases")

    assert ahmed.last() == (
        "عذرًا، حدث خطأ من جهتنا. لم يضِع أي شيء أرسلته: يرجى المحاولة مرة أخرى بعد قليل، "
        "أو اكتب /human للتواصل مع موظف."
    )
    update_id = world.fake.update_log[-1]["update_id"]
    [record] = [r for r in caplog.records if r.name == "returns_desk.errors"]
    assert record.levelno == logging.ERROR
    assert re.search(rf"\bupdate {update_id}\b.*\buser {BUYER}\b", record.getMessage())
    # the handler and the exception's type, never its text (it may quote the buyer): the
    # traceback is logged at DEBUG only
    assert "my_cases" in record.getMessage() and "RuntimeError" in record.getMessage()
    assert "on fire" not in record.getMessage() and record.exc_info is None

    monkeypatch.undo()
    await ahmed.send("/cases")
    assert ahmed.last() == "ليست لديك أي بلاغات بعد."


async def test_a_failing_button_is_answered_and_the_request_can_be_confirmed_again(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    anna = world.person(BUYER, "Anna", "de")
    await linked(world, anna, "aurora", "AUR-10027")
    await anna.press("✏️ Bestellung ändern/stornieren")
    await anna.press("AUR-10027 · Jute table runner, 180 cm")
    await anna.press("Bestellung stornieren")
    monkeypatch.setattr(case_service, "open_case", fail)

    with caplog.at_level(logging.ERROR, logger="returns_desk.errors"):
        await anna.press("✅ Bestätigen und senden")

    assert anna.last_answer is not None  # the button stops spinning
    assert anna.last().startswith("Entschuldigung, bei uns ist etwas schiefgelaufen.")
    assert f"user {BUYER}" in caplog.text
    assert await world.cases_of(BUYER) == []

    monkeypatch.undo()
    await anna.press("✅ Bestätigen und senden")  # nothing was lost: the same request
    [opened] = await world.cases_of(BUYER)
    assert opened.reason is Reason.CANCEL_ORDER and opened.number in anna.last()


# ── texts longer than one Telegram message ─────────────────────────────────────────────────


def visible(part: str) -> str:
    text, _ = parse_text(part, "HTML")  # raises as Telegram would on broken HTML
    return text


def test_a_short_text_is_sent_as_it_is() -> None:
    text = "<b>R-2611-0001</b>\nline two"
    assert split_text(text) == [text]
    assert split_text("x" * TELEGRAM_TEXT_LIMIT) == ["x" * TELEGRAM_TEXT_LIMIT]


def test_a_long_text_is_split_at_line_breaks_within_the_limit() -> None:
    lines = [f"{n:03} · " + "д" * 90 for n in range(100)]
    parts = split_text("\n".join(lines))
    assert len(parts) == 3
    assert all(len(part) <= TELEGRAM_TEXT_LIMIT for part in parts)
    assert "\n".join(parts).split("\n") == lines  # whole lines, none lost, in order


def test_a_tag_open_at_a_cut_is_closed_and_opened_again() -> None:
    text = "<b>Case</b>\n<i>" + "\n".join(f"word {n} &amp; more" for n in range(30)) + "</i>"
    parts = split_text(text, limit=120)
    assert len(parts) > 3
    for part in parts[1:]:
        assert part.startswith("<i>") and part.endswith("</i>")
        visible(part)
    assert "".join(visible(part) for part in parts).count("&") == 30


def test_one_enormous_line_is_cut_between_characters_never_in_a_tag_or_an_entity() -> None:
    text = "<b>" + "a&amp;b&lt;" * 1000 + "</b>"  # 10,007 characters on one line
    parts = split_text(text, limit=1000)
    assert all(len(part) <= 1000 for part in parts)
    assert "".join(visible(part) for part in parts) == "a&b<" * 1000


def test_the_limit_counts_utf16_units_as_telegram_does() -> None:
    parts = split_text("😀" * 3000)  # 6,000 units
    assert [len(part) for part in parts] == [2048, 952]


def test_no_part_is_blank() -> None:
    parts = split_text("a\n" + "\n" * 5000 + "b", limit=100)
    assert parts[0].strip() == "a" and parts[-1].strip() == "b"
    assert all(part.strip() for part in parts)


async def test_a_long_case_history_arrives_in_several_messages_with_the_buttons_last(
    world: World,
) -> None:
    anna = world.person(BUYER, "Anna", "de")
    await linked(world, anna, "aurora", "AUR-10027")
    number = await open_case(
        world,
        BUYER,
        "aurora",
        "AUR-10027",
        Reason.CANCEL_ORDER,
        preferred_resolution=Resolution.CANCEL,
    )
    for n in range(12):  # each note is shown in italics, over two lines, up to 300 characters
        note = f"Nachricht {n:02} <&>\n" + "ü" * 290
        await case_service.add_message(world.core, Actor.buyer(BUYER), number, note)

    await anna.send("/cases")
    answers = await anna.press(number)

    texts = [answer["text"] for answer in answers]
    assert len(texts) >= 2
    assert texts[0].startswith(f"Anfrage {number}")
    assert all(len(text) <= TELEGRAM_TEXT_LIMIT for text in texts)
    assert all(f"Nachricht {n:02} <&>" in "".join(texts) for n in range(1, 12))
    assert "Entschuldigung" not in "".join(texts)
    assert "reply_markup" not in answers[0]
    assert "📂 Meine Anfragen" in anna.buttons()  # on the last part


async def test_after_a_refusal_talk_to_a_person_hands_that_claim_to_an_agent(
    world: World,
) -> None:
    emily = world.person(925025, "Emily", "en")
    await emily.send(f"/start {await world.start_link('aurora', 'AUR-10025')}")
    await emily.press("Report a problem with an order")
    await emily.press("AUR-10025")
    await emily.press("Poor quality / not as described")
    assert "ended on" in emily.last()  # the window closed on Oct 1
    assert await world.cases_of(925025) == []

    await emily.press("Talk to a person")
    [case] = await world.cases_of(925025)
    assert case.status.value == "awaiting_agent" and case.escalated
    assert case.decision.refusal == "outside_window"  # the agent sees why
    assert "support agent" in emily.last()

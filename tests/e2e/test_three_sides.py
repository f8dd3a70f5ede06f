"""Buyer, seller and agent, end to end: the real bot process (``python -m bot run``) with its
outbox sender, against the fake Telegram over HTTP. A buyer's case reaches the shop's sellers
(in their language, with the photos and one-tap buttons) or the agents' forum group; what
staff decide reaches the buyer in the buyer's language, once, whatever Telegram's flood
control or a killed process does in between."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from typing import Any

from bot.demo import sample_png
from bot.testing.people import visible_text
from core.cases.lifecycle import CaseStatus, MoneyStatus
from core.cases.model import Case, Owner
from core.cases.reasons import Reason, Resolution
from core.money import Money
from tests.e2e.conftest import (
    E2E,
    lamp_return_up_to_confirm,
    outbox_of,
    send_album_of,
    start_payload,
)

LUCIA = 930021  # AUR-10021, the damaged lamp (es)
JOAO = 935502  # NV-5502, the charger that looks fake (pt)
DMITRY = 935501  # NV-5501, the dead earbud (ru)
WANG = 600001  # Aurora's seller
NOVA_SELLERS = (600002, 600003)
AURORA_STAFF_CHAT = -1001000000001  # shops.toml: Aurora's staff group
AGENTS_CHAT = -1007770042  # the agents' forum supergroup (AGENTS_CHAT_ID)
AGENT = 700001
LAMP_PRICE_ES = "39,90\u00a0€"  # Spanish: a no-break space before the sign


# ── helpers ────────────────────────────────────────────────────────────────────────────────


async def eventually(check: Callable[[], Any], within: float = 8.0) -> Any:
    """Wait for background work of the bot process (its outbox sender) to show."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.05)


def texts_in(e2e: E2E, chat_id: int, thread: int | None = None) -> list[str]:
    return [visible_text(m) for m in e2e.fake.messages_to(chat_id, message_thread_id=thread)]


def album_in(e2e: E2E, chat_id: int, thread: int | None = None) -> list[dict[str, Any]]:
    """The bot's album messages (media group items) in a chat or topic."""
    messages = e2e.fake.messages_to(chat_id, message_thread_id=thread)
    return [m for m in messages if m.get("media_group_id")]


def photo_bytes(e2e: E2E, message: dict[str, Any]) -> bytes:
    return e2e.fake.file_bytes(message["photo"][-1]["file_id"])  # the largest size


async def alert_for(e2e: E2E, chat_id: int, number: str) -> dict[str, Any]:
    """The outbox sender's alert about this case in a staff chat (waited for)."""

    def find() -> list[dict[str, Any]]:
        return [m for m in e2e.fake.messages_to(chat_id) if number in m.get("text", "")]

    found = await eventually(find)
    assert found, f"no alert about {number} in {chat_id}: {texts_in(e2e, chat_id)}"
    return found[-1]


def labels(e2e: E2E, message: dict[str, Any]) -> list[str]:
    return [text for row in e2e.fake.buttons(message) for text, _ in row]


def callback_of(e2e: E2E, message: dict[str, Any], label: str) -> str:
    [data] = [d for row in e2e.fake.buttons(message) for text, d in row if label in text]
    assert data is not None
    return data


async def only_case(e2e: E2E, buyer: int) -> Case:
    cases = await e2e.cases_of(buyer)
    assert len(cases) == 1, cases
    return cases[0]


def with_agents_group(e2e: E2E) -> None:
    """The agents' forum supergroup, with the bot in it, and AGENTS_CHAT_ID in the bot's .env
    (the settings file an operator would write next to the process)."""
    e2e.fake.add_group(AGENTS_CHAT, "Agents", is_forum=True)
    (e2e.bots.cwd / ".env").write_text(f"AGENTS_CHAT_ID={AGENTS_CHAT}\n", encoding="utf-8")


# ── the buyers' stories ────────────────────────────────────────────────────────────────────


async def lamp_refund_case(e2e: E2E, photos: list[bytes]) -> str:
    """Lucía reports the damaged lamp with an album of three photos and asks for a refund:
    under Aurora's automatic limit, approved at once; the refund is still to be made."""
    lucia = e2e.person(LUCIA, "Lucía", "es")
    await lamp_return_up_to_confirm(lucia, "AUR-10021", photos)
    await lucia.press("Confirmar")
    case = await only_case(e2e, LUCIA)
    assert case.number in lucia.last() and LAMP_PRICE_ES in lucia.last()
    assert case.status is CaseStatus.AWAITING_RESOLUTION and case.money is MoneyStatus.PENDING
    assert case.resolution is Resolution.REFUND
    return case.number


async def earbud_case(e2e: E2E) -> str:
    """Dmitry's earbud does not work: a video, a replacement wanted; above Nova's automatic
    limit, so the shop's sellers decide."""
    dmitry = e2e.person(DMITRY, "Дмитрий", "ru")
    await dmitry.send(f"/start {start_payload('nova', 'NV-5501')}")
    await dmitry.press("Вернуть товар или деньги")
    await dmitry.press("NV-5501")
    await dmitry.press("Не работает")
    await dmitry.send("Левый наушник не включается")
    await dmitry.send_video()
    await dmitry.press("Готово")
    await dmitry.press("Замена")
    await dmitry.press("Подтвердить и отправить")
    case = await only_case(e2e, DMITRY)
    assert case.number in dmitry.last()
    assert case.reason is Reason.DOES_NOT_WORK and case.status is CaseStatus.AWAITING_SELLER
    return case.number


# ── the tests ──────────────────────────────────────────────────────────────────────────────


async def test_a_chinese_seller_records_the_refund_and_the_spanish_buyer_is_told(
    e2e: E2E,
) -> None:
    e2e.fake.add_user(WANG, "王伟", "zh")  # Aurora's seller uses Telegram in Chinese
    await e2e.start_bot()
    wang = e2e.person(WANG, "王伟", "zh")
    await wang.send("/cases")  # the bot learns his language
    assert wang.last() == "没有处理中的服务单。🎉"

    photos = [sample_png(seed) for seed in (21, 22, 23)]
    number = await lamp_refund_case(e2e, photos)

    alert = await alert_for(e2e, WANG, number)
    assert alert["text"].startswith(f"新服务单 {number}")
    assert "AUR-10021" in alert["text"] and "已附 3 张照片或视频。" in alert["text"]
    offered = labels(e2e, alert)  # what completes the case first, the card last
    assert offered[0] == "💸 登记退款…" and offered[-1] == "📄 服务单详情"
    assert "⚠️ 退款失败…" in offered  # the refund can fail: that has its own button
    album = album_in(e2e, WANG)
    assert len({m["media_group_id"] for m in album}) == 1  # the photos as one album
    assert [photo_bytes(e2e, m) for m in album] == photos
    assert album[-1]["message_id"] < alert["message_id"]  # the photos, then the alert

    await wang.press("登记退款")
    assert wang.last() == "请输入已退金额和交易流水号，例如：39.90 PAY-123。"
    await wang.send("39.90 SEPA-1")
    assert wang.last().startswith(f"服务单 {number}：")

    refunded = f"Caso {number}: se te reembolsó {LAMP_PRICE_ES}."
    assert await eventually(lambda: refunded in texts_in(e2e, LUCIA)), texts_in(e2e, LUCIA)
    case = await only_case(e2e, LUCIA)
    assert case.status is CaseStatus.RESOLVED and case.money is MoneyStatus.REFUNDED
    assert case.refunded_amount == Money.parse("39.90", "EUR")
    assert case.refund_reference == "SEPA-1"
    assert e2e.failed_calls() == [] and e2e.bots.errors() == []


async def test_an_agent_and_the_buyer_talk_through_the_case_topic(e2e: E2E) -> None:
    with_agents_group(e2e)
    await e2e.start_bot()
    joao = e2e.person(JOAO, "João", "pt")
    await joao.send(f"/start {start_payload('nova', 'NV-5502')}")
    await joao.press("Devolução ou reembolso")
    await joao.press("NV-5502")
    await joao.press("65W GaN fast charger")
    await joao.press("Continuar")
    await joao.press("Parece falso / falsificado")
    await joao.send("O carregador não é original")
    label_photos = [sample_png(seed) for seed in (31, 32)]
    await send_album_of(joao, label_photos)
    await joao.press("Pronto")
    await joao.press("Reembolso")
    await joao.press("Confirmar e enviar")
    assert "Um atendente vai analisar pessoalmente e responder aqui até" in joao.last()
    case = await only_case(e2e, JOAO)
    assert case.status is CaseStatus.AWAITING_AGENT and case.escalated
    assert [(line.line_no, line.quantity) for line in case.lines] == [(2, 1)]  # the charger

    # the outbox sender opens a topic for the case in the agents' group, with the card
    group = e2e.fake.chats[AGENTS_CHAT]
    await eventually(lambda: group.topics)
    [(topic, record)] = group.topics.items()
    assert f" {case.number} · " in record.name
    await alert_for(e2e, AGENTS_CHAT, case.number)
    card = [t for t in texts_in(e2e, AGENTS_CHAT, topic) if case.number in t]
    assert len(card) == 1 and "O carregador não é original" in card[0]
    assert [photo_bytes(e2e, m) for m in album_in(e2e, AGENTS_CHAT, topic)] == label_photos

    # the agent writes in the topic: João reads it from the bot, in his chat
    agent = e2e.person(AGENT, "Sam", "en")
    await agent.send_in(AGENTS_CHAT, "Olá João, envie uma foto da etiqueta, por favor.", topic)
    relayed = [m for m in joao.messages() if m.get("text", "").startswith("Olá João")]
    assert [m["text"] for m in relayed] == ["Olá João, envie uma foto da etiqueta, por favor."]
    assert relayed[0]["from"]["is_bot"]  # from the bot, not from the agent's account
    joined = f"Um atendente entrou no caso {case.number} e vai falar com você por aqui."
    # …followed by which conversation he is in and how to do something else
    assert await eventually(lambda: any(t.startswith(joined) for t in joao.seen())), joao.seen()

    # João's photo reaches the topic (and the case's evidence), the bot keeps quiet
    before = len(joao.messages())
    label_photo = sample_png(33)
    await joao.send_photo(content=label_photo)
    assert len(joao.messages()) == before
    in_topic = e2e.fake.messages_to(AGENTS_CHAT, message_thread_id=topic)
    singles = [m for m in in_topic if "photo" in m and not m.get("media_group_id")]
    assert [photo_bytes(e2e, m) for m in singles] == [label_photo]

    # the agent's photo in the topic reaches João
    genuine = sample_png(34)
    e2e.fake.user_photo(
        AGENT, "Este é o original", chat_id=AGENTS_CHAT, message_thread_id=topic, content=genuine
    )
    await e2e.driver.deliver()
    last = joao.last_message()
    assert "photo" in last and photo_bytes(e2e, last) == genuine
    assert last.get("caption") == "Este é o original"

    case = await only_case(e2e, JOAO)
    assert case.owner is Owner.AGENT and case.owner_agent_id == AGENT
    assert case.agent_topic_id == topic
    assert len(case.evidence) == 3  # the album and the photo sent to the agent
    assert e2e.failed_calls() == [] and e2e.bots.errors() == []


async def test_two_sellers_approving_at_once_apply_one_decision(e2e: E2E) -> None:
    await e2e.start_bot()
    number = await earbud_case(e2e)
    first, second = NOVA_SELLERS
    alerts = {seller: await alert_for(e2e, seller, number) for seller in NOVA_SELLERS}
    for seller in NOVA_SELLERS:
        assert "Approve: Replacement" in " ".join(labels(e2e, alerts[seller]))
        assert alerts[seller]["text"].count("Next step due by") == 1  # said once
        videos = [m for m in e2e.fake.messages_to(seller) if "video" in m]
        assert len(videos) == 1 and videos[0]["message_id"] < alerts[seller]["message_id"]

    # both press at the same moment (Telegram hands both presses out in one batch)
    chosen = {first: "Approve: Replacement", second: "Approve: Refund"}
    queries = {}
    for seller, label in chosen.items():
        update = e2e.fake.press(
            seller, alerts[seller]["message_id"], callback_of(e2e, alerts[seller], label)
        )
        queries[seller] = update["callback_query"]["id"]
    await e2e.driver.deliver()

    answers = {a["callback_query_id"]: a for a in e2e.fake.callback_answers}
    refused = [s for s in NOVA_SELLERS if answers[queries[s]].get("show_alert")]
    assert len(refused) == 1, answers
    [loser] = refused
    [winner] = [s for s in NOVA_SELLERS if s != loser]
    assert answers[queries[loser]]["text"].startswith(
        "This case has just changed: Approved (a seller, "
    )
    case = await only_case(e2e, DMITRY)
    won = Resolution.REPLACEMENT if winner == first else Resolution.REFUND
    assert case.resolution is won and case.decided_by.value == "seller"
    trail = [event.action for event in await e2e.audit(case)]
    assert trail.count("approve") == 1
    # the alert the late seller pressed now shows, in place, where the case stands and the
    # buttons that apply now: none of them decides it again
    stale_id = alerts[loser]["message_id"]
    [stale] = [m for m in e2e.fake.messages_to(loser) if m["message_id"] == stale_id]
    assert number in stale["text"]
    assert "Status: Approved: waiting for the buyer to send it back" in stale["text"]
    now_offered = " ".join(labels(e2e, stale))
    assert "Goods received" in now_offered and "Approve" not in now_offered
    # and the outbox sender tells the other seller of the decision (not the one who made it)
    approved = f"Case {number} was approved"
    told = await eventually(lambda: [t for t in texts_in(e2e, loser) if t.startswith(approved)])
    assert len(told) == 1
    assert not [t for t in texts_in(e2e, winner) if t.startswith(approved)]
    assert e2e.failed_calls() == [] and e2e.bots.errors() == []


async def test_a_rejected_buyer_is_told_the_reason_in_russian_and_can_ask_a_person(
    e2e: E2E,
) -> None:
    await e2e.start_bot()
    number = await earbud_case(e2e)
    seller = e2e.person(NOVA_SELLERS[0], "Li", "en")
    await alert_for(e2e, seller.id, number)
    await seller.press("Reject…")
    assert seller.last() == "Type the reason for the buyer (it is sent to them)."
    reason = "On the video the earbud <works> & charges"
    await seller.send(reason)
    assert seller.last().startswith(f"Case {number}: Rejected")

    dmitry = e2e.person(DMITRY, "Дмитрий", "ru")
    told = await eventually(lambda: [t for t in dmitry.seen() if "не одобрено" in t])
    assert told == [
        f"Обращение {number} не одобрено.\n"
        f"Причина отказа: {reason}\n"
        "Если Вы не согласны, откройте обращение и нажмите «Оспорить решение»."
    ]
    assert "🙋 Оспорить решение" in dmitry.buttons()
    case = await only_case(e2e, DMITRY)
    assert case.status is CaseStatus.REJECTED and case.decision_note == reason

    answer = await dmitry.press("Оспорить решение")  # a person looks at it again
    assert any("ответит здесь в течение 24 часов." in visible_text(m) for m in answer), answer
    case = await only_case(e2e, DMITRY)
    assert case.status is CaseStatus.AWAITING_AGENT and case.escalated
    assert e2e.failed_calls() == [] and e2e.bots.errors() == []


async def test_notifications_survive_flood_control_and_a_killed_process_and_arrive_once(
    e2e: E2E,
) -> None:
    fake = e2e.fake
    await e2e.start_bot()
    # the staff chat's album meets flood control: 5 s to wait
    fake.fail_next("sendMediaGroup", status=429, retry_after=5, chat_id=AURORA_STAFF_CHAT)
    photos = [sample_png(seed) for seed in (41, 42, 43)]
    number = await lamp_refund_case(e2e, photos)

    def refused(method: str) -> list[Any]:
        return [call for call in fake.calls_to(method) if call.error is not None]

    # the seller's alert went out; while the sender waits out the staff chat's flood
    # control, the process dies (SIGKILL: nothing flushed, no shutdown code)
    assert await eventually(lambda: len(refused("sendMediaGroup")) == 1)
    e2e.kill_bot()
    assert [t for t in texts_in(e2e, WANG) if number in t]
    assert texts_in(e2e, AURORA_STAFF_CHAT) == []

    # after the restart the staff chat's alert text meets flood control more times in a row
    # than the bot retries one call: the sender puts the notification off and tries again
    fake.fail_next("sendMessage", status=429, retry_after=1, times=4, chat_id=AURORA_STAFF_CHAT)
    await e2e.start_bot()
    wang = e2e.person(WANG, "Wang", "en")  # meanwhile, the seller refunds Lucía
    await wang.press("Record the refund…")  # on the alert the killed process sent
    await wang.send("39.90 SEPA-1")
    refunded = f"Caso {number}: se te reembolsó {LAMP_PRICE_ES}."
    assert await eventually(lambda: refunded in texts_in(e2e, LUCIA))
    await alert_for(e2e, AURORA_STAFF_CHAT, number)
    assert len(refused("sendMessage")) == 4

    case = await only_case(e2e, LUCIA)
    assert case.status is CaseStatus.RESOLVED and case.refund_reference == "SEPA-1"
    rows = await outbox_of(e2e, case)
    assert {row.status for row in rows} == {"sent"}  # nothing left to send, nothing given up
    # every notification reached its reader exactly once: the alert and its photos to the
    # seller and to the staff chat, the refund to Lucía
    for chat in (WANG, AURORA_STAFF_CHAT):
        texts = texts_in(e2e, chat)
        assert len([t for t in texts if t.startswith(f"New case {number}")]) == 1, texts
        assert [photo_bytes(e2e, m) for m in album_in(e2e, chat)] == photos, texts
    assert collections.Counter(texts_in(e2e, LUCIA))[refunded] == 1
    assert e2e.failed_calls(ignore={409, 429}) == [] and e2e.bots.errors() == []

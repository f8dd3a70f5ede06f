"""Orders and cases from the buyer's side: where is my order, change or cancel an order, the
list and card of their cases, adding to a case, withdrawing it, and free text that names an
order."""

from __future__ import annotations

import pytest

from core.cases.lifecycle import CaseStatus, MoneyStatus
from core.cases.model import Actor
from core.cases.reasons import Reason, Resolution
from core.money import Money
from core.services import cases as case_service
from tests.support import Person
from tests.telegram.conftest import World

OLGA, LI, JAKE, CAMILLE, WANG, LUCIA, CARMEN = (
    130027,
    130028,
    130503,
    130504,
    130505,
    130021,
    130099,
)
AURORA_SELLER, NOVA_SELLER, AGENT = Actor.seller(600001), Actor.seller(600002), Actor.agent(700001)


async def linked(world: World, person: Person, shop: str, number: str) -> None:
    await person.send(f"/start {await world.start_link(shop, number)}")
    assert number in person.last()


async def cancel_in_russian(olga: Person) -> None:
    await olga.press("✏️ Изменить или отменить заказ")
    await olga.press("AUR-10027 · Jute table runner, 180 cm")
    await olga.press("Отмена заказа")
    await olga.press("✅ Подтвердить и отправить")


async def timeline(world: World, number: str):
    return (await case_service.get_case(world.core, AGENT, number)).timeline


async def outbox_of(world: World, number: str):
    async with world.core.unit_of_work() as uow:
        case = await uow.cases.get_by_number(number)
        assert case is not None and case.id is not None
        return await uow.outbox.list_for_case(case.id)


# ── where is my order ──────────────────────────────────────────────────────────────────────


async def test_a_parcel_in_transit_shows_carrier_tracking_events_window_and_claim_date(
    world: World,
) -> None:
    li = world.person(LI, "Li", "zh")
    await linked(world, li, "aurora", "AUR-10028")
    await li.press("🚚 我的订单到哪了？")
    await li.press("AUR-10028 · Bamboo towel set, 3 pcs")

    status = li.last()
    assert "订单 AUR-10028：已发货" in status
    assert "承运商：J&T Express，物流单号 JT5012345678901" in status
    assert "<code>JT5012345678901</code>" in li.last_message()["html"]  # easy to copy
    assert "2026年11月19日 · Singapore: Customs cleared" in status  # newest event first
    assert status.index("Customs cleared") < status.index("Picked up")
    assert "预计送达：2026年11月17日 至 2026年11月25日" in status
    assert "如果到 2026年12月2日 仍未收到，您可以在这里提交申请。" in status
    assert li.buttons() == ["⏰ 到时提醒我", "🏠 主菜单"]
    assert await world.cases_of(LI) == []


async def test_an_overdue_untracked_parcel_offers_to_report_it_as_not_received(
    world: World,
) -> None:
    jake = world.person(JAKE, "Jake", "en")
    await linked(world, jake, "nova", "NV-5503")
    await jake.press("🚚 Where is my order?")
    await jake.press("NV-5503 · Smartwatch Fit 7, AMOLED")

    status = jake.last()
    assert "Carrier: China Post (unregistered), sent without a tracking number" in status
    assert "Expected between Oct 16, 2026 and Nov 5, 2026" in status
    assert "Your parcel is overdue." in status
    assert "It was sent without tracking, so it cannot be traced." in status
    assert jake.buttons() == ["📭 Report it as not received", "🏠 Main menu"]

    await jake.press("📭 Report it as not received")
    assert jake.last() == "What would you prefer?"
    await jake.press("Send it again")
    summary = jake.last()
    assert "Reason: Not received" in summary and "You prefer: Send it again" in summary
    await jake.press("✅ Confirm and send")
    assert "R-2611-0001" in jake.last()

    [case] = await world.cases_of(JAKE)
    assert case.reason is Reason.NOT_RECEIVED
    assert case.preferred_resolution is Resolution.RESHIP
    assert case.order_number == "NV-5503"


async def test_a_paid_order_not_shipped_yet_says_so(world: World) -> None:
    olga = world.person(OLGA, "Olga", "ru")
    await linked(world, olga, "aurora", "AUR-10027")
    await olga.press("🚚 Где мой заказ?")
    await olga.press("AUR-10027 · Jute table runner, 180 cm")
    assert olga.last() == (
        "Заказ AUR-10027: Оплачен, готовится к отправке\n"
        "• Jute table runner, 180 cm × 1\n\n"
        "Заказ ещё не отправлен."
    )
    assert olga.buttons() == ["🏠 Главное меню"]


# ── change or cancel ───────────────────────────────────────────────────────────────────────


async def test_cancelling_an_unshipped_order_opens_a_case_for_the_seller(world: World) -> None:
    olga = world.person(OLGA, "Olga", "ru")
    await linked(world, olga, "aurora", "AUR-10027")
    await olga.press("✏️ Изменить или отменить заказ")
    await olga.press("AUR-10027 · Jute table runner, 180 cm")
    assert olga.last() == "Что Вы хотите изменить?"
    await olga.press("Отмена заказа")
    summary = olga.last()
    assert "Причина: Отмена заказа" in summary
    assert "Ваш заказ ещё не отправлен, так что это ещё можно сделать." in summary
    assert "15,50\xa0$" in summary  # the item and its shipping

    await olga.press("✅ Подтвердить и отправить")
    assert "Ваше обращение R-2611-0001 открыто." in olga.last()
    assert "Магазин рассмотрит обращение и до 24 нояб. 2026\u202fг. ответит здесь." in olga.last()

    [case] = await world.cases_of(OLGA)
    assert case.reason is Reason.CANCEL_ORDER
    assert case.status is CaseStatus.AWAITING_SELLER
    assert case.preferred_resolution is Resolution.CANCEL


async def test_changing_the_address_asks_for_it_and_keeps_it_in_the_case(world: World) -> None:
    olga = world.person(OLGA, "Olga", "ru")
    await linked(world, olga, "aurora", "AUR-10027")
    await olga.press("✏️ Изменить или отменить заказ")
    await olga.press("AUR-10027 · Jute table runner, 180 cm")
    await olga.press("Смена адреса доставки")
    assert olga.last() == "Пожалуйста, напишите новый адрес доставки полностью."

    address = "ул. Тверская, д. 1 <кв. 5> & домофон, Москва 125009"
    await olga.send(address)
    assert f"Ваше описание: {address}" in olga.last()  # escaped, shown as typed
    await olga.press("✅ Подтвердить и отправить")

    [case] = await world.cases_of(OLGA)
    assert case.reason is Reason.CHANGE_ADDRESS
    assert case.status is CaseStatus.AWAITING_SELLER
    assert case.description == address

    await olga.send("/cases")
    await olga.press(case.number)
    assert f"Ваше описание: {address}" in olga.last()  # the card shows the new address


@pytest.mark.parametrize("change", ["Annuler la commande", "Changer l’adresse de livraison"])
async def test_a_shipped_order_cannot_be_changed_and_the_options_are_explained(
    world: World, change: str
) -> None:
    camille = world.person(CAMILLE, "Camille", "fr")
    await linked(world, camille, "nova", "NV-5504")
    await camille.press("✏️ Modifier ou annuler une commande")
    await camille.press("NV-5504 · Portable Bluetooth speaker 20W")
    await camille.press(change)

    refusal = camille.last()
    assert "Votre commande a déjà été expédiée et le colis ne peut plus être rappelé." in refusal
    assert "Vous pouvez refuser le colis à son arrivée" in refusal  # refund once it is back
    assert "Vous pourrez le retourner après la livraison" in refusal
    assert camille.buttons() == ["🙋 Parler à un conseiller", "🏠 Menu principal"]
    assert await world.cases_of(CAMILLE) == []


# ── my cases ───────────────────────────────────────────────────────────────────────────────


async def test_my_cases_lists_statuses_and_a_card_shows_refund_state_and_history(
    world: World,
) -> None:
    carmen = world.person(CARMEN, "Carmen", "es")
    await linked(world, carmen, "aurora", "AUR-10027")
    await linked(world, carmen, "nova", "NV-5505")
    await carmen.press("✏️ Cambiar o cancelar un pedido")
    await carmen.press("AUR-10027 · Jute table runner, 180 cm")
    await carmen.press("Cancelar el pedido")
    await carmen.press("✅ Confirmar y enviar")
    await carmen.press("⚠️ Problema con un pedido")
    await carmen.press("NV-5505 · Power bank 20000 mAh, PD 22.5W")
    await carmen.press("Otro motivo")
    await carmen.send("No sé cómo se carga")
    await carmen.press("✅ Listo")
    await carmen.press("Reembolso")
    await carmen.press("✅ Confirmar y enviar")
    await case_service.approve(world.core, AURORA_SELLER, "R-2611-0001", Resolution.CANCEL)

    await carmen.send("/cases")
    assert carmen.last() == (
        "Tus casos:\n"
        "⏳ R-2611-0002 · Otro motivo · En revisión por la tienda\n"
        "✅ R-2611-0001 · Cancelar el pedido · Aprobado: la tienda lo está gestionando"
    )
    assert carmen.buttons() == [
        "⏳ R-2611-0002 · Otro motivo",
        "✅ R-2611-0001 · Cancelar el pedido",
        "🏠 Menú principal",
    ]

    await carmen.press("✅ R-2611-0001 · Cancelar el pedido")
    card = carmen.last()
    assert card.startswith("Caso R-2611-0001\nPedido: AUR-10027\nMotivo: Cancelar el pedido")
    assert "Estado: Aprobado: la tienda lo está gestionando" in card
    assert "Reembolso: 15,50\xa0US$ (Reembolso pendiente)" in card
    assert "Historial:\n22 nov 2026 · Caso abierto\n22 nov 2026 · Aprobado" in card
    assert "📂 Mis casos" in carmen.buttons()


async def open_other_case_in_chinese(world: World, wang: Person) -> str:
    await linked(world, wang, "nova", "NV-5505")
    await wang.press("⚠️ 反馈订单问题")
    await wang.press("NV-5505 · Power bank 20000 mAh, PD 22.5W")
    await wang.press("其他问题")
    await wang.send("不知道怎么给充电宝充电")
    await wang.press("✅ 完成")
    await wang.press("退款")
    await wang.press("✅ 确认并提交")
    [case] = await world.cases_of(wang.id)
    return case.number


async def test_a_case_waiting_on_the_buyer_takes_photos_then_goes_back_to_the_seller(
    world: World,
) -> None:
    wang = world.person(WANG, "Wang", "zh")
    number = await open_other_case_in_chinese(world, wang)
    await case_service.request_info(world.core, NOVA_SELLER, number, "请拍一下指示灯的照片")

    await wang.send("/cases")
    assert "R-2611-0001 · 其他问题 · 等待您补充信息" in wang.last()
    await wang.press("✍️ R-2611-0001 · 其他问题")
    card = wang.last()
    assert "状态：等待您补充信息" in card
    assert "请在 2026年11月29日 前回复。" in card
    assert "商家要求补充信息: 请拍一下指示灯的照片" in card  # the seller's question
    assert wang.buttons()[:2] == ["📷 添加照片或视频", "✅ 我已全部发送"]

    await wang.press("📷 添加照片或视频")
    answers = await wang.send_album(2)
    assert [a["text"] for a in answers] == ["服务单 R-2611-0001 现有 2 张照片或视频。"]
    await wang.press("⬅️ 返回")  # Back, like Done, returns to the case
    assert wang.last().startswith("服务单 R-2611-0001")
    assert "已添加照片或视频" in wang.last()

    await wang.press("✅ 我已全部发送")
    assert wang.last() == "谢谢。服务单 R-2611-0001：商家审核中。"
    [case] = await world.cases_of(WANG)
    assert case.status is CaseStatus.AWAITING_SELLER
    assert len(case.evidence) == 2 and all(e.sha256 for e in case.evidence)
    actions = [event.action for event in await timeline(world, number)]
    assert actions == ["open", "request_info", "evidence_added", "evidence_added", "provide_info"]


async def test_a_message_on_a_case_is_audited_and_queued_for_the_sellers(world: World) -> None:
    olga = world.person(OLGA, "Olga", "ru")
    await linked(world, olga, "aurora", "AUR-10027")
    await cancel_in_russian(olga)
    await olga.send("/cases")
    await olga.press("R-2611-0001")
    await olga.press("💬 Добавить сообщение")
    assert olga.last() == "Напишите сообщение по обращению R-2611-0001."

    await olga.send("Пожалуйста, побыстрее <3")
    assert olga.last() == "Ваше сообщение добавлено к обращению R-2611-0001. Магазин его увидит."

    [*_, event] = await timeline(world, "R-2611-0001")
    assert (event.action, event.note, event.actor_id) == (
        "message",
        "Пожалуйста, побыстрее <3",
        OLGA,
    )
    queued = [m for m in await outbox_of(world, "R-2611-0001") if m.kind == "message"]
    assert {(m.recipient_role, m.chat_id) for m in queued} >= {("seller", 600001)}
    assert all(m.payload["text"] == "Пожалуйста, побыстрее <3" for m in queued)


async def test_a_too_long_message_can_be_shortened_and_sent_again(world: World) -> None:
    marie = world.person(CAMILLE, "Marie", "fr")
    await linked(world, marie, "aurora", "AUR-10027")
    await marie.press("✏️ Modifier ou annuler une commande")
    await marie.press("AUR-10027 · Jute table runner, 180 cm")
    await marie.press("Annuler la commande")
    await marie.press("✅ Confirmer et envoyer")
    await marie.send("/cases")
    await marie.press("R-2611-0001")
    await marie.press("💬 Ajouter un message")

    await marie.send("trop " * 810)  # 4,050 characters
    assert marie.last() == "C’est trop long\xa0: veuillez rester sous 4\u202f000 caractères."
    await marie.send("Merci d’annuler vite.")  # still writing to the case
    assert (
        marie.last() == "Votre message a été ajouté à la demande R-2611-0001. La boutique le verra."
    )
    [*_, event] = await timeline(world, "R-2611-0001")
    assert (event.action, event.note) == ("message", "Merci d’annuler vite.")


async def test_a_second_message_on_the_same_case_also_reaches_the_sellers(world: World) -> None:
    olga = world.person(OLGA, "Olga", "ru")
    await linked(world, olga, "aurora", "AUR-10027")
    await cancel_in_russian(olga)
    for words in ("Первое", "Второе"):
        await olga.send("/cases")
        await olga.press("R-2611-0001")
        await olga.press("💬 Добавить сообщение")
        await olga.send(words)
    queued = [
        m.payload["text"]
        for m in await outbox_of(world, "R-2611-0001")
        if m.kind == "message" and m.recipient_role == "seller"
    ]
    assert queued == ["Первое", "Второе"]


async def test_withdrawing_asks_first_then_closes_the_case_and_frees_the_order(
    world: World,
) -> None:
    olga = world.person(OLGA, "Olga", "ru")
    await linked(world, olga, "aurora", "AUR-10027")
    await cancel_in_russian(olga)
    await olga.send("/cases")
    await olga.press("R-2611-0001")

    await olga.press("🗑 Отозвать обращение")
    assert olga.last() == "Отозвать обращение R-2611-0001? Магазин прекратит работу по нему."
    assert olga.buttons() == ["Да, отозвать", "Нет, оставить"]
    await olga.press("Нет, оставить")
    assert olga.last().startswith("Обращение R-2611-0001")
    assert (await world.cases_of(OLGA))[0].status is CaseStatus.AWAITING_SELLER

    await olga.press("🗑 Отозвать обращение")
    await olga.press("Да, отозвать")
    assert olga.last() == "Обращение R-2611-0001 отозвано."
    [case] = await world.cases_of(OLGA)
    assert case.status is CaseStatus.CANCELLED
    assert (await timeline(world, "R-2611-0001"))[-1].action == "withdraw"

    await cancel_in_russian(olga)  # the line is free for a new request
    assert "R-2611-0002" in olga.last()
    assert [c.status for c in await world.cases_of(OLGA)] == [
        CaseStatus.AWAITING_SELLER,
        CaseStatus.CANCELLED,
    ]


# ── free text ──────────────────────────────────────────────────────────────────────────────


async def damaged_lamp_in_spanish(person: Person) -> None:
    """From "what happened?" to the summary: the words are already there, so photos next."""
    await person.press("Llegó dañado")
    assert person.last().startswith("Envía una foto del paquete tal como llegó, con su etiqueta.")
    await person.send_album(3)
    await person.press("✅ Listo")
    await person.press("Reembolso")


async def test_free_text_naming_a_linked_order_starts_a_case_keeping_the_words(
    world: World,
) -> None:
    lucia = world.person(LUCIA, "Lucía", "es")
    await linked(world, lucia, "aurora", "AUR-10021")
    words = "my order #AUR-10021 arrived broken"

    await lucia.send(words)
    assert lucia.last() == "¿Qué pasó?"
    await damaged_lamp_in_spanish(lucia)
    assert f"Lo que escribiste: {words}" in lucia.last()
    await lucia.press("✅ Confirmar y enviar")

    [case] = await world.cases_of(LUCIA)
    assert case.order_number == "AUR-10021" and case.reason is Reason.DAMAGED
    assert case.description == words
    assert case.refund_amount == Money.parse("39.90", "EUR")
    assert case.money is MoneyStatus.PENDING


async def test_free_text_from_an_unlinked_buyer_asks_for_the_check_then_goes_on(
    world: World,
) -> None:
    lucia = world.person(LUCIA, "Lucía", "es")
    words = "my order #AUR-10021 arrived broken"

    answers = await lucia.send(words)
    assert [a["text"] for a in answers] == [
        "Para proteger tu pedido, escribe uno de estos datos tal como aparecen en el pedido: "
        "el correo electrónico, los últimos 4 dígitos del teléfono o el código postal."
    ]
    assert lucia.buttons() == ["⬅️ Atrás", "✖️ Cancelar"]

    await lucia.send("46004")  # the postal code of the order
    assert "Gracias, el pedido AUR-10021 ya está vinculado a este chat." in lucia.seen()
    assert lucia.last() == "¿Qué pasó?"
    await damaged_lamp_in_spanish(lucia)
    await lucia.press("✅ Confirmar y enviar")

    [case] = await world.cases_of(LUCIA)
    assert case.order_number == "AUR-10021" and case.description == words


async def test_back_from_the_check_asks_for_the_order_number(world: World) -> None:
    lucia = world.person(LUCIA, "Lucía", "es")
    await lucia.send("el pedido AUR-10021 llegó roto")
    await lucia.press("⬅️ Atrás")
    assert lucia.last().startswith("Escribe tu número de pedido")


async def test_free_text_without_an_order_number_gets_the_menu(world: World) -> None:
    lucia = world.person(LUCIA, "Lucía", "es")
    await lucia.send("hola, tengo una pregunta")
    assert lucia.last() == (
        "No te entendí bien. Elige abajo lo que necesitas o escribe tu número de pedido."
    )
    assert len(lucia.buttons()) == 8
    assert await world.cases_of(LUCIA) == []

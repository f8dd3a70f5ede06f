"""Every sample scenario a buyer starts, through the real Dispatcher, in the buyer's language.

Each test links a buyer (the e-mail deep link, or the order number plus a check), walks the
conversation by pressing what the buyer sees, and checks both the words shown (from the
catalogues) and what the core stored.
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.cases.lifecycle import CaseStatus, GoodsStatus, MoneyStatus
from core.cases.model import CaseLine, EvidenceKind
from core.cases.reasons import Party, Reason, Resolution
from core.money import Money
from tests.support import Person
from tests.telegram.conftest import NOW, World


async def linked(world: World, user_id: int, name: str, language: str, shop: str, number: str):
    """A buyer who opened the link in their order e-mail."""
    person = world.person(user_id, name, language)
    await person.send(f"/start {await world.start_link(shop, number)}")
    assert number in person.last()
    return person


async def linked_by_check(
    world: World, person: Person, menu: str, number: str, check: str, thanks: str
) -> None:
    """A buyer with no link types the order number, then a detail only they know."""
    await person.send("/start")
    await person.press(menu)
    await person.send(number)
    await person.send(check)
    canonical = number.upper().replace(" ", "-")
    assert any(thanks in text and canonical in text for text in person.seen()), person.seen()


def texts_since(person: Person, before: int) -> str:
    return "\n".join(person.seen()[before:])


async def only_case(world: World, user_id: int):
    cases = await world.cases_of(user_id)
    assert len(cases) == 1, cases
    return cases[0]


# ── Aurora Home & Living ───────────────────────────────────────────────────────────────────


async def test_a_french_buyer_picks_one_pillowcase_of_two_for_a_wrong_size(world: World) -> None:
    marie = await linked(world, 920022, "Marie", "fr", "aurora", "AUR-10022")
    await marie.press("Retour ou remboursement")
    await marie.press("AUR-10022")
    assert "Quels articles sont concernés" in marie.last()
    assert "Continuer ➡️" not in marie.buttons()  # nothing chosen yet

    await marie.press("Linen duvet cover")  # a toggle: on …
    assert "☑️ Linen duvet cover 200x200, sage × 1" in marie.buttons()
    await marie.press("Linen duvet cover")  # … and off again
    await marie.press("Linen pillowcase")
    assert marie.buttons()[:3] == [
        "⬜ Linen duvet cover 200x200, sage × 1",
        "☑️ Linen pillowcase, sage × 2",
        "Continuer ➡️",
    ]
    await marie.press("Continuer")
    assert "Combien de «\xa0Linen pillowcase, sage\xa0»" in marie.last()
    assert "Vous en avez acheté 2" in marie.last()
    assert marie.buttons()[:2] == ["1", "2"]
    await marie.press("1")
    await marie.press("Mauvaise taille ou couleur")
    await marie.send("Taie 50x70 reçue au lieu de 50x75")
    assert "photo de l’article en entier" in marie.last()
    await marie.send_photo()
    await marie.press("Terminé")
    assert marie.buttons()[:2] == ["Échange de taille ou couleur", "Remboursement"]
    await marie.press("Échange de taille ou couleur")

    summary = marie.last()
    assert "Linen pillowcase, sage × 1" in summary
    assert "Linen duvet cover" not in summary  # the other line is not part of it
    assert "Taie 50x70 reçue au lieu de 50x75" in summary
    await marie.press("Confirmer et envoyer")
    assert "R-2611-0001" in marie.last() and "Acceptée" in marie.last()

    case = await only_case(world, 920022)
    assert case.reason is Reason.WRONG_SIZE_COLOUR
    assert case.lines == (CaseLine(line_no=2, quantity=1),)
    assert case.resolution is Resolution.EXCHANGE
    assert case.status is CaseStatus.AWAITING_RESOLUTION
    assert case.description == "Taie 50x70 reçue au lieu de 50x75"
    assert [e.kind for e in case.evidence] == [EvidenceKind.PHOTO]


async def test_a_portuguese_buyer_links_by_postal_code_and_reports_an_overdue_parcel_without_photos(
    world: World,
) -> None:
    joao = world.person(920023, "João", "pt")
    await linked_by_check(
        world,
        joao,
        "Devolução ou reembolso",
        "AUR-10023",
        "01304-001",
        "Obrigado, o pedido",
    )
    # the parcel never arrived: "not received", not "arrived damaged", and the buyer is told why
    assert joao.last() == "Seu pacote ainda não foi entregue.\n\nO que aconteceu?"
    assert joao.buttons() == ["Não recebido", "Outro motivo", "⬅️ Voltar", "✖️ Cancelar"]
    before = len(joao.seen())
    await joao.press("Não recebido")
    assert joao.last() == "O que você prefere?"  # straight on: nothing to photograph
    await joao.press("Reembolso")
    summary = joao.last()
    assert "Seu pacote está atrasado." in summary
    assert "US$\xa034,99" in summary  # the knives and the original shipping
    await joao.press("Confirmar e enviar")
    opened = joao.last()
    assert "R-2611-0001" in opened
    assert "Aprovado: US$\xa034,99 será reembolsado em até 5 dias." in opened
    assert "foto" not in texts_since(joao, before).casefold()

    case = await only_case(world, 920023)
    assert case.reason is Reason.NOT_RECEIVED
    assert case.evidence == ()
    assert case.status is CaseStatus.AWAITING_RESOLUTION
    assert case.refund_amount == Money.parse("34.99", "USD")


async def test_where_is_my_order_shows_an_overdue_parcel_and_reports_it_in_one_tap(
    world: World,
) -> None:
    joao = await linked(world, 920123, "João", "pt", "aurora", "AUR-10023")
    await joao.press("Onde está meu pedido?")
    await joao.press("AUR-10023")
    tracking = joao.last()
    assert "código de rastreamento LP00598765432CN" in tracking
    assert "Seu pacote está atrasado." in tracking
    assert "reembolsado" not in tracking  # what a claim pays is for the claim's summary
    await joao.press("Informar como não recebido")
    assert joao.last() == "O que você prefere?"
    await joao.press("Reembolso")
    assert "O frete original (US$\xa05,00) também será reembolsado." in joao.last()
    await joao.press("Confirmar e enviar")
    case = await only_case(world, 920123)
    assert case.reason is Reason.NOT_RECEIVED and case.order_number == "AUR-10023"


async def test_a_german_buyer_changing_their_mind_gets_return_instructions_and_pays_postage(
    world: World,
) -> None:
    anna = await linked(world, 920024, "Anna", "de", "aurora", "AUR-10024")
    await anna.press("Rückgabe oder Erstattung")
    await anna.press("AUR-10024")
    await anna.press("Velvet cushion cover")
    await anna.press("Weiter")
    question = anna.last()
    assert "Wie viele von „Velvet cushion cover 45x45, mustard“? Sie haben 4 gekauft." in question
    await anna.press("4")
    await anna.press("Meinung geändert")
    await anna.press("Überspringen")
    await anna.press("Fertig")  # photos are optional for a change of mind
    await anna.press("Erstattung")
    summary = anna.last()
    assert "Velvet cushion cover 45x45, mustard × 4" in summary
    assert "Sie tragen die Rücksendekosten" in summary
    assert "27,60\xa0€" in summary
    await anna.press("Bestätigen und senden")

    opened = anna.last()
    assert "So senden Sie den Artikel zurück:" in opened
    assert (
        "Rücksendeadresse: Yiwu Textile Trading, Bldg 3, Futian Market District 4, Yiwu, "
        "Zhejiang 322000, China"
    ) in opened
    assert "Schreiben Sie die Anfragenummer R-2611-0001 auf das Paket." in opened
    assert "Sie tragen die Rücksendekosten. Bewahren Sie den Beleg" in opened
    assert "Bitte senden Sie es bis zum 06.12.2026 ab." in opened

    case = await only_case(world, 920024)
    assert case.reason is Reason.CHANGED_MIND
    assert case.status is CaseStatus.AWAITING_RETURN
    assert case.return_required and case.return_paid_by is Party.BUYER
    assert case.lines == (CaseLine(line_no=1, quantity=4),)


async def test_a_quality_complaint_after_the_window_is_refused_with_its_end_date(
    world: World,
) -> None:
    emily = world.person(920025, "Emily", "en")
    await linked_by_check(
        world,
        emily,
        "Return or refund",
        "AUR-10025",
        "Emily.Carter@example.com",
        "Thank you, order",
    )
    await emily.press("Poor quality / not as described")
    assert emily.last() == "The 30-day window for this ended on Oct 1, 2026."
    assert emily.buttons() == ["🙋 Talk to a person", "🏠 Main menu"]
    assert await world.cases_of(920025) == []
    await emily.press("Talk to a person")
    assert emily.last()  # answered, not ignored


async def test_an_arabic_buyer_with_a_high_value_lamp_not_as_described_goes_to_an_agent(
    world: World,
) -> None:
    ahmed = await linked(world, 920026, "Ahmed", "ar", "aurora", "AUR-10026")
    await ahmed.press("إرجاع أو استرداد")
    await ahmed.press("AUR-10026")
    await ahmed.press("جودة رديئة / غير مطابق للوصف")
    assert ahmed.last() == "يرجى وصف ما حدث في بضع كلمات."
    assert "تخطي" not in " ".join(ahmed.buttons())  # a description is required here
    await ahmed.send("اللون نحاسي باهت وليس ذهبيًا كما في الصورة")
    await ahmed.send_album(2)
    await ahmed.press("تم")
    await ahmed.press("استرداد المبلغ")
    assert "سيراجعه موظف خدمة العملاء شخصيًا." in ahmed.last()
    await ahmed.press("تأكيد وإرسال")
    assert "سيطّلع عليه موظف خدمة العملاء شخصيًا ويرد عليك هنا بحلول" in ahmed.last()

    case = await only_case(world, 920026)
    assert case.status is CaseStatus.AWAITING_AGENT and case.escalated
    assert case.reason is Reason.NOT_AS_DESCRIBED
    assert len(case.evidence) == 2


async def test_a_chinese_buyer_whose_parcel_is_not_overdue_yet_sees_the_window_and_a_reminder(
    world: World,
) -> None:
    li = await linked(world, 920028, "Li", "zh", "aurora", "AUR-10028")
    await li.press("退货或退款")
    await li.press("AUR-10028")
    answer = li.last()  # said with the question: "not received" is not possible yet
    assert "您的包裹仍在预计送达时间内。" in answer
    assert "预计 2026年11月17日 至 2026年11月25日 送达。" in answer
    assert "如果到 2026年12月2日 仍未收到，您可以在这里提交申请。" in answer
    assert li.buttons() == ["⏰ 到时提醒我", "其他问题", "⬅️ 返回", "✖️ 取消"]
    assert await world.cases_of(920028) == []

    await li.press("到时提醒我")
    assert li.last() == "如果届时仍未送达，我会在 2026年12月2日 提醒您。"
    async with world.core.unit_of_work() as uow:
        due_now = await uow.outbox.pending(now=NOW)
        later = await uow.outbox.pending(now=datetime(2027, 1, 1, tzinfo=UTC))
    assert not [m for m in due_now if m.kind == "parcel_reminder"]  # not before the claim date
    [reminder] = [m for m in later if m.kind == "parcel_reminder"]
    assert reminder.chat_id == 920028 and reminder.recipient_role == "buyer"
    assert reminder.next_attempt_at.date().isoformat() == "2026-12-02"
    assert reminder.payload["order"] == "AUR-10028"


async def test_where_is_my_order_in_chinese_shows_tracking_and_queues_one_reminder(
    world: World,
) -> None:
    li = await linked(world, 920128, "Li", "zh", "aurora", "AUR-10028")
    await li.press("我的订单到哪了？")
    await li.press("AUR-10028")
    tracking = li.last()
    assert "物流单号 JT5012345678901" in tracking
    assert "预计送达：2026年11月17日 至 2026年11月25日" in tracking
    assert "如果到 2026年12月2日 仍未收到" in tracking
    await li.press("到时提醒我")
    await li.press("到时提醒我")  # pressed again: still one reminder
    async with world.core.unit_of_work() as uow:
        later = await uow.outbox.pending(now=datetime(2027, 1, 1, tzinfo=UTC))
    assert len([m for m in later if m.kind == "parcel_reminder"]) == 1


async def test_a_japanese_buyer_gets_english_and_keeps_a_cheap_damaged_item(world: World) -> None:
    sofia = world.person(920029, "Sofia", "ja")  # no Japanese catalogue
    await linked_by_check(world, sofia, "Return or refund", "AUR-10029", "4567", "Thank you, order")
    await sofia.press("Arrived damaged")
    await sofia.press("Skip")
    assert "Please send a photo of the parcel as it arrived" in sofia.last()
    await sofia.send_album(3)
    await sofia.press("Done")
    await sofia.press("Refund")
    summary = sofia.last()
    assert "You keep the item: no need to send it back." in summary
    assert "Refund amount: €9.99." in summary  # the coasters and the shipping
    await sofia.press("Confirm and send")
    assert "Approved: €9.99 will be refunded within 5 days." in sofia.last()

    case = await only_case(world, 920029)
    assert not case.return_required and case.goods is GoodsStatus.NOT_REQUIRED
    assert case.status is CaseStatus.AWAITING_RESOLUTION and case.money is MoneyStatus.PENDING


async def test_swimwear_bought_in_mexico_is_not_returnable_for_a_change_of_mind(
    world: World,
) -> None:
    carlos = await linked(world, 920030, "Carlos", "es-MX", "aurora", "AUR-10030")
    await carlos.press("Devolución o reembolso")
    await carlos.press("AUR-10030")
    await carlos.press("Cambié de opinión")
    assert carlos.last() == (
        "Los artículos de este tipo (ropa de baño) no se pueden devolver por cambio de opinión."
    )
    assert carlos.buttons() == ["🙋 Hablar con una persona", "🏠 Menú principal"]
    assert await world.cases_of(920030) == []


async def test_a_cancelled_order_is_refused_with_the_amount_already_refunded(world: World) -> None:
    marie = await linked(world, 920031, "Marie", "fr", "aurora", "AUR-10031")
    await marie.press("Retour ou remboursement")
    await marie.press("AUR-10031")  # refused at once: no reason to pick for a cancelled order
    assert marie.last() == (
        "Cette commande a été annulée et un montant de 43,80\xa0€ a été remboursé."
    )
    assert "🙋 Parler à un conseiller" in marie.buttons()
    assert await world.cases_of(920031) == []


# ── Nova Gadgets ───────────────────────────────────────────────────────────────────────────


async def test_a_russian_buyer_must_send_a_video_for_earbuds_that_do_not_work(
    world: World,
) -> None:
    dmitri = await linked(world, 925501, "Дмитрий", "ru", "nova", "NV-5501")
    await dmitri.press("Вернуть товар или деньги")
    await dmitri.press("NV-5501")
    await dmitri.press("Не работает")
    await dmitri.send("Левый наушник не заряжается и не включается")
    assert "Пожалуйста, пришлите короткое видео, на котором видна проблема." in dmitri.last()
    assert "✅ Готово" not in dmitri.buttons()

    await dmitri.send_photo()  # a photo alone does not prove it does not work
    assert "✅ Готово" not in dmitri.buttons()
    assert "Получено 1 фото или видео.\nОсталось прислать: 1 видео." in dmitri.last()
    assert "Получено: 0" not in dmitri.last()  # the count is said once

    await dmitri.send_video()
    assert "✅ Готово" in dmitri.buttons()
    await dmitri.press("Готово")
    await dmitri.press("Замена")
    assert "Прикреплено 2 фото или видео." in dmitri.last()
    await dmitri.press("Подтвердить и отправить")
    assert "R-2611-0001" in dmitri.last()

    case = await only_case(world, 925501)
    assert case.reason is Reason.DOES_NOT_WORK
    assert sorted(e.kind for e in case.evidence) == [EvidenceKind.PHOTO, EvidenceKind.VIDEO]
    assert case.preferred_resolution is Resolution.REPLACEMENT
    assert case.status is CaseStatus.AWAITING_SELLER


async def test_a_counterfeit_claim_on_the_second_line_goes_to_an_agent(world: World) -> None:
    pedro = await linked(world, 925502, "Pedro", "pt", "nova", "NV-5502")
    await pedro.press("Devolução ou reembolso")
    await pedro.press("NV-5502")
    await pedro.press("65W GaN fast charger")
    await pedro.press("Continuar")
    assert pedro.last() == "O que aconteceu?"  # one charger: no quantity to ask
    await pedro.press("Parece falso / falsificado")
    await pedro.send("O carregador não é original, a marca está mal impressa")
    await pedro.send_album(2)
    await pedro.press("Pronto")
    await pedro.press("Reembolso")
    assert "Um atendente vai analisar pessoalmente." in pedro.last()
    assert "€\xa024,99" in pedro.last()
    await pedro.press("Confirmar e enviar")
    assert "Um atendente vai analisar pessoalmente e responder aqui até" in pedro.last()

    case = await only_case(world, 925502)
    assert case.reason is Reason.COUNTERFEIT
    assert case.lines == (CaseLine(line_no=2, quantity=1),)
    assert case.status is CaseStatus.AWAITING_AGENT and case.escalated


async def test_an_unregistered_overdue_parcel_becomes_a_not_received_case(world: World) -> None:
    jake = world.person(925503, "Jake", "en")
    await linked_by_check(
        world,
        jake,
        "Return or refund",
        "nv 5503",
        "jake.miller@example.co.uk",
        "Thank you, order",
    )
    await jake.press("Not received")
    await jake.press("Refund")
    summary = jake.last()
    assert "Your parcel is overdue." in summary
    assert "It was sent without tracking, so it cannot be traced." in summary
    assert "£129.00" in summary
    await jake.press("Confirm and send")
    assert "A support agent will look at it personally" in jake.last()

    case = await only_case(world, 925503)
    assert case.reason is Reason.NOT_RECEIVED and case.order_number == "NV-5503"
    assert case.status is CaseStatus.AWAITING_AGENT  # above Nova's review limit


async def test_one_missing_cable_of_three_is_refunded_automatically(world: World) -> None:
    maria = world.person(925506, "María", "es")
    await linked_by_check(
        world, maria, "Devolución o reembolso", "NV-5506", "6543", "Gracias, el pedido"
    )
    await maria.press("Braided USB-C cable")
    await maria.press("Continuar")
    assert "¿Cuántas unidades de “Braided USB-C cable, 1 m”? Compraste 3." in maria.last()
    await maria.press("1")
    await maria.press("Faltan piezas o unidades")
    await maria.send("Solo llegaron 2 de los 3 cables")
    await maria.send_photo()
    await maria.press("Listo")
    await maria.press("Reembolso")
    summary = maria.last()
    assert "Braided USB-C cable, 1 m × 1" in summary
    assert "Importe del reembolso: 3,50\xa0€." in summary
    await maria.press("Confirmar y enviar")
    assert "Aprobado: te reembolsaremos 3,50\xa0€ en un plazo de 5 días." in maria.last()

    case = await only_case(world, 925506)
    assert case.reason is Reason.MISSING_PART
    assert case.lines == (CaseLine(line_no=1, quantity=1),)
    assert case.refund_amount == Money.parse("3.50", "EUR")
    assert case.status is CaseStatus.AWAITING_RESOLUTION and case.money is MoneyStatus.PENDING


# ── the "done when" ────────────────────────────────────────────────────────────────


async def test_a_spanish_buyer_completes_a_damaged_and_a_not_received_case_and_sees_both(
    world: World,
) -> None:
    lucia = await linked(world, 930001, "Lucía", "es", "aurora", "AUR-10021")
    await lucia.send(f"/start {await world.start_link('nova', 'NV-5503')}")

    await lucia.press("Devolución o reembolso")
    await lucia.press("AUR-10021")
    await lucia.press("Llegó dañado")
    await lucia.send("La pantalla de la lámpara llegó aplastada")
    await lucia.send_album(3)
    assert "Recibí 3 de al menos 3." in lucia.last()
    await lucia.press("Listo")
    await lucia.press("Reembolso")
    await lucia.press("Confirmar y enviar")
    damaged = lucia.last()
    assert "R-2611-0001" in damaged and "39,90\xa0€" in damaged

    await lucia.press("Menú principal")
    await lucia.press("Devolución o reembolso")
    await lucia.press("NV-5503")
    await lucia.press("No recibido")
    await lucia.press("Reembolso")
    assert "Tu paquete lleva retraso." in lucia.last()
    await lucia.press("Confirmar y enviar")
    assert "R-2611-0002" in lucia.last()

    await lucia.press("Menú principal")
    await lucia.press("Mis casos")
    listing = lucia.last()
    assert listing.startswith("Tus casos:")
    assert "R-2611-0001 · Llegó dañado · Aprobado: la tienda lo está gestionando" in listing
    assert "R-2611-0002 · No recibido · Con un agente de soporte" in listing
    await lucia.press("R-2611-0001")
    card = lucia.last()
    assert "Caso R-2611-0001" in card and "Nordic oak table lamp × 1" in card

    damaged_case, lost_case = sorted(await world.cases_of(930001), key=lambda c: c.number)
    assert damaged_case.reason is Reason.DAMAGED and len(damaged_case.evidence) == 3
    assert all(world.core.evidence.exists(e.sha256 or "") for e in damaged_case.evidence)
    assert lost_case.reason is Reason.NOT_RECEIVED and lost_case.evidence == ()


async def test_a_chinese_buyer_completes_a_damaged_and_a_not_received_case_and_sees_both(
    world: World,
) -> None:
    wang = await linked(world, 930002, "王芳", "zh", "nova", "NV-5505")
    await wang.send(f"/start {await world.start_link('aurora', 'AUR-10023')}")

    await wang.press("退货或退款")
    await wang.press("NV-5505")
    await wang.press("到货破损")
    await wang.press("跳过")
    assert "请发送包裹到货时的照片（需带面单）。" in wang.last()
    await wang.send_album(3)
    assert "已收到 3 个，至少需要 2 个。" in wang.last()
    assert "已收到 3 张照片或视频。" not in wang.last()  # the count is said once
    await wang.press("完成")
    await wang.press("退款")
    assert "已附 3 张照片或视频。" in wang.last()
    await wang.press("确认并提交")
    assert "R-2611-0001" in wang.last() and "商家将进行审核" in wang.last()

    await wang.press("主菜单")
    await wang.press("退货或退款")
    await wang.press("AUR-10023")
    await wang.press("未收到货")
    await wang.press("退款")
    assert "您的包裹已超过预计送达时间。" in wang.last()
    await wang.press("确认并提交")
    assert "R-2611-0002" in wang.last()

    await wang.send("/cases")
    listing = wang.last()
    assert listing.startswith("您的服务单：")
    assert "R-2611-0001 · 到货破损 · 商家审核中" in listing
    assert "R-2611-0002 · 未收到货 · 已通过：商家处理中" in listing
    assert "⏳ R-2611-0001 · 到货破损" in wang.buttons()
    await wang.press("R-2611-0002")
    assert "服务单 R-2611-0002" in wang.last()

    damaged_case, lost_case = sorted(await world.cases_of(930002), key=lambda c: c.number)
    assert damaged_case.reason is Reason.DAMAGED and len(damaged_case.evidence) == 3
    assert damaged_case.status is CaseStatus.AWAITING_SELLER
    assert lost_case.reason is Reason.NOT_RECEIVED
    assert lost_case.status is CaseStatus.AWAITING_RESOLUTION

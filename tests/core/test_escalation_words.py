"""The words that take a case to a person, per language (locales/<lang>/escalation.toml):
asking for a person, and a payment dispute, with inflected forms, and the look-alikes that
are not (a jar of jam, a garden bench, a power bank, a refund to a bank account)."""

from __future__ import annotations

import pytest

from core.cases import escalation
from core.cases.escalation import (
    EscalationWordsError,
    asks_for_person,
    mentions_payment_dispute,
    mentions_person,
    variants,
)

# bot.views.i18n.SUPPORTED
LANGUAGES = ("en", "zh", "zh_Hant", "ru", "es", "pt", "fr", "it", "de", "nl", "pl", "ar")

PERSON: dict[str, list[str]] = {
    "en": ["agent", "Human please", "I want a real person", "operator!", "customer service"],
    "ru": [
        "оператор",
        "Позовите оператора",
        "дайте оператору трубку",
        "живого человека!",
        "нужен менеджер",
        "соедините с сотрудником",
    ],
    "de": ["Mensch", "bitte einen Menschen", "Mitarbeiterin bitte", "Kundenservice"],
    "es": ["persona", "Quiero hablar con un humano", "operadora", "un asesor por favor"],
    "pt": ["atendente", "quero falar com uma pessoa", "humano", "falar com alguém"],
    "fr": ["conseiller", "Un humain svp", "une conseillère", "operateur", "parler à quelqu'un"],
    "ar": ["موظف", "أريد موظفاً", "أريد التحدث مع الموظف", "خدمة العملاء", "إنسان من فضلك"],
    "zh": ["人工", "转人工客服", "我要真人", "找工作人员"],
    "zh_Hant": ["人工", "轉人工客服", "我要真人", "請專人處理", "找工作人員"],
    "it": ["operatore", "Voglio parlare con un operatore", "una persona vera", "servizio clienti"],
    "nl": ["medewerker", "Ik wil een echt mens", "iemand spreken graag", "klantenservice!"],
    "pl": ["konsultant", "Chcę rozmawiać z konsultantem", "z człowiekiem proszę", "czlowiek"],
}

NOT_PERSON: dict[str, list[str]] = {
    "en": ["Hello", "where is my parcel", "personal data"],
    "ru": ["Здравствуйте", "где моя посылка", "человечный подход"],
    "de": ["Hallo", "menschlich gesehen okay"],
    "es": ["Hola", "personalizado"],
    "pt": ["Olá", "pessoal, obrigado"],
    "fr": ["Bonjour", "personnalisé"],
    "ar": ["مرحبا", "أين طلبي"],
    "zh": ["你好", "人工智能", "我的包裹在哪里"],
    "zh_Hant": ["你好", "我的包裹在哪裡", "請問何時出貨"],
    "it": ["Buongiorno", "personalizzato", "dov'è il mio pacco"],
    "nl": ["Hallo", "mens shoes size 42", "menselijk gezien prima", "tent voor één persoon"],
    "pl": ["Dzień dobry", "gdzie jest moja paczka", "ludzki błąd"],
}

DISPUTE: dict[str, list[str]] = {
    "en": [
        "If you don't refund me I'll file a chargeback",
        "I will charge it back",
        "I'm calling my bank tomorrow",
        "The bank will get my money back",
        "I opened a dispute",
        "I'll open a PayPal claim",
        "I will escalate this to PayPal",
        "My card issuer will sort it out",
    ],
    "ru": [
        "Я пожалуюсь в банк",
        "Верну деньги через банк",
        "Разберусь с банком",
        "Напишу моему банку",
        "Я пожалуюсь банку",
        "Деньги вернут из банка",
        "В моём банке сказали оспорить",
        "В моем банке сказали оспорить",
        "Сделаю чарджбэк",
        "оформлю чарджбека",
        "Оспорю платёж",
        "Открою спор в PayPal",
    ],
    "de": [
        "Dann gibt es eine Rückbuchung",
        "Ich lasse das zurückbuchen",
        "Ich werde meine Bank informieren",
        "Ich rufe meine Bank an",
        "Ich hole mir das Geld über meine Bank zurück",
        "Ich lasse es über die Bank zurückbuchen",
        "Ich wende mich an meine Bank",
        "Ich buche das Geld zurück",
        "Ich eröffne einen PayPal-Konflikt",
        "PayPal Käuferschutz",
        "Widerspruch gegen die Lastschrift",
        "Rueckbuchung",
    ],
    "es": [
        "Si no me devuelven el dinero abriré un chargeback",
        "Pagué con PayPal y abriré una disputa allí.",
        "Voy a reclamar a mi banco.",
        "Voy a reclamar al banco",
        "Hablaré con el banco",
        "Haré un contracargo",
        "Desconoceré el cargo en mi tarjeta",
        "Pondré una queja en PayPal",
    ],
    "pt": [
        "Vou acionar o banco",
        "Vou ligar pro banco",
        "Vou falar com o meu banco",
        "Vou pedir o estorno pelo banco",
        "Vou abrir uma disputa",
        "Vou contestar a compra",
        "Vou abrir reclamação no PayPal",
        "Farei um chargeback",
    ],
    "fr": [
        "Je vais contacter ma banque",
        "J'appelle la banque demain",
        "Je vais ouvrir un litige PayPal",
        "Je ferai opposition",
        "Je vais contester le prélèvement",
        "rétrofacturation",
        "retrofacturation",
    ],
    "ar": [
        "سأشتكي للبنك",
        "سأتصل بالبنك",
        "البنك سيسترد المبلغ",
        "سأفتح نزاعاً",
        "اعتراض على العملية",
        "سأقدم شكوى في باي بال",
        "سأذهب إلى المصرف",
    ],
    "zh": [
        "我要联系银行",
        "我会向银行投诉",
        "不退款我就申请拒付",
        "我要开争议",
        "我会在PayPal 争议",
        "我要开PayPal纠纷",
    ],
    "zh_Hant": [
        "我要聯絡銀行",
        "我會向銀行申訴",
        "不退款我就申請拒付",
        "我要開爭議",
        "我要開PayPal 糾紛",
        "我要申請信用卡爭議款",
    ],
    "it": [
        "Se non mi rimborsate farò un chargeback",
        "Chiamo la mia banca",
        "Contatterò la banca domani",
        "Mi rivolgerò alla banca",
        "Riavrò i soldi tramite la banca",
        "Aprirò una contestazione su PayPal",
        "Apro una controversia",
        "Disconoscerò l'addebito",
        "Protezione acquisti PayPal",
    ],
    "nl": [
        "Ik ga een chargeback aanvragen",
        "Ik bel mijn bank",
        "Ik ga mijn bank inschakelen",
        "Ik haal het geld via de bank terug",
        "Ik stap naar de bank",
        "Ik ga de incasso storneren",
        "Ik open een geschil bij PayPal",
        "PayPal kopersbescherming",
    ],
    "pl": [
        "Zadzwonię do banku",
        "Zgłoszę to do mojego banku",
        "Odzyskam pieniądze przez bank",
        "Otworzę spór w PayPal",
        "Zrobię chargeback",
        "Złożę reklamację w banku",
        "Zakwestionuję transakcję",
        "obciążenie zwrotne",
    ],
}

NOT_DISPUTE: dict[str, list[str]] = {
    "en": [
        "My power bank does not charge",
        "The riverbank picture on the box was torn",
        "The banking app shows the payment twice",
        "Please refund to my bank account",
        "Refund it to my bank card please",
        "I paid with PayPal",
        "The piggy bank arrived broken",
        "The lamp arrived broken",
    ],
    "ru": [
        "Банка варенья пришла разбитой",
        "Разбили банку при доставке",
        "В банке варенья были осколки",
        "Пришли банки без крышек",
        "Повер банк не заряжает",
        "Пауэрбанк не заряжает",
        "Верните деньги на карту",
        "Оператор связи потерял посылку",  # a person word, not a dispute
    ],
    "de": [
        "Die Bank ist kaputt angekommen",
        "Meine Bank wackelt",
        "Meine Bank ist kaputt, bitte um Ersatz",
        "Die Gartenbank hat einen Kratzer",
        "Die Powerbank lädt nicht",
        "Bitte auf mein Bankkonto überweisen",
        "Ich bin über die Bank gestolpert",
        "Bei der Bank fehlt eine Schraube",
    ],
    "es": [
        "El banco llegó roto",
        "Le falta una pata al banco",
        "Mi banco de trabajo llegó roto",
        "Mi banco de energía no carga",
        "Pagué con PayPal",
        "La base llegó rota.",
    ],
    "pt": [
        "O banco chegou quebrado",
        "Meu banco de jardim chegou riscado",
        "Quero o estorno no cartão",
        "Quando sai o estorno?",
        "Paguei com PayPal",
    ],
    "fr": [
        "Le banc est arrivé cassé",
        "Remboursez sur mon compte en banque",
        "J'ai payé par PayPal",
        "Le support est cassé",
    ],
    "ar": [
        "باور بنك لا يعمل",
        "أعيدوا المبلغ إلى حسابي في البنك",
        "أعيدوا المبلغ إلى حسابي البنكي",
        "المصرف في المطبخ مسدود",
        "دفعت عبر باي بال",
    ],
    "zh": [
        "请退款到我的银行卡",
        "我用手机银行付的款",
        "我是用PayPal付款的",
        "台灯坏了",
    ],
    "zh_Hant": [
        "請退款到我的銀行帳戶",
        "我用網路銀行付的款",
        "我是用PayPal付款的",
        "檯燈壞了",
    ],
    "it": [
        "La panca è arrivata rotta",
        "Il banco da lavoro è arrivato graffiato",
        "Rimborsate sul mio conto in banca",
        "Il power bank non si carica",
        "Quando arriva lo storno?",
        "Ho pagato con PayPal",
        "Vorrei fare una contestazione sul colore",
        "La base è arrivata rotta",
    ],
    "nl": [
        "De bank is beschadigd aangekomen",
        "Mijn bank heeft een scheur",
        "De hoekbank mist een poot",
        "De powerbank laadt niet op",
        "Graag terugstorten op mijn bankrekening",
        "Wanneer boeken jullie het bedrag terug?",
        "Ik heb met PayPal betaald",
    ],
    "pl": [
        "Power bank nie ładuje",
        "Powerbank nie działa",
        "Mój power bank jest uszkodzony",
        "Proszę o zwrot na konto w banku",
        "Zapłaciłem przez PayPal",
        "Ławka przyszła uszkodzona",
        "Spory problem z paczką",
    ],
}


def cases(table: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(language, text) for language in LANGUAGES for text in table[language]]


def test_every_supported_language_has_a_word_file_with_both_lists() -> None:
    lists = escalation.word_lists()
    assert sorted(lists) == sorted(LANGUAGES)
    for words in lists.values():
        assert words.person is not None and words.dispute is not None
    for table in (PERSON, NOT_PERSON, DISPUTE, NOT_DISPUTE):  # and examples to check them with
        assert sorted(table) == sorted(LANGUAGES)
        assert all(table[language] for language in LANGUAGES)


@pytest.mark.parametrize(("language", "text"), cases(PERSON))
def test_asking_for_a_person_in_each_language(language: str, text: str) -> None:
    assert asks_for_person(text, [language])
    assert asks_for_person(text)  # every language is checked by default


@pytest.mark.parametrize(("language", "text"), cases(NOT_PERSON))
def test_what_is_not_asking_for_a_person(language: str, text: str) -> None:
    assert not asks_for_person(text)


@pytest.mark.parametrize(("language", "text"), cases(DISPUTE))
def test_a_payment_dispute_in_each_language(language: str, text: str) -> None:
    assert mentions_payment_dispute(text, [language])
    assert mentions_payment_dispute(text)


@pytest.mark.parametrize(("language", "text"), cases(NOT_DISPUTE))
def test_look_alikes_are_not_a_payment_dispute_in_any_language(language: str, text: str) -> None:
    assert not mentions_payment_dispute(text)


def test_a_long_story_that_mentions_a_person_is_not_a_request() -> None:
    story = "The delivery agent left the parcel in the rain yesterday"
    assert mentions_person(story)
    assert not asks_for_person(story)
    assert asks_for_person("  позовите, пожалуйста, живого оператора  ")
    assert not asks_for_person(None) and not asks_for_person("")
    assert not mentions_payment_dispute(None)


def test_a_buyer_may_write_in_another_language_than_the_interface() -> None:
    assert mentions_payment_dispute("Я пожалуюсь в банк")
    assert not mentions_payment_dispute("Я пожалуюсь в банк", ["en", "de"])


def test_an_ignored_phrase_does_not_hide_the_rest_of_the_message() -> None:
    assert mentions_payment_dispute("Refund to my bank account, or I call my bank")
    assert mentions_payment_dispute("不要退到银行卡，我要找银行")


def test_variants_spell_out_the_braces_normalised() -> None:
    assert variants("оператор{,а,у}") == ["оператор", "оператора", "оператору"]
    assert variants("{,мой }банк") == ["банк", "мои банк"]  # й → и, as in any message
    assert variants("Rückbuchung{,en}") == ["ruckbuchung", "ruckbuchungen"]
    assert variants("charge-back") == ["charge back"]
    assert variants("{,ال,لل}بنك") == ["بنك", "البنك", "للبنك"]


@pytest.mark.parametrize(
    "text",
    [
        "person = 'agent'",
        "person = ['оператор{,а']",
        "person = ['{a,{b}}']",
        "person = ['*']",
        "person = ['a*b']",
        "persons = ['agent']",
        "match = 'chars'",
        "match = 'text'\nperson = ['agent*']",
        "person = [",
    ],
)
def test_a_broken_word_file_is_refused_with_its_name(text: str) -> None:
    with pytest.raises(EscalationWordsError, match=r"locales/xx/escalation\.toml"):
        escalation._parse("xx", text)

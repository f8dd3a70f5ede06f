"""The translation port on its own: what is protected, how a language is found, and how the
providers are tried (fakes on loopback, a real database)."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError

from bot.testing.fake_translate import FakeDeepL, FakeLibreTranslate
from core.persistence.repositories.translations import TranslationRepository, text_hash
from core.services.context import CoreContext
from core.translation.config import TranslationSettings
from core.translation.detect import detect
from core.translation.protect import missing, protect, spans, unmark
from core.translation.providers import Apertium
from core.translation.service import Direction, service_of
from tests.core.factories import damaged_lamp

OURS = ("en", "zh", "ru", "es", "pt", "fr", "de", "ar")


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Le devolveremos 39,90 € mañana", ["39,90 €"]),
        ("Refund of $30 or 30 USD", ["$30", "30 USD"]),
        ("Pedido AUR-10021, caso R-2611-0001", ["AUR-10021", "R-2611-0001"]),
        (
            "Tracking LP00123456789CN since 2026-12-06 14:30",
            ["LP00123456789CN", "2026-12-06", "14:30"],
        ),
        ("Order #1001 arrives 06/12/2026", ["#1001", "06/12/2026"]),
        (
            "See https://shop.example/r?id=7. Or write to ana@mail.es!",
            ["https://shop.example/r?id=7", "ana@mail.es"],
        ),
        ("Nothing to keep here", []),
    ],
)
def test_amounts_dates_numbers_links_and_addresses_are_protected(
    text: str, kept: list[str]
) -> None:
    assert spans(text) == kept
    protected = protect(text)
    assert list(protected.spans) == kept
    assert unmark(protected.markup) == text  # the markup says the same, escaped


def test_markup_is_escaped_and_a_lost_span_is_named() -> None:
    protected = protect("Price <b> & 12 €")
    assert protected.markup == "Price &lt;b&gt; &amp; <x>12 €</x>"
    assert missing(["12 €", "12 €"], "Preis 12 €") == ["12 €"]  # written twice, back once
    assert missing(["AUR-10021"], "pedido AUR-10021") == []


def test_the_language_is_detected_among_ours_and_a_short_text_keeps_the_chosen_one() -> None:
    assert detect("La lámpara llegó rota y la base está partida", OURS, "en").language == "es"
    assert detect("Мы вернём деньги за лампу завтра", OURS, "en").language == "ru"
    assert detect("台灯坏了，底座裂开了", OURS, "en").language == "zh"
    short = detect("ok 👍", OURS, "es")
    assert (short.language, short.detected) == ("es", False)


def test_none_is_alone_and_a_provider_once() -> None:
    assert TranslationSettings(providers=("none",)).providers == ()
    with pytest.raises(ValidationError):
        TranslationSettings(providers=("none", "deepl"))
    with pytest.raises(ValidationError):
        TranslationSettings(providers=("deepl", "deepl"))


BOOK = {("es", "en"): {"La lámpara llegó rota": "The lamp arrived broken"}}


@pytest.fixture
async def libre() -> AsyncIterator[FakeLibreTranslate]:
    async with FakeLibreTranslate(BOOK) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
async def deepl(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDeepL]:
    monkeypatch.setenv("DEEPL_AUTH_KEY", "fake-key")
    async with FakeDeepL(BOOK) as server:
        yield server  # type: ignore[misc]


def configured(ctx: CoreContext, **settings: object) -> CoreContext:
    config = ctx.config.model_copy(
        update={"translation": TranslationSettings.model_validate(settings)}
    )
    return dataclasses.replace(ctx, config=config, translation=None)


async def test_a_translation_is_kept_and_not_asked_twice(
    empty_ctx: CoreContext, libre: FakeLibreTranslate
) -> None:
    ctx = configured(empty_ctx, providers=["libretranslate"], libretranslate={"url": libre.url})
    service = service_of(ctx)
    first = await service.translate("La lámpara llegó rota", "es", "en")
    assert (first.text, first.provider, first.machine) == (
        "The lamp arrived broken",
        "libretranslate",
        True,
    )
    assert len(libre.requests) == 1 and libre.requests[0]["format"] == "html"
    async with ctx.unit_of_work() as uow:
        row = await TranslationRepository(uow.session).get(
            text_hash("La lámpara llegó rota"), "es", "en"
        )
    assert row is not None and row.text == "The lamp arrived broken"
    again = await service_of(
        configured(ctx, providers=["libretranslate"], libretranslate={"url": libre.url})
    ).translate("La lámpara llegó rota", "es", "en")
    assert again.text == "The lamp arrived broken"
    assert len(libre.requests) == 1  # from the database, not the server


async def test_a_provider_that_is_down_passes_to_the_next(
    empty_ctx: CoreContext, libre: FakeLibreTranslate, deepl: FakeDeepL
) -> None:
    libre.down = True
    ctx = configured(
        empty_ctx,
        providers=["libretranslate", "deepl"],
        libretranslate={"url": libre.url},
        deepl={"url": deepl.url, "formality": "prefer_less"},
    )
    result = await service_of(ctx).translate("La lámpara llegó rota", "es", "en")
    assert (result.text, result.provider) == ("The lamp arrived broken", "deepl")
    [sent] = deepl.requests
    assert sent["tag_handling"] == "xml" and sent["ignore_tags"] == ["x"]
    assert sent["formality"] == "prefer_less" and sent["target_lang"] == "EN-GB"
    # the server that is down rests a while: the next message does not wait on it
    listed = libre.listed
    await service_of(ctx).translate("La lámpara llegó rota y", "es", "en")
    assert libre.listed == listed and len(deepl.requests) == 2


async def test_with_every_provider_down_the_original_comes_back(
    empty_ctx: CoreContext, libre: FakeLibreTranslate
) -> None:
    libre.down = True
    ctx = configured(empty_ctx, providers=["libretranslate"], libretranslate={"url": libre.url})
    result = await service_of(ctx).translate("La lámpara llegó rota", "es", "en")
    assert (result.text, result.machine) == ("La lámpara llegó rota", False)


async def test_deepl_without_its_key_is_not_asked(
    empty_ctx: CoreContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEEPL_AUTH_KEY", raising=False)
    async with FakeDeepL(BOOK) as server:
        ctx = configured(empty_ctx, providers=["deepl"], deepl={"url": server.url})
        result = await service_of(ctx).translate("La lámpara llegó rota", "es", "en")
        assert not result.machine and server.requests == []


async def test_for_a_buyer_a_translation_that_drops_a_number_is_refused(
    empty_ctx: CoreContext, libre: FakeLibreTranslate
) -> None:
    libre.drop_numbers = True
    ctx = configured(empty_ctx, providers=["libretranslate"], libretranslate={"url": libre.url})
    result = await service_of(ctx).translate(
        "La lámpara llegó rota: 39,90 €", "es", "en", Direction.TO_BUYER
    )
    assert (result.text, result.machine, result.lost) == (
        "La lámpara llegó rota: 39,90 €",
        False,
        ("39,90 €",),
    )


needs_apertium = pytest.mark.skipif(
    shutil.which("apertium") is None, reason="apertium is not installed"
)


@needs_apertium
async def test_apertium_translates_the_pairs_installed_and_never_for_a_buyer(
    empty_ctx: CoreContext,
) -> None:
    if "spa-eng" not in await Apertium(TranslationSettings().apertium, 10).pairs():
        pytest.skip("apertium-eng-spa is not installed")
    ctx = configured(empty_ctx, providers=["apertium"])
    service = service_of(ctx)
    gist = await service.translate("La lámpara llegó rota", "es", "en")
    assert gist.provider == "apertium" and "lamp" in gist.text.lower()
    for_buyer = await service.translate("The lamp arrived broken", "en", "es", Direction.TO_BUYER)
    assert not for_buyer.machine  # a gist is not sent to a buyer
    assert not (await service.translate("Лампа сломалась", "ru", "en")).machine  # no such pair


async def test_erasing_a_buyers_cases_erases_the_translations_of_their_words(
    ctx: CoreContext,
) -> None:
    case = await damaged_lamp(ctx)
    assert case.description and case.id is not None
    key = text_hash(case.description)
    async with ctx.unit_of_work() as uow:
        repo = TranslationRepository(uow.session)
        await repo.add(key, "es", "zh", "deepl", "台灯坏了", ctx.now())
        await repo.set_language(key, "es", True, ctx.now())
        await uow.commit()

    async with ctx.unit_of_work() as uow:
        await uow.privacy.erase_cases([case.id])
        await uow.commit()

    async with ctx.unit_of_work() as uow:
        repo = TranslationRepository(uow.session)
        assert await repo.get(key, "es", "zh") is None
        assert await repo.language(key) is None

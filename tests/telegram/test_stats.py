"""/stats and /cost through the real Dispatcher and the fake Telegram: a seller gets three
charts as one album (PNGs that decode, of the right size, within Telegram's photo limits) and
the figures as a CSV of their own shop only; labels in Chinese and Arabic render with real
glyphs (a missing glyph is a warning, and warnings fail the tests); costs are recorded by the
case's staff only."""

from __future__ import annotations

import csv
import io
import os
from typing import Any

import pytest
from PIL import Image

from bot.views import charts, texts
from core.cases.model import Actor
from core.cases.reasons import Reason
from core.services import staff as staff_service
from core.services import stats as stats_service
from tests.telegram.conftest import CATALOGS, World, counterfeit_charger

AURORA_SELLER = 600001
NOVA_SELLER = 600002
BUYER = 935502


def fallback_note(language: str) -> str:
    return CATALOGS.get(language)(
        "The charts are labelled in English: this server has no font for your language's script."
    )


def album_to(world: World, chat_id: int) -> list[dict[str, Any]]:
    return [m for m in world.fake.messages_to(chat_id) if "photo" in m]


def documents_to(world: World, chat_id: int) -> list[dict[str, Any]]:
    return [m for m in world.fake.messages_to(chat_id) if "document" in m]


def _png(world: World, message: dict[str, Any]) -> Image.Image:
    data = world.fake.file_bytes(message["photo"][-1]["file_id"])
    assert len(data) <= charts.PHOTO_MAX_BYTES
    image = Image.open(io.BytesIO(data))
    image.load()  # decodes every pixel
    return image


async def test_a_seller_gets_three_charts_as_one_album_and_the_csv(world: World) -> None:
    seller = world.person(AURORA_SELLER, "Mei", "en")

    await seller.send("/stats 90d reason")

    photos = album_to(world, AURORA_SELLER)
    assert len(photos) == 3
    assert len({m["media_group_id"] for m in photos}) == 1  # one album
    caption = photos[0]["caption"]
    assert "Figures of the last 90 days" in caption
    assert "Aurora Home & Living" in caption
    for message in photos:
        image = _png(world, message)
        assert image.format == "PNG"
        assert image.size == (charts.WIDTH, charts.HEIGHT)
        assert sum(image.size) <= charts.PHOTO_MAX_SIDES
    [sent] = documents_to(world, AURORA_SELLER)
    assert sent["document"]["file_name"] == "returns-figures-aurora-90d.csv"
    text = world.fake.file_bytes(sent["document"]["file_id"]).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["figure"] for r in rows} >= {"claims_per_100_orders", "automation", "carriers"}
    orders = sum(int(r["value"]) for r in rows if r["measure"] == "orders" and r["month"])
    figures = await stats_service.figures(world.core, Actor.seller(AURORA_SELLER), days=90)
    assert orders == figures.orders > 0  # aurora's orders only: nova's are not there


@pytest.mark.parametrize("language", ["zh", "ar"])
async def test_chinese_and_arabic_labels_are_drawn_not_boxed(world: World, language: str) -> None:
    if language == "zh" and not charts.has_cjk_font():
        # CI installs Debian's fonts-noto-cjk (.ci/run): there it must be found
        assert not os.environ.get("CI"), "no CJK font: .ci/run should have installed it"
        pytest.skip("no CJK font here: apt-get install fonts-noto-cjk (README, Figures)")
    seller = world.person(NOVA_SELLER, "Wang", language)
    await counterfeit_charger(world, world.person(BUYER, "Ana", "pt"))  # a claim to chart
    label = texts.reason(CATALOGS.get(language), Reason.COUNTERFEIT)
    assert not label.isascii() and charts.covered(label)  # the bar's label, in that script

    await seller.send("/stats 90d reason")

    photos = album_to(world, NOVA_SELLER)
    assert len(photos) == 3
    assert fallback_note(language) not in photos[0]["caption"]  # the script has a font
    for message in photos:
        assert _png(world, message).size == (charts.WIDTH, charts.HEIGHT)


async def test_with_no_font_for_the_script_the_charts_fall_back_to_english_visibly(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    only_latin = tuple(f for f in charts._fonts() if f[0] == charts.BASE_FAMILY)
    monkeypatch.setattr(charts, "_fonts", lambda: only_latin)
    seller = world.person(NOVA_SELLER, "Wang", "zh")
    await counterfeit_charger(world, world.person(BUYER, "Ana", "pt"))

    await seller.send("/stats 90d reason")

    photos = album_to(world, NOVA_SELLER)
    assert len(photos) == 3
    assert fallback_note("zh") in photos[0]["caption"]


async def test_a_bad_argument_gets_the_usage_and_buyers_get_no_figures(world: World) -> None:
    seller = world.person(AURORA_SELLER, "Mei", "en")
    await seller.send("/stats forever")
    assert "for example /stats 30d supplier" in seller.last()
    buyer = world.person(BUYER, "Ana", "en")
    await buyer.send("/stats")
    assert album_to(world, BUYER) == [] and documents_to(world, BUYER) == []


async def test_staff_record_a_cost_on_their_case_and_no_one_else_can(world: World) -> None:
    case = await counterfeit_charger(world, world.person(BUYER, "Ana", "pt"))
    assert case.reason is Reason.COUNTERFEIT
    nova = world.person(NOVA_SELLER, "Wang", "en")

    await nova.send(f"/cost {case.number} reship-postage 12.50 CNY label from Yanwen")

    assert f"Recorded on case {case.number}: reship postage" in nova.last()
    assert "12.50" in nova.last()
    aurora = world.person(AURORA_SELLER, "Mei", "en")
    await aurora.send(f"/cost {case.number} refund 5")
    assert "I cannot find that case" in aurora.last()
    await nova.send(f"/cost {case.number} bribe 5")
    assert "What it can be: refund" in nova.last()
    async with world.core.unit_of_work() as uow:
        trail = await uow.cases.audit_trail(case.id or 0)
    costs = [e for e in trail if e.action == "cost_recorded"]
    assert [(e.data["kind"], e.data["amount"], e.note) for e in costs] == [
        ("reship_postage", {"amount": "12.50", "currency": "CNY"}, "label from Yanwen")
    ]


async def test_the_weekly_digest_reaches_each_seller_once_on_the_configured_day(
    world: World, notifier
) -> None:
    from core.services import housekeeping

    assert world.core.config.digest.weekday == 1 and world.core.config.digest.hour == 8
    wang = world.person(NOVA_SELLER, "Wang", "en")
    await wang.send("/start")  # the bot can write to those who wrote to it
    await counterfeit_charger(world, world.person(BUYER, "Ana", "pt"))
    done = await housekeeping.purge(world.core)  # Sunday noon: not the day
    assert done["digests_queued"] == 0
    world.clock.advance(hours=21)  # Monday 09:00 UTC

    done = await housekeeping.purge(world.core)
    assert done["digests_queued"] >= 3  # aurora's, nova's (two) and lumen's sellers
    assert (await housekeeping.purge(world.core))["digests_queued"] == 0  # once a week
    await notifier.send_due()

    [digest] = [
        m for m in world.fake.messages_to(NOVA_SELLER) if "returns in the last" in m.get("text", "")
    ]
    assert "Nova" in digest["text"]
    assert "claims on them: 1" in digest["text"]
    assert "/stats 30d" in digest["text"]


async def test_an_agent_gets_the_figures_of_the_shops_they_serve(world: World) -> None:
    agent = world.person(700001, "Olga", "ru")
    identity = await staff_service.identify(world.core, 700001)
    assert identity is not None

    await agent.send("/stats 7d supplier")

    assert len(album_to(world, 700001)) == 3
    [sent] = documents_to(world, 700001)
    assert sent["document"]["file_name"] == f"returns-figures-{'-'.join(identity.shops)}-7d.csv"

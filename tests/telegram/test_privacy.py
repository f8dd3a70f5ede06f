"""/mydata and /forgetme, told as a buyer's story through the real Dispatcher: the ZIP of
everything held about them in their language; erasure that waits while their case is open and
for the dispute window after it closes, then the nightly purge on a moved clock leaves the case
(reason, SKU, amounts) for the shop's figures and nothing personal."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.views import texts
from core.cases.model import Actor
from core.cases.reasons import Reason
from core.persistence.tables import (
    buyer_links,
    cases,
    erasure_requests,
    evidence,
    order_lines,
    orders,
    telegram_users,
)
from core.services import cases as case_service
from core.services import housekeeping
from tests.telegram.conftest import CATALOGS, World
from tests.telegram.test_export import DMITRI, VIDEO, documents_to, earbud_case_with_video

NOVA_SELLER = 600002

RU = CATALOGS.get("ru")


async def rows(world: World, stmt: Any) -> list[Any]:
    async with world.core.unit_of_work() as uow:
        return list((await uow.session.execute(stmt)).mappings())


async def test_mydata_sends_a_zip_of_everything_held_with_a_readme_in_the_buyers_language(
    world: World,
) -> None:
    number = await earbud_case_with_video(world, lost_photo=False)
    dmitri = world.person(DMITRI, "Дмитрий", "ru")

    await dmitri.send("/mydata")

    [sent] = documents_to(world, DMITRI)
    document = sent["document"]
    assert document["file_name"] == f"my-data-{DMITRI}-20261122.zip"
    assert document.get("mime_type", "application/zip") == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(world.fake.file_bytes(document["file_id"])))
    names = archive.namelist()
    assert {"README.txt", "profile.json", "orders.json", f"cases/{number}.json"} <= set(names)
    readme = archive.read("README.txt").decode()
    ru = CATALOGS.get("ru")
    assert texts.reason(ru, Reason.DOES_NOT_WORK) in readme  # the reason in Russian
    assert ru.date(world.clock.now()) in readme  # the date as Russians write it
    assert "/forgetme" in readme
    case = json.loads(archive.read(f"cases/{number}.json"))
    assert case["description"] == "Левый наушник не включается"
    [video_file] = [e["file"] for e in case["evidence"]]
    assert archive.read(video_file) == VIDEO  # the original file
    [order] = json.loads(archive.read("orders.json"))
    assert order["number"] == "NV-5501" and order["linked_by"] == "token"
    assert order["buyer"]["email"]  # their own order: their details
    profile = json.loads(archive.read("profile.json"))
    assert profile["profile"]["telegram_language"] == "ru"


async def test_forgetme_waits_while_the_case_is_open_and_the_purge_erases_after_the_window(
    world: World,
) -> None:
    number = await earbud_case_with_video(world, lost_photo=False)
    dmitri = world.person(DMITRI, "Дмитрий", "ru")
    [video_sha] = [r["sha256"] for r in await rows(world, select(evidence.c.sha256))]

    await dmitri.send("/forgetme")
    assert RU("Yes, erase my data") in " ".join(dmitri.buttons())
    await dmitri.press(RU("Yes, erase my data"))

    answer = dmitri.last()  # the open case holds it: named, with the window after it closes
    assert number in answer and "180" in answer
    assert (
        RU("Done: your data is erased. If you write to the bot again, we start afresh.")
        not in answer
    )
    [request] = await rows(world, select(erasure_requests))
    assert request["done_at"] is None and request["requested_by"] == "buyer"

    # writing again: told once that the erasure is pending (the message still goes on)
    pending = RU("You asked us to erase your data; it is pending.")
    await dmitri.send("привет")
    assert any(pending in text for text in dmitri.seen())
    notices = sum(pending in text for text in dmitri.seen())
    await dmitri.send("ещё раз")
    assert sum(pending in text for text in dmitri.seen()) == notices

    # the seller refunds; the case closes; the dispute window holds it 180 days more
    seller = Actor.seller(NOVA_SELLER)
    await case_service.cancel(world.core, seller, number, "duplicate")
    world.clock.advance(days=1)
    assert await housekeeping.purge(world.core)  # the nightly purge: the hold still applies
    [request] = await rows(world, select(erasure_requests))
    assert request["done_at"] is None
    assert [r["description"] for r in await rows(world, select(cases.c.description))] == [
        "Левый наушник не включается"
    ]
    assert world.core.evidence.exists(video_sha)

    world.clock.advance(days=181)
    done = await housekeeping.purge(world.core)
    assert done["privacy_people_erased"] == 1

    [request] = await rows(world, select(erasure_requests))
    assert request["done_at"] is not None
    [case] = await rows(world, select(cases))
    assert case["description"] == "[erased]" and case["buyer_id"] is None
    assert case["reason"] == "does_not_work" and case["status"] == "cancelled"
    assert case["number"] == number and case["currency"]
    [order] = await rows(world, select(orders).where(orders.c.number == "NV-5501"))
    assert order["buyer_name"] == "erased"
    assert order["buyer_email"] is None and order["buyer_phone"] is None
    assert order["ship_line1"] is None and order["ship_postal_code"] is None
    # SKU and amounts stay: the shop's figures still count the case
    [line] = await rows(
        world,
        select(order_lines).where(
            order_lines.c.order_id == order["id"], order_lines.c.line_no == 1
        ),
    )
    assert line["sku"] and line["unit_price_minor"] > 0
    [count] = await rows(
        world,
        select(func.count().label("n")).where(
            cases.c.shop == "nova", cases.c.reason == "does_not_work"
        ),
    )
    assert count["n"] == 1
    [piece] = await rows(world, select(evidence))
    assert piece["file_id"] is None and piece["sha256"] is None
    assert not world.core.evidence.exists(video_sha)
    assert (
        await rows(world, select(telegram_users).where(telegram_users.c.telegram_id == DMITRI))
        == []
    )
    assert await rows(world, select(buyer_links).where(buyer_links.c.telegram_id == DMITRI)) == []

    # idempotent: the next night changes nothing
    world.clock.advance(days=1)
    again = await housekeeping.purge(world.core)
    assert again["privacy_people_erased"] == 0 and again["privacy_cases_erased"] == 0


async def test_forgetme_without_a_case_erases_at_once_and_no_keeps_everything(world: World) -> None:
    lucia = world.person(935502, "Lucia", "en")
    await lucia.send(f"/start {await world.start_link('aurora', 'AUR-10026')}")
    assert await rows(world, select(buyer_links).where(buyer_links.c.telegram_id == 935502))

    await lucia.send("/forgetme")
    await lucia.press("No, keep it")
    assert "Nothing was erased" in lucia.last()
    assert await rows(world, select(buyer_links).where(buyer_links.c.telegram_id == 935502))

    await lucia.send("/forgetme")
    await lucia.press("Yes, erase my data")

    assert "erased" in lucia.last()
    assert await rows(world, select(buyer_links).where(buyer_links.c.telegram_id == 935502)) == []
    assert (
        await rows(world, select(telegram_users).where(telegram_users.c.telegram_id == 935502))
        == []
    )
    [order] = await rows(world, select(orders).where(orders.c.number == "AUR-10026"))
    assert order["buyer_name"] == "erased" and order["buyer_email"] is None


async def test_a_pending_erasure_can_be_cancelled_from_the_notice(world: World) -> None:
    number = await earbud_case_with_video(world, lost_photo=False)
    dmitri = world.person(DMITRI, "Дмитрий", "ru")
    await dmitri.send("/forgetme")
    await dmitri.press(RU("Yes, erase my data"))
    assert number in dmitri.last()

    await dmitri.press(RU("Cancel my erasure request"))

    assert dmitri.last() == RU("Your erasure request is cancelled: we keep your data as before.")
    assert await rows(world, select(erasure_requests)) == []


async def test_a_failed_update_is_logged_without_the_message_text(
    world: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.conversations.buyer import privacy as handlers

    secret = "my IBAN is DE89370400440532013000"

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError(f"could not parse {secret!r}")

    monkeypatch.setattr(handlers.privacy, "personal_data", broken)
    await world.restart()
    dmitri = world.person(DMITRI, "Дмитрий", "ru")
    with caplog.at_level(logging.INFO):
        await dmitri.send(f"/mydata {secret}")
    failures = [
        r for r in caplog.records if r.levelno >= logging.INFO and "failed" in r.getMessage()
    ]
    assert failures, caplog.text
    for record in caplog.records:
        if record.levelno >= logging.INFO:
            shown = record.getMessage() + (
                logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
            )
            assert "DE89" not in shown and "IBAN" not in shown
    assert any("ValueError" in r.getMessage() and "privacy" in r.getMessage() for r in failures)

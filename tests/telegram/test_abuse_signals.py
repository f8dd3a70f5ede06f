"""Signs of abuse, through the bot: the same photo re-sent by another buyer, a file whose camera
date is before the delivery. Staff read the signals; the buyer reads what anyone else reads."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime

from PIL import Image
from sqlalchemy import select

from bot.delivery.notifier import Notifier
from bot.testing.people import Person
from core.cases.lifecycle import CaseStatus
from core.persistence.tables import evidence, evidence_fingerprints
from tests.telegram.conftest import World

LUCIA = 930021  # AUR-10021, the damaged lamp
SOFIA = 930029  # AUR-10029, the coasters (€9.99: approved at once when nothing is odd)
CARLOS = 930030  # AUR-10030, delivered on 17 November
AGENT = 700001


def picture(seed: int, *, size: tuple[int, int] = (1280, 960), quality: int = 90) -> bytes:
    """A photo-like JPEG: coarse random colour blocks, smoothed."""
    rng = random.Random(seed)
    small = Image.new("RGB", (16, 12))
    small.putdata(
        [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(192)]
    )
    out = io.BytesIO()
    small.resize(size, Image.Resampling.BICUBIC).save(out, "JPEG", quality=quality)
    return out.getvalue()


def with_camera_date(data: bytes, taken: str) -> bytes:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = taken  # DateTimeOriginal
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


async def report_damage(world: World, person: Person, number: str, send) -> str:
    """The buyer follows the order e-mail's link, reports the item damaged, sends what
    ``send`` sends and confirms a refund; returns what the bot answered last."""
    await person.send(f"/start {await world.start_link('aurora', number)}")
    await person.press("Return or refund")
    await person.press(number)
    await person.press("Arrived damaged")
    await person.press("Skip")
    await send()
    await person.press("Done")
    await person.press("Refund")
    await person.press("Confirm and send")
    return person.last()


def staff_texts(world: World, chat_id: int) -> str:
    chat = world.fake.chats.get(chat_id)
    if chat is None:
        return ""
    return "\n".join(
        str(message.get("text") or message.get("caption") or "")
        for message in chat.messages.values()
    )


async def test_the_same_photo_re_sent_by_another_buyer_goes_to_an_agent_with_the_case_number(
    world: World, notifier: Notifier
) -> None:
    agent = world.person(AGENT, "Agnes", "en")
    await agent.send("/start")  # the agent talks to the bot
    lucia = world.person(LUCIA, "Lucia", "en")

    async def lucia_photos() -> None:
        for seed in (1, 2, 3):
            await lucia.send_photo(content=picture(seed))

    answer = await report_damage(world, lucia, "AUR-10021", lucia_photos)
    assert "Approved" in answer
    [earlier] = await world.cases_of(LUCIA)
    assert earlier.signals == ()

    sofia = world.person(SOFIA, "Sofia", "en")

    async def sofia_photos() -> None:
        # Lucía's first picture, smaller and recompressed: other bytes, the same photo
        await sofia.send_photo(content=picture(1, size=(800, 600), quality=60))
        await sofia.send_photo(content=picture(4))
        await sofia.send_photo(content=picture(5))

    before = len(sofia.messages())
    answer = await report_damage(world, sofia, "AUR-10029", sofia_photos)

    [case] = await world.cases_of(SOFIA)
    [same] = [s for s in case.signals or () if s.code == "same_photo"]
    assert same.params["case"] == earlier.number and same.params["other_buyer"] is True
    assert case.status is CaseStatus.AWAITING_AGENT  # would have been approved at once
    assert case.resolution is None
    # the buyer reads what any buyer whose case an agent reviews reads: nothing of the signal
    assert answer.startswith(f"✅ Your case {case.number} is open.")
    assert "A support agent will look at it personally and reply here by" in answer
    said = "\n".join(sofia.seen()[before:])
    for word in (earlier.number, "photo looks", "same", "signal", "Worth a look", "⚠️"):
        assert word not in said

    await notifier.send_due()
    alert = staff_texts(world, AGENT)
    assert f"A photo looks the same as one sent by another buyer in case {earlier.number}." in (
        alert
    )
    assert "Worth a look (not a verdict):" in alert
    assert earlier.number not in "\n".join(sofia.seen()[before:])  # still nothing to Sofia

    await agent.send(f"/case {case.number}")  # the card says it too
    card = agent.last().splitlines()
    assert "Worth a look (not a verdict):" in card
    assert (
        f"⚠️ A photo looks the same as one sent by another buyer in case {earlier.number}." in card
    )


async def test_a_file_whose_camera_date_is_before_the_delivery_is_flagged(
    world: World, notifier: Notifier
) -> None:
    await world.person(AGENT, "Agnes", "en").send("/start")
    carlos = world.person(CARLOS, "Carlos", "en")

    async def carlos_files() -> None:
        await carlos.send_document(
            "IMG_2041.jpg",
            "image/jpeg",
            with_camera_date(picture(7), "2026:11:10 18:45:00"),
        )
        # the same bytes as a compressed photo: Telegram strips EXIF, so no date is read
        await carlos.send_photo(content=with_camera_date(picture(8), "2026:11:09 10:00:00"))
        await carlos.send_photo(content=picture(9))

    await report_damage(world, carlos, "AUR-10030", carlos_files)

    [case] = await world.cases_of(CARLOS)
    [before] = [s for s in case.signals or () if s.code == "photo_before_delivery"]
    assert before.params["taken_at"] == datetime(2026, 11, 10, 18, 45, tzinfo=UTC).isoformat()
    async with world.core.unit_of_work() as uow:
        rows = await uow.session.execute(
            select(evidence.c.kind, evidence_fingerprints.c.taken_at)
            .join(evidence, evidence.c.id == evidence_fingerprints.c.evidence_id)
            .where(evidence.c.case_id == case.id)
            .order_by(evidence.c.id)
        )
        stored = [(kind, taken is not None) for kind, taken in rows]
    assert stored == [("document", True), ("photo", False), ("photo", False)]

    await notifier.send_due()
    assert "A photo sent as a file was taken on Nov 10, 2026 (camera date)" in staff_texts(
        world, AGENT
    )

"""Supplier claims as a seller meets them: the notice when a case is approved, the supplier's
order number typed after a button, ``/claims`` per supplier, the week's message and ZIP
(without a trace of the buyer, EXIF included), and the moves up to "recovered" with the
amount, driven update by update through the real Dispatcher."""

from __future__ import annotations

import io
import zipfile

from PIL import Image

from bot.conversations.stats import summary as stats_summary
from bot.delivery.notifier import Notifier
from core.cases.model import Actor, Evidence, EvidenceKind
from core.cases.reasons import Reason, Resolution
from core.policy.decision import Claim
from core.services import cases as case_service
from core.services import stats as stats_service
from core.services import supplier_claims as claim_service
from core.suppliers.lifecycle import ClaimStatus
from tests.telegram.conftest import CATALOGS, World

WANG = 600001  # aurora's seller
NOVA_SELLER = 600002
LUCIA = 100021
# what would name Lucía (AUR-10021): none of it may reach the supplier
PERSONAL = (
    "Lucía",
    "Lucia",
    "Fernández",
    "Fernandez",
    "lucia.fernandez@example.es",
    "612 345 678",
    "612345678",
    "Colón",
    "Valencia",
    "46004",
    str(LUCIA),
    "@lucia_f",
)


def _photo_with_exif() -> bytes:
    """A JPEG whose EXIF and comment name the buyer, as a phone's camera may."""
    image = Image.new("RGB", (64, 48), (180, 40, 40))
    exif = Image.Exif()
    exif[0x013B] = "Lucia Fernandez"  # Artist
    exif[0x010E] = "lucia.fernandez@example.es +34 612 345 678"  # ImageDescription
    exif[0x8298] = "Valencia 46004"  # Copyright
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), comment=b"Lucia Fernandez, Valencia")
    return out.getvalue()


async def _damaged_lamp(world: World) -> str:
    """Lucía reports her lamp damaged with two photos carrying EXIF, and writes her name,
    phone, e-mail and Telegram handle in the description: approved at once (39.90 < 50)."""
    lucia = world.person(LUCIA, "Lucía", "es")
    await lucia.send(f"/start {await world.start_link('aurora', 'AUR-10021')}")
    order = await world.order("aurora", "AUR-10021")
    data = _photo_with_exif()
    assert b"Lucia Fernandez" in data  # the test photo does carry it
    stored = world.core.evidence.put_bytes(data)
    evidence = tuple(
        Evidence(
            EvidenceKind.PHOTO,
            f"lamp-{n}",
            file_id=world.fake.user_photo(LUCIA)["message"]["photo"][-1]["file_id"],
            sha256=stored.sha256,
            size=stored.size,
            mime_type="image/jpeg",
        )
        for n in range(3)
    )
    world.fake.take_updates()
    opened = await case_service.open_case(
        world.core,
        Actor.buyer(LUCIA),
        case_service.NewCase(
            order_id=order.id or 0,
            claims=(Claim(1, 1),),
            reason=Reason.DAMAGED,
            description=(
                "Soy Lucía Fernández (@lucia_f), Calle de Colón 12, 46004 Valencia. La base "
                "llegó rota. Llamadme al +34 612 345 678 o lucia.fernandez@example.es"
            ),
            evidence=evidence,
            preferred_resolution=Resolution.REFUND,
        ),
    )
    assert opened.case.resolution is Resolution.REFUND
    return opened.case.number


async def test_the_seller_is_asked_for_the_suppliers_order_number_when_the_claim_opens(
    world: World, notifier: Notifier
) -> None:
    wang = world.person(WANG, "Wang", "en")
    await wang.send("/start")  # the seller's chat with the bot exists
    number = await _damaged_lamp(world)
    await notifier.send_due()
    notice = next(t for t in wang.seen() if "a claim on" in t)
    assert f"Case {number}: a claim on Shenzhen Bright Lighting Co. was opened" in notice
    assert "Nov 27, 2026" in notice  # sz-bright: 15 days from delivery on 12 November

    assert "Open the claim with /claim_1 and type the supplier's order number" in notice
    await wang.send("/claim_1")  # Telegram makes the command in the notice tappable
    await wang.press("Supplier's order number")
    assert wang.last() == (
        f"Type Shenzhen Bright Lighting Co.'s order number for the goods of case {number}."
    )
    await wang.send("SZB-20261102-77")

    assert "Supplier's order number: SZB-20261102-77" in wang.last()
    [claim] = await claim_service.list_claims(world.core, Actor.seller(WANG))
    assert claim.supplier_order == "SZB-20261102-77"


async def test_the_weeks_zip_for_the_supplier_carries_nothing_of_the_buyer(
    world: World,
) -> None:
    number = await _damaged_lamp(world)
    wang = world.person(WANG, "Wang", "en")
    await wang.send("/claims")
    listing = wang.last()
    assert "Shenzhen Bright Lighting Co." in listing and number in listing
    assert "draft, not sent yet" in listing and "by Nov 27, 2026" in listing

    await wang.press("this week's claims")

    sent = world.fake.messages_to(WANG)
    [document] = [m for m in sent if "document" in m]
    assert document["document"]["mime_type"] == "application/zip"
    letters = [m["text"] for m in sent if number in m.get("text", "") and "LMP-NORD" in m["text"]]
    assert len(letters) == 2  # Chinese, then English, from the catalogues (no machine)
    dear = "Dear {supplier},"
    assert letters[0].startswith(CATALOGS.get("zh")(dear, supplier="Shenzhen Bright Lighting Co."))
    assert letters[1].startswith("Dear Shenzhen Bright Lighting Co.,")
    assert CATALOGS.get("zh")(dear, supplier="x") != "Dear x,"
    assert f"Our reference {number}" in letters[1] and "LMP-NORD-01" in letters[1]
    archive = zipfile.ZipFile(io.BytesIO(world.fake.file_bytes(document["document"]["file_id"])))
    names = archive.namelist()
    assert {"message-zh.txt", "message-en.txt", "claims.csv", "manifest.json"} <= set(names)
    assert f"{number}/description.txt" in names
    photos = [n for n in names if n.startswith(f"{number}/photo-")]
    assert len(photos) == 1  # the same picture sent three times is one file
    description = archive.read(f"{number}/description.txt").decode()
    assert "La base llegó rota" in description  # the defect stays
    for name in names:
        content = archive.read(name)
        for value in PERSONAL:
            assert value.encode() not in content, (name, value)
            assert value.encode("utf-16-le") not in content, (name, value)
    for name in photos:
        with Image.open(io.BytesIO(archive.read(name))) as image:
            assert len(image.getexif()) == 0
            assert not {"exif", "comment", "xmp", "icc_profile"} & set(image.info)
    for letter in letters:
        for value in PERSONAL:
            assert value not in letter


async def test_a_claim_moves_to_recovered_with_the_amount_through_the_buttons(
    world: World,
) -> None:
    number = await _damaged_lamp(world)
    wang = world.person(WANG, "Wang", "en")
    await wang.send("/claims")
    await wang.press(f"{number} · sz-bright")
    assert wang.buttons() == [
        "📤 Mark as sent",
        "🗑 Write off",
        "✏️ Supplier's order number…",
        "📦 Message and ZIP",
    ]

    await wang.press("Mark as sent")
    assert "Status: sent to the supplier" in wang.last()
    assert wang.buttons()[:5] == [
        "🤝 Supplier agreed",
        "✋ Supplier refused",
        "⚠️ Escalate",
        "💰 Recovered…",
        "🗑 Write off",
    ]
    await wang.press("Supplier agreed")
    await wang.press("Recovered…")
    assert wang.last().startswith("Type the amount Shenzhen Bright Lighting Co. paid back")
    await wang.send("thirty")
    assert wang.last() == "That is not an amount: type it in digits, for example 12.50."
    await wang.send("30.50")  # the question stays open after a mistake

    card = wang.last()
    assert "Status: recovered" in card and "Recovered: €30.50" in card
    assert wang.buttons() == []  # final: nothing more to do
    [claim] = await claim_service.list_claims(world.core, Actor.seller(WANG), open_only=False)
    assert claim.status is ClaimStatus.RECOVERED
    # the figures (/stats) count it as money back from the supplier
    figures = await stats_service.figures(world.core, Actor.seller(WANG), days=90)
    [eur] = [row for row in figures.money if row.currency == "EUR"]
    assert eur.by_kind["supplier_credit"] == 3050
    caption = stats_summary(CATALOGS.get("en"), figures, ["Aurora Home & Living"], False)
    assert "Recovered from suppliers: €30.50" in caption
    # the old card's buttons (an order number, a move) are refused: the claim as it stands
    for data in (f"sc:{claim.id}:order:", f"sc:{claim.id}:refuse:agreed"):
        world.fake.press(WANG, wang.last_message()["message_id"], data, strict=False)
        await wang.driver.deliver()
        answer = world.fake.callback_answers[-1]
        assert answer["text"] == "This claim has changed. Here is where it stands now."
        assert "Status: recovered" in wang.last() and wang.buttons() == []
    await wang.send("SZB-LATE-1")  # not taken as an order number for the closed claim
    [after] = await claim_service.list_claims(world.core, Actor.seller(WANG), open_only=False)
    assert after.status is ClaimStatus.RECOVERED and after.supplier_order is None


async def test_a_seller_of_another_shop_sees_no_claim_and_cannot_press_one(world: World) -> None:
    number = await _damaged_lamp(world)
    wang = world.person(WANG, "Wang", "en")
    await wang.send("/claims")
    other = world.person(NOVA_SELLER, "Emma", "en")
    await other.send("/claims")
    assert other.last() == "No open supplier claims."
    [claim] = await claim_service.list_claims(world.core, Actor.seller(WANG))
    seen_by_wang = len(world.fake.messages_to(WANG))
    for action in ("show", "pack", "batch", "order", f"send:{ClaimStatus.DRAFT.value}"):
        # a forged button naming Wang's claim: answered as a claim that does not exist
        world.fake.press(
            NOVA_SELLER,
            other.last_message()["message_id"],
            f"sc:{claim.id}:{action}" + ("" if ":" in action else ":"),
            strict=False,
        )
        await other.driver.deliver()
        answer = world.fake.callback_answers[-1]
        assert answer["text"] == "I cannot find that. Check the number and try again."
    await other.send(f"/claim_{claim.id}")
    assert other.last() == "I cannot find that. Check the number and try again."
    assert number not in " ".join(other.seen())
    assert not [m for m in world.fake.messages_to(NOVA_SELLER) if "document" in m]
    [unchanged] = await claim_service.list_claims(world.core, Actor.seller(WANG))
    assert unchanged.status is ClaimStatus.DRAFT and unchanged.supplier_order is None
    assert len(world.fake.messages_to(WANG)) == seen_by_wang


async def test_a_case_after_the_suppliers_window_is_flagged_in_the_notice(
    world: World, notifier: Notifier
) -> None:
    world.clock.advance(days=9)  # 1 December: sz-bright's window closed on 27 November
    wang = world.person(WANG, "Wang", "en")
    await wang.send("/start")
    await _damaged_lamp(world)
    await notifier.send_due()
    notice = next(t for t in wang.seen() if "a claim on" in t)
    assert (
        "The buyer's case came after Shenzhen Bright Lighting Co.'s window had closed on "
        "Nov 27, 2026: the supplier may refuse the claim."
    ) in notice


async def test_no_weeks_batch_button_once_the_drafts_are_older_than_a_week(world: World) -> None:
    number = await _damaged_lamp(world)
    world.clock.advance(days=8)  # the draft stays, but the week's batch takes none this old
    wang = world.person(WANG, "Wang", "en")
    await wang.send("/claims")
    assert number in wang.last() and "draft, not sent yet" in wang.last()
    assert wang.buttons() == [f"📝 {number} · sz-bright"]  # no batch the core would refuse
    await wang.press(f"{number} · sz-bright")
    assert "📦 Message and ZIP" in wang.buttons()  # the claim's own message and ZIP still

"""Supplier claims on the board through aiohttp's test client: the list of the seller's shop
only, another shop's claim answered as one that does not exist, the moves the lifecycle
allows (and words for one it does not, nothing changed), "recovered" with the amount stored,
and the supplier's ZIP by a signed link, without the buyer's e-mail."""

from __future__ import annotations

import io
import zipfile
from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.board import auth
from core.cases.model import Actor, Evidence, EvidenceKind
from core.cases.reasons import Reason, Resolution
from core.persistence.tables import case_costs
from core.policy.decision import Claim
from core.services import board as board_service
from core.services import cases as case_service
from core.services import supplier_claims as claim_service
from core.suppliers.lifecycle import ClaimStatus, SupplierClaim
from tests.board.conftest import AURORA_SELLER, COLOURS, LUCIA, NOVA_SELLER, BoardWorld, photo
from tests.board.test_board_api import session
from tests.telegram.conftest import CATALOGS

Client = TestClient[Any, Any]
EMAIL = "lucia.fernandez@example.es"  # the buyer of AUR-10021, in the order


async def lamp_claim(board: BoardWorld) -> SupplierClaim:
    """Lucía's AUR-10021 lamp came damaged (her e-mail in her words): approved at once as a
    refund, which opens a draft claim on Shenzhen Bright Lighting."""
    world = board.world
    lucia = world.person(LUCIA, "Lucía", "es")
    await lucia.send(f"/start {await world.start_link('aurora', 'AUR-10021')}")
    order = await world.order("aurora", "AUR-10021")
    evidence = []
    for n, colour in enumerate(COLOURS, start=1):
        stored = world.core.evidence.put_bytes(photo(colour))
        evidence.append(
            Evidence(EvidenceKind.PHOTO, f"lamp-{n}", file_id=f"l-{n}", sha256=stored.sha256)
        )
    await case_service.open_case(
        world.core,
        Actor.buyer(LUCIA),
        case_service.NewCase(
            order_id=order.id or 0,
            claims=(Claim(1, 1),),
            reason=Reason.DAMAGED,
            description=f"La base llegó rota. Escribidme a {EMAIL}",
            evidence=tuple(evidence),
            preferred_resolution=Resolution.REFUND,
        ),
    )
    [claim] = await claim_service.list_claims(world.core, Actor.seller(AURORA_SELLER))
    return claim


async def status_of(board: BoardWorld, claim_id: int) -> ClaimStatus:
    view = await claim_service.get_claim(board.core, Actor.system(), claim_id)
    return view.claim.status


async def test_the_list_shows_the_shops_claims_by_supplier(
    board: BoardWorld, client: Client
) -> None:
    claim = await lamp_claim(board)
    headers = await session(client, board, AURORA_SELLER)
    response = await client.get("/board/api/claims", headers=headers)
    assert response.status == 200
    body = await response.json()
    [group] = body["suppliers"]
    assert group["name"] == "Shenzhen Bright Lighting Co."
    assert group["batch"] == (
        "Shenzhen Bright Lighting Co.: this week's claims, one message and ZIP"
    )
    [row] = group["claims"]
    assert row["id"] == claim.id and row["case"] == claim.case_number
    assert row["status_label"] == "draft, not sent yet"
    assert row["deadline_label"] == "by Nov 27, 2026" and row["late"] is False
    assert row["claimed"].startswith("Claimed: €")
    assert [m["label"] for m in row["moves"]] == ["📤 Mark as sent", "🗑 Write off"]

    # the other shop's seller sees none of it, in the chat's words
    other = await session(client, board, NOVA_SELLER)
    body = await (await client.get("/board/api/claims", headers=other)).json()
    assert body["suppliers"] == [] and body["empty"] == "No open supplier claims."

    # in the seller's language: the chat's sentences, translated
    zh = await session(client, board, AURORA_SELLER, language="zh")
    body = await (await client.get("/board/api/claims", headers=zh)).json()
    row = body["suppliers"][0]["claims"][0]
    assert row["moves"][0]["label"] == "📤 " + CATALOGS.get("zh")("Mark as sent")


async def test_another_shops_claim_is_not_found(board: BoardWorld, client: Client) -> None:
    claim = await lamp_claim(board)
    other = await session(client, board, NOVA_SELLER)
    response = await client.post(
        f"/board/api/claims/{claim.id}/move",
        json={"move": "send", "status": "draft"},
        headers=other,
    )
    assert response.status == 404
    missing = await client.post(
        "/board/api/claims/999999/move", json={"move": "send"}, headers=other
    )
    assert missing.status == 404
    assert (await response.json())["message"] == (await missing.json())["message"]
    response = await client.post("/board/api/claims/pack", json={"claim": claim.id}, headers=other)
    assert response.status == 404
    response = await client.post(
        "/board/api/claims/pack", json={"supplier": claim.supplier}, headers=other
    )
    assert response.status == 404
    assert claim.id is not None
    assert await status_of(board, claim.id) is ClaimStatus.DRAFT


async def test_a_move_the_lifecycle_does_not_allow_is_refused_with_words(
    board: BoardWorld, client: Client
) -> None:
    claim = await lamp_claim(board)
    assert claim.id is not None
    headers = await session(client, board, AURORA_SELLER)
    url = f"/board/api/claims/{claim.id}/move"
    response = await client.post(url, json={"move": "agree", "status": "draft"}, headers=headers)
    assert response.status == 422
    assert (await response.json())["message"] == (
        "That is not possible at this stage of the case. Open the case to see what you can do."
    )
    assert await status_of(board, claim.id) is ClaimStatus.DRAFT
    # a page that showed an older status: the claims as they stand, nothing applied
    response = await client.post(url, json={"move": "send", "status": "sent"}, headers=headers)
    assert response.status == 409
    body = await response.json()
    assert body["message"] == "This claim has changed. Here is where it stands now."
    assert body["suppliers"][0]["claims"][0]["status"] == "draft"
    assert await status_of(board, claim.id) is ClaimStatus.DRAFT
    response = await client.post(url, json={"move": "fly"}, headers=headers)
    assert response.status == 422
    assert await status_of(board, claim.id) is ClaimStatus.DRAFT
    # a move that does not say which status the page showed is no move
    response = await client.post(url, json={"move": "send"}, headers=headers)
    assert response.status == 422
    assert (await response.json())["message"] == "That is not valid. Please check it and try again."
    assert await status_of(board, claim.id) is ClaimStatus.DRAFT


async def test_recovered_with_an_amount_is_stored(board: BoardWorld, client: Client) -> None:
    claim = await lamp_claim(board)
    assert claim.id is not None
    headers = await session(client, board, AURORA_SELLER)
    url = f"/board/api/claims/{claim.id}/move"
    response = await client.post(url, json={"move": "send", "status": "draft"}, headers=headers)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["message"] == (f"Supplier claim for case {claim.case_number}: sent to the supplier")
    row = body["suppliers"][0]["claims"][0]
    assert "💰 Recovered…" in [m["label"] for m in row["moves"]]
    recover = next(m for m in row["moves"] if m["code"] == "recover")
    assert recover["input"] == "amount"
    assert recover["question"].startswith("Type the amount Shenzhen Bright Lighting Co. paid back")

    for typed in ("", "thirty"):  # a mistake: words, nothing stored, the claim as it was
        response = await client.post(
            url, json={"move": "recover", "status": "sent", "amount": typed}, headers=headers
        )
        assert response.status == 422
        assert (await response.json())["message"] == (
            "That is not an amount: type it in digits, for example 12.50."
        )
    assert await status_of(board, claim.id) is ClaimStatus.SENT

    response = await client.post(
        url, json={"move": "recover", "status": "sent", "amount": "30,50"}, headers=headers
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["suppliers"] == []  # no open claim left
    view = await claim_service.get_claim(board.core, Actor.system(), claim.id)
    assert view.claim.status is ClaimStatus.RECOVERED
    assert view.claim.recovered is not None and view.claim.recovered.minor == 3050
    async with board.core.unit_of_work() as uow:
        rows = (
            await uow.session.execute(
                select(case_costs.c.kind, case_costs.c.amount_minor).where(
                    case_costs.c.case_id == claim.case_id
                )
            )
        ).all()
    assert ("supplier_credit", 3050) in [tuple(r) for r in rows]
    listed = await (await client.get("/board/api/claims?all=1", headers=headers)).json()
    [row] = listed["suppliers"][0]["claims"]
    assert row["recovered"] == "Recovered: €30.50" and row["moves"] == []


async def test_the_suppliers_zip_carries_no_buyer_email(board: BoardWorld, client: Client) -> None:
    claim = await lamp_claim(board)
    headers = await session(client, board, AURORA_SELLER)
    response = await client.post(
        "/board/api/claims/pack", json={"supplier": claim.supplier}, headers=headers
    )
    assert response.status == 200, await response.text()
    url = (await response.json())["url"]
    download = await client.get(url)  # a plain link: no session header
    assert download.status == 200
    assert download.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(await download.read()))
    names = archive.namelist()
    assert f"{claim.case_number}/description.txt" in names and "message-en.txt" in names
    assert "La base llegó rota" in archive.read(f"{claim.case_number}/description.txt").decode()
    for name in names:
        assert EMAIL.encode() not in archive.read(name), name

    # the link is for that person and that purpose: not a file link, not another user's
    forged = url.replace(f"u={AURORA_SELLER}", f"u={NOVA_SELLER}")
    assert (await client.get(forged)).status == 401
    assert (await client.get(url.replace("/claims-pack?", "/export?"))).status == 401
    # the very same fields signed as an evidence file link open no pack
    key = await board_service.board_key(board.core)
    what = f"s{claim.supplier}"
    as_file = auth.sign_file(key, what, f"claims-{AURORA_SELLER}", board.core.now())
    query = urlencode({"c": what, "u": AURORA_SELLER, "e": as_file.expires, "s": as_file.tag})
    assert (await client.get(f"/board/claims-pack?{query}")).status == 401
    board.world.clock.advance(minutes=11)
    assert (await client.get(url)).status == 401

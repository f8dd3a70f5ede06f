"""The board's API through aiohttp's test client: who gets in (Telegram's signed initData, a
one-time login link), what they see (their shops' cases only), and decisions made once, on
the version the page showed, with the buyer told once."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from core.cases.lifecycle import CaseStatus, MoneyStatus, Role
from core.cases.model import Actor
from core.cases.reasons import Resolution
from core.money import Money
from core.services import board as board_service
from core.services import cases as case_service
from core.services import people
from tests.board.conftest import (
    AURORA_SELLER,
    LUCIA,
    NOVA_SELLER,
    BoardWorld,
    damaged_lamp,
    earbuds,
    wrong_item,
)
from tests.telegram.conftest import CATALOGS

Client = TestClient[Any, Any]


async def sign_in(client: Client, init_data: str) -> tuple[int, dict[str, Any]]:
    response = await client.post("/board/api/session", json={"init_data": init_data})
    return response.status, await response.json()


async def session(client: Client, board: BoardWorld, user_id: int, language: str = "en") -> dict:
    status, body = await sign_in(client, board.init_data(user_id, language=language))
    assert status == 200, body
    return {"Authorization": f"Bearer {body['token']}"}


async def test_valid_init_data_opens_the_board_in_the_sellers_language(
    board: BoardWorld, client: Client
) -> None:
    number = await damaged_lamp(board.world)
    status, body = await sign_in(client, board.init_data(AURORA_SELLER, "Mei", "zh"))
    assert status == 200, body
    assert body["language"] == "zh" and body["dir"] == "ltr"
    assert [shop["id"] for shop in body["shops"]] == ["aurora"]

    response = await client.get(
        "/board/api/cases", headers={"Authorization": f"Bearer {body['token']}"}
    )
    assert response.status == 200
    listed = await response.json()
    assert [case["number"] for case in listed["cases"]] == [number]
    assert listed["counts"] == {"awaiting_seller": 1}
    assert listed["cases"][0]["mine"] is True


async def test_tampered_init_data_is_refused(board: BoardWorld, client: Client) -> None:
    genuine = board.init_data(AURORA_SELLER)
    tampered = genuine.replace(str(AURORA_SELLER), str(NOVA_SELLER))
    assert tampered != genuine
    status, body = await sign_in(client, tampered)
    assert status == 401 and body["error"] == "init_data_invalid"
    assert "/board" in body["message"]  # says what to do
    status, _ = await sign_in(client, "")
    assert status == 401


async def test_a_page_opened_with_no_credentials_is_told_how_in_the_browsers_language(
    board: BoardWorld, client: Client
) -> None:
    # the page sends {} when it has neither Telegram's data nor a login link: the words it
    # shows come from the catalogue, in the browser's language
    response = await client.post("/board/api/session", json={}, headers={"Accept-Language": "es"})
    body = await response.json()
    expected = CATALOGS.get("es")(
        "The board could not check who you are: open it again from the bot (/board)."
    )
    assert response.status == 401 and body["message"] == expected
    assert expected != "The board could not check who you are: open it again from the bot (/board)."


async def test_init_data_older_than_the_limit_is_refused(board: BoardWorld, client: Client) -> None:
    old = board.world.clock.now() - timedelta(seconds=3601)
    status, body = await sign_in(client, board.init_data(AURORA_SELLER, at=old))
    assert status == 401 and body["error"] == "init_data_too_old"
    recent = board.world.clock.now() - timedelta(seconds=3500)
    status, _ = await sign_in(client, board.init_data(AURORA_SELLER, at=recent))
    assert status == 200


async def test_a_buyer_is_not_let_in(board: BoardWorld, client: Client) -> None:
    status, body = await sign_in(client, board.init_data(LUCIA, "Lucía", "es"))
    assert status == 403 and body["error"] == "not_staff"


async def test_a_session_token_is_needed_and_cannot_be_forged(
    board: BoardWorld, client: Client
) -> None:
    response = await client.get("/board/api/cases")
    assert response.status == 401
    headers = await session(client, board, AURORA_SELLER)
    forged = headers["Authorization"].replace(str(AURORA_SELLER), str(NOVA_SELLER))
    response = await client.get("/board/api/cases", headers={"Authorization": forged})
    assert response.status == 401
    board.world.clock.advance(hours=2)  # the session has ended
    response = await client.get("/board/api/cases", headers=headers)
    assert response.status == 401 and (await response.json())["error"] == "session_expired"


async def test_another_shops_case_is_not_found(board: BoardWorld, client: Client) -> None:
    nova_case = await earbuds(board.world)
    headers = await session(client, board, AURORA_SELLER)
    response = await client.get(f"/board/api/cases/{nova_case}", headers=headers)
    assert response.status == 404
    missing = await client.get("/board/api/cases/R-2611-9999", headers=headers)
    assert missing.status == 404  # the same answer as for a case that does not exist
    assert (await response.json())["message"] == (await missing.json())["message"]
    before = await board.case(nova_case)
    response = await client.post(
        f"/board/api/cases/{nova_case}/act",
        json={"code": "ok", "resolution": "refund", "version": before.version},
        headers=headers,
    )
    assert response.status == 404
    assert (await board.case(nova_case)).resolution is None
    listed = await (await client.get("/board/api/cases", headers=headers)).json()
    assert nova_case not in [case["number"] for case in listed["cases"]]


async def test_a_stale_version_gets_409_the_fresh_case_and_changes_nothing(
    board: BoardWorld, client: Client
) -> None:
    number = await damaged_lamp(board.world)
    headers = await session(client, board, AURORA_SELLER)
    page = await (await client.get(f"/board/api/cases/{number}", headers=headers)).json()
    # meanwhile a second seller's press (in the chat) asks the buyer for more
    await case_service.request_info(
        board.core, Actor.seller(AURORA_SELLER), number, "A photo of the label, please"
    )
    changed = await board.case(number)

    response = await client.post(
        f"/board/api/cases/{number}/act",
        json={"code": "part", "amount": "10.00", "version": page["version"]},
        headers=headers,
    )
    assert response.status == 409
    body = await response.json()
    assert body["message"] == "This case changed meanwhile: here it is as it stands now."
    assert body["case"]["version"] == changed.version
    assert body["case"]["status"] == "awaiting_buyer_info"
    after = await board.case(number)
    assert after.version == changed.version and after.resolution is None
    assert "approve" not in await board.trail(number)


async def test_a_partial_refund_is_applied_once_and_the_buyer_told_once(
    board: BoardWorld, client: Client
) -> None:
    number = await damaged_lamp(board.world)
    await board.notifier.send_due()  # the seller's alert
    told_before = len(board.fake.messages_to(LUCIA))
    headers = await session(client, board, AURORA_SELLER)
    page = await (await client.get(f"/board/api/cases/{number}", headers=headers)).json()
    part = next(a for a in page["actions"] if a["code"] == "part")
    assert part["input"] == "amount" and part["maximum"] == "39.90"
    assert len(page["evidence"]) == 3 and all(e["thumb"] for e in page["evidence"])

    too_much = await client.post(
        f"/board/api/cases/{number}/act",
        json={"code": "part", "amount": "99", "version": page["version"]},
        headers=headers,
    )
    assert too_much.status == 422  # the same check as the button's typed amount
    assert "39.90" in (await too_much.json())["message"]

    request = {"code": "part", "amount": "12,50", "version": page["version"]}
    first = await client.post(f"/board/api/cases/{number}/act", json=request, headers=headers)
    assert first.status == 200, await first.text()
    again = await client.post(f"/board/api/cases/{number}/act", json=request, headers=headers)
    assert again.status == 409  # a double submit: the page's version is gone

    case = await board.case(number)
    assert case.resolution is Resolution.PARTIAL_REFUND and case.decided_by is Role.SELLER
    assert case.refund_amount == Money.parse("12.50", "EUR")
    assert case.money is MoneyStatus.PENDING and case.status is CaseStatus.AWAITING_RESOLUTION
    assert (await board.trail(number)).count("approve") == 1

    await board.notifier.send_due()
    await board.notifier.send_due()
    told = board.fake.messages_to(LUCIA)[told_before:]
    assert len(told) == 1, [m.get("text") for m in told]
    assert number in told[0]["text"] and "12,50" in told[0]["text"]  # in Spanish, her language


async def test_evidence_links_are_signed_and_short_lived(board: BoardWorld, client: Client) -> None:
    number = await damaged_lamp(board.world)
    headers = await session(client, board, AURORA_SELLER)
    page = await (await client.get(f"/board/api/cases/{number}", headers=headers)).json()
    thumb = await client.get(page["evidence"][0]["thumb"])
    assert thumb.status == 200 and thumb.content_type == "image/jpeg"
    full = await client.get(page["evidence"][0]["full"])
    assert full.status == 200 and full.content_type == "image/png"
    other_file = page["evidence"][1]["full"].split("?")[0]
    signature = page["evidence"][0]["full"].split("?")[1]
    assert (await client.get(f"{other_file}?{signature}")).status == 401
    board.world.clock.advance(minutes=11)
    assert (await client.get(page["evidence"][0]["full"])).status == 401


async def test_a_login_link_works_once(board: BoardWorld, client: Client) -> None:
    nonce = await board_service.create_login(board.core, Actor.seller(AURORA_SELLER))
    response = await client.post("/board/api/session", json={"login": nonce})
    assert response.status == 200
    again = await client.post("/board/api/session", json={"login": nonce})
    assert again.status == 401 and (await again.json())["error"] == "login_link_invalid"
    late = await board_service.create_login(board.core, Actor.seller(AURORA_SELLER))
    board.world.clock.advance(minutes=11)
    response = await client.post("/board/api/session", json={"login": late})
    assert response.status == 401


async def test_several_cases_are_marked_received_and_exported_at_once(
    board: BoardWorld, client: Client
) -> None:
    lamp = await damaged_lamp(board.world)
    returned = await wrong_item(board.world)
    headers = await session(client, board, AURORA_SELLER)
    listed = await (await client.get("/board/api/cases", headers=headers)).json()
    rows = {row["number"]: row for row in listed["cases"]}
    assert rows[returned]["bulk"] == ["recv"] and rows[lamp]["bulk"] == []  # nothing to receive
    response = await client.post(
        "/board/api/bulk",
        json={
            "code": "recv",
            "cases": [{"number": n, "version": rows[n]["version"]} for n in (returned, lamp)],
        },
        headers=headers,
    )
    ok, refused = (await response.json())["results"]
    assert ok["ok"] and ok["number"] == returned
    assert not refused["ok"] and lamp in refused["message"]  # one refused, the other done
    assert (await board.case(returned)).status is CaseStatus.AWAITING_RESOLUTION
    assert (await board.case(lamp)).status is CaseStatus.AWAITING_SELLER

    nova = await earbuds(board.world)
    both = [{"number": lamp}, {"number": nova}]
    refused_export = await client.post("/board/api/export", json={"cases": both}, headers=headers)
    assert refused_export.status == 404  # another shop's case is in nobody's pack
    response = await client.post(
        "/board/api/export",
        json={"cases": [{"number": lamp}, {"number": returned}]},
        headers=headers,
    )
    url = (await response.json())["url"]
    # the link is for that person, those cases and that purpose
    assert (await client.get(url.replace(f"u={AURORA_SELLER}", f"u={NOVA_SELLER}"))).status == 401
    fewer = url.replace(f"c={lamp}%2C", "c=")
    assert fewer != url and (await client.get(fewer)).status == 401
    assert (await client.get(url.replace("/export?", "/claims-pack?"))).status == 401
    download = await client.get(url)
    assert download.status == 200 and download.content_type == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(await download.read())).namelist()
    assert len(names) == 2 and any(lamp in name for name in names)
    assert any(returned in name for name in names)


async def test_the_page_and_its_files_are_served(client: Client) -> None:
    redirect = await client.get("/board", allow_redirects=False)
    assert redirect.status == 301 and redirect.headers["Location"] == "/board/"
    page = await client.get("/board/")
    assert page.status == 200 and "telegram-web-app.js" in await page.text()
    script = await client.get("/board/static/board.js")
    assert script.status == 200 and "POLL_SECONDS" in await script.text()


async def test_the_buyers_words_come_with_their_stored_translation(
    board: BoardWorld, client: Client
) -> None:
    from core.persistence.repositories.translations import TranslationRepository, text_hash

    number = await damaged_lamp(board.world)
    words = "La base llegó rota <b>&</b> 💡"
    async with board.core.unit_of_work() as uow:
        await TranslationRepository(uow.session).add(
            text_hash(words),
            "es",
            "zh-Hans",
            "test",
            "底座到货时已损坏 💡",
            board.world.clock.now(),
        )
        await uow.commit()
    headers = await session(client, board, AURORA_SELLER, "zh")
    page = await (await client.get(f"/board/api/cases/{number}", headers=headers)).json()
    assert page["words"] == [{"at": None, "text": words, "translation": "底座到货时已损坏 💡"}]
    headers = await session(client, board, AURORA_SELLER, "en")
    page = await (await client.get(f"/board/api/cases/{number}", headers=headers)).json()
    assert "translation" not in page["words"][0]  # none stored in English


async def test_the_language_chosen_in_the_bot_wins_over_the_apps(
    board: BoardWorld, client: Client
) -> None:
    status, body = await sign_in(client, board.init_data(AURORA_SELLER, "Mei", "ar"))
    assert status == 200 and body["language"] == "ar" and body["dir"] == "rtl"
    await people.choose_language(board.core, AURORA_SELLER, "ru")  # /language in the bot
    status, body = await sign_in(client, board.init_data(AURORA_SELLER, "Mei", "ar"))
    assert status == 200 and body["language"] == "ru" and body["dir"] == "ltr"


async def test_a_rejection_needs_its_reason_and_an_unknown_action_changes_nothing(
    board: BoardWorld, client: Client
) -> None:
    number = await damaged_lamp(board.world)
    headers = await session(client, board, AURORA_SELLER)
    page = await (await client.get(f"/board/api/cases/{number}", headers=headers)).json()
    url = f"/board/api/cases/{number}/act"
    for request in (
        {"code": "no", "text": "  ", "version": page["version"]},  # no reason for the buyer
        {"code": "recv", "version": page["version"]},  # no return is due on this case
        {"code": "fly", "version": page["version"]},
        {"code": "no", "text": "Fine", "version": "1"},  # the version must be a number
    ):
        response = await client.post(url, json=request, headers=headers)
        assert response.status == 422, (request, await response.text())
        assert (await response.json())["message"]
    assert (await board.case(number)).version == page["version"]
    response = await client.post(
        url,
        json={"code": "no", "text": "The photos show no damage", "version": page["version"]},
        headers=headers,
    )
    assert response.status == 200
    assert (await response.json())["case"]["status"] == "rejected"

"""Linking a Telegram user to an order: the signed deep link and the number-plus-check form.

Use cases on a real database (SQLite and PostgreSQL), through core.services.linking.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from core.cases.model import Actor
from core.cases.reasons import Reason
from core.errors import Forbidden, NotFound, RateLimited
from core.services.context import CoreContext
from core.services.link_tokens import TokenError, make_order_token
from core.services.linking import (
    NoMatch,
    buyer_orders,
    find_linked_order,
    link_by_check,
    link_by_token,
    order_link,
)
from core.services.orders import import_orders
from tests.core.factories import (
    LUCIA,
    SAMPLE_JSON,
    STRANGER,
    get_order,
    open_case,
)


async def token_for(ctx: CoreContext, shop: str, number: str) -> str:
    url = order_link(ctx, await get_order(ctx, shop, number))
    assert url.startswith("https://t.me/ReturnsDeskBot?start=")
    return url.split("start=", 1)[1]


async def is_linked(ctx: CoreContext, user_id: int, number: str) -> bool:
    try:
        await find_linked_order(ctx, Actor.buyer(user_id), number)
    except Forbidden:
        return False
    return True


# --- the deep link --------------------------------------------------------------------------


async def test_deep_link_links_the_buyer_once_and_a_second_tap_changes_nothing(
    ctx: CoreContext,
) -> None:
    token = await token_for(ctx, "aurora", "AUR-10021")

    first = await link_by_token(ctx, LUCIA, token)
    again = await link_by_token(ctx, LUCIA, token)

    assert first.order.number == "AUR-10021" and first.newly_linked is True
    assert again.order.number == "AUR-10021" and again.newly_linked is False
    assert [o.number for o in await buyer_orders(ctx, Actor.buyer(LUCIA))] == ["AUR-10021"]


async def test_deep_link_token_fits_telegrams_start_parameter(ctx: CoreContext) -> None:
    for shop, number in (("aurora", "AUR-10021"), ("nova", "NV-5503"), ("aurora", "AUR-10031")):
        token = await token_for(ctx, shop, number)
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", token), token


async def test_token_signed_with_another_shops_secret_is_refused(ctx: CoreContext) -> None:
    nova_secret = ctx.config.shop("nova").link_secret
    forged = make_order_token("aurora", "AUR10021", nova_secret)

    with pytest.raises(TokenError) as caught:
        await link_by_token(ctx, STRANGER, forged)

    assert caught.value.code == "link_token_invalid"
    assert not await is_linked(ctx, STRANGER, "AUR-10021")


async def test_tampered_tokens_are_refused_and_link_nothing(ctx: CoreContext) -> None:
    token = await token_for(ctx, "aurora", "AUR-10021")
    body, tag = token[1:-16], token[-16:]
    other = base64.urlsafe_b64encode(b"aurora:AUR10022").decode().rstrip("=")
    tampered = {
        "other order, genuine tag": f"o{other}{tag}",
        "one character of the tag changed": f"o{body}{tag[:-1]}{'B' if tag[-1] == 'A' else 'A'}",
        "tag cut off": f"o{body}",
        "not the alphabet": "o<script>&amp;",
        "longer than Telegram allows": token + "x" * 64,
        "empty": "",
    }
    for what, bad in tampered.items():
        with pytest.raises(TokenError) as caught:
            await link_by_token(ctx, STRANGER, bad)
        assert caught.value.code == "link_token_invalid", what

    assert not await is_linked(ctx, STRANGER, "AUR-10021")
    assert not await is_linked(ctx, STRANGER, "AUR-10022")
    assert await buyer_orders(ctx, Actor.buyer(STRANGER)) == []


async def test_valid_token_for_an_order_missing_from_the_book_is_refused(ctx: CoreContext) -> None:
    token = make_order_token("aurora", "AUR99999", ctx.config.shop("aurora").link_secret)

    with pytest.raises(TokenError):
        await link_by_token(ctx, STRANGER, token)


# --- number plus check ----------------------------------------------------------------------


async def test_link_by_number_and_check_accepts_what_the_store_knows(ctx: CoreContext) -> None:
    ways = [
        ("AUR-10021", "LUCIA.Fernandez@Example.ES"),  # e-mail, any case
        ("AUR-10021", "5678"),  # last four digits of "+34 612 345 678"
        ("AUR-10021", " 46004 "),  # postal code
        ("#aur 10021", "46004"),  # the number as buyers type it
        ("ＡＵＲ－１００２１", "４６００４"),  # full-width letters and digits
        ("aur10021", "56 78"),  # four digits, spaced as on the phone
    ]
    for user_id, (number, check) in enumerate(ways, start=300001):  # one new buyer each
        result = await link_by_check(ctx, user_id, number, check)

        assert result.order.number == "AUR-10021", (number, check)
        assert result.newly_linked is True, (number, check)
        assert await is_linked(ctx, user_id, "AUR-10021"), (number, check)


async def test_link_by_check_twice_is_idempotent(ctx: CoreContext) -> None:
    await link_by_check(ctx, LUCIA, "AUR-10021", "46004")

    again = await link_by_check(ctx, LUCIA, "AUR-10021", "lucia.fernandez@example.es")

    assert again.newly_linked is False


async def test_wrong_check_and_unknown_number_look_the_same_and_both_count(
    ctx: CoreContext,
) -> None:
    with pytest.raises(NotFound) as wrong_check:
        await link_by_check(ctx, STRANGER, "AUR-10021", "99999")
    with pytest.raises(NotFound) as unknown_number:
        await link_by_check(ctx, STRANGER, "AUR-99999", "46004")

    assert type(wrong_check.value) is type(unknown_number.value) is NoMatch
    assert wrong_check.value.code == unknown_number.value.code == "order_check_failed"
    assert str(wrong_check.value) == str(unknown_number.value)
    # both attempts were counted: 5 allowed an hour
    assert wrong_check.value.params["attempts_left"] == 4
    assert unknown_number.value.params["attempts_left"] == 3
    assert not await is_linked(ctx, STRANGER, "AUR-10021")


async def test_a_check_of_another_order_does_not_link(ctx: CoreContext) -> None:
    # 69003 is Marie's postal code (AUR-10022), not Lucía's
    with pytest.raises(NoMatch):
        await link_by_check(ctx, STRANGER, "AUR-10021", "69003")
    # an e-mail never falls through to the digits checks
    with pytest.raises(NoMatch):
        await link_by_check(ctx, STRANGER, "AUR-10021", "5678@example.es")


async def test_too_many_failed_checks_block_even_the_right_check_for_an_hour(
    ctx: CoreContext, clock
) -> None:
    limit = ctx.config.lifecycle.link_attempts_per_hour
    assert limit == 5
    for attempt in range(limit):
        with pytest.raises(NoMatch):
            await link_by_check(ctx, STRANGER, "AUR-10021", f"0000{attempt}")

    with pytest.raises(RateLimited) as caught:
        await link_by_check(ctx, STRANGER, "AUR-10021", "46004")
    assert caught.value.code == "rate_limited"
    assert not await is_linked(ctx, STRANGER, "AUR-10021")

    clock.advance(minutes=30)
    with pytest.raises(RateLimited):
        await link_by_check(ctx, STRANGER, "AUR-10021", "46004")

    clock.advance(minutes=31)  # the failures are more than an hour old now
    result = await link_by_check(ctx, STRANGER, "AUR-10021", "46004")
    assert result.newly_linked is True


async def test_rate_limit_is_per_user(ctx: CoreContext) -> None:
    for attempt in range(5):
        with pytest.raises(NoMatch):
            await link_by_check(ctx, STRANGER, "AUR-10021", f"1111{attempt}")

    result = await link_by_check(ctx, LUCIA, "AUR-10021", "46004")

    assert result.newly_linked is True


# --- what a buyer sees ----------------------------------------------------------------------


async def test_buyer_sees_only_linked_orders_newest_first(ctx: CoreContext) -> None:
    await link_by_check(ctx, LUCIA, "NV-5501", "191186")  # placed 2026-10-18
    await link_by_check(ctx, LUCIA, "AUR-10021", "46004")  # placed 2026-10-20
    buyer = Actor.buyer(LUCIA)

    orders = await buyer_orders(ctx, buyer)

    assert [o.number for o in orders] == ["AUR-10021", "NV-5501"]
    assert (await find_linked_order(ctx, buyer, "aur 10021")).number == "AUR-10021"
    with pytest.raises(Forbidden) as caught:
        await find_linked_order(ctx, buyer, "AUR-10022")
    assert caught.value.code == "order_not_linked"
    with pytest.raises(Forbidden) as unknown:
        await find_linked_order(ctx, buyer, "AUR-99999")
    assert unknown.value.code == "order_not_linked"
    assert await buyer_orders(ctx, Actor.buyer(STRANGER)) == []


async def test_only_buyers_have_orders(ctx: CoreContext) -> None:
    with pytest.raises(Forbidden):
        await buyer_orders(ctx, Actor.seller(600001))
    with pytest.raises(Forbidden):
        await find_linked_order(ctx, Actor.seller(600001), "AUR-10021")


async def test_order_imported_with_a_telegram_id_already_belongs_to_that_user(
    empty_ctx: CoreContext, tmp_path: Path
) -> None:
    document = json.loads(SAMPLE_JSON.read_text(encoding="utf-8"))
    for order in document["orders"]:
        if order["number"] == "AUR-10021":
            order["buyer"]["telegram_id"] = 424242
    path = tmp_path / "orders-with-telegram.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    await import_orders(empty_ctx, path)
    buyer = Actor.buyer(424242)

    assert [o.number for o in await buyer_orders(empty_ctx, buyer)] == ["AUR-10021"]
    assert (await find_linked_order(empty_ctx, buyer, "AUR-10021")).number == "AUR-10021"
    token = await token_for(empty_ctx, "aurora", "AUR-10021")
    assert (await link_by_token(empty_ctx, 424242, token)).newly_linked is False
    # and they can open a case right away, without linking
    opened = await open_case(
        empty_ctx,
        424242,
        "AUR-10021",
        Reason.DAMAGED,
        link_first=False,
        evidence=(),
        description="cracked",
    )
    assert opened.created is True

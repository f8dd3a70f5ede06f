"""The failed order-check limit holds under concurrency: a slot is reserved in one statement
per account before a check is evaluated (link_attempt_counters), on SQLite and PostgreSQL.

Before, the count was read, then the check evaluated, then the failure written: 40 wrong
checks sent at once by one account were evaluated 19 times against a limit of 5, and a right
check slipped in after the limit.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from core.cases.model import Actor
from core.errors import Forbidden, RateLimited
from core.services import linking
from core.services.context import CoreContext
from core.services.linking import NoMatch, find_linked_order, link_by_check
from tests.core.factories import LUCIA, NOW, STRANGER

TRIES = 40


async def attempts(ctx: CoreContext, user_id: int) -> int:
    """Checks evaluated (the history in link_attempts), failed ones."""
    async with ctx.unit_of_work() as uow:
        return await uow.links.failed_attempts_since(user_id, NOW - timedelta(days=1))


async def linked(ctx: CoreContext, user_id: int, number: str) -> bool:
    try:
        await find_linked_order(ctx, Actor.buyer(user_id), number)
    except Forbidden:
        return False
    return True


async def test_forty_concurrent_wrong_checks_are_evaluated_limit_times_then_all_refused(
    ctx: CoreContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = ctx.config.lifecycle.link_attempts_per_hour
    assert limit == 5
    evaluated = 0
    real_check = linking.check_matches

    def counting_check(*args: Any, **kwargs: Any) -> str | None:
        nonlocal evaluated
        evaluated += 1
        return real_check(*args, **kwargs)

    monkeypatch.setattr(linking, "check_matches", counting_check)

    async def wrong(n: int) -> str:
        try:
            await link_by_check(ctx, STRANGER, "AUR-10021", f"9{n:04d}")
        except NoMatch:
            return "no_match"
        except RateLimited:
            return "rate_limited"
        return "linked"

    outcomes = await asyncio.gather(*(wrong(n) for n in range(TRIES)))

    assert outcomes.count("no_match") == limit
    assert outcomes.count("rate_limited") == TRIES - limit
    assert evaluated == limit
    assert await attempts(ctx, STRANGER) == limit  # the history records what was evaluated

    with pytest.raises(RateLimited):
        await link_by_check(ctx, STRANGER, "AUR-10021", "46004")  # Lucía's real postal code
    assert evaluated == limit
    assert not await linked(ctx, STRANGER, "AUR-10021")


async def test_a_right_check_gives_its_slot_back_and_other_accounts_keep_theirs(
    ctx: CoreContext,
) -> None:
    limit = ctx.config.lifecycle.link_attempts_per_hour
    for n in range(limit - 1):
        with pytest.raises(NoMatch):
            await link_by_check(ctx, STRANGER, "AUR-10021", f"8{n:04d}")

    result = await link_by_check(ctx, STRANGER, "AUR-10021", "46004")
    assert result.newly_linked and result.proof == "postal_code"

    with pytest.raises(NoMatch) as last:  # the match did not use up the last slot
        await link_by_check(ctx, STRANGER, "AUR-10022", "00000")
    assert last.value.params["attempts_left"] == 0
    with pytest.raises(RateLimited):
        await link_by_check(ctx, STRANGER, "AUR-10022", "69003")
    # another account is not slowed down by this one
    assert (await link_by_check(ctx, LUCIA, "AUR-10021", "lucia.fernandez@example.es")).proof == (
        "email"
    )

"""What a process alone on its database remembers of the people who write
(core/services/people.py): a user seen lately and unchanged costs no statement, and only the
most recent are kept."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.services import people
from core.services.context import CoreContext
from tests.conftest import count_postgres_begins


async def test_a_user_seen_lately_costs_no_statement_and_the_oldest_are_forgotten(
    empty_ctx: CoreContext, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(people, "KNOWN_USERS_KEPT", 3)
    ctx = replace(empty_ctx, known_users=OrderedDict())
    for user_id in (1, 2, 3):
        assert await people.remember(ctx, user_id, f"Buyer {user_id}", "es") is None
    await people.choose_language(ctx, 1, "de")  # forgets what it remembered of user 1
    assert await people.remember(ctx, 1, "Buyer 1", "es") == "de"  # read again

    statements.clear()
    for user_id in (3, 2, 1):  # each one written to becomes the most recent
        assert await people.remember(ctx, user_id, f"Buyer {user_id}", "es") == (
            "de" if user_id == 1 else None
        )
    assert statements == []  # all three remembered, unchanged

    assert await people.remember(ctx, 4, "Buyer 4", "pt") is None  # the fourth: 3 goes
    assert list(ctx.known_users or {}) == [2, 1, 4]
    statements.clear()
    assert await people.remember(ctx, 3, "Buyer 3", "es") is None
    assert any("telegram_users" in statement for statement in statements)  # read again
    assert list(ctx.known_users or {}) == [1, 4, 3]


async def test_a_user_whose_name_or_language_changed_is_written_again(
    empty_ctx: CoreContext, statements: list[str]
) -> None:
    ctx = replace(empty_ctx, known_users=OrderedDict())
    await people.remember(ctx, 7, "Ana", "es")
    statements.clear()
    await people.remember(ctx, 7, "Ana María", "pt-br")
    assert any(s.lstrip().upper().startswith("INSERT") for s in statements), statements
    user = await people.chat_user(ctx, 7)
    assert user == people.ChatUser(7, "Ana María", "pt-br")


async def test_on_postgresql_a_new_user_and_an_unblocked_one_are_one_statement_each(
    engine: AsyncEngine, empty_ctx: CoreContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new user's row, and the row of one who had blocked the bot and writes again, are one
    upsert each that commits by itself (no BEGIN and COMMIT round trips)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's statements cost no round trip")
    begins = count_postgres_begins(monkeypatch)
    assert await people.remember(empty_ctx, 31, "Ana", "es") is None
    async with empty_ctx.unit_of_work() as uow:
        assert (known := await uow.users.get(31)) is not None and known.first_name == "Ana"
    assert begins == []
    async with empty_ctx.unit_of_work() as uow:
        await uow.users.set_reachable(31, False, empty_ctx.now())
        await uow.commit()
    begins.clear()
    await people.remember(empty_ctx, 31, "Ana", "es")
    assert begins == []
    async with empty_ctx.unit_of_work() as uow:
        assert (known := await uow.users.get(31)) is not None and known.reachable

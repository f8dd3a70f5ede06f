"""The Telegram users the product talks to: their language, and whether they can be reached."""

from __future__ import annotations

from dataclasses import dataclass

from core.services.context import CoreContext

# People remembered (about 300 bytes each): those who wrote lately, far more than write at
# once. 5,000 held 1.5 MB of the bot's resident memory once that many had written
# (benchmarks/README.md, twelfth round); one forgotten costs a read when they write again.
KNOWN_USERS_KEPT = 1_000


async def remember(
    ctx: CoreContext, user_id: int, first_name: str | None, language_code: str | None
) -> str | None:
    """Note a user who just wrote (they can be reached again); returns the language they
    chose with /language, if any. Writes only when something changed; reads nothing when
    this process alone uses the database and saw them lately unchanged."""
    memo = ctx.known_users
    if memo is not None:
        seen = memo.get(user_id)
        if seen is not None and seen[0] == first_name and seen[1] == language_code:
            memo.move_to_end(user_id)
            return seen[2]
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        known = await uow.users.get(user_id)
        if (
            known is None
            or known.language_code != language_code
            or known.first_name != first_name
            or not known.reachable
        ):
            await uow.one_statement()  # the upsert is all it writes: reachable again too
            await uow.users.touch(user_id, first_name, language_code, now)
            await uow.commit()
    chosen = known.chosen_language if known is not None else None
    if memo is not None:
        memo[user_id] = (first_name, language_code, chosen)  # reachable: it just wrote
        while len(memo) > KNOWN_USERS_KEPT:
            memo.popitem(last=False)
    return chosen


def forget(ctx: CoreContext, user_id: int) -> None:
    """What this process remembered of a user is stale (they blocked the bot, say)."""
    if ctx.known_users is not None:
        ctx.known_users.pop(user_id, None)


async def choose_language(ctx: CoreContext, user_id: int, language: str) -> None:
    async with ctx.unit_of_work() as uow:
        await uow.users.set_language(user_id, language, ctx.now())
        await uow.commit()
    forget(ctx, user_id)


async def mark_unreachable(ctx: CoreContext, user_id: int) -> None:
    """The user blocked the bot: senders stop counting on them until they write again."""
    async with ctx.unit_of_work() as uow:
        await uow.users.set_reachable(user_id, False, ctx.now())
        await uow.commit()
    forget(ctx, user_id)


async def language_of(ctx: CoreContext, user_id: int) -> str | None:
    """The language a user reads: the one they chose, else their Telegram app's."""
    user = await chat_user(ctx, user_id)
    return user.language if user is not None else None


@dataclass(frozen=True, slots=True)
class ChatUser:
    """Who is talking to the bot: their Telegram first name and the language tag they read
    (the one they chose, else their Telegram app's; None when Telegram did not say)."""

    user_id: int
    first_name: str | None
    language: str | None


async def chat_user(ctx: CoreContext, user_id: int) -> ChatUser | None:
    """The Telegram user behind a chat (a case's buyer_id), or None if they never wrote."""
    async with ctx.unit_of_work() as uow:
        user = await uow.users.get(user_id)
    if user is None:
        return None
    return ChatUser(user_id, user.first_name, user.language)

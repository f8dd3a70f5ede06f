"""Forgetting what is no longer needed: processed updates and abandoned conversations."""

from __future__ import annotations

from datetime import timedelta

from core.services.context import CoreContext

# Telegram redelivers an unconfirmed update for up to 24 hours: remember processed ones twice
# as long so a late copy is still recognised.
KEEP_PROCESSED_UPDATES = timedelta(hours=48)


async def purge(ctx: CoreContext) -> dict[str, int]:
    now = ctx.now()
    idle = timedelta(days=ctx.config.lifecycle.conversation_idle_days)
    async with ctx.unit_of_work() as uow:
        updates = await uow.inbox.purge_done(now - KEEP_PROCESSED_UPDATES)
        conversations = await uow.conversations.purge_idle(now - idle)
        await uow.commit()
    return {"updates_forgotten": updates, "conversations_forgotten": conversations}


async def recover_alone(ctx: CoreContext) -> dict[str, int]:
    """At the start of the only process on this database (the embedded SQLite one): whatever
    a dead predecessor claimed (updates in progress, messages being sent, the sending lease)
    is free again at once instead of when its claims expire."""
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        updates = await uow.inbox.release()
        messages = await uow.outbox.release_claims(now)
        leases = await uow.leases.release_all()
        await uow.commit()
    return {"updates": updates, "messages": messages, "leases": leases}

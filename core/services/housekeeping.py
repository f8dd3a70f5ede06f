"""Forgetting what is no longer needed: processed updates and abandoned conversations (every
timer pass), and once a day the retention purge and due erasures (core.services.privacy)."""

from __future__ import annotations

from datetime import timedelta

from core.persistence.sqlite_driver import long_statements
from core.services import privacy
from core.services.context import CoreContext

# Telegram redelivers an unconfirmed update for up to 24 hours: remember processed ones twice
# as long so a late copy is still recognised (``[retention] done_updates_days`` if longer).
KEEP_PROCESSED_UPDATES = privacy.MIN_DONE_UPDATES


@long_statements
async def purge(ctx: CoreContext) -> dict[str, int]:
    """Run by the timers (the background lease holder) every pass: what is cheap to forget at
    once, and the nightly privacy purge when a new UTC day has begun."""
    now = ctx.now()
    idle = timedelta(days=ctx.config.lifecycle.conversation_idle_days)
    keep_updates = max(
        timedelta(days=ctx.config.retention.done_updates_days), KEEP_PROCESSED_UPDATES
    )
    async with ctx.unit_of_work() as uow:
        updates = await uow.inbox.purge_done(now - keep_updates)
        conversations = await uow.conversations.purge_idle(now - idle)
        await uow.commit()
    done = {"updates_forgotten": updates, "conversations_forgotten": conversations}
    nightly = await privacy.nightly_purge(ctx)
    done.update({f"privacy_{kind}": count for kind, count in nightly.items()})
    # the weekly figures to each shop's sellers, on the configured day and hour (once a week)
    from core.services.stats import queue_digests

    done["digests_queued"] = await queue_digests(ctx)
    return done


@long_statements
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

"""One process at a time sends the notifications and runs the timers: a lease in the database,
renewed every few seconds; when its holder dies another process takes over once it expires."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from core.services.context import CoreContext

log = logging.getLogger("returns_desk.leader")

BACKGROUND = "background"  # the lease's name: sending and timers


class Lease:
    def __init__(
        self, core: CoreContext, owner: str, *, name: str = BACKGROUND, ttl: float = 30.0
    ) -> None:
        self.core = core
        self.owner = owner
        self.name = name
        self.ttl = ttl
        self.held = False

    def __call__(self) -> bool:
        return self.held

    async def acquire(self) -> bool:
        now = self.core.now()
        try:
            async with self.core.unit_of_work() as uow:
                held = await uow.leases.acquire(
                    self.name, self.owner, now=now, until=now + timedelta(seconds=self.ttl)
                )
                await uow.commit()
        except Exception:  # cannot tell: stop acting, another process may take over
            log.exception("could not renew the %s lease", self.name)
            held = False
        if held != self.held:
            log.info("%s the %s lease", "took" if held else "lost", self.name)
            self.held = held
        return held

    async def keep(self, stop: asyncio.Event) -> None:
        """Hold (or wait for) the lease until ``stop``, then give it up."""
        while not stop.is_set():
            await self.acquire()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.ttl / 3)
        if self.held:
            self.held = False
            with contextlib.suppress(Exception):
                async with self.core.unit_of_work() as uow:
                    await uow.leases.release(self.name, self.owner)
                    await uow.commit()

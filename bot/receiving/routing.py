"""The conversations' router: aiogram's, passing an event on more cheaply.

aiogram's ``Router.propagate_event`` wraps every router an update passes through in a chain of
outer middlewares, built again for every update (a closure, ``functools.wraps`` and a partial
per router), even when the router has none. An update passes about 14 of our routers before
the one that answers it, and none of them has outer middlewares (the dispatcher's are on its
``update`` observer, which stays aiogram's). This router goes straight to aiogram's own
``_propagate_event`` when the event type has no outer middleware, and through aiogram's path
when it has one: the same filters, handlers and order either way.
"""

from __future__ import annotations

from typing import Any

import aiogram
from aiogram.types import TelegramObject


class Router(aiogram.Router):
    async def propagate_event(self, update_type: str, event: TelegramObject, **kwargs: Any) -> Any:
        observer = self.observers.get(update_type)
        if observer is not None and len(observer.outer_middleware):
            return await super().propagate_event(update_type, event, **kwargs)
        kwargs.update(event_router=self)
        return await self._propagate_event(
            observer=observer, update_type=update_type, event=event, **kwargs
        )

"""The conversations' routers and dispatcher: aiogram's, passing an event on more cheaply.

aiogram passes an update's data (about thirty entries: the bot, the user, the state, the
core, the translator…) down the routers as keyword arguments: a new copy of the dict for
every router it passes, every handler whose filters it checks and every filter, plus a
``functools.partial`` per filter; and it wraps every router in a chain of outer middlewares
built again for every update, even when the router has none. An update passes about 14 of
our routers and checks about 50 handlers' filters before the one that answers it: that was
the largest part of aiogram's share of the bot's CPU (benchmarks/README.md, ninth round).

Here the data is one dict passed down by reference, copied only where aiogram's copy could
be told apart: when a filter adds to it (the copy goes to that router's handlers and
sub-routers only, or to that handler only), and for the handler that answers (its middlewares
and it may add to it). Filters are called with only the arguments they name, as aiogram's
``CallableObject`` does; a plain (not ``async``) filter is called directly (see
:func:`bot.conversations.filters.check_filters_inline`). A router whose event type has an
outer middleware goes aiogram's way. The same filters, handlers, order, ``SkipHandler`` and
data either way; tests/telegram/test_routing.py compares the two.
"""

from __future__ import annotations

from typing import Any

import aiogram
from aiogram.dispatcher.event.bases import REJECTED, UNHANDLED, SkipHandler
from aiogram.dispatcher.event.handler import FilterObject, HandlerObject
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.types import TelegramObject

PLAIN = "returns_desk_plain"  # a FilterObject's plain callable, when it has one
_NONE = object()


class PassingOn(aiogram.Router):
    async def propagate_event(self, update_type: str, event: TelegramObject, **kwargs: Any) -> Any:
        # aiogram's caller made ``kwargs`` for this call: from here down, no more copies
        return await self._pass_on(update_type, event, kwargs)

    async def _pass_on(self, update_type: str, event: TelegramObject, data: dict[str, Any]) -> Any:
        observer = self.observers.get(update_type)
        if observer is not None and len(observer.outer_middleware):
            return await aiogram.Router.propagate_event(self, update_type, event, **data)
        data["event_router"] = self
        response = UNHANDLED
        if observer is not None:
            passed, data = await _check(observer._handler, event, data)
            if not passed:
                return UNHANDLED
            response = await _trigger(observer, event, data)
            if response is REJECTED:  # pragma: no cover - as aiogram
                return UNHANDLED
            if response is not UNHANDLED:
                return response
        for router in self.sub_routers:
            if isinstance(router, PassingOn):
                response = await router._pass_on(update_type, event, data)
            else:
                response = await router.propagate_event(update_type, event, **data)
            if response is not UNHANDLED:
                break
        return response


class Router(PassingOn):
    """A conversation's router (aiogram's ``Router``, passing events on as above)."""


class Dispatcher(PassingOn, aiogram.Dispatcher):
    """aiogram's ``Dispatcher``, passing events on to its routers as above."""


async def _check(
    handler: HandlerObject, event: TelegramObject, data: dict[str, Any]
) -> tuple[bool, dict[str, Any]]:
    """As ``HandlerObject.check``: whether every filter passes, and the data the handler
    gets: ``data`` itself, or a copy with what the filters added."""
    filters = handler.filters
    if not filters:
        return True, data
    checked = data
    for event_filter in filters:
        result = await _call(event_filter, event, checked)
        if not result:
            return False, data
        if isinstance(result, dict):
            if checked is data:
                checked = dict(data)
            checked.update(result)
    return True, checked


async def _call(event_filter: FilterObject, event: TelegramObject, data: dict[str, Any]) -> Any:
    if event_filter.varkw:
        arguments = data
    else:
        arguments = {name: data[name] for name in event_filter.params if name in data}
    plain = getattr(event_filter, PLAIN, None)
    if plain is not None:
        return plain(event, **arguments)
    if event_filter.awaitable:
        return await event_filter.callback(event, **arguments)
    return await event_filter.call(event, **data)  # aiogram's way: in a worker thread


async def _trigger(
    observer: TelegramEventObserver, event: TelegramObject, data: dict[str, Any]
) -> Any:
    """As ``TelegramEventObserver.trigger``: the first handler whose filters pass answers.
    ``local`` is aiogram's own copy of the data for the handlers, made at the first match."""
    local = data
    before = data.get("handler", _NONE)  # the dispatcher's own update handler
    try:
        for handler in observer.handlers:
            local["handler"] = handler
            passed, checked = await _check(handler, event, local)
            if not passed:
                continue
            local = dict(local) if checked is data else checked
            try:
                wrapped = observer.outer_middleware.wrap_middlewares(
                    observer._resolve_middlewares(), handler.call
                )
                return await wrapped(event, local)
            except SkipHandler:
                continue
        return UNHANDLED
    finally:  # aiogram's copy kept the handlers checked here from the routers that come next
        if before is _NONE:
            data.pop("handler", None)
        else:
            data["handler"] = before

"""Running the bot: updates come in by long polling (the default) or a webhook, go through the
inbox (stored first, then processed in order per chat), and the background work goes with
them: the outbox sender and the case timers, done by one process at a time (a lease).

Stopping (SIGTERM, SIGINT) is graceful: no new updates are taken, the handlers in flight
finish (up to ``grace`` seconds, then what was cut short runs again at the next start), the
outbox is flushed, and the lease is handed over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.types import TelegramObject, User
from aiohttp import web
from sqlalchemy import text

from bot.app import open_app
from bot.board import api as board_api
from bot.board import links as board_links
from bot.config import Settings, SettingsError
from bot.delivery.evidence_fetch import run_evidence_fetch
from bot.delivery.notifier import Notifier
from bot.event_loop import give_back_memory
from bot.factory import create_bot, create_dispatcher, register_commands
from bot.receiving import polling, replay, webhook
from bot.receiving.inbox import InboxWorker, process_name
from bot.receiving.leader import Lease
from bot.receiving.storage import ChatLocks, DatabaseStorage
from bot.views.i18n import SUPPORTED, Catalogs
from core.services import cases as case_service
from core.services import disputes as dispute_service
from core.services import housekeeping
from core.services.context import CoreContext
from core.translation.service import service_of

log = logging.getLogger("returns_desk")

TIMERS_EVERY = 60.0  # seconds between two looks at the case deadlines
# seconds the handlers in flight get to finish when stopping: with the outbox flush and the
# lease after it, a stop stays well inside systemd's TimeoutStopSec=45 (deploy/systemd)
GRACE = 20.0


async def run_timers(
    core: CoreContext,
    stop: asyncio.Event,
    every: float = TIMERS_EVERY,
    may_run: Callable[[], bool] = lambda: True,
) -> None:
    """Deadlines that passed move their cases on (expire, back to the shop, to an agent), and
    what is no longer needed is forgotten. Only the lease holder runs them."""
    while not stop.is_set():
        if may_run():
            try:
                done = await case_service.run_timers(core)
                done["reminders"] = await case_service.send_reminders(core)
                done.update(await dispute_service.run_timers(core))  # platform disputes
                done.update(await housekeeping.purge(core))
                if any(done.values()):
                    log.info("timers: %s", done)
            except Exception:  # the next round tries again
                log.exception("the timers pass failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every if may_run() else 5.0)


async def conversation_storage(
    settings: Settings, core: CoreContext
) -> tuple[BaseStorage, BaseEventIsolation]:
    """Conversation state: in Redis when REDIS_URL is set (shared by every process, state
    expiring after ``conversation_idle_days``), else the database's table. The per-chat locks
    are this process's: the inbox already runs one update of a chat at a time across every
    process (bot/receiving/redis_storage.py)."""
    if not settings.redis_url:
        # SQLite is one process's database: that process may keep conversations in memory
        storage = DatabaseStorage(core.unit_of_work, core.clock, cache=settings.is_sqlite)
        return storage, ChatLocks()
    # imported here: the Redis client is about 7 MB resident, for the processes that use it
    from bot.receiving.redis_storage import RedisConversations

    ttl = timedelta(days=core.config.lifecycle.conversation_idle_days)
    redis = RedisConversations.connect(settings.redis_url, ttl=ttl)
    try:
        await redis.redis.ping()
    except Exception as exc:
        await redis.close()
        raise SettingsError(f"REDIS_URL: cannot connect ({exc})") from exc
    return redis, ChatLocks()


async def database_answers(core: CoreContext) -> None:
    """At start: the database answers, else a clear error naming DATABASE_URL (and a
    non-zero exit, so systemd restarts the bot) instead of "running" and errors each second."""
    try:
        async with asyncio.timeout(15.0):
            async with core.unit_of_work() as uow:
                await uow.session.execute(text("SELECT 1"))
    except Exception as exc:
        raise SettingsError(
            f"DATABASE_URL: the database does not answer ({_reason(exc)})"
        ) from None


async def telegram_answers(bot: Bot, api_url: str | None) -> User:
    """At start: Telegram (or the Bot API server) answers and knows the token."""
    where = api_url or "https://api.telegram.org"
    try:
        async with asyncio.timeout(30.0):
            return await bot.get_me()
    except TelegramUnauthorizedError:
        raise SettingsError("BOT_TOKEN: Telegram does not know this token") from None
    except (TelegramAPIError, OSError, TimeoutError) as exc:
        raise SettingsError(
            f"BOT_API_URL: Telegram does not answer at {where} ({_reason(exc)})"
        ) from None


def _reason(exc: BaseException) -> str:
    """One line: the innermost cause's type and first line, not a chain of tracebacks."""
    while exc.__cause__ is not None or (
        exc.__context__ is not None and not exc.__suppress_context__
    ):
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _report_handled(
    dispatcher: Dispatcher,
    handled: Callable[[int], None],
    entered: Callable[[int], None] | None,
) -> None:
    async def report(
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        update_id = getattr(event, "update_id", -1)
        if entered is not None:
            entered(update_id)
        try:
            return await handler(event, data)
        finally:
            handled(update_id)

    dispatcher.update.outer_middleware(report)


async def run_bot(
    settings: Settings,
    *,
    use_webhook: bool = False,
    handle_signals: bool = True,
    started: asyncio.Event | None = None,
    handled: Callable[[int], None] | None = None,
    entered: Callable[[int], None] | None = None,
    grace: float = GRACE,
) -> None:
    """Run until a signal (or ``stop`` of the tasks): ``started`` is set once updates are
    being taken, ``entered(update_id)`` is called when the handlers take an update and
    ``handled(update_id)`` when they are done with it (the demo shows the answers then, and
    waits as long as one is being handled)."""
    token = settings.require_token()
    hook = settings.require_webhook() if use_webhook else None
    stop = asyncio.Event()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    async with open_app(settings) as app:
        core = app.core
        catalogs = Catalogs()
        await database_answers(core)
        storage, isolation = await conversation_storage(settings, core)
        bot = replay.install(create_bot(token, api_url=settings.bot_api_url), core)
        probes: dict[str, Any] = {}
        if settings.redis_url:
            probes["Redis (REDIS_URL)"] = storage.redis.ping  # type: ignore[attr-defined]
        probes["Telegram (BOT_API_URL)"] = bot.get_me
        dispatcher = create_dispatcher(
            core,
            catalogs,
            storage=storage,
            isolation=isolation,
            agents_chat_id=settings.agents_chat_id,
            inbox=True,
        )
        if handled is not None:
            _report_handled(dispatcher, handled, entered)
        owner = process_name()
        worker = InboxWorker(core, dispatcher, bot, owner=owner, probes=probes)
        lease = Lease(core, owner)
        notifier = Notifier(bot, core, catalogs, agents_chat_id=settings.agents_chat_id)
        work_stop, background_stop, lease_stop = asyncio.Event(), asyncio.Event(), asyncio.Event()
        tasks: list[asyncio.Task[Any]] = []
        site_runner: web.AppRunner | None = None
        try:
            if settings.is_sqlite:  # one process per SQLite database: its claims are free
                freed = await housekeeping.recover_alone(core)
                if any(freed.values()):
                    log.warning("left unfinished by the last run, taken up again: %s", freed)
            me = await telegram_answers(bot, settings.bot_api_url)
            await _board_links(settings, core, bot, catalogs, me.username)
            await register_commands(bot, catalogs)
            allowed = dispatcher.resolve_used_update_types()
            await dispatcher.emit_startup(bot=bot, dispatcher=dispatcher)
            # a configured translator's language detector loads now, not at the first alert
            warm = asyncio.create_task(service_of(core).warm_up(SUPPORTED), name="warm-up")
            warm.add_done_callback(_log_failure)
            tasks = [
                asyncio.create_task(lease.keep(lease_stop), name="lease"),
                asyncio.create_task(notifier.run(background_stop, lease), name="notifier"),
                asyncio.create_task(
                    run_timers(core, background_stop, may_run=lease), name="timers"
                ),
                asyncio.create_task(  # evidence not stored when it came; stops with the timers
                    run_evidence_fetch(core, bot, background_stop, may_run=lease), name="timers"
                ),
                asyncio.create_task(worker.run(work_stop, grace=grace), name="inbox"),
                asyncio.create_task(give_back_memory(background_stop), name="timers"),
            ]
            if hook is None:
                await bot.delete_webhook(drop_pending_updates=False)
                intake = asyncio.create_task(
                    polling.poll(
                        bot,
                        core,
                        stop,
                        allowed_updates=allowed,
                        recorded=worker.wake,
                    ),
                    name="polling",
                )
                log.info(
                    "Returns Desk is running as @%s (long polling %s)",
                    me.username,
                    settings.bot_api_url,
                )
            else:
                url, path, host, port = hook
                secret = await webhook.shared_secret(core, settings.webhook_secret)
                app_web = webhook.make_app(core, path=path, secret=secret, recorded=worker.wake)
                if settings.webapp_url:  # the seller's board, at /board/ on the same server
                    board_api.mount(app_web, board_app(settings, core, catalogs))
                # bounded: header and body time, connections, body size (see webhook.py)
                site_runner = await webhook.start_server(app_web, host, port)
                await bot.set_webhook(
                    url, secret_token=secret, allowed_updates=allowed, drop_pending_updates=False
                )
                intake = asyncio.create_task(stop.wait(), name="webhook")
                log.info(
                    "Returns Desk is running as @%s (webhook %s, listening on %s:%s)",
                    me.username,
                    url,
                    host,
                    port,
                )
            if started is not None:
                started.set()
            await _until_first(intake, *tasks)
        finally:
            stop.set()
            # 1. no new updates
            if site_runner is not None:
                await site_runner.cleanup()
            # 2. what is in flight finishes; 3. the outbox is flushed; 4. the lease goes;
            # all of it within one budget (grace + 10 s), under systemd's TimeoutStopSec
            deadline = asyncio.get_running_loop().time() + grace + 10
            for event, names in (
                (work_stop, {"inbox"}),
                (background_stop, {"notifier", "timers"}),
                (lease_stop, {"lease"}),
            ):
                event.set()
                group = [t for t in tasks if t.get_name() in names]
                if group:
                    left = max(deadline - asyncio.get_running_loop().time(), 1.0)
                    _, late = await asyncio.wait(group, timeout=left)
                    for task in late:
                        task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await dispatcher.emit_shutdown(bot=bot, dispatcher=dispatcher)
            await dispatcher.storage.close()
            await dispatcher.fsm.events_isolation.close()
            await bot.session.close()
            if handle_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    asyncio.get_running_loop().remove_signal_handler(sig)
            log.info("Returns Desk stopped")


def board_app(settings: Settings, core: CoreContext, catalogs: Catalogs) -> web.Application:
    """The seller's board (bot.board), for the webhook server or ``returns-desk web``."""
    return board_api.make_board_app(
        core,
        catalogs,
        bot_token=settings.require_token(),
        max_age=settings.board_init_max_age,
    )


async def _board_links(
    settings: Settings, core: CoreContext, bot: Bot, catalogs: Catalogs, username: str | None
) -> None:
    """With WEBAPP_URL set: the board's links under staff alerts and cards, /board, and the
    menu button in each seller's and agent's private chat."""
    if not settings.webapp_url:
        board_links.configure(None)
        return
    board_links.configure(
        board_links.BoardLinks(
            settings.webapp_url,
            username or core.config.deployment.bot_username,
            settings.webapp_short_name,
        )
    )
    try:
        await board_links.set_menu_buttons(bot, core, catalogs)
    except Exception:  # the buttons come again with /board; the bot runs on
        log.exception("could not set the board's menu buttons")


async def _until_first(*tasks: asyncio.Task[Any]) -> None:
    """Wait until one task ends (the intake on a stop); a task that crashed is raised."""
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def run_polling(settings: Settings, **options: Any) -> None:
    """Long polling (the demo runs the bot this way)."""
    await run_bot(settings, use_webhook=False, **options)


__all__ = ["conversation_storage", "run_bot", "run_polling", "run_timers"]


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("the language detector could not be loaded: %s", task.exception())

"""The ``returns-desk`` command: composes the product, does nothing else."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from bot import event_loop
from bot.app import (
    App,
    NoDatabase,
    database_exists,
    open_app,
    sample_values,
)
from bot.config import (
    Settings,
    SettingsError,
    agents_group_warning,
    database_line,
    env_file_typos,
    load_settings,
    mask_url,
    plain_problem,
    setting_warnings,
)
from core.errors import CoreError
from core.orders.formats.detect import FORMATS, detect_format
from core.orders.formats.errors import ImportFileError
from core.policy.config import SAMPLE_CONFIG, Config, ConfigError, load_config

T = TypeVar("T")


class _Stop(Exception):
    """A command stops with this line on stderr and this exit code."""

    def __init__(self, line: str, code: int) -> None:
        super().__init__(line)
        self.line, self.code = line, code


def _fail(line: str, code: int = 2) -> NoReturn:
    click.echo(line, err=True)
    sys.exit(code)


def _warn(line: str) -> None:
    click.echo(f"warning: {line}", err=True)


def _error_line(exc: Exception) -> str:
    """``error: …`` for an expected failure; a configuration's type mistake in plain words
    (core says what pydantic says: "Input should be a valid tuple")."""
    if isinstance(exc, ConfigError) and isinstance(exc.__cause__, ValidationError):
        error = exc.__cause__.errors()[0]
        key = ".".join(str(part) for part in error["loc"] if part != "[key]")
        return f"error: {exc.file}: {key or '(top level)'}: {plain_problem(error)}"
    return f"error: {exc}"


def _load_config(settings: Settings) -> Config:
    path = settings.config_file
    if path is not None and not path.exists():
        where = "" if path.is_absolute() else f" (looked in {Path.cwd()})"
        raise SettingsError(f"CONFIG_FILE: {path} does not exist{where}")
    try:
        return load_config(path)
    except OSError as exc:  # e.g. not readable
        raise SettingsError(f"CONFIG_FILE: {path} cannot be read ({exc.strerror})") from exc


def _setup() -> tuple[Settings, Config]:
    """The settings and the configuration, or one line naming what is wrong and exit 2.
    Keys of ``.env`` that look like a misspelt setting are warned about first."""
    for typo in env_file_typos():
        _warn(typo)
    try:
        settings = load_settings()
        return settings, _load_config(settings)
    except (SettingsError, ConfigError) as exc:
        _fail(_error_line(exc))


def _announce(settings: Settings, *, existing: bool = False) -> None:
    """Which database and data directory this command uses (stderr, password masked). With
    ``existing`` (commands that only read or remove), no database yet stops here, exit 1."""
    if existing and not database_exists(settings):
        _fail(str(NoDatabase(settings)), 1)
    click.echo(database_line(settings), err=True)


async def _ready(app: App) -> None:
    """For commands that read: the database has the schema of this version."""
    from core.persistence.migrate import current_revision, head_revision

    revision, head = await current_revision(app.engine), head_revision()
    if revision is None:
        raise _Stop("The database has no tables yet: run `returns-desk db upgrade`.", 1)
    if revision != head:
        raise _Stop(
            f"error: the database is at revision {revision} and this version of Returns Desk "
            f"needs {head}: run `returns-desk db upgrade`.",
            2,
        )


def _migration_command_error() -> type[Exception] | tuple[()]:
    """Alembic's error type, when Alembic was imported (it is only when a migration runs:
    core.persistence.migrate); else nothing, since none can have been raised."""
    module = sys.modules.get("alembic.util.exc")
    return module.CommandError if module is not None else ()


def _run(coro_factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine and turn every expected failure into one clear line and exit code 2
    (1 when a command that only reads finds no database)."""
    try:
        return event_loop.run(coro_factory())  # type: ignore[arg-type]
    except _Stop as exc:
        _fail(exc.line, exc.code)
    except NoDatabase as exc:
        _fail(str(exc), 1)
    except (ConfigError, SettingsError, ImportFileError, CoreError) as exc:
        _fail(_error_line(exc))
    except _migration_command_error() as exc:  # e.g. db downgrade <unknown revision>
        click.echo(f"error: migrations: {exc}", err=True)
        sys.exit(2)
    except SQLAlchemyError as exc:  # e.g. DATA_DIR holds a file that is not a database
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        click.echo(f"error: database (DATABASE_URL / DATA_DIR): {detail}", err=True)
        sys.exit(2)
    except ConnectionError as exc:  # PostgreSQL not reachable
        click.echo(f"error: cannot connect to the database (DATABASE_URL): {exc}", err=True)
        sys.exit(2)
    except OSError as exc:  # e.g. DATA_DIR cannot be created
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@click.group()
@click.version_option(package_name="returns-desk")
def cli() -> None:
    """Returns Desk: returns, refunds and disputes for cross-border shops, on Telegram."""


@cli.command("run")
@click.option(
    "--webhook",
    "use_webhook",
    is_flag=True,
    help="Receive updates on WEBHOOK_URL (listening on WEBHOOK_LISTEN) instead of long "
    "polling; several processes may share the load behind a load balancer.",
)
@click.option(
    "--sample-config",
    "sample_config",
    is_flag=True,
    help="Run even on the bundled sample's published link secrets and bot name (to try the "
    "bot; anyone can forge the links they make).",
)
@click.option(
    "--stop-grace",
    "stop_grace",
    type=click.FloatRange(1, 30),
    default=20.0,
    show_default=True,
    help="Seconds the updates in progress get to finish on SIGTERM; what is not finished by "
    "then is given back and resumes at the next start (keep it below systemd's "
    "TimeoutStopSec minus 15).",
)
def run_command(use_webhook: bool, sample_config: bool, stop_grace: float) -> None:
    """Run the bot: long polling against Telegram (or the Bot API server in BOT_API_URL), or
    a webhook server with --webhook. SIGTERM stops it gracefully."""
    from bot.receiving.runner import run_bot

    settings, config = _setup()  # a bad setting or configuration stops here, in one line
    try:
        settings.require_token()
        if use_webhook:
            settings.require_webhook()
    except SettingsError as exc:
        _fail(_error_line(exc))
    shops, name = sample_values(config)
    if (shops or name) and not sample_config:
        _fail(_sample_refusal(settings, shops, name))
    if shops or name:
        _warn("running on the sample's published link secrets and bot name (--sample-config)")
    for warning in setting_warnings(settings):
        _warn(warning)
    if agents_warning := agents_group_warning(settings, config):
        _warn(agents_warning)
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"error: DATA_DIR: cannot create {settings.data_dir} ({exc.strerror})")
    _announce(settings)
    logging.getLogger().setLevel(settings.logging_level())
    # Failures while running are not "expected": they keep their traceback in the log.
    try:
        event_loop.run(run_bot(settings, use_webhook=use_webhook, grace=stop_grace), serving=True)
    except KeyboardInterrupt:
        pass
    except SettingsError as exc:  # e.g. Redis, the database or Telegram not answering
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def _sample_refusal(settings: Settings, shops: list[str], name: str | None) -> str:
    """Two lines: what of the sample is in the configuration, and how to make one."""
    kept, harm = [], []
    if shops:
        kept.append(f"link_secret (shop{'s' if len(shops) > 1 else ''} {', '.join(shops)})")
        harm.append("anyone can forge links to your orders")
    if name:
        kept.append(f'bot_username "{name}"')
        harm.append("links open someone else's bot")
    where = (
        f"CONFIG_FILE={settings.config_file}"
        if settings.config_file
        else "the bundled sample configuration (CONFIG_FILE is not set)"
    )
    try:
        sample = os.path.relpath(SAMPLE_CONFIG)
    except ValueError:  # another drive
        sample = str(SAMPLE_CONFIG)
    if sample.startswith(".."):
        sample = str(SAMPLE_CONFIG)
    return (
        f"error: {where} has the sample's published {' and '.join(kept)}: "
        f"{' and '.join(harm)}.\n"
        f"Make your own: cp {sample} shops.toml, change link_secret and bot_username in it, "
        "set CONFIG_FILE=shops.toml (in .env); or try the sample with: run --sample-config"
    )


@cli.command("web")
@click.option(
    "--listen",
    default=None,
    metavar="HOST:PORT",
    help="Where to listen (default: WEBHOOK_LISTEN, 127.0.0.1:8080); nginx forwards "
    "WEBAPP_URL's /board/ here.",
)
def web_command(listen: str | None) -> None:
    """Serve the seller's board (a Telegram Mini App at WEBAPP_URL) beside a bot that uses
    long polling; `run --webhook` serves it on the webhook server already."""
    from bot.board.server import serve

    settings, _ = _setup()
    try:
        settings.require_token()  # Telegram's initData is signed with it
    except SettingsError as exc:
        _fail(_error_line(exc))
    host, _, port = (listen or settings.webhook_listen).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        _fail("error: --listen must be host:port, such as 127.0.0.1:8081")
    for warning in setting_warnings(settings):
        _warn(warning)
    if not settings.webapp_url:
        _warn("WEBAPP_URL is not set: the board is served, but no button in Telegram opens it")
    _announce(settings)
    logging.getLogger().setLevel(settings.logging_level())
    try:
        event_loop.run(serve(settings, host.strip("[]"), int(port)), serving=True)
    except KeyboardInterrupt:
        pass
    except (SettingsError, OSError) as exc:  # the database does not answer, the port is taken
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@cli.command("demo")
@click.option(
    "--script",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Replay the commands in FILE and print the transcript instead of asking.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's database and evidence here (default: a temporary directory).",
)
def demo_command(script: Path | None, data_dir: Path | None) -> None:
    """Try the bot with no token and no network: a fake Telegram on this machine, the sample
    shops and orders, and you chatting in the terminal as a buyer, a seller or an agent."""
    from bot.demo import run_demo

    logging.getLogger().setLevel(logging.ERROR)
    lines = script.read_text(encoding="utf-8").splitlines() if script is not None else None
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rd-demo-")))
        data_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(KeyboardInterrupt):
            sys.exit(event_loop.run(run_demo(data_dir=data_dir.resolve(), script=lines)))


@cli.command("import-orders")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--shop", help="Shop id from the configuration (required for a Shopify export).")
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), help="Override the detected file format."
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def import_orders_command(file: Path, shop: str | None, fmt: str | None, quiet: bool) -> None:
    """Import orders (native JSON/CSV, or a Shopify "Orders → Export" CSV). Re-importing the
    same file updates orders; a file with a bad row imports nothing."""
    from core.services.orders import import_orders

    size = file.stat().st_size
    settings, config = _setup()
    _announce(settings)

    async def main() -> Any:
        async with open_app(settings, config=config) as app:
            if not shop and (fmt or detect_format(file)) == "shopify-csv":
                known = ", ".join(sorted(app.config.shops))
                raise ImportFileError(
                    file.name,
                    "a Shopify export has no shop column: say which shop it is for "
                    f"with --shop (configured: {known})",
                    field="--shop",
                )
            show = not quiet and sys.stderr.isatty()
            with click.progressbar(
                length=size,
                label=f"Importing {file.name}",
                file=sys.stderr,
                show_eta=True,
                hidden=not show,
            ) as bar:
                seen = 0

                def progress(consumed: int) -> None:
                    nonlocal seen
                    bar.update(max(consumed - seen, 0))
                    seen = max(seen, consumed)

                return await import_orders(app.core, file, fmt=fmt, shop=shop, progress=progress)

    report = _run(main)
    click.echo(
        f"Imported {report.orders_read} orders with {report.lines} lines from {file} "
        f"[{report.format}] in {report.seconds:.1f} s: {report.orders_created} new, "
        f"{report.orders_updated} updated, {report.orders_unchanged} unchanged."
    )
    if report.unknown_suppliers:
        names = ", ".join(sorted(report.unknown_suppliers))
        click.echo(
            f"Note: suppliers not in the configuration: {names}. Their return terms are "
            "unknown, so decisions will flag what the shop cannot recover.",
            err=True,
        )


@cli.command("link")
@click.argument("order")
@click.option("--shop", help="Shop id, when the same order number exists in several shops.")
def link_command(order: str, shop: str | None) -> None:
    """Print the t.me deep link that links a buyer to ORDER (put it in the order e-mail)."""
    from core.orders.numbers import normalize_order_number
    from core.services.linking import order_link

    settings, config = _setup()
    _announce(settings, existing=True)

    async def main() -> list[str]:
        async with open_app(settings, create=False, config=config) as app:
            await _ready(app)
            async with app.core.unit_of_work() as uow:
                found = await uow.orders.find_by_key(normalize_order_number(order))
            if shop is not None:
                found = [o for o in found if o.shop == shop]
            if not found:
                raise ConfigError("order book", order, "no such order (import it first)")
            if len(found) > 1:
                shops = ", ".join(o.shop for o in found)
                raise ConfigError(
                    "order book", order, f"exists in several shops ({shops}): use --shop"
                )
            return [order_link(app.core, found[0])]

    for line in _run(main):
        click.echo(line)


@cli.group("staff")
def staff_group() -> None:
    """Sellers and agents."""


def _staff_command(work: Callable[[Any], Awaitable[T]], *, existing: bool = True) -> T:
    """Run ``work(core)`` on the database (which must exist and be at head)."""
    settings, config = _setup()
    _announce(settings, existing=existing)

    async def main() -> T:
        async with open_app(settings, create=not existing, config=config) as app:
            await _ready(app)
            return await work(app.core)

    return _run(main)


def _when(at: Any) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at is not None else "-"


@staff_group.command("invite")
@click.option("--shop", "shops", required=True, multiple=True, help="Shop id (repeatable).")
@click.option("--role", required=True, type=click.Choice(["seller", "agent"]))
@click.option(
    "--hours",
    type=click.IntRange(1, 24 * 30),
    default=72,
    show_default=True,
    help="The link stops working after this many hours.",
)
def staff_invite(shops: tuple[str, ...], role: str, hours: int) -> None:
    """Print a t.me link that makes the ONE account that opens it first a seller or agent of
    the named shops. It works once, expires after --hours and can be revoked (`staff revoke`).
    People can also be listed in the configuration file."""
    from core.services.staff import invite

    made = _staff_command(lambda core: invite(core, shops, role, hours=hours), existing=False)
    click.echo(made.link)
    invitation = made.invitation
    click.echo(
        f"Invitation {invitation.id}: {role} of {', '.join(invitation.shops)}; works once, "
        f"until {_when(invitation.expires_at)}. Withdraw it with: "
        f"returns-desk staff revoke {invitation.id}",
        err=True,
    )


@staff_group.command("list")
@click.option("--shop", help="Only this shop's staff, invitations and events.")
@click.option("--events", is_flag=True, help="Also the history of membership changes.")
def staff_list(shop: str | None, events: bool) -> None:
    """Who is staff (role, shops, since when, from the configuration file or an invitation),
    the invitations nobody has used yet, and with --events every membership change."""
    from core.services.staff import ALL_SHOPS, list_staff

    found = _staff_command(lambda core: list_staff(core, shop, events=events))
    click.echo(f"Staff{f' of {shop}' if shop else ''}:")
    if not found.members:
        click.echo("  (nobody)")
    for m in sorted(found.members, key=lambda m: (m.role, m.telegram_id, m.via)):
        shops = "all shops" if ALL_SHOPS in m.shops else ", ".join(m.shops)
        click.echo(
            f"  {m.telegram_id:<12} {m.role:<7} {shops:<24} since {_when(m.since):<20} via {m.via}"
        )
    click.echo("Pending invitations:")
    if not found.pending:
        click.echo("  (none)")
    for i in found.pending:
        click.echo(
            f"  {i.id:<5} {i.role} of {', '.join(i.shops)}, until {_when(i.expires_at)} "
            f"(made {_when(i.created_at)} by {i.created_by})"
        )
    if events:
        click.echo("Membership events:")
        if not found.events:
            click.echo("  (none)")
        for e in found.events:
            extra = " ".join(f"{key}={value}" for key, value in sorted(e.data.items()))
            click.echo(
                f"  {_when(e.at)}  {e.action:<16} {e.telegram_id or '-'!s:<12} "
                f"{e.role or '-':<7} {e.shop or '-':<12} by {e.by}  {extra}".rstrip()
            )


@staff_group.command("revoke")
@click.argument("invitation")
def staff_revoke(invitation: str) -> None:
    """Withdraw an unused invitation, by its number (see `staff list`) or its link."""
    from core.services.staff import revoke

    done = _staff_command(lambda core: revoke(core, invitation))
    click.echo(f"Invitation {done.id} revoked: its link no longer works.")


@staff_group.command("remove")
@click.argument("telegram_id", type=int)
@click.option("--shop", help="Only from this shop.")
@click.option("--role", type=click.Choice(["seller", "agent"]), help="Only this role.")
def staff_remove(telegram_id: int, shop: str | None, role: str | None) -> None:
    """Take an invited seller or agent off the staff: their buttons and commands stop working
    at once, the cases they handle as an agent go back to the queue, and they are told.
    People listed in the configuration file are removed there."""
    from core.services.staff import remove

    done = _staff_command(lambda core: remove(core, telegram_id, shop=shop, role=role))
    held = "; ".join(f"{r} of {s}" for s, r in done.removed)
    click.echo(f"Removed {telegram_id}: {held}. They will be told.")
    if done.handed_back:
        click.echo(f"Back to the queue: {', '.join(done.handed_back)}.")


@cli.group("db")
def db_group() -> None:
    """Database migrations."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or migrate the database schema (PostgreSQL deployments run this once per
    release; the embedded SQLite database migrates itself on start)."""
    from core.persistence.migrate import current_revision, upgrade

    settings, config = _setup()
    _announce(settings)

    async def main() -> str | None:
        async with open_app(settings, migrate=False, config=config) as app:
            await upgrade(app.engine, revision)
            return await current_revision(app.engine)

    click.echo(f"Database at revision {_run(main)}.")


@db_group.command("downgrade")
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def db_downgrade(revision: str, yes: bool) -> None:
    """Undo migrations down to REVISION ("base" removes every table, with its data); asks
    first, unless --yes."""
    from core.persistence.migrate import current_revision, downgrade

    settings, config = _setup()
    _announce(settings, existing=True)
    loses = (
        "every table and all its data"
        if revision == "base"
        else "what later migrations added, with its data"
    )
    if not yes:
        if not sys.stdin.isatty():
            _fail(f"error: db downgrade {revision} removes {loses}: confirm with --yes")
        if not click.confirm(
            f"Downgrade to {revision}, removing {loses}?", default=False, err=True
        ):
            _fail("Nothing was changed.", 1)

    async def main() -> str | None:
        async with open_app(settings, migrate=False, config=config) as app:
            await downgrade(app.engine, revision)
            return await current_revision(app.engine)

    click.echo(f"Database at revision {_run(main) or 'base (no tables)'}.")


@db_group.command("current")
def db_current() -> None:
    """Show the schema revision of the database."""
    from core.persistence.migrate import current_revision

    settings, config = _setup()
    _announce(settings, existing=True)

    async def main() -> str | None:
        async with open_app(settings, create=False, config=config) as app:
            return await current_revision(app.engine)

    click.echo(_run(main) or "empty (run: returns-desk db upgrade)")


@cli.group("updates")
def updates_group() -> None:
    """Incoming Telegram updates: what is waiting, what failed and was parked."""


@updates_group.command("status")
def updates_status() -> None:
    """How many updates are pending, in progress, done (last two days) and parked."""

    settings, config = _setup()
    _announce(settings, existing=True)

    async def main() -> tuple[dict[str, int], dict[str, int]]:
        async with open_app(settings, create=False, config=config) as app:
            await _ready(app)
            async with app.core.unit_of_work() as uow:
                return await uow.inbox.counts(), await uow.outbox.count_by_status()

    counts, sending = _run(main)
    click.echo(
        ", ".join(
            f"{status}: {counts.get(status, 0)}"
            for status in ("pending", "processing", "done", "parked")
        )
    )
    click.echo(
        f"notifications pending: {sending.get('pending', 0) + sending.get('sending', 0)}, "
        f"failed: {sending.get('failed', 0)}, unreachable: {sending.get('unreachable', 0)}"
        + (" (see: returns-desk outbox failed)" if sending.get("failed") else "")
    )


@updates_group.command("parked")
def updates_parked() -> None:
    """Updates whose handler failed every attempt: when, whose chat, what, and the error."""

    settings, config = _setup()
    _announce(settings, existing=True)

    async def main() -> list[Any]:
        async with open_app(settings, create=False, config=config) as app:
            await _ready(app)
            async with app.core.unit_of_work() as uow:
                return await uow.inbox.parked(limit=1000)

    parked = _run(main)
    if not parked:
        click.echo("No parked updates.")
        return
    from bot.receiving.inbox import chat_of

    for item in parked:
        kind = next((key for key in item.payload if key != "update_id"), "?")
        click.echo(  # the real chat, not a forum topic's 63-bit order key
            f"{item.update_id}  {item.received_at:%Y-%m-%d %H:%M}  chat {chat_of(item.payload)}  "
            f"{kind}  attempts {item.attempts}  {item.last_error or ''}"
        )
    click.echo(f"{len(parked)} parked; retry with: returns-desk updates retry ID... | --all")


@updates_group.command("retry")
@click.argument("update_ids", nargs=-1, type=int)
@click.option("--all", "retry_all", is_flag=True, help="Retry every parked update.")
def updates_retry(update_ids: tuple[int, ...], retry_all: bool) -> None:
    """Put parked updates back in the queue (the running bot picks them up)."""
    if not update_ids and not retry_all:
        click.echo("error: name the update ids to retry, or --all", err=True)
        sys.exit(2)

    settings, config = _setup()
    _announce(settings, existing=True)

    async def main() -> int:
        async with open_app(settings, create=False, config=config) as app:
            await _ready(app)
            async with app.core.unit_of_work() as uow:
                count = await uow.inbox.retry_parked(
                    None if retry_all else update_ids, app.core.now()
                )
                await uow.commit()
                return count

    click.echo(f"{_run(main)} update(s) queued again.")


@cli.group("outbox")
def outbox_group() -> None:
    """Notifications to send: what could not be delivered, and sending it again."""


@outbox_group.command("failed")
def outbox_failed() -> None:
    """Notifications given up on (refused, attempts exhausted, recipient unreachable)."""

    async def work(core: Any) -> list[Any]:
        async with core.unit_of_work() as uow:
            return await uow.outbox.undelivered(limit=1000)

    failed = _staff_command(work)
    if not failed:
        click.echo("No failed notifications.")
        return
    for item in failed:
        recipient = item.recipient_role + (f" {item.chat_id}" if item.chat_id else "")
        click.echo(
            f"{item.id}  {_when(item.next_attempt_at)}  case {item.payload.get('case') or '-'}  "
            f"{recipient}  {item.kind}  {item.status}  {item.last_error or ''}"
        )
    click.echo(f"{len(failed)} not delivered; retry with: returns-desk outbox retry ID... | --all")


@outbox_group.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "retry_all", is_flag=True, help="Retry every failed notification.")
def outbox_retry(ids: tuple[int, ...], retry_all: bool) -> None:
    """Queue failed notifications again (the running bot sends them)."""
    if not ids and not retry_all:
        click.echo("error: name the notification ids to retry, or --all", err=True)
        sys.exit(2)

    async def work(core: Any) -> list[int]:
        async with core.unit_of_work() as uow:
            requeued = await uow.outbox.requeue(None if retry_all else list(ids), core.now())
            await uow.commit()
            return requeued

    requeued = _staff_command(work)
    missing = sorted(set(ids) - set(requeued))
    if missing:
        _warn(f"not failed (or unknown): {', '.join(str(i) for i in missing)}")
    click.echo(f"{len(requeued)} notification(s) queued again.")


@cli.group("privacy")
def privacy_group() -> None:
    """Personal data: a person's copy, erasure, and what is held (see README, Personal data)."""


def _who(
    app: App, telegram_id: int | None, email: str | None, order: str | None
) -> Awaitable[list[int]]:
    from core.cases.model import Actor
    from core.services import privacy

    async def find() -> list[int]:
        if telegram_id is not None:
            return [telegram_id]
        if not email and not order:
            raise _Stop("error: name the person: --telegram-id, --email or --order", 2)
        return await privacy.find_people(app.core, Actor.system(), email=email, order=order)

    return find()


@privacy_group.command("export")
@click.option("--telegram-id", type=int, required=True, help="The person's Telegram user id.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="The ZIP to write.")
def privacy_export(telegram_id: int, out: Path | None) -> None:
    """Write the ZIP /mydata sends: everything held about one person, README in their
    language."""
    from bot.views.i18n import Catalogs
    from bot.views.privacy import readme
    from core.cases.model import Actor
    from core.services import privacy

    settings, config = _setup()
    _announce(settings, existing=True)

    async def main() -> Any:
        async with open_app(settings, create=False, config=config) as app:
            await _ready(app)
            data = await privacy.personal_data(app.core, Actor.system(), telegram_id)
            tr = Catalogs().get(data.language)
            return await privacy.data_zip(app.core, data, readme(tr, data))

    packed = _run(main)
    target = out or Path(packed.filename)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(packed.data)
    click.echo(f"Wrote {target} ({len(packed.files)} files, {len(packed.data)} bytes).")


@privacy_group.command("erase")
@click.option("--telegram-id", type=int, help="The person's Telegram user id.")
@click.option("--email", help="Everyone linked to orders with this e-mail address.")
@click.option("--order", "order", help="Everyone linked to this order number.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def privacy_erase(telegram_id: int | None, email: str | None, order: str | None, yes: bool) -> None:
    """Erase a person's data as /forgetme does (requested by the shop): at once, or when the
    hold of an open case or of the dispute window ends."""
    from core.cases.model import Actor
    from core.services import privacy

    settings, config = _setup()
    _announce(settings, existing=True)
    if not yes:
        if not sys.stdin.isatty():
            _fail("error: privacy erase cannot be undone: confirm with --yes")
        if not click.confirm("Erase this person's data for good?", default=False, err=True):
            _fail("Nothing was changed.", 1)

    async def main() -> list[Any]:
        async with open_app(settings, create=False, config=config) as app:
            await _ready(app)
            people = await _who(app, telegram_id, email, order)
            return [
                await privacy.request_erasure(app.core, Actor.system(), person, by="shop")
                for person in people
            ]

    for erasure in _run(main):
        hold = erasure.hold
        if erasure.done:
            click.echo(f"{erasure.telegram_id}: erased.")
        elif hold is not None and hold.kind == "open_case":
            click.echo(
                f"{erasure.telegram_id}: waits: case {hold.case} is open; erased "
                f"{hold.window_days} days after it closes (not before {erasure.due_at:%Y-%m-%d})."
            )
        else:
            click.echo(
                f"{erasure.telegram_id}: waits: dispute window of case "
                f"{hold.case if hold else '?'}; erased on {erasure.due_at:%Y-%m-%d}."
            )


@privacy_group.command("report")
def privacy_report() -> None:
    """What is held (rows and oldest per kind), pending erasures with their due dates, and
    what the next nightly purge will remove."""
    from core.cases.model import Actor
    from core.services import privacy

    settings, config = _setup()
    _announce(settings, existing=True)

    async def main() -> Any:
        async with open_app(settings, create=False, config=config) as app:
            await _ready(app)
            return await privacy.report(app.core, Actor.system())

    found = _run(main)
    click.echo("Held:")
    for kind, (count, oldest) in found.held.items():
        since = f", oldest {oldest:%Y-%m-%d}" if oldest is not None else ""
        click.echo(f"  {kind}: {count}{since}")
    click.echo(f"Pending erasures: {len(found.pending)}")
    for erasure in found.pending:
        why = f" (hold: {erasure.hold.kind} {erasure.hold.case})" if erasure.hold else ""
        click.echo(f"  {erasure.telegram_id}: due {erasure.due_at:%Y-%m-%d}{why}")
    click.echo("Next purge removes:")
    for kind, count in found.next_purge.items():
        if kind != "erasure requests pending":
            click.echo(f"  {kind}: {count}")


@cli.group("config")
def config_group() -> None:
    """The shops, suppliers and policy configuration file."""


@config_group.command("check")
def config_check() -> None:
    """Validate the settings and the configuration file, and summarise them; warn about what
    they accept but will not work as meant (passwords are masked)."""
    settings, config = _setup()
    source = settings.config_file or "the bundled sample (set CONFIG_FILE for your own)"
    click.echo(f"Configuration: {source}")
    click.echo(f"Database: {mask_url(settings.database_url)}")
    click.echo(f"Data directory: {settings.data_dir.resolve()}")
    if settings.redis_url:
        click.echo(f"Redis: {mask_url(settings.redis_url)}")
    click.echo(f"Bot: @{config.deployment.bot_username}")
    for shop_id, shop in config.shops.items():
        policy = shop.policy
        change_of_mind = f"{policy.change_of_mind_days} days" if policy.change_of_mind else "no"
        click.echo(
            f"- {shop_id}: {shop.name} ({shop.currency}, {shop.language}); "
            f"change of mind {change_of_mind}, "
            f"defects {policy.defect_days} days; {len(shop.sellers)} seller(s)"
        )
    click.echo(f"Suppliers: {', '.join(sorted(config.suppliers)) or 'none'}")
    rights = ", ".join(
        f"{name} ({len(law.countries)} countries)" for name, law in config.minimum_rights.items()
    )
    click.echo(f"Minimum rights: {rights or 'none'}")
    warnings = setting_warnings(settings)
    if agents_warning := agents_group_warning(settings, config):
        warnings.append(agents_warning)
    shops, name = sample_values(config)
    if shops:
        warnings.append(
            f"link_secret of shop{'s' if len(shops) > 1 else ''} {', '.join(shops)} is the "
            "sample's published one: anyone can "
            "forge links to your orders; set a long random one for each shop"
        )
    if name:
        warnings.append(
            f'deployment.bot_username is the sample\'s "{name}": links would open someone '
            "else's bot; set your bot's username"
        )
    for warning in warnings:
        _warn(warning)


# ── figures and costs (README, "Figures") ─────────────────────────────────────────────────────


@cli.command("stats")
@click.option("--shop", help="Shop id from the configuration (default: every shop).")
@click.option("--period", default="30d", show_default=True, help="Last N days: 7d, 30d, 90d …")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The period ends at the end of this day (UTC); default: now.",
)
def stats_command(shop: str | None, period: str, fmt: str, until: Any) -> None:
    """What returns cost and why: return rates by SKU, supplier and reason, claims per 100
    orders, priorities, cost and net loss, the supplier recovery gap, response times,
    carriers and the share decided automatically."""
    import json
    from datetime import UTC, timedelta

    from bot.views.csat_text import csat_json, csat_table
    from bot.views.stats_text import figures_table
    from core.analytics.figures import COLUMNS, as_json, parse_period, tidy_rows
    from core.cases.model import Actor
    from core.services import csat, stats
    from core.spreadsheet import csv_bytes

    days = parse_period(period)
    if days is None:
        _fail(f"error: --period: {period!r} is not a number of days such as 30d (1 to 366)")
    settings, config = _setup()
    _announce(settings, existing=True)

    async def main() -> Any:
        async with open_app(settings, create=False, config=config) as app:
            await _ready(app)
            end = None
            if until is not None:
                end = until.replace(tzinfo=UTC) + timedelta(days=1)
            found = await stats.figures(app.core, Actor.system(), days=days, shop=shop, until=end)
            # satisfaction after the case (README, "After the case"): same shops and period
            liked = await csat.figures(app.core, Actor.system(), days=days, shop=shop, until=end)
            return found, liked

    figures, satisfaction = _run(main)
    if fmt == "json":
        data = {**as_json(figures), "satisfaction": csat_json(satisfaction)}
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    elif fmt == "csv":
        rows = tidy_rows(figures)
        data = csv_bytes(COLUMNS, ([row[c] for c in COLUMNS] for row in rows))
        click.echo(data, nl=False)  # bytes: written as they are (UTF-8 with a BOM)
    else:
        click.echo(figures_table(figures))
        click.echo(csat_table(satisfaction), nl=False)


@cli.command("csat")
@click.option("--shop", help="Shop id from the configuration (default: every shop).")
@click.option("--period", default="30d", show_default=True, help="Last N days: 7d, 30d, 90d …")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The period ends at the end of this day (UTC); default: now.",
)
def csat_command(shop: str | None, period: str, fmt: str, until: Any) -> None:
    """Satisfaction after the case (surveys asked in the period): share of 4 and 5, answers
    and response rate, per shop, per agent and per reason."""
    import json
    from datetime import UTC, timedelta

    from bot.views.csat_text import csat_json, csat_table
    from core.analytics.figures import parse_period
    from core.cases.model import Actor
    from core.services import csat

    days = parse_period(period)
    if days is None:
        _fail(f"error: --period: {period!r} is not a number of days such as 30d (1 to 366)")
    settings, config = _setup()
    _announce(settings, existing=True)

    async def main() -> Any:
        async with open_app(settings, create=False, config=config) as app:
            await _ready(app)
            end = until.replace(tzinfo=UTC) + timedelta(days=1) if until is not None else None
            return await csat.figures(app.core, Actor.system(), days=days, shop=shop, until=end)

    figures = _run(main)
    if fmt == "json":
        click.echo(json.dumps(csat_json(figures), ensure_ascii=False, indent=2))
    else:
        click.echo(csat_table(figures), nl=False)


@cli.command("import-costs")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_costs_command(file: Path) -> None:
    """Unit costs per SKU from a CSV (shop, sku, supplier, unit_cost, currency, valid_from):
    what the supplier is paid, from a day on. A bad line imports nothing."""
    from core.services import stats

    settings, config = _setup()
    _announce(settings)

    async def main() -> Any:
        async with open_app(settings, config=config) as app:
            return await stats.import_costs(app.core, file)

    report = _run(main)
    click.echo(
        f"Imported {report.read} unit costs from {file}: {report.created} new, "
        f"{report.replaced} replaced."
    )


@cli.group("cost")
def cost_group() -> None:
    """Costs of a case: what it cost the shop and what came back."""


@cost_group.command("record")
@click.argument("number")
@click.argument("kind")
@click.argument("amount")
@click.option("--currency", help="When the amount is not in the case's currency.")
@click.option("--note", help="What it was (an invoice, a credit note …).")
def cost_record(
    number: str, kind: str, amount: str, currency: str | None, note: str | None
) -> None:
    """Record KIND (refund, reship_goods, reship_postage, return_label, chargeback_fee,
    restocking_fee, supplier_credit) of AMOUNT on case NUMBER; written to its audit trail."""
    from core.analytics.costs import CostKind, parse_cost_kind
    from core.cases.model import Actor
    from core.services import stats

    cost_kind = parse_cost_kind(kind)
    if cost_kind is None:
        _fail(f"error: KIND: {kind!r} is not one of {', '.join(k.value for k in CostKind)}")
    settings, config = _setup()
    _announce(settings, existing=True)
    typed = f"{amount} {currency}" if currency else amount

    async def main() -> Any:
        async with open_app(settings, create=False, config=config) as app:
            await _ready(app)
            return await stats.record_cost(app.core, Actor.system(), number, cost_kind, typed, note)

    case, money = _run(main)
    click.echo(f"Recorded {cost_kind.value} of {money} on case {case.number}.")


@cli.group("claims")
def claims_group() -> None:
    """Supplier claims: the cost of approved cases claimed back from the suppliers."""


@claims_group.command("list")
@click.option("--shop", help="Only this shop's claims.")
@click.option("--supplier", help="Only this supplier's claims (its id in the configuration).")
@click.option("--all", "everything", is_flag=True, help="Recovered and written-off ones too.")
def claims_list_command(shop: str | None, supplier: str | None, everything: bool) -> None:
    """One line per claim: id, case, supplier, status, claimed, recovered, deadline."""
    from core.cases.model import Actor
    from core.services import supplier_claims

    claims = _staff_command(
        lambda core: supplier_claims.list_claims(
            core, Actor.system(), supplier=supplier, shop=shop, open_only=not everything
        )
    )
    if not claims:
        click.echo("No supplier claims.")
    for claim in claims:
        claimed = " + ".join(str(m) for m in claim.claimed)
        recovered = f" recovered {claim.recovered}" if claim.recovered else ""
        late = " (came after the supplier's window)" if claim.late else ""
        click.echo(
            f"{claim.id}\t{claim.case_number}\t{claim.supplier}\t{claim.status.value}\t"
            f"{claimed}{recovered}\tdeadline {_when(claim.deadline_at)}{late}\t"
            f"supplier order {claim.supplier_order or '-'}"
        )


@claims_group.command("export")
@click.argument("supplier")
@click.option("--shop", help="Only this shop's claims.")
@click.option("--days", type=click.IntRange(1, 366), default=7, show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the ZIP (default: claims-SUPPLIER-DAY.zip here).",
)
def claims_export_command(supplier: str, shop: str | None, days: int, out: Path | None) -> None:
    """The drafts of SUPPLIER opened in the last DAYS days as one ZIP: the message in Chinese
    and English, the claims as a table, the photos without metadata and the defects described,
    without the buyers' personal data."""
    from bot.conversations.supplier_claims import letter_writer
    from bot.views.i18n import Catalogs
    from core.cases.model import Actor
    from core.services import supplier_claims

    pack = _staff_command(
        lambda core: supplier_claims.batch_pack(
            core,
            Actor.system(),
            letter_writer(core, Catalogs()),
            supplier=supplier,
            days=days,
            shop=shop,
        )
    )
    target = out or Path(pack.filename)
    target.write_bytes(pack.data)
    click.echo(f"Wrote {len(pack.batch.claims)} claim(s) for {supplier} to {target}.")


@cli.group("dispute")
def dispute_group() -> None:
    """Platform disputes on cases (AliExpress, Amazon, eBay, PayPal, chargebacks)."""


@dispute_group.command("record")
@click.argument("number")
@click.argument("platform")
@click.argument("external_id")
@click.option("--opened", help="When it opened: 2026-12-01 or 2026-12-01T09:30 (default: now).")
@click.option("--stage", help="Its stage (default: the platform's first); moves a known one.")
@click.option("--due", help="A chargeback's evidence due date, as the processor gives it.")
def dispute_record(
    number: str,
    platform: str,
    external_id: str,
    opened: str | None,
    stage: str | None,
    due: str | None,
) -> None:
    """Record the dispute EXTERNAL_ID of PLATFORM on case NUMBER, with its deadlines."""
    from core.cases.model import Actor
    from core.services import disputes

    new = disputes.NewDispute(platform, external_id, opened, stage, due)
    done = _staff_command(lambda core: disputes.record_or_move(core, Actor.system(), number, new))
    verb = "Recorded" if done.created else "Already recorded"
    dispute = done.dispute
    click.echo(
        f"{verb}: {dispute.platform} {dispute.external_id} on case {done.case.number}, "
        f"stage {dispute.stage} (rules {dispute.rules_version})."
    )
    for deadline in dispute.deadlines:
        if deadline.active:
            click.echo(f"  {deadline.code}\t{_when(deadline.due_at)}")


@dispute_group.command("export")
@click.argument("number")
@click.option("--for", "platform", required=True, help="shopify, stripe, paypal or aliexpress.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the ZIP (default: NUMBER-PLATFORM.zip here).",
)
def dispute_export(number: str, platform: str, out: Path | None) -> None:
    """The evidence pack of case NUMBER fitted to PLATFORM's upload form."""
    from core.cases.model import Actor
    from core.services import dispute_pack

    pack = _staff_command(
        lambda core: dispute_pack.platform_pack(core, Actor.system(), number, platform)
    )
    target = out or Path(pack.filename)
    target.write_bytes(pack.data)
    click.echo(
        f"Wrote {target}: {len(pack.uploads)} file(s) to upload, {pack.upload_bytes} bytes; "
        f"{len(pack.dropped)} left out (README.txt says why)."
    )


def main() -> None:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from bot.logs import install as limit_repeated_log_lines

    limit_repeated_log_lines()  # a flood of one message is a line a minute, not 200 MB
    cli(prog_name="returns-desk")


if __name__ == "__main__":
    main()

"""The ``returns-desk`` command: composes the product, does nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from alembic.util.exc import CommandError as MigrationCommandError
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from bot.app import (
    App,
    NoDatabase,
    core_without_database,
    database_exists,
    open_app,
    sample_values,
)
from bot.config import (
    Settings,
    SettingsError,
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


def _run(coro_factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine and turn every expected failure into one clear line and exit code 2
    (1 when a command that only reads finds no database)."""
    try:
        return asyncio.run(coro_factory())  # type: ignore[arg-type]
    except _Stop as exc:
        _fail(exc.line, exc.code)
    except NoDatabase as exc:
        _fail(str(exc), 1)
    except (ConfigError, SettingsError, ImportFileError, CoreError) as exc:
        _fail(_error_line(exc))
    except MigrationCommandError as exc:  # e.g. db downgrade <unknown revision>
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
def run_command(use_webhook: bool, sample_config: bool) -> None:
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
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"error: DATA_DIR: cannot create {settings.data_dir} ({exc.strerror})")
    _announce(settings)
    logging.getLogger().setLevel(settings.logging_level())
    # Failures while running are not "expected": they keep their traceback in the log.
    try:
        asyncio.run(run_bot(settings, use_webhook=use_webhook))
    except KeyboardInterrupt:
        pass
    except SettingsError as exc:  # e.g. Redis not reachable
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
            sys.exit(asyncio.run(run_demo(data_dir=data_dir.resolve(), script=lines)))


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


@staff_group.command("invite")
@click.option("--shop", required=True, help="Shop id from the configuration.")
@click.option("--role", type=click.Choice(["seller", "agent"]), default="seller", show_default=True)
def staff_invite(shop: str, role: str) -> None:
    """Print a t.me link that makes whoever opens it a seller (or agent) of SHOP; it expires in
    seven days. Sellers can also be listed in the configuration."""
    from core.services.staff import invite_link

    settings, config = _setup()

    async def main() -> str:  # signed with the shop's secret: no database needed
        return invite_link(core_without_database(settings, config), shop, role)

    click.echo(_run(main))


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

    async def main() -> dict[str, int]:
        async with open_app(settings, create=False, config=config) as app:
            await _ready(app)
            async with app.core.unit_of_work() as uow:
                return await uow.inbox.counts()

    counts = _run(main)
    click.echo(
        ", ".join(
            f"{status}: {counts.get(status, 0)}"
            for status in ("pending", "processing", "done", "parked")
        )
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
    for item in parked:
        kind = next((key for key in item.payload if key != "update_id"), "?")
        click.echo(
            f"{item.update_id}  {item.received_at:%Y-%m-%d %H:%M}  chat {item.chat_key}  "
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


def main() -> None:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    cli(prog_name="returns-desk")


if __name__ == "__main__":
    main()

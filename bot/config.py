"""Settings from environment variables and an optional ``.env`` file, read once at start.

A wrong value stops the program with a message that names the variable.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.policy.config import Config

_TOKEN = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{30,}$")
_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


class SettingsError(ValueError):
    pass


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=True,  # `AGENTS_CHAT_ID=` in a copied .env means "not set"
    )

    data_dir: Path = Field(default=Path("data"), alias="DATA_DIR")
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    config_file: Path | None = Field(default=None, alias="CONFIG_FILE")
    bot_token: str | None = Field(default=None, alias="BOT_TOKEN")
    bot_api_url: str = Field(default="https://api.telegram.org", alias="BOT_API_URL")
    agents_chat_id: int | None = Field(default=None, alias="AGENTS_CHAT_ID")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    webhook_url: str | None = Field(default=None, alias="WEBHOOK_URL")
    webhook_listen: str = Field(default="127.0.0.1:8080", alias="WEBHOOK_LISTEN")
    webhook_secret: str | None = Field(default=None, alias="WEBHOOK_SECRET")
    # the seller's board (a Telegram Mini App): its public https address (served at /board/
    # by the webhook server or `returns-desk web`), the Mini App's short name from @BotFather
    # (/newapp; for direct links on group alerts), and how old Telegram's launch data may be
    webapp_url: str | None = Field(default=None, alias="WEBAPP_URL")
    webapp_short_name: str | None = Field(default=None, alias="WEBAPP_SHORT_NAME")
    board_init_max_age: int = Field(default=3600, ge=60, le=86400, alias="BOARD_INIT_MAX_AGE")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                "(the async drivers Returns Desk uses)"
            )
        return value

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():
            raise ValueError(f"{value} is a file; it must be a folder (such as data)")
        return value

    @field_validator("config_file")
    @classmethod
    def _config_file(cls, value: Path | None) -> Path | None:
        if value is not None and value.is_dir():
            raise ValueError(f"{value} is a folder; it must be a TOML file such as shops.toml")
        return value

    @field_validator("bot_token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not _TOKEN.match(value):
            raise ValueError(_token_problem(value))
        return value

    @field_validator("bot_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL such as https://api.telegram.org")
        return value.rstrip("/")

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// URL")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
            raise ValueError("must be the public https URL Telegram posts to")
        return value

    @field_validator("webhook_listen")
    @classmethod
    def _webhook_listen(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port, such as 127.0.0.1:8080")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", value):
            raise ValueError("must be 16 to 256 letters, digits, _ or - (Telegram's rule)")
        return value

    @field_validator("webapp_url")
    @classmethod
    def _webapp_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value):
            raise ValueError(
                "must be the board's public https URL, such as https://desk.example.com/board/"
            )
        return value if value.endswith("/") else value + "/"

    @field_validator("webapp_short_name")
    @classmethod
    def _webapp_short_name(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not re.fullmatch(r"[A-Za-z0-9_]{3,30}", value):
            raise ValueError("must be the Mini App's short name (3 to 30 letters, digits or _)")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in _LEVELS:
            raise ValueError(f"must be one of {', '.join(_LEVELS)}")
        return level

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if self.database_url is None:
            path = (self.data_dir / "returns-desk.sqlite3").resolve()
            self.database_url = f"sqlite+aiosqlite:///{path}"
        return self

    @property
    def is_sqlite(self) -> bool:
        return str(self.database_url).startswith("sqlite")

    @property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"

    def require_token(self) -> str:
        if not self.bot_token:
            raise SettingsError("BOT_TOKEN: required to run the bot (get one from @BotFather)")
        return self.bot_token

    def require_webhook(self) -> tuple[str, str, str, int]:
        """URL, path, host and port of webhook mode."""
        if not self.webhook_url:
            raise SettingsError(
                "WEBHOOK_URL: required by run --webhook (the public https URL Telegram posts to)"
            )
        path = "/" + self.webhook_url.split("://", 1)[1].partition("/")[2]
        host, _, port = self.webhook_listen.rpartition(":")
        return self.webhook_url, path, host.strip("[]"), int(port)

    def logging_level(self) -> int:
        return int(logging.getLevelName(self.log_level))


def _token_problem(value: str) -> str:
    """Why ``value`` is not a token, in plain words, without repeating the token."""
    number, colon, rest = value.partition(":")
    if value != value.strip() or value[:1] in "\"'":
        reason = "it has spaces or quotes around it"
    elif not colon:
        reason = "it has no colon"
    elif not re.fullmatch(r"\d{3,20}", number):
        reason = "the part before the colon must be 3 to 20 digits"
    elif not re.fullmatch(r"[A-Za-z0-9_-]*", rest):
        reason = "the part after the colon may only hold letters, digits, _ and -"
    else:
        reason = f"the part after the colon has {len(rest)} characters, not 30 or more"
    return (
        f"not a token from @BotFather: {reason} (a token is 3 to 20 digits, a colon and 30 or "
        "more letters, digits, _ or -, such as 123456789:AAE…)"
    )


# pydantic's error types, said in plain words ("Input should be a valid tuple" is not)
_PLAIN = {
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "decimal_type": "must be a number",
    "decimal_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text in quotes",
    "tuple_type": "must be a list in brackets, such as [1, 2]",
    "list_type": "must be a list in brackets, such as [1, 2]",
    "set_type": "must be a list in brackets, such as [1, 2]",
    "frozen_set_type": "must be a list in brackets, such as [1, 2]",
    "dict_type": "must be a table ([section] or { key = value })",
    "model_type": "must be a table ([section] or { key = value })",
    "date_type": "must be a date such as 2026-11-01 (without quotes)",
    "date_parsing": "must be a date such as 2026-11-01 (without quotes)",
    "date_from_datetime_parsing": "must be a date such as 2026-11-01 (without quotes)",
    "date_from_datetime_inexact": "must be a date such as 2026-11-01, without a time",
    "datetime_type": "must be a date and time such as 2026-11-01T09:00:00",
    "datetime_parsing": "must be a date and time such as 2026-11-01T09:00:00",
    "path_type": "must be a path to a file",
    "missing": "required but missing",
    "extra_forbidden": "unknown key (check the spelling against the sample configuration)",
}
_SECRET_WORDS = ("secret", "token", "password")


def plain_problem(error: ErrorDetails) -> str:
    """One pydantic error in plain words, with the value given when it helps and is not a
    secret: ``must be a list in brackets, such as [1, 2] (got 700001)``."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _PLAIN:
        problem = _PLAIN[kind]
    elif kind in ("enum", "literal_error"):
        problem = f"must be one of {ctx.get('expected', '?')}"
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = ctx.get("ge", ctx.get("gt", ctx.get("le", ctx.get("lt"))))
        word = {
            "greater_than_equal": "at least",
            "greater_than": "more than",
            "less_than_equal": "at most",
            "less_than": "less than",
        }[kind]
        problem = f"must be {word} {bound}"
    elif kind == "string_too_short":
        problem = f"must be at least {ctx.get('min_length')} characters long"
    elif kind == "string_too_long":
        problem = f"must be at most {ctx.get('max_length')} characters long"
    elif kind == "too_short":
        problem = f"must have at least {ctx.get('min_length')} item(s)"
    elif kind == "too_long":
        problem = f"must have at most {ctx.get('max_length')} item(s)"
    elif kind == "string_pattern_mismatch":
        problem = f"does not have the expected form ({ctx.get('pattern')})"
    else:  # value_error and the rest: our own sentences, or pydantic's made plainer
        message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        return message.replace("Input should be", "must be", 1)
    where = " ".join(str(part) for part in error["loc"]).lower()
    value = error.get("input")
    if kind == "missing" or any(word in where for word in _SECRET_WORDS):
        return problem
    shown = _shown(value)
    return f"{problem} (got {shown})" if shown else problem


def _shown(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal | date):
        return str(value)
    if isinstance(value, str) and len(value) <= 40:
        return f'"{value}"'
    return None


def mask_url(url: str | None) -> str:
    """``url`` with its password (and any ``password=`` query value) replaced by ***."""
    if not url:
        return ""
    parts = urlsplit(url)
    masked = url
    if parts.password is not None:
        user, _, host = parts.netloc.rpartition("@")
        masked = masked.replace(parts.netloc, f"{user.partition(':')[0]}:***@{host}", 1)
    if "password" in parts.query.lower():
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if "password" in k.lower() else v) for k, v in pairs], safe="*"
        )
        masked = masked.replace(parts.query, query, 1)
    return masked


def setting_names() -> list[str]:
    """The variables the settings read, as written in ``.env`` (upper case)."""
    return [field.alias.upper() for field in Settings.model_fields.values() if field.alias]


def env_file_typos(path: Path | str | None = None) -> list[str]:
    """Warnings for keys of the ``.env`` file that are not settings but look like one
    (``CONFIG_FIL`` for ``CONFIG_FILE``): pydantic ignores them without a word."""
    if path is None:
        configured = Settings.model_config.get("env_file")
        if not isinstance(configured, str | Path):
            return []  # no .env read (the tests), or a list of them (not this product's)
        path = configured
    file = Path(path)
    if not file.is_file():
        return []
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    names = setting_names()
    warnings = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#") or "=" not in text:
            continue
        key = text.removeprefix("export ").partition("=")[0].strip().upper()
        if not key or key in names:
            continue
        if any(key.endswith(f"_{name}") or key.startswith(f"{name}_") for name in names):
            continue  # another program's variable (TEST_REDIS_URL), not a typo of ours
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.75)
        if close:
            warnings.append(
                f"{file.name} line {number}: {key} is not a setting and is ignored; "
                f"did you mean {close[0]}?"
            )
    return warnings


def setting_warnings(settings: Settings) -> list[str]:
    """What the settings accept but will not work as meant."""
    warnings = []
    if not settings.bot_token:
        warnings.append("BOT_TOKEN is not set: `returns-desk run` needs the token from @BotFather")
    if settings.agents_chat_id is not None and settings.agents_chat_id >= 0:
        warnings.append(
            f"AGENTS_CHAT_ID={settings.agents_chat_id} is not a supergroup id: those are "
            "negative, such as -1001234567890"
        )
    if settings.webapp_url and not settings.webapp_url.startswith("https://"):
        warnings.append(
            f"WEBAPP_URL={settings.webapp_url} is not https: Telegram opens Mini Apps only "
            "from https addresses (the board still works in a browser)"
        )
    if settings.webhook_url and not settings.webhook_url.startswith("https://"):
        warnings.append(
            f"WEBHOOK_URL={mask_url(settings.webhook_url)} is not https: Telegram posts "
            "updates only to https addresses"
        )
    return warnings


def agents_group_warning(settings: Settings, config: Config) -> str | None:
    """The agents' forum group is one group for every shop: whoever is in it reads every
    shop's topics, whatever shops the configuration scopes them to."""
    if settings.agents_chat_id is None:
        return None
    everywhere = set(config.deployment.agents_all_shops)
    scoped = {agent for shop in config.shops.values() for agent in shop.agents} - everywhere
    if not scoped:
        return None
    return (
        f"AGENTS_CHAT_ID is one forum group for every shop: its members read every shop's "
        f"topics, so the {len(scoped)} agent(s) listed for some shops only should not be in it "
        "(or leave AGENTS_CHAT_ID unset: each agent then gets their shops' alerts privately)"
    )


def sqlite_path(settings: Settings) -> Path | None:
    """The file of the SQLite database (absolute), or None for PostgreSQL or in memory."""
    from sqlalchemy.engine import make_url

    if not settings.is_sqlite:
        return None
    database = make_url(str(settings.database_url)).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


def database_line(settings: Settings) -> str:
    """Which database and data directory a command uses, in one line, password masked."""
    data_dir = settings.data_dir.resolve()
    path = sqlite_path(settings)
    if path is None:
        where = mask_url(settings.database_url)
    else:
        where = f"SQLite {path}" + ("" if path.exists() else " (not there yet: created now)")
    return f"Database: {where}; data directory {data_dir}"


def without_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without any variable the settings read (any case, as pydantic matches
    them): what a clean process of the product must start from (tests, benchmarks)."""
    names = set(setting_names())
    return {key: value for key, value in environ.items() if key.upper() not in names}


def load_settings(**overrides: object) -> Settings:
    """Read the settings; a bad value raises SettingsError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]).upper() if error["loc"] else "settings"
            problems.append(f"{name}: {plain_problem(error)}")
        raise SettingsError("; ".join(problems)) from exc

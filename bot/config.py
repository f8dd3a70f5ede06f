"""Settings from environment variables and an optional ``.env`` file, read once at start.

A wrong value stops the program with a message that names the variable.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    @field_validator("bot_token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not _TOKEN.match(value):
            raise ValueError("does not look like a token from @BotFather (digits:letters)")
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


def without_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without any variable the settings read (any case, as pydantic matches
    them): what a clean process of the product must start from (tests, benchmarks)."""
    names = {field.alias.upper() for field in Settings.model_fields.values() if field.alias}
    return {key: value for key, value in environ.items() if key.upper() not in names}


def load_settings(**overrides: object) -> Settings:
    """Read the settings; a bad value raises SettingsError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]).upper() if error["loc"] else "settings"
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{name}: {message}")
        raise SettingsError("; ".join(problems)) from exc

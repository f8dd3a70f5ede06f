"""Column types shared by the ORM tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from core.clock import ensure_utc


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, stored in UTC and always returned as an aware UTC datetime.

    PostgreSQL stores ``timestamptz``. SQLite has no time zones: the value is converted to UTC
    and stored naive, and read back as UTC. A naive value handed in is taken as UTC (as
    :func:`core.clock.ensure_utc` does), so both backends compare and sort the same way.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is not UTC:  # the common case (already UTC) skips the conversion
            value = ensure_utc(value)
        if dialect.name == "postgresql":
            return value
        return value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        if value.tzinfo is UTC:
            return value
        return value.astimezone(UTC)

    @property
    def python_type(self) -> type[datetime]:
        return datetime

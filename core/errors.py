"""Errors the core raises; each carries a stable code that the bot renders as a sentence."""

from __future__ import annotations

from typing import Any


class CoreError(Exception):
    code = "core_error"

    def __init__(self, message: str, *, code: str | None = None, **params: Any) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.params = params


class NotFound(CoreError):
    code = "not_found"


class Forbidden(CoreError):
    """The acting user may not do this (someone else's order or case, wrong shop, wrong role)."""

    code = "forbidden"


class InvalidTransition(CoreError):
    code = "invalid_transition"


class Conflict(CoreError):
    """Somebody else changed the case first (two staff pressing at once), or a duplicate."""

    code = "conflict"


class RateLimited(CoreError):
    code = "rate_limited"


class ValidationFailed(CoreError):
    code = "invalid"

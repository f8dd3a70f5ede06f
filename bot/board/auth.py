"""Who is on the board: Telegram's signed ``initData`` (inside Telegram) or a one-time login
link (a browser), turned into a short-lived session token; and signed links to evidence files.

Every token is single-purpose: its HMAC tag covers a purpose word (``board-session``,
``board-file``) under the deployment's board key (``core.services.board.board_key``), so a
file link is no session and a session is no file link. A session names only the Telegram
user: whether they are still staff, and of which shops, is read from the database on every
call (a removed seller's open board stops working at its next refresh).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from aiogram.utils.web_app import WebAppInitData, safe_parse_webapp_init_data

from core.clock import ensure_utc

SESSION_SECONDS = 3600  # a board session lasts an hour; the page signs in again after that
FILE_SECONDS = 600  # an evidence link works for ten minutes
_TAG = 22  # characters of base64url HMAC-SHA256 kept: 132 bits


class AuthError(Exception):
    """The request does not prove who sends it: 401."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _tag(key: str, purpose: str, message: str) -> str:
    mac = hmac.new(key.encode(), f"{purpose}:{message}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")[:_TAG]


def make_session(
    key: str, user_id: int, language: str, now: datetime, seconds: int = SESSION_SECONDS
) -> str:
    """A session for a Telegram user, in the language the board speaks to them."""
    expires = int(ensure_utc(now).timestamp()) + seconds
    body = f"{user_id}.{expires}.{language}"
    return f"{body}.{_tag(key, 'board-session', body)}"


def read_session(key: str, token: str, now: datetime) -> tuple[int, str]:
    """The Telegram user id and language of a valid, unexpired session token."""
    parts = (token or "").split(".")
    if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit():
        raise AuthError("session_invalid")
    body = ".".join(parts[:3])
    if not hmac.compare_digest(parts[3], _tag(key, "board-session", body)):
        raise AuthError("session_invalid")
    if int(parts[1]) < ensure_utc(now).timestamp():
        raise AuthError("session_expired")
    return int(parts[0]), parts[2]


@dataclass(frozen=True, slots=True)
class FileLink:
    number: str
    sha256: str
    expires: int
    tag: str


def sign_file(
    key: str, number: str, sha256: str, now: datetime, purpose: str = "board-file"
) -> FileLink:
    """A short-lived link; ``purpose`` tells an evidence file (``board-file``), an export
    (``board-export``) and a claims pack (``board-claims``) apart: one is never the other."""
    expires = int(ensure_utc(now).timestamp()) + FILE_SECONDS
    return FileLink(number, sha256, expires, _tag(key, purpose, f"{number}:{sha256}:{expires}"))


def check_file(
    key: str,
    number: str,
    sha256: str,
    expires: str,
    tag: str,
    now: datetime,
    purpose: str = "board-file",
) -> None:
    if not expires.isdigit():
        raise AuthError("file_link_invalid")
    wanted = _tag(key, purpose, f"{number}:{sha256}:{expires}")
    if not hmac.compare_digest(tag, wanted):
        raise AuthError("file_link_invalid")
    if int(expires) < ensure_utc(now).timestamp():
        raise AuthError("file_link_expired")


def check_init_data(bot_token: str, init_data: str, now: datetime, max_age: int) -> WebAppInitData:
    """Telegram's ``initData``, its signature checked by aiogram's helper and its age here (the
    helper does not look at it): at most ``max_age`` seconds old, and not from the future."""
    try:
        data = safe_parse_webapp_init_data(bot_token, init_data)
    except (ValueError, TypeError):
        raise AuthError("init_data_invalid") from None
    if data.user is None:
        raise AuthError("init_data_invalid")
    age = ensure_utc(now).timestamp() - ensure_utc(data.auth_date).timestamp()
    if age > max_age or age < -300:  # five minutes of clock skew are forgiven
        raise AuthError("init_data_too_old")
    return data

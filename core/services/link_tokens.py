"""Signed deep-link tokens that a store puts in its order e-mail: t.me/<bot>?start=<token>.

Telegram allows 1–64 characters from [A-Za-z0-9_-] in a start parameter. The token is
``o`` + base64url("<shop>:<order key>") + a 16-character HMAC-SHA256 tag under the shop's
secret, so a buyer cannot forge one for somebody else's order and a token made for one shop
fails in every other.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

from core.errors import ValidationFailed

MAX_LENGTH = 64
_TAG_LENGTH = 16
_PREFIX = "o"
_ALPHABET = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class TokenError(ValidationFailed):
    code = "link_token_invalid"


def _tag(secret: str, message: bytes) -> str:
    mac = hmac.new(secret.encode(), b"order-link:" + message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")[:_TAG_LENGTH]


def make_order_token(shop: str, number_key: str, secret: str) -> str:
    message = f"{shop}:{number_key}".encode()
    body = base64.urlsafe_b64encode(message).decode().rstrip("=")
    token = f"{_PREFIX}{body}{_tag(secret, message)}"
    if len(token) > MAX_LENGTH:
        raise TokenError(
            f"the link token would be {len(token)} characters; Telegram allows {MAX_LENGTH}",
            length=len(token),
        )
    return token


def read_order_token(token: str) -> tuple[str, str, str]:
    """Split a token into (shop, order key, tag) without trusting it; verify with the secret."""
    if not _ALPHABET.match(token or "") or not token.startswith(_PREFIX):
        raise TokenError("not an order link")
    body, tag = token[len(_PREFIX) : -_TAG_LENGTH], token[-_TAG_LENGTH:]
    try:
        message = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise TokenError("not an order link") from exc
    shop, sep, key = message.partition(":")
    if not sep or not shop or not key:
        raise TokenError("not an order link")
    return shop, key, tag


def verify_order_token(token: str, secret_for_shop) -> tuple[str, str]:
    """(shop, order key) when the tag matches the shop's secret; TokenError otherwise."""
    shop, key, tag = read_order_token(token)
    secret = secret_for_shop(shop)
    if secret is None:
        raise TokenError("not an order link")
    expected = _tag(secret, f"{shop}:{key}".encode())
    if not hmac.compare_digest(expected, tag):
        raise TokenError("not an order link")
    return shop, key


# ── staff invitations ──────────────────────────────────────────────────────────────────────
# ``s`` + a random nonce + a 16-character HMAC-SHA256 tag under the deployment's invitation
# key (kept in the database, never a shop's link_secret: whoever can sign order links cannot
# mint staff). The token grants nothing by itself: the ``invitations`` row with that nonce
# says which shops, which role, until when, and whether it was used or revoked.

_INVITE = "s"
NONCE_LENGTH = 22  # 16 random bytes in base64url
_NONCE = re.compile(rf"^[A-Za-z0-9_-]{{{NONCE_LENGTH}}}$")


def _invite_tag(key: str, nonce: str) -> str:
    mac = hmac.new(key.encode(), b"staff-invite:" + nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")[:_TAG_LENGTH]


def make_invite_token(nonce: str, key: str) -> str:
    """The /start parameter of an invitation: 39 characters of [A-Za-z0-9_-]."""
    if not _NONCE.match(nonce):
        raise TokenError("an invitation nonce is 22 characters of base64url")
    return f"{_INVITE}{nonce}{_invite_tag(key, nonce)}"


def verify_invite_token(token: str, key: str) -> str:
    """The invitation's nonce when the tag matches the invitation key; TokenError otherwise."""
    if (
        not _ALPHABET.match(token or "")
        or not token.startswith(_INVITE)
        or len(token) != len(_INVITE) + NONCE_LENGTH + _TAG_LENGTH
    ):
        raise TokenError("not an invitation", code="invite_invalid")
    nonce, tag = token[len(_INVITE) : -_TAG_LENGTH], token[-_TAG_LENGTH:]
    if not hmac.compare_digest(_invite_tag(key, nonce), tag):
        raise TokenError("not an invitation", code="invite_invalid")
    return nonce

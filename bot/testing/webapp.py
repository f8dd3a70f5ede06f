"""Telegram Mini App launch data, signed as Telegram signs it, for the board's tests: what
``Telegram.WebApp.initData`` holds when a person opens the bot's Mini App.

Telegram's rule (core.telegram.org/bots/webapps, "Validating data received via the Mini
App"): the fields but ``hash``, sorted by key, as ``key=value`` lines; their HMAC-SHA256 under
the key HMAC-SHA256("WebAppData", bot token) is the ``hash``.

:data:`TELEGRAM_WEB_APP_JS` stands in for https://telegram.org/js/telegram-web-app.js in a
browser test (served on loopback, or fulfilled by the browser's request routing): it sets
``window.Telegram.WebApp`` with that initData, the theme's CSS variables and the back button.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode


def signed_init_data(
    token: str,
    user: dict[str, Any],
    auth_date: datetime,
    *,
    start_param: str | None = None,
    **extra: str,
) -> str:
    fields: dict[str, str] = {
        "auth_date": str(int(auth_date.timestamp())),
        "query_id": "AAH-test-query",
        "user": json.dumps(user, separators=(",", ":"), ensure_ascii=False),
        **extra,
    }
    if start_param is not None:
        fields["start_param"] = start_param
    check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


def telegram_web_app_js(init_data: str, *, dark: bool = False) -> str:
    """A stand-in for Telegram's script: initData, a theme (light or dark), a back button
    that the page can press (``window.__pressBack()``) and a record of what it was asked."""
    theme = (
        {
            "bg_color": "#17212b",
            "text_color": "#f5f5f5",
            "hint_color": "#708499",
            "button_color": "#5288c1",
            "button_text_color": "#ffffff",
            "secondary_bg_color": "#232e3c",
            "link_color": "#6ab3f3",
        }
        if dark
        else {
            "bg_color": "#ffffff",
            "text_color": "#000000",
            "hint_color": "#999999",
            "button_color": "#2481cc",
            "button_text_color": "#ffffff",
            "secondary_bg_color": "#f1f1f1",
            "link_color": "#2481cc",
        }
    )
    unsafe: dict[str, Any] = dict(parse_qsl(init_data))
    if "user" in unsafe:
        unsafe["user"] = json.loads(unsafe["user"])
    return f"""
(function () {{
  const theme = {json.dumps(theme)};
  const root = document.documentElement.style;
  for (const [key, value] of Object.entries(theme))
    root.setProperty("--tg-theme-" + key.replaceAll("_", "-"), value);
  const backHandlers = [];
  window.__telegramCalls = [];
  window.__pressBack = () => backHandlers.forEach((f) => f());
  window.Telegram = {{ WebApp: {{
    initData: {json.dumps(init_data)},
    initDataUnsafe: {json.dumps(unsafe, ensure_ascii=False)},
    colorScheme: {json.dumps("dark" if dark else "light")},
    themeParams: theme,
    ready() {{ window.__telegramCalls.push("ready"); }},
    expand() {{ window.__telegramCalls.push("expand"); }},
    BackButton: {{
      isVisible: false,
      show() {{ this.isVisible = true; }},
      hide() {{ this.isVisible = false; }},
      onClick(f) {{ backHandlers.push(f); }},
    }},
    HapticFeedback: {{ notificationOccurred() {{}} }},
  }} }};
}})();
"""

"""The Bot API method table that the fake checks every request against.

``bot_api_methods.json`` (beside this file) is a compact extract of the machine-readable Bot
API reference (``api.json`` of PaulSonOfLars/telegram-bot-api-spec, MIT licence): for every
method, each parameter's name, its types as Telegram writes them (``"Integer or String"``,
``"InputFile or String"``, ``"Array of MessageEntity"``…) and whether it is required. It lives in
the repository so that the tests need nothing outside it. Regenerate it after a Bot API update,
from a downloaded ``api.json`` of that project:

    python -m bot.testing.bot_api_spec path/to/api.json
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["SPEC_FILE", "Param", "bot_api_version", "method_params", "regenerate"]

SPEC_FILE = Path(__file__).with_name("bot_api_methods.json")


@dataclass(frozen=True)
class Param:
    name: str
    types: str  # as in the reference: "Integer or String", "Array of BotCommand", …
    required: bool


@cache
def _load() -> tuple[str, dict[str, tuple[Param, ...]]]:
    data = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    methods = {
        name: tuple(Param(p_name, p_types, p_required) for p_name, p_types, p_required in params)
        for name, params in data["methods"].items()
    }
    return data["version"], methods


def bot_api_version() -> str:
    return _load()[0]


@cache
def _by_lower_name() -> dict[str, str]:
    return {name.lower(): name for name in _load()[1]}


def method_params(method: str) -> tuple[str, tuple[Param, ...]] | None:
    """``(canonical name, params)`` for a method name in any case, or None if there is none."""
    name = _by_lower_name().get(method.lower())
    if name is None:
        return None
    return name, _load()[1][name]


def regenerate(api_json: Path, out: Path = SPEC_FILE) -> None:
    """Write ``out`` from a full ``api.json`` (one method per line, stable order)."""
    spec = json.loads(api_json.read_text(encoding="utf-8"))
    lines = []
    for name in sorted(spec["methods"]):
        params = [
            [field["name"], " or ".join(field["types"]), bool(field["required"])]
            for field in spec["methods"][name].get("fields", [])
        ]
        lines.append(f"    {json.dumps(name)}: {json.dumps(params, ensure_ascii=False)}")
    header = {
        "version": spec["version"],
        "source": "api.json of github.com/PaulSonOfLars/telegram-bot-api-spec (MIT licence)",
    }
    body = ",\n".join(lines)
    head = json.dumps(header, ensure_ascii=False, indent=2)[:-2]
    out.write_text(f'{head},\n  "methods": {{\n{body}\n  }}\n}}\n', encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bot.testing.bot_api_spec path/to/api.json")
    source = Path(sys.argv[1])
    regenerate(source)
    print(f"{SPEC_FILE} written from {source} ({bot_api_version()})")

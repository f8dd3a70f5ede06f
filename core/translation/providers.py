"""The machine translators people's words may be sent to, each only when configured.

Each provider takes texts already protected (``core.translation.protect``: markup with the
spans that must not change wrapped in ``<x>``) and returns plain translated texts. Any failure
raises; the service then tries the next provider.

- LibreTranslate (self-hosted or any compatible server): ``GET /languages``, ``POST
  /translate`` with ``format=html``, the protected spans as ``<span translate="no">``.
- DeepL: ``POST /v2/translate`` with the texts in one batch, ``tag_handling=xml``,
  ``ignore_tags=x`` and the configured ``formality``; the key from an environment variable.
- Apertium: the ``apertium`` command (Debian's packages), offline, for the pairs installed;
  a gist, so for the buyer's words to staff only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Protocol

import aiohttp

from core.translation.config import Apertium as ApertiumSettings
from core.translation.config import DeepL as DeepLSettings
from core.translation.config import LibreTranslate as LibreSettings
from core.translation.protect import unmark

log = logging.getLogger("returns_desk.translation")

LANGUAGES_KEPT_SECONDS = 3600.0  # a server's list of languages is asked again after this


class ProviderError(RuntimeError):
    """The provider could not translate (unreachable, refused, a malformed answer)."""


class Provider(Protocol):
    name: str
    gist_only: bool  # good enough to read, not to send: buyer → staff only

    async def supports(self, source: str, target: str) -> bool: ...

    async def translate(self, markup: list[str], source: str, target: str) -> list[str]: ...


def _base(language: str) -> str:
    return language.replace("-", "_").split("_")[0].lower()


def _is_traditional(language: str) -> bool:
    return language.replace("-", "_").lower() in ("zh_hant", "zh_tw", "zh_hk")


class LibreTranslate:
    name = "libretranslate"
    gist_only = False

    def __init__(self, settings: LibreSettings, timeout: float) -> None:
        self.url = str(settings.url).rstrip("/")
        self.api_key = os.environ.get(settings.api_key_env) if settings.api_key_env else None
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._pairs: dict[str, set[str]] | None = None
        self._pairs_at = 0.0

    def _candidates(self, language: str) -> list[str]:
        if _is_traditional(language):
            return ["zt", "zh-Hant", "zh-TW"]
        if _base(language) == "zh":
            return ["zh", "zh-Hans", "zh-CN"]
        return [_base(language)]

    async def _languages(self) -> dict[str, set[str]]:
        if self._pairs is not None and time.monotonic() - self._pairs_at < LANGUAGES_KEPT_SECONDS:
            return self._pairs
        async with (
            aiohttp.ClientSession(timeout=self.timeout) as session,
            session.get(f"{self.url}/languages") as response,
        ):
            if response.status != 200:
                raise ProviderError(f"GET /languages answered {response.status}")
            listed = await response.json()
        self._pairs = {
            str(entry["code"]): {str(code) for code in entry.get("targets", [])} for entry in listed
        }
        self._pairs_at = time.monotonic()
        return self._pairs

    async def _codes(self, source: str, target: str) -> tuple[str, str] | None:
        pairs = await self._languages()
        for s in self._candidates(source):
            for t in self._candidates(target):
                if s in pairs and t in pairs[s]:
                    return s, t
        return None

    async def supports(self, source: str, target: str) -> bool:
        """Whether the server offers the pair; a server that cannot say raises (the service
        then rests it a while rather than waiting on it for every message)."""
        try:
            return await self._codes(source, target) is not None
        except (ValueError, KeyError, TypeError) as exc:  # an answer that is not a list
            raise ProviderError(f"GET /languages answered something else: {exc}") from exc

    async def translate(self, markup: list[str], source: str, target: str) -> list[str]:
        codes = await self._codes(source, target)
        if codes is None:
            raise ProviderError(f"{source}→{target} is not offered")
        body: dict[str, Any] = {
            "q": [
                m.replace("<x>", '<span translate="no">').replace("</x>", "</span>") for m in markup
            ],
            "source": codes[0],
            "target": codes[1],
            "format": "html",
        }
        if self.api_key:
            body["api_key"] = self.api_key
        async with (
            aiohttp.ClientSession(timeout=self.timeout) as session,
            session.post(f"{self.url}/translate", json=body) as response,
        ):
            if response.status != 200:
                raise ProviderError(f"POST /translate answered {response.status}")
            answer = await response.json()
        texts = answer.get("translatedText") if isinstance(answer, dict) else None
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or len(texts) != len(markup):
            raise ProviderError("POST /translate answered something else than the texts")
        return [unmark(str(text)) for text in texts]


# DeepL's languages among ours (https://developers.deepl.com/docs/getting-started/supported-languages)
_DEEPL = frozenset({"ar", "de", "en", "es", "fr", "it", "nl", "pl", "pt", "ru", "zh"})
_DEEPL_TARGET = {"en": "EN-GB", "pt": "PT-BR", "zh": "ZH-HANS"}


class DeepL:
    name = "deepl"
    gist_only = False

    def __init__(self, settings: DeepLSettings, timeout: float) -> None:
        self.url = str(settings.url).rstrip("/")
        self.key = os.environ.get(settings.auth_key_env)
        self.key_env = settings.auth_key_env
        self.formality = settings.formality
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    @staticmethod
    def _target(language: str) -> str:
        if _is_traditional(language):
            return "ZH-HANT"
        return _DEEPL_TARGET.get(_base(language), _base(language).upper())

    async def supports(self, source: str, target: str) -> bool:
        if not self.key:
            log.warning("DeepL is configured but %s is not set: not used", self.key_env)
            return False
        return _base(source) in _DEEPL and _base(target) in _DEEPL

    async def translate(self, markup: list[str], source: str, target: str) -> list[str]:
        body: dict[str, Any] = {
            "text": markup,
            "source_lang": _base(source).upper(),
            "target_lang": self._target(target),
            "tag_handling": "xml",
            "ignore_tags": ["x"],
        }
        if self.formality != "default":
            body["formality"] = self.formality
        headers = {"Authorization": f"DeepL-Auth-Key {self.key}"}
        async with (
            aiohttp.ClientSession(timeout=self.timeout) as session,
            session.post(f"{self.url}/v2/translate", json=body, headers=headers) as response,
        ):
            if response.status != 200:
                raise ProviderError(f"DeepL answered {response.status}")
            answer = await response.json()
        found = answer.get("translations") if isinstance(answer, dict) else None
        if not isinstance(found, list) or len(found) != len(markup):
            raise ProviderError("DeepL answered something else than the texts")
        return [unmark(str(item.get("text", ""))) for item in found]


# Apertium's ISO 639-3 codes for ours
_APERTIUM = {
    "en": "eng",
    "es": "spa",
    "fr": "fra",
    "pt": "por",
    "it": "ita",
    "de": "deu",
    "nl": "nld",
    "pl": "pol",
    "ru": "rus",
    "ar": "ara",
}


class Apertium:
    """The ``apertium`` command, run as a subprocess (never blocking the event loop)."""

    name = "apertium"
    gist_only = True

    def __init__(self, settings: ApertiumSettings, timeout: float) -> None:
        self.command = settings.command
        self.timeout = timeout
        self._pairs: frozenset[str] | None = None

    async def pairs(self) -> frozenset[str]:
        """The language pairs installed (``apertium -l``), asked once."""
        if self._pairs is None:
            try:
                process = await asyncio.create_subprocess_exec(
                    self.command,
                    "-l",
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                out, _ = await asyncio.wait_for(process.communicate(), self.timeout)
            except (OSError, TimeoutError) as exc:
                log.warning("apertium cannot be run (%s): not used", exc)
                out = b""
            self._pairs = frozenset(line.strip() for line in out.decode().split() if line.strip())
        return self._pairs

    def _pair(self, source: str, target: str) -> str | None:
        s, t = _APERTIUM.get(_base(source)), _APERTIUM.get(_base(target))
        return f"{s}-{t}" if s and t else None

    async def supports(self, source: str, target: str) -> bool:
        pair = self._pair(source, target)
        return pair is not None and pair in await self.pairs()

    async def translate(self, markup: list[str], source: str, target: str) -> list[str]:
        pair = self._pair(source, target)
        if pair is None:
            raise ProviderError(f"{source}→{target} is not installed")
        return [await self._one(unmark(text), pair) for text in markup]

    async def _one(self, text: str, pair: str) -> str:
        process = await asyncio.create_subprocess_exec(
            self.command,
            "-u",  # no marks on unknown words
            "-f",
            "txt",
            pair,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(text.encode()), self.timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        if process.returncode != 0:
            raise ProviderError(f"apertium {pair} failed: {err.decode(errors='replace')[:200]}")
        return out.decode().strip()

"""The translation port: ``translate(text, source, target)`` through the configured providers,
tried in order; cached in memory and stored (``message_translations``).

A provider that times out, fails or does not offer the pair is passed over for the next one;
when none can, the original is returned unchanged (``provider == "none"``) and the caller shows
it marked with its language. Nothing is sent anywhere unless a provider is configured.

Words for a buyer must keep every amount, date, number, link and address exactly
(``core.translation.protect``): a translation that changes one is not used (``lost`` names
what it lost) and the original goes instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from core.persistence.repositories.translations import TranslationRepository, text_hash
from core.translation import providers as p
from core.translation.config import TranslationSettings
from core.translation.detect import Detected, detect
from core.translation.protect import protect

if TYPE_CHECKING:
    from core.persistence.unit_of_work import UnitOfWork
    from core.services.context import CoreContext

log = logging.getLogger("returns_desk.translation")

NONE = "none"
KEPT_IN_MEMORY = 2000
REST_SECONDS = 60.0  # a provider that failed is not asked again for this long
UNSURE_BELOW = 0.5  # how alike the back-translation must be to what the agent wrote


class Direction(StrEnum):
    TO_STAFF = "to_staff"  # the buyer's words, read by staff: a gist is enough
    TO_BUYER = "to_buyer"  # an agent's words, sent to the buyer: exact or not at all


@dataclass(frozen=True)
class Translation:
    original: str
    text: str  # what to show: the translation, or the original when there is none
    source: str
    target: str
    provider: str = NONE
    lost: tuple[str, ...] = ()  # what a refused translation had changed (amounts, numbers …)
    created_at: datetime | None = None

    @property
    def machine(self) -> bool:
        return self.provider != NONE


def build_providers(settings: TranslationSettings) -> list[p.Provider]:
    made: dict[str, Callable[[], p.Provider]] = {
        "libretranslate": lambda: p.LibreTranslate(
            settings.libretranslate, settings.timeout_seconds
        ),
        "deepl": lambda: p.DeepL(settings.deepl, settings.timeout_seconds),
        "apertium": lambda: p.Apertium(settings.apertium, settings.timeout_seconds),
    }
    return [made[name]() for name in settings.providers if name in made]


def same_language(a: str, b: str) -> bool:
    return a.replace("-", "_").lower() == b.replace("-", "_").lower()


def similarity(original: str, back: str) -> float:
    """How alike two texts are, word by word (0 … 1): the original and its back-translation."""
    a, b = original.casefold().split(), back.casefold().split()
    return difflib.SequenceMatcher(None, a, b).ratio() if a or b else 1.0


@dataclass
class TranslationService:
    settings: TranslationSettings
    unit_of_work: Callable[[], UnitOfWork]
    now: Callable[[], datetime]
    providers: list[p.Provider] = field(default_factory=list)
    _memory: OrderedDict[tuple[str, str, str], Translation] = field(default_factory=OrderedDict)
    # a provider that failed rests a while, so that a server that is down costs one timeout
    # a minute rather than one per message: provider name → monotonic time it may try again
    _resting: dict[str, float] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return bool(self.providers)

    async def language_of(self, text: str, languages: tuple[str, ...], fallback: str) -> Detected:
        """The language ``text`` is written in (offline), stored with the message's hash; a
        text seen before keeps the language found then. With no provider nothing is
        translated, so the writer's chosen language (``fallback``) marks the original: the
        detector's model (about 60 MB resident) is never loaded."""
        if not self.enabled:
            return Detected(fallback, False)
        key = text_hash(text)
        async with self.unit_of_work() as uow:
            repo = TranslationRepository(uow.session)
            known = await repo.language(key)
            if known is not None:
                return Detected(*known)
            found = await asyncio.to_thread(detect, text, languages, fallback)
            try:
                await repo.set_language(key, found.language, found.detected, self.now())
                await uow.commit()
            except IntegrityError:
                await uow.rollback()
        return found

    async def warm_up(self, languages: tuple[str, ...]) -> None:
        """Load the detector's model (a second or two) before the first message needs it."""
        if self.enabled:
            await asyncio.to_thread(detect, "warming up the language model", languages, "en")

    async def translate(
        self,
        text: str,
        source: str,
        target: str,
        direction: Direction = Direction.TO_STAFF,
        *,
        store: bool = True,
    ) -> Translation:
        """``text`` in ``target``, by the first provider that can; else the original."""
        original = Translation(text, text, source, target)
        if not text.strip() or same_language(source, target) or not self.providers:
            return original
        key = (text_hash(text), source, target)
        remembered = self._memory.get(key) or await self._stored(key)
        usable = {
            x.name for x in self.providers if direction is Direction.TO_STAFF or not x.gist_only
        }
        if remembered is not None and remembered.provider in usable:
            self._memory[key] = remembered
            self._memory.move_to_end(key)
            return dataclasses.replace(remembered, original=text)
        protected = protect(text)
        lost: tuple[str, ...] = ()
        for provider in self.providers:
            if provider.gist_only and direction is Direction.TO_BUYER:
                continue
            if self._resting.get(provider.name, 0.0) > time.monotonic():
                continue
            try:
                if not await asyncio.wait_for(
                    provider.supports(source, target), self.settings.timeout_seconds
                ):
                    continue
                [translated] = await asyncio.wait_for(
                    provider.translate([protected.markup], source, target),
                    self.settings.timeout_seconds,
                )
            except Exception as exc:  # any failure: the next provider, never the caller's
                log.warning("%s could not translate %s→%s: %r", provider.name, source, target, exc)
                self._resting[provider.name] = time.monotonic() + REST_SECONDS
                continue
            missing = [s for s in protected.spans if translated.count(s) < protected.spans.count(s)]
            if missing and direction is Direction.TO_BUYER:
                log.warning("%s changed %s in a translation for a buyer", provider.name, missing)
                lost = tuple(dict.fromkeys(missing))
                continue
            result = Translation(text, translated, source, target, provider.name, (), self.now())
            if store:
                await self._store(key, result)
            self._memory[key] = result
            while len(self._memory) > KEPT_IN_MEMORY:
                self._memory.popitem(last=False)
            return result
        return dataclasses.replace(original, lost=lost)

    async def _stored(self, key: tuple[str, str, str]) -> Translation | None:
        async with self.unit_of_work() as uow:
            row = await TranslationRepository(uow.session).get(*key)
        if row is None:
            return None
        return Translation(
            "", row.text, row.source_language, row.target_language, row.provider, (), row.created_at
        )

    async def _store(self, key: tuple[str, str, str], result: Translation) -> None:
        try:
            async with self.unit_of_work() as uow:
                try:
                    await TranslationRepository(uow.session).add(
                        key[0], key[1], key[2], result.provider, result.text, self.now()
                    )
                    await uow.commit()
                except IntegrityError:  # another process stored it meanwhile
                    await uow.rollback()
        except Exception:  # a cache: failing to keep it must not lose the translation
            log.exception("a translation could not be stored")


def service_of(core: CoreContext) -> TranslationService:
    """The deployment's translation service, made from its configuration on first use."""
    if core.translation is None:
        settings = core.config.translation
        core.translation = TranslationService(
            settings, core.unit_of_work, core.now, build_providers(settings)
        )
    return core.translation

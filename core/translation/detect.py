"""Which language a message is written in, offline (py3langid, restricted to the languages
the product speaks). Too short or unsure: the writer's chosen language."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache

from core.translation.protect import SPANS

MIN_LETTERS = 12  # fewer letters than this say too little ("ok", "gracias")
MIN_CONFIDENCE = 0.9

_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Detected:
    language: str
    detected: bool  # False: the fallback (too short or unsure)


def base(language: str) -> str:
    """The langid code of one of our languages: zh_Hant and zh are both Chinese."""
    return language.replace("-", "_").split("_")[0].lower()


@cache
def _identifier(languages: tuple[str, ...]):  # type: ignore[no-untyped-def]
    from py3langid.langid import MODEL_FILE, LanguageIdentifier  # loaded on first use

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(languages))
    # The full model (100,053 features x 142 languages, 28 MB) is kept only to restrict it
    # again; ours is restricted once for the process's lifetime, so let it go.
    identifier._full_model = None
    return identifier


def _weight(text: str) -> int:
    """Letters, a CJK character counting for three (it says as much as a short word)."""
    return sum(
        (3 if "\u2e80" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" else 1)
        for ch in text
        if ch.isalpha()
    )


def detect(text: str, languages: tuple[str, ...], fallback: str) -> Detected:
    """The language of ``text`` among ``languages`` (our catalogue codes), else ``fallback``.
    Numbers, codes, links and addresses are left out of the judgement."""
    words = SPANS.sub(" ", text)
    if _weight(words) < MIN_LETTERS:
        return Detected(fallback, False)
    by_base: dict[str, str] = {}
    for language in languages:
        by_base.setdefault(base(language), language)
    if base(fallback) in by_base:
        by_base[base(fallback)] = fallback  # zh_Hant writer: Chinese is zh_Hant for them
    with _lock:  # the identifier is not thread-safe
        found, confidence = _identifier(tuple(sorted(by_base))).classify(words)
    if confidence < MIN_CONFIDENCE or found not in by_base:
        return Detected(fallback, False)
    return Detected(by_base[found], True)

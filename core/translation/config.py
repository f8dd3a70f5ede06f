"""The ``[translation]`` section of the configuration file: which providers translate people's
own words, tried in order, and when an agent sees a preview first. Nothing is sent anywhere
unless a provider is named here; keys are read from environment variables, never the file."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

ProviderName = Literal["none", "libretranslate", "deepl", "apertium"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LibreTranslate(_Strict):
    url: HttpUrl = HttpUrl("http://127.0.0.1:5000")
    api_key_env: str | None = (
        None  # the environment variable holding the key, if the server wants one
    )


class DeepL(_Strict):
    url: HttpUrl = HttpUrl("https://api-free.deepl.com")  # api.deepl.com for a Pro key
    auth_key_env: str = "DEEPL_AUTH_KEY"
    formality: Literal["default", "prefer_more", "prefer_less"] = "prefer_more"


class Apertium(_Strict):
    command: str = "apertium"


class TranslationSettings(_Strict):
    """``providers``: tried in order until one translates; ``[]`` or ``["none"]`` (the
    default): nothing is translated, people read the original marked with its language.
    ``ask``: when an agent first sees what the buyer will read (``always``, ``when_unsure``:
    when the back-translation strays from what they wrote, ``never``)."""

    providers: tuple[ProviderName, ...] = ()
    ask: Literal["always", "when_unsure", "never"] = "when_unsure"
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 8.0
    libretranslate: LibreTranslate = LibreTranslate()
    deepl: DeepL = DeepL()
    apertium: Apertium = Apertium()

    @field_validator("providers")
    @classmethod
    def _none_alone(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "none" in value and len(value) > 1:
            raise ValueError('"none" means no provider: list it alone, or leave it out')
        if len(set(value)) != len(value):
            raise ValueError("a provider is listed twice")
        return tuple(name for name in value if name != "none")

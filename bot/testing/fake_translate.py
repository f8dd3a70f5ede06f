"""Fake machine translators on loopback, for tests: a LibreTranslate-compatible server and a
DeepL API server, each translating with a phrase book.

::

    async with FakeLibreTranslate({("es", "zh"): {"La lámpara": "台灯"}}) as libre:
        ...  # [translation] providers = ["libretranslate"], libretranslate.url = libre.url

They behave as the real ones do where it matters here: LibreTranslate lists its languages on
``GET /languages`` and translates ``POST /translate`` (``q`` a text or a list; ``format=html``
leaves ``<span translate="no">`` alone); DeepL takes ``POST /v2/translate`` with a batch of
``text``, checks the ``DeepL-Auth-Key``, and with ``tag_handling=xml`` leaves the
``ignore_tags`` alone. Words the phrase book does not know stay as they are.

What a test can do: ``down`` (every request answers 503), ``drop_numbers`` (digits vanish
from the translation, protected spans included: a bad translation), and read ``requests``
(every text-carrying body received, to check what was sent where) and, for LibreTranslate,
``listed`` (how many times its languages were asked).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

Book = dict[tuple[str, str], dict[str, str]]


class _Fake:
    def __init__(self, book: Book | None = None, *, host: str = "127.0.0.1") -> None:
        self.book: Book = {pair: dict(words) for pair, words in (book or {}).items()}  # own copy
        self.host = host
        self.port = 0
        self.down = False
        self.drop_numbers = False
        self.requests: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the server is not started")
        return f"http://{self.host}:{self.port}"

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        app = web.Application()
        self.routes(app)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, self.host, 0).start()
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> _Fake:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _translate(self, text: str, source: str, target: str, keep: re.Pattern[str]) -> str:
        """The phrase book's words outside the kept spans (longest phrase first)."""
        phrases = self.book.get((source, target), {})
        out: list[str] = []
        last = 0
        for match in keep.finditer(text):
            out.append(self._phrases(text[last : match.start()], phrases))
            out.append(match.group(0))
            last = match.end()
        out.append(self._phrases(text[last:], phrases))
        result = "".join(out)
        return re.sub(r"\d", "", result) if self.drop_numbers else result

    @staticmethod
    def _phrases(text: str, phrases: dict[str, str]) -> str:
        for phrase in sorted(phrases, key=len, reverse=True):
            text = text.replace(phrase, phrases[phrase])
        return text


class FakeLibreTranslate(_Fake):
    KEEP = re.compile(r'<span translate="no">.*?</span>', re.S)

    def __init__(self, book: Book | None = None, languages: tuple[str, ...] = (), **kw: Any):
        super().__init__(book, **kw)
        # every language may go to every other one unless told otherwise
        self.languages = languages or ("en", "es", "zh", "ru", "fr", "de", "pt", "ar")
        self.listed = 0  # how many times GET /languages was asked

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/languages", self._languages)
        app.router.add_post("/translate", self._translate_route)

    async def _languages(self, request: web.Request) -> web.Response:
        self.listed += 1
        if self.down:
            return web.json_response({"error": "down"}, status=503)
        return web.json_response(
            [
                {"code": code, "name": code, "targets": [t for t in self.languages if t != code]}
                for code in self.languages
            ]
        )

    async def _translate_route(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if self.down:
            return web.json_response({"error": "down"}, status=503)
        source, target = body.get("source"), body.get("target")
        if source not in self.languages or target not in self.languages:
            return web.json_response({"error": f"{source}→{target} not supported"}, status=400)
        texts = body["q"] if isinstance(body["q"], list) else [body["q"]]
        keep = self.KEEP if body.get("format") == "html" else re.compile(r"(?!)")
        translated = [self._translate(text, source, target, keep) for text in texts]
        return web.json_response(
            {"translatedText": translated if isinstance(body["q"], list) else translated[0]}
        )


class FakeDeepL(_Fake):
    def __init__(self, book: Book | None = None, *, auth_key: str = "fake-key", **kw: Any):
        super().__init__(book, **kw)
        self.auth_key = auth_key

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/translate", self._translate_route)

    async def _translate_route(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"DeepL-Auth-Key {self.auth_key}":
            return web.json_response({"message": "Wrong key"}, status=403)
        body = await request.json()
        self.requests.append(body)
        if self.down:
            return web.json_response({"message": "Service unavailable"}, status=503)
        source = str(body.get("source_lang", "")).lower()
        target = str(body["target_lang"]).lower().split("-")[0]
        keep = re.compile(r"(?!)")
        if body.get("tag_handling") == "xml":
            tags = "|".join(re.escape(tag) for tag in body.get("ignore_tags", [])) or "(?!)"
            keep = re.compile(rf"<({tags})>.*?</\1>", re.S)
        return web.json_response(
            {
                "translations": [
                    {
                        "detected_source_language": source.upper(),
                        "text": self._translate(text, source, target, keep),
                    }
                    for text in body["text"]
                ]
            }
        )

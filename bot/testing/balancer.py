"""A round-robin HTTP reverse proxy on loopback: several bot processes behind one webhook URL.

::

    async with RoundRobinBalancer([bot_a_url, bot_b_url]) as balancer:
        await bot.set_webhook(f"{balancer.url}/webhook", secret_token=...)

Each request (any method, path, query string, headers, body) goes to the next target base URL
in turn; the target's status, headers and body come back. Hop-by-hop headers are not passed
on. A target that refuses the connection is skipped for the next one, as nginx does with
``proxy_next_upstream error``; 502 when every target refuses, or when the chosen target fails
after connecting. ``forwarded`` counts the requests each target answered.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["RoundRobinBalancer"]

# headers about one connection, not the request (RFC 9110 §7.6.1), and the ones aiohttp
# recomputes for the body it sends
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


class RoundRobinBalancer:
    """Forwards requests on ``http://<host>:<port>`` to ``targets`` in turn (port 0: a free one)."""

    def __init__(self, targets: list[str], host: str = "127.0.0.1", port: int = 0) -> None:
        if not targets:
            raise ValueError("a balancer needs at least one target")
        self.targets = [target.rstrip("/") for target in targets]
        self.host = host
        self.port = port
        self.forwarded: dict[str, int] = dict.fromkeys(self.targets, 0)
        self._next = 0
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the balancer is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, self.host, self.port).start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        # bodies pass through as they are (no decompression), no cookies kept between clients
        self._http = aiohttp.ClientSession(
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
        )

    async def close(self) -> None:
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        await runner.cleanup()
        if self._http is not None:
            await self._http.close()

    async def __aenter__(self) -> RoundRobinBalancer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._http is not None
        body = await request.read()
        headers = _end_to_end(request.headers)
        first, self._next = self._next, (self._next + 1) % len(self.targets)
        for step in range(len(self.targets)):
            target = self.targets[(first + step) % len(self.targets)]
            try:
                async with self._http.request(
                    request.method,
                    target + request.raw_path,  # path and query string, as received
                    headers=headers,
                    data=body or None,  # no body: none sent (nor Content-Length)
                    allow_redirects=False,
                    # only what the client sent: no User-Agent, Content-Type… of aiohttp's
                    skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                ) as answer:
                    answer_body = await answer.read()
            except aiohttp.ClientConnectorError:
                continue  # refused (or unresolvable): nothing was sent, try the next one
            except aiohttp.ClientError:
                return _bad_gateway()  # it got the request: sending it twice could repeat it
            self.forwarded[target] += 1
            return web.Response(
                status=answer.status,
                reason=answer.reason,
                headers=_end_to_end(answer.headers),
                body=answer_body,
            )
        return _bad_gateway()


def _end_to_end(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """The headers without the hop-by-hop ones (and those named by ``Connection``)."""
    named = {h.strip().lower() for h in headers.get("Connection", "").split(",") if h.strip()}
    return CIMultiDict(
        (name, value)
        for name, value in headers.items()
        if name.lower() not in HOP_BY_HOP and name.lower() not in named
    )


def _bad_gateway() -> web.Response:
    return web.Response(status=502, text="502 Bad Gateway")

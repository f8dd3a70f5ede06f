"""The board's HTTP side: the page, its JSON API and the evidence files, as an aiohttp
application mounted at ``/board/`` on the bot's own server (the webhook process, or
``returns-desk web`` beside a polling bot).

Every call but the page and the sign-in carries ``Authorization: Bearer <session>`` (from
``POST /board/api/session``) and acts as that person, through the same core services as the
buttons: the core checks their role and shops (another shop's case: 404, as a case that does
not exist), and every change names the version of the case the page showed (a case changed
meanwhile: 409 with the case as it stands, nothing applied).

The page refreshes by polling (``POLL_SECONDS``, in board.js) rather than server-sent events
or a WebSocket: one short GET every few seconds works through every proxy and load balancer
as they are (nginx needs no streaming setup, no connection stays open per seller), any
process behind the balancer can answer it, and a stopped process loses nothing.
"""

from __future__ import annotations

import asyncio
import io
import logging
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.board import auth
from bot.board import views as board_views
from bot.views import texts
from bot.views.i18n import Catalogs, Translator, resolve_language
from core.cases.lifecycle import CaseStatus
from core.cases.model import Actor, Case
from core.cases.reasons import Reason, Resolution
from core.errors import Conflict, CoreError, Forbidden, NotFound
from core.money import Money, MoneyError
from core.services import board as board_service
from core.services import cases as case_service
from core.services import export as export_service
from core.services import people
from core.services import staff as staff_service
from core.services.context import CoreContext
from core.services.staff import StaffIdentity

log = logging.getLogger("returns_desk.board")

STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/board/"
INIT_DATA_MAX_AGE = 3600  # seconds: Telegram's initData older than this is refused
MAX_BULK = 50  # cases in one bulk action or export
THUMB_PIXELS = 320
NONE_WORDS = frozenset({"-", "—"})
EXPORT_PURPOSE = "board-export"  # the signed export link's purpose word: no file link, no session


@dataclass
class Board:
    core: CoreContext
    catalogs: Catalogs
    bot_token: str
    max_age: int = INIT_DATA_MAX_AGE
    _key: str | None = None

    async def key(self) -> str:
        if self._key is None:
            self._key = await board_service.board_key(self.core)
        return self._key

    def now(self) -> datetime:
        return self.core.now()


BOARD: web.AppKey[Board] = web.AppKey("board", Board)


@dataclass(frozen=True)
class Caller:
    staff: StaffIdentity
    tr: Translator

    @property
    def actor(self) -> Actor:
        return self.staff.actor


def _json(data: Any, status: int = 200) -> web.Response:
    response = web.json_response(data, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _problem(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return _json({"error": code, "message": message, **extra}, status)


def _tr_for(board: Board, request: web.Request) -> Translator:
    """Before anybody is known (a refused sign-in, a link): the browser's language."""
    accepted = request.headers.get("Accept-Language", "")
    tags = [part.split(";")[0].strip() for part in accepted.split(",")]
    return board.catalogs.get(resolve_language(*tags))


async def _language(core: CoreContext, user_id: int, telegram: str | None) -> str:
    return resolve_language(await board_service.reading_language(core, user_id, telegram))


async def _identify(board: Board, user_id: int, name: str | None = None) -> StaffIdentity | None:
    if name is None:
        chat = await people.chat_user(board.core, user_id)
        name = chat.first_name if chat is not None else None
    return await staff_service.identify(board.core, user_id, name)


Handler = Callable[[web.Request, Caller], Awaitable[web.StreamResponse]]


def authenticated(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The session's person, still staff (read afresh), in the language the page speaks; a
    core refusal as its sentence and HTTP status."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        board = request.app[BOARD]
        tr = _tr_for(board, request)
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        try:
            user_id, language = auth.read_session(await board.key(), token, board.now())
        except auth.AuthError as exc:
            return _problem(401, exc.code, board_views.auth_error(tr, exc.code))
        tr = board.catalogs.get(language)
        staff = await _identify(board, user_id)
        if staff is None:
            return _problem(403, "not_staff", board_views.auth_error(tr, "not_staff"))
        try:
            return await handler(request, Caller(staff, tr))
        except CoreError as exc:
            return _core_problem(tr, exc)

    return wrapped


def _core_problem(tr: Translator, exc: CoreError, **extra: Any) -> web.Response:
    status = 422
    if isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, Forbidden):
        status = 403
    elif isinstance(exc, Conflict):
        status = 409
    return _problem(status, str(exc.code), board_views.plain(texts.error(tr, exc)), **extra)


# ── the page ───────────────────────────────────────────────────────────────────────────────


# The page runs its own script and Telegram's only, talks to its own server only, and may be
# framed by Telegram's web clients alone (they show Mini Apps in an iframe).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self' https://telegram.org; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'self' https://web.telegram.org https://*.telegram.org"
)


async def index(request: web.Request) -> web.StreamResponse:
    response = web.FileResponse(STATIC / "index.html")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


async def sign_in(request: web.Request) -> web.Response:
    """Telegram's initData (inside Telegram) or a login link's nonce (a browser) → a session."""
    board = request.app[BOARD]
    tr = _tr_for(board, request)
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return _problem(400, "bad_request", board_views.auth_error(tr, "init_data_invalid"))
    telegram_language = None
    name = None
    try:
        if isinstance(body.get("init_data"), str) and body["init_data"]:
            data = auth.check_init_data(
                board.bot_token, body["init_data"], board.now(), board.max_age
            )
            assert data.user is not None
            user_id, name = data.user.id, data.user.first_name
            telegram_language = data.user.language_code
        elif isinstance(body.get("login"), str) and body["login"]:
            user_id = await board_service.use_login(board.core, body["login"])
        else:
            raise auth.AuthError("init_data_invalid")
    except auth.AuthError as exc:
        return _problem(401, exc.code, board_views.auth_error(tr, exc.code))
    except NotFound as exc:
        return _problem(401, str(exc.code), board_views.auth_error(tr, str(exc.code)))
    staff = await _identify(board, user_id, name)
    language = await _language(board.core, user_id, telegram_language)
    tr = board.catalogs.get(language)
    if staff is None:
        return _problem(403, "not_staff", board_views.auth_error(tr, "not_staff"))
    token = auth.make_session(await board.key(), user_id, language, board.now())
    info = board_views.page_info(tr, language, staff.actor.name, staff.actor.role)
    info["shops"] = [
        {"id": shop, "name": board.core.config.shop(shop).name} for shop in staff.shops
    ]
    return _json({"token": token, **info})


# ── the list ───────────────────────────────────────────────────────────────────────────────


def _enum(kind: Any, value: str | None) -> Any:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        return None


@authenticated
async def list_cases(request: web.Request, caller: Caller) -> web.Response:
    query = request.query
    wanted = board_service.BoardFilter(
        status=_enum(CaseStatus, query.get("status")),
        reason=_enum(Reason, query.get("reason")),
        shop=query.get("shop") or None,
        supplier=query.get("supplier") or None,
        mine=query.get("mine") in ("1", "true"),
        query=query.get("q", ""),
    )
    found = await board_service.board_cases(request.app[BOARD].core, caller.actor, wanted)
    tr = caller.tr
    rows = [
        board_views.case_row(
            tr,
            row.case,
            row.order,
            row.waiting_on_me,
            row.case.available_actions(
                caller.actor, agents_on_duty=found.agents_on_duty.get(row.case.shop, True)
            ),
        )
        for row in found.rows
    ]
    return _json(
        {
            "cases": rows,
            "counts": found.counts,
            "suppliers": found.suppliers,
            "waiting_on_me": found.waiting_on_me,
        }
    )


# ── one case ───────────────────────────────────────────────────────────────────────────────


async def _page(request: web.Request, caller: Caller, number: str) -> dict[str, Any]:
    board = request.app[BOARD]
    view = await case_service.get_case(board.core, caller.actor, number)
    allowed = await case_service.available_actions(board.core, caller.actor, view.case)
    key = await board.key()
    evidence = []
    for n, item in enumerate(view.case.evidence, start=1):
        entry: dict[str, Any] = {"n": n, "kind": "video" if item.is_video else "photo"}
        if item.sha256 and board.core.evidence.exists(item.sha256):
            link = auth.sign_file(key, view.case.number, item.sha256, board.now())
            full = _file_url(link)
            entry["full"] = full
            entry["thumb"] = None if item.is_video else full + "&size=thumb"
        evidence.append(entry)
    page = board_views.case_page(
        caller.tr,
        view.case,
        view.order,
        view.timeline,
        allowed,
        evidence,
        mine=board_service.waits_on(view.case, caller.actor),
    )
    # the buyer's words in the reader's language, when the translation feature made them
    translated = await board_service.translations(
        board.core, [word["text"] for word in page["words"]], caller.tr.language
    )
    for word in page["words"]:
        if word["text"] in translated and translated[word["text"]] != word["text"]:
            word["translation"] = translated[word["text"]]
    return page


def _file_url(link: auth.FileLink) -> str:
    query = urlencode({"e": link.expires, "s": link.tag})
    return f"{PREFIX}files/{link.number}/{link.sha256}?{query}"


@authenticated
async def show_case(request: web.Request, caller: Caller) -> web.Response:
    return _json(await _page(request, caller, request.match_info["number"]))


def _text(body: dict[str, Any]) -> str:
    value = body.get("text")
    return value.strip() if isinstance(value, str) else ""


def _optional(body: dict[str, Any]) -> str | None:
    text = _text(body)
    return None if not text or text in NONE_WORDS else text


def _amount(text: str, currency: str) -> Money:
    try:
        return Money.parse(text.strip().replace(",", "."), currency)
    except MoneyError as exc:
        raise CoreError(str(exc), code="invalid_amount") from exc


async def perform(
    core: CoreContext, actor: Actor, case: Case, code: str, body: dict[str, Any], version: int
) -> Case:
    """One action, as its button would do it, on the version the page showed."""
    n, v = case.number, version
    match code:
        case "ok":
            resolution = _enum(Resolution, body.get("resolution"))
            if resolution is None:
                raise CoreError("no such outcome", code="resolution_not_allowed")
            return await case_service.approve(core, actor, n, resolution, expected_version=v)
        case "part":
            amount = _amount(str(body.get("amount") or _text(body)), case.currency)
            return await case_service.approve(
                core, actor, n, Resolution.PARTIAL_REFUND, refund_amount=amount, expected_version=v
            )
        case "no":
            return await case_service.reject(core, actor, n, _text(body), expected_version=v)
        case "info":
            return await case_service.request_info(core, actor, n, _text(body), expected_version=v)
        case "esc":
            return await case_service.escalate(core, actor, n, "seller_asked", expected_version=v)
        case "label":  # the instructions the buyer reads (a PDF label goes by the chat)
            if not _text(body):
                raise CoreError("the instructions are empty", code="empty")
            return await case_service.issue_label(core, actor, n, _text(body), expected_version=v)
        case "sent":
            return await case_service.mark_return_shipped(
                core, actor, n, _optional(body), expected_version=v
            )
        case "recv":
            return await case_service.mark_goods_received(core, actor, n, expected_version=v)
        case "lost":
            return await case_service.mark_goods_lost(
                core, actor, n, _optional(body), expected_version=v
            )
        case "paid":
            amount_text, _, reference = _text(body).partition(" ")
            return await case_service.record_refund(
                core,
                actor,
                n,
                _amount(amount_text, case.currency),
                reference.strip() or None,
                expected_version=v,
            )
        case "fail":
            return await case_service.record_refund_failed(
                core, actor, n, _optional(body), expected_version=v
            )
        case "ship":
            return await case_service.record_replacement(
                core, actor, n, _optional(body), expected_version=v
            )
        case "close":
            return await case_service.resolve(core, actor, n, expected_version=v)
        case "take":
            return await case_service.take_over(core, actor, n, expected_version=v)
        case "back":
            return await case_service.hand_back(core, actor, n, expected_version=v)
        case "cancel":
            return await case_service.cancel(core, actor, n, _text(body), expected_version=v)
        case "reopen":
            return await case_service.reopen(core, actor, n, expected_version=v)
    raise CoreError(f"unknown action {code!r}", code="unknown_action")


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise CoreError("not a JSON object", code="invalid")
    return body


def _version(body: dict[str, Any]) -> int:
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CoreError("the page must say which version it showed", code="invalid")
    return version


@authenticated
async def act(request: web.Request, caller: Caller) -> web.Response:
    board = request.app[BOARD]
    number = request.match_info["number"]
    body = await _body(request)
    version = _version(body)
    code = str(body.get("code") or "")
    view = await case_service.get_case(board.core, caller.actor, number)
    try:
        if view.case.version != version:
            raise Conflict("changed meanwhile", code="already_handled")
        await perform(board.core, caller.actor, view.case, code, body, version)
    except Conflict as exc:  # somebody else was first: the page gets the case as it stands
        fresh = await _page(request, caller, number)
        said = caller.tr("This case changed meanwhile: here it is as it stands now.")
        return _problem(409, str(exc.code), board_views.plain(said), case=fresh)
    return _json({"case": await _page(request, caller, number)})


# ── several cases at once ──────────────────────────────────────────────────────────────────


def _numbers(body: dict[str, Any]) -> list[dict[str, Any]]:
    items = body.get("cases")
    if not isinstance(items, list) or not items or len(items) > MAX_BULK:
        raise CoreError("name 1 to 50 cases", code="invalid")
    found = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("number"), str):
            raise CoreError("each case needs its number", code="invalid")
        found.append(item)
    return found


@authenticated
async def bulk(request: web.Request, caller: Caller) -> web.Response:
    """The same action on several cases (goods received): each case on its own, each with the
    version the page showed; one refused does not stop the others."""
    board = request.app[BOARD]
    body = await _body(request)
    code = body.get("code")
    if code not in board_views.BULK:
        raise CoreError("not a bulk action", code="unknown_action")
    results = []
    for item in _numbers(body):
        number = item["number"]
        try:
            view = await case_service.get_case(board.core, caller.actor, number)
            version = _version(item)
            if view.case.version != version:
                raise Conflict("changed meanwhile", code="already_handled")
            done = await perform(board.core, caller.actor, view.case, code, item, version)
            line = board_views.plain(
                caller.tr(
                    "Case {number}: {status}",
                    number=done.number,
                    status=texts.status_for(caller.tr, done.status, staff=True),
                )
            )
            results.append({"number": number, "ok": True, "message": line})
        except CoreError as exc:
            message = board_views.plain(texts.error(caller.tr, exc))
            results.append({"number": number, "ok": False, "message": f"{number}: {message}"})
    return _json({"results": results})


@authenticated
async def export_link(request: web.Request, caller: Caller) -> web.Response:
    """A short-lived link to one ZIP with the evidence pack of each case named (checked now
    and again when the link is opened)."""
    board = request.app[BOARD]
    numbers = [item["number"] for item in _numbers(await _body(request))]
    for number in numbers:  # another shop's case: 404 now, not a broken download later
        await case_service.get_case(board.core, caller.actor, number)
    assert caller.actor.user_id is not None
    link = auth.sign_file(
        await board.key(),
        ",".join(numbers),
        f"export-{caller.actor.user_id}",
        board.now(),
        EXPORT_PURPOSE,
    )
    query = urlencode(
        {"c": link.number, "u": caller.actor.user_id, "e": link.expires, "s": link.tag}
    )
    return _json({"url": f"{PREFIX}export?{query}", "filename": _export_name(board)})


def _export_name(board: Board) -> str:
    return f"evidence-packs-{board.now():%Y%m%d-%H%M}.zip"


async def _signed_download(
    request: web.Request, board: Board, tr: Translator, bound_to: str, purpose: str
) -> StaffIdentity | web.Response:
    """Who a signed download link was made for, or the answer to give instead: 401 when the
    link is forged, expired or of another purpose (it binds ``c``, ``bound_to`` and the user),
    403 when that user is no longer staff."""
    q = request.query
    user = q.get("u", "")
    try:
        auth.check_file(
            await board.key(),
            q.get("c", ""),
            f"{bound_to}-{user}",
            q.get("e", ""),
            q.get("s", ""),
            board.now(),
            purpose,
        )
    except auth.AuthError as exc:
        return _problem(401, exc.code, board_views.auth_error(tr, exc.code))
    staff = await _identify(board, int(user))
    if staff is None:
        return _problem(403, "not_staff", board_views.auth_error(tr, "not_staff"))
    return staff


def _zip_download(data: bytes, filename: str) -> web.Response:
    return web.Response(
        body=data,
        content_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


async def export_download(request: web.Request) -> web.StreamResponse:
    board = request.app[BOARD]
    tr = _tr_for(board, request)
    q = request.query
    staff = await _signed_download(request, board, tr, "export", EXPORT_PURPOSE)
    if isinstance(staff, web.Response):
        return staff
    buffer = io.BytesIO()
    try:
        packs = [
            await export_service.evidence_pack(board.core, staff.actor, number)
            for number in q["c"].split(",")
        ]
    except CoreError as exc:
        return _core_problem(tr, exc)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for pack in packs:  # each pack is a ZIP already: stored as it is
            archive.writestr(pack.filename, pack.data)
    return _zip_download(buffer.getvalue(), _export_name(board))


# ── evidence files ─────────────────────────────────────────────────────────────────────────


def _thumbnail(path: Path) -> bytes:
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        picture = ImageOps.exif_transpose(image).convert("RGB")
        picture.thumbnail((THUMB_PIXELS, THUMB_PIXELS))
        out = io.BytesIO()
        picture.save(out, "JPEG", quality=80)
    return out.getvalue()


async def evidence_file(request: web.Request) -> web.StreamResponse:
    """A photo or video of a case, by a link the case page signed (ten minutes)."""
    board = request.app[BOARD]
    tr = _tr_for(board, request)
    number, sha256 = request.match_info["number"], request.match_info["sha256"]
    try:
        auth.check_file(
            await board.key(),
            number,
            sha256,
            request.query.get("e", ""),
            request.query.get("s", ""),
            board.now(),
        )
    except auth.AuthError as exc:
        return _problem(401, exc.code, board_views.auth_error(tr, exc.code))
    store = board.core.evidence
    if not store.exists(sha256):
        return _problem(
            404, "not_found", board_views.plain(texts.error(tr, NotFound("gone", code="not_found")))
        )
    kind = store.sniff(sha256)
    headers = {"Cache-Control": "private, max-age=600", "X-Content-Type-Options": "nosniff"}
    if request.query.get("size") == "thumb" and kind is not None and kind.is_image:
        try:
            data = await asyncio.to_thread(_thumbnail, store.path_for(sha256))
        except Exception:  # a picture Pillow cannot read (HEIC): the original
            log.info("no thumbnail for %s", sha256[:12])
        else:
            return web.Response(body=data, content_type="image/jpeg", headers=headers)
    headers["Content-Type"] = kind.mime if kind is not None else "application/octet-stream"
    return web.FileResponse(store.path_for(sha256), headers=headers)


# ── the application ───────────────────────────────────────────────────────────────────────


@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def make_board_app(
    core: CoreContext,
    catalogs: Catalogs,
    *,
    bot_token: str,
    max_age: int = INIT_DATA_MAX_AGE,
) -> web.Application:
    app = web.Application(middlewares=[security_headers])
    app[BOARD] = Board(core, catalogs, bot_token, max_age)
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC)
    app.router.add_post("/api/session", sign_in)
    app.router.add_get("/api/cases", list_cases)
    app.router.add_get("/api/cases/{number}", show_case)
    app.router.add_post("/api/cases/{number}/act", act)
    app.router.add_post("/api/bulk", bulk)
    app.router.add_post("/api/export", export_link)
    app.router.add_get("/export", export_download)
    app.router.add_get("/files/{number}/{sha256:[0-9a-f]{64}}", evidence_file)
    from bot.board import claims  # supplier claims: it builds on this module

    claims.add_routes(app)
    return app


async def _to_board(request: web.Request) -> web.StreamResponse:
    raise web.HTTPMovedPermanently(
        PREFIX + (f"?{request.query_string}" if request.query_string else "")
    )


def mount(app: web.Application, board: web.Application) -> None:
    """Serve ``board`` at /board/ on ``app`` (the webhook server, or ``returns-desk web``)."""
    app.router.add_get(PREFIX.rstrip("/"), _to_board)  # first: the sub-app would take it
    app.add_subapp(PREFIX, board)


__all__ = ["Board", "make_board_app", "mount", "perform"]

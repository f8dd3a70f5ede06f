"""Supplier claims on the board: the list of the person's shops' claims per supplier (status,
case, amount claimed, deadline, the late flag), a move of a claim's lifecycle (only those it
allows now; "recover" with the amount the supplier paid), and a supplier's message and ZIP by
a short-lived signed link, each through the same core call as the chat's ``/claims`` buttons
(bot.conversations.supplier_claims) and in the chat's words (bot.views.supplier_claims).

Another shop's claim gets the answer a claim that does not exist gets (404): the core checks
every call. A move names the status the page showed: a claim moved meanwhile is answered 409
with the list as it stands, nothing applied.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.board import auth
from bot.board import views as board_views
from bot.board.api import (
    BOARD,
    PREFIX,
    Caller,
    _body,
    _core_problem,
    _json,
    _problem,
    _signed_download,
    _tr_for,
    _zip_download,
    authenticated,
)
from bot.conversations.supplier_claims import letter_writer
from bot.views import supplier_claims as claim_views
from bot.views.i18n import Translator
from core.errors import Conflict, CoreError, NotFound
from core.services import supplier_claims as claim_service
from core.suppliers.lifecycle import ClaimMove, ClaimStatus, SupplierClaim

PACK_PURPOSE = "claims"  # the signed link's second part: claims-<user>, never a file's sha256
LINK_PURPOSE = "board-claims"  # the signed link's purpose word: no file link, no export


def _names(request: web.Request) -> dict[str, str]:
    config = request.app[BOARD].core.config
    return {key: supplier.name for key, supplier in config.suppliers.items()}


def _move(tr: Translator, claim: SupplierClaim, move: ClaimMove, supplier: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"code": move.value, "label": claim_views.move_label(tr, move)}
    if move is ClaimMove.RECOVER:  # the chat's question for the amount
        entry["input"] = "amount"
        entry["question"] = board_views.plain(
            tr(
                "Type the amount {supplier} paid back, for example 12.50 (a currency code after "
                "it when it is not {currency}).",
                supplier=supplier,
                currency=claim.goods.currency,
            )
        )
    return entry


def claim_row(tr: Translator, claim: SupplierClaim, supplier: str) -> dict[str, Any]:
    """One claim as the page shows it, in the chat's words, as plain text."""
    return {
        "id": claim.id,
        "case": claim.case_number,
        "shop": claim.shop,
        "status": claim.status.value,
        "status_label": board_views.plain(claim_views.status_name(tr, claim.status)),
        "icon": claim_views.ICONS[claim.status],
        "claimed": board_views.plain(
            tr("Claimed: {amounts}", amounts=" + ".join(tr.money(m) for m in claim.claimed))
        ),
        "claimed_amounts": [m.as_dict() for m in claim.claimed],
        "recovered": (
            board_views.plain(tr("Recovered: {amount}", amount=claim.recovered))
            if claim.recovered is not None
            else None
        ),
        "deadline": claim.deadline_at.isoformat() if claim.deadline_at else None,
        "deadline_label": (
            board_views.plain(tr("by {date}", date=tr.date(claim.deadline_at)))
            if claim.deadline_at is not None and claim.is_open
            else None
        ),
        "late": claim.late,
        "warnings": [
            board_views.plain(line)
            for line in claim_views.warning_lines(tr, claim.warnings, supplier, claim.deadline_at)
        ],
        "supplier_order": board_views.plain(
            tr(
                "Supplier's order number: {number}",
                number=claim.supplier_order or tr("not given yet"),
            )
        ),
        "moves": [_move(tr, claim, move, supplier) for move in claim.allowed_moves()],
    }


async def _listing(request: web.Request, caller: Caller) -> dict[str, Any]:
    board = request.app[BOARD]
    tr = caller.tr
    every = request.query.get("all") in ("1", "true")
    found = await claim_service.list_claims(board.core, caller.actor, open_only=not every)
    names = _names(request)
    since = board.now() - timedelta(days=claim_service.BATCH_DAYS)
    groups: dict[str, dict[str, Any]] = {}
    for claim in found:
        name = names.get(claim.supplier, claim.supplier)
        group = groups.get(claim.supplier)
        if group is None:
            group = groups[claim.supplier] = {
                "supplier": claim.supplier,
                "name": name,
                "batch": None,
                "claims": [],
            }
        group["claims"].append(claim_row(tr, claim, name))
        if claim.status is ClaimStatus.DRAFT and claim.opened_at >= since and not group["batch"]:
            group["batch"] = board_views.plain(
                tr("{supplier}: this week's claims, one message and ZIP", supplier=name)
            )
    return {
        "suppliers": list(groups.values()),
        "title": board_views.plain(tr("Supplier claims, by supplier, nearest deadline first:")),
        "empty": board_views.plain(tr("No open supplier claims.")),
        "pack": board_views.plain(tr("Message and ZIP")),
    }


@authenticated
async def list_claims(request: web.Request, caller: Caller) -> web.Response:
    return _json(await _listing(request, caller))


def _claim_id(request: web.Request) -> int:
    text = request.match_info["claim"]
    if not text.isdigit() or len(text) > 18:
        raise NotFound("no such supplier claim", code="not_found")
    return int(text)


@authenticated
async def move_claim(request: web.Request, caller: Caller) -> web.Response:
    """One move, as its button in the chat makes it, on the status the page showed."""
    board = request.app[BOARD]
    tr = caller.tr
    claim_id = _claim_id(request)
    body = await _body(request)
    view = await claim_service.get_claim(board.core, caller.actor, claim_id)  # theirs? 404
    shown = body.get("status")
    made_for = ClaimStatus(shown) if shown in set(ClaimStatus) else None
    move = ClaimMove(body["move"]) if body.get("move") in set(ClaimMove) else None
    if move is None:
        raise CoreError("not a move of a supplier claim", code="invalid_transition")
    if made_for is None:  # the page always names it: without it, no stale-page check
        raise CoreError("the page must say which status it showed", code="invalid")
    try:
        if made_for is not view.claim.status:
            raise Conflict("moved meanwhile", code="already_handled")
        amount = None
        if move is ClaimMove.RECOVER:
            amount = str(body.get("amount") or "").strip()
            if not amount:
                raise CoreError("say how much the supplier paid", code="amount_required")
        moved = await claim_service.move(
            board.core, caller.actor, claim_id, move, amount=amount, expected_status=made_for
        )
    except Conflict as exc:  # another seller moved it first: the claims as they stand
        said = board_views.plain(tr("This claim has changed. Here is where it stands now."))
        return _problem(409, str(exc.code), said, **(await _listing(request, caller)))
    done = tr(
        "Supplier claim for case {case}: {status}",
        case=moved.case_number,
        status=claim_views.status_name(tr, moved.status),
    )
    return _json({"message": board_views.plain(done), **(await _listing(request, caller))})


@authenticated
async def pack_link(request: web.Request, caller: Caller) -> web.Response:
    """A ten-minute link to the message and ZIP for a supplier (``supplier``: their drafts of
    the last seven days, as the chat's button) or for one claim (``claim``); checked now and
    again when the link is opened."""
    board = request.app[BOARD]
    body = await _body(request)
    claim = body.get("claim")
    if isinstance(claim, int) and not isinstance(claim, bool) and claim > 0:
        await claim_service.get_claim(board.core, caller.actor, claim)  # theirs? 404
        what = f"c{claim}"
    elif isinstance(body.get("supplier"), str) and body["supplier"]:
        supplier = body["supplier"]
        since = board.now() - timedelta(days=claim_service.BATCH_DAYS)
        found = await claim_service.list_claims(board.core, caller.actor, supplier=supplier)
        if not any(c.status is ClaimStatus.DRAFT and c.opened_at >= since for c in found):
            said = caller.tr(
                "No draft claims on {supplier} from the last 7 days: /claims shows where each "
                "one stands.",
                supplier=_names(request).get(supplier, supplier),
            )
            return _problem(404, "not_found", board_views.plain(said))
        what = f"s{supplier}"
    else:
        raise CoreError("name a supplier or a claim", code="invalid")
    assert caller.actor.user_id is not None
    user = caller.actor.user_id
    link = auth.sign_file(
        await board.key(), what, f"{PACK_PURPOSE}-{user}", board.now(), LINK_PURPOSE
    )
    query = urlencode({"c": link.number, "u": user, "e": link.expires, "s": link.tag})
    filename = f"supplier-claims-{board.now():%Y%m%d-%H%M}.zip"
    return _json({"url": f"{PREFIX}claims-pack?{query}", "filename": filename})


async def pack_download(request: web.Request) -> web.StreamResponse:
    board = request.app[BOARD]
    tr = _tr_for(board, request)
    what = request.query.get("c", "")
    staff = await _signed_download(request, board, tr, PACK_PURPOSE, LINK_PURPOSE)
    if isinstance(staff, web.Response):
        return staff
    catalogs = board.catalogs
    try:
        pack = await claim_service.batch_pack(
            board.core,
            staff.actor,
            letter_writer(board.core, catalogs),
            claim_id=int(what[1:]) if what.startswith("c") else None,
            supplier=what[1:] if what.startswith("s") else None,
        )
    except CoreError as exc:
        return _core_problem(tr, exc)
    return _zip_download(pack.data, pack.filename)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/claims", list_claims)
    app.router.add_post("/api/claims/pack", pack_link)
    app.router.add_post("/api/claims/{claim}/move", move_claim)
    app.router.add_get("/claims-pack", pack_download)


__all__ = ["add_routes", "claim_row"]

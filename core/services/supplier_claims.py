"""Supplier claims: open one beside a case when it is approved and the supplier's terms cover
its reason, move it through its own lifecycle, and make the week's claims for one supplier
into one message (Chinese and English) and one ZIP without the buyer's personal data.

A claim is opened in the unit of work that approves the case (``open_on_approval``), with a
line in its history and a notice to the shop's sellers (asking for the supplier's order
number). Each move is one unit of work: the claim, its history line, and for ``recover`` the
amount as the case's ``supplier_credit`` cost (so the figures count what came back).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert

from core.analytics.costs import CostKind
from core.cases import events as ev
from core.cases.lifecycle import Role
from core.cases.model import Actor, Case
from core.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from core.money import Money, MoneyError
from core.orders.model import Order
from core.persistence.repositories.supplier_claims import ClaimEvent, SupplierClaimRepository
from core.persistence.sqlite_driver import long_statements
from core.persistence.tables import case_costs
from core.persistence.unit_of_work import UnitOfWork
from core.policy.config import Config
from core.services.access import check_actor_role, seller_ids, staff_shops
from core.services.audit import record_audit
from core.services.context import CoreContext
from core.suppliers import pack as supplier_pack
from core.suppliers.lifecycle import FINAL, ClaimMove, ClaimStatus, SupplierClaim
from core.suppliers.terms import CaseFacts, claims_for

NOTICE_KIND = "supplier_claim_opened"
POSTAGE_KINDS = (CostKind.RETURN_LABEL.value, CostKind.RESHIP_POSTAGE.value)
MAX_SUPPLIER_ORDER = 64
MAX_COST_MINOR = 10**13
BATCH_DAYS = 7
COLUMNS = (
    "reference",
    "supplier_order",
    "reason",
    "sku",
    "title",
    "quantity",
    "unit_cost",
    "line_total",
    "currency",
    "postage",
    "claimed",
    "deadline",
)


@dataclass(frozen=True, slots=True)
class ClaimView:
    claim: SupplierClaim
    history: list[ClaimEvent]
    supplier_name: str
    order_number: str


# (language, batch) → the message to the supplier in that language (the bot's catalogues)
Letter = Callable[[str, supplier_pack.ClaimBatch], str]


# ── opening, in the approval's unit of work ───────────────────────────────────────────────


async def open_on_approval(
    uow: UnitOfWork,
    config: Config,
    case: Case,
    events: Sequence[ev.CaseEvent],
    at: datetime,
    *,
    opened_with: Order | None = None,
) -> list[SupplierClaim]:
    """Called with a case's events, in their unit of work: when one is an approval, one draft
    claim per supplier whose terms cover the reason (none for the others), with its history
    line and a notice to the shop's sellers. A case approved again (reopened) keeps its
    claims.

    ``opened_with``: the case was opened in this unit of work, on this order as it read it;
    then the order is not read again, and the case has no postage recorded yet."""
    if case.id is None or not any(isinstance(e, ev.Approved) for e in events):
        return []
    just_opened = opened_with is not None and opened_with.id == case.order_id
    order = opened_with if just_opened else await uow.orders.get(case.order_id)
    if order is None:
        return []
    repo = SupplierClaimRepository(uow.session)
    costs = await repo.unit_costs(order.shop, {line.sku for line in order.lines})

    def unit_cost(sku: str, supplier: str | None, placed_at: datetime) -> Money | None:
        chosen = None
        for valid_from, cost in costs.get(sku, []):
            if valid_from <= placed_at:
                chosen = cost
        return chosen

    videos = sum(1 for e in case.evidence if e.is_video)
    facts = CaseFacts(
        case_id=case.id,
        number=case.number,
        reason=case.reason,
        lines=tuple((line.line_no, line.quantity) for line in case.lines),
        return_required=case.return_required,
        opened_at=case.opened_at,
        photos=len(case.evidence) - videos,
        videos=videos,
    )
    # the shop records postage on a case it already holds: none on one opened just now
    postage = None if just_opened else await repo.postage(case.id, POSTAGE_KINDS)
    opened = []
    for draft in claims_for(config, order, facts, unit_cost, postage, at):
        claim_id = await repo.add(draft)
        if claim_id is None:  # approved before: the claim stands as it is
            continue
        claim = replace(draft, id=claim_id)
        await repo.add_event(
            claim_id,
            ClaimEvent(
                at,
                Role.SYSTEM,
                None,
                "open",
                None,
                ClaimStatus.DRAFT,
                None,
                {"claimed": [m.as_dict() for m in claim.claimed], "late": claim.late},
            ),
        )
        await _notify_opened(uow, config, claim, order, at)
        opened.append(claim)
    return opened


def notice_payload(claim: SupplierClaim, config: Config, order: Order) -> dict[str, Any]:
    supplier = config.suppliers.get(claim.supplier)
    return {
        "claim": claim.id,
        "case": claim.case_number,
        "shop": claim.shop,
        "order": order.number,
        "supplier": claim.supplier,
        "supplier_name": supplier.name if supplier is not None else claim.supplier,
        "claimed": [m.as_dict() for m in claim.claimed],
        "postage": claim.postage.as_dict() if claim.postage.minor else None,
        "deadline": claim.deadline_at.isoformat() if claim.deadline_at else None,
        "late": claim.late,
        "warnings": list(claim.warnings),
        "needs_order": claim.supplier_order is None,
        "supplier_order": claim.supplier_order,
        "status": claim.status.value,
    }


async def _notify_opened(
    uow: UnitOfWork, config: Config, claim: SupplierClaim, order: Order, at: datetime
) -> None:
    """Every seller of the shop (the one who approved too: the system opened the claim)."""
    payload = notice_payload(claim, config, order)
    for seller in await seller_ids(uow, config, claim.shop):
        await uow.outbox.enqueue(
            kind=NOTICE_KIND,
            recipient_role="seller",
            chat_id=seller,
            shop=claim.shop,
            case_id=None,
            payload=payload,
            dedupe_key=f"supplier_claim:{claim.id}:opened:{seller}",
            at=at,
        )


# ── reading ────────────────────────────────────────────────────────────────────────────────


async def _shops(uow: UnitOfWork, ctx: CoreContext, actor: Actor) -> list[str]:
    """The shops whose supplier claims this person handles: sellers and agents their shops,
    the system (the command line) every shop."""
    if actor.role is Role.SYSTEM:
        return sorted(ctx.config.shops)
    if actor.role not in (Role.SELLER, Role.AGENT):
        raise Forbidden("supplier claims are the shop's business", code="not_staff")
    await check_actor_role(uow, ctx.config, actor)
    return await staff_shops(uow, ctx.config, actor)


async def _load(uow: UnitOfWork, ctx: CoreContext, actor: Actor, claim_id: int) -> SupplierClaim:
    shops = await _shops(uow, ctx, actor)
    claim = await SupplierClaimRepository(uow.session).get(claim_id)
    if claim is None or claim.shop not in shops:
        # another shop's claim gets the answer a claim that does not exist gets
        raise NotFound("no such supplier claim", code="not_found")
    return claim


@long_statements
async def list_claims(
    ctx: CoreContext,
    actor: Actor,
    *,
    supplier: str | None = None,
    shop: str | None = None,
    open_only: bool = True,
) -> list[SupplierClaim]:
    """The claims of this person's shops, by supplier, nearest deadline first; drafts show
    the postage recorded on their case since they were opened."""
    async with ctx.unit_of_work() as uow:
        shops = await _shops(uow, ctx, actor)
        if shop is not None:
            if shop not in shops:
                raise NotFound("no such shop", code="unknown_shop")
            shops = [shop]
        repo = SupplierClaimRepository(uow.session)
        statuses = [s for s in ClaimStatus if s not in FINAL] if open_only else None
        found = await repo.list_for(shops, supplier=supplier, statuses=statuses)
        return [await _fresh_postage(repo, claim) for claim in found]


async def _fresh_postage(repo: SupplierClaimRepository, claim: SupplierClaim) -> SupplierClaim:
    """A draft claims the postage recorded on the case until it is sent."""
    if claim.status is not ClaimStatus.DRAFT or "postage_shared" in claim.warnings:
        return claim
    others = await repo.list_for([claim.shop], case_id=claim.case_id)
    if len(others) > 1:
        return claim
    postage = await repo.postage(claim.case_id, POSTAGE_KINDS)
    return replace(claim, postage=postage) if postage is not None else claim


async def get_claim(ctx: CoreContext, actor: Actor, claim_id: int) -> ClaimView:
    async with ctx.unit_of_work() as uow:
        claim = await _load(uow, ctx, actor, claim_id)
        repo = SupplierClaimRepository(uow.session)
        claim = await _fresh_postage(repo, claim)
        history = await repo.events(claim_id)
        case = await uow.cases.get(claim.case_id)
    supplier = ctx.config.suppliers.get(claim.supplier)
    return ClaimView(
        claim,
        history,
        supplier.name if supplier is not None else claim.supplier,
        case.order_number if case is not None else "",
    )


# ── moving ─────────────────────────────────────────────────────────────────────────────────


def parse_amount(text: str, currency: str) -> Money:
    """ "12.50" in the claim's currency, or "12.50 CNY" / "CNY 12.50" in the one it names."""
    parts = text.replace(",", ".").split()
    try:
        if len(parts) == 2:
            named = [p for p in parts if len(p) == 3 and p.isalpha()]
            if len(named) == 1:
                value = next(p for p in parts if p != named[0])
                return Money.parse(value, named[0].upper())
        if len(parts) == 1:
            return Money.parse(parts[0], currency)
    except MoneyError as exc:
        raise ValidationFailed(str(exc), code="invalid_amount") from exc
    raise ValidationFailed("not an amount", code="invalid_amount")


async def move(
    ctx: CoreContext,
    actor: Actor,
    claim_id: int,
    action: ClaimMove,
    *,
    amount: Money | str | None = None,
    note: str | None = None,
    expected_status: ClaimStatus | None = None,
) -> SupplierClaim:
    """One move of the lifecycle; ``recover`` needs the amount the supplier paid (typed as
    "12.50", in the claim's currency unless it names one), which is also recorded as the
    case's ``supplier_credit`` cost, in the same unit of work."""
    note = (note or "").strip() or None
    if note is not None and len(note) > 1000:
        raise ValidationFailed("the note is too long", code="text_too_long", limit=1000)
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        claim = await _load(uow, ctx, actor, claim_id)
        if expected_status is not None and claim.status is not expected_status:
            raise Conflict("somebody else moved this claim first", code="already_handled")
        if isinstance(amount, str):
            amount = parse_amount(amount, claim.goods.currency)
        if amount is not None and amount.minor > MAX_COST_MINOR:
            raise ValidationFailed("the amount is too large", code="amount_out_of_range")
        moved = claim.move(action, now, amount if action is ClaimMove.RECOVER else None)
        repo = SupplierClaimRepository(uow.session)
        if claim.status is ClaimStatus.DRAFT:  # the postage claimed is fixed when it is sent
            moved = replace(moved, postage=(await _fresh_postage(repo, claim)).postage)
        if not await repo.save(moved, claim.version):
            raise Conflict("somebody else moved this claim first", code="already_handled")
        data: dict[str, Any] = {}
        if moved.recovered is not None and action is ClaimMove.RECOVER:
            data["amount"] = moved.recovered.as_dict()
            await _record_credit(uow, actor, moved, note, now)
        await repo.add_event(
            claim_id,
            ClaimEvent(
                now, actor.role, actor.user_id, action.value, claim.status, moved.status, note, data
            ),
        )
        await uow.commit()
    return moved


async def _record_credit(
    uow: UnitOfWork, actor: Actor, claim: SupplierClaim, note: str | None, at: datetime
) -> None:
    """What the supplier paid back, as the case's cost of kind ``supplier_credit``: the
    figures (``stats``) read it from there, and the case's history shows it to staff."""
    assert claim.recovered is not None
    case = await uow.cases.get(claim.case_id)
    assert case is not None and case.id is not None
    text = f"supplier claim {claim.id} ({claim.supplier})" + (f": {note}" if note else "")
    await uow.session.execute(
        insert(case_costs).values(
            case_id=case.id,
            kind=CostKind.SUPPLIER_CREDIT.value,
            amount_minor=claim.recovered.minor,
            currency=claim.recovered.currency,
            note=text,
            recorded_at=at,
            recorded_by_role=actor.role.value,
            recorded_by_id=actor.user_id,
        )
    )
    await record_audit(
        uow,
        case,
        actor,
        "cost_recorded",  # staff only: never shown to the buyer nor exported
        case.status,
        case.status,
        at,
        note=text,
        data={"kind": CostKind.SUPPLIER_CREDIT.value, "amount": claim.recovered.as_dict()},
    )


async def set_supplier_order(
    ctx: CoreContext, actor: Actor, claim_id: int, text: str
) -> SupplierClaim:
    """The supplier's own order number for the goods claimed, as the supplier knows them."""
    number = " ".join((text or "").split())
    if not number:
        raise ValidationFailed("type the supplier's order number", code="empty")
    if len(number) > MAX_SUPPLIER_ORDER:
        raise ValidationFailed(
            "the order number is too long", code="text_too_long", limit=MAX_SUPPLIER_ORDER
        )
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        claim = await _load(uow, ctx, actor, claim_id)
        if not claim.is_open:
            raise InvalidTransition("the claim is closed", code="invalid_transition")
        changed = replace(claim, supplier_order=number, updated_at=now, version=claim.version + 1)
        repo = SupplierClaimRepository(uow.session)
        if not await repo.save(changed, claim.version):
            raise Conflict("somebody else changed this claim first", code="already_handled")
        await repo.add_event(
            claim_id,
            ClaimEvent(
                now,
                actor.role,
                actor.user_id,
                "supplier_order",
                claim.status,
                claim.status,
                None,
                {"supplier_order": number},
            ),
        )
        await uow.commit()
    return changed


# ── the message and the ZIP for the supplier ───────────────────────────────────────────────


@long_statements
async def batch_pack(
    ctx: CoreContext,
    actor: Actor,
    letter: Letter,
    *,
    supplier: str | None = None,
    claim_id: int | None = None,
    days: int = BATCH_DAYS,
    shop: str | None = None,
) -> supplier_pack.SupplierPack:
    """The message (Chinese and English) and the ZIP for a supplier: one claim
    (``claim_id``), or the supplier's drafts opened in the last ``days`` days. Nothing in it
    names the buyer: see ``core.suppliers.pack``."""
    now = ctx.now()
    since = None
    async with ctx.unit_of_work() as uow:
        repo = SupplierClaimRepository(uow.session)
        if claim_id is not None:
            claims = [await _fresh_postage(repo, await _load(uow, ctx, actor, claim_id))]
            supplier = claims[0].supplier
        else:
            shops = await _shops(uow, ctx, actor)
            if shop is not None:
                if shop not in shops:
                    raise NotFound("no such shop", code="unknown_shop")
                shops = [shop]
            since = now - timedelta(days=days)
            found = await repo.list_for(
                shops, supplier=supplier, statuses=[ClaimStatus.DRAFT], opened_since=since
            )
            claims = [await _fresh_postage(repo, claim) for claim in found]
        if not claims or supplier is None:
            raise NotFound("no claims to send to this supplier", code="not_found")
        items = [await _for_supplier(uow, claim) for claim in claims]
    terms = ctx.config.suppliers.get(supplier)
    batch = supplier_pack.ClaimBatch(
        supplier=supplier,
        supplier_name=terms.name if terms is not None else supplier,
        shop_names=tuple(
            dict.fromkeys(
                ctx.config.shop(c.shop).name for c in claims if c.shop in ctx.config.shops
            )
        ),
        claims=tuple(items),
        generated_at=now,
        since=since,
    )
    letters = {language: letter(language, batch) for language in ("zh", "en")}

    def read(sha256: str) -> bytes | None:
        try:
            return ctx.evidence.read(sha256) if ctx.evidence.exists(sha256) else None
        except (OSError, ValueError):
            return None

    # decoding and re-encoding photos is CPU work: off the event loop
    return await asyncio.to_thread(
        supplier_pack.build, batch, letters, read, COLUMNS, claim_rows(claims)
    )


async def _for_supplier(uow: UnitOfWork, claim: SupplierClaim) -> supplier_pack.ClaimForSupplier:
    """The claim's defect in the buyer's words, with what would name them taken out."""
    case = await uow.cases.get(claim.case_id)
    assert case is not None
    order = await uow.orders.get(case.order_id)
    personal: list[str] = []
    if order is not None:
        buyer, address = order.buyer, order.shipping_address
        personal = supplier_pack.personal_values(buyer.name)
        personal += [v for v in (buyer.email, buyer.phone) if v]
        if address is not None:
            personal += supplier_pack.personal_values(
                address.line1, address.line2, address.city, address.region
            )
            personal += [address.postal_code or ""]
    if case.buyer_id is not None:
        user = await uow.users.get(case.buyer_id)
        personal += supplier_pack.personal_values(user.first_name if user else None)
        personal.append(str(case.buyer_id))
    description = supplier_pack.redact(case.description, personal) if case.description else None
    photos = tuple(
        dict.fromkeys(  # the same file sent twice is one photo
            e.sha256
            for e in case.evidence
            if e.sha256 and not e.is_video and (e.kind.value == "photo" or _is_image(e.mime_type))
        )
    )
    left_out = sum(1 for e in case.evidence if e.sha256 not in photos)
    return supplier_pack.ClaimForSupplier(claim, description, photos, left_out)


def _is_image(mime: str | None) -> bool:
    return bool(mime and mime.startswith("image/"))


def claim_rows(claims: Iterable[SupplierClaim]) -> list[list[object]]:
    """The claims as table rows, one per line claimed (the postage on the first line)."""
    rows: list[list[object]] = []
    for claim in claims:
        claimed = " + ".join(m.as_decimal_string() + " " + m.currency for m in claim.claimed)
        for n, line in enumerate(claim.lines):
            rows.append(
                [
                    claim.case_number,
                    claim.supplier_order or "",
                    claim.reason,
                    line.sku,
                    line.title,
                    line.quantity,
                    line.unit_cost.as_decimal_string(),
                    line.total.as_decimal_string(),
                    line.unit_cost.currency,
                    claim.postage.as_decimal_string() if n == 0 else "",
                    claimed if n == 0 else "",
                    claim.deadline_at.date().isoformat() if claim.deadline_at else "",
                ]
            )
    return rows

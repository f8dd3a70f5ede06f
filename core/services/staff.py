"""Sellers and agents: who they are, how they join (single-use invitations), how they are
listed and removed. Every membership change is a row in ``staff_events``.

People listed in the configuration file are staff for as long as the file says so; the
others joined with an invitation. An invitation is bound to named shops and a role, expires at
a time, works for one account only (consumed in one statement: two accounts racing on one link,
exactly one joins), can be revoked, and its link is signed with a key of its own (kept in the
database, never a shop's ``link_secret``). The link carries only a random nonce and a tag:
what it grants is the ``invitations`` row.

Membership is read from the configuration and the database on every core call (nothing is
cached), so a removed person's next press or command is refused.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.cases.lifecycle import Role
from core.cases.model import Actor
from core.errors import Conflict, CoreError, Forbidden, NotFound, ValidationFailed
from core.persistence.repositories.staff import Invitation, StaffEvent
from core.persistence.unit_of_work import UnitOfWork
from core.services import cases as case_service
from core.services.access import agent_shops, seller_shops
from core.services.context import CoreContext
from core.services.link_tokens import TokenError, make_invite_token, verify_invite_token

INVITE_HOURS = 72
MAX_INVITE_HOURS = 24 * 30
ROLES = ("seller", "agent")
INVITE_KEY = "staff_invite_key"  # in runtime_values: made once, by the first who needs it
ALL_SHOPS = "*"  # the shop of an agent of every shop, in listings
REMOVED_KIND = "staff_removed"  # the notification a removed person gets (not about a case)


@dataclass(frozen=True, slots=True)
class StaffIdentity:
    actor: Actor
    shops: list[str]  # the shops this seller or agent acts for


@dataclass(frozen=True, slots=True)
class InvitationLink:
    invitation: Invitation
    token: str  # the /start parameter
    link: str  # t.me/<bot>?start=<token>


@dataclass(frozen=True, slots=True)
class StaffEntry:
    telegram_id: int
    role: str
    shops: tuple[str, ...]  # ("*",) for an agent of every shop
    via: str  # config | invite
    since: datetime | None  # None for the configuration's people


@dataclass(frozen=True, slots=True)
class StaffList:
    members: list[StaffEntry]
    pending: list[Invitation]
    events: list[StaffEvent] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Removal:
    telegram_id: int
    removed: list[tuple[str, str]]  # (shop, role)
    handed_back: list[str]  # case numbers that went back to the queue


async def identify(ctx: CoreContext, user_id: int, name: str | None = None) -> StaffIdentity | None:
    """The staff role of a Telegram user (agent before seller) with the shops it covers, or
    None for a buyer. Read afresh on every call."""
    async with ctx.unit_of_work() as uow:
        shops = await agent_shops(uow, ctx.config, user_id)
        if shops:
            return StaffIdentity(Actor.agent(user_id, name), shops)
        shops = await seller_shops(uow, ctx.config, user_id)
    if shops:
        return StaffIdentity(Actor.seller(user_id, name), shops)
    return None


# ── invitations ─────────────────────────────────────────────────────────────────────────────


async def _invite_key(ctx: CoreContext) -> str:
    """The deployment's invitation key: generated once, by whoever needs it first."""
    async with ctx.unit_of_work() as uow:
        key = await uow.runtime_values.get_or_create(INVITE_KEY, secrets.token_urlsafe(32))
        await uow.commit()
    return key


def _link(ctx: CoreContext, token: str) -> str:
    return f"https://t.me/{ctx.config.deployment.bot_username}?start={token}"


def _check_shops_and_role(ctx: CoreContext, shops: Sequence[str], role: str | None) -> None:
    for shop in shops:
        if shop not in ctx.config.shops:
            known = ", ".join(sorted(ctx.config.shops))
            raise ValidationFailed(
                f"unknown shop {shop!r} (configured: {known})", code="unknown_shop"
            )
    if role is not None and role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}", code="unknown_role")


async def invite(
    ctx: CoreContext,
    shops: Sequence[str],
    role: str,
    *,
    hours: int = INVITE_HOURS,
    by: str = "cli",
) -> InvitationLink:
    """A single-use invitation to ``shops`` as ``role``, valid ``hours`` from now."""
    chosen = sorted(set(shops))
    if not chosen:
        raise ValidationFailed("name at least one shop", code="unknown_shop")
    _check_shops_and_role(ctx, chosen, role)
    if not 1 <= hours <= MAX_INVITE_HOURS:
        raise ValidationFailed(
            f"an invitation is valid between 1 and {MAX_INVITE_HOURS} hours", code="invalid"
        )
    key = await _invite_key(ctx)
    nonce = secrets.token_urlsafe(16)
    now = ctx.now()
    expires = now + timedelta(hours=hours)
    async with ctx.unit_of_work() as uow:
        invitation_id = await uow.staff.create_invitation(
            nonce=nonce,
            shops=chosen,
            role=role,
            created_at=now,
            created_by=by,
            expires_at=expires,
        )
        for shop in chosen:
            await uow.staff.record(
                "invited",
                now,
                by=by,
                shop=shop,
                role=role,
                data={"invitation": invitation_id, "expires_at": expires.isoformat()},
            )
        await uow.commit()
        invitation = await uow.staff.invitation(invitation_id=invitation_id)
    assert invitation is not None
    token = make_invite_token(nonce, key)
    return InvitationLink(invitation, token, _link(ctx, token))


_REFUSALS = {
    "accepted": ("invite_used", "the invitation was already used"),
    "revoked": ("invite_revoked", "the invitation was revoked"),
    "expired": ("invite_expired", "the invitation has expired"),
}


async def accept_invite(ctx: CoreContext, user_id: int, token: str) -> tuple[list[str], Role]:
    """Make the user a seller or agent of the invitation's shops; (shops, role). The first
    account to open the link joins; any other is refused, and the refusal is recorded."""
    nonce = verify_invite_token(token, await _invite_key(ctx))
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        invitation = await uow.staff.invitation(nonce=nonce)
        if invitation is None:
            raise TokenError("not an invitation", code="invite_invalid")
        shops = [shop for shop in invitation.shops if shop in ctx.config.shops]
        if invitation.accepted_by == user_id and await _still_member(
            uow, user_id, shops, invitation.role
        ):
            return shops, Role(invitation.role)  # the same person opening it again
        if await uow.staff.consume_invitation(invitation.id, user_id, now):
            for shop in shops:
                await uow.staff.add(shop, user_id, invitation.role, "invite", now)
                await uow.staff.record(
                    "joined",
                    now,
                    by=str(user_id),
                    shop=shop,
                    telegram_id=user_id,
                    role=invitation.role,
                    data={"invitation": invitation.id},
                )
            await uow.commit()
            return shops, Role(invitation.role)
        # somebody else was first (or it was revoked, or it expired): say which, and record it
        current = await uow.staff.invitation(invitation_id=invitation.id)
        assert current is not None
        state = current.state(now)
        code, why = _REFUSALS.get(state, _REFUSALS["accepted"])
        for shop in shops:
            await uow.staff.record(
                f"refused_{state}",
                now,
                by=str(user_id),
                shop=shop,
                telegram_id=user_id,
                role=invitation.role,
                data={"invitation": invitation.id, "accepted_by": current.accepted_by},
            )
        await uow.commit()
    raise Forbidden(why, code=code, invitation=invitation.id)


async def _still_member(uow: UnitOfWork, user_id: int, shops: list[str], role: str) -> bool:
    held = set(await uow.staff.shops_of(user_id, role))
    return bool(shops) and set(shops) <= held


async def find_invitation(ctx: CoreContext, ref: str) -> Invitation:
    """An invitation by its number (as ``staff list`` shows it), its link or its token."""
    ref = ref.strip()
    async with ctx.unit_of_work() as uow:
        if ref.isdigit():
            invitation = await uow.staff.invitation(invitation_id=int(ref))
        else:
            token = ref.rsplit("start=", 1)[-1]
            try:
                nonce = verify_invite_token(token, await _invite_key(ctx))
            except TokenError as exc:
                raise NotFound("no such invitation", code="invitation_not_found") from exc
            invitation = await uow.staff.invitation(nonce=nonce)
    if invitation is None:
        raise NotFound(f"no invitation {ref}", code="invitation_not_found")
    return invitation


async def revoke(ctx: CoreContext, ref: str, *, by: str = "cli") -> Invitation:
    """Withdraw an invitation nobody has used: its link stops working at once."""
    found = await find_invitation(ctx, ref)
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        if not await uow.staff.revoke_invitation(found.id, now):
            current = await uow.staff.invitation(invitation_id=found.id)
            assert current is not None
            if current.accepted_by is not None:
                raise Conflict(
                    f"invitation {found.id} was already used by {current.accepted_by}: "
                    f"remove them with `staff remove {current.accepted_by}`",
                    code="invite_used",
                )
            raise Conflict(f"invitation {found.id} was already revoked", code="invite_revoked")
        for shop in found.shops:
            await uow.staff.record(
                "revoked", now, by=by, shop=shop, role=found.role, data={"invitation": found.id}
            )
        await uow.commit()
        revoked = await uow.staff.invitation(invitation_id=found.id)
    assert revoked is not None
    return revoked


# ── who is staff ────────────────────────────────────────────────────────────────────────────


def configured(ctx: CoreContext) -> list[StaffEntry]:
    """The people the configuration file lists: sellers and agents per shop, and agents of
    every shop."""
    config = ctx.config
    entries = [
        StaffEntry(agent, "agent", (ALL_SHOPS,), "config", None)
        for agent in config.deployment.agents_all_shops
    ]
    people: dict[tuple[int, str], list[str]] = {}
    for shop_id, shop in sorted(config.shops.items()):
        for seller in shop.sellers:
            people.setdefault((seller, "seller"), []).append(shop_id)
        for agent in shop.agents:
            people.setdefault((agent, "agent"), []).append(shop_id)
    entries += [
        StaffEntry(person, role, tuple(shops), "config", None)
        for (person, role), shops in people.items()
    ]
    return entries


async def list_staff(
    ctx: CoreContext, shop: str | None = None, *, events: bool = False
) -> StaffList:
    """Who is staff (of ``shop``, else of any shop), the invitations still open, and with
    ``events`` the audit trail of membership."""
    if shop is not None:
        _check_shops_and_role(ctx, [shop], None)
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        stored = await uow.staff.all_members(shop)
        invitations = await uow.staff.invitations()
        trail = await uow.staff.events(shop) if events else []
    members = [
        entry
        for entry in configured(ctx)
        if shop is None or shop in entry.shops or ALL_SHOPS in entry.shops
    ]
    invited: dict[tuple[int, str], list[tuple[str, datetime]]] = {}
    for member in stored:
        if member.shop in ctx.config.shops:
            invited.setdefault((member.telegram_id, member.role), []).append(
                (member.shop, member.added_at)
            )
    members += [
        StaffEntry(
            person,
            role,
            tuple(sorted(s for s, _ in held)),
            "invite",
            min(at for _, at in held),
        )
        for (person, role), held in invited.items()
    ]
    pending = [
        invitation
        for invitation in invitations
        if invitation.state(now) == "pending" and (shop is None or shop in invitation.shops)
    ]
    return StaffList(members, pending, trail)


async def remove(
    ctx: CoreContext,
    telegram_id: int,
    *,
    shop: str | None = None,
    role: str | None = None,
    by: str = "cli",
) -> Removal:
    """Take an invited person off the staff (of ``shop`` and as ``role`` when given). They
    lose access at once, the cases they own as an agent go back to the queue (handed back by
    the system, as any hand-back: audit trail and notices), and they are told. People the
    configuration file lists are removed there, not here."""
    _check_shops_and_role(ctx, [shop] if shop else [], role)

    def matches(entry_shops: Sequence[str], entry_role: str) -> bool:
        return (role is None or entry_role == role) and (
            shop is None or shop in entry_shops or ALL_SHOPS in entry_shops
        )

    listed = [
        e for e in configured(ctx) if e.telegram_id == telegram_id and matches(e.shops, e.role)
    ]
    if listed:
        where = "; ".join(
            "agent of every shop ([deployment] agents_all_shops)"
            if ALL_SHOPS in e.shops
            else f"{e.role} of {', '.join(e.shops)}"
            for e in listed
        )
        raise Forbidden(
            f"{telegram_id} is listed in the configuration file ({where}): remove them there",
            code="staff_in_config",
        )
    now = ctx.now()
    async with ctx.unit_of_work() as uow:
        held = [(s, r) for s, r in await uow.staff.memberships(telegram_id) if matches([s], r)]
        if not held:
            raise NotFound(
                f"{telegram_id} is not an invited seller or agent"
                + (f" of {shop}" if shop else "")
                + (f" as {role}" if role else ""),
                code="not_a_member",
            )
        for s, r in held:
            await uow.staff.remove(telegram_id, s, r)
            await uow.staff.record("removed", now, by=by, shop=s, telegram_id=telegram_id, role=r)
        for r in sorted({r for _, r in held}):
            shops = sorted(s for s, rr in held if rr == r)
            await uow.outbox.enqueue(
                kind=REMOVED_KIND,
                recipient_role=r,
                chat_id=telegram_id,
                shop=shops[0],
                case_id=None,
                payload={
                    "role": r,
                    "shops": shops,
                    "shop_names": [ctx.config.shop(s).name for s in shops],
                },
                dedupe_key=f"{REMOVED_KIND}:{telegram_id}:{r}:{now.isoformat()}",
                at=now,
            )
        still = set(await agent_shops(uow, ctx.config, telegram_id))
        lost = sorted({s for s, r in held if r == "agent" and s not in still})
        owned = await uow.staff.owned_cases(telegram_id, lost) if lost else []
        await uow.commit()
    handed_back = []
    for number in owned:
        try:
            await case_service.hand_back(ctx, Actor.system(), number)
        except CoreError:
            continue  # closed or handed back meanwhile
        handed_back.append(number)
    return Removal(telegram_id, held, handed_back)

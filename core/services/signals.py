"""The abuse signals of a claim (core/policy/signals.py), from what storage holds: one person's
cases and orders across Telegram accounts, e-mails and phones of the order book; pictures that
look like ones of other cases; the delivery scan; files' camera dates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from core.cases.model import Evidence
from core.cases.reasons import Reason
from core.clock import ensure_utc
from core.money import Money
from core.orders.model import Order, OrderLine
from core.persistence.repositories.signals import PersonCase
from core.persistence.sqlite_driver import off_the_loop
from core.persistence.unit_of_work import UnitOfWork
from core.policy import signals as policy
from core.policy.signals import Facts, PhotoMatch, Signal
from core.services.context import CoreContext
from core.services.fingerprints import distance

PHOTO_LOOKBACK_DAYS = 365  # pictures older than this are not compared


def delivery_scan(order: Order, lines: Sequence[OrderLine]) -> datetime | None:
    """When the carrier scanned the claimed items as delivered (the earliest such scan):
    the shipment's delivery time, or a tracking event that says "delivered"."""
    scans: list[datetime] = []
    for line in lines or order.lines:
        for shipment in order.shipments_for(line.sku):
            if shipment.delivered_at is not None:
                scans.append(ensure_utc(shipment.delivered_at))
            scans += [
                ensure_utc(event.at)
                for event in shipment.events
                if "delivered" in event.status.lower() and "not" not in event.status.lower()
            ]
    return min(scans, default=None)


def _claimed_before(others: Sequence[PersonCase], currency: str) -> int:
    """What the person's other cases claim (minor units of ``currency``); a unit of an order
    line claimed again (after a rejection, say) counts once."""
    units: dict[int, tuple[int, int]] = {}  # order line id → (units, unit price)
    for case in others:
        if case.currency != currency:
            continue
        for line_id, quantity, price in case.lines:
            seen, _ = units.get(line_id, (0, price))
            units[line_id] = (max(seen, quantity), price)
    return sum(quantity * price for quantity, price in units.values())


async def signals_for(
    ctx: CoreContext,
    uow: UnitOfWork,
    *,
    order: Order,
    buyer_id: int | None,
    reason: Reason,
    claims: Sequence[tuple[int, int]],  # (line_no, quantity)
    evidence: Sequence[Evidence] = (),
    window_ends: datetime | None = None,
    case_id: int | None = None,  # the case itself once stored (its own data is not compared)
) -> list[Signal]:
    """Every signal of this claim, with its numbers (``[signals]`` says the thresholds)."""
    settings = ctx.config.signals
    if not settings.enabled:
        return []
    assert order.id is not None
    now = ctx.now()
    since = now - timedelta(days=settings.period_days)
    person = await uow.signals.person(
        order.shop, order.id, buyer_id, settings.shared_contact_orders
    )
    others = await uow.signals.cases_of(order.shop, person, since, exclude_case=case_id)
    lines = [(order.line(no), quantity) for no, quantity in claims]
    claimed_lines = [(line, quantity) for line, quantity in lines if line is not None]
    claimed = sum(line.unit_price.minor * quantity for line, quantity in claimed_lines)
    claimed += _claimed_before(others, order.currency)
    bought = await uow.signals.bought(person, since, order.currency)
    accounts = {c.buyer_id for c in others if c.buyer_id is not None}
    if buyer_id is not None:
        accounts.add(buyer_id)

    phashes = [item.phash for item in evidence if item.phash]
    taken = [ensure_utc(item.taken_at) for item in evidence if item.taken_at is not None]
    if case_id is not None:
        stored_phashes, stored_taken = await uow.signals.fingerprints_of(case_id)
        phashes += stored_phashes
        taken += stored_taken
    matches: list[PhotoMatch] = []
    if phashes:
        lookback = now - timedelta(days=max(PHOTO_LOOKBACK_DAYS, settings.period_days))
        with off_the_loop():  # every picture of the shop's cases in the lookback: a scan
            look_alikes = await uow.signals.look_alikes(order.shop, lookback, exclude_case=case_id)
        for other in look_alikes:
            nearest = min(distance(other.phash, mine) for mine in set(phashes))
            if nearest <= settings.photo_distance:
                same_person = other.buyer_id in accounts or other.buyer_id in person.accounts
                matches.append(PhotoMatch(other.number, nearest, not same_person))
    categories = set()
    shop = ctx.config.shop(order.shop)
    for line, _ in claimed_lines:
        category = line.category or shop.category_for_sku(line.sku)
        if category:
            categories.add(category)
    facts = Facts(
        reason=reason,
        now=now,
        cases_in_period=len(others) + 1,
        accounts=len(accounts) or 1,
        claimed=Money(claimed, order.currency),
        bought=Money(bought, order.currency) if bought else None,
        delivered_at=delivery_scan(order, [line for line, _ in claimed_lines]),
        photo_matches=tuple(matches),
        photos_taken=tuple(taken),
        categories=tuple(sorted(categories)),
        window_ends=window_ends,
    )
    return policy.compute(settings, facts)

"""What each reason asks for when a shop's policy says nothing about it.

Defaults follow the reason → responsibility matrix: when the buyer is not at fault the seller
pays the return label, and damaged or missing goods are not worth shipping back across borders.
"""

from __future__ import annotations

from core.cases.reasons import Party, Reason, Resolution
from core.policy.config import EvidenceRule, ReasonRule

R = Resolution

REASON_DEFAULTS: dict[Reason, ReasonRule] = {
    Reason.DAMAGED: ReasonRule(
        evidence=EvidenceRule(photos=2, guide=("parcel", "item", "closeup")),
        return_shipping=Party.SELLER,
        item_must_return=False,
        resolutions=(R.REPLACEMENT, R.REFUND, R.PARTIAL_REFUND),
    ),
    Reason.WRONG_ITEM: ReasonRule(
        evidence=EvidenceRule(photos=1, guide=("item", "label")),
        return_shipping=Party.SELLER,
        item_must_return=True,
        resolutions=(R.REPLACEMENT, R.REFUND),
    ),
    Reason.WRONG_SIZE_COLOUR: ReasonRule(
        evidence=EvidenceRule(photos=1, guide=("item", "label")),
        return_shipping=Party.SELLER,
        item_must_return=True,
        resolutions=(R.EXCHANGE, R.REFUND),
    ),
    Reason.MISSING_PART: ReasonRule(
        evidence=EvidenceRule(photos=1, description=True, guide=("parcel", "item")),
        return_shipping=Party.SELLER,
        item_must_return=False,
        resolutions=(R.RESHIP, R.PARTIAL_REFUND, R.REFUND),
    ),
    Reason.NOT_AS_DESCRIBED: ReasonRule(
        evidence=EvidenceRule(photos=2, description=True, guide=("item", "closeup")),
        return_shipping=Party.SELLER,
        item_must_return=True,
        resolutions=(R.REFUND, R.PARTIAL_REFUND, R.REPLACEMENT),
    ),
    Reason.DOES_NOT_WORK: ReasonRule(
        evidence=EvidenceRule(media=1, description=True, guide=("video",)),
        return_shipping=Party.SELLER,
        item_must_return=True,
        resolutions=(R.REPLACEMENT, R.REFUND),
    ),
    Reason.COUNTERFEIT: ReasonRule(
        evidence=EvidenceRule(photos=2, description=True, guide=("item", "label", "closeup")),
        return_shipping=Party.SELLER,
        item_must_return=True,
        resolutions=(R.REFUND,),
        review="agent",
    ),
    Reason.NOT_RECEIVED: ReasonRule(
        evidence=EvidenceRule(),
        item_must_return=False,
        resolutions=(R.RESHIP, R.REFUND),
    ),
    Reason.ARRIVED_LATE: ReasonRule(
        evidence=EvidenceRule(),
        item_must_return=False,
        resolutions=(R.PARTIAL_REFUND, R.STORE_CREDIT),
        review="seller",
    ),
    Reason.CHANGED_MIND: ReasonRule(
        evidence=EvidenceRule(),
        return_shipping=Party.BUYER,
        item_must_return=True,
        resolutions=(R.REFUND, R.STORE_CREDIT, R.EXCHANGE),
    ),
    Reason.OTHER: ReasonRule(
        evidence=EvidenceRule(description=True),
        return_shipping=Party.SELLER,
        item_must_return=False,
        resolutions=(R.REFUND, R.REPLACEMENT, R.PARTIAL_REFUND, R.STORE_CREDIT),
        review="seller",
    ),
    Reason.CANCEL_ORDER: ReasonRule(
        evidence=EvidenceRule(),
        item_must_return=False,
        resolutions=(R.CANCEL,),
        review="seller",
    ),
    Reason.CHANGE_ADDRESS: ReasonRule(
        evidence=EvidenceRule(description=True),
        item_must_return=False,
        resolutions=(R.ADDRESS_CHANGE,),
        review="seller",
    ),
}


def effective_rule(reason: Reason, override: ReasonRule | None) -> ReasonRule:
    """The shop's rule for a reason, with every unset field taken from the default."""
    base = REASON_DEFAULTS[reason]
    if override is None:
        return base
    merged = base.model_dump()
    changes = override.model_dump(exclude_unset=True)
    evidence = changes.pop("evidence", None)
    merged.update(changes)
    if evidence is not None:  # a partial evidence table keeps the default's other fields
        merged["evidence"] = {**(merged.get("evidence") or {}), **evidence}
    return ReasonRule.model_validate(merged)

"""The policy's decision as stored with a case: a typed, versioned record.

``Decision`` (core.policy.decision) is what the policy works out; ``DecisionRecord`` is what a
case keeps of it, as the buyer was shown it, for staff, the lifecycle and the evidence pack.
It is JSON in the database and typed in memory, so nothing reads it back with ``.get("…")``.

Versions: a record without ``version`` was written before it existed and is version 1. A
change that renames or changes the meaning of a field bumps ``VERSION`` and teaches
``_upgrade`` to read the older shape; adding an optional field needs neither.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.money import Money

VERSION = 1


class _Record(BaseModel):
    # older records may carry fields we dropped: they are ignored, never an error
    model_config = ConfigDict(frozen=True, extra="ignore")


class MoneyValue(_Record):
    amount: str
    currency: str

    def money(self) -> Money:
        return Money.parse(self.amount, self.currency)

    def as_dict(self) -> dict[str, str]:
        return {"amount": self.amount, "currency": self.currency}


class MissingEvidence(_Record):
    what: str  # photos | videos | media | description
    count: int = 0


class RefundLine(_Record):
    line_no: int
    quantity: int
    gross: MoneyValue | None = None
    fee: MoneyValue | None = None
    net: MoneyValue | None = None


class ExplanationRecord(_Record):
    code: str
    params: dict[str, Any] = Field(default_factory=dict)


class SupplierGapRecord(_Record):
    supplier: str | None = None
    line_no: int | None = None
    code: str = ""
    unrecoverable: MoneyValue | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class DecisionRecord(_Record):
    version: int = VERSION
    eligible: bool = True
    refusal: str | None = None
    reason: str | None = None
    missing: tuple[MissingEvidence, ...] = ()
    resolutions: tuple[str, ...] = ()  # the outcomes the policy offers, as resolution codes
    return_required: bool = False
    return_paid_by: str | None = None
    return_address: str | None = None
    fees: MoneyValue | None = None
    refund_lines: tuple[RefundLine, ...] = ()
    refund_total: MoneyValue | None = None
    shipping_refund: MoneyValue | None = None
    review: str = "seller"  # automatic | seller | agent | none
    deadlines: dict[str, datetime] = Field(default_factory=dict)
    explanations: tuple[ExplanationRecord, ...] = ()
    supplier_gaps: tuple[SupplierGapRecord, ...] = ()
    evidence_guide: tuple[str, ...] = ()
    evidence_required: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("version", 1) > VERSION:
            raise ValueError(f"a decision record of version {data['version']} is newer than us")
        return data

    @property
    def weak_proof(self) -> str | None:
        """The proof of ownership too weak for this change to go without a person's
        confirmation (``review_weak_proof``), or None."""
        for explanation in self.explanations:
            if explanation.code == "review_weak_proof":
                return str(explanation.params.get("proof") or "") or None
        return None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def refund_total_money(self, currency: str) -> Money:
        return self.refund_total.money() if self.refund_total else Money.zero(currency)

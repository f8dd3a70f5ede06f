"""What every use case needs, built once at start and passed down."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.clock import Clock, SystemClock
from core.persistence.unit_of_work import UnitOfWork
from core.policy.config import Config
from core.services.evidence_store import EvidenceStore


@dataclass
class CoreContext:
    config: Config
    unit_of_work: Callable[[], UnitOfWork]
    evidence: EvidenceStore
    clock: Clock = SystemClock()  # noqa: RUF009 - a stateless default

    def now(self):
        return self.clock.now()

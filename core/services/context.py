"""What every use case needs, built once at start and passed down."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.clock import Clock, SystemClock
from core.persistence.unit_of_work import UnitOfWork
from core.policy.config import Config
from core.services.evidence_store import EvidenceStore

if TYPE_CHECKING:
    from core.translation.service import TranslationService


@dataclass
class CoreContext:
    config: Config
    unit_of_work: Callable[[], UnitOfWork]
    evidence: EvidenceStore
    clock: Clock = SystemClock()  # noqa: RUF009 - a stateless default
    # Only when this process alone uses the database (the embedded SQLite one): the people
    # it talked to lately, as user id → (first name, Telegram language, chosen language), so
    # that each message does not read them again. See core.services.people.
    known_users: OrderedDict[int, tuple[str | None, str | None, str | None]] | None = None
    # who asked to be forgotten and waits, as (monotonic time read, ids): read again every few
    # seconds, not at every message (core.services.privacy.has_pending_erasure)
    pending_erasures: tuple[float, frozenset[int]] | None = None
    # made from config.translation on first use: core.translation.service.service_of
    translation: TranslationService | None = None

    def now(self):
        return self.clock.now()

"""One line on a case's audit trail, written in the caller's unit of work."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.cases.lifecycle import CaseStatus
from core.cases.model import Actor, AuditEvent, Case
from core.persistence.unit_of_work import UnitOfWork


async def record_audit(
    uow: UnitOfWork,
    case: Case,
    actor: Actor,
    action: str,
    before: CaseStatus | None,
    after: CaseStatus | None,
    at: datetime,
    note: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    assert case.id is not None
    event = AuditEvent(
        case_number=case.number,
        at=at,
        actor_role=actor.role,
        actor_id=actor.user_id,
        action=action,
        from_status=before,
        to_status=after,
        note=note,
        data=data or {},
    )
    await uow.cases.add_audit(event, case.id)

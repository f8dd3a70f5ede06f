"""``returns-desk`` with a SIGKILL at a chosen point, for the crash-safety tests.

``CRASH_AT=before_case_commit``: the process dies when a case is about to be opened (the
Confirm press is stored in the inbox, nothing of the case is). ``CRASH_AT=after_case_commit``:
it dies right after the case and its notifications are committed, before anything is sent or
answered. ``CRASH_AT=after_answer``: it dies after the buyer was told the case number, just
before the update is marked done (the next process runs it again). No cleanup code runs in
any case, as with a power cut.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from bot.__main__ import main
from core.persistence.repositories.inbox import InboxRepository
from core.services import cases

POINT = os.environ.get("CRASH_AT", "")
open_case = cases.open_case
mark_done = InboxRepository.mark_done
mark_done_and_claim = InboxRepository.mark_done_and_claim
opened_here: list[bool] = []


async def open_case_then_die(*args: Any, **kwargs: Any) -> Any:
    if POINT == "before_case_commit":
        os.kill(os.getpid(), signal.SIGKILL)
    opened = await open_case(*args, **kwargs)
    if POINT == "after_case_commit":
        os.kill(os.getpid(), signal.SIGKILL)
    opened_here.append(True)
    return opened


async def mark_done_or_die(self: InboxRepository, *args: Any, **kwargs: Any) -> Any:
    if POINT == "after_answer" and opened_here:
        os.kill(os.getpid(), signal.SIGKILL)  # the answer went out; the done-mark does not
    return await mark_done(self, *args, **kwargs)


async def mark_done_and_claim_or_die(
    self: InboxRepository, update_ids: Any, *args: Any, **kwargs: Any
) -> Any:
    if POINT == "after_answer" and opened_here:
        os.kill(os.getpid(), signal.SIGKILL)  # the same, where the marks and a claim are one
    return await mark_done_and_claim(self, update_ids, *args, **kwargs)


cases.open_case = open_case_then_die
InboxRepository.mark_done = mark_done_or_die  # type: ignore[method-assign]
InboxRepository.mark_done_and_claim = mark_done_and_claim_or_die  # type: ignore[method-assign]

if __name__ == "__main__":
    main()

"""``returns-desk`` with a SIGKILL at a chosen point, for the crash-safety tests.

``CRASH_AT=before_case_commit``: the process dies when a case is about to be opened (the
Confirm press is stored in the inbox, nothing of the case is). ``CRASH_AT=after_case_commit``:
it dies right after the case and its notifications are committed, before anything is sent or
answered. No cleanup code runs in either case, as with a power cut.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from bot.__main__ import main
from core.services import cases

POINT = os.environ.get("CRASH_AT", "")
open_case = cases.open_case


async def open_case_then_die(*args: Any, **kwargs: Any) -> Any:
    if POINT == "before_case_commit":
        os.kill(os.getpid(), signal.SIGKILL)
    opened = await open_case(*args, **kwargs)
    if POINT == "after_case_commit":
        os.kill(os.getpid(), signal.SIGKILL)
    return opened


cases.open_case = open_case_then_die

if __name__ == "__main__":
    main()

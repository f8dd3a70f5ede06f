"""What the bot remembers of a buyer's conversation between two updates: one typed model.

Every buyer flow (opening a case, tracking, changing an order, following up on a case) keeps
its data in the chat's FSM data as :class:`BuyerConversation`, read with :func:`read` and
changed with :func:`write`; no handler touches the raw dict. What is stored stays JSON
primitives (``model_dump(mode="json")``), and only what differs from a default, so a row
stays small.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from aiogram.fsm.context import FSMContext
from pydantic import BaseModel, ConfigDict, ValidationError

from core.cases.reasons import Reason, Resolution

log = logging.getLogger(__name__)

Purpose = Literal["case", "track", "change"]


class EvidenceItem(BaseModel):
    """A photo, video or image/video file the buyer sent, as Telegram describes it (the file
    itself is downloaded only when the case is opened)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["photo", "video"]
    file_id: str
    file_unique_id: str
    size: int | None = None
    mime: str
    document: bool = False  # sent as a file, not as a photo or video
    media_group_id: str | None = None  # the album it came in
    caption: str | None = None


class RefusedClaim(BaseModel):
    """A claim the bot just refused, kept so that "talk to a person" can take it from there:
    reopen a rejected case, escalate the open one, or open it anew for an agent."""

    model_config = ConfigDict(extra="forbid")

    order_id: int
    chosen: dict[str, int] = {}  # line number (as text) → quantity
    error: str | None = None  # the refusal's code
    reopen: str | None = None  # the rejected case a person reviews
    escalate: str | None = None  # the open case on these items a person takes
    reason: Reason | None = None  # a new request for a person
    description: str | None = None


class BuyerConversation(BaseModel):
    """One buyer's conversation so far. Every field has a default: an empty conversation is a
    valid one."""

    model_config = ConfigDict(extra="forbid")

    # The order and its items: which order (picked, or typed and then checked), what for,
    # which lines and how many of each.
    purpose: Purpose = "case"  # a case, tracking a parcel, or changing / cancelling the order
    order_id: int | None = None
    order_number: str | None = None
    typing_other: bool = False  # typing a number instead of picking one of their orders
    typed_number: str | None = None  # the order number typed, waiting for the ownership check
    chosen: dict[str, int] = {}  # line number (as text: JSON keys are) → quantity
    pending_qty: list[int] = []  # lines still to be asked "how many?", in order

    # The problem: the reason offered and chosen, the buyer's words, what the policy asks.
    offered_reasons: list[Reason] | None = None  # the buttons shown; None: none shown yet
    reason: Reason | None = None
    description: str | None = None
    description_required: bool = False
    need: dict[str, int] = {}  # minimum evidence: photos, videos, media (either)
    guide: list[str] = []  # the shots to ask for, in order
    evidence: list[EvidenceItem] = []  # what came so far (and, on a case, what to add)
    album_messages: dict[str, int] = {}  # album (media_group_id) → the answer to edit

    # The outcome: the resolutions offered and the one preferred; a person instead.
    offered: list[Resolution] = []
    resolution: Resolution | None = None
    wants_person: bool = False  # a person decides (asked for, or a chargeback threat)
    refused: RefusedClaim | None = None  # the claim just refused, for "talk to a person"

    # Navigation: the steps behind this one, for Back (FSM state names).
    history: list[str] = []

    # Following up on an open case: which case, and the tracking number of a return.
    case: str | None = None
    tracking: str | None = None


FIELDS = frozenset(BuyerConversation.model_fields)


def parse(data: dict[str, Any]) -> BuyerConversation:
    """The conversation in stored FSM data, leniently.

    Stored data may come from an older version of the bot (a conversation saved before a
    deploy) or from another flow of the same chat (the staff and agent flows keep ``status``
    and ``thread`` here): a key this model does not know is left out, logged at debug, never
    raised, so that a buyer mid-flow is not stuck on every update. A known key whose stored
    value no longer fits its type is left out too (logged as a warning): the step that needs
    it asks again, rather than failing. Code that writes goes through :func:`write`, which is
    strict."""
    known = {key: value for key, value in data.items() if key in FIELDS}
    unknown = sorted(data.keys() - FIELDS)
    if unknown:
        log.debug("conversation data not read (not the buyer's, or stale): %s", unknown)
    try:
        return BuyerConversation.model_validate(known)
    except ValidationError as exc:
        invalid = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
        log.warning("conversation data dropped (no longer valid): %s", sorted(invalid))
        return BuyerConversation.model_validate(
            {key: value for key, value in known.items() if key not in invalid}
        )


def dump(conversation: BuyerConversation) -> dict[str, Any]:
    """What is stored: JSON primitives, only what differs from the defaults."""
    return conversation.model_dump(mode="json", exclude_defaults=True)


async def read(state: FSMContext) -> BuyerConversation:
    return parse(await state.get_data())


async def write(state: FSMContext, **changes: Any) -> BuyerConversation:
    """Change some fields and store the result; the conversation after the change.

    Strict: an unknown field or a value of the wrong type (``reason="damaged"`` rather than
    ``Reason.DAMAGED``, ``chosen={1: 1}``) raises ``ValidationError`` here, before anything
    is stored. Keys that :func:`parse` left out (another flow's, or stale) are kept as they
    are: this model does not own them, and ``state.clear()`` ends them with the flow."""
    stored = await state.get_data()
    current = parse(stored)
    changed = BuyerConversation.model_validate({**dict(current), **changes}, strict=True)
    others = {key: value for key, value in stored.items() if key not in FIELDS}
    await state.set_data({**others, **dump(changed)})
    return changed

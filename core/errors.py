"""Errors the core raises; each carries a stable code that the bot renders as a sentence.

Every code is a member of ``ErrorCode``: a code that is not listed cannot be raised, and a test
checks that each one has a sentence in every catalogue.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    # generic, by class
    CORE_ERROR = "core_error"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    INVALID_TRANSITION = "invalid_transition"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"
    INVALID = "invalid"
    # who may act
    NOT_STAFF = "not_staff"
    NOT_YOUR_SHOP = "not_your_shop"
    ROLE_NOT_ALLOWED = "role_not_allowed"
    UNKNOWN_SHOP = "unknown_shop"
    UNKNOWN_ROLE = "unknown_role"
    INVITE_EXPIRED = "invite_expired"
    INVITE_USED = "invite_used"
    INVITE_REVOKED = "invite_revoked"
    INVITE_INVALID = "invite_invalid"
    INVITATION_NOT_FOUND = "invitation_not_found"
    NOT_A_MEMBER = "not_a_member"
    STAFF_IN_CONFIG = "staff_in_config"
    # orders and links
    ORDER_NOT_LINKED = "order_not_linked"
    ORDER_CHECK_FAILED = "order_check_failed"
    ORDER_NOT_FOUND = "order_not_found"
    ORDER_LINE_NOT_FOUND = "order_line_not_found"
    ORDER_FULLY_REFUNDED = "order_fully_refunded"
    LINK_TOKEN_INVALID = "link_token_invalid"
    LOGIN_LINK_INVALID = "login_link_invalid"  # the board's one-time login link
    # opening a case
    NOT_ELIGIBLE = "not_eligible"
    PREVIOUSLY_REJECTED = "previously_rejected"
    LINE_HAS_OPEN_CASE = "line_has_open_case"
    DUPLICATE_CASE_NUMBER = "duplicate_case_number"
    EVIDENCE_TOO_LARGE = "evidence_too_large"
    TOO_MUCH_EVIDENCE = "too_much_evidence"
    EVIDENCE_STILL_MISSING = "evidence_still_missing"
    # a case's lifecycle
    CASE_NOT_FOUND = "case_not_found"
    CASE_CLOSED = "case_closed"
    NOT_WAITING_ON_YOU = "not_waiting_on_you"
    ALREADY_HANDLED = "already_handled"
    STALE_CASE = "stale_case"
    WRONG_STATUS = "wrong_status"
    WRONG_TARGET = "wrong_target"
    UNKNOWN_ACTION = "unknown_action"
    ALREADY_ESCALATED = "already_escalated"
    NEEDS_AN_AGENT = "needs_an_agent"
    TAKEN_BY_OTHER_AGENT = "taken_by_other_agent"
    NOT_YOUR_CONVERSATION = "not_your_conversation"
    RESOLUTION_NOT_ALLOWED = "resolution_not_allowed"
    NO_REFUND_DUE = "no_refund_due"
    REFUND_PENDING = "refund_pending"
    NO_REPLACEMENT_DUE = "no_replacement_due"
    REPLACEMENT_PENDING = "replacement_pending"
    NO_RETURN_DUE = "no_return_due"
    # writing to the buyer (ready replies)
    NO_BUYER_CHAT = "no_buyer_chat"
    CONVERSATION_WITH_AGENT = "conversation_with_agent"
    READY_REPLY_UNAVAILABLE = "ready_reply_unavailable"
    # satisfaction surveys
    SURVEY_NOT_FOUND = "survey_not_found"
    SURVEY_ANSWERED = "survey_answered"
    SURVEY_WITHDRAWN = "survey_withdrawn"
    # typed values
    TEXT_TOO_LONG = "text_too_long"
    REASON_REQUIRED = "reason_required"
    EMPTY = "empty"
    AMOUNT_REQUIRED = "amount_required"
    AMOUNT_OUT_OF_RANGE = "amount_out_of_range"
    WRONG_CURRENCY = "wrong_currency"
    INVALID_AMOUNT = "invalid_amount"
    PACK_TOO_LARGE = "pack_too_large"
    # platform disputes
    UNKNOWN_PLATFORM = "unknown_platform"
    UNKNOWN_STAGE = "unknown_stage"
    DISPUTE_ON_OTHER_CASE = "dispute_on_other_case"
    DUE_DATE_REQUIRED = "due_date_required"
    BAD_DATE = "bad_date"
    DISPUTE_NOT_FOUND = "dispute_not_found"


class CoreError(Exception):
    code: str = ErrorCode.CORE_ERROR

    def __init__(self, message: str, *, code: str | None = None, **params: Any) -> None:
        super().__init__(message)
        if code is not None:
            self.code = ErrorCode(code)  # an unlisted code is a bug: it would have no words
        self.params = params


class NotFound(CoreError):
    code: str = ErrorCode.NOT_FOUND


class Forbidden(CoreError):
    """The acting user may not do this (someone else's order or case, wrong shop, wrong role)."""

    code: str = ErrorCode.FORBIDDEN


class InvalidTransition(CoreError):
    code: str = ErrorCode.INVALID_TRANSITION


class Conflict(CoreError):
    """Somebody else changed the case first (two staff pressing at once), or a duplicate."""

    code: str = ErrorCode.CONFLICT


class RateLimited(CoreError):
    code: str = ErrorCode.RATE_LIMITED


class ValidationFailed(CoreError):
    code: str = ErrorCode.INVALID

"""ORM rows: the database schema, one metadata (migrations in ``migrations/`` create exactly this).

Repositories map these rows to and from the domain dataclasses; nothing outside
``core.persistence`` should need them. Relationships are ``lazy="raise"``: load explicitly.
Enumerations are stored as their string values (no database enums: cheaper migrations).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core.persistence.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A JSON column where Python None means SQL NULL (not the JSON literal null).
NullableJSON = JSON(none_as_null=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


# --- orders ---------------------------------------------------------------------------------


class OrderRow(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(64))  # as the shop writes it
    number_key: Mapped[str] = mapped_column(String(64))  # normalize_order_number(number)
    placed_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    buyer_name: Mapped[str] = mapped_column(String(255))
    buyer_email: Mapped[str | None] = mapped_column(String(255))
    buyer_phone: Mapped[str | None] = mapped_column(String(64))
    # normal_email / phone_digits of the two above (core/orders/contacts.py), indexed by shop
    buyer_email_key: Mapped[str | None] = mapped_column(String(255))  # 0012
    buyer_phone_key: Mapped[str | None] = mapped_column(String(64))  # 0012
    buyer_country: Mapped[str | None] = mapped_column(String(2))
    buyer_language: Mapped[str | None] = mapped_column(String(35))
    buyer_telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    ship_line1: Mapped[str | None] = mapped_column(String(255))
    ship_line2: Mapped[str | None] = mapped_column(String(255))
    ship_city: Mapped[str | None] = mapped_column(String(128))
    ship_postal_code: Mapped[str | None] = mapped_column(String(32))
    ship_region: Mapped[str | None] = mapped_column(String(128))
    ship_country: Mapped[str | None] = mapped_column(String(2))
    shipping_cost_minor: Mapped[int | None] = mapped_column(BigInteger)
    cancelled_at: Mapped[datetime | None]
    refunded_minor: Mapped[int | None] = mapped_column(BigInteger)
    external_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    lines: Mapped[list[OrderLineRow]] = relationship(
        lazy="raise", order_by="OrderLineRow.line_no", passive_deletes=True
    )
    shipments: Mapped[list[ShipmentRow]] = relationship(
        lazy="raise", order_by="ShipmentRow.seq", passive_deletes=True
    )

    __table_args__ = (
        UniqueConstraint("shop", "number_key"),
        Index("ix_orders_number_key", "number_key"),
        Index("ix_orders_shop_buyer_email_key", "shop", "buyer_email_key"),
        Index("ix_orders_shop_buyer_phone_key", "shop", "buyer_phone_key"),
    )


class OrderLineRow(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(500))
    category: Mapped[str | None] = mapped_column(String(128))
    supplier: Mapped[str | None] = mapped_column(String(128))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    refunded_quantity: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    supplier_order: Mapped[str | None] = mapped_column(String(64))  # 0009

    __table_args__ = (UniqueConstraint("order_id", "line_no"),)


class ShipmentRow(Base):
    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    carrier: Mapped[str | None] = mapped_column(String(64))
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    registered: Mapped[bool] = mapped_column(Boolean)
    shipped_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    est_min_days: Mapped[int | None] = mapped_column(Integer)
    est_max_days: Mapped[int | None] = mapped_column(Integer)
    skus: Mapped[list[str] | None] = mapped_column(NullableJSON)  # None: the whole order
    events: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{at, status, location, ...}]

    __table_args__ = (UniqueConstraint("order_id", "seq"),)


class ImportRunRow(Base):
    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file: Mapped[str] = mapped_column(String(500))
    format: Mapped[str] = mapped_column(String(32))
    shop: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    orders_created: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    orders_updated: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    rows: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


# --- people ---------------------------------------------------------------------------------


class TelegramUserRow(Base):
    __tablename__ = "telegram_users"

    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_name: Mapped[str | None] = mapped_column(String(255))
    language_code: Mapped[str | None] = mapped_column(String(35))  # what Telegram says
    chosen_language: Mapped[str | None] = mapped_column(String(35))  # what the user picked
    reachable: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class BuyerLinkRow(Base):
    __tablename__ = "buyer_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    telegram_id: Mapped[int] = mapped_column(BigInteger)
    # token | email | phone_last4 | postal_code | import (| check: before proofs were named)
    via: Mapped[str] = mapped_column(String(16))
    linked_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("order_id", "telegram_id"),
        Index("ix_buyer_links_telegram_id", "telegram_id"),
    )


class LinkAttemptRow(Base):
    __tablename__ = "link_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]
    success: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (Index("ix_link_attempts_telegram_id_at", "telegram_id", "at"),)


class LinkAttemptCounterRow(Base):
    """Failed order checks per account in the current hour: counted and decided in one
    conditional UPDATE, so concurrent wrong checks cannot slip past the limit."""

    __tablename__ = "link_attempt_counters"

    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    window_start: Mapped[datetime]
    failures: Mapped[int] = mapped_column(Integer)


class StaffRow(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop: Mapped[str] = mapped_column(String(64))
    telegram_id: Mapped[int] = mapped_column(BigInteger)
    role: Mapped[str] = mapped_column(String(16))  # seller | agent
    added_at: Mapped[datetime]
    via: Mapped[str] = mapped_column(String(16))  # config | invite

    __table_args__ = (
        UniqueConstraint("shop", "telegram_id", "role"),
        Index("ix_staff_telegram_id", "telegram_id"),
    )


class InvitationRow(Base):
    """A single-use invitation to join shops as a seller or agent. The link carries only the
    nonce and a tag under the deployment's own invitation key; what it grants lives here."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nonce: Mapped[str] = mapped_column(String(32), unique=True)
    shops: Mapped[list[str]] = mapped_column(JSON)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    accepted_by: Mapped[int | None] = mapped_column(BigInteger)
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class StaffEventRow(Base):
    """The audit trail of membership: invited, joined, removed, revoked."""

    __tablename__ = "staff_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(32))
    shop: Mapped[str | None] = mapped_column(String(64))
    telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    role: Mapped[str | None] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(64))  # "cli", "config", or a Telegram id
    data: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (Index("ix_staff_events_telegram_id", "telegram_id"),)


class ErasureRequestRow(Base):
    """A buyer's (or the shop's) request to erase a person's data, done when no hold applies."""

    __tablename__ = "erasure_requests"

    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    requested_at: Mapped[datetime]
    requested_by: Mapped[str] = mapped_column(String(16))  # buyer | shop
    due_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


# --- cases ----------------------------------------------------------------------------------


class CaseRow(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    shop: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    buyer_id: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    preferred_resolution: Mapped[str | None] = mapped_column(String(32))
    resolution: Mapped[str | None] = mapped_column(String(32))
    decided_by: Mapped[str | None] = mapped_column(String(16))
    decision_note: Mapped[str | None] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(String(3))
    refund_minor: Mapped[int | None] = mapped_column(BigInteger)
    refunded_minor: Mapped[int | None] = mapped_column(BigInteger)
    refund_reference: Mapped[str | None] = mapped_column(String(128))
    return_required: Mapped[bool] = mapped_column(Boolean)
    return_paid_by: Mapped[str | None] = mapped_column(String(16))
    goods: Mapped[str] = mapped_column(String(16))
    money: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(8))
    owner_agent_id: Mapped[int | None] = mapped_column(BigInteger)
    # how the account that opened the case proved it owns the order (see buyer_links.via)
    buyer_proof: Mapped[str | None] = mapped_column(String(16))
    # signs of abuse a person should look at: [{"code": …, "params": {…}}], never a refusal
    signals: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    agent_topic_id: Mapped[int | None] = mapped_column(BigInteger)  # the agents' forum topic
    escalated: Mapped[bool] = mapped_column(Boolean)
    deadline_at: Mapped[datetime | None]
    return_tracking: Mapped[str | None] = mapped_column(String(64))
    replacement_tracking: Mapped[str | None] = mapped_column(String(64))
    decision: Mapped[dict[str, Any]] = mapped_column(JSON)  # the policy decision snapshot
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    # Optimistic lock: the repository updates with WHERE version = :seen and bumps it.
    version: Mapped[int] = mapped_column(Integer)

    lines: Mapped[list[CaseLineRow]] = relationship(
        lazy="raise", order_by="CaseLineRow.line_no", passive_deletes=True
    )
    evidence: Mapped[list[EvidenceRow]] = relationship(
        lazy="raise", order_by="EvidenceRow.id", passive_deletes=True
    )

    __table_args__ = (
        Index("ix_cases_shop_status", "shop", "status"),
        Index("ix_cases_buyer_id", "buyer_id"),
        Index("ix_cases_status_deadline_at", "status", "deadline_at"),
        Index("ix_cases_order_id", "order_id"),
        Index("ix_cases_agent_topic_id", "agent_topic_id"),  # an agent's message in a topic
    )


class CaseLineRow(Base):
    __tablename__ = "case_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    is_open: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (
        Index("ix_case_lines_case_id", "case_id"),
        # Two open cases can never cover the same order line, even when two requests race.
        Index(
            "uq_case_lines_open_order_line_id",
            "order_line_id",
            unique=True,
            sqlite_where=text("is_open"),
            postgresql_where=text("is_open"),
        ),
    )


class EvidenceRow(Base):
    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    file_unique_id: Mapped[str] = mapped_column(String(128))
    file_id: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    mime_type: Mapped[str | None] = mapped_column(String(128))
    media_group_id: Mapped[str | None] = mapped_column(String(64))
    caption: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[datetime]
    added_by: Mapped[str] = mapped_column(String(16))

    # A redelivered photo is never stored twice.
    __table_args__ = (UniqueConstraint("case_id", "file_unique_id"),)


class AuditEventRow(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    actor_role: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (Index("ix_audit_events_case_id_id", "case_id", "id"),)


class CaseNumberCounterRow(Base):
    __tablename__ = "case_number_counters"

    period: Mapped[str] = mapped_column(String(8), primary_key=True)  # "2611": November 2026
    last: Mapped[int] = mapped_column(Integer)


# --- notifications --------------------------------------------------------------------------


class OutboxRow(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime]
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    recipient_role: Mapped[str] = mapped_column(String(16))  # buyer|seller|agents|staff_chat
    chat_id: Mapped[int | None] = mapped_column(BigInteger)  # None: resolve at send time
    shop: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(48))  # a notification code like "case_opened"
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(
        String(16), default="pending", server_default=text("'pending'")
    )  # pending | sending (claimed until next_attempt_at) | sent | failed | unreachable
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_case_id", "case_id"),
        Index("ix_outbox_chat_id", "chat_id"),  # a person's queued messages, when erased
    )


class LiveAlertRow(Base):
    """A staff message whose buttons still act on its case: the newest alert per case and
    chat. When a newer one reaches that chat, the older one loses its buttons."""

    __tablename__ = "live_alerts"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    message_id: Mapped[int] = mapped_column(BigInteger)
    sent_at: Mapped[datetime]


# --- conversation state -----------------------------------------------------------------------


class ConversationStateRow(Base):
    """Where each chat is in a conversation (the bot's FSM), so a restart loses nothing."""

    __tablename__ = "conversation_states"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(128))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime]


# --- incoming updates and coordination between processes ----------------------------------


class InboxUpdateRow(Base):
    """Every incoming Telegram update, written before Telegram is told it arrived; processed
    in order per chat, by whichever process claims it (a lease), retried, or parked."""

    __tablename__ = "inbox_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_key: Mapped[int] = mapped_column(BigInteger)  # the chat (or user) it belongs to
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # pending | processing | done | parked
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    received_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(96))
    lease_until: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # what the update's handlers sent so far, as JSON (bot/receiving/replay.py): a re-run
    # after a crash does not say it twice; cleared by the done-mark
    answers: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_inbox_updates_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_inbox_updates_chat_key_update_id", "chat_key", "update_id"),
    )


class LeaseRow(Base):
    """A named job only one process may do at a time (sending, timers): held until expiry."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(96))
    expires_at: Mapped[datetime]


class RuntimeValueRow(Base):
    """Values every process must share and that are made once (the webhook secret)."""

    __tablename__ = "runtime_values"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


def _table(row: type[Base]) -> Table:
    return cast(Table, row.__table__)


orders = _table(OrderRow)
order_lines = _table(OrderLineRow)
shipments = _table(ShipmentRow)
import_runs = _table(ImportRunRow)
telegram_users = _table(TelegramUserRow)
buyer_links = _table(BuyerLinkRow)
link_attempts = _table(LinkAttemptRow)
link_attempt_counters = _table(LinkAttemptCounterRow)
staff = _table(StaffRow)
invitations = _table(InvitationRow)
staff_events = _table(StaffEventRow)
erasure_requests = _table(ErasureRequestRow)
cases = _table(CaseRow)
case_lines = _table(CaseLineRow)
evidence = _table(EvidenceRow)
audit_events = _table(AuditEventRow)
case_number_counters = _table(CaseNumberCounterRow)
outbox = _table(OutboxRow)
live_alerts = _table(LiveAlertRow)
conversation_states = _table(ConversationStateRow)
inbox_updates = _table(InboxUpdateRow)
leases = _table(LeaseRow)
runtime_values = _table(RuntimeValueRow)


# --- costs (issue 16: what returns cost) ---------------------------------------------------


class SkuCostRow(Base):
    """What the shop pays its supplier for one unit of a SKU, from a day on (import-costs)."""

    __tablename__ = "sku_costs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop: Mapped[str] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(String(128))
    supplier: Mapped[str | None] = mapped_column(String(128))
    unit_cost_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    valid_from: Mapped[datetime]
    imported_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("shop", "sku", "valid_from"),)


class CaseCostRow(Base):
    """Money a case cost the shop (refund, reship, label, chargeback fee) or brought back
    (restocking fee, supplier credit), as staff recorded it; each is also an audit event."""

    __tablename__ = "case_costs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime]
    recorded_by_role: Mapped[str] = mapped_column(String(16))
    recorded_by_id: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_case_costs_case_id", "case_id"),)


sku_costs = _table(SkuCostRow)
case_costs = _table(CaseCostRow)
# The figures read a shop's orders by the day they were placed, with their lines, parcels and
# cases:
# covering indexes (migration 0005).
Index("ix_orders_shop_placed_at", orders.c.shop, orders.c.placed_at, orders.c.ship_country)
Index(
    "ix_order_lines_order_id_figures",
    order_lines.c.order_id,
    order_lines.c.sku,
    order_lines.c.supplier,
    order_lines.c.quantity,
)
Index(
    "ix_cases_figures",
    cases.c.shop,
    cases.c.order_id,
    cases.c.reason,
    cases.c.resolution,
    cases.c.currency,
    cases.c.refunded_minor,
)
Index(
    "ix_shipments_order_id_figures",
    shipments.c.order_id,
    shipments.c.carrier,
    shipments.c.shipped_at,
    shipments.c.delivered_at,
)


# --- after the case: satisfaction and signs of abuse ------------------------------------------


class SurveyRow(Base):
    """One satisfaction survey per resolution of a case: scheduled when the case is resolved
    or rejected, asked after a delay, withdrawn if the case reopens before an answer."""

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer)  # the case's nth resolution
    shop: Mapped[str] = mapped_column(String(64))
    buyer_id: Mapped[int | None] = mapped_column(BigInteger)
    agent_id: Mapped[int | None] = mapped_column(BigInteger)  # who handled it, if an agent
    status: Mapped[str] = mapped_column(String(16))  # scheduled | asked | answered | withdrawn
    due_at: Mapped[datetime]
    asked_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    score: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("case_id", "round"),
        Index("ix_surveys_status_due_at", "status", "due_at"),
    )


class EvidenceFingerprintRow(Base):
    """What a stored evidence file looks like (a perceptual hash) and, for a file sent as a
    document, the date its camera wrote: for the abuse signals, erased with the buyer."""

    __tablename__ = "evidence_fingerprints"

    evidence_id: Mapped[int] = mapped_column(
        ForeignKey("evidence.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    phash: Mapped[str | None] = mapped_column(String(32))
    taken_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_evidence_fingerprints_phash", "phash"),)


surveys = _table(SurveyRow)
evidence_fingerprints = _table(EvidenceFingerprintRow)


# --- the seller's board (issue 15) -------------------------------------------------------------


class BoardLoginRow(Base):
    """A one-time login link to the board, sent by /board to a seller or agent: used once,
    within minutes, by whoever holds the link (a browser outside Telegram)."""

    __tablename__ = "board_logins"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_board_logins_expires_at", "expires_at"),)


board_logins = _table(BoardLoginRow)


class MessageTranslationRow(Base):
    """A machine translation of someone's own words (core/translation), by the source text's
    hash: the cache, and what the evidence pack shows beside the original."""

    __tablename__ = "message_translations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_hash: Mapped[str] = mapped_column(String(64))
    source_language: Mapped[str] = mapped_column(String(16))
    target_language: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("source_hash", "source_language", "target_language"),)


class MessageLanguageRow(Base):
    """The language a message was written in (detected offline, else the writer's chosen
    language: ``detected`` false), by the message text's hash."""

    __tablename__ = "message_languages"

    source_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    language: Mapped[str] = mapped_column(String(16))
    detected: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]


message_translations = _table(MessageTranslationRow)
message_languages = _table(MessageLanguageRow)


# --- supplier claims: the cost of a refund claimed back from the supplier (0009) ------------


class SupplierClaimRow(Base):
    """One claim per approved case and supplier whose terms cover the reason."""

    __tablename__ = "supplier_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    shop: Mapped[str] = mapped_column(String(64))
    supplier: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))
    supplier_order: Mapped[str | None] = mapped_column(String(64))
    lines: Mapped[list[Any]] = mapped_column(JSON)
    goods_minor: Mapped[int] = mapped_column(BigInteger)
    goods_currency: Mapped[str] = mapped_column(String(3))
    postage_minor: Mapped[int] = mapped_column(BigInteger)
    postage_currency: Mapped[str] = mapped_column(String(3))
    recovered_minor: Mapped[int | None] = mapped_column(BigInteger)
    recovered_currency: Mapped[str | None] = mapped_column(String(3))
    deadline_at: Mapped[datetime | None]
    late: Mapped[bool] = mapped_column(Boolean)
    warnings: Mapped[list[Any]] = mapped_column(JSON)
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("case_id", "supplier"),
        Index("ix_supplier_claims_shop_supplier_status", "shop", "supplier", "status"),
    )


class SupplierClaimEventRow(Base):
    """Every move of a supplier claim: who, when, from and to which status, and the values."""

    __tablename__ = "supplier_claim_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("supplier_claims.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    actor_role: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (Index("ix_supplier_claim_events_claim_id", "claim_id"),)


supplier_claims = _table(SupplierClaimRow)
supplier_claim_events = _table(SupplierClaimEventRow)


# --- platform disputes on cases (issue 17, migration 0008) ------------------------------------


class DisputeRow(Base):
    """A dispute a platform or payment processor opened on a case's order (an AliExpress
    dispute, a PayPal claim, a chargeback), held to the platform's rules version of its day."""

    __tablename__ = "disputes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    shop: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(64))
    rules_version: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str] = mapped_column(String(32))
    opened_at: Mapped[datetime]
    stage_since: Mapped[datetime]
    due_given: Mapped[datetime | None]  # a chargeback's evidence due date, as given
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("platform", "external_id"),
        Index("ix_disputes_case_id", "case_id"),
    )


class DisputeDeadlineRow(Base):
    """One deadline of a dispute in one stage; ``active`` while the dispute is in that stage,
    ``missed_at`` once it passed and an agent was called."""

    __tablename__ = "dispute_deadlines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime]
    seller_must_act: Mapped[bool] = mapped_column(Boolean)
    then: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean)
    missed_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("dispute_id", "code", "stage"),
        Index("ix_dispute_deadlines_active_due_at", "active", "due_at"),
    )


class DisputeReminderRow(Base):
    """A reminder sent before a deadline (48, 24, 4 hours): at most one per deadline and
    lead time, whatever the timers do."""

    __tablename__ = "dispute_reminders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deadline_id: Mapped[int] = mapped_column(ForeignKey("dispute_deadlines.id", ondelete="CASCADE"))
    hours: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("deadline_id", "hours"),)


disputes = _table(DisputeRow)
dispute_deadlines = _table(DisputeDeadlineRow)
dispute_reminders = _table(DisputeReminderRow)

"""The database schema as SQLAlchemy Core tables, one metadata (migrations in ``migrations/``
create exactly this).

Repositories map these rows to and from the domain dataclasses with Core statements; nothing
outside ``core.persistence`` should need them. Enumerations are stored as their string values
(no database enums: cheaper migrations). Core tables, not ORM classes: no code maps rows to
objects, and the declarative mapping cost about 1.5 MB and 50 ms of start-up in every process.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
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

from core.persistence.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# A JSON column where Python None means SQL NULL (not the JSON literal null).
NullableJSON = JSON(none_as_null=True)


# --- orders ---------------------------------------------------------------------------------


orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("shop", String(64), nullable=False),
    Column("number", String(64), nullable=False),  # as the shop writes it
    Column("number_key", String(64), nullable=False),  # normalize_order_number(number)
    Column("placed_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("buyer_name", String(255), nullable=False),
    Column("buyer_email", String(255)),
    Column("buyer_phone", String(64)),
    # normal_email / phone_digits of the two above (core/orders/contacts.py), indexed by shop
    Column("buyer_email_key", String(255)),  # 0012
    Column("buyer_phone_key", String(64)),  # 0012
    Column("buyer_country", String(2)),
    Column("buyer_language", String(35)),
    Column("buyer_telegram_id", BigInteger),
    Column("ship_line1", String(255)),
    Column("ship_line2", String(255)),
    Column("ship_city", String(128)),
    Column("ship_postal_code", String(32)),
    Column("ship_region", String(128)),
    Column("ship_country", String(2)),
    Column("shipping_cost_minor", BigInteger),
    Column("cancelled_at", UTCDateTime()),
    Column("refunded_minor", BigInteger),
    Column("external_id", String(64)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("shop", "number_key"),
    Index("ix_orders_number_key", "number_key"),
    Index("ix_orders_shop_buyer_email_key", "shop", "buyer_email_key"),
    Index("ix_orders_shop_buyer_phone_key", "shop", "buyer_phone_key"),
)


order_lines = Table(
    "order_lines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("sku", String(128), nullable=False),
    Column("title", String(500), nullable=False),
    Column("category", String(128)),
    Column("supplier", String(128)),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_minor", BigInteger, nullable=False),
    Column("refunded_quantity", Integer, default=0, server_default=text("0"), nullable=False),
    Column("supplier_order", String(64)),  # 0009
    UniqueConstraint("order_id", "line_no"),
)


shipments = Table(
    "shipments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("carrier", String(64)),
    Column("tracking_number", String(64)),
    Column("registered", Boolean, nullable=False),
    Column("shipped_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime()),
    Column("est_min_days", Integer),
    Column("est_max_days", Integer),
    Column("skus", NullableJSON),  # None: the whole order
    Column("events", JSON, nullable=False),  # [{at, status, location, ...}]
    UniqueConstraint("order_id", "seq"),
)


import_runs = Table(
    "import_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("file", String(500), nullable=False),
    Column("format", String(32), nullable=False),
    Column("shop", String(64)),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    Column("orders_created", Integer, default=0, server_default=text("0"), nullable=False),
    Column("orders_updated", Integer, default=0, server_default=text("0"), nullable=False),
    Column("rows", Integer, default=0, server_default=text("0"), nullable=False),
)


# --- people ---------------------------------------------------------------------------------


telegram_users = Table(
    "telegram_users",
    metadata,
    Column("telegram_id", BigInteger, primary_key=True, autoincrement=False),
    Column("first_name", String(255)),
    Column("language_code", String(35)),  # what Telegram says
    Column("chosen_language", String(35)),  # what the user picked
    Column("reachable", Boolean, default=True, server_default=true(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)


buyer_links = Table(
    "buyer_links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("telegram_id", BigInteger, nullable=False),
    # token | email | phone_last4 | postal_code | import (| check: before proofs were named)
    Column("via", String(16), nullable=False),
    Column("linked_at", UTCDateTime(), nullable=False),
    UniqueConstraint("order_id", "telegram_id"),
    Index("ix_buyer_links_telegram_id", "telegram_id"),
)


link_attempts = Table(
    "link_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("telegram_id", BigInteger, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("success", Boolean, nullable=False),
    Index("ix_link_attempts_telegram_id_at", "telegram_id", "at"),
)


# Failed order checks per account in the current hour: counted and decided in one
# conditional UPDATE, so concurrent wrong checks cannot slip past the limit.
link_attempt_counters = Table(
    "link_attempt_counters",
    metadata,
    Column("telegram_id", BigInteger, primary_key=True, autoincrement=False),
    Column("window_start", UTCDateTime(), nullable=False),
    Column("failures", Integer, nullable=False),
)


staff = Table(
    "staff",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("shop", String(64), nullable=False),
    Column("telegram_id", BigInteger, nullable=False),
    Column("role", String(16), nullable=False),  # seller | agent
    Column("added_at", UTCDateTime(), nullable=False),
    Column("via", String(16), nullable=False),  # config | invite
    UniqueConstraint("shop", "telegram_id", "role"),
    Index("ix_staff_telegram_id", "telegram_id"),
)


# A single-use invitation to join shops as a seller or agent. The link carries only the
# nonce and a tag under the deployment's own invitation key; what it grants lives here.
invitations = Table(
    "invitations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("nonce", String(32), unique=True, nullable=False),
    Column("shops", JSON, nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("accepted_by", BigInteger),
    Column("accepted_at", UTCDateTime()),
    Column("revoked_at", UTCDateTime()),
)


# The audit trail of membership: invited, joined, removed, revoked.
staff_events = Table(
    "staff_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("action", String(32), nullable=False),
    Column("shop", String(64)),
    Column("telegram_id", BigInteger),
    Column("role", String(16)),
    Column("by", String(64), nullable=False),  # "cli", "config", or a Telegram id
    Column("data", JSON, nullable=False),
    Index("ix_staff_events_telegram_id", "telegram_id"),
)


# A buyer's (or the shop's) request to erase a person's data, done when no hold applies.
erasure_requests = Table(
    "erasure_requests",
    metadata,
    Column("telegram_id", BigInteger, primary_key=True, autoincrement=False),
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("requested_by", String(16), nullable=False),  # buyer | shop
    Column("due_at", UTCDateTime(), nullable=False),
    Column("done_at", UTCDateTime()),
)


# --- cases ----------------------------------------------------------------------------------


cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(20), unique=True, nullable=False),
    Column("shop", String(64), nullable=False),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False),
    Column("buyer_id", BigInteger),
    Column("reason", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("description", Text),
    Column("preferred_resolution", String(32)),
    Column("resolution", String(32)),
    Column("decided_by", String(16)),
    Column("decision_note", Text),
    Column("currency", String(3), nullable=False),
    Column("refund_minor", BigInteger),
    Column("refunded_minor", BigInteger),
    Column("refund_reference", String(128)),
    Column("return_required", Boolean, nullable=False),
    Column("return_paid_by", String(16)),
    Column("goods", String(16), nullable=False),
    Column("money", String(16), nullable=False),
    Column("owner", String(8), nullable=False),
    Column("owner_agent_id", BigInteger),
    # how the account that opened the case proved it owns the order (see buyer_links.via)
    Column("buyer_proof", String(16)),
    # signs of abuse a person should look at: [{"code": …, "params": {…}}], never a refusal
    Column("signals", JSON),
    Column("agent_topic_id", BigInteger),  # the agents' forum topic
    Column("escalated", Boolean, nullable=False),
    Column("deadline_at", UTCDateTime()),
    Column("return_tracking", String(64)),
    Column("replacement_tracking", String(64)),
    Column("decision", JSON, nullable=False),  # the policy decision snapshot
    Column("opened_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("closed_at", UTCDateTime()),
    # Optimistic lock: the repository updates with WHERE version = :seen and bumps it.
    Column("version", Integer, nullable=False),
    Index("ix_cases_shop_status", "shop", "status"),
    Index("ix_cases_buyer_id", "buyer_id"),
    Index("ix_cases_status_deadline_at", "status", "deadline_at"),
    Index("ix_cases_order_id", "order_id"),
    Index("ix_cases_agent_topic_id", "agent_topic_id"),  # an agent's message in a topic
)


# Two open cases can never cover the same order line, even when two requests race (on
# PostgreSQL too: add_postgresql_options).
open_case_lines_index = Index(
    "uq_case_lines_open_order_line_id",
    "order_line_id",
    unique=True,
    sqlite_where=text("is_open"),
)

case_lines = Table(
    "case_lines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("order_line_id", Integer, ForeignKey("order_lines.id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("is_open", Boolean, nullable=False),
    Index("ix_case_lines_case_id", "case_id"),
    open_case_lines_index,
)


def add_postgresql_options() -> None:
    """The tables' PostgreSQL-only options, added when a PostgreSQL engine is made
    (core/persistence/engine.py). Named in a ``Table``, they would load SQLAlchemy's
    PostgreSQL dialect, about 2 MB resident, in every process, those on SQLite too. The
    migrations make the indexes; these options matter where the tables themselves make
    them (``metadata.create_all``, benchmarks/case_opening.py) and for Alembic's
    autogenerate, which writes new migrations from them."""
    open_case_lines_index.dialect_options["postgresql"]["where"] = text("is_open")


evidence = Table(
    "evidence",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("file_unique_id", String(128), nullable=False),
    Column("file_id", String(255)),
    Column("sha256", String(64)),
    Column("size", BigInteger),
    Column("mime_type", String(128)),
    Column("media_group_id", String(64)),
    Column("caption", Text),
    Column("added_at", UTCDateTime(), nullable=False),
    Column("added_by", String(16), nullable=False),
    # A redelivered photo is never stored twice.
    UniqueConstraint("case_id", "file_unique_id"),
)


audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor_role", String(16), nullable=False),
    Column("actor_id", BigInteger),
    Column("action", String(32), nullable=False),
    Column("from_status", String(32)),
    Column("to_status", String(32)),
    Column("note", Text),
    Column("data", JSON, nullable=False),
    Index("ix_audit_events_case_id_id", "case_id", "id"),
)


case_number_counters = Table(
    "case_number_counters",
    metadata,
    Column("period", String(8), primary_key=True),  # "2611": November 2026
    Column("last", Integer, nullable=False),
)


# --- notifications --------------------------------------------------------------------------


outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("case_id", Integer, ForeignKey("cases.id")),
    Column("recipient_role", String(16), nullable=False),  # buyer|seller|agents|staff_chat
    Column("chat_id", BigInteger),  # None: resolve at send time
    Column("shop", String(64)),
    Column("kind", String(48), nullable=False),  # a notification code like "case_opened"
    Column("payload", JSON, nullable=False),
    Column("dedupe_key", String(128), unique=True, nullable=False),
    Column(
        "status", String(16), default="pending", server_default=text("'pending'"), nullable=False
    ),  # pending | sending (claimed until next_attempt_at) | sent | failed | unreachable
    Column("attempts", Integer, default=0, server_default=text("0"), nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    Column("last_error", Text),
    Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_outbox_case_id", "case_id"),
    Index("ix_outbox_chat_id", "chat_id"),  # a person's queued messages, when erased
)


# A staff message whose buttons still act on its case: the newest alert per case and
# chat. When a newer one reaches that chat, the older one loses its buttons.
live_alerts = Table(
    "live_alerts",
    metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("chat_id", BigInteger, primary_key=True),
    Column("message_id", BigInteger, nullable=False),
    Column("sent_at", UTCDateTime(), nullable=False),
)


# --- conversation state -----------------------------------------------------------------------


# Where each chat is in a conversation (the bot's FSM), so a restart loses nothing.
conversation_states = Table(
    "conversation_states",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("state", String(128)),
    Column("data", JSON, default=dict, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)


# --- incoming updates and coordination between processes ----------------------------------


# Every incoming Telegram update, written before Telegram is told it arrived; processed
# in order per chat, by whichever process claims it (a lease), retried, or parked.
inbox_updates = Table(
    "inbox_updates",
    metadata,
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("chat_key", BigInteger, nullable=False),  # the chat (or user) it belongs to
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # pending | processing | done | parked
    Column("attempts", Integer, default=0, server_default=text("0"), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("lease_owner", String(96)),
    Column("lease_until", UTCDateTime()),
    Column("finished_at", UTCDateTime()),
    Column("last_error", Text),
    # what the update's handlers sent so far, as JSON (bot/receiving/replay.py): a re-run
    # after a crash does not say it twice; cleared by the done-mark
    Column("answers", Text),
    Index("ix_inbox_updates_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_inbox_updates_chat_key_update_id", "chat_key", "update_id"),
)


# A named job only one process may do at a time (sending, timers): held until expiry.
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", String(96), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)


# Values every process must share and that are made once (the webhook secret).
runtime_values = Table(
    "runtime_values",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)


# --- costs (issue 16: what returns cost) ---------------------------------------------------


# What the shop pays its supplier for one unit of a SKU, from a day on (import-costs).
sku_costs = Table(
    "sku_costs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("shop", String(64), nullable=False),
    Column("sku", String(128), nullable=False),
    Column("supplier", String(128)),
    Column("unit_cost_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("valid_from", UTCDateTime(), nullable=False),
    Column("imported_at", UTCDateTime(), nullable=False),
    UniqueConstraint("shop", "sku", "valid_from"),
)


# Money a case cost the shop (refund, reship, label, chargeback fee) or brought back
# (restocking fee, supplier credit), as staff recorded it; each is also an audit event.
case_costs = Table(
    "case_costs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("note", Text),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("recorded_by_role", String(16), nullable=False),
    Column("recorded_by_id", BigInteger),
    Index("ix_case_costs_case_id", "case_id"),
)


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


# One satisfaction survey per resolution of a case: scheduled when the case is resolved
# or rejected, asked after a delay, withdrawn if the case reopens before an answer.
surveys = Table(
    "surveys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("round", Integer, nullable=False),  # the case's nth resolution
    Column("shop", String(64), nullable=False),
    Column("buyer_id", BigInteger),
    Column("agent_id", BigInteger),  # who handled it, if an agent
    Column("status", String(16), nullable=False),  # scheduled | asked | answered | withdrawn
    Column("due_at", UTCDateTime(), nullable=False),
    Column("asked_at", UTCDateTime()),
    Column("answered_at", UTCDateTime()),
    Column("score", Integer),
    Column("comment", Text),
    UniqueConstraint("case_id", "round"),
    Index("ix_surveys_status_due_at", "status", "due_at"),
)


# What a stored evidence file looks like (a perceptual hash) and, for a file sent as a
# document, the date its camera wrote: for the abuse signals, erased with the buyer.
evidence_fingerprints = Table(
    "evidence_fingerprints",
    metadata,
    Column(
        "evidence_id",
        Integer,
        ForeignKey("evidence.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("phash", String(32)),
    Column("taken_at", UTCDateTime()),
    Index("ix_evidence_fingerprints_phash", "phash"),
)


# --- the seller's board (issue 15) -------------------------------------------------------------


# A one-time login link to the board, sent by /board to a seller or agent: used once,
# within minutes, by whoever holds the link (a browser outside Telegram).
board_logins = Table(
    "board_logins",
    metadata,
    Column("nonce", String(64), primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime()),
    Index("ix_board_logins_expires_at", "expires_at"),
)


# A machine translation of someone's own words (core/translation), by the source text's
# hash: the cache, and what the evidence pack shows beside the original.
message_translations = Table(
    "message_translations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_hash", String(64), nullable=False),
    Column("source_language", String(16), nullable=False),
    Column("target_language", String(16), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("source_hash", "source_language", "target_language"),
)


# The language a message was written in (detected offline, else the writer's chosen
# language: ``detected`` false), by the message text's hash.
message_languages = Table(
    "message_languages",
    metadata,
    Column("source_hash", String(64), primary_key=True),
    Column("language", String(16), nullable=False),
    Column("detected", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)


# --- supplier claims: the cost of a refund claimed back from the supplier (0009) ------------


# One claim per approved case and supplier whose terms cover the reason.
supplier_claims = Table(
    "supplier_claims",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("shop", String(64), nullable=False),
    Column("supplier", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("supplier_order", String(64)),
    Column("lines", JSON, nullable=False),
    Column("goods_minor", BigInteger, nullable=False),
    Column("goods_currency", String(3), nullable=False),
    Column("postage_minor", BigInteger, nullable=False),
    Column("postage_currency", String(3), nullable=False),
    Column("recovered_minor", BigInteger),
    Column("recovered_currency", String(3)),
    Column("deadline_at", UTCDateTime()),
    Column("late", Boolean, nullable=False),
    Column("warnings", JSON, nullable=False),
    Column("opened_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("version", Integer, nullable=False),
    UniqueConstraint("case_id", "supplier"),
    Index("ix_supplier_claims_shop_supplier_status", "shop", "supplier", "status"),
)


# Every move of a supplier claim: who, when, from and to which status, and the values.
supplier_claim_events = Table(
    "supplier_claim_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "claim_id", Integer, ForeignKey("supplier_claims.id", ondelete="CASCADE"), nullable=False
    ),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor_role", String(16), nullable=False),
    Column("actor_id", BigInteger),
    Column("action", String(32), nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16)),
    Column("note", Text),
    Column("data", JSON, nullable=False),
    Index("ix_supplier_claim_events_claim_id", "claim_id"),
)


# --- platform disputes on cases (issue 17, migration 0008) ------------------------------------


# A dispute a platform or payment processor opened on a case's order (an AliExpress
# dispute, a PayPal claim, a chargeback), held to the platform's rules version of its day.
disputes = Table(
    "disputes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("shop", String(64), nullable=False),
    Column("platform", String(32), nullable=False),
    Column("external_id", String(64), nullable=False),
    Column("rules_version", String(32), nullable=False),
    Column("stage", String(32), nullable=False),
    Column("opened_at", UTCDateTime(), nullable=False),
    Column("stage_since", UTCDateTime(), nullable=False),
    Column("due_given", UTCDateTime()),  # a chargeback's evidence due date, as given
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("recorded_by", BigInteger),
    UniqueConstraint("platform", "external_id"),
    Index("ix_disputes_case_id", "case_id"),
)


# One deadline of a dispute in one stage; ``active`` while the dispute is in that stage,
# ``missed_at`` once it passed and an agent was called.
dispute_deadlines = Table(
    "dispute_deadlines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dispute_id", Integer, ForeignKey("disputes.id", ondelete="CASCADE"), nullable=False),
    Column("code", String(32), nullable=False),
    Column("stage", String(32), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("seller_must_act", Boolean, nullable=False),
    Column("then", String(32)),
    Column("active", Boolean, nullable=False),
    Column("missed_at", UTCDateTime()),
    UniqueConstraint("dispute_id", "code", "stage"),
    Index("ix_dispute_deadlines_active_due_at", "active", "due_at"),
)


# A reminder sent before a deadline (48, 24, 4 hours): at most one per deadline and
# lead time, whatever the timers do.
dispute_reminders = Table(
    "dispute_reminders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "deadline_id",
        Integer,
        ForeignKey("dispute_deadlines.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("hours", Integer, nullable=False),
    Column("sent_at", UTCDateTime(), nullable=False),
    UniqueConstraint("deadline_id", "hours"),
)

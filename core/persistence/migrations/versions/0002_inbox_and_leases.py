"""Crash safety and several processes: the inbox of incoming updates, leases, shared values.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

``inbox_updates`` holds every Telegram update from the moment it arrives until it is processed
(then purged after two days: Telegram redelivers for 24 hours). ``leases`` lets one process at
a time send notifications and run the timers. ``runtime_values`` keeps values made once and
shared by every process (the webhook secret). The outbox gains the ``sending`` status (a claim
that expires at ``next_attempt_at``): no schema change for it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inbox_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chat_key", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("lease_owner", sa.String(length=96), nullable=True),
        sa.Column("lease_until", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_inbox_updates")),
    )
    op.create_index(
        "ix_inbox_updates_status_next_attempt_at",
        "inbox_updates",
        ["status", "next_attempt_at"],
    )
    op.create_index(
        "ix_inbox_updates_chat_key_update_id", "inbox_updates", ["chat_key", "update_id"]
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=96), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "runtime_values",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_runtime_values")),
    )


def downgrade() -> None:
    op.drop_table("runtime_values")
    op.drop_table("leases")
    op.drop_index("ix_inbox_updates_chat_key_update_id", table_name="inbox_updates")
    op.drop_index("ix_inbox_updates_status_next_attempt_at", table_name="inbox_updates")
    op.drop_table("inbox_updates")

"""Platform disputes on cases, with their deadlines and reminders.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("shop", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("rules_version", sa.String(length=32), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("opened_at", TIMESTAMP, nullable=False),
        sa.Column("stage_since", TIMESTAMP, nullable=False),
        sa.Column("due_given", TIMESTAMP, nullable=True),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.Column("recorded_by", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_disputes_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
        sa.UniqueConstraint(
            "platform", "external_id", name=op.f("uq_disputes_platform_external_id")
        ),
    )
    op.create_index("ix_disputes_case_id", "disputes", ["case_id"], unique=False)
    op.create_table(
        "dispute_deadlines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dispute_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("due_at", TIMESTAMP, nullable=False),
        sa.Column("seller_must_act", sa.Boolean(), nullable=False),
        sa.Column("then", sa.String(length=32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("missed_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["dispute_id"],
            ["disputes.id"],
            name=op.f("fk_dispute_deadlines_dispute_id_disputes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispute_deadlines")),
        sa.UniqueConstraint(
            "dispute_id", "code", "stage", name=op.f("uq_dispute_deadlines_dispute_id_code_stage")
        ),
    )
    op.create_index(
        "ix_dispute_deadlines_active_due_at",
        "dispute_deadlines",
        ["active", "due_at"],
        unique=False,
    )
    op.create_table(
        "dispute_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deadline_id", sa.Integer(), nullable=False),
        sa.Column("hours", sa.Integer(), nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["deadline_id"],
            ["dispute_deadlines.id"],
            name=op.f("fk_dispute_reminders_deadline_id_dispute_deadlines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispute_reminders")),
        sa.UniqueConstraint(
            "deadline_id", "hours", name=op.f("uq_dispute_reminders_deadline_id_hours")
        ),
    )


def downgrade() -> None:
    op.drop_table("dispute_reminders")
    op.drop_index("ix_dispute_deadlines_active_due_at", table_name="dispute_deadlines")
    op.drop_table("dispute_deadlines")
    op.drop_index("ix_disputes_case_id", table_name="disputes")
    op.drop_table("disputes")

"""After the case: satisfaction surveys, evidence fingerprints and a case's abuse signals.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("shop", sa.String(length=64), nullable=False),
        sa.Column("buyer_id", sa.BigInteger(), nullable=True),
        sa.Column("agent_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", TIMESTAMP, nullable=False),
        sa.Column("asked_at", TIMESTAMP, nullable=True),
        sa.Column("answered_at", TIMESTAMP, nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_surveys_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
        sa.UniqueConstraint("case_id", "round", name=op.f("uq_surveys_case_id_round")),
    )
    op.create_index("ix_surveys_status_due_at", "surveys", ["status", "due_at"], unique=False)
    op.create_table(
        "evidence_fingerprints",
        sa.Column("evidence_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("phash", sa.String(length=32), nullable=True),
        sa.Column("taken_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["evidence_id"],
            ["evidence.id"],
            name=op.f("fk_evidence_fingerprints_evidence_id_evidence"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("evidence_id", name=op.f("pk_evidence_fingerprints")),
    )
    op.create_index(
        "ix_evidence_fingerprints_phash", "evidence_fingerprints", ["phash"], unique=False
    )
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("signals", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("signals")
    op.drop_index("ix_evidence_fingerprints_phash", table_name="evidence_fingerprints")
    op.drop_table("evidence_fingerprints")
    op.drop_index("ix_surveys_status_due_at", table_name="surveys")
    op.drop_table("surveys")

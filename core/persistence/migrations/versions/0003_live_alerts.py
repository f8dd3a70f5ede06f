"""Staff alerts whose buttons still act: the newest per case and chat.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05

When a newer alert about a case reaches a seller, the shop's group or the agents, the older
one loses its buttons, so that nobody presses a decision that was already taken.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "live_alerts",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_live_alerts_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("case_id", "chat_id", name=op.f("pk_live_alerts")),
    )


def downgrade() -> None:
    op.drop_table("live_alerts")

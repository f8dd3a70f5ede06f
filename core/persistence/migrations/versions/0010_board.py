"""The seller's board (Mini App): login links and sessions.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    # one-time login links to the board, sent by /board: single use, short expiry
    op.create_table(
        "board_logins",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("used_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_board_logins")),
    )
    op.create_index("ix_board_logins_expires_at", "board_logins", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_board_logins_expires_at", table_name="board_logins")
    op.drop_table("board_logins")

"""The messages an update sent are noted on its inbox row (they were runtime_values rows).

The inbox claim reads them with the update, so an update's first run costs no read and its
done-mark clears them in the same statement: two statements fewer per update on the hot path.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbox_updates") as batch:
        batch.add_column(sa.Column("answers", sa.Text(), nullable=True))
    # notes of an update in flight during the upgrade: it runs again and may repeat itself once
    op.execute("DELETE FROM runtime_values WHERE key LIKE 'answers:%'")


def downgrade() -> None:
    with op.batch_alter_table("inbox_updates") as batch:
        batch.drop_column("answers")

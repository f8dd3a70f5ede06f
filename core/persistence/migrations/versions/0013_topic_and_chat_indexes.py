"""Indexes for two look-ups that read a whole table.

An agent's message in a case's forum topic finds its case by ``cases.agent_topic_id`` (every
message an agent writes there), and erasing a person deletes their queued messages by
``outbox.chat_id``: both scanned the table. Statements of an update run on the event loop's
thread (core/persistence/sqlite_driver.py), where a scan of a large shop's cases stops every
chat meanwhile.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cases_agent_topic_id", "cases", ["agent_topic_id"])
    op.create_index("ix_outbox_chat_id", "outbox", ["chat_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_chat_id", table_name="outbox")
    op.drop_index("ix_cases_agent_topic_id", table_name="cases")

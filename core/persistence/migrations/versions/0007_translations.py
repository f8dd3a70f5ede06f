"""Translations of people's own words and staff reading languages.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Machine translations of people's own words, by the source text's hash: a cache (the
    # same words are not sent twice) and the record the evidence pack shows.
    op.create_table(
        "message_translations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_hash", sa.String(length=64), nullable=False),
        sa.Column("source_language", sa.String(length=16), nullable=False),
        sa.Column("target_language", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_translations")),
        sa.UniqueConstraint(
            "source_hash",
            "source_language",
            "target_language",
            name=op.f("uq_message_translations_source_hash_source_language_target_language"),
        ),
    )
    # The language each person's message was written in (detected offline), by its hash.
    op.create_table(
        "message_languages",
        sa.Column("source_hash", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("detected", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("source_hash", name=op.f("pk_message_languages")),
    )


def downgrade() -> None:
    op.drop_table("message_languages")
    op.drop_table("message_translations")

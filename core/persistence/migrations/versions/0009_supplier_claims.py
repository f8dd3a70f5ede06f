"""Supplier claims: the mirror case that claims a refund's cost back from the supplier.

One claim per approved case and supplier whose terms cover the reason: what is claimed (goods
at cost, postage), the supplier's order number and deadline, its own small lifecycle, and the
history of its moves (who moved it, when, with what amount).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    # the shop's order number with its supplier, when the order file gives it
    op.add_column("order_lines", sa.Column("supplier_order", sa.String(length=64), nullable=True))
    op.create_table(
        "supplier_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("shop", sa.String(length=64), nullable=False),
        sa.Column("supplier", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("supplier_order", sa.String(length=64), nullable=True),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("goods_minor", sa.BigInteger(), nullable=False),
        sa.Column("goods_currency", sa.String(length=3), nullable=False),
        sa.Column("postage_minor", sa.BigInteger(), nullable=False),
        sa.Column("postage_currency", sa.String(length=3), nullable=False),
        sa.Column("recovered_minor", sa.BigInteger(), nullable=True),
        sa.Column("recovered_currency", sa.String(length=3), nullable=True),
        sa.Column("deadline_at", TIMESTAMP, nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("opened_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_supplier_claims_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_claims")),
        sa.UniqueConstraint(
            "case_id", "supplier", name=op.f("uq_supplier_claims_case_id_supplier")
        ),
    )
    op.create_index(
        "ix_supplier_claims_shop_supplier_status",
        "supplier_claims",
        ["shop", "supplier", "status"],
        unique=False,
    )
    op.create_table(
        "supplier_claim_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["supplier_claims.id"],
            name=op.f("fk_supplier_claim_events_claim_id_supplier_claims"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_claim_events")),
    )
    op.create_index(
        "ix_supplier_claim_events_claim_id", "supplier_claim_events", ["claim_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_supplier_claim_events_claim_id", table_name="supplier_claim_events")
    op.drop_table("supplier_claim_events")
    op.drop_index("ix_supplier_claims_shop_supplier_status", table_name="supplier_claims")
    op.drop_table("supplier_claims")
    with op.batch_alter_table("order_lines") as batch:
        batch.drop_column("supplier_order")

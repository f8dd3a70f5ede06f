"""What returns cost: unit costs per SKU and supplier, costs recorded on cases, and covering
indexes for reading a shop's orders, lines, parcels and cases by the day the orders were placed
(the figures).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sku_costs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=128), nullable=False),
        sa.Column("supplier", sa.String(length=128), nullable=True),
        sa.Column("unit_cost_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("valid_from", TIMESTAMP, nullable=False),
        sa.Column("imported_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sku_costs")),
        sa.UniqueConstraint(
            "shop", "sku", "valid_from", name=op.f("uq_sku_costs_shop_sku_valid_from")
        ),
    )
    op.create_table(
        "case_costs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.Column("recorded_by_role", sa.String(length=16), nullable=False),
        sa.Column("recorded_by_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_costs_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_costs")),
    )
    op.create_index("ix_case_costs_case_id", "case_costs", ["case_id"], unique=False)
    # The figures read a shop's orders by the day they were placed, and each order's lines
    # and parcels: covering indexes, so a million orders are read without their rows.
    op.create_index(
        "ix_orders_shop_placed_at", "orders", ["shop", "placed_at", "ship_country"], unique=False
    )
    op.create_index(
        "ix_order_lines_order_id_figures",
        "order_lines",
        ["order_id", "sku", "supplier", "quantity"],
        unique=False,
    )
    op.create_index(
        "ix_cases_figures",
        "cases",
        ["shop", "order_id", "reason", "resolution", "currency", "refunded_minor"],
        unique=False,
    )
    op.create_index(
        "ix_shipments_order_id_figures",
        "shipments",
        ["order_id", "carrier", "shipped_at", "delivered_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_shipments_order_id_figures", table_name="shipments")
    op.drop_index("ix_cases_figures", table_name="cases")
    op.drop_index("ix_order_lines_order_id_figures", table_name="order_lines")
    op.drop_index("ix_orders_shop_placed_at", table_name="orders")
    op.drop_index("ix_case_costs_case_id", table_name="case_costs")
    op.drop_table("case_costs")
    op.drop_table("sku_costs")

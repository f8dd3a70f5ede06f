"""Orders carry their buyer's e-mail and phone normalized, indexed by shop.

The abuse signals' "same person" lookup compared ``lower(trim(buyer_email))`` and the phone
without its punctuation over every order of the shop on each case opened; with the keys it is
one index look-up per e-mail or phone. Existing rows are filled here, in Python, so that SQLite
and PostgreSQL hold the same keys as the application writes (core/orders/contacts.py).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000

# A copy of core/orders/contacts.py as of this revision: the application's may change later,
# and this migration must keep filling the keys it meant.
_NOT_DIGITS = re.compile(r"\D")
_MIN_PHONE_DIGITS = 6


def _normal_email(email: str | None) -> str | None:
    value = (email or "").strip().lower()
    return value if "@" in value else None


def _phone_digits(phone: str | None) -> str | None:
    digits = _NOT_DIGITS.sub("", phone or "")
    return digits if len(digits) >= _MIN_PHONE_DIGITS else None


_orders = sa.table(
    "orders",
    sa.column("id", sa.Integer),
    sa.column("buyer_email", sa.String),
    sa.column("buyer_phone", sa.String),
    sa.column("buyer_email_key", sa.String),
    sa.column("buyer_phone_key", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("buyer_email_key", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("buyer_phone_key", sa.String(length=64), nullable=True))
    _fill_keys()
    # created after the fill: one build instead of an update per row
    op.create_index(
        "ix_orders_shop_buyer_email_key", "orders", ["shop", "buyer_email_key"], unique=False
    )
    op.create_index(
        "ix_orders_shop_buyer_phone_key", "orders", ["shop", "buyer_phone_key"], unique=False
    )


def _fill_keys() -> None:
    conn = op.get_bind()
    write = (
        sa.update(_orders)
        .where(_orders.c.id == sa.bindparam("_id"))
        .values(
            buyer_email_key=sa.bindparam("_email_key"),
            buyer_phone_key=sa.bindparam("_phone_key"),
        )
    )
    last_id = None
    while True:
        query = (
            sa.select(_orders.c.id, _orders.c.buyer_email, _orders.c.buyer_phone)
            .where(sa.or_(_orders.c.buyer_email.is_not(None), _orders.c.buyer_phone.is_not(None)))
            .order_by(_orders.c.id)
            .limit(_BATCH)
        )
        if last_id is not None:
            query = query.where(_orders.c.id > last_id)
        rows = conn.execute(query).all()
        if not rows:
            return
        last_id = rows[-1].id
        keys = [
            {
                "_id": row.id,
                "_email_key": _normal_email(row.buyer_email),
                "_phone_key": _phone_digits(row.buyer_phone),
            }
            for row in rows
        ]
        keys = [k for k in keys if k["_email_key"] is not None or k["_phone_key"] is not None]
        if keys:
            conn.execute(write, keys)


def downgrade() -> None:
    op.drop_index("ix_orders_shop_buyer_phone_key", table_name="orders")
    op.drop_index("ix_orders_shop_buyer_email_key", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("buyer_phone_key")
        batch.drop_column("buyer_email_key")

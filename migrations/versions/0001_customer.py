"""customer: the first table of the CRM

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("classification", sa.Text(), server_default="potential", nullable=False),
        sa.Column("lifecycle_stage", sa.Text(), server_default="lead", nullable=False),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
        sa.Column("attributes", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("kind IN ('organisation', 'person')", name=op.f("ck_customer_kind")),
        sa.CheckConstraint(
            "classification IN ('potential', 'target', 'customer', 'partner', 'non_target')",
            name=op.f("ck_customer_classification"),
        ),
        sa.CheckConstraint(
            "lifecycle_stage IN ('lead', 'prospect', 'opportunity', 'customer', 'loyal', 'churned')",
            name=op.f("ck_customer_lifecycle_stage"),
        ),
        sa.CheckConstraint("length(btrim(name)) > 0", name=op.f("ck_customer_name_not_blank")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer")),
    )


def downgrade() -> None:
    op.drop_table("customer")

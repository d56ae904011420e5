"""Manifest store (durable credentials), as pyosi 0.1 created it.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "manifests",
        sa.Column("content_id", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("title", sa.Text()),
        sa.Column("mime", sa.String(64)),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("signer", sa.Text()),
        sa.Column("digital_source_type", sa.Text()),
        sa.Column("manifest_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("content_id", name="pk_manifests"),
    )
    op.create_index("ix_manifests_key_id", "manifests", ["key_id"])


def downgrade() -> None:
    op.drop_index("ix_manifests_key_id", table_name="manifests")
    op.drop_table("manifests")

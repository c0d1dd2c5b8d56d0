"""an optional IPv6 fabric address per host (dual-stack: the IPv6 next hop and session source)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable and without a default: every existing host keeps its row as it was.
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(sa.Column("address6", sa.String(length=64), nullable=True))
        batch.create_unique_constraint("uq_hosts_address6", ["address6"])


def downgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.drop_constraint("uq_hosts_address6", type_="unique")
        batch.drop_column("address6")

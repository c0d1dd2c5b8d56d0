"""each peer status report says how often its agent reports (staleness is three of those)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows reported before this column existed came from agents reporting every 5 s.
    with op.batch_alter_table("peer_status") as batch:
        batch.add_column(
            sa.Column("report_interval_seconds", sa.Float(), nullable=False, server_default="5")
        )


def downgrade() -> None:
    with op.batch_alter_table("peer_status") as batch:
        batch.drop_column("report_interval_seconds")

"""per-family prefix counts of each reported session (dual-stack: what the OPEN negotiated)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: a report of before (or of an agent that does not say) has no families; the
    # rows are replaced by each host's next report anyway.
    with op.batch_alter_table("peer_status") as batch:
        batch.add_column(sa.Column("families", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("peer_status") as batch:
        batch.drop_column("families")

"""a BFD profile per peer (detect multiplier, receive and transmit intervals; none: BFD off),
and each reported session's BFD state

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None
COLUMNS = ("bfd_multiplier", "bfd_receive_ms", "bfd_transmit_ms")


def upgrade() -> None:
    with op.batch_alter_table("peers") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))
    with op.batch_alter_table("peer_status") as batch:  # the BFD session as the host reports it
        batch.add_column(sa.Column("bfd_state", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("peer_status") as batch:
        batch.drop_column("bfd_state")
    with op.batch_alter_table("peers") as batch:
        for name in COLUMNS:
            batch.drop_column(name)

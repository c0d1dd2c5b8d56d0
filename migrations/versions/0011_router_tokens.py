"""tokens bound to one router (role router: tor-sync reads that router's configuration only)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: every existing token keeps its row as it was (bound to no router).
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("router_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_api_tokens_router_id", "routers", ["router_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_api_tokens_router_id", ["router_id"])


def downgrade() -> None:
    # A router token has no meaning without its router: remove those before the column.
    op.execute("DELETE FROM api_tokens WHERE role = 'router'")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_index("ix_api_tokens_router_id")
        batch.drop_constraint("fk_api_tokens_router_id", type_="foreignkey")
        batch.drop_column("router_id")

"""when each host's agent last reported its sessions, kept per host (an empty report counts)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_reports",
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report_interval_seconds", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("host_id"),
    )
    # A host that had reported sessions keeps its last report's time; a host whose last
    # report was empty left no row to learn it from, and shows up at its next report.
    op.execute(
        "INSERT INTO agent_reports (host_id, reported_at, report_interval_seconds) "
        "SELECT host_id, MAX(reported_at), MAX(report_interval_seconds) "
        "FROM peer_status GROUP BY host_id"
    )


def downgrade() -> None:
    op.drop_table("agent_reports")

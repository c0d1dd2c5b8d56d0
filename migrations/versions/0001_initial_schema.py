"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    state = op.create_table(
        "fabric_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # The single row every write transaction locks and bumps (fabric.store.database).
    op.bulk_insert(state, [{"id": 1, "revision": 0}])

    op.create_table(
        "hosts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("asn", sa.BigInteger(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("advertise_mode", sa.String(length=16), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("address"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("hosts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hosts_revision"), ["revision"], unique=False)

    op.create_table(
        "pools",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("cidr", sa.String(length=64), nullable=False),
        sa.Column("family", sa.Integer(), nullable=False),
        sa.Column("block_prefix", sa.Integer(), nullable=False),
        sa.Column("selector", sa.JSON(), nullable=False),
        sa.Column("reserved", sa.JSON(), nullable=False),
        sa.Column("strict_affinity", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cidr"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "blocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("cidr", sa.String(length=64), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=True),
        sa.Column("allocated", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["pool_id"], ["pools.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cidr"),
    )
    with op.batch_alter_table("blocks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_blocks_host_id"), ["host_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_blocks_pool_id"), ["pool_id"], unique=False)

    op.create_table(
        "peer_status",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("peer_address", sa.String(length=64), nullable=False),
        sa.Column("peer_asn", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=255), nullable=True),
        sa.Column("prefixes_sent", sa.Integer(), nullable=False),
        sa.Column("prefixes_received", sa.Integer(), nullable=False),
        sa.Column("updates_sent", sa.Integer(), nullable=False),
        sa.Column("updates_received", sa.Integer(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("host_id", "peer_address"),
    )
    with op.batch_alter_table("peer_status", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_peer_status_host_id"), ["host_id"], unique=False)

    op.create_table(
        "peers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("asn", sa.BigInteger(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("selector", sa.JSON(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=True),
        sa.Column("hold_time", sa.Integer(), nullable=False),
        sa.Column("keepalive", sa.Integer(), nullable=False),
        sa.Column("graceful_restart", sa.Integer(), nullable=False),
        sa.Column("ttl_security", sa.Integer(), nullable=False),
        sa.Column("max_prefix", sa.Integer(), nullable=True),
        sa.Column("password", sa.String(length=80), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("peers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_peers_address"), ["address"], unique=False)
        batch_op.create_index(batch_op.f("ix_peers_host_id"), ["host_id"], unique=False)

    op.create_table(
        "allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("family", sa.Integer(), nullable=False),
        sa.Column("block_id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("handle", sa.String(length=255), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["block_id"], ["blocks.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("address"),
    )
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_allocations_block_id"), ["block_id"], unique=False)
        batch_op.create_index("ix_allocations_handle_family", ["handle", "family"], unique=False)
        batch_op.create_index(batch_op.f("ix_allocations_host_id"), ["host_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocations_host_id"))
        batch_op.drop_index("ix_allocations_handle_family")
        batch_op.drop_index(batch_op.f("ix_allocations_block_id"))

    op.drop_table("allocations")
    with op.batch_alter_table("peers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_peers_host_id"))
        batch_op.drop_index(batch_op.f("ix_peers_address"))

    op.drop_table("peers")
    with op.batch_alter_table("peer_status", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_peer_status_host_id"))

    op.drop_table("peer_status")
    with op.batch_alter_table("blocks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blocks_pool_id"))
        batch_op.drop_index(batch_op.f("ix_blocks_host_id"))

    op.drop_table("blocks")
    op.drop_table("pools")
    with op.batch_alter_table("hosts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hosts_revision"))

    op.drop_table("hosts")
    op.drop_table("fabric_state")

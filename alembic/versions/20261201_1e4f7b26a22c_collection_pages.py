"""collection pages: the pages each collection run stored, so a retried or redelivered run resumes

Revision ID: 1e4f7b26a22c
Revises: 9109bdcc5656
Create Date: 2026-12-01 15:32:23.966018

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "1e4f7b26a22c"
down_revision: str | Sequence[str] | None = "9109bdcc5656"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "collection_pages",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=500), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("served_by", sa.Text(), nullable=False),
        sa.Column("tracks_seen", sa.Integer(), nullable=False),
        sa.Column("tracks_created", sa.Integer(), nullable=False),
        sa.Column("tracks_updated", sa.Integer(), nullable=False),
        sa.Column("tracks_unchanged", sa.Integer(), nullable=False),
        sa.Column("total_count", sa.Integer(), nullable=True),
        sa.Column("per_page", sa.Integer(), nullable=True),
        sa.Column("chart_snapshot_id", sa.Integer(), nullable=True),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["chart_snapshot_id"],
            ["chart_snapshots.id"],
            name=op.f("fk_collection_pages_chart_snapshot_id_chart_snapshots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "target", "page", name=op.f("pk_collection_pages")),
    )
    with op.batch_alter_table("collection_pages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collection_pages_stored_at"), ["stored_at"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("collection_pages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collection_pages_stored_at"))

    op.drop_table("collection_pages")

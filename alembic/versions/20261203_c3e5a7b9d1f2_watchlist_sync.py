"""watchlist sync: a watchlist may mirror its new tracks into a Spotify playlist after each run that found some

Revision ID: c3e5a7b9d1f2
Revises: b2d4f6a8c0e1
Create Date: 2026-12-03 12:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "c3e5a7b9d1f2"
down_revision: str | Sequence[str] | None = "b2d4f6a8c0e1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("watchlists") as batch:
        batch.add_column(sa.Column("sync", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("watchlists") as batch:
        batch.drop_column("sync")

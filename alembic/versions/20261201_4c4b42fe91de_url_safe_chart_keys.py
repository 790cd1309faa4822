"""url-safe chart keys: genre-top100:11 → genre-top-100-11, top100 → top-100, chart:N → chart-N; and the
collected page's path on each chart snapshot

Revision ID: 4c4b42fe91de
Revises: 7d3e1f0a2b44
Create Date: 2026-12-01 21:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "4c4b42fe91de"
down_revision: str | Sequence[str] | None = "7d3e1f0a2b44"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (old prefix, new prefix) of the keys with an id; `substr` and `||` mean the same on SQLite and PostgreSQL.
# Each rewrite is one-to-one, so the (chart_key, task_id) unique constraint holds throughout.
_PREFIXES = (("genre-top100:", "genre-top-100-"), ("chart:", "chart-"))


def _rewrite(*, old_prefix: str, new_prefix: str) -> None:
    # Constants of this file only, spelled into the SQL so the offline (--sql) script reads the same.
    op.execute(
        f"UPDATE chart_snapshots SET chart_key = '{new_prefix}' || substr(chart_key, {len(old_prefix) + 1}) "
        f"WHERE substr(chart_key, 1, {len(old_prefix)}) = '{old_prefix}'"
    )


def upgrade() -> None:
    op.add_column("chart_snapshots", sa.Column("path", sa.String(length=500), nullable=True))
    for old_prefix, new_prefix in _PREFIXES:
        _rewrite(old_prefix=old_prefix, new_prefix=new_prefix)
    op.execute("UPDATE chart_snapshots SET chart_key = 'top-100' WHERE chart_key = 'top100'")


def downgrade() -> None:
    op.execute("UPDATE chart_snapshots SET chart_key = 'top100' WHERE chart_key = 'top-100'")
    for old_prefix, new_prefix in _PREFIXES:
        _rewrite(old_prefix=new_prefix, new_prefix=old_prefix)
    # Not batch mode: on SQLite that copies the table and drops the old one, and with foreign keys on the drop
    # would cascade to chart_entries. SQLite ≥ 3.35 drops a column in place.
    op.drop_column("chart_snapshots", "path")

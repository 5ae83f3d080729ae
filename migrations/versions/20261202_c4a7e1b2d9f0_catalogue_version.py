"""catalogue version

Rows ``catalogue_version (id = 1..64, version)`` whose sum is the version, one of them bumped in the transaction of every write to what the
public reads show (``core.catalogue_version``): each server process keys its cached venue pages,
programme lists and availability by it, so that a write is seen at once everywhere.

Revision ID: c4a7e1b2d9f0
Revises: a58c44db59b7
Create Date: 2026-12-02 00:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4a7e1b2d9f0"
down_revision: str | None = "a58c44db59b7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalogue_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_version")),
    )
    # 64 rows, summed (core.catalogue_version.SHARDS): writers bump one at random, so that they do not
    # all queue on one row's lock.
    rows = ", ".join(f"({n}, 0)" for n in range(1, 65))
    op.execute(f"INSERT INTO catalogue_version (id, version) VALUES {rows}")  # noqa: S608 - constants


def downgrade() -> None:
    op.drop_table("catalogue_version")

"""accounts version rows

Rows ``catalogue_version (id = 65..72)``: a write that can change who a token is (a token revoked, an
account's role, its venues) bumps one of them instead of one of the first 64 (``core.catalogue_version``).
They are part of the version's sum; their own sum is the accounts version, which keys what each process
remembers of tokens, so that the bookings of a rush do not make it read every citizen's token again.

Revision ID: f3b8d2c6a1e4
Revises: e1a7c0d5b9f2
Create Date: 2026-12-02 19:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f3b8d2c6a1e4"
down_revision: str | None = "e1a7c0d5b9f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# core.catalogue_version.SHARDS and ACCOUNT_SHARDS, as they were when this was written.
_FIRST, _LAST = 65, 72


def upgrade() -> None:
    rows = ", ".join(f"({n}, 0)" for n in range(_FIRST, _LAST + 1))
    op.execute(f"INSERT INTO catalogue_version (id, version) VALUES {rows}")  # noqa: S608 - constants


def downgrade() -> None:
    op.execute(f"DELETE FROM catalogue_version WHERE id BETWEEN {_FIRST} AND {_LAST}")  # noqa: S608 - constants

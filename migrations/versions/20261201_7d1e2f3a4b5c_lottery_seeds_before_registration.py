"""lottery seeds fixed before registration

A lottery's seed is now chosen when the programme is created and only its SHA-256 is shown until the
draw. Lotteries not yet drawn get their seed now, so that their commitment is published from here on.

Revision ID: 7d1e2f3a4b5c
Revises: 4bce3ccec7e3
Create Date: 2026-12-01 22:00:00
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d1e2f3a4b5c"
down_revision: str | None = "4bce3ccec7e3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    connection = op.get_bind()
    program = sa.table("program", sa.column("id"), sa.column("allocation"), sa.column("drawn_at"), sa.column("draw_seed"))
    undrawn = connection.execute(
        sa.select(program.c.id).where(
            program.c.allocation == "lottery", program.c.drawn_at.is_(None), program.c.draw_seed.is_(None)
        )
    ).scalars()
    for program_id in list(undrawn):
        connection.execute(
            sa.update(program).where(program.c.id == program_id).values(draw_seed=secrets.token_hex(32))
        )


def downgrade() -> None:
    pass  # the seeds stay: they are still the ones the draws will use

"""fablabs.cell_micro: a 0.01-degree grid cell, so the directory counts labs near a point from an index

Every level is recomputed from the finest grid's integer row and column, so each cell lies wholly
inside its parent (the directory's counts rely on it).

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import math

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

PER_DEGREE = 100
COLUMNS = ('cell_micro', 'cell_fine', 'cell_mid', 'cell_coarse')
BATCH = 5_000


def cells(latitude: float, longitude: float) -> list[int]:
    rows, cols = 180 * PER_DEGREE, 360 * PER_DEGREE
    row = min(int(math.floor((latitude + 90.0) * PER_DEGREE)), rows - 1)
    col = int(math.floor(((longitude + 180.0) % 360.0) * PER_DEGREE)) % cols
    return [(row // 10 ** k) * (cols // 10 ** k) + col // 10 ** k for k in range(len(COLUMNS))]


def upgrade() -> None:
    with op.batch_alter_table('fablabs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cell_micro', sa.Integer(), nullable=True))
    conn = op.get_bind()
    labs = sa.table('fablabs', sa.column('id', sa.Integer), sa.column('latitude', sa.Float),
                    sa.column('longitude', sa.Float), *(sa.column(c, sa.Integer) for c in COLUMNS))
    update = labs.update().where(labs.c.id == sa.bindparam('lab_id')).values(
        {c: sa.bindparam(f'new_{c}') for c in COLUMNS})
    last = 0
    while True:
        rows = conn.execute(sa.select(labs.c.id, labs.c.latitude, labs.c.longitude).where(labs.c.id > last)
                            .order_by(labs.c.id).limit(BATCH)).all()
        if not rows:
            break
        conn.execute(update, [{'lab_id': i, **{f'new_{c}': v for c, v in zip(COLUMNS, cells(la, lo), strict=True)}}
                              for i, la, lo in rows])
        last = rows[-1][0]
    with op.batch_alter_table('fablabs', schema=None) as batch_op:
        batch_op.alter_column('cell_micro', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index('ix_fablabs_cell_micro', ['cell_micro', 'latitude', 'longitude', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('fablabs', schema=None) as batch_op:
        batch_op.drop_index('ix_fablabs_cell_micro')
        batch_op.drop_column('cell_micro')

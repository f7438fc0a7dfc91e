"""boroughs

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27

One store can hold several boroughs (a London-wide deployment). Incidents, plans, CSOs and assets
carry their borough's ONS code; users carry theirs and whether they may see all of London.
Existing rows are given a borough from what they are linked to (an incident's ward, a plan's
wards, a CSO's assigned wards); where the store holds a single borough, everything is that one.
Existing users keep seeing only their own borough: ``london_wide`` starts false for everyone.
"""

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

BOROUGH_TABLES = ("incident", "plan", "cso", "asset", "data_import")


def upgrade() -> None:
    for table in BOROUGH_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('borough_code', sa.String(length=9), nullable=True))
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.create_index(
            'ix_incident_borough_code_occurred_on', ['borough_code', 'occurred_on'], unique=False
        )
    for table in ("plan", "cso", "asset", "data_import"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(f'ix_{table}_borough_code', ['borough_code'], unique=False)
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('borough_code', sa.String(length=9), nullable=True))
        batch_op.add_column(
            sa.Column('london_wide', sa.Boolean(), server_default=sa.false(), nullable=False)
        )

    op.execute(
        "UPDATE incident SET borough_code = (SELECT min(ward.borough_code) FROM ward "
        "WHERE ward.code = incident.ward_code) WHERE ward_code IS NOT NULL"
    )
    op.execute(
        "UPDATE plan SET borough_code = (SELECT min(ward.borough_code) FROM plan_ward "
        "JOIN ward ON ward.code = plan_ward.ward_code AND ward.vintage = plan_ward.ward_vintage "
        "WHERE plan_ward.plan_id = plan.id)"
    )
    op.execute(
        "UPDATE cso SET borough_code = (SELECT min(ward.borough_code) FROM cso_assignment "
        "JOIN ward ON ward.code = cso_assignment.ward_code WHERE cso_assignment.cso_id = cso.id)"
    )
    op.execute(
        "UPDATE data_import SET borough_code = coalesce("
        "(SELECT min(incident.borough_code) FROM incident "
        "WHERE incident.import_id = data_import.id), "
        "(SELECT min(ward.borough_code) FROM ward WHERE ward.import_id = data_import.id))"
    )
    boroughs = op.get_bind().exec_driver_sql("SELECT DISTINCT borough_code FROM ward").all()
    if len(boroughs) == 1:
        for table in BOROUGH_TABLES:
            op.execute(
                sa.text(f"UPDATE {table} SET borough_code = :code WHERE borough_code IS NULL")
                .bindparams(code=boroughs[0][0])
            )


def downgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_column('london_wide')
        batch_op.drop_column('borough_code')
    for table in ("plan", "cso", "asset", "data_import"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f'ix_{table}_borough_code')
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_borough_code_occurred_on')
    for table in BOROUGH_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('borough_code')

"""postgis geometries

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27

On PostgreSQL only: the PostGIS extension, and a geometry column on each spatial table generated
by the database from the portable columns (WKB or coordinates), each with a GiST index, so
spatial filters run in the database. SQLite keeps the portable form alone. The column list is
written out here, not imported, so this migration stays as it was when it ran.
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

GEOMETRIES = (
    ("incident", "geom", "POINT", 27700, "ST_SetSRID(ST_MakePoint(x_bng, y_bng), 27700)"),
    ("ward", "geom", "MULTIPOLYGON", 4326, "ST_Multi(ST_GeomFromWKB(geometry_wkb, 4326))"),
    ("plan", "area", "MULTIPOLYGON", 4326, "ST_Multi(ST_GeomFromWKB(area_wkb, 4326))"),
    ("asset", "geom", "POINT", 4326, "ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)"),
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    available = bind.exec_driver_sql(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"
    ).scalar()
    if not available:
        raise RuntimeError(
            "PostGIS is not installed on this PostgreSQL server. Install it (Debian: "
            "postgresql-15-postgis-3), then run the migration again."
        )
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    for table, column, kind, srid, expression in GEOMETRIES:
        op.add_column(
            table,
            sa.Column(
                column,
                Geometry(kind, srid=srid, spatial_index=False),
                sa.Computed(expression, persisted=True),
            ),
        )
        op.create_index(f"ix_{table}_{column}", table, [column], postgresql_using="gist")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, *_ in GEOMETRIES:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
        op.drop_column(table, column)

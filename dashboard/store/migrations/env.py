"""Alembic environment: runs on the engine the app hands over (see session.alembic_config)."""

from alembic import context
from sqlalchemy import create_engine

from dashboard.store.models import Base
from dashboard.store.spatial import GENERATED_GEOMETRIES, POSTGIS_TABLES


def include_object(obj, name, kind, reflected, _compare_to) -> bool:
    """Leave PostGIS's table and the generated geometry columns out of autogenerate."""
    if kind == "table":
        return name not in POSTGIS_TABLES
    if kind == "column":
        return (obj.table.name, name) not in GENERATED_GEOMETRIES
    if kind == "index":
        return not any(name == f"ix_{table}_{column}" for table, column in GENERATED_GEOMETRIES)
    return True


config = context.config
engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url"))

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode rebuilds a table by copy, drop and rename; with foreign keys on, dropping a
        # table other rows refer to (plan, under its actions) fails. SQLite's own procedure for
        # such changes: keys off outside the transaction, then check them all before commit.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    with connection.begin():
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,  # SQLite can only ALTER tables by copying them
            compare_type=True,
            include_object=include_object,
        )
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise RuntimeError(f"the migration left broken foreign keys: {broken[:5]}")
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()

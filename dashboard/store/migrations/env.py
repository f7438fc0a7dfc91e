"""Alembic environment: runs on the engine the app hands over (see session.alembic_config)."""

from alembic import context
from sqlalchemy import create_engine

from dashboard.store.models import Base

config = context.config
engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url"))

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite can only ALTER tables by copying them
        compare_type=True,
    )
    context.run_migrations()

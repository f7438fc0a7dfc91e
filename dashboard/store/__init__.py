"""The store: typed SQLAlchemy models, sessions and Alembic migrations."""

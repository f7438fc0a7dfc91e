"""Engine, sessions, migrations and the data version that keys every cache."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from dashboard.errors import DatabaseNotReady, DatabaseUnreachable
from dashboard.store.models import DataImport, ImportStatus
from dashboard.store.spatial import POSTGIS_TABLES

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000  # writers queue rather than fail with "database is locked"


def _configure_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the one writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL, and much faster on import
    cursor.close()


def make_engine(database_url: str) -> Engine:
    """Create an engine for ``database_url``; a SQLite file's folder is created if missing."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True)


@contextmanager
def session_scope(engine: Engine, *, lock_first: bool = False) -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on any error.

    ``lock_first`` takes SQLite's write lock before anything else (see ``write_scope``).
    """
    session = sessionmaker(engine, expire_on_commit=False)()
    try:
        if lock_first and engine.dialect.name == "sqlite":
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def write_scope(engine: Engine) -> AbstractContextManager[Session]:
    """Like ``session_scope``, for a read-check-write edit that must not race another writer.

    On SQLite the transaction starts with ``BEGIN IMMEDIATE``: it takes the write lock first
    (waiting up to the busy timeout), so no other writer can commit between this edit's read
    and its write. A plain deferred transaction would read, then fail at once with "database is
    locked" when another writer got in first (SQLite does not wait in that case). On
    PostgreSQL the edit reads its row with ``SELECT … FOR UPDATE`` (``with_for_update``): a
    second writer waits there, then sees the new version and is told of the conflict at once,
    instead of queueing on the row inside its UPDATE; the version check of each UPDATE remains.
    """
    return session_scope(engine, lock_first=True)


def refresh_planner_statistics(engine: Engine, table: str) -> None:
    """After a bulk load, let PostgreSQL see how big ``table`` has grown (``ANALYZE``).

    Autovacuum does it in its own time; until then the planner may believe a table that just
    took 90,000 rows is empty, and the next import's duplicate check scans every row for each
    batch (minutes instead of seconds). SQLite's planner needs nothing here.
    """
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as connection:
        connection.exec_driver_sql(f'ANALYZE "{table}"')


def alembic_config(engine: Engine) -> Config:
    """Alembic configuration that runs the package's migrations on ``engine``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


@functools.cache  # the package's migrations do not change while it runs
def head_revision() -> str:
    """The newest migration in the package."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None, "the package ships at least one migration"
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None for a database never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine) -> bool:
    """Create or upgrade the schema to the newest migration; True when anything changed."""
    before = current_revision(engine)
    if before == head_revision():
        return False
    command.upgrade(alembic_config(engine), "head")
    log.info("database migrated from %s to %s", before or "empty", head_revision())
    return True


def require_current_schema(engine: Engine) -> None:
    """Raise DatabaseNotReady unless the database is at the newest migration."""
    if current_revision(engine) != head_revision():
        raise DatabaseNotReady(
            "The database is not set up or is out of date. Run `python -m dashboard init-db` "
            "(or `make run`, which does it for you)."
        )


UNREACHABLE_MESSAGE = (
    "The database cannot be reached just now, so this page cannot be shown. It will work again "
    "when the database is back: reload the page in a minute. (Administrators: check "
    "DATABASE_URL and that the database server is running, or that the SQLite file is there "
    "and readable; the app's log has the details.)"
)


def is_database_failure(error: DBAPIError) -> bool:
    """True when the database itself failed, not the app's SQL.

    It cannot be reached or read, the connection was lost, it is out of space or locked
    (OperationalError, InterfaceError, or SQLite's bare DatabaseError for a file that is not a
    database). A broken constraint or bad SQL (IntegrityError, ProgrammingError) is a bug: False.
    """
    return isinstance(error, OperationalError | InterfaceError) or type(error) is DatabaseError


def database_failure_reason(error: DBAPIError) -> str:
    """The database's own reason for ``error`` in one line.

    SQLAlchemy's message would add the statement and its parameters (rows of the file being
    imported); the driver's first line has neither, nor the URL's password.
    """
    reason = str(error.orig if error.orig is not None else "").strip()
    return reason.splitlines()[0].strip() if reason else type(error).__name__


@contextmanager
def reachable(engine: Engine) -> Iterator[None]:
    """Raise DatabaseUnreachable when the database fails inside the block.

    A failure is what ``is_database_failure`` says is one; anything else passes through.
    The reason is logged with the URL, its password hidden. The engine's pooled connections are
    closed, so none broken by the outage is handed out again once the database is back.
    """
    try:
        yield
    except DBAPIError as error:
        if not is_database_failure(error):
            raise
        log.warning(
            "database %s unreachable: %s",
            engine.url.render_as_string(hide_password=True),
            database_failure_reason(error),
        )
        engine.dispose()
        raise DatabaseUnreachable(UNREACHABLE_MESSAGE) from error


def data_version(engine: Engine) -> str:
    """A string that changes whenever the data or the schema changes: the key of every cache.

    It combines the migration head with the newest import and the number of committed imports,
    so a new import or an undo both invalidate cached results.
    """
    with session_scope(engine) as session:
        newest, committed = session.execute(
            select(func.max(DataImport.id), func.count(DataImport.id)).where(
                DataImport.status == ImportStatus.COMMITTED
            )
        ).one()
    return f"{current_revision(engine)}:{newest or 0}:{committed}"


def table_names(engine: Engine) -> list[str]:
    """The data model's tables present in the database (Alembic's and PostGIS's left out)."""
    return sorted(
        name
        for name in inspect(engine).get_table_names()
        if name != "alembic_version" and name not in POSTGIS_TABLES
    )

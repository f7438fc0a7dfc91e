"""Backing up the store and restoring a backup, without losing what is there if anything fails.

SQLite uses its online backup API: a consistent copy while the app keeps running, written to a
temporary file beside the target and renamed into place. Restoring checks the file first (a
SQLite database, intact, made by this app's migrations, not newer than them) and then copies it
into the store with the same API, which holds the write lock and replaces the content in one
step; the store is then migrated forward if the backup is older. PostgreSQL uses ``pg_dump``'s
custom format, restored by ``psql --single-transaction`` (see ``_restore_postgresql``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, inspect, select, text
from sqlalchemy.engine import make_url

from dashboard.errors import InvalidInput
from dashboard.store.session import alembic_config, migrate
from dashboard.store.spatial import GENERATED_GEOMETRIES, POSTGIS_TABLES

log = logging.getLogger(__name__)

SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class TableDigest:
    """A table's row count and a digest of its rows in key order, to compare two stores."""

    rows: int
    sha256: str


def table_digests(engine: Engine) -> dict[str, TableDigest]:
    """Every table's row count and content digest (rows in primary-key order).

    The app's tables and Alembic's; PostGIS's reference table is the extension's, not the data's.
    """
    metadata = MetaData()
    metadata.reflect(engine, only=lambda name, _metadata: name not in POSTGIS_TABLES)
    digests: dict[str, TableDigest] = {}
    with engine.connect() as connection:
        for name, table in sorted(metadata.tables.items()):
            order = list(table.primary_key.columns) or list(table.columns)
            # PostGIS's geometry columns are generated from the portable ones, which are compared
            stored = [c for c in table.columns if (name, c.name) not in GENERATED_GEOMETRIES]
            digest = hashlib.sha256()
            rows = 0
            for row in connection.execute(select(*stored).order_by(*order)):
                digest.update(repr(tuple(row)).encode())
                rows += 1
            digests[name] = TableDigest(rows, digest.hexdigest())
    return digests


def _sqlite_path(engine: Engine) -> Path | None:
    url = make_url(str(engine.url))
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:":
        raise InvalidInput("An in-memory database has nothing to back up or restore")
    return Path(url.database)


def _libpq_url(engine: Engine) -> str:
    """The URL as pg_dump and pg_restore take it (no SQLAlchemy driver suffix)."""
    url = make_url(str(engine.url)).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _replace_atomically(build: Callable[[Path], None], out: Path) -> None:
    if out.is_dir() or not out.parent.is_dir():
        raise InvalidInput(f"OUT must be a file in an existing folder; {out} is not")
    handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(handle)
    try:
        build(Path(temporary))
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def backup(engine: Engine, out: Path) -> dict[str, TableDigest]:
    """Write a consistent backup of the store to ``out``; returns what it holds.

    ``out`` appears whole or not at all. Raises InvalidInput for a folder that does not exist,
    and for PostgreSQL when ``pg_dump`` is not installed.
    """
    source = _sqlite_path(engine)
    if source is not None:

        def copy(temporary: Path) -> None:
            target = sqlite3.connect(temporary)
            live = engine.raw_connection()
            try:
                live.driver_connection.backup(target)  # type: ignore[union-attr]
                target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                if target.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                    raise InvalidInput("The backup copy failed its integrity check; try again")
            finally:
                live.close()
                target.close()

        _replace_atomically(copy, out)
    else:
        tool = shutil.which("pg_dump")
        if tool is None:
            raise InvalidInput("pg_dump is not installed; install the PostgreSQL client tools")

        def dump(temporary: Path) -> None:
            subprocess.run(
                [tool, "--format=custom", f"--file={temporary}", _libpq_url(engine)],
                check=True,
                capture_output=True,
            )

        _replace_atomically(dump, out)
    held = table_digests(engine)
    log.info("backup written to %s: %d tables", out, len(held))
    return held


def _check_sqlite_backup(path: Path) -> str | None:
    """Refuse anything but an intact backup of this app's store; return its schema revision."""
    if not path.is_file():
        raise InvalidInput(f"No backup file at {path}")
    with path.open("rb") as file:
        if file.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise InvalidInput(f"{path} is not a SQLite database, so not a backup of this store")
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if connection.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise InvalidInput(f"{path} is damaged (its integrity check fails); nothing restored")
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError:
            row = None
    finally:
        connection.close()
    if row is None:
        raise InvalidInput(f"{path} was not made by this app (it has no schema version)")
    return str(row[0])


def _pg_backup_revision(source: Path) -> str | None:
    """Refuse anything but a pg_dump of this app's store; return its schema revision."""
    tool = shutil.which("pg_restore")
    if tool is None:
        raise InvalidInput("pg_restore is not installed; install the PostgreSQL client tools")
    if not source.is_file():
        raise InvalidInput(f"No backup file at {source}")
    # alembic_version as SQL text: "COPY public.alembic_version ... FROM stdin;", its rows, "\."
    listing = subprocess.run(
        [tool, "--data-only", "--table=alembic_version", "--file=-", str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    if listing.returncode != 0:
        raise InvalidInput(f"{source} is not a pg_dump backup (custom format)")
    lines = listing.stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("COPY ")]
    if not starts or starts[0] + 1 >= len(lines) or lines[starts[0] + 1] == "\\.":
        raise InvalidInput(f"{source} was not made by this app (it has no schema version)")
    return lines[starts[0] + 1].strip()


def check_backup(engine: Engine, source: Path) -> None:
    """Raise InvalidInput unless ``source`` is a backup this store can be restored from."""
    if _sqlite_path(engine) is None:
        revision = _pg_backup_revision(source)
    else:
        revision = _check_sqlite_backup(source)
    scripts = ScriptDirectory.from_config(alembic_config(engine))
    if revision not in {script.revision for script in scripts.walk_revisions()}:
        raise InvalidInput(
            f"{source} comes from a newer version of the app (schema {revision}); "
            "upgrade the app first"
        )


def _restore_postgresql(engine: Engine, source: Path) -> None:
    """Replace every table with the dump's, in one transaction (psql ``--single-transaction``).

    ``pg_restore --clean`` drops only what the dump holds, so a newer store's extra tables would
    block it; the script drops all of the app's tables first, then recreates the dump's.
    """
    psql = shutil.which("psql")
    if psql is None:
        raise InvalidInput("psql is not installed; install the PostgreSQL client tools")
    live = [name for name in inspect(engine).get_table_names() if name not in POSTGIS_TABLES]
    drop = f"DROP TABLE IF EXISTS {', '.join(live)} CASCADE;\n" if live else ""
    script = subprocess.run(
        [str(shutil.which("pg_restore")), "--no-owner", "--file=-", str(source)],
        capture_output=True,
        check=True,
    ).stdout
    engine.dispose()  # pooled connections would hold locks on the tables being replaced
    replaced = subprocess.run(
        [psql, "--quiet", "--single-transaction", "-v", "ON_ERROR_STOP=1", _libpq_url(engine)],
        input=drop.encode() + script,
        capture_output=True,
        check=False,
    )
    if replaced.returncode != 0:
        raise InvalidInput(
            f"The restore failed and was rolled back; the store is as it was: "
            f"{replaced.stderr.decode(errors='replace').strip()[-500:]}"
        )


def restore(engine: Engine, source: Path) -> dict[str, TableDigest]:
    """Replace the store's content with the backup ``source``; returns what the store now holds.

    Everything is checked before anything changes; a refused or failed restore leaves the store
    as it was. A backup from an older version of the app is migrated forward afterwards; one from
    a newer version is refused.
    """
    check_backup(engine, source)
    if _sqlite_path(engine) is not None:
        backup_connection = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        live = engine.raw_connection()
        try:
            backup_connection.backup(live.driver_connection)  # type: ignore[arg-type]
        finally:
            live.close()
            backup_connection.close()
        engine.dispose()  # pooled connections may hold the old schema's statements
    else:
        _restore_postgresql(engine, source)
    migrate(engine)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    held = table_digests(engine)
    log.info("restored %s: %d tables", source, len(held))
    return held

"""Test stores on the backend under test: SQLite files, or PostgreSQL databases on a test server.

``TEST_DATABASE_URL`` names a PostgreSQL server (any database on it; the role must be allowed to
create databases), e.g. ``postgresql+psycopg://postgres@127.0.0.1:55432/postgres``. Unset, every
store is a SQLite file. CI runs the whole suite once each way.

Each test gets a database of its own. On PostgreSQL a copy of the demo store is
``CREATE DATABASE … TEMPLATE``: a file copy on the server, as cheap as copying the SQLite file.
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

SERVER_URL = os.environ.get("TEST_DATABASE_URL") or None


def backend() -> str:
    """ "sqlite" or "postgresql": the kind of store the suite runs on."""
    return make_url(SERVER_URL).get_backend_name() if SERVER_URL else "sqlite"


def on_postgresql() -> bool:
    """True when this run's stores are PostgreSQL databases."""
    return backend() == "postgresql"


sqlite_only = pytest.mark.skipif(
    on_postgresql(), reason="tests SQLite itself; this run's stores are PostgreSQL"
)


class Stores:
    """Makes, copies and drops the test session's databases; every name is unique to the process."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._numbers = itertools.count()
        self._made: list[str] = []
        self._server = (
            create_engine(make_url(SERVER_URL), isolation_level="AUTOCOMMIT")
            if SERVER_URL
            else None
        )

    def _name(self, hint: str) -> str:
        return f"csm_test_{os.getpid()}_{next(self._numbers)}_{hint}"[:63]

    def new(self, hint: str = "store") -> str:
        """The URL of a new, empty database (never migrated)."""
        name = self._name(hint)
        if self._server is None:
            return f"sqlite:///{self.directory / f'{name}.db'}"
        self._create(name, template=None)
        return self._url(name).render_as_string(hide_password=False)

    def copy(self, source_url: str, hint: str = "copy") -> str:
        """A new database holding everything in ``source_url`` (which must have no open session)."""
        name = self._name(hint)
        source = make_url(source_url)
        if self._server is None:
            target = self.directory / f"{name}.db"
            shutil.copyfile(str(source.database), target)
            return f"sqlite:///{target}"
        self._create(name, template=source.database)
        return self._url(name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        """Remove one database made here, closing any connection still open to it."""
        database = make_url(url).database
        if self._server is None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)
            return
        with self._server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        if database in self._made:
            self._made.remove(database)

    def drop_all(self) -> None:
        """Remove every database this process made (the SQLite files go with the tmp folder)."""
        if self._server is None:
            return
        for database in list(self._made):
            self.drop(self._url(database).render_as_string(hide_password=False))
        self._server.dispose()

    def _url(self, database: str) -> URL:
        return make_url(SERVER_URL).set(database=database)

    def _create(self, name: str, template: str | None) -> None:
        assert self._server is not None
        clause = f' TEMPLATE "{template}"' if template else ""
        with self._server.connect() as connection:
            if template:  # a template must have no connections: close what earlier tests left
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": template},
                )
            connection.execute(text(f'CREATE DATABASE "{name}"{clause}'))
        self._made.append(name)

"""Faults mid-import: a killed process, a full disk or a lost connection leave the store as it was.

Each fault test runs a real police.uk import on a real store (a SQLite file, or a PostgreSQL
database when TEST_DATABASE_URL is set), makes it fail while it is inside its write transaction,
and then checks that every table's digest (``backup.table_digests``: row count and a hash of every
row) is exactly what it was before, what the operator was told, and that a good import still works
on the same store. The last test is a database that cannot be reached at all.

"Inside its write transaction" is checked, not hoped for: the importing process is frozen
(SIGSTOP) once the store shows it writing, the store is asked again whether the transaction is
still open, and only then is the fault applied. On PostgreSQL the import's backend must hold the
write lock on ``incident`` with a transaction id and have grown the table; on SQLite another
connection must find the write lock taken and the write-ahead log grown by the import's pages.
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import make_url

from dashboard import PROJECT_ROOT
from dashboard.backup import TableDigest, table_digests
from dashboard.cli import main
from dashboard.store.models import DataImport, ImportStatus, Incident
from dashboard.store.session import make_engine, session_scope
from tests.stores import SERVER_URL, on_postgresql

FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "police_uk"
GOOD_MONTH = FIXTURES / "2024-01-metropolitan-street.csv"
GOOD_MONTH_INCIDENTS = 3  # of its 7 rows: the borough's violence, robbery and weapons crimes
COUNTED = {"Violence and sexual offences", "Robbery", "Possession of weapons"}
BIG_ROWS = 100_000  # seconds of writing on either backend: long enough to be caught in the act
DISK_FULL_ROWS = 20_000
PG_DISK_FULL_AFTER = 7_500  # rows into the import, in its second chunk of 5,000
SQLITE_HEADROOM_PAGES = 64  # 256 KB: the first chunk of incidents does not fit
WAL_GROWN_BYTES = 1 << 20  # the import's own pages, not just its log entry
TABLE_GROWN_BYTES = 1 << 20
WAIT_S = 240  # the import starts, reads and checks the file before it writes
POLL_S = 0.02

Digests = dict[str, TableDigest]


def write_police_uk_csv(path: Path, rows: int) -> Path:
    """A police.uk file of ``rows`` valid crimes in the borough: the fixture's, new Crime IDs."""
    with GOOD_MONTH.open(newline="") as source:
        header, *fixture_rows = csv.reader(source)
    in_borough = [
        row
        for row in fixture_rows
        if row[0] and row[4] and row[8].startswith("Wandsworth") and row[9] in COUNTED
    ]
    assert len(in_borough) == GOOD_MONTH_INCIDENTS
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for number in range(rows):
            row = list(in_borough[number % len(in_borough)])
            row[0] = f"fa17{number:060x}"  # 64 hex digits, as police.uk's Crime IDs
            writer.writerow(row)
    return path


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_police_uk_csv(tmp_path_factory.mktemp("faults") / "big.csv", BIG_ROWS)


def digests(database_url: str) -> Digests:
    engine = make_engine(database_url)
    try:
        return table_digests(engine)
    finally:
        engine.dispose()


def import_log(database_url: str) -> list[tuple[str, str]]:
    """(file name, status) of every import logged, oldest first."""
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            rows = session.execute(
                select(DataImport.file_name, DataImport.status).order_by(DataImport.id)
            ).all()
    finally:
        engine.dispose()
    return [(name, str(status)) for name, status in rows]


def start_import(database_url: str, file: Path, logs: Path) -> subprocess.Popen[bytes]:
    """``python -m dashboard import police-uk FILE`` on ``database_url``, as an operator runs it."""
    environment = {**os.environ, "DATABASE_URL": database_url}
    environment.pop("BOROUGH_CODE", None)
    with (logs / "stdout.txt").open("wb") as out, (logs / "stderr.txt").open("wb") as err:
        return subprocess.Popen(  # files, not pipes: a full pipe would stall the import
            [sys.executable, "-m", "dashboard", "import", "police-uk", str(file)],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=out,
            stderr=err,
        )


def output(logs: Path) -> tuple[str, str]:
    return (logs / "stdout.txt").read_text(), (logs / "stderr.txt").read_text()


class WriteWatch:
    """Tells whether the import has begun writing and is still inside its transaction."""

    def __init__(self, database_url: str) -> None:
        self.url = make_url(database_url)
        if self.url.get_backend_name() == "sqlite":
            self.wal = Path(f"{self.url.database}-wal")
            self.wal_before = self.wal.stat().st_size if self.wal.exists() else 0
        else:  # a fresh snapshot of pg_stat_activity on every poll
            self.probe = create_engine(self.url, isolation_level="AUTOCOMMIT")
            self.size_before = self._incident_bytes()
        self.backend_pid: int | None = None

    def mid_write(self) -> bool:
        """True while the import's write transaction is open and has written incidents."""
        if self.url.get_backend_name() == "sqlite":
            grown = (
                self.wal.exists() and self.wal.stat().st_size > self.wal_before + WAL_GROWN_BYTES
            )
            return grown and self._sqlite_write_lock_taken()
        with self.probe.connect() as connection:
            pid = connection.scalar(
                text(
                    "SELECT activity.pid FROM pg_stat_activity AS activity "
                    "JOIN pg_locks AS lock ON lock.pid = activity.pid "
                    "WHERE activity.datname = current_database() "
                    "AND activity.pid <> pg_backend_pid() "
                    "AND activity.backend_xid IS NOT NULL "  # it has written, not committed
                    "AND lock.locktype = 'relation' AND lock.granted "
                    "AND lock.relation = 'incident'::regclass AND lock.mode = 'RowExclusiveLock'"
                )
            )
        self.backend_pid = pid
        return pid is not None and self._incident_bytes() > self.size_before + TABLE_GROWN_BYTES

    def _sqlite_write_lock_taken(self) -> bool:
        probe = sqlite3.connect(str(self.url.database), timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")  # SQLite has one writer: this fails while it writes
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError as error:
            if "locked" not in str(error):
                raise
            return True
        finally:
            probe.close()

    def _incident_bytes(self) -> int:
        with self.probe.connect() as connection:  # uncommitted rows take room on disk too
            return int(connection.scalar(text("SELECT pg_relation_size('incident')")))

    def backend_gone(self) -> bool:
        """On PostgreSQL: the import's backend has ended (so its transaction was rolled back)."""
        with self.probe.connect() as connection:
            return not connection.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": self.backend_pid},
            )

    def close(self) -> None:
        if self.url.get_backend_name() != "sqlite":
            self.probe.dispose()


def wait_for(
    condition: Callable[[], bool], what: str, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll ``condition`` until it holds; fail if the process ends first or it takes too long."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if process is not None and process.poll() is not None:
            pytest.fail(f"the import ended (status {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"no sign after {WAIT_S} s that {what}")
        time.sleep(POLL_S)


@contextmanager
def frozen_mid_write(process: subprocess.Popen[bytes], watch: WriteWatch) -> Iterator[None]:
    """Wait until the import writes, freeze it there, check it still is, and yield."""
    try:
        wait_for(watch.mid_write, "it was writing inside its transaction", process)
        os.kill(process.pid, signal.SIGSTOP)  # it can neither commit nor roll back now
        assert watch.mid_write(), (
            "the import finished its transaction before it could be stopped; make BIG_ROWS larger"
        )
        yield
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)


def assert_a_good_import_works(database_url: str, monkeypatch, capsys, before: Digests) -> None:
    """The store takes the next import whole: 3 incidents and one committed log entry more."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("BOROUGH_CODE", raising=False)
    capsys.readouterr()

    assert main(["import", "police-uk", str(GOOD_MONTH)]) == 0

    assert (
        capsys.readouterr().out.splitlines()[-1].endswith(f"committed: {GOOD_MONTH_INCIDENTS} rows")
    )
    after = digests(database_url)
    assert after["incident"].rows == before["incident"].rows + GOOD_MONTH_INCIDENTS
    assert after["data_import"].rows == before["data_import"].rows + 1
    assert import_log(database_url)[-1] == (GOOD_MONTH.name, str(ImportStatus.COMMITTED))


def test_an_import_killed_mid_write_leaves_the_store_as_before(
    demo_db_url, big_file, tmp_path, monkeypatch, capsys
):
    before = digests(demo_db_url)
    watch = WriteWatch(demo_db_url)
    process = start_import(demo_db_url, big_file, tmp_path)
    try:
        with frozen_mid_write(process, watch):
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
        if on_postgresql():  # the server rolls back when it sees the client gone
            wait_for(watch.backend_gone, "the killed import's backend ended")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        watch.close()

    assert process.returncode == -signal.SIGKILL
    assert "committed" not in output(tmp_path)[0]
    assert digests(demo_db_url) == before
    assert big_file.name not in [name for name, _status in import_log(demo_db_url)]
    assert_a_good_import_works(demo_db_url, monkeypatch, capsys, before)


@contextmanager
def disk_fills_up(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Make the store run out of room part-way through the next import; yields what it says.

    SQLite: the command line's engine caps the file (``PRAGMA max_page_count``) a little above
    its size, so SQLite itself answers SQLITE_FULL. PostgreSQL: a trigger raises the server's
    own ``disk_full`` error (SQLSTATE 53100) once the import has written some rows.
    """
    if make_url(database_url).get_backend_name() == "sqlite":
        import dashboard.cli

        real_make_engine = dashboard.cli.make_engine

        def engine_on_a_full_disk(url: str) -> sqlalchemy.Engine:
            engine = real_make_engine(url)

            def cap_the_file(dbapi_connection, _record) -> None:
                cursor = dbapi_connection.cursor()
                pages = cursor.execute("PRAGMA page_count").fetchone()[0]
                cursor.execute(f"PRAGMA max_page_count={pages + SQLITE_HEADROOM_PAGES}")
                cursor.close()

            event.listen(engine, "connect", cap_the_file)
            return engine

        with monkeypatch.context() as patch:
            patch.setattr(dashboard.cli, "make_engine", engine_on_a_full_disk)
            yield "database or disk is full"
        return
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(
            text(
                "CREATE FUNCTION faults_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                "DECLARE written integer := "
                "coalesce(nullif(current_setting('faults.rows', true), ''), '0')::integer + 1;\n"
                "BEGIN\n"
                "  PERFORM set_config('faults.rows', written::text, true);\n"
                f"  IF written > {PG_DISK_FULL_AFTER} THEN\n"
                "    RAISE EXCEPTION 'could not extend file: No space left on device'\n"
                "      USING ERRCODE = 'disk_full', HINT = 'Check free disk space.';\n"
                "  END IF;\n"
                "  RETURN NEW;\n"
                "END $$"
            )
        )
        connection.execute(
            text(
                "CREATE TRIGGER faults_disk_full BEFORE INSERT ON incident "
                "FOR EACH ROW EXECUTE FUNCTION faults_disk_full()"
            )
        )
    try:
        yield "could not extend file: No space left on device"
    finally:
        with engine.connect() as connection:
            connection.execute(text("DROP TRIGGER faults_disk_full ON incident"))
            connection.execute(text("DROP FUNCTION faults_disk_full()"))
        engine.dispose()


def test_a_disk_full_mid_import_says_so_and_leaves_the_store_as_before(
    demo_db_url, tmp_path, monkeypatch, capsys
):
    file = write_police_uk_csv(tmp_path / "month.csv", DISK_FULL_ROWS)
    monkeypatch.setenv("DATABASE_URL", demo_db_url)
    monkeypatch.delenv("BOROUGH_CODE", raising=False)
    before = digests(demo_db_url)

    with disk_fills_up(demo_db_url, monkeypatch) as database_says:
        status = main(["import", "police-uk", str(file)])
    out, err = capsys.readouterr()

    assert status == 2
    assert f"rows read {DISK_FULL_ROWS:,}, to load {DISK_FULL_ROWS:,}, rejected 0" in out
    assert "committed" not in out
    assert (
        "error: The import failed while writing, so nothing of it was kept (an import is "
        f"written whole or not at all). The database said: {database_says}." in err
    )
    assert "Traceback" not in err
    assert "fa17" not in err  # no rows of the file in the message: no Crime ID,
    assert "-0.170052" not in err  # no longitude
    assert digests(demo_db_url) == before
    assert file.name not in [name for name, _status in import_log(demo_db_url)]

    # with room again, the same file loads whole: nothing of the failed attempt was kept
    assert main(["import", "police-uk", str(file)]) == 0
    out = capsys.readouterr().out
    assert "already in the store" not in out
    assert out.splitlines()[-1].endswith(f"committed: {DISK_FULL_ROWS:,} rows")
    engine = make_engine(demo_db_url)
    with session_scope(engine) as session:
        loaded = session.scalar(
            select(func.count()).select_from(Incident).where(Incident.source_ref.like("fa17%"))
        )
    engine.dispose()
    assert loaded == DISK_FULL_ROWS
    assert import_log(demo_db_url)[-1] == (file.name, str(ImportStatus.COMMITTED))


@pytest.mark.skipif(
    not on_postgresql(),
    reason="a SQLite store is a file the import opens itself: it has no connection to drop",
)
def test_an_import_whose_connection_drops_mid_write_says_so_and_leaves_the_store_as_before(
    demo_db_url, big_file, tmp_path, monkeypatch, capsys
):
    before = digests(demo_db_url)
    watch = WriteWatch(demo_db_url)
    process = start_import(demo_db_url, big_file, tmp_path)
    try:
        with frozen_mid_write(process, watch), watch.probe.connect() as connection:
            assert connection.scalar(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": watch.backend_pid}
            )
        process.wait(timeout=WAIT_S)  # thawed: it finds its connection gone
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        watch.close()

    out, err = output(tmp_path)
    assert process.returncode == 2, err
    assert "committed" not in out
    assert (
        "error: The import failed while writing, so nothing of it was kept (an import is "
        "written whole or not at all). The database said: " in err
    )
    # libpq words it by what reached the client before the socket closed
    assert (
        "server closed the connection unexpectedly" in err
        or "terminating connection due to administrator command" in err
    )
    assert "Traceback" not in err
    assert digests(demo_db_url) == before
    assert big_file.name not in [name for name, _status in import_log(demo_db_url)]
    assert_a_good_import_works(demo_db_url, monkeypatch, capsys, before)


def test_a_command_on_a_database_that_cannot_be_reached_says_so_without_a_traceback(
    tmp_path, monkeypatch, capsys
):
    password = "Pa55-not-for-terminals"
    with socket.socket() as bound_not_listening:  # its port refuses every connection
        bound_not_listening.bind(("127.0.0.1", 0))
        if on_postgresql():
            server = make_url(SERVER_URL).set(
                port=bound_not_listening.getsockname()[1], password=password
            )
            url, reason = server.render_as_string(hide_password=False), "Connection refused"
        else:
            (tmp_path / "store.db").mkdir()  # a folder where the file should be
            url, reason = f"sqlite:///{tmp_path / 'store.db'}", "unable to open database file"
        monkeypatch.setenv("DATABASE_URL", url)

        status = main(["import", "police-uk", str(GOOD_MONTH)])

    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error: the database failed: ")
    assert reason in err
    assert "Check DATABASE_URL and that the database server is running" in err
    assert "Traceback" not in err
    assert password not in err

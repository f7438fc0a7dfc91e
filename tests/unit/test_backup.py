"""Backups round-trip every table; a bad backup is refused and the store is left as it was."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from dashboard.backup import backup, check_backup, restore, table_digests
from dashboard.cli import main
from dashboard.errors import InvalidInput
from dashboard.store.models import Base
from dashboard.store.session import alembic_config, head_revision, make_engine, migrate
from tests.stores import on_postgresql, sqlite_only


@pytest.fixture
def store(demo_db_url: str):
    engine = make_engine(demo_db_url)
    yield engine
    engine.dispose()


def change_everything_a_little(engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE action SET status = 'dropped'"))
        connection.execute(text("DELETE FROM incident WHERE id % 3 = 0"))
        connection.execute(text("UPDATE cso SET display_name = 'Renamed'"))


def test_a_backup_restores_every_table_exactly(store, tmp_path: Path):
    before = table_digests(store)
    out = tmp_path / "store-backup"

    written = backup(store, out)
    change_everything_a_little(store)
    assert table_digests(store) != before
    restored = restore(store, out)

    assert written == before
    assert restored == before
    assert table_digests(store) == before  # every table, row by row
    assert before["incident"].rows > 10_000
    assert set(before) == {*Base.metadata.tables, "alembic_version"}  # nothing left out


@sqlite_only
def test_the_sqlite_backup_is_one_self_contained_file(store, tmp_path: Path):
    out = tmp_path / "store-backup.db"

    backup(store, out)

    assert not Path(f"{out}-wal").exists()
    connection = sqlite3.connect(out)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    connection.close()


def test_an_older_backup_is_migrated_forward(store, new_db_url: str, tmp_path: Path):
    old_engine = make_engine(new_db_url)
    command.upgrade(alembic_config(old_engine), "0004")  # before the patrol tables
    old = tmp_path / "old-backup"
    backup(old_engine, old)
    old_engine.dispose()

    restore(store, old)

    with store.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        logs = connection.execute(text("SELECT count(*) FROM patrol_log")).scalar()
        incidents = connection.execute(text("SELECT count(*) FROM incident")).scalar()
    assert version == head_revision()
    assert (logs, incidents) == (0, 0)  # the backup's content, not the store's


NOT_A_BACKUP = "not a pg_dump backup" if on_postgresql() else "not a SQLite"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: path.write_text("incident_ref,offence\n1,Robbery\n"), NOT_A_BACKUP),
        pytest.param(
            lambda path: sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit(),
            "not made by this app",
            marks=pytest.mark.skipif(on_postgresql(), reason="a SQLite file is no pg_dump"),
        ),
        (None, "No backup file"),
    ],
)
def test_a_file_that_is_not_a_backup_is_refused_and_nothing_changes(store, tmp_path, make, message):
    source = tmp_path / "suspect.db"
    if make is not None:
        make(source)
    before = table_digests(store)

    with pytest.raises(InvalidInput, match=message):
        restore(store, source)

    assert table_digests(store) == before


def test_a_backup_from_a_newer_app_is_refused(store, new_db_url: str, tmp_path: Path):
    newer_engine = make_engine(new_db_url)
    migrate(newer_engine)
    with newer_engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    newer = tmp_path / "newer-backup"
    backup(newer_engine, newer)
    newer_engine.dispose()
    before = table_digests(store)

    with pytest.raises(InvalidInput, match="newer version of the app"):
        check_backup(store, newer)
    with pytest.raises(InvalidInput, match="newer version of the app"):
        restore(store, newer)
    assert table_digests(store) == before


def test_the_command_line_backs_up_and_restores_only_with_yes(
    store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    monkeypatch.setenv("DATABASE_URL", store.url.render_as_string(hide_password=False))
    out = tmp_path / "cli-backup.db"
    before = table_digests(store)

    assert main(["backup", str(out)]) == 0
    change_everything_a_little(store)
    assert main(["restore", str(out)]) == 0  # a check only
    assert table_digests(store) != before
    assert main(["restore", str(out), "--yes"]) == 0

    assert table_digests(store) == before
    said = capsys.readouterr().out
    assert "backup written to" in said
    assert "run again with --yes" in said
    assert main(["restore", str(tmp_path / "missing.db"), "--yes"]) == 2

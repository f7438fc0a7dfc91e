import io
import zipfile

import pytest
from sqlalchemy import func, select

from dashboard.access import Role
from dashboard.errors import ImportRefused, InvalidInput, NotAllowed
from dashboard.importers.log import list_imports, previous_import, undo_import
from dashboard.importers.validation import (
    ImportReport,
    RowError,
    check_size,
    decode_text,
    iter_zip_members,
    require_columns,
    sha256_of,
)
from dashboard.store.models import (
    Asset,
    DataImport,
    Incident,
    IncidentWard,
    Ward,
    YouthBusVisit,
)
from dashboard.store.session import make_engine, session_scope


def test_utf8_with_a_byte_order_mark_and_windows_1252_are_both_read():
    assert decode_text("a.csv", "\ufeffCrime ID,Month\n".encode()) == "Crime ID,Month\n"
    assert decode_text("b.csv", "Caf\u00e9 \u00a35\n".encode("cp1252")) == "Caf\u00e9 \u00a35\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"x" * 11, "over the 0 MB limit"),
    ],
)
def test_empty_and_oversized_files_are_refused(content, message):
    with pytest.raises(ImportRefused, match=message):
        check_size("f.csv", len(content), max_bytes=10)


def test_a_spreadsheet_given_as_csv_is_refused():
    with pytest.raises(ImportRefused, match="not a text file"):
        decode_text("crimes.csv", b"PK\x03\x04\x00\x00binary")


def test_a_zip_bomb_is_refused_while_unpacking():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("2024-01/2024-01-metropolitan-street.csv", b"0" * 5_000_000)
    compressed = buffer.getvalue()
    assert len(compressed) < 50_000  # a small file that claims little

    with pytest.raises(ImportRefused, match="refused while unpacking"):
        list(iter_zip_members("bomb.zip", compressed, max_unzipped_bytes=1_000_000))


def test_zip_members_come_sorted_and_only_csv():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("b/2024-02-x-street.csv", b"two")
        archive.writestr("a/2024-01-x-street.csv", b"one")
        archive.writestr("readme.txt", b"no")
    members = list(iter_zip_members("crimes.zip", buffer.getvalue()))

    assert members == [("a/2024-01-x-street.csv", b"one"), ("b/2024-02-x-street.csv", b"two")]
    with pytest.raises(ImportRefused, match="not a readable zip"):
        list(iter_zip_members("fake.zip", b"not a zip"))


def test_missing_columns_are_named():
    with pytest.raises(ImportRefused, match="lacks the column\\(s\\) Month, Crime type"):
        require_columns(
            "x.csv", ["Crime ID", "Longitude"], ["Crime ID", "Month", "Crime type"], "police.uk"
        )


def test_a_report_lists_rejected_rows_as_csv_and_sums_up():
    report = ImportReport(
        "police-uk", ["jan.csv"], sha256_of(b"a", b"b"), rows_read=3, rows_accepted=1
    )
    report.rejected.append(RowError(3, "Month", "2024-13", "no such month", "jan.csv"))
    report.skip("outside the borough", 1)

    assert report.rejected_csv().splitlines() == [
        "file,line,column,value,reason",
        "jan.csv,3,Month,2024-13,no such month",
    ]
    assert report.summary_lines()[1:] == [
        "rows read 3, to load 1, rejected 1",
        "left out, outside the borough: 1",
    ]


def test_undoing_an_import_whose_wards_plans_cover_is_refused_and_removes_nothing(demo_db_url):
    engine = make_engine(demo_db_url)
    with session_scope(engine) as session:
        before = {m: session.scalar(select(func.count()).select_from(m)) for m in (Incident, Ward)}

    with pytest.raises(InvalidInput, match="Clapham Junction evening robbery") as refused:
        undo_import(engine, Role.ANALYST, "analyst@example.org", 1)  # the demo's own import

    assert "load the replacement ward set first" in str(refused.value)
    with session_scope(engine) as session:
        after = {m: session.scalar(select(func.count()).select_from(m)) for m in (Incident, Ward)}
        assert session.get(DataImport, 1).status.value == "committed"
    assert after == before


def test_undo_removes_what_an_import_added_and_only_that(demo_db_url):
    engine = make_engine(demo_db_url)
    with engine.begin() as connection:  # no app path deletes plans; clear them to free the wards
        for table in ("action_update", "action", "plan_update", "plan_ward", "plan"):
            connection.exec_driver_sql(f"DELETE FROM {table}")
    with session_scope(engine) as session:
        before = {m: session.scalar(select(func.count()).select_from(m)) for m in (Incident, Asset)}

    removed = undo_import(engine, Role.ANALYST, "analyst@example.org", 1)  # the demo's own import

    assert removed["incident"] == before[Incident]
    assert removed["asset"] == before[Asset]
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Incident)) == 0
        assert session.scalar(select(func.count()).select_from(IncidentWard)) == 0
        assert session.scalar(select(func.count()).select_from(YouthBusVisit)) == 0
        entry = session.get(DataImport, 1)
        assert (entry.status.value, entry.undone_by) == ("undone", "analyst@example.org")
    assert list_imports(engine, Role.ANALYST)["status"].tolist() == ["undone"]
    with pytest.raises(InvalidInput, match="Import 1 is undone; nothing to undo"):
        undo_import(engine, Role.ANALYST, "analyst@example.org", 1)


def test_only_analysts_and_admins_may_undo_and_the_same_file_is_recognised(demo_db_url):
    engine = make_engine(demo_db_url)
    with session_scope(engine) as session:
        demo_hash = session.get(DataImport, 1).file_sha256

    with pytest.raises(NotAllowed):
        undo_import(engine, Role.PARTNER, "p@example.org", 1)
    assert previous_import(engine, "demo", demo_hash) == 1
    assert previous_import(engine, "demo", "0" * 64) is None

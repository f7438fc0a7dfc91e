import hashlib
import io
import time
import zipfile
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from dashboard import PROJECT_ROOT
from dashboard.access import Role
from dashboard.errors import ImportRefused, NotAllowed
from dashboard.importers import police_uk
from dashboard.importers.log import undo_import
from dashboard.importers.police_uk import (
    POLICE_UK_COLUMNS,
    SOURCE_LIMITS_WARNING,
    commit_police_uk,
    prepare_police_uk,
)
from dashboard.store.models import DataImport, Incident, IncidentWard
from dashboard.store.session import make_engine, session_scope
from tests.conftest import REALDATA, WANDSWORTH

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "police_uk"
JANUARY = FIXTURES / "2024-01-metropolitan-street.csv"
FEBRUARY = FIXTURES / "2024-02-metropolitan-street.csv"
REPEATED = FIXTURES / "repeated-crime-id.csv"
HEADER = ",".join(POLICE_UK_COLUMNS)
FORCE = "Metropolitan Police Service,Metropolitan Police Service"
ANALYST = Role.ANALYST


def row(
    crime_id="d4f01",
    month="2024-04",
    longitude="-0.170052",
    latitude="51.463810",
    location="On or near St John's Hill",
    crime_type="Violence and sexual offences",
    outcome="Under investigation",
):
    return (
        f"{crime_id},{month},{FORCE},{longitude},{latitude},{location},E01004549,"
        f"Wandsworth 012A,{crime_type},{outcome},"
    )


def csv_bytes(*rows, header=HEADER, encoding="utf-8"):
    return "\n".join([header, *rows, ""]).encode(encoding)


@pytest.fixture
def engine(demo_db_url):
    engine = make_engine(demo_db_url)
    yield engine
    engine.dispose()


def counts(engine):
    with session_scope(engine) as session:
        return (
            session.scalar(select(func.count(Incident.id))),
            session.scalar(select(func.count(DataImport.id))),
            session.scalar(select(func.count()).select_from(IncidentWard)),
        )


def prepare(engine, *files, **options):
    return prepare_police_uk(engine, list(files), WANDSWORTH, role=ANALYST, **options)


def fixture(path):
    return (path.name, path.read_bytes())


# --- a good month -------------------------------------------------------------------------------


def test_a_good_month_imports_and_a_second_import_adds_nothing_and_undo_removes_it(engine):
    before = counts(engine)
    prepared = prepare(engine, fixture(JANUARY))
    report = prepared.report
    assert counts(engine) == before  # preparing never writes
    assert report.rows_read == 7
    assert report.rows_accepted == 3
    assert report.rejected == []
    assert report.skipped == {
        "no location": 1,
        "not violence the borough counts (Anti-social behaviour)": 1,
        "not violence the borough counts (Burglary)": 1,
        "outside the borough (margin 100 m)": 1,
    }
    assert report.warnings == [SOURCE_LIMITS_WARNING]
    assert report.already_imported_as is None

    import_id = commit_police_uk(engine, prepared, "analyst@example.org", ANALYST)
    assert counts(engine) == (before[0] + 3, before[1] + 1, before[2] + 3)
    with session_scope(engine) as session:
        stored = {
            incident.source_ref[-1]: incident
            for incident in session.scalars(select(Incident).where(Incident.import_id == import_id))
        }
        entry = session.get(DataImport, import_id)
        history = session.scalars(
            select(IncidentWard.ward_code).join(Incident).where(Incident.import_id == import_id)
        ).all()
    assert sorted(stored) == ["1", "2", "3"]
    assert {key: (i.offence, i.category) for key, i in stored.items()} == {
        "1": ("Violence and sexual offences", "violence_and_sexual"),
        "2": ("Robbery", "robbery"),
        "3": ("Possession of weapons", "weapons_possession"),
    }
    for incident in stored.values():
        assert incident.source == "police_uk"
        assert incident.occurred_on == date(2024, 1, 1)
        assert incident.occurred_at is None
        assert incident.date_precision == "month"
        assert incident.victim_age_band is None
        assert incident.under_25 is None
        assert incident.domestic_abuse is False
        assert incident.location_precision == "snapped"
        assert incident.ward_code.startswith("E05")
    assert stored["1"].outcome == "Under investigation"
    assert stored["3"].outcome is None  # a blank outcome is not recorded
    assert len(history) == 3
    assert all(code.startswith("E05") for code in history)
    assert entry.kind == "police-uk"
    assert entry.rows_accepted == 3
    assert entry.file_sha256 == hashlib.sha256(JANUARY.read_bytes()).hexdigest()

    again = prepare(engine, fixture(JANUARY))
    assert again.report.rows_accepted == 0
    assert again.report.skipped["already in the store"] == 3
    assert again.report.already_imported_as == import_id
    commit_police_uk(engine, again, "analyst@example.org", ANALYST)
    assert counts(engine)[0] == before[0] + 3

    assert undo_import(engine, ANALYST, "analyst@example.org", import_id) == {"incident": 3}
    assert counts(engine)[0] == before[0]
    assert counts(engine)[2] == before[2]


def test_a_repeated_crime_id_keeps_one_incident_with_the_latest_outcome(engine):
    prepared = prepare(engine, fixture(REPEATED))
    assert prepared.report.rows_read == 3
    assert prepared.report.skipped == {"repeated Crime ID": 1}
    incidents = prepared.payload.set_index("source_ref")
    assert len(incidents) == 2
    assert incidents.loc["c3f" + "0" * 60 + "1", "outcome"] == "Offender given a caution"


def test_a_repeated_crime_id_in_a_later_month_wins_over_an_earlier_one(engine):
    earlier = csv_bytes(row(crime_id="x1", month="2024-04", outcome="Awaiting court outcome"))
    later = csv_bytes(row(crime_id="x1", month="2024-05", outcome="Offender sent to prison"))
    prepared = prepare(engine, ("2024-05.csv", later), ("2024-04.csv", earlier))
    [outcome] = prepared.payload["outcome"]
    assert outcome == "Offender sent to prison"
    assert prepared.payload["occurred_on"].tolist() == [date(2024, 5, 1)]


def test_rows_without_a_crime_id_get_a_stable_hash_so_the_same_row_twice_is_one_incident(engine):
    asb_like = row(crime_id="", location="On or near Garratt Lane")
    first = prepare(
        engine, ("part-a.csv", csv_bytes(asb_like)), ("part-b.csv", csv_bytes(asb_like))
    )
    assert first.report.rows_accepted == 1
    assert first.report.skipped == {"repeated Crime ID": 1}
    [key] = first.payload["source_ref"]
    expected = "\x1f".join(
        [
            "2024-04",
            "-0.170052",
            "51.463810",
            "Violence and sexual offences",
            "On or near Garratt Lane",
            "E01004549",
        ]
    )
    assert key == hashlib.sha256(expected.encode()).hexdigest()
    commit_police_uk(engine, first, "a", ANALYST)
    second = prepare(engine, ("part-c.csv", csv_bytes(asb_like)))
    assert second.report.rows_accepted == 0
    assert second.report.skipped == {"already in the store": 1}


def test_a_zip_of_two_months_imports_both(engine):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(JANUARY, "2024-01/2024-01-metropolitan-street.csv")
        archive.write(FEBRUARY, "2024-02/2024-02-metropolitan-street.csv")
        archive.writestr("README.txt", "not a CSV: ignored")
    before = counts(engine)
    prepared = prepare(engine, ("download.zip", buffer.getvalue()))
    assert prepared.report.rows_read == 10
    assert prepared.report.rows_accepted == 6
    assert sorted(set(prepared.payload["occurred_on"])) == [date(2024, 1, 1), date(2024, 2, 1)]
    commit_police_uk(engine, prepared, "a", ANALYST)
    assert counts(engine)[0] == before[0] + 6


def test_the_margin_is_configurable_and_named_in_the_reason(engine):
    near_edge = row(crime_id="edge", longitude="-0.2600", latitude="51.4650")  # Barnes, west
    wide = prepare(engine, ("a.csv", csv_bytes(near_edge)), margin_m=5000)
    narrow = prepare(engine, ("a.csv", csv_bytes(near_edge)), margin_m=0)
    assert wide.report.rows_accepted == 1
    assert wide.payload["ward_code"].tolist() == [None]
    assert "outside every ward" in wide.report.warnings[-1]
    assert narrow.report.skipped == {"outside the borough (margin 0 m)": 1}


# --- bad inputs: each refused or reported, and the store unchanged -------------------------------

WARDS_GEOJSON = PROJECT_ROOT / "geodata" / "wandsworth_wards_2022.geojson"


def zip_bomb():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("2024-01/2024-01-metropolitan-street.csv", csv_bytes() + b"\n" * 5_000_000)
    return buffer.getvalue()


def zip_without_csv():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "options", "message"),
    [
        ("empty.csv", b"", {}, "empty.csv is empty"),
        ("blank.csv", b"\r\n  \r\n\r\n", {}, "blank.csv is empty"),
        (
            "wards.csv",
            WARDS_GEOJSON.read_bytes() if WARDS_GEOJSON.exists() else b'{"type": "x"}',
            {},
            "is not a police.uk street-level crime file",
        ),
        (
            "stops.csv",
            b"stop,weekday,starts_at\nLibrary,1,16:00\n",
            {},
            "lacks the column\\(s\\) Crime ID, Month, Reported by",
        ),
        (
            "no-type.csv",
            csv_bytes(header=HEADER.replace(",Crime type", "")),
            {},
            "lacks the column\\(s\\) Crime type \\(its header is",
        ),
        ("crimes.csv", b"PK\x03\x04\x00\x00\x00binary", {}, "not a readable zip file"),
        ("crimes.csv", b"\xd0\xcf\x11\xe0\x00\x00\x00\x00xls", {}, "not a text file"),
        ("bomb.zip", zip_bomb(), {"max_unzipped_bytes": 1_000_000}, "refused while unpacking"),
        ("big.csv", csv_bytes(row()), {"max_file_bytes": 100}, "over the 0 MB limit"),
        ("notes.zip", zip_without_csv(), {}, "holds no .csv file"),
        (
            "extra.csv",
            csv_bytes(row(), row() + ",surplus,fields"),
            {},
            "could not be read as CSV .*line 3",
        ),
    ],
)
def test_a_file_refused_whole_says_why_and_changes_nothing(engine, name, content, options, message):
    before = counts(engine)
    with pytest.raises(ImportRefused, match=message):
        prepare(engine, (name, content), **options)
    assert counts(engine) == before


@pytest.mark.parametrize(
    ("bad_row", "column", "value", "reason"),
    [
        (row(month="2024-13"), "Month", "2024-13", "not a month (YYYY-MM)"),
        (row(month="Jan 2024"), "Month", "Jan 2024", "not a month (YYYY-MM)"),
        (row(month="2024-07"), "Month", "2024-07", "a month in the future (this month is 2024-06)"),
        (row(month="2009-05"), "Month", "2009-05", "before police.uk began publishing (2010-12)"),
        (row(latitude="51.4x"), "Latitude", "51.4x", "not a number"),
        (row(longitude="nan"), "Longitude", "nan", "not a number"),
        (row(latitude="95.1"), "Latitude", "95.1", "impossible (outside -90..90)"),
        (row(longitude="-181"), "Longitude", "-181", "impossible (outside -180..180)"),
        (
            row(longitude="51.463810", latitude="-0.170052"),
            "Longitude",
            "51.463810",
            "nowhere near London (outside the area police.uk covers; "
            "longitude and latitude swapped?)",
        ),
    ],
)
def test_a_bad_row_is_rejected_with_its_line_column_value_and_reason(
    engine, bad_row, column, value, reason
):
    before = counts(engine)
    content = csv_bytes(row(crime_id="good"), bad_row)
    prepared = prepare(engine, ("2024-04.csv", content), today=date(2024, 6, 15))
    assert prepared.report.rejected[0] == police_uk.RowError(
        3, column, value, reason, "2024-04.csv"
    )
    assert prepared.report.rows_read == 2
    assert prepared.report.rows_accepted == 1  # the good row is still offered
    assert counts(engine) == before


def test_a_future_month_is_measured_against_today_by_default(engine):
    prepared = prepare(engine, ("a.csv", csv_bytes(row(month="2999-01"))))
    assert prepared.report.rejected[0].reason.startswith("a month in the future")


def test_a_header_repeated_mid_file_blank_lines_and_stray_whitespace_are_accepted(engine):
    before = counts(engine)
    padded_header = ", ".join(f" {column} " for column in POLICE_UK_COLUMNS)
    content = csv_bytes(
        row(crime_id="w1"),
        "",
        "   ",
        HEADER,
        "  w2 ,2024-04 ," + FORCE + ", -0.217400 , 51.461200 ,On or near Putney High Street , "
        "E01004639,Wandsworth 015C, Robbery , Under investigation ,",
        "",
        row(crime_id="w3", month="2024-99"),
        header=padded_header,
    )
    prepared = prepare(engine, ("messy.csv", content))
    report = prepared.report
    assert report.rows_read == 3
    assert report.rows_accepted == 2
    assert report.skipped == {"blank line": 3, "header row repeated mid-file": 1}
    assert report.rejected == [
        police_uk.RowError(8, "Month", "2024-99", "not a month (YYYY-MM)", "messy.csv")
    ]
    robbery = prepared.payload.set_index("source_ref").loc["w2"]
    assert (robbery["offence"], robbery["outcome"]) == ("Robbery", "Under investigation")
    assert robbery["longitude"] == pytest.approx(-0.2174)
    assert counts(engine) == before


@pytest.mark.parametrize(
    ("encoding", "location"),
    [("utf-8-sig", "On or near Café Rouge"), ("cp1252", "On or near £1 shop, Café")],
)
def test_utf8_with_a_bom_and_windows_1252_are_accepted(engine, encoding, location):
    content = csv_bytes(row(location=f'"{location}"'), encoding=encoding)
    assert content.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
    prepared = prepare(engine, ("excel.csv", content))
    assert prepared.report.rows_accepted == 1
    assert prepared.report.rejected == []


def test_coordinates_in_scotland_are_outside_the_borough_not_an_error(engine):
    edinburgh = row(crime_id="s1", longitude="-3.188267", latitude="55.953252")
    prepared = prepare(engine, ("a.csv", csv_bytes(edinburgh)))
    assert prepared.report.rejected == []
    assert prepared.report.skipped == {"outside the borough (margin 100 m)": 1}
    assert prepared.report.rows_accepted == 0


def test_loading_data_needs_the_permission(engine):
    before = counts(engine)
    with pytest.raises(NotAllowed):
        prepare_police_uk(engine, [fixture(JANUARY)], WANDSWORTH, role=Role.CSO)
    prepared = prepare(engine, fixture(JANUARY))
    with pytest.raises(NotAllowed):
        commit_police_uk(engine, prepared, "cso@example.org", Role.PARTNER)
    assert counts(engine) == before


def test_no_wards_in_the_store_is_refused(empty_db_url):
    engine = make_engine(empty_db_url)
    with pytest.raises(ImportRefused, match="import the ward boundaries first"):
        prepare(engine, fixture(JANUARY))
    engine.dispose()


def test_a_failure_part_way_leaves_the_store_unchanged(engine, monkeypatch):
    prepared = prepare(engine, fixture(JANUARY), fixture(FEBRUARY))
    assert prepared.report.rows_accepted == 6
    before = counts(engine)
    real_insert = police_uk._insert_chunk
    calls = []

    def insert_then_fail(session, records):
        real_insert(session, records)
        calls.append(len(records))
        if len(calls) == 2:
            raise RuntimeError("disk full")

    monkeypatch.setattr(police_uk, "WRITE_CHUNK_ROWS", 2)
    monkeypatch.setattr(police_uk, "_insert_chunk", insert_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        commit_police_uk(engine, prepared, "a", ANALYST)
    assert calls == [2, 2]  # two chunks were written before the failure
    assert counts(engine) == before


def test_progress_is_reported_while_reading_and_writing(engine):
    read, written = [], []
    prepared = prepare(engine, fixture(JANUARY), chunk_rows=2, progress=read.append)
    commit_police_uk(engine, prepared, "a", ANALYST, progress=written.append)
    assert read == [2, 4, 6, 7]
    assert written == [3]


# --- real data ------------------------------------------------------------------------------------

DERIVED = (
    REALDATA / "crime" / "derived_from_api_wandsworth_violence_robbery_weapons_2016-01_2018-06.csv"
)
BURGLARY = REALDATA / "crime" / "police_uk_street_burglary" / "2022-01-metropolitan-street.csv"
needs_realdata = pytest.mark.skipif(
    not DERIVED.exists(), reason=f"the real data folder {REALDATA} is absent"
)


@needs_realdata
def test_the_real_derived_violence_file_imports_every_distinct_crime(engine):
    raw = pd.read_csv(DERIVED, dtype=str, keep_default_na=False)
    latest = raw.drop_duplicates("Crime ID", keep="last")
    assert len(raw) == 16_768
    assert len(latest) == 15_532
    expected_types = {
        "Violence and sexual offences": 13_821,
        "Robbery": 1_420,
        "Possession of weapons": 291,
    }
    assert latest["Crime type"].value_counts().to_dict() == expected_types

    before = counts(engine)
    started = time.perf_counter()
    prepared = prepare(engine, (DERIVED.name, DERIVED.read_bytes()))
    prepared_in = time.perf_counter() - started
    import_id = commit_police_uk(engine, prepared, "analyst@example.org", ANALYST)
    print(  # noqa: T201 (the timing is reported, never asserted)
        f"\nreal police.uk file: prepare {prepared_in:.2f} s, "
        f"prepare+commit {time.perf_counter() - started:.2f} s"
    )
    report = prepared.report
    assert report.rows_read == 16_768
    assert report.rejected == []
    assert report.skipped == {"repeated Crime ID": 16_768 - 15_532}
    assert report.rows_accepted == 15_532
    assert prepared.payload["offence"].value_counts().to_dict() == expected_types
    assert counts(engine)[0] == before[0] + 15_532
    with session_scope(engine) as session:
        wards = session.scalar(
            select(func.count(func.distinct(Incident.ward_code))).where(
                Incident.import_id == import_id
            )
        )
    assert wards == 22  # the 2022 wards, though the crimes are from 2016-2018

    without_margin = prepare(engine, (DERIVED.name, DERIVED.read_bytes()), margin_m=0)
    assert without_margin.report.skipped["outside the borough (margin 0 m)"] > 0


@needs_realdata
def test_a_real_burglary_file_is_all_left_out_with_no_errors(engine):
    raw = pd.read_csv(BURGLARY, dtype=str, keep_default_na=False)
    prepared = prepare(engine, (BURGLARY.name, BURGLARY.read_bytes()))
    report = prepared.report
    not_counted = report.skipped["not violence the borough counts (Burglary)"]
    outside = report.skipped["outside the borough (margin 100 m)"]
    assert report.rows_read == len(raw) == 310
    assert report.rejected == []
    assert report.rows_accepted == 0
    assert set(report.skipped) == {
        "not violence the borough counts (Burglary)",
        "outside the borough (margin 100 m)",
    }
    assert not_counted + outside == len(raw)
    # every row named in a Wandsworth LSOA is inside; the rest come from neighbouring boroughs
    assert not_counted >= raw["LSOA name"].str.startswith("Wandsworth ").sum()
    assert outside > 0

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from dashboard.access import Role
from dashboard.errors import ImportRefused, InvalidInput, NotAllowed
from dashboard.importers.extract import (
    EXTRACT_COLUMNS,
    age_band,
    commit_extract,
    list_mappings,
    load_mapping,
    prepare_extract,
    save_mapping,
    suggest_mapping,
)
from dashboard.importers.log import undo_import
from dashboard.store.models import DataImport, Incident, IncidentWard
from dashboard.store.session import make_engine, session_scope
from tests.conftest import WANDSWORTH

LONDON = ZoneInfo("Europe/London")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "extract"
EXAMPLE = FIXTURES / "example_extract.csv"
OTHER_HEADERS = FIXTURES / "other_headers.csv"
HEADER = ",".join(EXTRACT_COLUMNS)
ANALYST = Role.ANALYST
TODAY = date(2024, 12, 31)


def row(
    ref="R1",
    occurred_at="2024-03-02 21:15",
    offence="Robbery of personal property",
    code="",
    latitude="51.4642",
    longitude="-0.1700",
    easting="",
    northing="",
    age="",
    knife="",
    gun="",
    domestic_abuse="",
):
    return ",".join(
        [
            *(ref, occurred_at, offence, code, latitude, longitude, easting, northing, age),
            *(knife, gun, domestic_abuse),
        ]
    )


def csv_bytes(*rows, header=HEADER):
    return "\n".join([header, *rows, ""]).encode()


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


def prepare(engine, *files, mapping=None, **options):
    return prepare_extract(
        engine, list(files), WANDSWORTH, ANALYST, mapping, today=TODAY, **options
    )


def fixture(path):
    return (path.name, path.read_bytes())


def london_wall_time(*parts):
    """A London wall-clock time without its zone, as the store keeps occurred_at."""
    return datetime(*parts, tzinfo=LONDON).replace(tzinfo=None)


def only_error(prepared):
    [error] = prepared.report.rejected
    return error.line, error.column, error.value, error.reason


# --- the documented example ---------------------------------------------------------------------


def test_the_example_extract_imports_with_its_categories_flags_age_bands_and_wards(engine):
    before = counts(engine)
    prepared = prepare(engine, fixture(EXAMPLE))
    assert counts(engine) == before  # preparing never writes
    assert prepared.report.rows_read == 8
    assert prepared.report.rows_accepted == 8
    assert prepared.report.rejected == []
    assert prepared.report.skipped == {}

    import_id = commit_extract(engine, prepared, "analyst@example.org", ANALYST)

    assert counts(engine) == (before[0] + 8, before[1] + 1, before[2] + 8)
    with session_scope(engine) as session:
        stored = {
            i.source_ref: (
                i.category,
                i.knife,
                i.gun,
                i.domestic_abuse,
                i.victim_age_band,
                i.under_25,
                i.ward_code,
            )
            for i in session.scalars(select(Incident).where(Incident.import_id == import_id))
        }
        times = {
            i.source_ref: (i.occurred_on, i.occurred_at, i.date_precision, i.location_precision)
            for i in session.scalars(select(Incident).where(Incident.import_id == import_id))
        }
        entry = session.get(DataImport, import_id)
    assert stored == {
        # lat/lon by Clapham Junction; "yes" knife flag; age 17
        "5224001/24": ("gbh", True, False, False, "10-17", True, "E05014012"),
        # UK date and time; "y"; blank flags are false
        "5224002/24": ("robbery", True, False, False, "18-24", True, "E05014024"),
        # easting/northing in Putney; date only
        "5224003/24": ("abh", False, False, True, "25-34", False, "E05014022"),
        # a bladed article is knife-enabled whatever the flag says
        "5224004/24": ("weapons_possession", True, False, False, "10-17", True, "E05014017"),
        # an age band given directly; "1" is true
        "5224005/24": ("threats_to_kill", False, False, True, "45-54", False, "E05014010"),
        "5224006/24": ("sexual_assault", False, False, False, "65+", False, "E05014026"),
        # no victim age: not recorded, not "over 25"
        "5224007/24": ("weapons_possession", False, True, False, None, None, "E05014028"),
        "5224008/24": ("rape", False, False, True, "18-24", True, "E05014020"),
    }
    assert times["5224001/24"] == (
        date(2024, 3, 2),
        london_wall_time(2024, 3, 2, 21, 15),
        "day",
        "exact",
    )
    assert times["5224002/24"][1] == london_wall_time(2024, 3, 9, 23, 40)
    assert times["5224003/24"] == (date(2024, 3, 10), None, "day", "exact")
    assert times["5224004/24"][:2] == (date(2024, 3, 15), None)
    assert times["5224005/24"][1] == london_wall_time(2024, 3, 16, 1, 5, 30)
    assert entry.kind == "extract"

    again = prepare(engine, fixture(EXAMPLE))
    assert again.report.rows_accepted == 0
    assert again.report.skipped == {"already in the store": 8}
    assert again.report.already_imported_as == import_id
    commit_extract(engine, again, "analyst@example.org", ANALYST)
    assert counts(engine)[0] == before[0] + 8

    assert undo_import(engine, ANALYST, "analyst@example.org", import_id) == {"incident": 8}
    assert counts(engine)[0] == before[0]
    assert counts(engine)[2] == before[2]


def test_offences_outside_the_taxonomy_and_points_outside_the_borough_are_left_out(engine):
    prepared = prepare(
        engine,
        (
            "mixed.csv",
            csv_bytes(
                row(ref="A"),
                row(ref="B", offence="Criminal damage to a dwelling"),
                row(ref="C", latitude="51.3760", longitude="-0.0990"),  # Croydon
            ),
        ),
    )
    assert prepared.report.rejected == []
    assert prepared.report.rows_accepted == 1
    assert prepared.report.skipped == {
        "not in the taxonomy (Criminal damage to a dwelling)": 1,
        "outside the borough (margin 100 m)": 1,
    }


def test_age_bands():
    assert [age_band(age) for age in (0, 9, 10, 17, 18, 24, 25, 64, 65, 101)] == [
        "0-9",
        "0-9",
        "10-17",
        "10-17",
        "18-24",
        "18-24",
        "25-34",
        "55-64",
        "65+",
        "65+",
    ]


# --- column mappings ----------------------------------------------------------------------------


def test_suggest_mapping_matches_our_names_loosely_and_common_synonyms():
    header = ["CRIS", "Date", "Offence Description", "HO Code", "Lat", "Long", "Victim Age", "X"]
    assert suggest_mapping(header) == {
        "incident_ref": "CRIS",
        "occurred_at": "Date",
        "offence": "Offence Description",
        "ho_offence_code": "HO Code",
        "latitude": "Lat",
        "longitude": "Long",
        "easting": "X",
        "victim_age": "Victim Age",
    }
    assert suggest_mapping(["Crime Reference", " incident ref "]) == {
        "incident_ref": "incident ref"
    }


def test_a_file_with_other_headers_loads_through_a_saved_named_mapping(engine, tmp_path):
    mappings_dir = tmp_path / "data" / "mappings"
    assert list_mappings(mappings_dir) == []
    header = OTHER_HEADERS.read_text().splitlines()[0].split(",")
    mapping = suggest_mapping(header)
    assert mapping == {
        "incident_ref": "CRIS",
        "occurred_at": "Date Committed",
        "offence": "Offence Description",
        "ho_offence_code": "HO Code",
        "latitude": "Lat",
        "longitude": "Long",
        "victim_age": "Age of Victim",
        "knife": "Knife Enabled",
        "gun": "Firearm",
        "domestic_abuse": "DA Flag",
    }
    save_mapping(mappings_dir, "Met CRIS export", mapping)
    save_mapping(mappings_dir, "another", {"incident_ref": "Ref"})

    assert list_mappings(mappings_dir) == ["Met CRIS export", "another"]
    loaded = load_mapping(mappings_dir, "Met CRIS export")
    assert loaded == mapping

    with pytest.raises(ImportRefused, match="required column"):
        prepare(engine, fixture(OTHER_HEADERS))  # without the mapping
    prepared = prepare(engine, fixture(OTHER_HEADERS), mapping=loaded)
    assert prepared.report.rejected == []
    assert prepared.report.skipped == {"not in the taxonomy (Criminal damage to a dwelling)": 1}
    import_id = commit_extract(engine, prepared, "analyst@example.org", ANALYST)
    with session_scope(engine) as session:
        stored = {
            i.source_ref: (i.category, i.knife, i.domestic_abuse, i.victim_age_band, i.ward_code)
            for i in session.scalars(select(Incident).where(Incident.import_id == import_id))
        }
    assert stored == {
        "7310001/24": ("robbery", True, False, "10-17", "E05014022"),
        "7310003/24": ("abh", False, True, "25-34", "E05014020"),
    }


def test_an_unknown_mapping_name_lists_the_saved_ones(tmp_path):
    save_mapping(tmp_path, "met", {"incident_ref": "CRIS"})
    with pytest.raises(InvalidInput, match=r"no saved column mapping 'cris'; saved ones: met"):
        load_mapping(tmp_path, "cris")
    with pytest.raises(InvalidInput, match="cannot name a mapping"):
        save_mapping(tmp_path, "../escape", {"incident_ref": "CRIS"})
    with pytest.raises(InvalidInput, match="does not have: colour"):
        save_mapping(tmp_path, "bad", {"colour": "Colour"})


def test_only_roles_that_load_data_may_prepare_an_extract(engine):
    with pytest.raises(NotAllowed):
        prepare_extract(engine, [fixture(EXAMPLE)], WANDSWORTH, Role.CSO)


# --- bad input: each refused with its reason, and the store unchanged ----------------------------


@pytest.mark.parametrize(
    ("bad_row", "expected"),
    [
        (
            row(occurred_at="2024-02-30"),
            (2, "occurred_at", "2024-02-30", "not a real date (no such day in that month)"),
        ),
        (
            row(occurred_at="02/03/2024 25:00"),
            (2, "occurred_at", "02/03/2024 25:00", "not a time of day (00:00 to 23:59)"),
        ),
        (
            row(occurred_at="March 2nd"),
            (
                2,
                "occurred_at",
                "March 2nd",
                "not a date: use YYYY-MM-DD or DD/MM/YYYY, optionally followed by HH:MM",
            ),
        ),
        (
            row(knife="maybe"),
            (2, "knife", "maybe", "not a flag: use true/false, yes/no, y/n or 1/0 (blank = no)"),
        ),
        (
            row(age="-3"),
            (
                2,
                "victim_age",
                "-3",
                "not an age: give whole years (0-120) or a band "
                "(0-9, 10-17, 18-24, 25-34, 35-44, 45-54, 55-64, 65+)",
            ),
        ),
        (
            row(latitude="-0.1700", longitude="51.4642"),  # swapped: longitude is refused too
            (
                2,
                "latitude",
                "-0.1700",
                "nowhere near London (latitude and longitude swapped?)",
            ),
        ),
        (
            row(latitude="", longitude=""),
            (
                2,
                "latitude",
                "",
                "no location: give latitude and longitude, or easting and northing",
            ),
        ),
        (row(ref=""), (2, "incident_ref", "", "incident_ref is required")),
        (
            row(occurred_at="2025-01-02"),
            (2, "occurred_at", "2025-01-02", "a date in the future (today is 2024-12-31)"),
        ),
    ],
)
def test_a_bad_row_is_rejected_with_its_line_column_and_reason(engine, bad_row, expected):
    before = counts(engine)
    prepared = prepare(engine, ("bad.csv", csv_bytes(bad_row)))
    first = prepared.report.rejected[0]
    assert (first.line, first.column, first.value, first.reason) == expected
    assert {error.line for error in prepared.report.rejected} == {2}
    assert prepared.report.rows_accepted == 0
    commit_extract(engine, prepared, "analyst@example.org", ANALYST)
    assert counts(engine)[0] == before[0]  # nothing but the log entry was written
    assert counts(engine)[2] == before[2]


def test_a_duplicate_incident_ref_is_rejected_and_the_first_is_kept(engine):
    prepared = prepare(
        engine, ("dup.csv", csv_bytes(row(ref="R1"), row(ref="R2"), row(ref="R1", age="30")))
    )
    assert only_error(prepared) == (
        4,
        "incident_ref",
        "R1",
        "duplicate incident_ref (first on line 2 of dup.csv)",
    )
    assert prepared.payload["source_ref"].tolist() == ["R1", "R2"]


def test_a_duplicate_across_chunks_is_found_too(engine):
    prepared = prepare(
        engine, ("dup.csv", csv_bytes(row(ref="R1"), row(ref="R2"), row(ref="R1"))), chunk_rows=1
    )
    assert [e.line for e in prepared.report.rejected] == [4]


def test_a_missing_required_column_with_no_mapping_refuses_the_file(engine):
    before = counts(engine)
    header = HEADER.replace("offence,", "")
    content = csv_bytes("R1,2024-03-02,,51.4642,-0.1700,,,,,,", header=header)
    with pytest.raises(ImportRefused) as refused:
        prepare(engine, ("no-offence.csv", content))
    assert str(refused.value) == (
        "no-offence.csv is not a police extract file: the required column(s) offence are not "
        f"there (its header is: {header.replace(',', ', ')}); map the file's own headers to the "
        "extract schema (Data page, or --mapping NAME)"
    )
    assert counts(engine) == before


def test_a_mapping_naming_a_header_the_file_lacks_refuses_the_file(engine):
    before = counts(engine)
    mapping = {**suggest_mapping(OTHER_HEADERS.read_text().splitlines()[0].split(","))}
    mapping["offence"] = "Offence Title"
    with pytest.raises(ImportRefused, match="has no column 'Offence Title', which the mapping"):
        prepare(engine, fixture(OTHER_HEADERS), mapping=mapping)
    assert counts(engine) == before


def test_a_file_without_location_columns_is_refused(engine):
    content = csv_bytes("R1,2024-03-02,Murder", header="incident_ref,occurred_at,offence")
    with pytest.raises(ImportRefused, match="has no location columns"):
        prepare(engine, ("no-place.csv", content))

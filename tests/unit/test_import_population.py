import geopandas as gpd
import pytest
from shapely.geometry import box
from sqlalchemy import func, select

from dashboard.access import Role
from dashboard.errors import ImportRefused, NotAllowed
from dashboard.importers.population import (
    APPORTIONED,
    commit_population,
    prepare_population,
)
from dashboard.store import queries
from dashboard.store.models import DataImport, Ward
from dashboard.store.session import make_engine, session_scope
from tests.conftest import REALDATA

WANDSWORTH = "E09000032"
ANALYST = Role.ANALYST
LSOA_ESTIMATES = REALDATA / "population" / "wandsworth_lsoa_population_mid2020.csv"
LSOA_2011 = REALDATA / "boundaries" / "wandsworth_lsoa_2011.geojson"


def _populations(engine) -> dict[str, tuple[int | None, str | None]]:
    with session_scope(engine) as session:
        return {
            code: (population, source)
            for code, population, source in session.execute(
                select(Ward.code, Ward.population, Ward.population_source)
            )
        }


def _import_count(engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count(DataImport.id)))


def _ward_codes(engine) -> list[str]:
    return sorted(queries.current_wards(engine, WANDSWORTH, ANALYST)["code"])


def test_a_ward_population_csv_sets_the_populations_used_for_rates(demo_db_url):
    engine = make_engine(demo_db_url)
    codes = _ward_codes(engine)
    lines = ["ward_code,population,age_0_15,age_16_24"]
    lines += [f"{code},{10_000 + n},{2_000 + n},900" for n, code in enumerate(codes)]
    content = ("\r\n".join(lines) + "\r\n").encode()
    before = _populations(engine)

    prepared = prepare_population(engine, [("ward_population.csv", content)], WANDSWORTH, ANALYST)

    assert prepared.report.rows_accepted == 22
    assert prepared.report.rejected == []
    assert any("age_0_15, age_16_24" in w for w in prepared.report.warnings)
    assert _populations(engine) == before  # preparing writes nothing
    import_id = commit_population(engine, prepared, "analyst@example.org", ANALYST)

    wards = queries.current_wards(engine, WANDSWORTH, ANALYST).set_index("code")
    assert {code: int(wards.loc[code, "population"]) for code in codes} == {
        code: 10_000 + n for n, code in enumerate(codes)
    }
    assert {source for _, source in _populations(engine).values()} == {"ward_population.csv"}
    with session_scope(engine) as session:
        assert session.get(DataImport, import_id).kind == "population"


def test_wards_missing_from_the_file_are_listed_and_keep_their_population(demo_db_url):
    engine = make_engine(demo_db_url)
    first, second, *rest = _ward_codes(engine)
    before = _populations(engine)
    content = f"ward_code,population\n{first},12345\n".encode()

    prepared = prepare_population(engine, [("one.csv", content)], WANDSWORTH, ANALYST)
    commit_population(engine, prepared, "analyst@example.org", ANALYST)

    [warning] = [w for w in prepared.report.warnings if "not in the file" in w]
    assert warning.startswith("21 ward(s)")
    assert second in warning
    after = _populations(engine)
    assert after[first] == (12345, "one.csv")
    assert all(after[code] == before[code] for code in [second, *rest])


@pytest.mark.parametrize(
    ("row", "column", "value", "reason"),
    [
        ("E05099999,1000", "ward_code", "E05099999", "is not a ward of borough E09000032"),
        ("{code},-5", "population", "-5", "a whole number above 0, not '-5'"),
        ("{code},lots", "population", "lots", "a whole number above 0, not 'lots'"),
        ("{code},0", "population", "0", "a whole number above 0"),
        ("{code},12.5", "population", "12.5", "a whole number above 0"),
    ],
    ids=["unknown-ward", "negative", "non-numeric", "zero", "fraction"],
)
def test_bad_rows_are_rejected_with_line_column_and_value(demo_db_url, row, column, value, reason):
    engine = make_engine(demo_db_url)
    code = _ward_codes(engine)[0]
    content = f"ward_code,population\n{_ward_codes(engine)[1]},9000\n{row.format(code=code)}\n"

    prepared = prepare_population(engine, [("p.csv", content.encode())], WANDSWORTH, ANALYST)

    [error] = prepared.report.rejected
    assert (error.line, error.column, error.value) == (3, column, value)
    assert reason in error.reason
    assert prepared.report.rows_accepted == 1


def test_windows_1252_with_a_byte_order_mark_style_header_and_blank_lines_are_accepted(
    demo_db_url,
):
    engine = make_engine(demo_db_url)
    first, second = _ward_codes(engine)[:2]
    cp1252 = f"ward_code,population,note\n{first},9000,caf\u00e9 \u00a3\n\n{second},8000,x\n"
    with_bom = "\ufeff" + f"ward_code,population\r\n {first} , 9001 \r\n"

    for name, content in [
        ("excel.csv", cp1252.encode("cp1252")),
        ("bom.csv", with_bom.encode("utf-8")),
    ]:
        prepared = prepare_population(engine, [(name, content)], WANDSWORTH, ANALYST)
        assert prepared.report.rejected == [], name
        assert prepared.payload.populations[first] in (9000, 9001)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"code,people\nE05014009,100\n", "needs the columns ward_code and population"),
        (b"PK\x03\x04\x00\x00", "not a text file"),
        (b"LSOA11CD,Persons_All-Ages\nE01004472,1842\n", "give the LSOA boundaries too"),
    ],
    ids=["empty", "wrong-columns", "spreadsheet", "lsoa-without-boundaries"],
)
def test_unusable_population_files_are_refused_and_change_nothing(demo_db_url, content, message):
    engine = make_engine(demo_db_url)
    before, imports = _populations(engine), _import_count(engine)

    with pytest.raises(ImportRefused, match=message):
        prepare_population(engine, [("p.csv", content)], WANDSWORTH, ANALYST)
    assert (_populations(engine), _import_count(engine)) == (before, imports)


def test_population_needs_wards_in_the_store(empty_db_url):
    engine = make_engine(empty_db_url)
    with pytest.raises(ImportRefused, match="import the ward boundaries first"):
        prepare_population(
            engine, [("p.csv", b"ward_code,population\nE05014009,1\n")], WANDSWORTH, ANALYST
        )


def test_only_roles_that_load_data_may_import_population(demo_db_url):
    engine = make_engine(demo_db_url)
    with pytest.raises(NotAllowed):
        prepare_population(engine, [("p.csv", b"ward_code,population\n")], WANDSWORTH, Role.PARTNER)


def test_small_lsoa_estimates_go_to_the_ward_holding_each_centroid(demo_db_url, tmp_path):
    engine = make_engine(demo_db_url)
    wards = queries.current_wards(engine, WANDSWORTH, ANALYST).to_crs(27700)
    first = wards.iloc[0]
    point = first.geometry.representative_point()
    lsoas = gpd.GeoDataFrame(
        {"LSOA11CD": ["E01000001", "E01000002", "E01000003"]},
        geometry=[
            box(point.x - 50, point.y - 50, point.x + 50, point.y + 50),
            box(point.x - 20, point.y - 20, point.x + 20, point.y + 20),
            box(0, 0, 100, 100),  # far outside the borough
        ],
        crs=27700,
    )
    path = tmp_path / "lsoa.geojson"
    lsoas.to_crs(4326).to_file(path, driver="GeoJSON")
    estimates = b"LSOA11CD,Persons_All-Ages\nE01000001,1500\nE01000002,1600\nE01000003,99\n"

    prepared = prepare_population(
        engine,
        [("lsoa_mid2021.csv", estimates)],
        WANDSWORTH,
        ANALYST,
        lsoa_boundaries=(path.name, path.read_bytes()),
    )

    assert prepared.payload.populations == {first["code"]: 3100}
    assert prepared.report.skipped == {"LSOAs whose centroid is in no current ward": 1}
    assert any(w.startswith(APPORTIONED) for w in prepared.report.warnings)
    assert prepared.payload.source == "ONS mid-2021 LSOA estimates, apportioned by LSOA centroid"


@pytest.mark.skipif(
    not LSOA_ESTIMATES.is_file() or not LSOA_2011.is_file(),
    reason=f"real data not present at {REALDATA}",
)
def test_real_ons_lsoa_estimates_apportioned_to_the_22_wards_sum_to_329735(demo_db_url):
    engine = make_engine(demo_db_url)

    prepared = prepare_population(
        engine,
        [(LSOA_ESTIMATES.name, LSOA_ESTIMATES.read_bytes())],
        WANDSWORTH,
        ANALYST,
        lsoa_boundaries=(LSOA_2011.name, LSOA_2011.read_bytes()),
    )
    commit_population(engine, prepared, "analyst@example.org", ANALYST)

    report = prepared.report
    assert report.rows_read == 179
    assert report.rejected == []
    skipped = sum(report.skipped.values())
    assert skipped == 0
    assert report.rows_accepted == 179
    assert any(w.startswith(APPORTIONED) for w in report.warnings)
    wards = queries.current_wards(engine, WANDSWORTH, ANALYST)
    assert len(wards) == 22
    assert wards["population"].notna().all()
    assert int(wards["population"].sum()) == 329_735
    sources = {source for _, source in _populations(engine).values()}
    assert sources == {"ONS mid-2020 LSOA estimates, apportioned by LSOA centroid"}
